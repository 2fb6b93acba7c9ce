//! The HTTP surface: routing to thin handlers. Uploads, resumable appends and
//! downloads stream their bodies; everything else reads JSON whole.

use folio_guest::auth::{Claims, Role, authenticate_authorization, require_role};
use folio_guest::cdn;
use folio_guest::http::{Problem, batch_ids, json, no_content};
use folio_guest::util::{is_uuid, new_id};
use spin_sdk::http::{IncomingRequest, Method, Response, ResponseOutparam};

use crate::delivery::{self, Reply, send_reply};
use crate::ingest::{self, FILE_FIELD, NewUpload};
use crate::model::{KINDS, STATUSES};
use crate::multipart::{self, FilePart};
use crate::resumable;
use crate::settings::Settings;
use crate::store::{self, ListFilter};
use crate::wire::{Head, RequestBody};
use crate::{events, processing};

const MAX_PAGE: u32 = 100;

pub fn handle(request: IncomingRequest, out: ResponseOutparam) {
    let head = Head::of(&request);
    let segments = head.segments();
    use Method::{Delete, Get, Head as HeadMethod, Options, Patch, Post, Put};
    let reply: Result<Reply, Problem> = match (segments.as_slice(), &head.method) {
        (["api", "v1", "openapi", "media.json"], Get) => {
            Ok(Reply::Whole(crate::openapi::document()))
        }
        (["api", "v1", "media"], Post) => whole(upload_form(&head, request)),
        (["api", "v1", "media"], Get) => whole(list(&head)),
        (["api", "v1", "media"], _) => Err(Problem::method_not_allowed("GET, POST")),
        (["api", "v1", "media", "uploads"], Options) => {
            Settings::load().map(|s| Reply::Whole(resumable::options(&s)))
        }
        (["api", "v1", "media", "uploads"], Post) => whole(with_caller(&head, |c| {
            resumable::create(&head, c, &Settings::load()?)
        })),
        (["api", "v1", "media", "uploads"], _) => Err(Problem::method_not_allowed("OPTIONS, POST")),
        (["api", "v1", "media", "uploads", id], HeadMethod) => whole(with_caller(&head, |c| {
            resumable::offset(&head, id, c, &Settings::load()?)
        })),
        (["api", "v1", "media", "uploads", id], Get) => {
            whole(with_caller(&head, |c| resumable::state(id, c)))
        }
        (["api", "v1", "media", "uploads", id], Patch) => whole(with_caller(&head, |c| {
            resumable::append(&head, id, c, RequestBody::of(request), &Settings::load()?)
        })),
        (["api", "v1", "media", "uploads", id], Delete) => {
            whole(with_caller(&head, |c| resumable::terminate(&head, id, c)))
        }
        (["api", "v1", "media", "uploads", _], _) => {
            Err(Problem::method_not_allowed("HEAD, GET, PATCH, DELETE"))
        }
        (["api", "v1", "media", "batch"], Get) => whole(batch(&head)),
        (["api", "v1", "media", "batch"], _) => Err(Problem::method_not_allowed("GET")),
        (["api", "v1", "media", id], _) if !is_uuid(id) => Err(delivery::not_found(id)),
        (["api", "v1", "media", id], Get) => whole(get(&head, id)),
        (["api", "v1", "media", id], Put) => whole(upload_raw(&head, id, request)),
        (["api", "v1", "media", id], Delete) => whole(delete(&head, id)),
        (["api", "v1", "media", _], _) => Err(Problem::method_not_allowed("GET, PUT, DELETE")),
        (["api", "v1", "media", id, "cancel"], Post) => whole(cancel(&head, id)),
        (["api", "v1", "media", _, "cancel"], _) => Err(Problem::method_not_allowed("POST")),
        (["api", "v1", "media", id, "content"], Get | HeadMethod) => delivery::content(&head, id),
        (["api", "v1", "media", _, "content"], _) => Err(Problem::method_not_allowed("GET, HEAD")),
        (["api", "v1", "media", id, "renditions", path @ ..], Get | HeadMethod)
            if !path.is_empty() =>
        {
            delivery::rendition(&head, id, &path.join("/"))
        }
        (["api", "v1", "media", _, "renditions", ..], _) => {
            Err(Problem::method_not_allowed("GET, HEAD"))
        }
        _ => Err(Problem::not_found("no such route")),
    };
    let reply = reply.unwrap_or_else(Reply::from);
    send_reply(out, reply, &head.method);
}

