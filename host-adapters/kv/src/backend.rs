//! The stores behind `wasi:keyvalue`: an embedded SQLite file per component
//! store, or Redis with every key prefixed by component and store.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::AsyncCommands;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{Row, SqlitePool};

pub const MAX_KEY_BYTES: usize = 1024;
pub const MAX_VALUE_BYTES: usize = 1 << 20;
const PAGE: usize = 1000;

#[derive(Debug, Clone, PartialEq)]
pub enum KvError {
    /// Bad input: an empty or oversized key, an oversized value, a non-numeric counter.
    Invalid(String),
    /// The backend failed or could not be reached.
    Unavailable(String),
}

impl std::fmt::Display for KvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KvError::Invalid(m) => write!(f, "invalid: {m}"),
            KvError::Unavailable(m) => write!(f, "unavailable: {m}"),
        }
    }
}

impl From<sqlx::Error> for KvError {
    fn from(e: sqlx::Error) -> Self {
        KvError::Unavailable(e.to_string())
    }
}

impl From<redis::RedisError> for KvError {
    fn from(e: redis::RedisError) -> Self {
        if e.kind() == redis::ErrorKind::TypeError || e.kind() == redis::ErrorKind::ResponseError {
            KvError::Invalid(e.to_string())
        } else {
            KvError::Unavailable(e.to_string())
        }
    }
}

pub fn check_key(key: &str) -> Result<(), KvError> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(KvError::Invalid(format!(
            "keys are 1 to {MAX_KEY_BYTES} bytes; this one is {}",
            key.len()
        )));
    }
    Ok(())
}

pub fn check_value(value: &[u8]) -> Result<(), KvError> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(KvError::Invalid(format!(
            "values are at most {MAX_VALUE_BYTES} bytes; this one is {}",
            value.len()
        )));
    }
    Ok(())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as i64
}

#[derive(Clone)]
pub enum Store {
    Embedded(SqlitePool),
    Redis {
        connection: redis::aio::ConnectionManager,
        prefix: String,
    },
}

