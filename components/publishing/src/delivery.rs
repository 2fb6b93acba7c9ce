//! Sending distributions. A `DeliveryDue` event names up to 50; the
//! instance claims those still due (a lease, so a crashed worker's claims
//! pass to the next), sends them all at once, and records every attempt in
//! one transaction: delivered; retried on the schedule (later if the
//! receiver's `Retry-After` says so); failed once the schedule is spent.
//! A 410 disables the channel, as does failing with no success for
//! `disable_after`; its owner is told (`ChannelDisabled`). Redirects are
//! never followed (a 3xx is a failure), response bodies are read only for
//! the first KiB, and the host bounds each call's time and refuses private
//! addresses.

use std::collections::HashMap;
use std::time::Instant;

use folio_guest::columns::{integer, text, text_in_list};
use folio_guest::http::Problem;
use folio_guest::util::{new_id, now_ms, random};
use folio_guest::worker::{Event, HandleError};
use folio_guest::{Connection, Transaction, Value};
use futures::StreamExt;
use serde_json::{Map, Value as Json, json};
use spin_sdk::http::{IncomingResponse, Method, Request};

use crate::channels::{self, Channel};
use crate::distributions;
use crate::store::{self, db_error};
use crate::{config, items, templates, webhooks};

const RESPONSE_LOGGED: usize = 1024;
const MAX_RETRY_AFTER_MS: i64 = 24 * 3_600_000;

pub fn handle(event: &Event) -> Result<(), HandleError> {
    let ids: Vec<String> = serde_json::from_slice::<Json>(&event.data)
        .ok()
        .and_then(|d| serde_json::from_value(d["ids"].clone()).ok())
        .ok_or_else(|| HandleError::Reject(format!("event {} names no distributions", event.id)))?;
    if ids.is_empty() || ids.len() > distributions::BATCH {
        return Err(HandleError::Reject(format!(
            "event {} names {} distributions",
            event.id,
            ids.len()
        )));
    }
    let db = store::db().map_err(|p| HandleError::Retry(p.detail))?;
    deliver(&db, &ids).map_err(|p| HandleError::Retry(p.detail))
}

struct Claimed {
    id: String,
    content_id: String,
    channel_id: String,
    action: String,
    payload: String,
    attempt: i64,
}

struct Prepared {
    method: Method,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

enum Outcome {
    Delivered {
        status: Option<u16>,
        response: String,
        latency_ms: i64,
    },
    Failed {
        status: Option<u16>,
        response: String,
        error: Option<String>,
        latency_ms: i64,
        retry_after_ms: Option<i64>,
    },
    /// 410: the receiver says the endpoint is gone for good.
    Gone {
        response: String,
        latency_ms: i64,
    },
    /// Cannot succeed as configured (a template that fails, a missing
    /// secret): no retry.
    Broken(String),
    /// The channel is paused: back to pending, not an attempt.
    Paused,
    Cancelled(String),
}

pub fn deliver(db: &Connection, ids: &[String]) -> Result<(), Problem> {
    let claimed = claim(db, ids)?;
    if claimed.is_empty() {
        return Ok(());
    }
    let mut channel_ids: Vec<String> = claimed.iter().map(|c| c.channel_id.clone()).collect();
    channel_ids.sort();
    channel_ids.dedup();
    let channels: HashMap<String, Channel> = channels::by_ids(db, &channel_ids)?
        .into_iter()
        .map(|c| (c.id.clone(), c))
        .collect();
    let webhook_ids: Vec<String> = channels
        .values()
        .filter(|c| c.kind == "webhook")
        .map(|c| c.id.clone())
        .collect();
    let secrets = webhooks::live_secrets_of(db, &webhook_ids)?;
    // Malformed, it fails only the channels that use it.
    let outbound_secrets = config::outbound_secrets().map_err(|p| p.detail);
    let mut outcomes: Vec<Option<Outcome>> = Vec::with_capacity(claimed.len());
    let mut sends = Vec::new();
    for (index, c) in claimed.iter().enumerate() {
        let channel = channels.get(&c.channel_id);
        let prepared = match channel {
            None => Err(Outcome::Cancelled("the channel was deleted".into())),
            Some(ch) if ch.status == "paused" => Err(Outcome::Paused),
            Some(ch) if ch.status != "active" => {
                Err(Outcome::Cancelled(format!("the channel is {}", ch.status)))
            }
            Some(ch) => prepare(ch, c, &secrets, &outbound_secrets),
        };
        match prepared {
            Ok(Some(request)) => {
                outcomes.push(None);
                sends.push((index, request));
            }
            Ok(None) => outcomes.push(Some(Outcome::Delivered {
                status: None,
                response: String::new(),
                latency_ms: 0,
            })),
            Err(outcome) => outcomes.push(Some(outcome)),
        }
    }
    let results = spin_sdk::http::run(futures::future::join_all(
        sends
            .into_iter()
            .map(|(index, request)| async move { (index, send(request).await) }),
    ));
    for (index, outcome) in results {
        outcomes[index] = Some(outcome);
    }
    let tx = db.begin().map_err(db_error)?;
    let mut log = Log::default();
    for (c, outcome) in claimed.iter().zip(outcomes) {
        let channel = channels.get(&c.channel_id);
        let outcome = outcome.unwrap_or(Outcome::Broken("not sent".into()));
        record(&tx, &mut log, c, channel, outcome)?;
    }
    log.write(&tx)?;
    tx.commit().map_err(db_error)
}

/// What a batch writes in bulk: every attempt, and the distributions
/// delivered (most of them), so a batch of 50 is a few statements, not 100.
#[derive(Default)]
struct Log {
    attempts: Vec<Value>,
    delivered: Vec<String>,
}

impl Log {
    fn attempt(
        &mut self,
        c: &Claimed,
        status: Option<u16>,
        latency: i64,
        response: &str,
        error: Option<&str>,
    ) {
        self.attempts.extend([
            Value::Text(c.id.clone()),
            Value::Integer(c.attempt),
            Value::Integer(now_ms()),
            status
                .map(|s| Value::Integer(s.into()))
                .unwrap_or(Value::Null),
            Value::Integer(latency),
            Value::Text(response.to_string()),
            error
                .map(|e| Value::Text(e.to_string()))
                .unwrap_or(Value::Null),
        ]);
    }

