//! `/api/v1/content...`: items, their revisions and workflow, and tags.

use folio_auth::jwt::Role;
use folio_guest::auth::authenticate;
use folio_guest::cdn;
use folio_guest::http::{JsonBody, Problem, header, json, no_content, query_pairs};
use folio_guest::util::{
    b64url, b64url_decode, is_uuid, new_id, now_ms, now_rfc3339, parse_rfc3339_ms, sha256_hex,
};
use folio_guest::{Connection, Value};
use serde_json::{Map, Value as Json, json};
use spin_sdk::http::{Request, Response};

use crate::events::{self, summary};
use crate::model::{Caller, Content, Draft, KINDS, STATUSES, may_transition, next_statuses};
use crate::store::{self, ListQuery, Order, Totals, db_error};
use crate::{cache, categories, input};

const BASE: &str = "/api/v1/content";

/// Anonymous without an `Authorization` header; 401 with a bad one.
pub fn caller(request: &Request) -> Result<Caller, Problem> {
    if header(request, "authorization").is_none() {
        return Ok(Caller::Anonymous);
    }
    Ok(Caller::from_claims(Some(authenticate(request)?)))
}

pub fn writer(request: &Request) -> Result<(Caller, String), Problem> {
    let caller = caller(request)?;
    match caller.user_id() {
        None => Err(Problem::unauthorized(
            "writing content needs a bearer access token",
        )),
        Some(id) => {
            let id = id.to_string();
            Ok((caller, id))
        }
    }
}

fn with_links(c: &Content) -> Json {
    let mut v = serde_json::to_value(c).expect("content serializes");
    v["_links"] = json!({
        "self": { "href": format!("{BASE}/{}", c.id) },
        "revisions": { "href": format!("{BASE}/{}/revisions", c.id) },
    });
    v
}

/// A gated item as a reader without its tier sees it, marked `preview`.
fn previewed(c: &Content) -> Json {
    let mut v = with_links(c);
    v["preview"] = json!(true);
    v
}

/// Whether `caller` holds `content`'s tier, or needs none.
fn may_read_whole(caller: &Caller, content: &Content) -> Result<bool, Problem> {
    let Some(tier) = content.required_tier.as_deref() else {
        return Ok(true);
    };
    if !content.is_gated_for(caller) {
        return Ok(true);
    }
    let Some(user) = caller.user_id() else {
        return Ok(false);
    };
    let tiers = folio_guest::entitlements::tiers_of(&store::open()?, user)?;
    Ok(tiers.iter().any(|t| t == tier))
}

fn item_response(status: u16, c: &Content) -> Response {
    let mut response = json(status, &with_links(c));
    response.set_header("etag", c.etag());
    response
}

/// The item if the caller may see it; 404 otherwise, so drafts do not leak.
pub fn visible(db: &Connection, caller: &Caller, id: &str) -> Result<Content, Problem> {
    let not_found = || Problem::not_found("no such content");
    if !folio_guest::util::is_uuid(id) {
        return Err(not_found());
    }
    let content = store::get(db, id)?.ok_or_else(not_found)?;
    if content.deleted_at.is_some() || !caller.can_read(&content) {
        return Err(not_found());
    }
    Ok(content)
}

/// The item if the caller may change it: 404 if they cannot see it, 403 if only that.
pub fn writable(db: &Connection, caller: &Caller, id: &str) -> Result<Content, Problem> {
    let content = visible(db, caller, id)?;
    if !caller.can_write(&content) {
        return Err(Problem::forbidden(
            "only its author or an admin may change this content",
        ));
    }
    Ok(content)
}

fn check_categories(db: &Connection, draft: &Draft) -> Result<(), Problem> {
    let missing = categories::missing(db, &draft.categories)?;
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Problem::invalid_field(
            "categories",
            format!("no such category: {}", missing.join(", ")),
        ))
    }
}

/// Like [`visible`], but published items come from the read cache when
/// it has them, and go into it when it does not.
fn readable(caller: &Caller, id: &str) -> Result<Content, Problem> {
    if folio_guest::util::is_uuid(id)
        && let Some(content) = cache::item(id)
        && caller.can_read(&content)
    {
        return Ok(content);
    }
    let content = visible(&store::open()?, caller, id)?;
    cache::offer(&content);
    Ok(content)
}

