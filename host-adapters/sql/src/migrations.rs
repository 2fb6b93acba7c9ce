//! Schema migrations, applied at start-up: first the host's own tables
//! (migration bookkeeping, the outbox), then the component's, each pending
//! one inside the same transaction as its bookkeeping row.

use anyhow::{Context, bail};

use crate::backend::{Database, SqlError, Tx, Value};
use crate::limits::MAX_EVENT_BYTES;
use crate::{OutboxEvent, PendingEvent};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    pub version: u32,
    pub name: String,
    pub statements: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Database {
    pub fn dialect(&self) -> Dialect {
        match self {
            Database::Sqlite(_) => Dialect::Sqlite,
            Database::Postgres(_) => Dialect::Postgres,
        }
    }
}

/// Folio's own tables, in every component database.
fn host_tables(dialect: Dialect) -> String {
    let (serial, bytes) = match dialect {
        Dialect::Sqlite => ("INTEGER PRIMARY KEY AUTOINCREMENT", "BLOB"),
        Dialect::Postgres => ("BIGSERIAL PRIMARY KEY", "BYTEA"),
    };
    format!(
        "CREATE TABLE IF NOT EXISTS _folio_migrations (
             version INTEGER PRIMARY KEY,
             name TEXT NOT NULL,
             applied_at TEXT NOT NULL);
         CREATE TABLE IF NOT EXISTS _folio_outbox (
             seq {serial},
             id TEXT NOT NULL UNIQUE,
             topic TEXT NOT NULL,
             key TEXT NOT NULL,
             type TEXT NOT NULL,
             source TEXT NOT NULL,
             subject TEXT,
             time TEXT NOT NULL,
             datacontenttype TEXT NOT NULL,
             data {bytes} NOT NULL,
             traceparent TEXT);
         CREATE TABLE IF NOT EXISTS _folio_cron_ticks (
             schedule TEXT NOT NULL,
             tick BIGINT NOT NULL,
             host TEXT NOT NULL,
             claimed_at BIGINT NOT NULL,
             PRIMARY KEY (schedule, tick));"
    )
}

pub async fn apply(db: &Database, migrations: &[Migration]) -> anyhow::Result<()> {
    let mut versions: Vec<u32> = migrations.iter().map(|m| m.version).collect();
    versions.sort_unstable();
    if versions.first() == Some(&0) {
        bail!("migration versions start at 1");
    }
    if versions.windows(2).any(|w| w[0] == w[1]) {
        bail!("two migrations share a version");
    }

    let mut tx = db.begin().await?;
    if db.dialect() == Dialect::Postgres {
        // Hosts of a cluster start together; one migrates, the others wait and see it done.
        tx.execute("SELECT pg_advisory_xact_lock(7265735470)", vec![])
            .await?;
    }
    tx.script(&host_tables(db.dialect()))
        .await
        .context("creating Folio's tables")?;
    add_outbox_traceparent(&mut tx, db.dialect())
        .await
        .context("upgrading Folio's outbox table")?;
    let applied = tx
        .query("SELECT version FROM _folio_migrations", vec![])
        .await?;
    let applied: Vec<i64> = applied
        .rows
        .iter()
        .filter_map(|r| match r.first() {
            Some(Value::Integer(v)) => Some(*v),
            _ => None,
        })
        .collect();

    let mut pending: Vec<&Migration> = migrations
        .iter()
        .filter(|m| !applied.contains(&i64::from(m.version)))
        .collect();
    pending.sort_by_key(|m| m.version);
    for m in pending {
        tx.script(&m.statements)
            .await
            .with_context(|| format!("migration {} ({}) failed", m.version, m.name))?;
        tx.execute(
            "INSERT INTO _folio_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
            vec![
                Value::Integer(m.version.into()),
                Value::Text(m.name.clone()),
                Value::Text(chrono::Utc::now().to_rfc3339()),
            ],
        )
        .await?;
        tracing::info!(version = m.version, name = %m.name, "migration applied");
    }
    tx.commit().await?;
    Ok(())
}

/// Outboxes made before events carried their trace context lack the column.
async fn add_outbox_traceparent(tx: &mut Tx, dialect: Dialect) -> Result<(), SqlError> {
    match dialect {
        Dialect::Postgres => {
            tx.script("ALTER TABLE _folio_outbox ADD COLUMN IF NOT EXISTS traceparent TEXT")
                .await
        }
        Dialect::Sqlite => {
            let found = tx
                .query(
                    "SELECT COUNT(*) FROM pragma_table_info('_folio_outbox') WHERE name = 'traceparent'",
                    vec![],
                )
                .await?;
            if found.rows.first().and_then(|r| r.first()) == Some(&Value::Integer(0)) {
                tx.script("ALTER TABLE _folio_outbox ADD COLUMN traceparent TEXT")
                    .await?;
            }
            Ok(())
        }
    }
}

impl Tx {
    /// Writes `events` (already checked, with their ids) to the outbox
    /// inside this transaction, then commits.
    pub async fn commit_with_outbox(mut self, events: &[PendingEvent]) -> Result<(), SqlError> {
        if !events.is_empty() {
            self.insert_outbox(events).await?;
        }
        self.commit().await
    }
}

/// A topic name Kafka and the embedded log both accept: 1-249 letters,
/// digits, `.`, `_` or `-`.
pub fn valid_topic(topic: &str) -> bool {
    !topic.is_empty()
        && topic.len() <= 249
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// The limits every published event meets, in a transaction or not.
pub fn check_event(event: &OutboxEvent) -> Result<(), SqlError> {
    if !valid_topic(&event.topic) {
        return Err(SqlError::InvalidStatement(format!(
            "event topic `{}` must be 1-249 characters of letters, digits, `.`, `_`, `-`",
            event.topic
        )));
    }
    if event.event_type.is_empty() {
        return Err(SqlError::InvalidStatement(
            "event type must not be empty".into(),
        ));
    }
    if event.key.len() > 1024 {
        return Err(SqlError::TooLarge("event key is over 1024 bytes".into()));
    }
    if event.data.len() > MAX_EVENT_BYTES {
        return Err(SqlError::TooLarge(format!(
            "event data is {} bytes; the limit is {MAX_EVENT_BYTES}",
            event.data.len()
        )));
    }
    Ok(())
}