    fn write(self, tx: &Transaction) -> Result<(), Problem> {
        const COLUMNS: usize = 7;
        for rows in self.attempts.chunks(COLUMNS * 100) {
            let values: Vec<String> = (0..rows.len() / COLUMNS)
                .map(|row| {
                    let first = row * COLUMNS + 1;
                    let placeholders: Vec<String> =
                        (first..first + COLUMNS).map(|n| format!("${n}")).collect();
                    format!("({})", placeholders.join(", "))
                })
                .collect();
            tx.execute(
                &format!(
                    "INSERT INTO delivery_attempts (distribution_id, attempt, at, status_code, \
                     latency_ms, response, error) VALUES {} \
                     ON CONFLICT (distribution_id, attempt) DO NOTHING",
                    values.join(", ")
                ),
                rows,
            )
            .map_err(db_error)?;
        }
        if !self.delivered.is_empty() {
            let (list, mut params) = text_in_list(&self.delivered);
            params.push(Value::Integer(now_ms()));
            tx.execute(
                &format!(
                    "UPDATE distributions SET status = 'delivered', delivered_at = ${n}, \
                     updated_at = ${n}, last_error = NULL, reason = NULL, claim = NULL, \
                     lease_until = NULL WHERE id IN ({list})",
                    n = params.len()
                ),
                &params,
            )
            .map_err(db_error)?;
        }
        Ok(())
    }
}

/// Takes the distributions among `ids` that are due (or whose last
/// claim's lease ran out): one attempt each, ours until the lease ends.
fn claim(db: &Connection, ids: &[String]) -> Result<Vec<Claimed>, Problem> {
    let token = new_id();
    let now = now_ms();
    let (list, mut params) = text_in_list(ids);
    params.push(Value::Text(token.clone()));
    params.push(Value::Integer(now));
    params.push(Value::Integer(now + config::lease_ms()));
    let n = params.len();
    let (t, at, lease) = (n - 2, n - 1, n);
    // A write: in a transaction, which takes the database's writer turn
    // (a bare query would race the other writers for SQLite's lock).
    let tx = db.begin().map_err(db_error)?;
    let rows = tx
        .query(
            &format!(
                "UPDATE distributions SET status = 'delivering', claim = ${t}, lease_until = ${lease}, \
                 attempts = attempts + 1, updated_at = ${at} WHERE id IN ({list}) AND \
                 ((status IN ('pending', 'retrying') AND next_attempt_at <= ${at}) \
                 OR (status = 'delivering' AND lease_until < ${at})) \
                 RETURNING id, content_id, channel_id, action, payload, attempts"
            ),
            &params,
        )
        .map_err(db_error)?;
    tx.commit().map_err(db_error)?;
    Ok(rows
        .rows
        .iter()
        .map(|r| Claimed {
            id: text(&r[0]),
            content_id: text(&r[1]),
            channel_id: text(&r[2]),
            action: text(&r[3]),
            payload: text(&r[4]),
            attempt: integer(&r[5]),
        })
        .collect())
}

/// The request a distribution sends, or `None` for channels that deliver
/// by recording (feeds, sitemaps, newsletters).
fn prepare(
    channel: &Channel,
    c: &Claimed,
    secrets: &HashMap<String, Vec<String>>,
    outbound_secrets: &Result<Map<String, Json>, String>,
) -> Result<Option<Prepared>, Outcome> {
    let named_secrets = || {
        outbound_secrets
            .as_ref()
            .map_err(|e| Outcome::Broken(e.clone()))
    };
    let url = channel.config_str("url").unwrap_or_default().to_string();
    match channel.kind.as_str() {
        "webhook" => {
            let live = secrets.get(&channel.id).cloned().unwrap_or_default();
            if live.is_empty() {
                return Err(Outcome::Broken("the channel has no signing secret".into()));
            }
            let timestamp = now_ms() / 1000;
            let signature = webhooks::signature_header(&live, &c.id, timestamp, &c.payload);
            Ok(Some(Prepared {
                method: Method::Post,
                url,
                headers: vec![
                    ("content-type".into(), "application/json".into()),
                    ("user-agent".into(), "Folio-Webhooks/1".into()),
                    ("webhook-id".into(), c.id.clone()),
                    ("webhook-timestamp".into(), timestamp.to_string()),
                    ("webhook-signature".into(), signature),
                ],
                body: c.payload.clone().into_bytes(),
            }))
        }
        "http" => {
            let payload: Json = serde_json::from_str(&c.payload).unwrap_or(Json::Null);
            let context = json!({
                "event": payload["type"],
                "timestamp": payload["timestamp"],
                "item": payload["data"],
                "secrets": named_secrets()?,
            });
            let render = |template: &str| templates::render(template, &context);
            let body = render(channel.config_str("body").unwrap_or_default())
                .map_err(|e| Outcome::Broken(format!("body template: {e}")))?;
            let mut headers = vec![
                (
                    "content-type".to_string(),
                    channel
                        .config_str("contentType")
                        .unwrap_or("application/json")
                        .to_string(),
                ),
                ("user-agent".to_string(), "Folio-Publishing/1".to_string()),
                ("idempotency-key".to_string(), c.id.clone()),
            ];
            if let Some(templates) = channel.config.get("headers").and_then(Json::as_object) {
                for (name, template) in templates {
                    let value = render(template.as_str().unwrap_or_default())
                        .map_err(|e| Outcome::Broken(format!("header {name}: {e}")))?;
                    if value.chars().any(|ch| ch.is_control()) {
                        return Err(Outcome::Broken(format!(
                            "header {name} renders with a control character"
                        )));
                    }
                    headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
                    headers.push((name.to_ascii_lowercase(), value));
                }
            }
            let method = match channel.config_str("method") {
                Some("PUT") => Method::Put,
                Some("PATCH") => Method::Patch,
                _ => Method::Post,
            };
            Ok(Some(Prepared {
                method,
                url,
                headers,
                body: body.into_bytes(),
            }))
        }
        "cdn" => {
            let keys: Vec<String> = serde_json::from_str::<Json>(&c.payload)
                .ok()
                .and_then(|p| serde_json::from_value(p["keys"].clone()).ok())
                .unwrap_or_default();
            let secret_name = channel.config_str("tokenSecret").unwrap_or_default();
            let token = named_secrets()?
                .get(secret_name)
                .and_then(Json::as_str)
                .ok_or_else(|| {
                    Outcome::Broken(format!("outbound secret `{secret_name}` is not set"))
                })?;
            let endpoint = channel
                .config_str("endpoint")
                .unwrap_or_default()
                .trim_end_matches('/');
            Ok(Some(match channel.config_str("provider") {
                Some("cloudflare") => Prepared {
                    method: Method::Post,
                    url: format!(
                        "{endpoint}/client/v4/zones/{}/purge_cache",
                        channel.config_str("zoneId").unwrap_or_default()
                    ),
                    headers: vec![
                        ("authorization".into(), format!("Bearer {token}")),
                        ("content-type".into(), "application/json".into()),
                    ],
                    body: json!({ "tags": keys }).to_string().into_bytes(),
                },
                _ => Prepared {
                    method: Method::Post,
                    url: format!(
                        "{endpoint}/service/{}/purge",
                        channel.config_str("serviceId").unwrap_or_default()
                    ),
                    headers: vec![
                        ("fastly-key".into(), token.to_string()),
                        ("surrogate-key".into(), keys.join(" ")),
                        ("accept".into(), "application/json".into()),
                    ],
                    body: Vec::new(),
                },
            }))
        }
        _ => Ok(None),
    }
}

async fn send(prepared: Prepared) -> Outcome {
    let started = Instant::now();
    let mut builder = Request::builder();
    builder.method(prepared.method).uri(prepared.url.as_str());
    for (name, value) in &prepared.headers {
        builder.header(name.as_str(), value.as_str());
    }
    builder.header("content-length", prepared.body.len().to_string());
    let request = builder.body(prepared.body).build();
    let response: IncomingResponse = match spin_sdk::http::send(request).await {
        Ok(response) => response,
        Err(e) => {
            return Outcome::Failed {
                status: None,
                response: String::new(),
                error: Some(format!("unreachable: {e}")),
                latency_ms: started.elapsed().as_millis() as i64,
                retry_after_ms: None,
            };
        }
    };
    let status = response.status();
    let retry_after_ms = response
        .headers()
        .get("retry-after")
        .first()
        .and_then(|v| retry_after_ms(&String::from_utf8_lossy(v)));
    let mut said = Vec::new();
    let mut body = response.take_body_stream();
    while said.len() < RESPONSE_LOGGED {
        match body.next().await {
            Some(Ok(chunk)) => said.extend_from_slice(&chunk),
            _ => break,
        }
    }
    said.truncate(RESPONSE_LOGGED);
    drop(body);
    let latency_ms = started.elapsed().as_millis() as i64;
    let response_text = String::from_utf8_lossy(&said).into_owned();
    match status {
        200..=299 => Outcome::Delivered {
            status: Some(status),
            response: response_text,
            latency_ms,
        },
        410 => Outcome::Gone {
            response: response_text,
            latency_ms,
        },
        _ => Outcome::Failed {
            status: Some(status),
            response: response_text,
            error: (300..400)
                .contains(&status)
                .then(|| "redirects are not followed".to_string()),
            latency_ms,
            retry_after_ms,
        },
    }
}

/// `Retry-After`: seconds, or an HTTP date.
fn retry_after_ms(value: &str) -> Option<i64> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<i64>() {
        return Some(seconds.max(0) * 1000);
    }
    let at = jiff::fmt::rfc2822::parse(value)
        .ok()?
        .timestamp()
        .as_millisecond();
    Some((at - now_ms()).max(0))
}

