//! Preview links: a URL that shows one version of an item (a draft, say)
//! to whoever holds it, without signing in, until it expires or is revoked.
//! The URL carries 256 random bits; only their SHA-256 is stored, so the
//! database cannot give a link away. The page is `noindex`, never cached
//! and sends no referrer.

use folio_guest::columns::{integer, optional_integer, text};
use folio_guest::http::{Problem, json};
use folio_guest::util::{b64url, new_id, now_ms, random, rfc3339, sha256_hex};
use folio_guest::{Connection, Value};
use serde_json::{Value as Json, json};
use spin_sdk::http::Response;

use crate::sources::{self, SourceError};
use crate::store::db_error;

pub const DEFAULT_SECONDS: i64 = 7 * 86_400;
pub const MAX_SECONDS: i64 = 30 * 86_400;

pub struct Created {
    pub id: String,
    pub url: String,
    pub expires_at: i64,
}

pub fn create(
    db: &Connection,
    content_id: &str,
    version: i64,
    created_by: &str,
    seconds: i64,
) -> Result<Created, Problem> {
    let token = b64url(&random::<32>());
    let id = new_id();
    let now = now_ms();
    let expires_at = now + seconds * 1000;
    db.execute(
        "INSERT INTO preview_links (id, token_hash, content_id, version, created_by, created_at, \
         expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            Value::Text(id.clone()),
            Value::Text(sha256_hex(&token)),
            Value::Text(content_id.to_string()),
            Value::Integer(version),
            Value::Text(created_by.to_string()),
            Value::Integer(now),
            Value::Integer(expires_at),
        ],
    )
    .map_err(db_error)?;
    Ok(Created {
        id,
        url: format!("{}/preview/{token}", crate::config::public_url()),
        expires_at,
    })
}

pub fn list(db: &Connection, content_id: &str) -> Result<Vec<Json>, Problem> {
    let rows = db
        .query(
            "SELECT id, version, created_by, created_at, expires_at, revoked_at FROM preview_links \
             WHERE content_id = $1 ORDER BY created_at DESC LIMIT 100",
            &[Value::Text(content_id.to_string())],
        )
        .map_err(db_error)?;
    let now = now_ms();
    Ok(rows
        .rows
        .iter()
        .map(|r| {
            let (expires, revoked) = (integer(&r[4]), optional_integer(&r[5]));
            json!({
                "id": text(&r[0]),
                "contentId": content_id,
                "version": integer(&r[1]),
                "createdBy": text(&r[2]),
                "createdAt": rfc3339(integer(&r[3])),
                "expiresAt": rfc3339(expires),
                "revokedAt": revoked.map(rfc3339),
                "active": revoked.is_none() && expires > now,
            })
        })
        .collect())
}

/// The link's item id and creator, for the revoker's permission check.
pub fn owner(db: &Connection, id: &str) -> Result<Option<(String, String)>, Problem> {
    let rows = db
        .query(
            "SELECT content_id, created_by FROM preview_links WHERE id = $1",
            &[Value::Text(id.to_string())],
        )
        .map_err(db_error)?;
    Ok(rows.rows.first().map(|r| (text(&r[0]), text(&r[1]))))
}

pub fn revoke(db: &Connection, id: &str) -> Result<(), Problem> {
    db.execute(
        "UPDATE preview_links SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
        &[Value::Text(id.to_string()), Value::Integer(now_ms())],
    )
    .map_err(db_error)?;
    Ok(())
}

/// `GET /preview/{token}`: the version the link names, as a page (or JSON
/// when asked for). Unknown, expired and revoked links are the same 404.
pub fn view(db: &Connection, token: &str, wants_json: bool) -> Result<Response, Problem> {
    let gone =
        || Problem::not_found("this preview link does not exist, has expired or was revoked");
    if token.len() != 43
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(gone());
    }
    let rows = db
        .query(
            "SELECT content_id, version, expires_at FROM preview_links \
             WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > $2",
            &[Value::Text(sha256_hex(token)), Value::Integer(now_ms())],
        )
        .map_err(db_error)?;
    let row = rows.rows.first().ok_or_else(gone)?;
    let (content_id, version, expires_at) = (text(&row[0]), integer(&row[1]), integer(&row[2]));
    let item = sources::item_version(&content_id, version)
        .map_err(|e| match e {
            SourceError::Unavailable(m) => Problem::unavailable(m),
            SourceError::Refused(m) => Problem::new(502, "Bad gateway", m),
        })?
        .ok_or_else(gone)?;
    let mut response = if wants_json {
        json(
            200,
            &json!({
                "id": item.id,
                "version": item.version,
                "status": item.status,
                "type": item.kind,
                "title": item.title,
                "description": item.description,
                "body": item.body,
                "expiresAt": rfc3339(expires_at),
            }),
        )
    } else {
        let mut page = Response::new(200, page(&item, expires_at));
        page.set_header("content-type", "text/html; charset=utf-8");
        page
    };
    response.set_header("cache-control", "private, no-store");
    response.set_header("x-robots-tag", "noindex, nofollow");
    response.set_header("referrer-policy", "no-referrer");
    Ok(response)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The body (whole: a preview link is for reviewers) is the content
/// service's sanitized HTML; everything else is
/// escaped here. The host's CSP on HTML answers keeps scripts off anyway.
fn page(item: &sources::ContentItem, expires_at: i64) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"robots\" content=\"noindex, nofollow\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Preview: {title}</title></head><body>\
         <p role=\"note\">Preview of version {version} ({status}); this link expires {expires}.</p>\
         <article><h1>{title}</h1><p>{description}</p>{body}</article></body></html>\n",
        title = escape(&item.title),
        version = item.version,
        status = escape(&item.status),
        expires = rfc3339(expires_at),
        description = escape(&item.description),
        body = item.whole_body(),
    )
}
