//! Telling one user one thing: the notification row (the inbox entry, and
//! the record that this cause already told this user), and the email and
//! push deliveries the user's preferences allow, each due now, after quiet
//! hours, or in the next digest. Everything is written in the caller's
//! transaction, with the events that send what is due now.

use std::collections::HashMap;

use folio_guest::http::Problem;
use folio_guest::util::new_id;
use folio_guest::{Connection, OutgoingEvent, Transaction, Value};
use serde_json::{Value as Json, json};

use crate::clock;
use crate::model::{goes_into_digest, ignores_quiet_hours, is_mandatory};
use crate::preferences::Preferences;
use crate::push::Subscription;
use crate::recipients::Recipient;
use crate::store::db_error;
use crate::templates::{self, Parts};

pub const DELIVERY_TOPIC: &str = "folio.notifications.deliveries";
const DELIVERY_DUE: &str = "folio.notifications.DeliveryDue";
/// Characters of an in-app body.
const MAX_IN_APP_BODY: usize = 1000;

/// One thing to tell a user.
#[derive(Debug, Clone)]
pub struct Notice {
    /// Why: the same source never tells the same user twice.
    pub source: String,
    pub template: String,
    pub category: String,
    /// The template's variables, besides the common ones.
    pub data: Json,
    pub link: Option<String>,
    /// Whether it belongs in the inbox (a reset link does not).
    pub in_app: bool,
    /// Whether it may go to the user's browsers.
    pub push: bool,
    /// The digest itself, which never waits for a digest.
    pub is_digest: bool,
}

/// Templates resolved once per (key, locale) for a batch.
#[derive(Default)]
pub struct TemplateCache(HashMap<(String, String), Parts>);

impl TemplateCache {
    pub fn parts(&mut self, db: &Connection, key: &str, locale: &str) -> Result<&Parts, Problem> {
        let k = (key.to_string(), locale.to_string());
        if !self.0.contains_key(&k) {
            let parts = templates::resolve(db, key, locale)?;
            self.0.insert(k.clone(), parts);
        }
        Ok(&self.0[&k])
    }
}

/// The variables every rendering gets.
pub fn common_data(recipient: &Recipient) -> Json {
    json!({
        "recipient": {"firstName": recipient.first_name, "email": recipient.email},
        "platformName": crate::config::platform_name(),
        "preferencesLink": crate::config::link("/settings/notifications"),
    })
}

pub fn template_data(notice_data: &Json, recipient: &Recipient, link: Option<&str>) -> Json {
    let mut data = common_data(recipient);
    templates::merge(&mut data, notice_data.clone());
    if let Some(link) = link {
        data["link"] = json!(link);
    }
    data
}

/// What `tell` wrote.
#[derive(Debug)]
pub struct Told {
    pub notification_id: String,
    pub in_app: bool,
}