#[utoipa::path(
    get,
    path = "/api/v1/content/{id}",
    operation_id = "getContent",
    tag = "content",
    security((), ("bearer" = [])),
    params(
        ("id" = String, Path, description = "The content id (a UUID)"),
        ("If-None-Match" = Option<String>, Header, nullable = false, description = "An ETag read before: 304 while it is current"),
    ),
    responses(
        (status = 200, description = "The item", body = super::bodies::ContentItem, headers(("etag" = String, description = "`\"<id>-v<version>\"`"), ("cache-control" = String, description = "Published: `public, max-age=0, stale-while-revalidate=300, stale-if-error=86400`; otherwise `private, no-cache`"), ("surrogate-key" = String, description = "Published items only: `content:<id> content-type:<type> content`, space-separated (Fastly); a CDN purges by these"), ("cache-tag" = String, description = "The same keys, comma-separated (Cloudflare), published items only"))),
        (status = 304, description = "If-None-Match names the current version; the same cache headers as the 200", headers(("etag" = String), ("cache-control" = String), ("surrogate-key" = String), ("cache-tag" = String))),
        (status = 401, description = "The access token was refused", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such content, or not visible to the caller", body = super::bodies::ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn get(request: &Request, id: &str) -> Result<Response, Problem> {
    let caller = caller(request)?;
    let content = readable(&caller, id)?;
    let whole = may_read_whole(&caller, &content)?;
    let etag = if whole {
        content.etag()
    } else {
        format!("\"{}-v{}-preview\"", content.id, content.version)
    };
    let matches = header(request, "if-none-match")
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response = if matches {
        Response::builder().status(304).body(Vec::new()).build()
    } else if whole {
        item_response(200, &content)
    } else {
        json(200, &previewed(&content.preview()))
    };
    response.set_header("etag", etag);
    if content.required_tier.is_some() {
        // What it shows depends on who asks: no shared cache may keep it.
        response.set_header("cache-control", "private, no-cache");
    } else if content.is_public() {
        // The same for every caller: a CDN keeps it, revalidating each time
        // (max-age=0) but serving its copy meanwhile, until a purge by key.
        cdn::shared(
            &mut response,
            0,
            &cdn::content_keys(&content.id, &content.kind),
        );
    } else {
        // A draft (or review, archived) item only its author and admins see.
        response.set_header("cache-control", "private, no-cache");
    }
    Ok(response)
}

#[utoipa::path(
    post,
    path = "/api/v1/content",
    operation_id = "createContent",
    tag = "content",
    security(("bearer" = [])),
    params(
        ("Idempotency-Key" = Option<String>, Header, nullable = false, description = "1-255 characters: a retry with the same key and body answers the first result (with `Idempotent-Replayed: true`)"),
    ),
    request_body = super::bodies::ContentRequest,
    responses(
        (status = 201, description = "Created as a draft, with `Location` and `ETag`", body = super::bodies::ContentItem, headers(("location" = String), ("etag" = String))),
        (status = 400, description = "The body is not a JSON object, or Idempotency-Key is not 1-255 characters", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Creating content needs the creator or admin role", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "A request with this Idempotency-Key is in progress", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid (`errors` names it), or the Idempotency-Key was used with another body", body = super::bodies::ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn create(request: &Request) -> Result<Response, Problem> {
    let (caller, author) = writer(request)?;
    if !caller.can_create() {
        return Err(Problem::forbidden(
            "creating content needs the creator or admin role",
        ));
    }
    let body = JsonBody::parse(request)?;
    let draft = input::full(&body)?;
    let db = store::open()?;
    let key = header(request, "idempotency-key").map(str::to_string);
    let request_hash = sha256_hex(&String::from_utf8_lossy(request.body()));
    if let Some(key) = &key {
        if key.is_empty() || key.len() > 255 {
            return Err(Problem::bad_request(
                "Idempotency-Key must be 1-255 characters",
            ));
        }
        if let Some(response) = replay(&db, &author, key, &request_hash)? {
            return Ok(response);
        }
    }
    check_categories(&db, &draft)?;
    let now = now_rfc3339();
    let content = Content {
        id: new_id(),
        title: draft.title,
        description: draft.description,
        body: draft.body,
        status: "draft".into(),
        kind: draft.kind,
        categories: draft.categories,
        tags: draft.tags,
        media_ids: draft.media_ids,
        author_id: author.clone(),
        metadata: draft.metadata,
        published_at: None,
        scheduled_at: draft.scheduled_at,
        created_at: now.clone(),
        updated_at: now,
        version: 1,
        deleted_at: None,
        required_tier: draft.required_tier,
    };
    let body = with_links(&content);
    let tx = db.begin().map_err(db_error)?;
    store::insert(&tx, &content, &author)?;
    events::publish(&tx, "ContentCreated", &content.id, summary(&content))?;
    if let Some(key) = &key {
        let stored = tx.execute(
            "INSERT INTO idempotency_keys (caller, idempotency_key, request_hash, status, response, created_at) \
             VALUES ($1, $2, $3, 201, $4, $5)",
            &[
                Value::Text(author.clone()),
                Value::Text(key.clone()),
                Value::Text(request_hash.clone()),
                Value::Json(body.to_string()),
                Value::Timestamp(now_rfc3339()),
            ],
        );
        if let Err(folio_guest::SqlError::ConstraintViolation(_)) = stored {
            // A concurrent retry with the same key committed first: answer its result.
            drop(tx);
            return replay(&db, &author, key, &request_hash)?.ok_or_else(|| {
                Problem::conflict("a request with this Idempotency-Key is in progress")
            });
        }
        stored.map_err(db_error)?;
    }
    tx.commit().map_err(db_error)?;
    let mut response = json(201, &body);
    response.set_header("location", format!("{BASE}/{}", content.id));
    response.set_header("etag", content.etag());
    Ok(response)
}

/// The stored answer to an earlier request with this key, if there was one.
fn replay(
    db: &Connection,
    caller: &str,
    key: &str,
    request_hash: &str,
) -> Result<Option<Response>, Problem> {
    let rows = db
        .query(
            "SELECT request_hash, status, response FROM idempotency_keys WHERE caller = $1 AND idempotency_key = $2",
            &[Value::Text(caller.to_string()), Value::Text(key.to_string())],
        )
        .map_err(db_error)?;
    let Some(row) = rows.rows.first() else {
        return Ok(None);
    };
    if store::text(&row[0]) != request_hash {
        return Err(Problem::new(
            422,
            "Idempotency-Key reused",
            "this Idempotency-Key was used with a different request body",
        ));
    }
    let body: Json = serde_json::from_str(&store::text(&row[2])).unwrap_or(Json::Null);
    let mut response = json(store::integer(&row[1]) as u16, &body);
    if let Some(id) = body["id"].as_str() {
        response.set_header("location", format!("{BASE}/{id}"));
        if let Some(version) = body["version"].as_i64() {
            response.set_header("etag", format!("\"{id}-v{version}\""));
        }
    }
    response.set_header("idempotent-replayed", "true");
    Ok(Some(response))
}

/// `If-Match` is required on writes: 428 without it, 412 when stale.
fn check_if_match(request: &Request, content: &Content) -> Result<(), Problem> {
    let Some(value) = header(request, "if-match") else {
        return Err(Problem::new(
            428,
            "Precondition required",
            "send If-Match with the ETag you read, so concurrent edits are not lost",
        ));
    };
    let etag = content.etag();
    if value
        .split(',')
        .any(|t| t.trim() == etag || t.trim() == "*")
    {
        Ok(())
    } else {
        Err(Problem::new(
            412,
            "Precondition failed",
            "the content changed since you read it: fetch it again",
        )
        .with_header("etag", etag))
    }
}

/// Saves `next` (a new version of `old`) with its events; 412 if another write won.
fn save(
    db: &Connection,
    old: &Content,
    next: &Content,
    editor: &str,
    events: &[(&str, Json)],
) -> Result<(), Problem> {
    let tx = db.begin().map_err(db_error)?;
    if !store::replace(&tx, old, next, editor)? {
        return Err(Problem::new(
            412,
            "Precondition failed",
            "the content changed while this write was in progress: fetch it again",
        ));
    }
    for (kind, data) in events {
        events::publish(&tx, kind, &next.id, data.clone())?;
    }
    tx.commit().map_err(db_error)?;
    cache::written(old, next);
    Ok(())
}

/// Saves `draft` as the next version of `old` and answers it.
fn save_edit(
    db: &Connection,
    old: &Content,
    draft: Draft,
    editor: &str,
) -> Result<Response, Problem> {
    let next = next_version(old, draft);
    save(
        db,
        old,
        &next,
        editor,
        &[("ContentUpdated", summary(&next))],
    )?;
    Ok(item_response(200, &next))
}

fn next_version(old: &Content, draft: Draft) -> Content {
    Content {
        title: draft.title,
        description: draft.description,
        body: draft.body,
        kind: draft.kind,
        categories: draft.categories,
        tags: draft.tags,
        media_ids: draft.media_ids,
        metadata: draft.metadata,
        scheduled_at: draft.scheduled_at,
        required_tier: draft.required_tier,
        ..old.next_version()
    }
}

/// PUT replaces every writable field; PATCH changes those present.
pub fn update(request: &Request, id: &str, replace: bool) -> Result<Response, Problem> {
    let (caller, editor) = writer(request)?;
    let db = store::open()?;
    let old = writable(&db, &caller, id)?;
    check_if_match(request, &old)?;
    let body = JsonBody::parse(request)?;
    if body.has("status") {
        return Err(Problem::invalid_field(
            "status",
            "changes through POST /content/{id}/transitions",
        ));
    }
    let draft = if replace {
        input::full(&body)?
    } else {
        input::merge(&body, Draft::of(&old))?
    };
    check_categories(&db, &draft)?;
    save_edit(&db, &old, draft, &editor)
}

/// Soft delete; `?purge=true` (admins) removes the item and its history.
#[utoipa::path(
    delete,
    path = "/api/v1/content/{id}",
    operation_id = "deleteContent",
    tag = "content",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "The content id (a UUID)"),
        ("purge" = Option<bool>, Query, nullable = false, description = "true: remove the item and its history (admins)"),
    ),
    responses(
        (status = 204, description = "Deleted (soft, unless purged)"),
        (status = 401, description = "No valid access token", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not the author or an admin (purging: not an admin)", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such content, or not visible to the caller", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 412, description = "Another write changed the item meanwhile", body = super::bodies::ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn delete(request: &Request, id: &str) -> Result<Response, Problem> {
    let (caller, editor) = writer(request)?;
    let purge = query_pairs(request)
        .iter()
        .any(|(k, v)| k == "purge" && v == "true");
    let db = store::open()?;
    if purge {
        if !caller.is_admin() {
            return Err(Problem::forbidden("only admins may purge content"));
        }
        let content = store::get(&db, id)?.ok_or_else(|| Problem::not_found("no such content"))?;
        let tx = db.begin().map_err(db_error)?;
        store::purge(&tx, &content)?;
        events::publish(
            &tx,
            "ContentDeleted",
            &content.id,
            json!({"id": content.id, "purged": true}),
        )?;
        tx.commit().map_err(db_error)?;
        cache::purged(&content.id);
        cache::lists_changed();
        return Ok(no_content());
    }
    let old = writable(&db, &caller, id)?;
    let next = Content {
        deleted_at: Some(now_rfc3339()),
        scheduled_at: None,
        ..old.next_version()
    };
    save(
        &db,
        &old,
        &next,
        &editor,
        &[("ContentDeleted", json!({"id": old.id, "purged": false}))],
    )?;
    Ok(no_content())
}

#[utoipa::path(
    get,
    path = "/api/v1/content/{id}/revisions",
    operation_id = "listRevisions",
    tag = "content",
    security((), ("bearer" = [])),
    params(
        ("id" = String, Path, description = "The content id (a UUID)"),
    ),
    responses(
        (status = 200, description = "The revisions, newest first", body = super::bodies::RevisionList),
        (status = 401, description = "The access token was refused", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The caller may not change this item (only its author or an admin)", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such content, or not visible to the caller", body = super::bodies::ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn revisions(request: &Request, id: &str) -> Result<Response, Problem> {
    let caller = caller(request)?;
    let db = store::open()?;
    writable(&db, &caller, id)?;
    let items: Vec<Json> = store::revisions(&db, id)?
        .into_iter()
        .map(|r| {
            json!({
                "revision": r.revision,
                "authorId": r.author_id,
                "createdAt": r.created_at,
                "_links": { "self": { "href": format!("{BASE}/{id}/revisions/{}", r.revision) } },
            })
        })
        .collect();
    Ok(json(200, &json!({ "items": items })))
}

fn revision_number(raw: &str) -> Result<i64, Problem> {
    raw.parse::<i64>()
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| Problem::not_found("no such revision"))
}

#[utoipa::path(
    get,
    path = "/api/v1/content/{id}/revisions/{n}",
    operation_id = "getRevision",
    tag = "content",
    security((), ("bearer" = [])),
    params(
        ("id" = String, Path, description = "The content id (a UUID)"),
        ("n" = i64, Path, description = "The revision number, from 1"),
    ),
    responses(
        (status = 200, description = "The revision with the item as it left it", body = super::bodies::RevisionDetail),
        (status = 401, description = "The access token was refused", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The caller may not change this item (only its author or an admin)", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such content or revision", body = super::bodies::ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn revision(request: &Request, id: &str, n: &str) -> Result<Response, Problem> {
    let caller = caller(request)?;
    let db = store::open()?;
    writable(&db, &caller, id)?;
    let r = store::revision(&db, id, revision_number(n)?)?
        .ok_or_else(|| Problem::not_found("no such revision"))?;
    Ok(json(
        200,
        &json!({
            "revision": r.revision,
            "authorId": r.author_id,
            "createdAt": r.created_at,
            "content": r.snapshot,
        }),
    ))
}

/// Makes a new revision whose fields are those of revision `n` (status stays).
#[utoipa::path(
    post,
    path = "/api/v1/content/{id}/revisions/{n}/restore",
    operation_id = "restoreRevision",
    tag = "content",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "The content id (a UUID)"),
        ("n" = i64, Path, description = "The revision to restore the fields of"), ("If-Match" = Option<String>, Header, nullable = false, description = "Checked when sent"),
    ),
    responses(
        (status = 200, description = "The item, as a new version with the fields of revision n (its status unchanged)", body = super::bodies::ContentItem, headers(("etag" = String, description = "`\"<id>-v<version>\"`"))),
        (status = 401, description = "No valid access token", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The caller may not change this item (only its author or an admin)", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such content or revision", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 412, description = "If-Match is stale: the item changed since it was read", body = super::bodies::ProblemDetails, content_type = "application/problem+json", headers(("etag" = String, description = "The current ETag")))
    )
)]
pub fn restore(request: &Request, id: &str, n: &str) -> Result<Response, Problem> {
    let (caller, editor) = writer(request)?;
    let db = store::open()?;
    let old = writable(&db, &caller, id)?;
    if header(request, "if-match").is_some() {
        check_if_match(request, &old)?;
    }
    let snapshot = store::revision(&db, id, revision_number(n)?)?
        .and_then(|r| r.snapshot)
        .ok_or_else(|| Problem::not_found("no such revision"))?;
    let mut draft = Draft::of(&snapshot);
    draft.categories = categories::existing(&db, &draft.categories)?;
    save_edit(&db, &old, draft, &editor)
}

/// `{"to": status}`: a workflow step. Publishing an item whose `scheduledAt`
/// is in the future schedules it instead (202); the host's timer publishes it then.
#[utoipa::path(
    post,
    path = "/api/v1/content/{id}/transitions",
    operation_id = "transitionContent",
    tag = "content",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "The content id (a UUID)"),
        ("If-Match" = Option<String>, Header, nullable = false, description = "Checked when sent"),
    ),
    request_body = super::bodies::TransitionRequest,
    responses(
        (status = 200, description = "The item in its new status", body = super::bodies::ContentItem, headers(("etag" = String, description = "`\"<id>-v<version>\"`"))),
        (status = 202, description = "Publishing waits for `scheduledAt`", body = super::bodies::Scheduled),
        (status = 400, description = "The body is not a JSON object", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not the author or an admin, or publishing without the admin role", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such content, or not visible to the caller", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "The workflow does not allow this step; `allowed` lists those the caller may take", body = super::bodies::TransitionConflict, content_type = "application/problem+json"),
        (status = 412, description = "If-Match is stale: the item changed since it was read", body = super::bodies::ProblemDetails, content_type = "application/problem+json", headers(("etag" = String, description = "The current ETag"))),
        (status = 415, description = "The body is not JSON", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid; `errors` names it", body = super::bodies::ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn transition(request: &Request, id: &str) -> Result<Response, Problem> {
    let (caller, editor) = writer(request)?;
    let db = store::open()?;
    let old = writable(&db, &caller, id)?;
    if header(request, "if-match").is_some() {
        check_if_match(request, &old)?;
    }
    let body = JsonBody::parse(request)?;
    body.only(&["to"])?;
    let to = body.required_str("to")?;
    if !STATUSES.contains(&to) {
        return Err(Problem::invalid_field(
            "to",
            format!("must be one of {}", STATUSES.join(", ")),
        ));
    }
    let allowed: Vec<&str> = next_statuses(&old.status)
        .iter()
        .copied()
        .filter(|s| may_transition(&caller, &old, s))
        .collect();
    if !next_statuses(&old.status).contains(&to) {
        return Err(Problem::conflict(format!(
            "content in {} cannot move to {to}; allowed: {}",
            old.status,
            if allowed.is_empty() {
                "none".to_string()
            } else {
                allowed.join(", ")
            }
        ))
        .with_extension("allowed", json!(allowed)));
    }
    if !may_transition(&caller, &old, to) {
        return Err(Problem::forbidden(format!(
            "moving content to {to} needs the admin role"
        )));
    }
    let due_later = old
        .scheduled_at
        .as_deref()
        .and_then(parse_rfc3339_ms)
        .is_some_and(|at| at > now_ms());
    if to == "published" && due_later {
        return Ok(json(
            202,
            &json!({
                "id": old.id,
                "status": old.status,
                "scheduledAt": old.scheduled_at,
                "message": "the content publishes itself at scheduledAt",
            }),
        ));
    }
    let next = old.with_status(to);
    let mut events = vec![(
        "ContentStatusChanged",
        json!({
            "id": old.id, "from": old.status, "to": to, "status": to, "version": next.version,
            "title": next.title, "type": next.kind, "authorId": next.author_id,
            "mediaIds": next.media_ids, "requiredTier": next.required_tier,
        }),
    )];
    if to == "published" {
        events.push(("ContentPublished", summary(&next)));
    }
    save(&db, &old, &next, &editor, &events)?;
    Ok(item_response(200, &next))
}

/// Cancels a scheduled publication.
#[utoipa::path(
    delete,
    path = "/api/v1/content/{id}/schedule",
    operation_id = "cancelSchedule",
    tag = "content",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "The content id (a UUID)"),
    ),
    responses(
        (status = 204, description = "The schedule is cancelled"),
        (status = 401, description = "No valid access token", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The caller may not change this item (only its author or an admin)", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such content, or it is not scheduled", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 412, description = "Another write changed the item meanwhile", body = super::bodies::ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn cancel_schedule(request: &Request, id: &str) -> Result<Response, Problem> {
    let (caller, editor) = writer(request)?;
    let db = store::open()?;
    let old = writable(&db, &caller, id)?;
    if old.scheduled_at.is_none() {
        return Err(Problem::not_found("the content is not scheduled"));
    }
    let next = Content {
        scheduled_at: None,
        ..old.next_version()
    };
    save(
        &db,
        &old,
        &next,
        &editor,
        &[("ContentUpdated", summary(&next))],
    )?;
    Ok(no_content())
}

const SORTS: [(&str, &str, bool); 4] = [
    ("createdAt", "created_at", true),
    ("updatedAt", "updated_at", true),
    ("publishedAt", "published_at", true),
    ("title", "title_key", false),
];

/// `GET /content`: filters, sorting, keyset (default) or page-number paging,
/// cheap totals, field selection.
#[utoipa::path(
    get,
    path = "/api/v1/content",
    operation_id = "listContent",
    tag = "content",
    security((), ("bearer" = [])),
    params(
        ("status" = Option<super::bodies::ContentStatus>, Query, nullable = false, description = "Anonymous callers and consumers see published items only; creators also their own"),
        ("type" = Option<super::bodies::ContentType>, Query, nullable = false),
        ("category" = Option<String>, Query, nullable = false, description = "A category id"),
        ("tag" = Option<String>, Query, nullable = false),
        ("authorId" = Option<String>, Query, nullable = false),
        ("q" = Option<String>, Query, nullable = false, description = "Title prefix, case-insensitive"),
        ("publishedFrom" = Option<String>, Query, nullable = false, format = DateTime, description = "RFC 3339 UTC (`Z`), inclusive"),
        ("publishedTo" = Option<String>, Query, nullable = false, format = DateTime, description = "RFC 3339 UTC (`Z`), exclusive"),
        ("scheduledFrom" = Option<String>, Query, nullable = false, format = DateTime, description = "Items scheduled to publish at or after this RFC 3339 UTC (`Z`) time"),
        ("scheduledTo" = Option<String>, Query, nullable = false, format = DateTime, description = "Items scheduled to publish before this RFC 3339 UTC (`Z`) time"),
        ("page" = Option<u32>, Query, nullable = false, minimum = 1, maximum = 10000, description = "Page-number paging (`_links` then page by number); without it, and without `cursor`, the first page of keyset paging"),
        ("limit" = Option<u32>, Query, nullable = false, minimum = 1, maximum = 100, description = "Default 20"),
        ("cursor" = Option<String>, Query, nullable = false, description = "Keyset paging (the default): `pagination.nextCursor` or `prevCursor` of a page of this list, with the same sort; not with `page`"),
        ("total" = Option<String>, Query, nullable = false, description = "`exact`: count every match (otherwise a list filtered by more than status and type stops counting past 10000, `totalExact: false`)"),
        ("sort" = Option<super::bodies::ContentSort>, Query, nullable = false, description = "Default -createdAt"),
        ("fields" = Option<String>, Query, nullable = false, description = "Comma-separated content fields to return (`_links` always comes)"),
    ),
    responses(
        (status = 200, description = "One page", body = super::bodies::ContentPage, headers(("cache-control" = String, description = "Published-only lists (anonymous callers and consumers): `public, max-age=60, stale-while-revalidate=300, stale-if-error=86400`; creators' and admins' lists: `no-store`"), ("surrogate-key" = String, description = "Published-only lists: `content-list content`, plus `content-type:<type>` when filtered by `type`; space-separated (Fastly)"), ("cache-tag" = String, description = "The same keys, comma-separated (Cloudflare)"), ("vary" = String, description = "`authorization` on published-only lists"))),
        (status = 401, description = "The access token was refused", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "A query parameter is invalid or unknown; `errors` names it", body = super::bodies::ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn list(request: &Request) -> Result<Response, Problem> {
    let caller = caller(request)?;
    let pairs = query_pairs(request);
    let mut q = ListQuery::new(Order {
        column: "created_at",
        timestamp: true,
        descending: true,
    });
    let mut sort_name = "-createdAt".to_string();
    let mut cursor: Option<String> = None;
    let mut page_given = false;
    let mut fields: Option<Vec<String>> = None;
    let mut kind: Option<String> = None;
    for (name, value) in &pairs {
        match name.as_str() {
            "status" => {
                if !STATUSES.contains(&value.as_str()) {
                    return Err(Problem::invalid_field(
                        "status",
                        format!("must be one of {}", STATUSES.join(", ")),
                    ));
                }
                q.status(value);
            }
            "type" => {
                if !KINDS.contains(&value.as_str()) {
                    return Err(Problem::invalid_field(
                        "type",
                        format!("must be one of {}", KINDS.join(", ")),
                    ));
                }
                q.kind(value);
                kind = Some(value.clone());
            }
            "category" => q.condition(
                "id IN (SELECT content_id FROM content_categories WHERE category_id = $?)",
                Value::Text(value.to_lowercase()),
            ),
            "tag" => q.condition(
                "id IN (SELECT content_id FROM content_tags WHERE tag = $?)",
                Value::Text(value.trim().to_lowercase()),
            ),
            "authorId" => q.condition("author_id = $?", Value::Text(value.clone())),
            "q" => {
                let escaped = value
                    .to_lowercase()
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_");
                q.condition(
                    "title_key LIKE $? ESCAPE '\\'",
                    Value::Text(format!("{escaped}%")),
                );
            }
            "publishedFrom" => q.condition(
                "published_at >= $?",
                Value::Timestamp(input::time("publishedFrom", value)?),
            ),
            "publishedTo" => q.condition(
                "published_at < $?",
                Value::Timestamp(input::time("publishedTo", value)?),
            ),
            "scheduledFrom" => q.condition(
                "scheduled_at >= $?",
                Value::Timestamp(input::time("scheduledFrom", value)?),
            ),
            "scheduledTo" => q.condition(
                "scheduled_at < $?",
                Value::Timestamp(input::time("scheduledTo", value)?),
            ),
            "page" => {
                page_given = true;
                q.page = value
                    .parse()
                    .ok()
                    .filter(|p| (1..=10_000).contains(p))
                    .ok_or_else(|| {
                        Problem::invalid_field("page", "must be a number from 1 to 10000")
                    })?
            }
            "limit" => {
                q.limit = value
                    .parse()
                    .ok()
                    .filter(|l| (1..=100).contains(l))
                    .ok_or_else(|| Problem::invalid_field("limit", "must be from 1 to 100"))?
            }
            "sort" => sort_name = value.clone(),
            "total" if value == "exact" => q.totals = Totals::Exact,
            "total" => return Err(Problem::invalid_field("total", "can only be `exact`")),
            "cursor" => cursor = Some(value.clone()),
            "fields" => {
                fields = Some(
                    value
                        .split(',')
                        .map(|f| f.trim().to_string())
                        .filter(|f| !f.is_empty())
                        .collect(),
                )
            }
            other => {
                return Err(Problem::invalid_field(
                    other,
                    "is not a known query parameter",
                ));
            }
        }
    }
    let (descending, field) = match sort_name.strip_prefix('-') {
        Some(f) => (true, f),
        None => (false, sort_name.as_str()),
    };
    let Some((_, column, timestamp)) = SORTS.iter().find(|(name, _, _)| *name == field) else {
        return Err(Problem::invalid_field(
            "sort",
            "must be createdAt, updatedAt, publishedAt or title, with `-` for descending",
        ));
    };
    q.order = Order {
        column,
        timestamp: *timestamp,
        descending,
    };
    if *column == "published_at" {
        q.plain_condition("published_at IS NOT NULL");
    }
    match &caller {
        Caller::User {
            role: Role::Admin, ..
        } => {}
        Caller::User {
            id,
            role: Role::Creator,
        } => q.condition(
            "(status = 'published' OR author_id = $?)",
            Value::Text(id.clone()),
        ),
        _ => q.status("published"),
    }
    if let Some(cursor) = &cursor {
        if page_given {
            return Err(Problem::invalid_field(
                "page",
                "pages by number or by `cursor`, not both",
            ));
        }
        q.position = Some(decode_cursor(cursor, &sort_name, q.order.timestamp)?);
        q.totals = Totals::Skip;
    }
    if let Some(fields) = &fields {
        let known = [
            "id",
            "title",
            "description",
            "body",
            "status",
            "type",
            "categories",
            "tags",
            "mediaIds",
            "authorId",
            "metadata",
            "publishedAt",
            "scheduledAt",
            "createdAt",
            "updatedAt",
            "version",
        ];
        if let Some(bad) = fields.iter().find(|f| !known.contains(&f.as_str())) {
            return Err(Problem::invalid_field(
                "fields",
                format!("`{bad}` is not a content field"),
            ));
        }
    }
    // Everyone but creators and admins sees the same published-only list.
    let public = !matches!(
        caller,
        Caller::User {
            role: Role::Admin | Role::Creator,
            ..
        }
    );
    // A public list may sit in a shared cache; the others are the caller's own.
    let shared = public.then(|| cdn::content_list_keys(kind.as_deref()));
    let page_body = move || -> Result<Vec<u8>, Problem> {
        let order = q.order;
        let (page, limit) = (q.page, q.limit);
        let came_before = q.position.as_ref().map(|p| p.before);
        let result = store::list(&store::open()?, q)?;
        // Which neighbours the page has: a page before a position has the
        // position after it, one after a position has it before.
        let (more_after, more_before) = match came_before {
            None => (result.has_more, false),
            Some(false) => (result.has_more, true),
            Some(true) => (true, result.has_more),
        };
        let position = |c: &Content, before: bool| {
            encode_cursor(&sort_name, &store::order_value(&order, c), &c.id, before)
        };
        let next_cursor = more_after
            .then(|| result.items.last().map(|c| position(c, false)))
            .flatten();
        let prev_cursor = more_before
            .then(|| result.items.first().map(|c| position(c, true)))
            .flatten();
        let items: Vec<Json> = result
            .items
            .iter()
            .map(|c| {
                // Lists are summaries (and shared between readers): a gated
                // item is its preview in them; the item itself is whole for
                // whoever holds its tier.
                if c.is_gated_for(&caller) {
                    project(previewed(&c.preview()), fields.as_deref())
                } else {
                    project(with_links(c), fields.as_deref())
                }
            })
            .collect();
        let query_without = |drop: &[&str], extra: &[(&str, String)]| {
            let mut parts: Vec<String> = pairs
                .iter()
                .filter(|(k, _)| !drop.contains(&k.as_str()))
                .map(|(k, v)| format!("{k}={}", encode(v)))
                .collect();
            parts.extend(extra.iter().map(|(k, v)| format!("{k}={}", encode(v))));
            if parts.is_empty() {
                BASE.to_string()
            } else {
                format!("{BASE}?{}", parts.join("&"))
            }
        };
        let mut links = Map::new();
        links.insert("self".into(), json!({ "href": query_without(&[], &[]) }));
        if page_given {
            if result.has_more {
                links.insert(
                "next".into(),
                json!({ "href": query_without(&["page"], &[("page", (page + 1).to_string())]) }),
            );
            }
            if page > 1 {
                links.insert(
                "prev".into(),
                json!({ "href": query_without(&["page"], &[("page", (page - 1).to_string())]) }),
            );
            }
        } else {
            for (rel, cursor) in [("next", &next_cursor), ("prev", &prev_cursor)] {
                if let Some(cursor) = cursor {
                    links.insert(
                    rel.into(),
                    json!({ "href": query_without(&["cursor"], &[("cursor", cursor.clone())]) }),
                );
                }
            }
        }
        let mut pagination = json!({ "limit": limit, "nextCursor": next_cursor });
        if let Some(cursor) = &prev_cursor {
            pagination["prevCursor"] = json!(cursor);
        }
        if let Some((total, exact)) = result.total {
            pagination["page"] = json!(page);
            pagination["total"] = json!(total);
            pagination["totalExact"] = json!(exact);
        }
        Ok(serde_json::to_vec(
            &json!({ "items": items, "pagination": pagination, "_links": links }),
        )
        .expect("lists serialize"))
    };
    // Requests that miss the same public page together compute it once.
    let body = if public {
        cache::list_or_fill(request.query(), page_body)?
    } else {
        page_body()?
    };
    Ok(list_response(body, shared.as_deref()))
}

/// How long a browser or CDN keeps a public list before revalidating.
const LIST_MAX_AGE: u32 = 60;

/// A list page: with `shared` keys, public and kept by a CDN under them (it
/// varies with `Authorization`, since creators and admins see more at the
/// same address); without, `no-store`.
fn list_response(body: Vec<u8>, shared: Option<&[String]>) -> Response {
    let mut response = Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(body)
        .build();
    if let Some(keys) = shared {
        cdn::shared(&mut response, LIST_MAX_AGE, keys);
        response.set_header("vary", "authorization");
    }
    response
}

fn project(item: Json, fields: Option<&[String]>) -> Json {
    let Some(fields) = fields else { return item };
    let Json::Object(map) = item else { return item };
    Json::Object(
        map.into_iter()
            .filter(|(k, _)| k == "_links" || fields.iter().any(|f| f == k))
            .collect(),
    )
}

fn encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A keyset position: `[sort, value, id, "a" | "b"]` (after or before it),
/// base64url. Cursors from before `"b"` existed lack the fourth part.
fn encode_cursor(sort: &str, value: &str, id: &str, before: bool) -> String {
    let side = if before { "b" } else { "a" };
    b64url(json!([sort, value, id, side]).to_string().as_bytes())
}

/// The longest cursor this list gives out is far shorter.
const MAX_CURSOR_BYTES: usize = 2048;

fn decode_cursor(cursor: &str, sort: &str, timestamp: bool) -> Result<store::Position, Problem> {
    let invalid = || {
        Problem::invalid_field(
            "cursor",
            "is not a cursor this list gave out (for this sort)",
        )
    };
    if cursor.len() > MAX_CURSOR_BYTES {
        return Err(invalid());
    }
    let bytes = b64url_decode(cursor).ok_or_else(invalid)?;
    let parts: Vec<String> = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    let (value, id, before) = match parts.as_slice() {
        [s, value, id] if s == sort => (value, id, false),
        [s, value, id, side] if s == sort && (side == "a" || side == "b") => {
            (value, id, side == "b")
        }
        _ => return Err(invalid()),
    };
    // What the database would refuse as a parameter is refused here, as
    // the client's mistake.
    if !is_uuid(id) || (timestamp && parse_rfc3339_ms(value).is_none()) {
        return Err(invalid());
    }
    Ok(store::Position {
        value: value.clone(),
        id: id.clone(),
        before,
    })
}

#[utoipa::path(
    get,
    path = "/api/v1/tags",
    operation_id = "listTags",
    tag = "content",
    params(
        ("limit" = Option<u32>, Query, nullable = false, minimum = 1, maximum = 1000, description = "Default 100"),
    ),
    responses(
        (status = 200, description = "Tags of published items with their counts, most used first", body = super::bodies::TagList, headers(("cache-control" = String, description = "`public, max-age=60, stale-while-revalidate=300, stale-if-error=86400`"), ("surrogate-key" = String, description = "`content-list content`, space-separated (Fastly)"), ("cache-tag" = String, description = "The same keys, comma-separated (Cloudflare)"))),
        (status = 422, description = "A query parameter is invalid or unknown", body = super::bodies::ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn tags(request: &Request) -> Result<Response, Problem> {
    let mut limit = 100;
    for (name, value) in query_pairs(request) {
        match name.as_str() {
            "limit" => {
                limit = value
                    .parse()
                    .ok()
                    .filter(|l| (1..=1000).contains(l))
                    .ok_or_else(|| Problem::invalid_field("limit", "must be from 1 to 1000"))?
            }
            other => {
                return Err(Problem::invalid_field(
                    other,
                    "is not a known query parameter",
                ));
            }
        }
    }
    let items: Vec<Json> = store::tag_counts(&store::open()?, limit)?
        .into_iter()
        .map(|(tag, count)| json!({ "tag": tag, "count": count }))
        .collect();
    // Counts of published items only: the same for everyone.
    let mut response = json(200, &json!({ "items": items }));
    cdn::shared(&mut response, LIST_MAX_AGE, &cdn::content_list_keys(None));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
        response.header(name).and_then(|v| v.as_str())
    }

    // `folio_guest::cdn` is tested here: this crate's tests run natively.
    #[test]
    fn surrogate_keys_come_in_both_forms() {
        let keys = cdn::content_keys("0f8c2a4e-1b2c-4d3e-8f90-123456789abc", "article");
        assert_eq!(
            cdn::key_headers(&keys),
            vec![
                (
                    "surrogate-key".to_string(),
                    "content:0f8c2a4e-1b2c-4d3e-8f90-123456789abc content-type:article content"
                        .to_string()
                ),
                (
                    "cache-tag".to_string(),
                    "content:0f8c2a4e-1b2c-4d3e-8f90-123456789abc,content-type:article,content"
                        .to_string()
                ),
            ]
        );
        assert_eq!(
            cdn::content_list_keys(Some("video")),
            ["content-list", "content", "content-type:video"]
        );
        assert_eq!(cdn::content_list_keys(None), ["content-list", "content"]);
        assert_eq!(cdn::category_keys(None), ["categories"]);
        assert_eq!(
            cdn::category_keys(Some("c1")),
            ["categories", "category:c1"]
        );
        assert_eq!(cdn::media_keys("m1"), ["media:m1", "media"]);
    }

    #[test]
    fn keys_are_cleaned_and_deduplicated() {
        assert_eq!(cdn::clean_key("a b,c\"d\né"), "a_b_c_d__");
        assert_eq!(cdn::clean_key(&"x".repeat(300)).len(), 256);
        let keys = ["a b".to_string(), "a_b".into(), String::new(), "c,d".into()];
        assert_eq!(
            cdn::key_headers(&keys),
            vec![
                ("surrogate-key".to_string(), "a_b c_d".to_string()),
                ("cache-tag".to_string(), "a_b,c_d".to_string()),
            ]
        );
        assert!(cdn::key_headers(&[String::new()]).is_empty());
    }

    #[test]
    fn shared_answers_replace_cache_control() {
        let mut response = json(200, &json!({}));
        assert_eq!(header(&response, "cache-control"), Some("no-store"));
        cdn::shared(&mut response, 0, &cdn::content_keys("i", "video"));
        assert_eq!(
            header(&response, "cache-control"),
            Some("public, max-age=0, stale-while-revalidate=300, stale-if-error=86400")
        );
        assert_eq!(
            header(&response, "surrogate-key"),
            Some("content:i content-type:video content")
        );
        assert_eq!(
            header(&response, "cache-tag"),
            Some("content:i,content-type:video,content")
        );
    }

    #[test]
    fn only_public_lists_are_shared() {
        let keys = cdn::content_list_keys(Some("podcast"));
        let public = list_response(b"{}".to_vec(), Some(&keys));
        assert_eq!(
            header(&public, "cache-control"),
            Some("public, max-age=60, stale-while-revalidate=300, stale-if-error=86400")
        );
        assert_eq!(
            header(&public, "surrogate-key"),
            Some("content-list content content-type:podcast")
        );
        assert_eq!(
            header(&public, "cache-tag"),
            Some("content-list,content,content-type:podcast")
        );
        assert_eq!(header(&public, "vary"), Some("authorization"));
        let own = list_response(b"{}".to_vec(), None);
        assert_eq!(header(&own, "cache-control"), Some("no-store"));
        assert_eq!(header(&own, "surrogate-key"), None);
        assert_eq!(header(&own, "cache-tag"), None);
    }
}