fn record(
    tx: &Transaction,
    log: &mut Log,
    c: &Claimed,
    channel: Option<&Channel>,
    outcome: Outcome,
) -> Result<(), Problem> {
    let now = now_ms();
    let set = |sql: &str, extra: Vec<Value>| {
        let mut params = vec![Value::Text(c.id.clone()), Value::Integer(now)];
        params.extend(extra);
        tx.execute(
            &format!("UPDATE distributions SET {sql}, updated_at = $2, claim = NULL, lease_until = NULL WHERE id = $1"),
            &params,
        )
        .map_err(db_error)
    };
    match outcome {
        Outcome::Delivered {
            status,
            response,
            latency_ms,
        } => {
            if status.is_some() {
                log.attempt(c, status, latency_ms, &response, None);
            }
            log.delivered.push(c.id.clone());
            if let Some(channel) = channel {
                delivered(tx, c, channel, now)?;
            }
        }
        Outcome::Gone {
            response,
            latency_ms,
        } => {
            log.attempt(c, Some(410), latency_ms, &response, None);
            set(
                "status = 'failed', last_error = $3",
                vec![Value::Text("410 Gone: the endpoint was disabled".into())],
            )?;
            if let Some(channel) = channel {
                disable(tx, channel, "the endpoint answered 410 Gone")?;
            }
        }
        Outcome::Failed {
            status,
            response,
            error,
            latency_ms,
            retry_after_ms,
        } => {
            log.attempt(c, status, latency_ms, &response, error.as_deref());
            let summary = match (status, &error) {
                (_, Some(e)) => e.clone(),
                (Some(s), None) => format!("answered {s}"),
                (None, None) => "failed".into(),
            };
            let schedule = config::retry_schedule();
            match schedule.get((c.attempt - 1).max(0) as usize) {
                Some(delay) => {
                    let delay =
                        jitter(*delay).max(retry_after_ms.unwrap_or(0).min(MAX_RETRY_AFTER_MS));
                    set(
                        "status = 'retrying', next_attempt_at = $3, announced_at = NULL, last_error = $4",
                        vec![Value::Integer(now + delay), Value::Text(summary)],
                    )?;
                }
                None => {
                    set(
                        "status = 'failed', last_error = $3",
                        vec![Value::Text(format!("{summary} (retries exhausted)"))],
                    )?;
                }
            }
            if let Some(channel) = channel {
                failing(tx, channel, now)?;
            }
        }
        Outcome::Broken(error) => {
            log.attempt(c, None, 0, "", Some(&error));
            set(
                "status = 'failed', last_error = $3",
                vec![Value::Text(error)],
            )?;
        }
        Outcome::Paused => {
            set(
                "status = 'pending', attempts = attempts - 1, announced_at = NULL",
                vec![],
            )?;
        }
        Outcome::Cancelled(reason) => {
            set(
                "status = 'cancelled', attempts = attempts - 1, reason = $3",
                vec![Value::Text(reason)],
            )?;
        }
    }
    Ok(())
}

