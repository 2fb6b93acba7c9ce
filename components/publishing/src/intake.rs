//! From content events to distributions. Whatever the event, the item is
//! read as it is now from the content service and compared with this
//! service's copy: becoming public is a `publish`, a public item whose
//! content changed an `update`, leaving public an `unpublish`. A manual
//! publish and a scheduled one are the same change, so they make the same
//! distributions; a replayed event finds nothing new to do.

use folio_guest::http::Problem;
use folio_guest::util::now_ms;
use folio_guest::worker::{Event, HandleError};
use folio_guest::{Transaction, Value};
use serde_json::json;

use crate::approvals;
use crate::channels::{self, Channel, event_type};
use crate::distributions::{self, NewDistribution};
use crate::items::{self, Item};
use crate::sources::{self, SourceError};
use crate::store::{self, db_error};

pub const CONTENT_TOPIC: &str = "folio.content";
pub const MEDIA_TOPIC: &str = "folio.media";

pub fn content_event(event: &Event) -> Result<(), HandleError> {
    let id = event
        .subject
        .clone()
        .or_else(|| {
            serde_json::from_slice::<serde_json::Value>(&event.data)
                .ok()
                .and_then(|d| d["id"].as_str().map(str::to_string))
        })
        .unwrap_or_default();
    if !folio_guest::util::is_uuid(&id) {
        return Err(HandleError::Reject(format!(
            "no content id in {}",
            event.id
        )));
    }
    let current = sources::current_item(&id).map_err(|e| match e {
        SourceError::Unavailable(m) => HandleError::Retry(m),
        SourceError::Refused(m) => HandleError::Reject(m),
    })?;
    let author_name = current
        .as_ref()
        .filter(|c| c.is_public())
        .and_then(|c| sources::author_name(&c.author_id));
    let current = current.map(|c| Item::from_source(&c, author_name));
    apply(&id, current.as_ref()).map_err(|p| HandleError::Retry(p.detail))
}

#[derive(Debug, PartialEq)]
enum Change {
    Publish,
    Update,
    Unpublish,
    Nothing,
}

fn change(old: Option<&Item>, new: Option<&Item>) -> Change {
    let was = old.is_some_and(|o| o.public);
    let is = new.is_some_and(|n| n.public);
    match (was, is) {
        (false, true) => Change::Publish,
        (true, false) => Change::Unpublish,
        (true, true) if old.map(|o| &o.fingerprint) != new.map(|n| &n.fingerprint) => {
            Change::Update
        }
        _ => Change::Nothing,
    }
}

fn apply(id: &str, current: Option<&Item>) -> Result<(), Problem> {
    let db = store::db()?;
    let tx = db.begin().map_err(db_error)?;
    let old = items::get_in(&tx, id)?;
    if let (Some(old), Some(new)) = (&old, current)
        && new.version < old.version
    {
        return Ok(());
    }
    let change = change(old.as_ref(), current);
    if let Some(new) = current
        && old
            .as_ref()
            .is_some_and(|o| o.fingerprint != new.fingerprint)
    {
        approvals::reset(&tx, id, &new.fingerprint)?;
    }
    match current {
        Some(item) => items::save(&tx, item)?,
        None => items::delete(&tx, id)?,
    }
    let (action, item) = match (&change, current, &old) {
        (Change::Publish, Some(item), _) => ("publish", item),
        (Change::Update, Some(item), _) => ("update", item),
        // Gone or not public any more: channels are told about the item as
        // they last had it.
        (Change::Unpublish, Some(item), _) => ("unpublish", item),
        (Change::Unpublish, None, Some(old)) => ("unpublish", old),
        _ => return tx.commit().map_err(db_error),
    };
    distribute(&tx, item, action)?;
    tx.commit().map_err(db_error)
}

