//! Scheduled publication. Items waiting in `review` with a `scheduledAt` in
//! the past are published when the host's cron trigger wakes the component
//! (`[[trigger.cron]]` in spin.toml). The schedule lives in the database, so
//! it survives restarts; every host of a cluster runs the trigger, so each
//! item is claimed with a conditional update and published by one of them.

use folio_guest::Value;
use folio_guest::http::Problem;
use folio_guest::util::now_rfc3339;

use crate::events::{self, summary};
use crate::store::{self, COLUMNS, db_error, from_row};

/// Publishes what is due; returns how many items it published.
pub fn publish_due() -> Result<usize, Problem> {
    let db = store::open()?;
    let due = db
        .query(
            &format!(
                "SELECT {COLUMNS} FROM content WHERE status = 'review' AND deleted_at IS NULL \
                 AND scheduled_at IS NOT NULL AND scheduled_at <= $1 ORDER BY scheduled_at LIMIT 100"
            ),
            &[Value::Timestamp(now_rfc3339())],
        )
        .map_err(db_error)?;
    let mut published = 0;
    for row in &due.rows {
        let old = from_row(row);
        let next = old.with_status("published");
        let tx = db.begin().map_err(db_error)?;
        // Another host, or an edit, got there first: leave it.
        if !store::replace(&tx, &old, &next, &old.author_id)? {
            continue;
        }
        events::publish(
            &tx,
            "ContentStatusChanged",
            &old.id,
            serde_json::json!({"id": old.id, "from": old.status, "to": "published", "version": next.version, "scheduled": true}),
        )?;
        events::publish(&tx, "ContentPublished", &old.id, summary(&next))?;
        tx.commit().map_err(db_error)?;
        crate::cache::written(&old, &next);
        published += 1;
    }
    Ok(published)
}
