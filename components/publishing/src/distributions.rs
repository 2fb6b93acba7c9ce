//! Distributions: one per (item, channel, version, action), with a status
//! (`pending → awaiting-approval → delivering → delivered | failed |
//! retrying | cancelled`) and every attempt recorded. Each is sent by a
//! `DeliveryDue` event written in the transaction that made it due, so a
//! distribution is never lost between the database and the worker.

use folio_guest::columns::{integer, optional_integer, optional_text, text, text_in_list};
use folio_guest::http::Problem;
use folio_guest::util::{new_id, now_ms, rfc3339};
use folio_guest::{Connection, OutgoingEvent, Transaction, Value};
use serde_json::{Value as Json, json};

use crate::store::db_error;

/// Internal: `DeliveryDue` events, each naming up to [`BATCH`] distributions.
pub const DELIVERY_TOPIC: &str = "folio.publishing.deliveries";
/// What other services consume: approvals, disabled channels, newsletters.
pub const TOPIC: &str = "folio.publishing";
/// Distributions sent by one instance, concurrently.
pub const BATCH: usize = 50;

pub struct Distribution {
    pub id: String,
    pub content_id: String,
    pub channel_id: String,
    pub version: i64,
    pub action: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub delivered_at: Option<i64>,
}

pub const COLUMNS: &str = "id, content_id, channel_id, version, action, status, attempts, \
    next_attempt_at, last_error, reason, created_at, updated_at, delivered_at";

pub fn from_row(r: &[Value]) -> Distribution {
    Distribution {
        id: text(&r[0]),
        content_id: text(&r[1]),
        channel_id: text(&r[2]),
        version: integer(&r[3]),
        action: text(&r[4]),
        status: text(&r[5]),
        attempts: integer(&r[6]),
        next_attempt_at: integer(&r[7]),
        last_error: optional_text(&r[8]),
        reason: optional_text(&r[9]),
        created_at: integer(&r[10]),
        updated_at: integer(&r[11]),
        delivered_at: optional_integer(&r[12]),
    }
}

impl Distribution {
    pub fn to_json(&self) -> Json {
        let waiting = matches!(self.status.as_str(), "pending" | "retrying");
        json!({
            "id": self.id,
            "contentId": self.content_id,
            "channelId": self.channel_id,
            "version": self.version,
            "action": self.action,
            "status": self.status,
            "attempts": self.attempts,
            "nextAttemptAt": waiting.then(|| rfc3339(self.next_attempt_at)),
            "lastError": self.last_error,
            "reason": self.reason,
            "createdAt": rfc3339(self.created_at),
            "updatedAt": rfc3339(self.updated_at),
            "deliveredAt": self.delivered_at.map(rfc3339),
        })
    }
}

pub struct NewDistribution<'a> {
    pub content_id: &'a str,
    pub channel_id: String,
    pub version: i64,
    pub action: &'a str,
    pub fingerprint: &'a str,
    pub status: &'a str,
    pub payload: String,
    pub not_before: i64,
}

/// Makes these distributions, but none whose (item, channel, version,
/// action) has one already (a replayed event): one statement; returns the
/// (id, channel id) of those made.
pub fn create_many(
    tx: &Transaction,
    new: &[NewDistribution],
) -> Result<Vec<(String, String)>, Problem> {
    const COLUMNS: usize = 10;
    let now = now_ms();
    let mut made = Vec::new();
    for chunk in new.chunks(100) {
        let mut params = Vec::with_capacity(chunk.len() * COLUMNS);
        let mut rows = Vec::with_capacity(chunk.len());
        for (i, d) in chunk.iter().enumerate() {
            params.extend([
                Value::Text(new_id()),
                Value::Text(d.content_id.to_string()),
                Value::Text(d.channel_id.clone()),
                Value::Integer(d.version),
                Value::Text(d.action.to_string()),
                Value::Text(d.fingerprint.to_string()),
                Value::Text(d.status.to_string()),
                Value::Text(d.payload.clone()),
                Value::Integer(d.not_before),
                Value::Integer(now),
            ]);
            let n = i * COLUMNS;
            rows.push(format!(
                "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${}, 0, ${}, ${n10}, ${n10})",
                n + 1,
                n + 2,
                n + 3,
                n + 4,
                n + 5,
                n + 6,
                n + 7,
                n + 8,
                n + 9,
                n10 = n + 10
            ));
        }
        let rows = tx
            .query(
                &format!(
                    "INSERT INTO distributions (id, content_id, channel_id, version, action, \
                     fingerprint, status, payload, attempts, next_attempt_at, created_at, \
                     updated_at) VALUES {} \
                     ON CONFLICT (content_id, channel_id, version, action) DO NOTHING \
                     RETURNING id, channel_id",
                    rows.join(", ")
                ),
                &params,
            )
            .map_err(db_error)?;
        made.extend(rows.rows.iter().map(|r| (text(&r[0]), text(&r[1]))));
    }
    Ok(made)
}