impl Store {
    /// The backend, as traces name it.
    pub fn system(&self) -> &'static str {
        match self {
            Store::Embedded(_) => "sqlite",
            Store::Redis { .. } => "redis",
        }
    }

    pub async fn embedded(path: &Path) -> anyhow::Result<Store> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL, expires_at INTEGER)",
        )
        .execute(&pool)
        .await?;
        sqlx::query("DELETE FROM kv WHERE expires_at IS NOT NULL AND expires_at <= ?1")
            .bind(now_ms())
            .execute(&pool)
            .await?;
        Ok(Store::Embedded(pool))
    }

    pub async fn redis(url: &str, component: &str, store: &str) -> anyhow::Result<Store> {
        let client = redis::Client::open(url)?;
        let connection = redis::aio::ConnectionManager::new(client).await?;
        Ok(Store::Redis {
            connection,
            prefix: format!("folio:{component}:{store}:"),
        })
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        check_key(key)?;
        match self {
            Store::Embedded(pool) => Ok(sqlx::query(
                "SELECT value FROM kv WHERE key = ?1 AND (expires_at IS NULL OR expires_at > ?2)",
            )
            .bind(key)
            .bind(now_ms())
            .fetch_optional(pool)
            .await?
            .map(|row| row.get::<Vec<u8>, _>(0))),
            Store::Redis { connection, prefix } => {
                Ok(connection.clone().get(format!("{prefix}{key}")).await?)
            }
        }
    }

    pub async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), KvError> {
        check_key(key)?;
        check_value(value)?;
        match self {
            Store::Embedded(pool) => {
                let expires = ttl.map(|t| now_ms() + t.as_millis() as i64);
                sqlx::query(
                    "INSERT OR REPLACE INTO kv (key, value, expires_at) VALUES (?1, ?2, ?3)",
                )
                .bind(key)
                .bind(value)
                .bind(expires)
                .execute(pool)
                .await?;
            }
            Store::Redis { connection, prefix } => {
                let mut c = connection.clone();
                let full = format!("{prefix}{key}");
                match ttl {
                    Some(t) => {
                        c.pset_ex::<_, _, ()>(full, value, t.as_millis().max(1) as u64)
                            .await?
                    }
                    None => c.set::<_, _, ()>(full, value).await?,
                }
            }
        }
        Ok(())
    }

    pub async fn delete(&self, key: &str) -> Result<(), KvError> {
        check_key(key)?;
        match self {
            Store::Embedded(pool) => {
                sqlx::query("DELETE FROM kv WHERE key = ?1")
                    .bind(key)
                    .execute(pool)
                    .await?;
            }
            Store::Redis { connection, prefix } => {
                connection
                    .clone()
                    .del::<_, ()>(format!("{prefix}{key}"))
                    .await?;
            }
        }
        Ok(())
    }

    pub async fn exists(&self, key: &str) -> Result<bool, KvError> {
        Ok(self.get(key).await?.is_some())
    }

    /// One page of keys after `cursor`, and the cursor of the next page.
    pub async fn list_keys(
        &self,
        cursor: Option<String>,
    ) -> Result<(Vec<String>, Option<String>), KvError> {
        match self {
            Store::Embedded(pool) => {
                let rows = sqlx::query(
                    "SELECT key FROM kv WHERE key > ?1 AND (expires_at IS NULL OR expires_at > ?2) ORDER BY key LIMIT ?3",
                )
                .bind(cursor.unwrap_or_default())
                .bind(now_ms())
                .bind(PAGE as i64)
                .fetch_all(pool)
                .await?;
                let keys: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
                let next = (keys.len() == PAGE).then(|| keys.last().cloned()).flatten();
                Ok((keys, next))
            }
            Store::Redis { connection, prefix } => {
                let start: u64 = match cursor {
                    Some(c) => c
                        .parse()
                        .map_err(|_| KvError::Invalid(format!("bad cursor `{c}`")))?,
                    None => 0,
                };
                let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(start)
                    .arg("MATCH")
                    .arg(format!("{}*", escape_glob(prefix)))
                    .arg("COUNT")
                    .arg(PAGE)
                    .query_async(&mut connection.clone())
                    .await?;
                let keys = keys
                    .into_iter()
                    .filter_map(|k| k.strip_prefix(prefix.as_str()).map(str::to_string))
                    .collect();
                Ok((keys, (next != 0).then(|| next.to_string())))
            }
        }
    }

    /// Adds `delta` to the decimal integer stored at `key` (0 when absent), as Redis INCRBY does.
    pub async fn increment(&self, key: &str, delta: i64) -> Result<i64, KvError> {
        check_key(key)?;
        match self {
            Store::Embedded(pool) => {
                // Read-then-write: take the write lock first, or a concurrent
                // writer makes this transaction fail with SQLITE_BUSY at once.
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let current: Option<(Vec<u8>, Option<i64>)> = sqlx::query(
                    "SELECT value, expires_at FROM kv WHERE key = ?1 AND (expires_at IS NULL OR expires_at > ?2)",
                )
                .bind(key)
                .bind(now_ms())
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| (r.get(0), r.get(1)));
                let (base, expires) = match current {
                    Some((bytes, expires)) => (parse_counter(&bytes)?, expires),
                    None => (0, None),
                };
                let next = base
                    .checked_add(delta)
                    .ok_or_else(|| KvError::Invalid("counter overflow".into()))?;
                sqlx::query(
                    "INSERT OR REPLACE INTO kv (key, value, expires_at) VALUES (?1, ?2, ?3)",
                )
                .bind(key)
                .bind(next.to_string().into_bytes())
                .bind(expires)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(next)
            }
            Store::Redis { connection, prefix } => Ok(connection
                .clone()
                .incr(format!("{prefix}{key}"), delta)
                .await?),
        }
    }

    /// Sets `key` to `value` only if it still holds `expected`.
    pub async fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        value: &[u8],
    ) -> Result<bool, KvError> {
        check_key(key)?;
        check_value(value)?;
        match self {
            Store::Embedded(pool) => {
                // Read-then-write: take the write lock first, or a concurrent
                // writer makes this transaction fail with SQLITE_BUSY at once.
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let current: Option<Vec<u8>> = sqlx::query(
                    "SELECT value FROM kv WHERE key = ?1 AND (expires_at IS NULL OR expires_at > ?2)",
                )
                .bind(key)
                .bind(now_ms())
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| r.get(0));
                if current.as_deref() != expected {
                    return Ok(false);
                }
                sqlx::query(
                    "INSERT OR REPLACE INTO kv (key, value, expires_at) VALUES (?1, ?2, NULL)",
                )
                .bind(key)
                .bind(value)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(true)
            }
            Store::Redis { connection, prefix } => {
                let script = redis::Script::new(
                    r"local cur = redis.call('GET', KEYS[1])
                      if (ARGV[1] == '0' and cur == false) or (ARGV[1] == '1' and cur == ARGV[2]) then
                        redis.call('SET', KEYS[1], ARGV[3]) return 1
                      end
                      return 0",
                );
                let swapped: i64 = script
                    .key(format!("{prefix}{key}"))
                    .arg(if expected.is_some() { "1" } else { "0" })
                    .arg(expected.unwrap_or_default())
                    .arg(value)
                    .invoke_async(&mut connection.clone())
                    .await?;
                Ok(swapped == 1)
            }
        }
    }
}

fn parse_counter(bytes: &[u8]) -> Result<i64, KvError> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| KvError::Invalid("value is not an integer".into()))
}

fn escape_glob(s: &str) -> String {
    s.chars()
        .flat_map(|c| match c {
            '*' | '?' | '[' | ']' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_increments_on_the_embedded_store_all_count() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(Store::embedded(&dir.path().join("kv.db")).await.unwrap());
        let adds: Vec<_> = (0..24)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move { store.increment("hits", 1).await })
            })
            .collect();
        for add in adds {
            add.await
                .unwrap()
                .expect("an increment failed under contention");
        }
        assert_eq!(store.increment("hits", 0).await.unwrap(), 24);
    }
}
