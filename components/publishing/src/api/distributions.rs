//! Distribution status: per item (its author or an admin), across channels
//! (admins), one with its attempts, and a manual retry.

use folio_guest::auth::Role;
use folio_guest::http::{Problem, json};
use serde_json::{Value as Json, json};
use spin_sdk::http::{Request, Response};

use super::bodies::*;
use super::{admin, editor, limit, param, params, uuid};
use crate::distributions::{self as model, Filter};
use crate::store::{self, db_error};

const STATUSES: [&str; 7] = [
    "pending",
    "awaiting-approval",
    "delivering",
    "delivered",
    "failed",
    "retrying",
    "cancelled",
];

fn with_attempts(
    db: &folio_guest::Connection,
    items: &[model::Distribution],
) -> Result<Vec<Json>, Problem> {
    let ids: Vec<String> = items.iter().map(|d| d.id.clone()).collect();
    let attempts = model::attempts(db, &ids)?;
    Ok(items
        .iter()
        .map(|d| {
            let mut body = d.to_json();
            body["attemptLog"] = Json::Array(
                attempts
                    .iter()
                    .filter(|(id, _)| *id == d.id)
                    .map(|(_, a)| a.clone())
                    .collect(),
            );
            body
        })
        .collect())
}

fn cursor(value: Option<&str>) -> Result<Option<(i64, String)>, Problem> {
    let Some(value) = value else { return Ok(None) };
    value
        .split_once('_')
        .and_then(|(at, id)| Some((at.parse().ok()?, id.to_string())))
        .filter(|(_, id)| folio_guest::util::is_uuid(id))
        .map(Some)
        .ok_or_else(|| Problem::invalid_field("cursor", "is not a cursor this service gave"))
}

fn page(db: &folio_guest::Connection, filter: Filter) -> Result<Response, Problem> {
    let limit = filter.limit;
    let items = model::list(db, &filter)?;
    let next = (items.len() as i64 == limit)
        .then(|| items.last().map(|d| format!("{}_{}", d.created_at, d.id)))
        .flatten();
    Ok(json(
        200,
        &json!({ "items": with_attempts(db, &items)?, "next": next }),
    ))
}

fn status_param(pairs: &[(String, String)]) -> Result<Option<String>, Problem> {
    match param(pairs, "status") {
        None => Ok(None),
        Some(s) if STATUSES.contains(&s) => Ok(Some(s.to_string())),
        Some(_) => Err(Problem::invalid_field(
            "status",
            format!("must be one of {}", STATUSES.join(", ")),
        )),
    }
}

#[utoipa::path(
    get, path = "/api/v1/distributions", operation_id = "listDistributions", tag = "publishing",
    params(
        ("channel" = Option<String>, Query, description = "Only this channel's"),
        ("status" = Option<String>, Query, description = "Only in this status"),
        ("cursor" = Option<String>, Query, description = "`next` of the previous page"),
        ("limit" = Option<i64>, Query, description = "1 to 200, default 50"),
    ),
    responses(
        (status = 200, description = "Newest first, each with its attempts", body = DistributionPage),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "A bad query parameter", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn list(request: &Request) -> Result<Response, Problem> {
    admin(request)?;
    let pairs = params(request, &["channel", "status", "cursor", "limit"])?;
    let channel_id = match param(&pairs, "channel") {
        Some(c) if folio_guest::util::is_uuid(c) => Some(c.to_ascii_lowercase()),
        Some(_) => return Err(Problem::invalid_field("channel", "must be a channel id")),
        None => None,
    };
    let filter = Filter {
        content_id: None,
        channel_id,
        status: status_param(&pairs)?,
        before: cursor(param(&pairs, "cursor"))?,
        limit: limit(&pairs, 50, 200)?,
    };
    page(&store::db()?, filter)
}

#[utoipa::path(
    get, path = "/api/v1/content/{id}/distributions", operation_id = "listItemDistributions", tag = "publishing",
    params(
        ("id" = String, Path, description = "The content id"),
        ("status" = Option<String>, Query, description = "Only in this status"),
        ("cursor" = Option<String>, Query, description = "`next` of the previous page"),
        ("limit" = Option<i64>, Query, description = "1 to 200, default 50"),
    ),
    responses(
        (status = 200, description = "Where the item went, newest first, each with its attempts", body = DistributionPage),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Neither its author nor an admin", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such item", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "A bad query parameter", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn for_item(request: &Request, id: &str) -> Result<Response, Problem> {
    let claims = editor(request)?;
    let id = uuid(id, "content")?;
    let pairs = params(request, &["status", "cursor", "limit"])?;
    let db = store::db()?;
    let item = crate::items::get(&db, &id)?.ok_or_else(|| Problem::not_found("no such content"))?;
    if claims.role() != Some(Role::Admin) && item.author_id != claims.sub {
        return Err(Problem::forbidden(
            "only the item's author or an admin sees its distributions",
        ));
    }
    let filter = Filter {
        content_id: Some(id),
        channel_id: None,
        status: status_param(&pairs)?,
        before: cursor(param(&pairs, "cursor"))?,
        limit: limit(&pairs, 50, 200)?,
    };
    page(&db, filter)
}

#[utoipa::path(
    get, path = "/api/v1/distributions/{id}", operation_id = "getDistribution", tag = "publishing",
    params(("id" = String, Path, description = "The distribution id (also its `webhook-id`)")),
    responses(
        (status = 200, description = "The distribution and its attempts", body = Distribution),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such distribution", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn get(request: &Request, id: &str) -> Result<Response, Problem> {
    admin(request)?;
    let id = uuid(id, "distribution")?;
    let db = store::db()?;
    let d = model::get(&db, &id)?.ok_or_else(|| Problem::not_found("no such distribution"))?;
    let body = with_attempts(&db, std::slice::from_ref(&d))?;
    Ok(json(200, &body[0]))
}

#[utoipa::path(
    post, path = "/api/v1/distributions/{id}/retry", operation_id = "retryDistribution", tag = "publishing",
    params(("id" = String, Path, description = "The distribution id")),
    responses(
        (status = 202, description = "Due now; the same `webhook-id` is sent", body = Distribution),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such distribution", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "It is being delivered, or awaits approval", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn retry(request: &Request, id: &str) -> Result<Response, Problem> {
    admin(request)?;
    let id = uuid(id, "distribution")?;
    let db = store::db()?;
    let d = model::get(&db, &id)?.ok_or_else(|| Problem::not_found("no such distribution"))?;
    let tx = db.begin().map_err(db_error)?;
    if !model::retry_now(&tx, &id)? {
        return Err(Problem::conflict(format!(
            "the distribution is {}: it cannot be retried now",
            d.status
        )));
    }
    model::announce(&tx, std::slice::from_ref(&id), &d.content_id)?;
    tx.commit().map_err(db_error)?;
    let d = model::get(&db, &id)?.ok_or_else(|| Problem::not_found("no such distribution"))?;
    Ok(json(202, &d.to_json()))
}