/// Marks `ids` announced and writes the events that send them, [`BATCH`]
/// to an event, keyed by `key` (one item's deliveries in order).
pub fn announce(tx: &Transaction, ids: &[String], key: &str) -> Result<(), Problem> {
    if ids.is_empty() {
        return Ok(());
    }
    let (list, mut params) = text_in_list(ids);
    params.push(Value::Integer(now_ms()));
    let at = params.len();
    tx.execute(
        &format!("UPDATE distributions SET announced_at = ${at} WHERE id IN ({list})"),
        &params,
    )
    .map_err(db_error)?;
    for chunk in ids.chunks(BATCH) {
        tx.publish(&OutgoingEvent {
            topic: DELIVERY_TOPIC.into(),
            type_: "folio.publishing.DeliveryDue".into(),
            key: key.to_string(),
            subject: None,
            datacontenttype: "application/json".into(),
            data: json!({ "ids": chunk }).to_string().into_bytes(),
        })
        .map_err(db_error)?;
    }
    Ok(())
}

/// An event for other services on `folio.publishing`.
pub fn publish_event(tx: &Transaction, kind: &str, key: &str, data: Json) -> Result<(), Problem> {
    tx.publish(&OutgoingEvent {
        topic: TOPIC.into(),
        type_: format!("folio.publishing.{kind}"),
        key: key.to_string(),
        subject: Some(key.to_string()),
        datacontenttype: "application/json".into(),
        data: data.to_string().into_bytes(),
    })
    .map_err(db_error)?;
    Ok(())
}

pub fn get(db: &Connection, id: &str) -> Result<Option<Distribution>, Problem> {
    let rows = db
        .query(
            &format!("SELECT {COLUMNS} FROM distributions WHERE id = $1"),
            &[Value::Text(id.to_string())],
        )
        .map_err(db_error)?;
    Ok(rows.rows.first().map(|r| from_row(r)))
}

pub fn attempts(db: &Connection, ids: &[String]) -> Result<Vec<(String, Json)>, Problem> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let (list, params) = text_in_list(ids);
    let rows = db
        .query(
            &format!(
                "SELECT distribution_id, attempt, at, status_code, latency_ms, response, error \
                 FROM delivery_attempts WHERE distribution_id IN ({list}) \
                 ORDER BY distribution_id, attempt"
            ),
            &params,
        )
        .map_err(db_error)?;
    Ok(rows
        .rows
        .iter()
        .map(|r| {
            (
                text(&r[0]),
                json!({
                    "attempt": integer(&r[1]),
                    "at": rfc3339(integer(&r[2])),
                    "statusCode": optional_integer(&r[3]),
                    "latencyMs": integer(&r[4]),
                    "response": text(&r[5]),
                    "error": optional_text(&r[6]),
                }),
            )
        })
        .collect())
}

pub struct Filter {
    pub content_id: Option<String>,
    pub channel_id: Option<String>,
    pub status: Option<String>,
    /// Keyset: the (created_at, id) of the last row seen.
    pub before: Option<(i64, String)>,
    pub limit: i64,
}

/// Newest first.
pub fn list(db: &Connection, f: &Filter) -> Result<Vec<Distribution>, Problem> {
    let mut conditions = Vec::new();
    let mut params = Vec::new();
    let mut bind = |condition: &str, value: Value, params: &mut Vec<Value>| {
        params.push(value);
        conditions.push(condition.replace('?', &format!("${}", params.len())));
    };
    if let Some(c) = &f.content_id {
        bind("content_id = ?", Value::Text(c.clone()), &mut params);
    }
    if let Some(c) = &f.channel_id {
        bind("channel_id = ?", Value::Text(c.clone()), &mut params);
    }
    if let Some(s) = &f.status {
        bind("status = ?", Value::Text(s.clone()), &mut params);
    }
    if let Some((at, id)) = &f.before {
        params.push(Value::Integer(*at));
        params.push(Value::Text(id.clone()));
        let (a, b) = (params.len() - 1, params.len());
        conditions.push(format!(
            "(created_at < ${a} OR (created_at = ${a} AND id < ${b}))"
        ));
    }
    let filter = match conditions.is_empty() {
        true => String::new(),
        false => format!("WHERE {}", conditions.join(" AND ")),
    };
    params.push(Value::Integer(f.limit));
    let rows = db
        .query(
            &format!(
                "SELECT {COLUMNS} FROM distributions {filter} ORDER BY created_at DESC, id DESC \
                 LIMIT ${}",
                params.len()
            ),
            &params,
        )
        .map_err(db_error)?;
    Ok(rows.rows.iter().map(|r| from_row(r)).collect())
}

/// A manual retry: due now, whatever its state but delivering.
pub fn retry_now(tx: &Transaction, id: &str) -> Result<bool, Problem> {
    let changed = tx
        .execute(
            "UPDATE distributions SET status = 'retrying', next_attempt_at = $2, updated_at = $2, \
             reason = NULL, claim = NULL WHERE id = $1 AND status IN ('failed', 'retrying', \
             'delivered', 'cancelled', 'pending')",
            &[Value::Text(id.to_string()), Value::Integer(now_ms())],
        )
        .map_err(db_error)?;
    Ok(changed == 1)
}
