//! The embedded event log: one SQLite file in WAL mode with `synchronous =
//! FULL`, so an append that returned is on disk and survives a killed host.
//! Each topic is one totally ordered sequence (so per-key order holds);
//! consumer groups keep their committed position in the same file.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use tokio::sync::{Mutex, Notify};

use crate::{CloudEvent, EventError};

/// How many events one read takes from the file.
const FETCH_BATCH: i64 = 256;
/// Committed positions are written at most this often (and when idle), so a
/// fast consumer does not pay an fsync per event; a crash replays the rest.
const COMMIT_INTERVAL: Duration = Duration::from_millis(100);

#[derive(Clone)]
pub struct Log {
    pool: SqlitePool,
    /// One writer at a time; also guards the next position of each topic.
    writer: Arc<Mutex<HashMap<String, i64>>>,
    appended: Arc<Notify>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    topic TEXT NOT NULL,
    pos INTEGER NOT NULL,
    key TEXT NOT NULL,
    id TEXT NOT NULL,
    source TEXT NOT NULL,
    type TEXT NOT NULL,
    subject TEXT,
    time TEXT NOT NULL,
    datacontenttype TEXT NOT NULL,
    data BLOB NOT NULL,
    extensions TEXT NOT NULL,
    PRIMARY KEY (topic, pos)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS consumer_positions (
    grp TEXT NOT NULL,
    topic TEXT NOT NULL,
    next_pos INTEGER NOT NULL,
    PRIMARY KEY (grp, topic)) WITHOUT ROWID;";

impl Log {
    /// Whether the log file answers a query.
    pub async fn check(&self) -> Result<(), EventError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(drop)
            .map_err(unavailable)
    }

    pub async fn open(path: &Path) -> anyhow::Result<Log> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        sqlx::raw_sql(SCHEMA).execute(&pool).await?;
        Ok(Log {
            pool,
            writer: Arc::default(),
            appended: Arc::new(Notify::new()),
        })
    }

    /// Appends `events` in one transaction: all are durable when this returns.
    pub async fn append(&self, events: &[CloudEvent]) -> Result<(), EventError> {
        let mut next = self.writer.lock().await;
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        let mut assigned: HashMap<String, i64> = HashMap::new();
        for event in events {
            let pos = match assigned
                .get(&event.topic)
                .or_else(|| next.get(&event.topic))
            {
                Some(pos) => *pos,
                None => sqlx::query_scalar::<_, i64>(
                    "SELECT COALESCE(MAX(pos) + 1, 0) FROM events WHERE topic = ?1",
                )
                .bind(&event.topic)
                .fetch_one(&mut *tx)
                .await
                .map_err(unavailable)?,
            };
            sqlx::query(
                "INSERT INTO events (topic, pos, key, id, source, type, subject, time, datacontenttype, data, extensions)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )
            .bind(&event.topic)
            .bind(pos)
            .bind(&event.key)
            .bind(&event.id)
            .bind(&event.source)
            .bind(&event.event_type)
            .bind(&event.subject)
            .bind(&event.time)
            .bind(&event.datacontenttype)
            .bind(&event.data)
            .bind(serde_json::to_string(&event.extensions).unwrap_or_default())
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
            assigned.insert(event.topic.clone(), pos + 1);
        }
        tx.commit().await.map_err(unavailable)?;
        next.extend(assigned);
        drop(next);
        self.appended.notify_waiters();
        Ok(())
    }

    pub async fn subscribe(&self, group: &str, topics: &[String]) -> Result<Consumer, EventError> {
        let mut positions = BTreeMap::new();
        for topic in topics {
            let committed: Option<i64> = sqlx::query_scalar(
                "SELECT next_pos FROM consumer_positions WHERE grp = ?1 AND topic = ?2",
            )
            .bind(group)
            .bind(topic)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
            positions.insert(topic.clone(), committed.unwrap_or(0));
        }
        Ok(Consumer {
            log: self.clone(),
            group: group.to_string(),
            read: positions.clone(),
            committed: positions,
            dirty: false,
            last_flush: Instant::now(),
            buffer: VecDeque::new(),
        })
    }

    /// Every event of `topic` from position `from`, for tests and tools.
    pub async fn read(
        &self,
        topic: &str,
        from: i64,
        limit: i64,
    ) -> Result<Vec<(i64, CloudEvent)>, EventError> {
        let rows = sqlx::query(
            "SELECT pos, key, id, source, type, subject, time, datacontenttype, data, extensions
             FROM events WHERE topic = ?1 AND pos >= ?2 ORDER BY pos LIMIT ?3",
        )
        .bind(topic)
        .bind(from)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter()
            .map(|row| {
                let extensions: String = row.try_get("extensions").map_err(unavailable)?;
                Ok((
                    row.try_get("pos").map_err(unavailable)?,
                    CloudEvent {
                        id: row.try_get("id").map_err(unavailable)?,
                        source: row.try_get("source").map_err(unavailable)?,
                        event_type: row.try_get("type").map_err(unavailable)?,
                        subject: row.try_get("subject").map_err(unavailable)?,
                        time: row.try_get("time").map_err(unavailable)?,
                        datacontenttype: row.try_get("datacontenttype").map_err(unavailable)?,
                        data: row.try_get("data").map_err(unavailable)?,
                        topic: topic.to_string(),
                        key: row.try_get("key").map_err(unavailable)?,
                        extensions: serde_json::from_str(&extensions).unwrap_or_default(),
                    },
                ))
            })
            .collect()
    }
}