/// What a delivery changes besides its row: feeds and sitemaps show the
/// item (or stop showing it), a newsletter is handed to the notification
/// service, and a failing channel is healthy again.
fn delivered(tx: &Transaction, c: &Claimed, channel: &Channel, now: i64) -> Result<(), Problem> {
    match channel.kind.as_str() {
        "feed" | "sitemap" if c.action == "unpublish" => {
            tx.execute(
                "DELETE FROM channel_entries WHERE channel_id = $1 AND content_id = $2",
                &[
                    Value::Text(channel.id.clone()),
                    Value::Text(c.content_id.clone()),
                ],
            )
            .map_err(db_error)?;
        }
        "feed" | "sitemap" => {
            let published = items::get_in(tx, &c.content_id)?
                .and_then(|i| i.published_at)
                .unwrap_or(now);
            tx.execute(
                "INSERT INTO channel_entries (channel_id, content_id, published_at, updated_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (channel_id, content_id) \
                 DO UPDATE SET published_at = $3, updated_at = $4",
                &[
                    Value::Text(channel.id.clone()),
                    Value::Text(c.content_id.clone()),
                    Value::Integer(published),
                    Value::Integer(now),
                ],
            )
            .map_err(db_error)?;
        }
        "newsletter" => {
            let payload: Json = serde_json::from_str(&c.payload).unwrap_or(Json::Null);
            distributions::publish_event(
                tx,
                "NewsletterIssued",
                &c.content_id,
                json!({
                    "distributionId": c.id,
                    "channelId": channel.id,
                    "channel": channel.name,
                    "audience": channel.config_str("audience").unwrap_or("followers"),
                    "subject": channel.config_str("subject"),
                    "item": payload["data"],
                }),
            )?;
        }
        _ => {}
    }
    if channel.failing_since.is_some() {
        tx.execute(
            "UPDATE channels SET failing_since = NULL WHERE id = $1",
            &[Value::Text(channel.id.clone())],
        )
        .map_err(db_error)?;
    }
    Ok(())
}