fn whole(result: Result<Response, Problem>) -> Result<Reply, Problem> {
    result.map(Reply::Whole)
}

fn caller(head: &Head) -> Result<Claims, Problem> {
    authenticate_authorization(head.header("authorization"))
}

fn with_caller(
    head: &Head,
    f: impl FnOnce(&Claims) -> Result<Response, Problem>,
) -> Result<Response, Problem> {
    f(&caller(head)?)
}

fn uploader(head: &Head) -> Result<Claims, Problem> {
    let claims = caller(head)?;
    require_role(&claims, &[Role::Creator, Role::Admin])?;
    Ok(claims)
}

/// A display name for the file, kept for `Content-Disposition`: no paths,
/// no control characters, at most 255 bytes.
pub fn clean_filename(name: &str, field: &str) -> Result<String, Problem> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or("").trim();
    if base.chars().any(char::is_control) {
        return Err(Problem::invalid_field(
            field,
            "must not contain control characters",
        ));
    }
    if base.len() > 255 {
        return Err(Problem::invalid_field(field, "must be at most 255 bytes"));
    }
    Ok(if base.is_empty() {
        "upload".into()
    } else {
        base.to_string()
    })
}

fn declared_length(head: &Head) -> Option<u64> {
    head.header("content-length").and_then(|v| v.parse().ok())
}

fn created(media: &crate::model::Media) -> Response {
    let mut response = json(201, &media.view());
    response.set_header("location", format!("/api/v1/media/{}", media.id));
    response
}

