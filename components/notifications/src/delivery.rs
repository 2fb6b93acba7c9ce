//! Sending one delivery: an email through the host's mail capability or a
//! push message to a browser's push service, each attempt recorded. A
//! delivery already sent is never sent again, however often its event is
//! replayed; the mail's `Message-ID` is made from the delivery id, so even
//! a crash between the send and its record reaches the inbox as one message.

use folio_guest::bindings::folio::platform::mail;
use folio_guest::columns::{optional_text, text};
use folio_guest::http::Problem;
use folio_guest::util::now_ms;
use folio_guest::worker::{Event, HandleError};
use folio_guest::{Connection, RowSet, Value};
use hmac::{Hmac, Mac};
use serde_json::{Value as Json, json};
use sha2::Sha256;

use crate::config;
use crate::model::goes_into_digest;
use crate::newsletters;
use crate::notify::{self, template_data};
use crate::push::{self, PushOutcome};
use crate::recipients::{self, Recipient};
use crate::store::{self, db_error};
use crate::templates;
use crate::triggers::{self, retry};

pub struct Delivery {
    pub id: String,
    pub user_id: String,
    pub channel: String,
    pub target: String,
    pub status: String,
}

pub struct Notification {
    pub id: String,
    pub category: String,
    pub template: String,
    pub title: String,
    pub body: String,
    pub link: Option<String>,
    pub data: Json,
}

pub fn load(db: &Connection, id: &str) -> Result<Option<(Delivery, Notification)>, Problem> {
    let rows = db
        .query(
            "SELECT d.id, d.notification_id, d.user_id, d.channel, d.target, d.status, \
             n.category, n.template, n.title, n.link, n.data, n.body \
             FROM deliveries d JOIN notifications n ON n.id = d.notification_id WHERE d.id = $1",
            &[Value::Text(id.into())],
        )
        .map_err(db_error)?;
    Ok(rows.rows.first().map(|r| {
        (
            Delivery {
                id: text(&r[0]),
                user_id: text(&r[2]),
                channel: text(&r[3]),
                target: text(&r[4]),
                status: text(&r[5]),
            },
            Notification {
                id: text(&r[1]),
                category: text(&r[6]),
                template: text(&r[7]),
                title: text(&r[8]),
                link: optional_text(&r[9]),
                data: serde_json::from_str(&text(&r[10])).unwrap_or(Json::Null),
                body: text(&r[11]),
            },
        )
    }))
}

/// What came of one try.
enum Outcome {
    Sent(String),
    /// Will never succeed (refused, gone, no address).
    Failed(String),
    /// May succeed later: the event is retried.
    Retry(String),
}

pub fn handle(event: &Event) -> Result<(), HandleError> {
    let Some(id) = event.subject.as_deref() else {
        return Err(HandleError::Reject(
            "a delivery event without a subject".into(),
        ));
    };
    let db = store::db().map_err(retry)?;
    let Some((delivery, notification)) = load(&db, id).map_err(retry)? else {
        // Its user was deleted since: nothing to send.
        return Ok(());
    };
    if delivery.status != "pending" {
        return Ok(());
    }
    let Some(recipient) = recipients::get(&db, &delivery.user_id).map_err(retry)? else {
        return record(
            &db,
            &delivery,
            Outcome::Failed("the recipient is unknown".into()),
            0,
        );
    };
    let started = now_ms();
    let outcome = match delivery.channel.as_str() {
        "email" => send_email(&db, &delivery, &notification, &recipient),
        "push" => send_push(&db, &delivery, &notification),
        other => Outcome::Failed(format!("unknown channel {other}")),
    };
    record(&db, &delivery, outcome, now_ms() - started)
}

fn record(
    db: &Connection,
    delivery: &Delivery,
    outcome: Outcome,
    elapsed_ms: i64,
) -> Result<(), HandleError> {
    let now = now_ms();
    let (status, name, response) = match &outcome {
        Outcome::Sent(r) => ("sent", "sent", r.as_str()),
        Outcome::Failed(r) => ("failed", "failed", r.as_str()),
        Outcome::Retry(r) => ("pending", "retry", r.as_str()),
    };
    let response: String = response.chars().take(500).collect();
    let tx = db.begin().map_err(db_error).map_err(retry)?;
    tx.execute(
        "INSERT INTO delivery_attempts (delivery_id, at, outcome, response, elapsed_ms) VALUES ($1, $2, $3, $4, $5)",
        &[
            Value::Text(delivery.id.clone()),
            Value::Integer(now),
            Value::Text(name.into()),
            Value::Text(response.clone()),
            Value::Integer(elapsed_ms),
        ],
    )
    .map_err(db_error)
    .map_err(retry)?;
    tx.execute(
        "UPDATE deliveries SET status = $2, attempts = attempts + 1, response = $3, updated_at = $4, \
         sent_at = CASE WHEN $2 = 'sent' THEN $4 ELSE sent_at END WHERE id = $1",
        &[
            Value::Text(delivery.id.clone()),
            Value::Text(status.into()),
            Value::Text(response.clone()),
            Value::Integer(now),
        ],
    )
    .map_err(db_error)
    .map_err(retry)?;
    tx.commit().map_err(db_error).map_err(retry)?;
    match outcome {
        Outcome::Retry(r) => Err(HandleError::Retry(format!("delivery {}: {r}", delivery.id))),
        _ => Ok(()),
    }
}

