//! `/api/v1/content/{id}/relations`: typed links between items.

use folio_guest::http::{JsonBody, Problem, json, no_content, query_pairs};
use folio_guest::util::is_uuid;
use serde_json::{Value as Json, json};
use spin_sdk::http::{Request, Response};

use super::content::{caller, visible, writable, writer};
use crate::relations::{self, Direction, KINDS};
use crate::store::{self, db_error};

fn kind_of(field: &str, value: &str) -> Result<String, Problem> {
    if KINDS.contains(&value) {
        Ok(value.to_string())
    } else {
        Err(Problem::invalid_field(
            field,
            format!("must be one of {}", KINDS.join(", ")),
        ))
    }
}

/// The item's links the caller may see, both ways, with the item at the
/// other end summarized; `?kind=` narrows them.
#[utoipa::path(
    get,
    path = "/api/v1/content/{id}/relations",
    operation_id = "listRelations",
    tag = "relations",
    security((), ("bearer" = [])),
    params(
        ("id" = String, Path, description = "The content id (a UUID)"),
        ("kind" = Option<super::bodies::RelationKind>, Query, nullable = false),
    ),
    responses(
        (status = 200, description = "The relations the caller may see", body = super::bodies::RelationList),
        (status = 401, description = "The access token was refused", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such content, or not visible to the caller", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "A query parameter is invalid or unknown", body = super::bodies::ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn list(request: &Request, id: &str) -> Result<Response, Problem> {
    let caller = caller(request)?;
    let mut kind = None;
    for (name, value) in query_pairs(request) {
        match name.as_str() {
            "kind" => kind = Some(kind_of("kind", &value)?),
            other => {
                return Err(Problem::invalid_field(
                    other,
                    "is not a known query parameter",
                ));
            }
        }
    }
    let db = store::open()?;
    visible(&db, &caller, id)?;
    let items: Vec<Json> = relations::of(&db, id, kind.as_deref())?
        .into_iter()
        .filter(|r| r.other.deleted_at.is_none() && caller.can_read(&r.other))
        .map(|r| {
            json!({
                "kind": r.kind,
                "direction": match r.direction {
                    Direction::Outgoing => "outgoing",
                    Direction::Incoming => "incoming",
                },
                "createdAt": r.created_at,
                "content": {
                    "id": r.other.id,
                    "title": r.other.title,
                    "type": r.other.kind,
                    "status": r.other.status,
                    "publishedAt": r.other.published_at,
                },
                "_links": { "content": { "href": format!("/api/v1/content/{}", r.other.id) } },
            })
        })
        .collect();
    Ok(json(200, &json!({ "items": items })))
}

/// `{kind, targetId}`: links this item (which the caller may change) to
/// one they can see. 201 when new, 200 when it already existed.
#[utoipa::path(
    post,
    path = "/api/v1/content/{id}/relations",
    operation_id = "createRelation",
    tag = "relations",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "The content id (a UUID)"),
    ),
    request_body = super::bodies::RelationRequest,
    responses(
        (status = 200, description = "The relation existed already", body = super::bodies::Relation, headers(("location" = String))),
        (status = 201, description = "Created, with `Location`", body = super::bodies::Relation, headers(("location" = String))),
        (status = 400, description = "The body is not a JSON object", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not the author or an admin", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such content, or not visible to the caller", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid (or the target is not an item the caller can see); `errors` names it", body = super::bodies::ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn create(request: &Request, id: &str) -> Result<Response, Problem> {
    let (caller, _) = writer(request)?;
    let db = store::open()?;
    writable(&db, &caller, id)?;
    let body = JsonBody::parse(request)?;
    body.only(&["kind", "targetId"])?;
    let kind = kind_of("kind", body.required_str("kind")?)?;
    let target = body.required_str("targetId")?.to_string();
    if target == id {
        return Err(Problem::invalid_field(
            "targetId",
            "an item cannot be linked to itself",
        ));
    }
    if !is_uuid(&target) || visible(&db, &caller, &target).is_err() {
        return Err(Problem::invalid_field("targetId", "no such content"));
    }
    let tx = db.begin().map_err(db_error)?;
    let added = relations::add(&tx, id, &kind, &target)?;
    tx.commit().map_err(db_error)?;
    let link = json!({
        "kind": kind,
        "targetId": target,
        "_links": {
            "self": { "href": format!("/api/v1/content/{id}/relations/{kind}/{target}") },
            "content": { "href": format!("/api/v1/content/{target}") },
        },
    });
    let mut response = json(if added { 201 } else { 200 }, &link);
    response.set_header(
        "location",
        format!("/api/v1/content/{id}/relations/{kind}/{target}"),
    );
    Ok(response)
}

#[utoipa::path(
    delete,
    path = "/api/v1/content/{id}/relations/{kind}/{target}",
    operation_id = "deleteRelation",
    tag = "relations",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "The content id (a UUID)"),
        ("kind" = String, Path, description = "related, series, translationOf or partOf"),
        ("target" = String, Path, description = "The other item's id"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "No valid access token", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not the author or an admin", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such content or relation", body = super::bodies::ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn delete(request: &Request, id: &str, kind: &str, target: &str) -> Result<Response, Problem> {
    let (caller, _) = writer(request)?;
    let db = store::open()?;
    writable(&db, &caller, id)?;
    let tx = db.begin().map_err(db_error)?;
    let removed = relations::remove(&tx, id, kind, target)?;
    tx.commit().map_err(db_error)?;
    if removed {
        Ok(no_content())
    } else {
        Err(Problem::not_found("no such relation"))
    }
}