/// `POST /api/v1/media`: a `multipart/form-data` form with the file in field `file`.
#[utoipa::path(
    post,
    path = "/api/v1/media",
    operation_id = "uploadMediaForm",
    tag = "media",
    security(("bearer" = [])),
    request_body(content = crate::openapi::UploadForm, content_type = "multipart/form-data", description = "The file in field `file`; its type is read from its bytes"),
    responses(
        (status = 201, description = "Stored and recorded; processing follows", body = crate::model::MediaView, headers(("location" = String))),
        (status = 400, description = "A malformed form", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a creator or admin", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "Over the upload limit", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "Not a supported media type, or not a form", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Unreadable, empty or too many pixels: `errors` names `file`", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "A backend is unavailable", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub(crate) fn upload_form(head: &Head, request: IncomingRequest) -> Result<Response, Problem> {
    let claims = uploader(head)?;
    let settings = Settings::load()?;
    let boundary = head
        .header("content-type")
        .and_then(multipart::boundary)
        .ok_or_else(|| {
            Problem::new(
                415,
                "Unsupported media type",
                "upload with multipart/form-data (a boundary is required), or PUT the bytes to /api/v1/media/{id}",
            )
        })?;
    let part = FilePart::open(RequestBody::of(request), &boundary, FILE_FIELD)
        .map_err(|e| e.into_problem())?;
    let filename = clean_filename(part.filename.as_deref().unwrap_or(""), FILE_FIELD)?;
    let mut part = part;
    let media = ingest::ingest(
        &mut part,
        NewUpload {
            media_id: new_id(),
            owner_id: claims.sub,
            filename,
            declared_length: None,
            completes: None,
        },
        &settings,
    )
    .map_err(|e| e.into_problem())?;
    Ok(created(&media))
}

/// `PUT /api/v1/media/{id}`: the body is the file; the client picks the id
/// (a UUID), so a retry after a lost answer cannot make a second item.
#[utoipa::path(
    put,
    path = "/api/v1/media/{id}",
    operation_id = "uploadMedia",
    tag = "media",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "The media id (a UUID)"),
        ("filename" = Option<String>, Query, nullable = false, description = "The name to keep for downloads"),
    ),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The file; its type is read from its bytes, never from Content-Type"),
    responses(
        (status = 201, description = "Stored and recorded; processing follows", body = crate::model::MediaView, headers(("location" = String))),
        (status = 401, description = "No valid bearer token", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a creator or admin", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "Not a UUID", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "The id is taken, now or by a deleted item: media are never replaced, ids never used again", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "Over the upload limit", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "Not a supported media type", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Unreadable, empty or too many pixels: `errors` names `file`", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "A backend is unavailable", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub(crate) fn upload_raw(
    head: &Head,
    id: &str,
    request: IncomingRequest,
) -> Result<Response, Problem> {
    let claims = uploader(head)?;
    let settings = Settings::load()?;
    let filename = clean_filename(head.param("filename").unwrap_or(""), "filename")?;
    if let Some(existing) = store::get(&store::open()?, id)? {
        return Err(if existing.owner_id == claims.sub {
            ingest::already_exists(id)
        } else {
            delivery::not_found(id)
        });
    }
    let mut body = RequestBody::of(request);
    let media = ingest::ingest(
        &mut body,
        NewUpload {
            media_id: id.to_string(),
            owner_id: claims.sub,
            filename,
            declared_length: declared_length(head),
            completes: None,
        },
        &settings,
    )
    .map_err(|e| e.into_problem())?;
    Ok(created(&media))
}

/// Ready items to anyone; the rest to their owner and admins.
#[utoipa::path(
    get,
    path = "/api/v1/media/{id}",
    operation_id = "getMedia",
    tag = "media",
    params(
        ("id" = String, Path, description = "The media id (a UUID)"),
    ),
    responses(
        (status = 200, description = "The item: public once ready, before that its owner's and admins'", body = crate::model::MediaView, headers(("cache-control" = String, description = "Ready items: `public, max-age=60, stale-while-revalidate=300, stale-if-error=86400`; otherwise `no-store`"), ("surrogate-key" = String, description = "Ready items: `media:<id> media`, space-separated (Fastly)"), ("cache-tag" = String, description = "Ready items: the same keys, comma-separated (Cloudflare)"))),
        (status = 404, description = "No such item, or not yet visible to the caller", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub(crate) fn get(head: &Head, id: &str) -> Result<Response, Problem> {
    let conn = store::open()?;
    let media = store::get(&conn, id)?.ok_or_else(|| delivery::not_found(id))?;
    // Who may see it is who may fetch it; claims are `None` without a token
    // that verifies.
    let item = delivery::readable_by(&conn, media, caller(head).ok().as_ref())?
        .ok_or_else(|| delivery::not_found(id))?;
    let mut response = json(200, &item.media.view());
    if item.shared {
        cdn::shared(&mut response, 60, &cdn::media_keys(&item.media.id));
    } else {
        response.set_header("cache-control", "private, no-store");
    }
    Ok(response)
}

/// Ids one batch request may name.
pub const MAX_BATCH_IDS: usize = 100;

/// `GET /api/v1/media/batch?ids=a,b,c`: many items at once, each under the
/// rule of `GET /api/v1/media/{id}` (ready items to anyone, others to their
/// owner and admins); those the caller may not see, and unknown ids, are
/// left out. For the GraphQL component's batched loading.
#[utoipa::path(
    get,
    path = "/api/v1/media/batch",
    operation_id = "getMediaBatch",
    tag = "media",
    security((), ("bearer" = [])),
    params(
        ("ids" = String, Query, description = "Comma-separated media ids (UUIDs), 1-100"),
    ),
    responses(
        (status = 200, description = "The items visible to the caller, in the order asked", body = MediaBatch),
        (status = 422, description = "`ids` is missing, malformed or names more than 100; or an unknown parameter: `errors` names it", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub(crate) fn batch(head: &Head) -> Result<Response, Problem> {
    let ids = batch_ids(&head.query, "media", MAX_BATCH_IDS)?;
    // As `get`: a token that does not verify sees what anyone sees.
    let claims = caller(head).ok();
    let conn = store::open()?;
    let found = store::get_many(&conn, &ids)?;
    let mut items: Vec<crate::model::MediaView> = Vec::new();
    for media in ids
        .iter()
        .filter_map(|id| found.iter().find(|m| m.id == *id))
    {
        if let Some(item) = delivery::readable_by(&conn, media.clone(), claims.as_ref())? {
            items.push(item.media.view());
        }
    }
    Ok(json(200, &MediaBatch { items }))
}

/// The items of a batch request.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct MediaBatch {
    pub items: Vec<crate::model::MediaView>,
}

/// `GET /api/v1/media`: the caller's own items (admins: anyone's, `ownerId`
/// to filter), newest first, with `kind`, `status`, `mime` filters and a cursor.
#[utoipa::path(
    get,
    path = "/api/v1/media",
    operation_id = "listMedia",
    tag = "media",
    security(("bearer" = [])),
    params(
        ("kind" = Option<String>, Query, nullable = false, description = "image, video or audio"),
        ("status" = Option<String>, Query, nullable = false, description = "uploaded, processing, ready or failed"),
        ("mime" = Option<String>, Query, nullable = false),
        ("ownerId" = Option<String>, Query, nullable = false, description = "Admins: anyone's; others: their own only"),
        ("limit" = Option<u32>, Query, nullable = false, minimum = 1, maximum = 100),
        ("cursor" = Option<String>, Query, nullable = false, description = "`nextCursor` of the page before"),
    ),
    responses(
        (status = 200, description = "The caller's items (admins: all), newest first", body = MediaList),
        (status = 401, description = "No valid bearer token", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a creator or admin, or another user's list", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "A bad parameter: `errors` names it", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub(crate) fn list(head: &Head) -> Result<Response, Problem> {
    let claims = uploader(head)?;
    let is_admin = claims.has_any_role(&[Role::Admin]);
    for (name, _) in &head.query {
        if !["kind", "status", "mime", "ownerId", "limit", "cursor"].contains(&name.as_str()) {
            return Err(Problem::invalid_field(name, "is not a known parameter"));
        }
    }
    let one_of = |name: &str, allowed: &[&str]| -> Result<Option<String>, Problem> {
        match head.param(name) {
            None => Ok(None),
            Some(v) if allowed.contains(&v) => Ok(Some(v.to_string())),
            Some(_) => Err(Problem::invalid_field(
                name,
                format!("must be one of {allowed:?}"),
            )),
        }
    };
    let owner_id = match head.param("ownerId") {
        Some(owner) if is_admin || owner == claims.sub => Some(owner.to_string()),
        Some(_) => return Err(Problem::forbidden("only admins list other users' media")),
        None if is_admin => None,
        None => Some(claims.sub.clone()),
    };
    let limit = match head.param("limit") {
        None => 20,
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| Problem::invalid_field("limit", format!("must be 1 to {MAX_PAGE}")))?,
    };
    let before = match head.param("cursor") {
        None => None,
        Some(c) => Some(decode_cursor(c).ok_or_else(|| {
            Problem::invalid_field("cursor", "is not a cursor this service gave")
        })?),
    };
    let mut items = store::list(
        &store::open()?,
        &ListFilter {
            owner_id,
            kind: one_of("kind", &KINDS)?,
            status: one_of("status", &STATUSES)?,
            mime: head.param("mime").map(str::to_string),
            before,
            limit,
        },
    )?;
    let next = (items.len() > limit as usize).then(|| {
        items.truncate(limit as usize);
        let last = items.last().expect("a full page");
        encode_cursor(&last.created_at, &last.id)
    });
    let next_link = next.as_ref().map(|c| {
        let mut query: Vec<String> = head
            .query
            .iter()
            .filter(|(k, _)| k != "cursor")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        query.push(format!("cursor={c}"));
        format!("/api/v1/media?{}", query.join("&"))
    });
    Ok(json(
        200,
        &MediaList {
            items: items.iter().map(|m| m.view()).collect(),
            next_cursor: next,
            links: ListLinks { next: next_link },
        },
    ))
}

/// A page of media items, newest first.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MediaList {
    pub items: Vec<crate::model::MediaView>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
    #[serde(rename = "_links")]
    #[schema(rename = "_links")]
    pub links: ListLinks,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ListLinks {
    pub next: Option<String>,
}

/// A cancel request, taken.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CancelAccepted {
    pub id: String,
    pub cancel_requested: bool,
}

fn encode_cursor(created_at: &str, id: &str) -> String {
    folio_guest::util::b64url(format!("{created_at}|{id}").as_bytes())
}

fn decode_cursor(cursor: &str) -> Option<(String, String)> {
    let text = String::from_utf8(folio_guest::util::b64url_decode(cursor)?).ok()?;
    let (created_at, id) = text.split_once('|')?;
    (folio_guest::util::parse_rfc3339_ms(created_at).is_some() && is_uuid(id))
        .then(|| (created_at.to_string(), id.to_string()))
}

/// The owner or an admin; anyone else gets the same 404 as for a missing item.
fn owned(head: &Head, id: &str) -> Result<(Claims, crate::model::Media), Problem> {
    let claims = caller(head)?;
    let media = store::get(&store::open()?, id)?.ok_or_else(|| delivery::not_found(id))?;
    if media.owner_id != claims.sub && !claims.has_any_role(&[Role::Admin]) {
        return Err(delivery::not_found(id));
    }
    Ok((claims, media))
}

/// Deletes the record with `MediaDeleted` in one commit; a worker then
/// removes every stored object of the item.
#[utoipa::path(
    delete,
    path = "/api/v1/media/{id}",
    operation_id = "deleteMedia",
    tag = "media",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "The media id (a UUID)"),
    ),
    responses(
        (status = 204, description = "Deleted, with `MediaDeleted`; its objects are removed soon after"),
        (status = 401, description = "No valid bearer token", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such item of the caller's", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub(crate) fn delete(head: &Head, id: &str) -> Result<Response, Problem> {
    let (_, media) = owned(head, id)?;
    let conn = store::open()?;
    let tx = conn.begin().map_err(store::db_error)?;
    if store::delete(&tx, id)? {
        events::deleted(&tx, &media)?;
    }
    tx.commit().map_err(store::db_error)?;
    Ok(no_content())
}

/// Asks the running transcode to stop; the worker sees it within a second.
#[utoipa::path(
    post,
    path = "/api/v1/media/{id}/cancel",
    operation_id = "cancelMediaProcessing",
    tag = "media",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "The media id (a UUID)"),
    ),
    responses(
        (status = 202, description = "The running transcode stops within a second", body = CancelAccepted),
        (status = 401, description = "No valid bearer token", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such item of the caller's", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "Not waiting for or in processing", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub(crate) fn cancel(head: &Head, id: &str) -> Result<Response, Problem> {
    owned(head, id)?;
    if !store::request_cancel(&store::open()?, id)? {
        return Err(Problem::conflict(format!(
            "media {id} is not waiting for or in processing"
        )));
    }
    Ok(json(
        202,
        &CancelAccepted {
            id: id.to_string(),
            cancel_requested: true,
        },
    ))
}

/// The worker's dispatch on event type; the catalog events on `folio.media`
/// other than `MediaDeleted` are for other services.
pub fn handle_event(event_type: &str, media_id: &str) -> Result<processing::Outcome, Problem> {
    let processed = match event_type {
        events::PROCESS_IMAGE => processing::process_image(media_id),
        events::TRANSCODE => processing::transcode(media_id),
        events::DELETED => return processing::remove_objects(media_id),
        _ => return Ok(processing::Outcome::Done),
    };
    // The item says why this attempt failed, also when it was the last one.
    if let Err(problem) = &processed {
        let _ = store::open().and_then(|conn| store::fail(&conn, media_id, &problem.detail));
    }
    processed
}
