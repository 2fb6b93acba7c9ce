//! `GET /api/v1/notification-deliveries` (admins): each email and push, its
//! status and every attempt.

use folio_guest::Value;
use folio_guest::columns::{integer, optional_integer, optional_text, text};
use folio_guest::http::{Problem, json};
use folio_guest::util::{is_uuid, rfc3339};
use spin_sdk::http::{Request, Response};

use super::bodies::{Attempt, DeliveryPage, DeliveryView, ProblemDetails};
use super::{admin, limit, param, params};
use crate::store::{self, db_error};

const STATUSES: [&str; 6] = ["pending", "deferred", "digest", "sent", "failed", "skipped"];

#[utoipa::path(
    get, path = "/api/v1/notification-deliveries", operation_id = "listNotificationDeliveries", tag = "notifications",
    params(
        ("userId" = Option<String>, Query, description = "Only this user's"),
        ("channel" = Option<String>, Query, description = "`email` or `push`"),
        ("status" = Option<String>, Query, description = "`pending`, `deferred`, `digest`, `sent`, `failed` or `skipped`"),
        ("cursor" = Option<String>, Query, description = "`next` of the previous page"),
        ("limit" = Option<i64>, Query, description = "1 to 200, default 50"),
    ),
    responses(
        (status = 200, description = "Newest first", body = DeliveryPage),
        (status = 400, description = "A bad query parameter", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn deliveries(request: &Request) -> Result<Response, Problem> {
    admin(request)?;
    let pairs = params(request, &["userId", "channel", "status", "cursor", "limit"])?;
    let limit = limit(&pairs, 50, 200)?;
    let mut clauses = Vec::new();
    let mut values = Vec::new();
    if let Some(user) = param(&pairs, "userId") {
        if !is_uuid(user) {
            return Err(Problem::bad_request("userId must be a user id"));
        }
        values.push(Value::Text(user.to_ascii_lowercase()));
        clauses.push(format!("user_id = ${}", values.len()));
    }
    if let Some(channel) = param(&pairs, "channel") {
        if channel != "email" && channel != "push" {
            return Err(Problem::bad_request("channel must be email or push"));
        }
        values.push(Value::Text(channel.into()));
        clauses.push(format!("channel = ${}", values.len()));
    }
    if let Some(status) = param(&pairs, "status") {
        if !STATUSES.contains(&status) {
            return Err(Problem::bad_request(format!(
                "status must be one of {}",
                STATUSES.join(", ")
            )));
        }
        values.push(Value::Text(status.into()));
        clauses.push(format!("status = ${}", values.len()));
    }
    if let Some(cursor) = param(&pairs, "cursor") {
        let (at, id) = cursor
            .split_once('_')
            .and_then(|(at, id)| Some((at.parse::<i64>().ok()?, id)))
            .filter(|(_, id)| is_uuid(id))
            .ok_or_else(|| Problem::bad_request("cursor is not one this service gave"))?;
        values.push(Value::Integer(at));
        values.push(Value::Text(id.into()));
        clauses.push(format!(
            "(created_at < ${0} OR (created_at = ${0} AND id < ${1}))",
            values.len() - 1,
            values.len()
        ));
    }
    values.push(Value::Integer(limit + 1));
    let filter = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    let db = store::db()?;
    let rows = db
        .query(
            &format!(
                "SELECT id, notification_id, user_id, channel, status, attempts, response, not_before, \
                 created_at, sent_at FROM deliveries {filter} ORDER BY created_at DESC, id DESC LIMIT ${}",
                values.len()
            ),
            &values,
        )
        .map_err(db_error)?;
    let more = rows.rows.len() as i64 > limit;
    let mut items = Vec::new();
    for r in rows.rows.iter().take(limit as usize) {
        let id = text(&r[0]);
        let attempts = db
            .query(
                "SELECT at, outcome, response, elapsed_ms FROM delivery_attempts WHERE delivery_id = $1 ORDER BY id",
                &[Value::Text(id.clone())],
            )
            .map_err(db_error)?;
        items.push(DeliveryView {
            id,
            notification_id: text(&r[1]),
            user_id: text(&r[2]),
            channel: text(&r[3]),
            status: text(&r[4]),
            attempts: integer(&r[5]),
            response: optional_text(&r[6]),
            not_before: rfc3339(integer(&r[7])),
            created_at: rfc3339(integer(&r[8])),
            sent_at: optional_integer(&r[9]).map(rfc3339),
            attempt_log: attempts
                .rows
                .iter()
                .map(|a| Attempt {
                    at: rfc3339(integer(&a[0])),
                    outcome: text(&a[1]),
                    response: text(&a[2]),
                    elapsed_ms: integer(&a[3]),
                })
                .collect(),
        });
    }
    let next = if more {
        rows.rows
            .get(limit as usize - 1)
            .map(|r| format!("{}_{}", integer(&r[8]), text(&r[0])))
    } else {
        None
    };
    Ok(json(200, &DeliveryPage { items, next }))
}