fn send_email(
    db: &Connection,
    delivery: &Delivery,
    n: &Notification,
    recipient: &Recipient,
) -> Outcome {
    let mut data = template_data(&n.data, recipient, n.link.as_deref());
    if let Some(issue) = n.data["issue"].as_str() {
        match newsletters::for_reader(db, issue, &recipient.user_id) {
            Ok(Some(item)) => templates::merge(&mut data["content"], item),
            Ok(None) => {}
            Err(p) => return Outcome::Retry(p.detail),
        }
    }
    if let Some(sealed) = n.data["resetTokenSealed"].as_str() {
        match triggers::open_reset_token(sealed) {
            Ok(token) => {
                data["resetLink"] = json!(config::link(&format!("/reset-password?token={token}")));
            }
            Err(p) => return Outcome::Failed(p.detail),
        }
    }
    let rendered = match templates::render_for(db, &n.template, &recipient.locale, &data) {
        Ok(r) => r,
        Err(p) => return Outcome::Failed(p.detail),
    };
    let unsubscribe = goes_into_digest(&n.category)
        .then(|| unsubscribe_link(&recipient.user_id, &n.category).ok())
        .flatten();
    let footer_text = format!(
        "\n\n--\n{} · notification settings: {}",
        config::platform_name(),
        config::link("/settings/notifications")
    );
    let message = mail::Message {
        id: delivery.id.clone(),
        sender: None,
        to: vec![recipient.mailbox()],
        reply_to: None,
        subject: rendered.subject,
        text: format!("{}{footer_text}", rendered.text.trim_end()),
        html: Some(html_document(&rendered.html)),
        list_unsubscribe: unsubscribe,
    };
    match mail::send(&message) {
        Ok(sent) => Outcome::Sent(format!("{} {}", sent.message_id, sent.response)),
        Err(mail::Error::Unavailable(m)) => Outcome::Retry(m),
        Err(mail::Error::Rejected(m)) => Outcome::Failed(format!("rejected: {m}")),
        Err(mail::Error::InvalidMessage(m)) => Outcome::Failed(format!("invalid: {m}")),
        Err(mail::Error::NotAllowed(m)) => Outcome::Retry(format!("not allowed: {m}")),
    }
}

fn html_document(body: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"></head><body>{body}\
         <hr><p style=\"color:#666;font-size:12px\">{} · <a href=\"{}\">notification settings</a></p></body></html>",
        html_escape(&config::platform_name()),
        html_escape(&config::link("/settings/notifications")),
    )
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn send_push(db: &Connection, delivery: &Delivery, n: &Notification) -> Outcome {
    let subscription = match push::get(db, &delivery.target) {
        Ok(Some(s)) => s,
        Ok(None) => return Outcome::Failed("the subscription was removed".into()),
        Err(p) => return Outcome::Retry(p.detail),
    };
    let mut body: String = n.body.chars().take(500).collect();
    if body.is_empty() {
        body = n.title.clone();
    }
    let payload = json!({
        "id": n.id,
        "title": n.title,
        "body": body,
        "link": n.link,
        "category": n.category,
    });
    let urgent = n.category == "account";
    match push::send(
        &subscription,
        payload.to_string().as_bytes(),
        24 * 3600,
        urgent,
    ) {
        Ok(PushOutcome::Delivered(r)) => Outcome::Sent(r),
        Ok(PushOutcome::Gone(r)) => {
            // The browser unsubscribed or the subscription expired: forget it.
            if let Err(p) = push::remove(db, &subscription.id) {
                return Outcome::Retry(p.detail);
            }
            Outcome::Failed(format!("subscription gone ({r}); removed"))
        }
        Ok(PushOutcome::Refused(r)) => Outcome::Failed(r),
        Ok(PushOutcome::Retry(r)) => Outcome::Retry(r),
        Err(p) => Outcome::Failed(p.detail),
    }
}

