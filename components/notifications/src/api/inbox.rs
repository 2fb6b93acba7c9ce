//! The inbox: `/api/v1/notifications` (a user's own), and an admin's broadcast.

use folio_guest::columns::{integer, optional_integer, optional_text, text};
use folio_guest::http::{JsonBody, Problem, json, no_content};
use folio_guest::util::{is_uuid, new_id, new_secret, now_ms, rfc3339};
use folio_guest::{Connection, Value};
use serde_json::json as j;
use spin_sdk::http::{Request, Response};

use super::bodies::{
    Accepted, InboxItem, InboxPage, ProblemDetails, StreamTicket, UnreadCount, Updated,
};
use super::{admin, limit, param, params, user};
use crate::fanout::{self, Audience, Fanout};
use crate::store::{self, db_error};

const COLUMNS: &str = "seq, id, category, template, title, body, link, created_at, read_at";

pub fn item(r: &[Value]) -> InboxItem {
    InboxItem {
        id: text(&r[1]),
        category: text(&r[2]),
        kind: text(&r[3]),
        title: text(&r[4]),
        body: text(&r[5]),
        link: optional_text(&r[6]),
        created_at: rfc3339(integer(&r[7])),
        read_at: optional_integer(&r[8]).map(rfc3339),
    }
}

/// In-app entries of `user_id` after `seq`, oldest first (for the stream).
pub fn after(
    db: &Connection,
    user_id: &str,
    seq: i64,
    limit: i64,
) -> Result<Vec<(i64, InboxItem)>, Problem> {
    let rows = db
        .query(
            &format!(
                "SELECT {COLUMNS} FROM notifications WHERE user_id = $1 AND in_app AND seq > $2 \
                 ORDER BY seq LIMIT $3"
            ),
            &[
                Value::Text(user_id.into()),
                Value::Integer(seq),
                Value::Integer(limit),
            ],
        )
        .map_err(db_error)?;
    Ok(rows
        .rows
        .iter()
        .map(|r| (integer(&r[0]), item(r)))
        .collect())
}

pub fn latest_seq(db: &Connection, user_id: &str) -> Result<i64, Problem> {
    let rows = db
        .query(
            "SELECT MAX(seq) FROM notifications WHERE user_id = $1 AND in_app",
            &[Value::Text(user_id.into())],
        )
        .map_err(db_error)?;
    Ok(rows
        .rows
        .first()
        .and_then(|r| optional_integer(&r[0]))
        .unwrap_or(0))
}

