//! Who may fetch a ready media item, decided by the content that uses it:
//! each content item's media ids, status and paid tier are kept from
//! `folio.content` (the newest version only), who holds which tiers from
//! `folio.billing` (`folio_guest::entitlements`).
//!
//! Media no content uses is public, as it always was (an avatar, an image
//! uploaded for a page). Used by any published item open to all readers:
//! public. Otherwise, used by published items that need a tier: readers who
//! hold one of those tiers. Used only by unpublished or deleted items:
//! nobody but its owner and admins, who always may.

use folio_guest::auth::{Claims, Role};
use folio_guest::columns::{integer, optional_text};
use folio_guest::http::Problem;
use folio_guest::{Connection, Value};
use serde_json::Value as Json;

use crate::store::db_error;

pub const CONTENT_TOPIC: &str = "folio.content";

/// The table statements of this module.
pub const MIGRATION: &str = "CREATE TABLE content_versions (
        content_id TEXT PRIMARY KEY,
        version BIGINT NOT NULL
    );
    CREATE TABLE media_uses (
        media_id TEXT NOT NULL,
        content_id TEXT NOT NULL,
        published BIGINT NOT NULL,
        required_tier TEXT,
        PRIMARY KEY (media_id, content_id)
    );
    CREATE INDEX media_uses_by_content ON media_uses (content_id)";

#[derive(Debug, PartialEq)]
pub enum Access {
    Public,
    /// Readers holding any of these tiers.
    Tiers(Vec<String>),
    /// Its owner and admins only.
    Private,
}

/// Records what a content event says of the item's media. Events without
/// media ids (a status change of the scheduler, say) are followed by one
/// with them at the same version; older versions than the one kept change
/// nothing; a deletion ends the item's uses for good.
pub fn apply_content_event(db: &Connection, kind: &str, data: &[u8]) -> Result<(), Problem> {
    let data: Json = serde_json::from_slice(data)
        .map_err(|e| Problem::bad_request(format!("{kind}: the data is not JSON: {e}")))?;
    let Some(content_id) = data["id"].as_str() else {
        return Err(Problem::bad_request(format!("{kind} without an id")));
    };
    let deleted = kind.ends_with(".ContentDeleted");
    let version = if deleted {
        i64::MAX
    } else {
        match (data["version"].as_i64(), data["mediaIds"].as_array()) {
            (Some(version), Some(_)) => version,
            _ => return Ok(()),
        }
    };
    let tx = db.begin().map_err(db_error)?;
    let kept = tx
        .query(
            "SELECT version FROM content_versions WHERE content_id = $1",
            &[Value::Text(content_id.to_string())],
        )
        .map_err(db_error)?;
    if kept.rows.first().is_some_and(|r| integer(&r[0]) >= version) {
        return Ok(());
    }
    tx.execute(
        "INSERT INTO content_versions (content_id, version) VALUES ($1, $2) \
         ON CONFLICT (content_id) DO UPDATE SET version = $2",
        &[Value::Text(content_id.to_string()), Value::Integer(version)],
    )
    .map_err(db_error)?;
    tx.execute(
        "DELETE FROM media_uses WHERE content_id = $1",
        &[Value::Text(content_id.to_string())],
    )
    .map_err(db_error)?;
    if !deleted {
        let status = data["status"].as_str().unwrap_or_default();
        let tier = data["requiredTier"].as_str();
        let media_ids = data["mediaIds"].as_array().cloned().unwrap_or_default();
        for media_id in media_ids.iter().filter_map(Json::as_str) {
            tx.execute(
                "INSERT INTO media_uses (media_id, content_id, published, required_tier) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (media_id, content_id) DO NOTHING",
                &[
                    Value::Text(media_id.to_string()),
                    Value::Text(content_id.to_string()),
                    Value::Integer(i64::from(status == "published")),
                    tier.map_or(Value::Null, |t| Value::Text(t.to_string())),
                ],
            )
            .map_err(db_error)?;
        }
    }
    tx.commit().map_err(db_error)
}

/// What the content using `media_id` allows.
pub fn of(db: &Connection, media_id: &str) -> Result<Access, Problem> {
    let uses = db
        .query(
            "SELECT published, required_tier FROM media_uses WHERE media_id = $1",
            &[Value::Text(media_id.to_string())],
        )
        .map_err(db_error)?;
    if uses.rows.is_empty() {
        return Ok(Access::Public);
    }
    let mut tiers = Vec::new();
    for row in &uses.rows {
        if integer(&row[0]) == 0 {
            continue;
        }
        match optional_text(&row[1]) {
            None => return Ok(Access::Public),
            Some(tier) if !tiers.contains(&tier) => tiers.push(tier),
            Some(_) => {}
        }
    }
    Ok(if tiers.is_empty() {
        Access::Private
    } else {
        Access::Tiers(tiers)
    })
}

/// Whether `claims` (none: anonymous) may fetch ready media of `owner`
/// under `access`.
pub fn allows(
    db: &Connection,
    access: &Access,
    owner: &str,
    claims: Option<&Claims>,
) -> Result<bool, Problem> {
    if claims.is_some_and(|c| c.sub == owner || c.has_any_role(&[Role::Admin])) {
        return Ok(true);
    }
    match access {
        Access::Public => Ok(true),
        Access::Private => Ok(false),
        Access::Tiers(needed) => match claims {
            None => Ok(false),
            Some(c) => Ok(folio_guest::entitlements::tiers_of(db, &c.sub)?
                .iter()
                .any(|held| needed.contains(held))),
        },
    }
}
