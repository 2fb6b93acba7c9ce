//! The cron's work: deliveries deferred past quiet hours fall due, and
//! digests go out at the digest hour in each user's own time zone, one
//! email listing what they chose to get that way.

use folio_guest::columns::{optional_text, text};
use folio_guest::http::Problem;
use folio_guest::util::now_ms;
use folio_guest::{Connection, Value};
use serde_json::json;

use crate::clock;
use crate::delivery;
use crate::notify::{self, Notice, TemplateCache};
use crate::preferences;
use crate::recipients;
use crate::store::db_error;

/// Users looked at per run, and items per digest.
const USERS_PER_RUN: i64 = 500;
const MAX_ITEMS: i64 = 100;

#[derive(Debug, Default)]
pub struct RunReport {
    pub released: usize,
    pub reannounced: usize,
    pub digests: usize,
}

pub fn run(db: &Connection) -> Result<RunReport, Problem> {
    let now = now_ms();
    let mut report = RunReport {
        released: delivery::release_deferred(db, now, 1000)?,
        reannounced: delivery::reannounce_stale(db, now, 1000)?,
        ..RunReport::default()
    };
    let users = db
        .query(
            "SELECT DISTINCT user_id FROM deliveries WHERE status = 'digest' ORDER BY user_id LIMIT $1",
            &[Value::Integer(USERS_PER_RUN)],
        )
        .map_err(db_error)?;
    for row in &users.rows {
        let user_id = text(&row[0]);
        if digest_one(db, &user_id, now)? {
            report.digests += 1;
        }
    }
    Ok(report)
}

fn digest_one(db: &Connection, user_id: &str, now: i64) -> Result<bool, Problem> {
    let Some(recipient) = recipients::get(db, user_id)? else {
        return Ok(false);
    };
    let prefs = preferences::load(db, user_id)?;
    let id = Value::Text(user_id.into());
    let tz = clock::time_zone(&recipient.time_zone);
    let quiet_until = prefs.quiet_hours.and_then(|q| q.ends_after(now, &tz));
    if prefs.digest == "off" {
        // The user turned digests off since: what waited goes out one by
        // one, after quiet hours if it is quiet now.
        if let Some(at) = quiet_until {
            db.execute(
                "UPDATE deliveries SET status = 'deferred', not_before = $2, updated_at = $3 \
                 WHERE user_id = $1 AND status = 'digest'",
                &[id, Value::Integer(at), Value::Integer(now)],
            )
            .map_err(db_error)?;
            return Ok(false);
        }
        let waiting = db
            .query(
                "SELECT id, user_id FROM deliveries WHERE user_id = $1 AND status = 'digest'",
                std::slice::from_ref(&id),
            )
            .map_err(db_error)?;
        delivery::announce(
            db,
            &waiting,
            "UPDATE deliveries SET status = 'pending', updated_at = $2 WHERE id = $1 AND status = 'digest'",
            now,
        )?;
        return Ok(false);
    }
    let tz = clock::time_zone(&recipient.time_zone);
    let quiet = prefs
        .quiet_hours
        .and_then(|q| q.ends_after(now, &tz))
        .is_some();
    if quiet || !clock::digest_due(&prefs.digest, prefs.last_digest_at, now, &tz) {
        return Ok(false);
    }
    let rows = db
        .query(
            "SELECT d.id, n.title, n.link FROM deliveries d JOIN notifications n ON n.id = d.notification_id \
             WHERE d.user_id = $1 AND d.status = 'digest' ORDER BY d.created_at LIMIT $2",
            &[id, Value::Integer(MAX_ITEMS)],
        )
        .map_err(db_error)?;
    if rows.rows.is_empty() {
        return Ok(false);
    }
    let items: Vec<_> = rows
        .rows
        .iter()
        .map(|r| json!({"title": text(&r[1]), "link": optional_text(&r[2])}))
        .collect();
    let notice = Notice {
        source: format!("digest:{now}"),
        template: "digest".into(),
        category: "following".into(),
        data: json!({"period": prefs.digest, "items": items}),
        link: None,
        in_app: false,
        push: false,
        is_digest: true,
    };
    let tx = db.begin().map_err(db_error)?;
    let told = notify::tell(
        &tx,
        db,
        &mut TemplateCache::default(),
        &notice,
        &recipient,
        &prefs,
        &[],
        now,
    )?;
    let note = match &told {
        Some(t) => format!("in digest {}", t.notification_id),
        None => "in a digest".into(),
    };
    for r in &rows.rows {
        tx.execute(
            "UPDATE deliveries SET status = 'sent', response = $2, updated_at = $3, sent_at = $3 \
             WHERE id = $1 AND status = 'digest'",
            &[
                Value::Text(text(&r[0])),
                Value::Text(note.clone()),
                Value::Integer(now),
            ],
        )
        .map_err(db_error)?;
    }
    preferences::mark_digest_sent(&tx, user_id, now)?;
    tx.commit().map_err(db_error)?;
    Ok(true)
}