/// A failed attempt: the channel is failing since its first failure after
/// a success, and disabled once that is `disable_after` ago.
fn failing(tx: &Transaction, channel: &Channel, now: i64) -> Result<(), Problem> {
    tx.execute(
        "UPDATE channels SET failing_since = $2 WHERE id = $1 AND failing_since IS NULL",
        &[Value::Text(channel.id.clone()), Value::Integer(now)],
    )
    .map_err(db_error)?;
    let since = channel.failing_since.unwrap_or(now);
    if now - since >= config::disable_after_ms() {
        let days = (now - since) as f64 / 86_400_000.0;
        disable(
            tx,
            channel,
            &format!("failing with no success for {days:.1} days"),
        )?;
    }
    Ok(())
}

fn disable(tx: &Transaction, channel: &Channel, reason: &str) -> Result<(), Problem> {
    if channels::disable(tx, &channel.id, reason)? {
        distributions::publish_event(
            tx,
            "ChannelDisabled",
            &channel.id,
            json!({
                "channelId": channel.id,
                "name": channel.name,
                "kind": channel.kind,
                "ownerId": channel.owner_id,
                "reason": reason,
            }),
        )?;
    }
    Ok(())
}

/// ±10 %, so receivers that failed together are not retried together.
fn jitter(delay_ms: i64) -> i64 {
    let r = u16::from_le_bytes(random::<2>()) as i64; // 0..65535
    delay_ms + delay_ms * (r - 32_768) / 327_680
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        assert_eq!(retry_after_ms("120"), Some(120_000));
        assert_eq!(retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT"), Some(0));
        assert_eq!(retry_after_ms("soon"), None);
    }

    #[test]
    fn jitter_stays_within_ten_percent() {
        for _ in 0..100 {
            let d = jitter(10_000);
            assert!((9_000..=11_000).contains(&d), "{d}");
        }
    }
}