/// Makes the distributions of `action` on every active channel whose rules
/// take the item, and announces those due now.
pub fn distribute(tx: &Transaction, item: &Item, action: &str) -> Result<(), Problem> {
    let now = now_ms();
    let mut new = Vec::new();
    let mut awaiting: Vec<String> = Vec::new();
    let (delivered_to, open_on) = match action {
        "publish" => (Vec::new(), Vec::new()),
        _ => (
            channels_where(
                tx,
                &item.id,
                "action <> 'unpublish' AND status = 'delivered'",
            )?,
            channels_where(
                tx,
                &item.id,
                "status IN ('pending', 'awaiting-approval', 'delivering', 'retrying')",
            )?,
        ),
    };
    for channel in channels::active_in(tx)? {
        if !channel.rules.takes(&item.subject(), action) {
            continue;
        }
        if channel.kind == "webhook" && !channel.wants_event(event_type(action)) {
            continue;
        }
        // A newsletter is an issue per publication, never a correction.
        if channel.kind == "newsletter" && action != "publish" {
            continue;
        }
        let delivered = delivered_to.contains(&channel.id);
        if action == "unpublish" && !delivered {
            cancel_open(
                tx,
                &item.id,
                &channel.id,
                "unpublished before it was delivered",
            )?;
            continue;
        }
        // A channel that never got the item (its approval was reset by this
        // very edit, say) gets it as a publication, not as a correction.
        let action = match action {
            "update" if !delivered && !open_on.contains(&channel.id) => "publish",
            other => other,
        };
        let needs_approval = action != "unpublish"
            && match &channel.approval {
                Some(policy) => !approvals::satisfied(tx, item, policy)?,
                None => false,
            };
        let (status, not_before) = match (needs_approval, action) {
            (true, _) => ("awaiting-approval", now),
            // Taking something down never waits for an embargo.
            (false, "unpublish") => ("pending", now),
            (false, _) => ("pending", channel.rules.not_before(now)),
        };
        if status == "awaiting-approval" {
            awaiting.push(channel.name.clone());
        }
        new.push(NewDistribution {
            content_id: &item.id,
            channel_id: channel.id.clone(),
            version: item.version,
            action,
            fingerprint: &item.fingerprint,
            status,
            payload: payload(&channel, item, action, now),
            not_before,
        });
    }
    let due_channels: Vec<&str> = new
        .iter()
        .filter(|d| d.status == "pending" && d.not_before <= now)
        .map(|d| d.channel_id.as_str())
        .collect();
    let made = distributions::create_many(tx, &new)?;
    if made.is_empty() {
        // A replay: everything was made the first time.
        return Ok(());
    }
    let due: Vec<String> = made
        .into_iter()
        .filter(|(_, channel)| due_channels.contains(&channel.as_str()))
        .map(|(id, _)| id)
        .collect();
    if !awaiting.is_empty() {
        distributions::publish_event(
            tx,
            "ApprovalRequested",
            &item.id,
            json!({
                "contentId": item.id,
                "version": item.version,
                "title": item.title,
                "authorId": item.author_id,
                "channels": awaiting,
            }),
        )?;
    }
    distributions::announce(tx, &due, &item.id)
}

/// The channels with a distribution of this item matching `condition`.
fn channels_where(
    tx: &Transaction,
    content_id: &str,
    condition: &str,
) -> Result<Vec<String>, Problem> {
    let rows = tx
        .query(
            &format!(
                "SELECT DISTINCT channel_id FROM distributions WHERE content_id = $1 AND {condition}"
            ),
            &[Value::Text(content_id.to_string())],
        )
        .map_err(db_error)?;
    Ok(rows
        .rows
        .iter()
        .map(|r| folio_guest::columns::text(&r[0]))
        .collect())
}

fn cancel_open(
    tx: &Transaction,
    content_id: &str,
    channel_id: &str,
    reason: &str,
) -> Result<(), Problem> {
    tx.execute(
        "UPDATE distributions SET status = 'cancelled', reason = $3, updated_at = $4, claim = NULL \
         WHERE content_id = $1 AND channel_id = $2 \
         AND status IN ('pending', 'awaiting-approval', 'retrying')",
        &[
            Value::Text(content_id.to_string()),
            Value::Text(channel_id.to_string()),
            Value::Text(reason.to_string()),
            Value::Integer(now_ms()),
        ],
    )
    .map_err(db_error)?;
    Ok(())
}

