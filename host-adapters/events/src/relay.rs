//! The outbox relay: moves each component database's committed
//! `_folio_outbox` rows to the event log, oldest first, and deletes rows
//! only after the log acknowledged them durably. A crash between the two
//! re-sends a batch (at-least-once); nothing committed is skipped.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use folio_sql::{Database, OpenDatabase, SqlError, TopicGrants, Tx, Value};
use tokio::sync::watch;

use crate::{CloudEvent, EventLog};

const BATCH: i64 = 500;
/// Outbox rows written by another host of the cluster raise no local
/// signal; this poll finds them (and rows left by a crash).
const POLL: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

const SELECT: &str =
    "SELECT seq, id, topic, key, type, source, subject, time, datacontenttype, data, traceparent
     FROM _folio_outbox ORDER BY seq LIMIT $1";

#[derive(Default)]
pub struct RelayStats {
    pub relayed: AtomicU64,
    pub failures: AtomicU64,
}

/// Runs the relay for one component database until the task is dropped.
/// Runs the relay for one component database until `stop` turns true; a
/// batch in flight is finished first, so a clean shutdown re-sends nothing.
pub async fn run(
    label: String,
    database: OpenDatabase,
    grants: TopicGrants,
    log: EventLog,
    stats: Arc<RelayStats>,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(100);
    while !*stop.borrow() {
        // Created before the read, so a commit that lands meanwhile still wakes us.
        let signal = database.outbox_ready.notified();
        match relay_batch(&database.db, &grants, &log).await {
            Ok(0) => {
                backoff = Duration::from_millis(100);
                tokio::select! {
                    _ = tokio::time::timeout(POLL, signal) => {}
                    _ = stop.changed() => {}
                }
            }
            Ok(n) => {
                backoff = Duration::from_millis(100);
                stats.relayed.fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(e) => {
                stats.failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(database = %label, error = %e, retry_in_ms = backoff.as_millis() as u64,
                    "outbox relay: cannot move events to the log; will retry");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.changed() => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Moves one batch; returns how many events it moved. Rows on a topic the
/// component is not granted (which only SQL written straight into the
/// outbox table can make) are deleted without being published.
pub async fn relay_batch(
    db: &Database,
    grants: &TopicGrants,
    log: &EventLog,
) -> Result<usize, String> {
    let limit = || vec![Value::Integer(BATCH)];
    match db {
        Database::Sqlite(_) => {
            // One host owns an SQLite file, so no lock is needed.
            let rows = db.query(SELECT, limit()).await.map_err(text)?;
            let Some((moved, delete)) = append(rows.rows, grants, log).await? else {
                return Ok(0);
            };
            db.execute(&delete, vec![]).await.map_err(text)?;
            Ok(moved)
        }
        Database::Postgres(_) => {
            // Hosts of a cluster share the schema: one relays at a time, so
            // per-key order holds; the others find the lock taken and wait.
            let mut tx = db.begin().await.map_err(text)?;
            if !try_lock(&mut tx).await.map_err(text)? {
                return Ok(0);
            }
            let rows = tx.query(SELECT, limit()).await.map_err(text)?;
            let Some((moved, delete)) = append(rows.rows, grants, log).await? else {
                return Ok(0);
            };
            tx.execute(&delete, vec![]).await.map_err(text)?;
            tx.commit().await.map_err(text)?;
            Ok(moved)
        }
    }
}

/// Appends the outbox `rows` to the log. Returns how many there were and the
/// statement that deletes exactly them; `None` when there were none.
async fn append(
    rows: Vec<Vec<Value>>,
    grants: &TopicGrants,
    log: &EventLog,
) -> Result<Option<(usize, String)>, String> {
    let (seqs, mut events) = decode(rows)?;
    if seqs.is_empty() {
        return Ok(None);
    }
    events.retain(|event| {
        let granted = grants.allows(&event.topic);
        if !granted {
            tracing::error!(eventId = %event.id, topic = %event.topic, source = %event.source,
                "outbox relay: dropped an event on a topic the component is not granted");
        }
        granted
    });
    if !events.is_empty() {
        log.append(&events).await.map_err(text)?;
    }
    Ok(Some((events.len(), delete_statement(&seqs))))
}

fn text(e: impl std::fmt::Display) -> String {
    e.to_string()
}

async fn try_lock(tx: &mut Tx) -> Result<bool, SqlError> {
    let rows = tx
        .query(
            "SELECT pg_try_advisory_xact_lock(hashtext(current_schema() || '._folio_outbox'))",
            vec![],
        )
        .await?;
    Ok(matches!(
        rows.rows.first().and_then(|r| r.first()),
        Some(Value::Boolean(true))
    ))
}

fn delete_statement(seqs: &[i64]) -> String {
    let list: Vec<String> = seqs.iter().map(i64::to_string).collect();
    format!(
        "DELETE FROM _folio_outbox WHERE seq IN ({})",
        list.join(",")
    )
}

fn decode(rows: Vec<Vec<Value>>) -> Result<(Vec<i64>, Vec<CloudEvent>), String> {
    let mut seqs = Vec::with_capacity(rows.len());
    let mut events = Vec::with_capacity(rows.len());
    for row in rows {
        let mut it = row.into_iter();
        let mut next = || it.next().unwrap_or(Value::Null);
        let seq = match next() {
            Value::Integer(i) => i,
            other => return Err(format!("outbox seq is {other:?}")),
        };
        let text = |v: Value| match v {
            Value::Text(s) | Value::Timestamp(s) | Value::Json(s) => Ok(s),
            other => Err(format!("outbox row {seq}: expected text, found {other:?}")),
        };
        let id = text(next())?;
        let topic = text(next())?;
        let key = text(next())?;
        let event_type = text(next())?;
        let source = text(next())?;
        let subject = match next() {
            Value::Null => None,
            v => Some(text(v)?),
        };
        let time = text(next())?;
        let datacontenttype = text(next())?;
        let data = match next() {
            Value::Blob(b) => b,
            other => return Err(format!("outbox row {seq}: data is {other:?}")),
        };
        let mut extensions = std::collections::BTreeMap::new();
        if let Value::Text(traceparent) = next() {
            extensions.insert("traceparent".to_string(), traceparent);
        }
        seqs.push(seq);
        events.push(CloudEvent {
            id,
            source,
            event_type,
            subject,
            time,
            datacontenttype,
            data,
            topic,
            key,
            extensions,
        });
    }
    Ok((seqs, events))
}