/// The caller's inbox, newest first.
#[utoipa::path(
    get, path = "/api/v1/notifications", operation_id = "listNotifications", tag = "notifications",
    params(
        ("cursor" = Option<String>, Query, description = "`next` of the previous page"),
        ("limit" = Option<i64>, Query, description = "1 to 100, default 20"),
        ("unread" = Option<bool>, Query, description = "Only entries not yet read"),
    ),
    responses(
        (status = 200, description = "A page of the inbox", body = InboxPage),
        (status = 400, description = "A bad query parameter", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn list(request: &Request) -> Result<Response, Problem> {
    let claims = user(request)?;
    let pairs = params(request, &["cursor", "limit", "unread"])?;
    let limit = limit(&pairs, 20, 100)?;
    let before = match param(&pairs, "cursor") {
        None => i64::MAX,
        Some(c) => c
            .parse::<i64>()
            .ok()
            .filter(|c| *c > 0)
            .ok_or_else(|| Problem::bad_request("cursor is not one this service gave"))?,
    };
    let unread = match param(&pairs, "unread") {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(Problem::bad_request("unread must be true or false")),
    };
    let db = store::db()?;
    let rows = db
        .query(
            &format!(
                "SELECT {COLUMNS} FROM notifications WHERE user_id = $1 AND in_app AND seq < $2 {} \
                 ORDER BY seq DESC LIMIT $3",
                if unread { "AND read_at IS NULL" } else { "" }
            ),
            &[
                Value::Text(claims.sub.clone()),
                Value::Integer(before),
                Value::Integer(limit + 1),
            ],
        )
        .map_err(db_error)?;
    let more = rows.rows.len() as i64 > limit;
    let page: Vec<_> = rows.rows.iter().take(limit as usize).collect();
    let next = more
        .then(|| page.last().map(|r| integer(&r[0]).to_string()))
        .flatten();
    Ok(json(
        200,
        &InboxPage {
            items: page.iter().map(|r| item(r)).collect(),
            next,
        },
    ))
}

#[utoipa::path(
    get, path = "/api/v1/notifications/unread-count", operation_id = "countUnreadNotifications", tag = "notifications",
    responses(
        (status = 200, description = "How many inbox entries are unread", body = UnreadCount),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn unread_count(request: &Request) -> Result<Response, Problem> {
    let claims = user(request)?;
    params(request, &[])?;
    let db = store::db()?;
    let rows = db
        .query(
            "SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND in_app AND read_at IS NULL",
            &[Value::Text(claims.sub)],
        )
        .map_err(db_error)?;
    let unread = rows.rows.first().map_or(0, |r| integer(&r[0]));
    Ok(json(200, &UnreadCount { unread }))
}

#[utoipa::path(
    post, path = "/api/v1/notifications/{id}/read", operation_id = "markNotificationRead", tag = "notifications",
    params(("id" = String, Path, description = "The notification")),
    responses(
        (status = 204, description = "Read (also when it already was)"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such notification in the caller's inbox", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn read(request: &Request, id: &str) -> Result<Response, Problem> {
    let claims = user(request)?;
    params(request, &[])?;
    if !is_uuid(id) {
        return Err(Problem::not_found("no such notification"));
    }
    let db = store::db()?;
    let owner = Value::Text(claims.sub.clone());
    let rows = db
        .query(
            "SELECT read_at FROM notifications WHERE id = $1 AND user_id = $2 AND in_app",
            &[Value::Text(id.into()), owner.clone()],
        )
        .map_err(db_error)?;
    if rows.rows.is_empty() {
        // Another user's notification is as absent as one that never was.
        return Err(Problem::not_found("no such notification"));
    }
    db.execute(
        "UPDATE notifications SET read_at = $3 WHERE id = $1 AND user_id = $2 AND read_at IS NULL",
        &[Value::Text(id.into()), owner, Value::Integer(now_ms())],
    )
    .map_err(db_error)?;
    Ok(no_content())
}

#[utoipa::path(
    post, path = "/api/v1/notifications/read-all", operation_id = "markAllNotificationsRead", tag = "notifications",
    responses(
        (status = 200, description = "How many entries were marked", body = Updated),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn read_all(request: &Request) -> Result<Response, Problem> {
    let claims = user(request)?;
    params(request, &[])?;
    let db = store::db()?;
    let updated = db
        .execute(
            "UPDATE notifications SET read_at = $2 WHERE user_id = $1 AND in_app AND read_at IS NULL",
            &[Value::Text(claims.sub), Value::Integer(now_ms())],
        )
        .map_err(db_error)?;
    Ok(json(200, &Updated { updated }))
}

/// Seconds a stream ticket works for.
pub const TICKET_SECONDS: u64 = 600;

pub fn ticket_key(ticket: &str) -> String {
    format!("stream-ticket:{ticket}")
}

#[utoipa::path(
    post, path = "/api/v1/notifications/stream-tickets", operation_id = "createStreamTicket", tag = "notifications",
    responses(
        (status = 201, description = "A ticket for the caller's live stream", body = StreamTicket),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn stream_ticket(request: &Request) -> Result<Response, Problem> {
    let claims = user(request)?;
    params(request, &[])?;
    let ticket = new_secret();
    let bucket = folio_guest::kv::open("default")
        .map_err(|e| Problem::unavailable(format!("the key-value store: {e:?}")))?;
    folio_guest::kv::set_with_ttl(
        &bucket,
        &ticket_key(&ticket),
        claims.sub.as_bytes(),
        TICKET_SECONDS * 1000,
    )
    .map_err(|e| Problem::unavailable(format!("the key-value store: {e:?}")))?;
    Ok(json(
        201,
        &StreamTicket {
            ticket,
            expires_in: TICKET_SECONDS,
        },
    ))
}

const MAX_TITLE: usize = 200;
const MAX_BODY: usize = 2000;

/// Tells one user, or every active user with a role, in-app, by push and
/// (as product news, which users may turn off) by email.
#[utoipa::path(
    post, path = "/api/v1/notifications", operation_id = "broadcastNotification", tag = "notifications",
    request_body = super::bodies::BroadcastRequest,
    responses(
        (status = 202, description = "Being delivered", body = Accepted),
        (status = 400, description = "The body is not a JSON object", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "A field is missing or invalid; `errors` names it", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn broadcast(request: &Request) -> Result<Response, Problem> {
    admin(request)?;
    params(request, &[])?;
    let body = JsonBody::parse(request)?;
    body.only(&["userId", "role", "title", "body", "link"])?;
    let audience = match (body.optional_str("userId")?, body.optional_str("role")?) {
        (Some(id), None) if is_uuid(id) => Audience::Users {
            ids: vec![id.to_ascii_lowercase()],
        },
        (Some(_), None) => return Err(Problem::invalid_field("userId", "must be a user id")),
        (None, Some(role)) if ["admin", "creator", "consumer"].contains(&role) => {
            Audience::Role { role: role.into() }
        }
        (None, Some(_)) => {
            return Err(Problem::invalid_field(
                "role",
                "must be admin, creator or consumer",
            ));
        }
        _ => {
            return Err(Problem::invalid_field(
                "userId",
                "give exactly one of userId and role",
            ));
        }
    };
    let title = body.required_str("title")?.trim();
    if title.is_empty() || title.chars().count() > MAX_TITLE || title.contains(['\r', '\n']) {
        return Err(Problem::invalid_field(
            "title",
            format!("must be one line of 1 to {MAX_TITLE} characters"),
        ));
    }
    let text = body.required_str("body")?.trim();
    if text.is_empty() || text.chars().count() > MAX_BODY {
        return Err(Problem::invalid_field(
            "body",
            format!("must be 1 to {MAX_BODY} characters"),
        ));
    }
    let link = body.optional_str("link")?;
    if let Some(link) = link
        && (!(link.starts_with("https://") || link.starts_with("http://") || link.starts_with('/'))
            || link.len() > 2000
            || link.chars().any(char::is_whitespace))
    {
        return Err(Problem::invalid_field(
            "link",
            "must be an http(s) URL or a path",
        ));
    }
    let source = format!("broadcast:{}", new_id());
    fanout::start(&Fanout {
        audience,
        source: source.clone(),
        template: "broadcast".into(),
        category: "product".into(),
        data: j!({"title": title, "body": text, "link": link}),
        link: link.map(str::to_string),
        in_app: true,
        push: true,
        after: String::new(),
    })?;
    Ok(json(202, &Accepted { source }))
}
