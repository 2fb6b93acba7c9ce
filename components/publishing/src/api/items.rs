//! Per item: approval decisions and the editors' queue; preview links.

use folio_guest::auth::Role;
use folio_guest::http::{JsonBody, Problem, json, no_content};
use serde_json::json;
use spin_sdk::http::{Request, Response};

use super::bodies::*;
use super::{editor, limit, param, params, uuid};
use crate::approvals::{self, Vote};
use crate::items::{self, Item};
use crate::preview;
use crate::store;

fn item(db: &folio_guest::Connection, id: &str) -> Result<Item, Problem> {
    let id = uuid(id, "content")?;
    items::get(db, &id)?.ok_or_else(|| Problem::not_found("no such content"))
}

#[utoipa::path(
    get, path = "/api/v1/approvals", operation_id = "listApprovals", tag = "publishing",
    params(
        ("status" = Option<String>, Query, description = "`pending` (default): items waiting, with their decisions so far; `approved` or `rejected`: decisions made, newest first"),
        ("limit" = Option<i64>, Query, description = "1 to 200, default 50"),
    ),
    responses(
        (status = 200, description = "The queue", body = ApprovalQueue),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin or creator", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "A bad query parameter", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn approval_queue(request: &Request) -> Result<Response, Problem> {
    editor(request)?;
    let pairs = params(request, &["status", "limit"])?;
    let limit = limit(&pairs, 50, 200)?;
    let db = store::db()?;
    let items = match param(&pairs, "status").unwrap_or("pending") {
        "pending" => approvals::queue(&db, limit)?,
        "approved" => approvals::history(&db, "approve", limit)?,
        "rejected" => approvals::history(&db, "reject", limit)?,
        _ => {
            return Err(Problem::invalid_field(
                "status",
                "must be pending, approved or rejected",
            ));
        }
    };
    Ok(json(200, &json!({ "items": items })))
}

#[utoipa::path(
    post, path = "/api/v1/content/{id}/approvals", operation_id = "decideApproval", tag = "publishing",
    params(("id" = String, Path, description = "The content id")),
    request_body = DecisionInput,
    responses(
        (status = 200, description = "Recorded on the item's current content; channels whose policy is met send now", body = DecisionResult),
        (status = 400, description = "Not a JSON object", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The item's author, or a role no policy takes decisions from", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such content", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "`version` is not the current one", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn decide(request: &Request, id: &str) -> Result<Response, Problem> {
    let claims = editor(request)?;
    let body = JsonBody::parse(request)?;
    body.only(&["decision", "comment", "version"])?;
    let approve = match body.required_str("decision")? {
        "approve" => true,
        "reject" => false,
        _ => {
            return Err(Problem::invalid_field(
                "decision",
                "must be approve or reject",
            ));
        }
    };
    let comment = body.optional_str("comment")?.unwrap_or_default();
    if comment.chars().count() > 2000 {
        return Err(Problem::invalid_field(
            "comment",
            "must be at most 2000 characters",
        ));
    }
    let db = store::db()?;
    let item = item(&db, id)?;
    if let Some(v) = body.value("version") {
        let v = v
            .as_i64()
            .ok_or_else(|| Problem::invalid_field("version", "must be a number"))?;
        if v != item.version {
            return Err(Problem::conflict(format!(
                "the item is at version {}, not {v}: review it again",
                item.version
            )));
        }
    }
    let vote = Vote {
        user_id: &claims.sub,
        role: &claims.role,
        approve,
        comment,
    };
    Ok(json(200, &approvals::decide(&db, &item, &vote)?))
}

fn may_preview(claims: &folio_guest::auth::Claims, item: &Item) -> Result<(), Problem> {
    if claims.role() == Some(Role::Admin) || claims.sub == item.author_id {
        return Ok(());
    }
    Err(Problem::forbidden(
        "only the item's author or an admin manages its preview links",
    ))
}

#[utoipa::path(
    post, path = "/api/v1/content/{id}/preview-links", operation_id = "createPreviewLink", tag = "publishing",
    params(("id" = String, Path, description = "The content id")),
    request_body = PreviewLinkInput,
    responses(
        (status = 201, description = "The link; its URL is shown only now", body = PreviewLink),
        (status = 400, description = "Not a JSON object", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Neither the item's author nor an admin", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such content", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn create_preview_link(request: &Request, id: &str) -> Result<Response, Problem> {
    let claims = editor(request)?;
    let db = store::db()?;
    let item = item(&db, id)?;
    may_preview(&claims, &item)?;
    let (version, seconds) = if request.body().is_empty() {
        (item.version, preview::DEFAULT_SECONDS)
    } else {
        let body = JsonBody::parse(request)?;
        body.only(&["version", "expiresInSeconds"])?;
        let number = |field: &str, default: i64, range: std::ops::RangeInclusive<i64>| match body
            .value(field)
        {
            None | Some(serde_json::Value::Null) => Ok(default),
            Some(v) => v.as_i64().filter(|n| range.contains(n)).ok_or_else(|| {
                Problem::invalid_field(
                    field,
                    format!("must be {} to {}", range.start(), range.end()),
                )
            }),
        };
        (
            number("version", item.version, 1..=item.version)?,
            number(
                "expiresInSeconds",
                preview::DEFAULT_SECONDS,
                60..=preview::MAX_SECONDS,
            )?,
        )
    };
    let created = preview::create(&db, &item.id, version, &claims.sub, seconds)?;
    let mut response = json(
        201,
        &json!({
            "id": created.id,
            "url": created.url,
            "version": version,
            "expiresAt": folio_guest::util::rfc3339(created.expires_at),
        }),
    );
    response.set_header("cache-control", "no-store");
    Ok(response)
}

#[utoipa::path(
    get, path = "/api/v1/content/{id}/preview-links", operation_id = "listPreviewLinks", tag = "publishing",
    params(("id" = String, Path, description = "The content id")),
    responses(
        (status = 200, description = "The item's links (without their URLs)", body = PreviewLinkList),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Neither the item's author nor an admin", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such content", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn preview_links(request: &Request, id: &str) -> Result<Response, Problem> {
    let claims = editor(request)?;
    let db = store::db()?;
    let item = item(&db, id)?;
    may_preview(&claims, &item)?;
    Ok(json(
        200,
        &json!({ "items": preview::list(&db, &item.id)? }),
    ))
}

#[utoipa::path(
    delete, path = "/api/v1/preview-links/{id}", operation_id = "revokePreviewLink", tag = "publishing",
    params(("id" = String, Path, description = "The link id")),
    responses(
        (status = 204, description = "Revoked: the URL answers 404 from now on"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Neither the item's author nor an admin", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such link", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn revoke_preview_link(request: &Request, id: &str) -> Result<Response, Problem> {
    let claims = editor(request)?;
    let id = uuid(id, "preview link")?;
    let db = store::db()?;
    let (content_id, created_by) =
        preview::owner(&db, &id)?.ok_or_else(|| Problem::not_found("no such preview link"))?;
    let allowed = claims.role() == Some(Role::Admin)
        || claims.sub == created_by
        || items::get(&db, &content_id)?.is_some_and(|i| i.author_id == claims.sub);
    if !allowed {
        return Err(Problem::forbidden(
            "only the item's author or an admin revokes its preview links",
        ));
    }
    preview::revoke(&db, &id)?;
    Ok(no_content())
}