/// How often the retention sweep runs.
const RETENTION_SWEEP: Duration = Duration::from_secs(3600);

/// Deletes events older than `retention` now and every hour after.
pub async fn enforce_retention_forever(log: Log, retention: Duration) {
    loop {
        let cutoff = chrono::Utc::now()
            - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
        match log.delete_before(cutoff).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "embedded event log: retention applied"),
            Err(e) => tracing::warn!(error = %e, "embedded event log: retention failed"),
        }
        tokio::time::sleep(RETENTION_SWEEP).await;
    }
}

impl Log {
    /// Deletes the events published before `cutoff`, consumed or not.
    pub async fn delete_before(
        &self,
        cutoff: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, EventError> {
        // `time` is always UTC RFC 3339 with microseconds, so text order is time order.
        let cutoff = cutoff.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let _writer = self.writer.lock().await;
        let deleted = sqlx::query("DELETE FROM events WHERE time < ?1")
            .bind(cutoff)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(deleted.rows_affected())
    }
}

fn unavailable(e: sqlx::Error) -> EventError {
    EventError::Unavailable(format!("embedded event log: {e}"))
}

/// Where a delivered event sits in the embedded log.
#[derive(Debug, Clone)]
pub struct Position {
    topic: String,
    pos: i64,
}

impl Position {
    /// Commits are per topic: a commit covers everything before it there.
    pub fn stream(&self) -> &str {
        &self.topic
    }
}

pub struct Consumer {
    log: Log,
    group: String,
    /// Next position to read, per topic.
    read: BTreeMap<String, i64>,
    /// Next position after the last handled event, per topic.
    committed: BTreeMap<String, i64>,
    dirty: bool,
    last_flush: Instant,
    buffer: VecDeque<(Position, CloudEvent)>,
}

impl Consumer {
    /// The next event of the subscribed topics, waiting for one to arrive.
    pub async fn next(&mut self) -> Result<(Position, CloudEvent), EventError> {
        loop {
            if let Some(next) = self.buffer.pop_front() {
                return Ok(next);
            }
            let appended = self.log.appended.clone();
            let notified = appended.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            self.fetch().await?;
            if self.buffer.is_empty() {
                self.flush().await?;
                let _ = tokio::time::timeout(Duration::from_secs(1), notified).await;
            }
        }
    }

    async fn fetch(&mut self) -> Result<(), EventError> {
        let topics: Vec<(String, i64)> = self.read.iter().map(|(t, p)| (t.clone(), *p)).collect();
        for (topic, from) in topics {
            let events = self.log.read(&topic, from, FETCH_BATCH).await?;
            if let Some((last, _)) = events.last() {
                self.read.insert(topic.clone(), last + 1);
            }
            self.buffer.extend(events.into_iter().map(|(pos, event)| {
                (
                    Position {
                        topic: topic.clone(),
                        pos,
                    },
                    event,
                )
            }));
        }
        Ok(())
    }

    /// Marks everything up to and including `position` as handled.
    pub async fn commit(&mut self, position: &Position) -> Result<(), EventError> {
        self.committed
            .insert(position.topic.clone(), position.pos + 1);
        self.dirty = true;
        if self.last_flush.elapsed() >= COMMIT_INTERVAL {
            self.flush().await?;
        }
        Ok(())
    }

    /// Writes the committed positions to the file.
    pub async fn flush(&mut self) -> Result<(), EventError> {
        if !self.dirty {
            return Ok(());
        }
        let _writer = self.log.writer.lock().await;
        let mut tx = self.log.pool.begin().await.map_err(unavailable)?;
        for (topic, next_pos) in &self.committed {
            sqlx::query(
                "INSERT INTO consumer_positions (grp, topic, next_pos) VALUES (?1, ?2, ?3)
                 ON CONFLICT (grp, topic) DO UPDATE SET next_pos = excluded.next_pos",
            )
            .bind(&self.group)
            .bind(topic)
            .bind(next_pos)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        }
        tx.commit().await.map_err(unavailable)?;
        self.dirty = false;
        self.last_flush = Instant::now();
        Ok(())
    }
}