/// What every attempt of this distribution sends, fixed now. Webhooks get
/// the Standard Webhooks envelope; a CDN the keys to purge; `http` channels
/// the item their templates render; feeds and sitemaps nothing (they show
/// the item once delivered).
pub fn payload(channel: &Channel, item: &Item, action: &str, now: i64) -> String {
    let data = match action {
        // What was taken down is named, not shown again.
        "unpublish" => json!({ "id": item.id, "url": item.url(), "version": item.version }),
        _ => item.payload(&channel.rules.transform),
    };
    let payload = match channel.kind.as_str() {
        "webhook" | "http" => json!({
            "type": event_type(action),
            "timestamp": folio_guest::util::rfc3339(now),
            "data": data,
        }),
        "cdn" => json!({ "keys": purge_keys(item) }),
        "newsletter" => json!({ "data": item.payload("summary") }),
        _ => json!({}),
    };
    payload.to_string()
}

/// The surrogate keys (`folio_guest::cdn`) of what a change to `item` makes
/// stale: the item and every list (typed lists carry `content-list` too).
/// Not `content-type:<type>`, which would purge every item of that type.
pub fn purge_keys(item: &Item) -> Vec<String> {
    vec![format!("content:{}", item.id), "content-list".to_string()]
}

/// Media events: a processed (replaced) or deleted media item is purged
/// from every CDN channel by its key. The version is taken from the event
/// id, so a replayed event makes nothing new.
pub fn media_event(event: &Event) -> Result<(), HandleError> {
    let action = match event.type_.rsplit('.').next().unwrap_or_default() {
        "MediaProcessed" => "update",
        "MediaDeleted" => "unpublish",
        _ => return Ok(()),
    };
    let id = serde_json::from_slice::<serde_json::Value>(&event.data)
        .ok()
        .and_then(|d| d["id"].as_str().map(str::to_string))
        .filter(|id| folio_guest::util::is_uuid(id))
        .ok_or_else(|| HandleError::Reject(format!("no media id in {}", event.id)))?;
    let digest = <sha2::Sha256 as sha2::Digest>::digest(event.id.as_bytes());
    let version = i64::from_be_bytes(digest[..8].try_into().expect("8 bytes")) & i64::MAX;
    purge_media(&id, action, version).map_err(|p| HandleError::Retry(p.detail))
}

fn purge_media(id: &str, action: &str, version: i64) -> Result<(), Problem> {
    let db = store::db()?;
    let tx = db.begin().map_err(db_error)?;
    let now = now_ms();
    let keys = folio_guest::cdn::media_keys(id)
        .into_iter()
        .filter(|k| k.starts_with("media:"))
        .collect::<Vec<_>>();
    let new: Vec<NewDistribution> = channels::active_in(&tx)?
        .into_iter()
        .filter(|c| c.kind == "cdn")
        .map(|channel| NewDistribution {
            content_id: id,
            channel_id: channel.id,
            version,
            action,
            fingerprint: "",
            status: "pending",
            payload: json!({ "keys": keys }).to_string(),
            not_before: now,
        })
        .collect();
    let due: Vec<String> = distributions::create_many(&tx, &new)?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    distributions::announce(&tx, &due, id)?;
    tx.commit().map_err(db_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(public: bool, fingerprint: &str) -> Item {
        Item {
            id: "i".into(),
            version: 1,
            status: if public { "published" } else { "draft" }.into(),
            public,
            kind: "article".into(),
            title: String::new(),
            description: String::new(),
            body: String::new(),
            required_tier: None,
            paid_body: None,
            author_id: String::new(),
            author_name: None,
            categories: vec![],
            tags: vec![],
            media_ids: vec![],
            published_at: None,
            updated_at: 0,
            fingerprint: fingerprint.into(),
        }
    }

    #[test]
    fn changes() {
        let (draft, public, edited) = (item(false, "a"), item(true, "a"), item(true, "b"));
        assert_eq!(change(None, Some(&draft)), Change::Nothing);
        assert_eq!(change(Some(&draft), Some(&public)), Change::Publish);
        assert_eq!(change(Some(&public), Some(&public)), Change::Nothing);
        assert_eq!(change(Some(&public), Some(&edited)), Change::Update);
        assert_eq!(change(Some(&edited), Some(&draft)), Change::Unpublish);
        assert_eq!(change(Some(&public), None), Change::Unpublish);
        assert_eq!(change(None, None), Change::Nothing);
    }
}