/// Writes `notice` for `recipient` in `tx`; `None` when this source
/// already told this user.
#[allow(clippy::too_many_arguments)]
pub fn tell(
    tx: &Transaction,
    db: &Connection,
    templates_cache: &mut TemplateCache,
    notice: &Notice,
    recipient: &Recipient,
    prefs: &Preferences,
    subscriptions: &[Subscription],
    now_ms: i64,
) -> Result<Option<Told>, Problem> {
    let in_app = notice.in_app && prefs.allows(&notice.category, "inApp");
    // The inbox shows the subject and text, rendered now in the reader's
    // locale; email and push render again when they are sent.
    let (title, body) = if in_app {
        let parts = templates_cache.parts(db, &notice.template, &recipient.locale)?;
        // The entry carries its link beside the text: the text leaves it out.
        let mut data = template_data(&notice.data, recipient, None);
        data["link"] = Json::Null;
        // A stored template that fails on real data must not stop a
        // fan-out: the built-in one renders the entry instead.
        let rendered = templates::render(parts, &data, false)
            .or_else(|e| {
                eprintln!(
                    "template {} failed, using the built-in one: {e:?}",
                    notice.template
                );
                let builtin = templates::builtin(&notice.template).ok_or(e)?;
                templates::render(&templates::builtin_parts(builtin), &data, false)
            })
            .map_err(templates::TemplateError::into_problem)?;
        (
            rendered.subject,
            truncate(rendered.text.trim(), MAX_IN_APP_BODY),
        )
    } else {
        (String::new(), String::new())
    };
    let id = new_id();
    let inserted = tx
        .execute(
            "INSERT INTO notifications (id, user_id, source, category, template, title, body, link, \
             data, in_app, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (user_id, source) DO NOTHING",
            &[
                Value::Text(id.clone()),
                Value::Text(recipient.user_id.clone()),
                Value::Text(notice.source.clone()),
                Value::Text(notice.category.clone()),
                Value::Text(notice.template.clone()),
                Value::Text(title),
                Value::Text(body),
                notice.link.clone().map_or(Value::Null, Value::Text),
                Value::Text(notice.data.to_string()),
                Value::Boolean(in_app),
                Value::Integer(now_ms),
            ],
        )
        .map_err(db_error)?;
    if inserted == 0 {
        return Ok(None);
    }
    let quiet_until = prefs
        .quiet_hours
        .filter(|_| !ignores_quiet_hours(&notice.category))
        .and_then(|q| q.ends_after(now_ms, &clock::time_zone(&recipient.time_zone)));
    let email_on = recipient.email_enabled || is_mandatory(&notice.category, "email");
    if recipient.active && email_on && prefs.allows(&notice.category, "email") {
        let status =
            if !notice.is_digest && prefs.digest != "off" && goes_into_digest(&notice.category) {
                Status::Digest
            } else {
                quiet_until.map_or(Status::Due, Status::After)
            };
        add_delivery(
            tx,
            &id,
            recipient,
            "email",
            &recipient.email,
            status,
            now_ms,
        )?;
    }
    if recipient.active
        && recipient.push_enabled
        && notice.push
        && prefs.allows(&notice.category, "push")
    {
        for s in subscriptions {
            let status = quiet_until.map_or(Status::Due, Status::After);
            add_delivery(tx, &id, recipient, "push", &s.id, status, now_ms)?;
        }
    }
    Ok(Some(Told {
        notification_id: id,
        in_app,
    }))
}

enum Status {
    Due,
    After(i64),
    Digest,
}

fn add_delivery(
    tx: &Transaction,
    notification_id: &str,
    recipient: &Recipient,
    channel: &str,
    target: &str,
    status: Status,
    now_ms: i64,
) -> Result<(), Problem> {
    let id = new_id();
    let (status_name, not_before) = match status {
        Status::Due => ("pending", now_ms),
        Status::After(at) => ("deferred", at),
        Status::Digest => ("digest", now_ms),
    };
    tx.execute(
        "INSERT INTO deliveries (id, notification_id, user_id, channel, target, status, attempts, \
         not_before, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8, $8)",
        &[
            Value::Text(id.clone()),
            Value::Text(notification_id.into()),
            Value::Text(recipient.user_id.clone()),
            Value::Text(channel.into()),
            Value::Text(target.into()),
            Value::Text(status_name.into()),
            Value::Integer(not_before),
            Value::Integer(now_ms),
        ],
    )
    .map_err(db_error)?;
    if status_name == "pending" {
        announce_due(tx, &id, &recipient.user_id)?;
    }
    Ok(())
}

/// The event a delivery worker sends `delivery_id` on (keyed by user, so
/// one user's messages go in order).
pub fn announce_due(tx: &Transaction, delivery_id: &str, user_id: &str) -> Result<(), Problem> {
    tx.publish(&OutgoingEvent {
        topic: DELIVERY_TOPIC.into(),
        type_: DELIVERY_DUE.into(),
        key: user_id.into(),
        subject: Some(delivery_id.into()),
        datacontenttype: "application/json".into(),
        data: json!({ "deliveryId": delivery_id })
            .to_string()
            .into_bytes(),
    })
    .map_err(db_error)?;
    Ok(())
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// Tells the live streams of `users` that their inbox changed (after the
/// commit that changed it). Best effort: a stream that misses a bump still
/// sees the rows on its next full check.
pub fn inbox_changed<'a>(users: impl IntoIterator<Item = &'a str>) {
    let Ok(bucket) = folio_guest::kv::open("default") else {
        return;
    };
    for user in users {
        let _ = folio_guest::kv::increment(&bucket, &inbox_key(user), 1);
    }
}

pub fn inbox_key(user_id: &str) -> String {
    format!("inbox-version:{user_id}")
}