type HmacSha256 = Hmac<Sha256>;

/// `public_url/api/v1/notifications/unsubscribe?token=…`: one POST turns
/// off this category's email for this user (RFC 8058), no sign-in needed.
pub fn unsubscribe_link(user_id: &str, category: &str) -> Result<String, Problem> {
    let token = unsubscribe_token(user_id, category)?;
    Ok(config::link(&format!(
        "/api/v1/notifications/unsubscribe?token={token}"
    )))
}

pub fn unsubscribe_token(user_id: &str, category: &str) -> Result<String, Problem> {
    let mac = unsubscribe_mac(user_id, category)?.finalize().into_bytes();
    Ok(format!(
        "{user_id}.{category}.{}",
        folio_guest::util::b64url(&mac)
    ))
}

/// The MAC of an unsubscribe link, fed with what it vouches for.
fn unsubscribe_mac(user_id: &str, category: &str) -> Result<HmacSha256, Problem> {
    let mut mac = HmacSha256::new_from_slice(&config::link_secret()?).expect("any key length");
    mac.update(b"folio.notifications unsubscribe v1\n");
    mac.update(user_id.as_bytes());
    mac.update(b"\n");
    mac.update(category.as_bytes());
    Ok(mac)
}

/// The (user, category) a token names, if its signature holds.
pub fn check_unsubscribe_token(token: &str) -> Result<Option<(String, String)>, Problem> {
    let mut parts = token.rsplitn(3, '.');
    let (Some(signature), Some(category), Some(user_id)) =
        (parts.next(), parts.next(), parts.next())
    else {
        return Ok(None);
    };
    let Some(signature) = folio_guest::util::b64url_decode(signature) else {
        return Ok(None);
    };
    Ok(unsubscribe_mac(user_id, category)?
        .verify_slice(&signature)
        .is_ok()
        .then(|| (user_id.to_string(), category.to_string())))
}

/// How long a pending delivery may go without an attempt before its event is
/// taken as lost (dead-lettered after its retries, say) and announced again.
const STALE_AFTER_MS: i64 = 15 * 60 * 1000;
/// Past this many recorded attempts (five announcements of six tries) a
/// delivery stays pending, for an admin to see in the log.
const MAX_ATTEMPTS: i64 = 30;

/// Pending deliveries nobody tried for `STALE_AFTER_MS` are announced
/// again; returns how many. A delivery's events are keyed by its user, so
/// a late original and its second announcement run one after the other and
/// the second finds it sent.
pub fn reannounce_stale(db: &Connection, now: i64, limit: i64) -> Result<usize, Problem> {
    let rows = db
        .query(
            "SELECT id, user_id FROM deliveries WHERE status = 'pending' AND updated_at < $1 \
             AND attempts < $2 ORDER BY updated_at LIMIT $3",
            &[
                Value::Integer(now - STALE_AFTER_MS),
                Value::Integer(MAX_ATTEMPTS),
                Value::Integer(limit),
            ],
        )
        .map_err(db_error)?;
    announce(
        db,
        &rows,
        "UPDATE deliveries SET updated_at = $2 WHERE id = $1 AND status = 'pending'",
        now,
    )
}

/// Due deferred deliveries become pending and are announced; returns how many.
pub fn release_deferred(db: &Connection, now: i64, limit: i64) -> Result<usize, Problem> {
    let rows = db
        .query(
            "SELECT id, user_id FROM deliveries WHERE status = 'deferred' AND not_before <= $1 \
             ORDER BY not_before LIMIT $2",
            &[Value::Integer(now), Value::Integer(limit)],
        )
        .map_err(db_error)?;
    announce(
        db,
        &rows,
        "UPDATE deliveries SET status = 'pending', updated_at = $2 WHERE id = $1 AND status = 'deferred'",
        now,
    )
}

/// Applies `update` (`$1` the delivery id, `$2` now) to each (id, user id)
/// row and announces the deliveries it changed, in one transaction;
/// returns how many.
pub fn announce(db: &Connection, rows: &RowSet, update: &str, now: i64) -> Result<usize, Problem> {
    if rows.rows.is_empty() {
        return Ok(0);
    }
    let tx = db.begin().map_err(db_error)?;
    let mut announced = 0;
    for r in &rows.rows {
        let (id, user_id) = (text(&r[0]), text(&r[1]));
        let changed = tx
            .execute(update, &[Value::Text(id.clone()), Value::Integer(now)])
            .map_err(db_error)?;
        if changed == 1 {
            notify::announce_due(&tx, &id, &user_id)?;
            announced += 1;
        }
    }
    tx.commit().map_err(db_error)?;
    Ok(announced)
}
