//! Resumable uploads, as the tus 1.0 protocol has them (core, creation,
//! termination, expiration): `POST` announces the length, each `PATCH`
//! appends at the current offset, `HEAD` tells the offset after a dropped
//! connection. Each PATCH's bytes become one stored part — also when the
//! connection breaks midway, so a resumed upload goes on from the last byte
//! that arrived. The last byte assembles the parts into the media item.

use folio_guest::auth::{Claims, Role, require_role};
use folio_guest::blobs::{Bucket, Download, Upload};
use folio_guest::http::Problem;
use folio_guest::util::{b64url, new_id, now_ms, random, rfc3339, uuid_from_hash};
use sha2::{Digest, Sha256};
use spin_sdk::http::Response;

use crate::ingest::{self, NewUpload};
use crate::model::Media;
use crate::settings::Settings;
use crate::store::{self, PendingUpload};
use crate::wire::{ByteSource, CHUNK, Head, RequestBody, SourceError};
use crate::{delivery, storage};

pub const TUS_VERSION: &str = "1.0.0";

fn tus_response(status: u16) -> spin_sdk::http::ResponseBuilder {
    let mut b = Response::builder();
    b.status(status)
        .header("tus-resumable", TUS_VERSION)
        .header("cache-control", "no-store");
    b
}

pub fn options(settings: &Settings) -> Response {
    tus_response(204)
        .header("tus-version", TUS_VERSION)
        .header("tus-extension", "creation,termination,expiration")
        .header("tus-max-size", settings.max_upload_bytes.to_string())
        .body(Vec::new())
        .build()
}

fn check_version(head: &Head) -> Result<(), Problem> {
    match head.header("tus-resumable") {
        Some(TUS_VERSION) => Ok(()),
        _ => Err(Problem::new(
            412,
            "Precondition failed",
            format!("send Tus-Resumable: {TUS_VERSION}"),
        )
        .with_header("tus-version", TUS_VERSION.into())),
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/media/uploads",
    operation_id = "createResumableUpload",
    tag = "uploads",
    security(("bearer" = [])),
    params(
        ("Tus-Resumable" = String, Header, description = "1.0.0"),
        ("Upload-Length" = u64, Header, description = "The file's size in bytes"),
        ("Upload-Metadata" = Option<String>, Header, nullable = false, description = "`filename <base64>`"),
    ),
    responses(
        (status = 201, description = "Created: PATCH the bytes to `Location`", headers(("location" = String), ("upload-expires" = String))),
        (status = 401, description = "No valid bearer token", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a creator or admin", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
        (status = 412, description = "Not Tus-Resumable 1.0.0", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "Over the upload limit", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "A bad header: `errors` names it", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub fn create(head: &Head, claims: &Claims, settings: &Settings) -> Result<Response, Problem> {
    require_role(claims, &[Role::Creator, Role::Admin])?;
    check_version(head)?;
    let length: u64 = head
        .header("upload-length")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| Problem::invalid_field("Upload-Length", "must give the size in bytes"))?;
    if length == 0 {
        return Err(Problem::invalid_field(
            "Upload-Length",
            "must be at least 1",
        ));
    }
    if length > settings.max_upload_bytes {
        return Err(ingest::too_large(settings.max_upload_bytes));
    }
    let filename = metadata_filename(head.header("upload-metadata").unwrap_or(""))?;
    let expires_ms = now_ms() + settings.upload_expiry_seconds as i64 * 1000;
    let upload = PendingUpload {
        // Longer than a UUID: the URL is all that identifies the upload to its HEAD.
        id: b64url(&random::<18>()),
        owner_id: claims.sub.clone(),
        length: length as i64,
        received: 0,
        part_keys: Vec::new(),
        filename,
        media_id: None,
        expires_at: rfc3339(expires_ms),
    };
    store::insert_upload(&store::open()?, &upload)?;
    Ok(tus_response(201)
        .header("location", format!("/api/v1/media/uploads/{}", upload.id))
        .header("upload-expires", delivery::http_date(expires_ms))
        .body(Vec::new())
        .build())
}

/// `filename <base64>` from Upload-Metadata; other keys are ignored.
fn metadata_filename(metadata: &str) -> Result<String, Problem> {
    use base64::Engine;
    for pair in metadata.split(',') {
        let mut words = pair.trim().split(' ');
        if words.next() == Some("filename") {
            let decoded = words
                .next()
                .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    Problem::invalid_field(
                        "Upload-Metadata",
                        "filename must be base64 of UTF-8 text",
                    )
                })?;
            return crate::api::clean_filename(&decoded, "Upload-Metadata");
        }
    }
    Ok("upload".into())
}

/// The caller's own, unexpired upload.
fn owned(id: &str, claims: &Claims) -> Result<PendingUpload, Problem> {
    let gone = || Problem::not_found(format!("there is no upload {id}"));
    let upload = store::get_upload(&store::open()?, id)?.ok_or_else(gone)?;
    if upload.owner_id != claims.sub {
        return Err(gone());
    }
    if folio_guest::util::parse_rfc3339_ms(&upload.expires_at).is_some_and(|at| at < now_ms()) {
        return Err(Problem::new(410, "Gone", format!("upload {id} expired")));
    }
    Ok(upload)
}

#[utoipa::path(
    head,
    path = "/api/v1/media/uploads/{upload}",
    operation_id = "getResumableUploadOffset",
    tag = "uploads",
    security(("bearer" = [])),
    params(
        ("upload" = String, Path),
        ("Tus-Resumable" = String, Header, description = "1.0.0"),
    ),
    responses(
        (status = 200, description = "Upload-Offset: where to resume. A complete upload whose last request ended before the file was taken in is taken in now, and Folio-Media-Id names the item", headers(("upload-offset" = u64), ("upload-length" = u64), ("folio-media-id" = String))),
        (status = 401, description = "No valid bearer token"),
        (status = 404, description = "No such upload of the caller's"),
        (status = 410, description = "Expired"),
        (status = 412, description = "Not Tus-Resumable 1.0.0"),
    )
)]
pub fn offset(
    head: &Head,
    id: &str,
    claims: &Claims,
    settings: &Settings,
) -> Result<Response, Problem> {
    check_version(head)?;
    let upload = owned(id, claims)?;
    let mut response = tus_response(200);
    response
        .header("upload-offset", upload.received.to_string())
        .header("upload-length", upload.length.to_string());
    // Every byte arrived but the request that brought the last ones ended
    // before the file was taken in (the client went away, the host was
    // stopped): a client that resumes sees a finished upload and sends no
    // more PATCHes, so this is where it gets finished.
    if upload.received == upload.length && upload.media_id.is_none() {
        let media = assemble(&upload, upload.part_keys.clone(), settings)?;
        with_media_headers(&mut response, &media);
    }
    Ok(response.body(Vec::new()).build())
}

fn with_media_headers(response: &mut spin_sdk::http::ResponseBuilder, media: &Media) {
    response.header("folio-media-id", media.id.clone()).header(
        "folio-media-location",
        format!("/api/v1/media/{}", media.id),
    );
}

#[utoipa::path(
    get,
    path = "/api/v1/media/uploads/{upload}",
    operation_id = "getResumableUpload",
    tag = "uploads",
    security(("bearer" = [])),
    params(("upload" = String, Path)),
    responses(
        (status = 200, description = "How far it got, and the item it became", body = UploadState),
        (status = 401, description = "No valid bearer token", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such upload of the caller's", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
        (status = 410, description = "Expired", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub fn state(id: &str, claims: &Claims) -> Result<Response, Problem> {
    let upload = owned(id, claims)?;
    Ok(folio_guest::http::json(
        200,
        &UploadState {
            id: upload.id,
            length: upload.length,
            offset: upload.received,
            expires_at: upload.expires_at,
            media_id: upload.media_id,
        },
    ))
}

/// A resumable upload: how far it got, and the item it became.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UploadState {
    pub id: String,
    pub length: i64,
    pub offset: i64,
    pub expires_at: String,
    /// Set once the last byte arrived and the file was taken in.
    pub media_id: Option<String>,
}

#[utoipa::path(
    delete,
    path = "/api/v1/media/uploads/{upload}",
    operation_id = "deleteResumableUpload",
    tag = "uploads",
    security(("bearer" = [])),
    params(
        ("upload" = String, Path),
        ("Tus-Resumable" = String, Header, description = "1.0.0"),
    ),
    responses(
        (status = 204, description = "Deleted with its parts"),
        (status = 401, description = "No valid bearer token", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such upload of the caller's", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
        (status = 410, description = "Expired", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
        (status = 412, description = "Not Tus-Resumable 1.0.0", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub fn terminate(head: &Head, id: &str, claims: &Claims) -> Result<Response, Problem> {
    check_version(head)?;
    let upload = owned(id, claims)?;
    discard(&upload)?;
    Ok(tus_response(204).body(Vec::new()).build())
}

fn discard(upload: &PendingUpload) -> Result<(), Problem> {
    storage::delete_prefix(&storage::bucket()?, &parts_prefix(&upload.id))?;
    store::delete_upload(&store::open()?, &upload.id)
}

fn parts_prefix(id: &str) -> String {
    format!("uploads/{id}/")
}

/// Appends the body at `Upload-Offset`; the last byte makes the media item.
#[utoipa::path(
    patch,
    path = "/api/v1/media/uploads/{upload}",
    operation_id = "appendToResumableUpload",
    tag = "uploads",
    security(("bearer" = [])),
    params(
        ("upload" = String, Path),
        ("Tus-Resumable" = String, Header, description = "1.0.0"),
        ("Upload-Offset" = u64, Header, description = "Where these bytes go: the current offset"),
    ),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream"),
    responses(
        (status = 204, description = "Appended; on the last byte, Folio-Media-Id names the item", headers(("upload-offset" = u64), ("folio-media-id" = String))),
        (status = 400, description = "The connection broke: what arrived is kept", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such upload of the caller's", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "Upload-Offset is not the current offset", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
        (status = 410, description = "Expired", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
        (status = 412, description = "Not Tus-Resumable 1.0.0", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "More bytes than the upload lacks", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "Not application/offset+octet-stream, or the file is not media", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "The file is unreadable", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub fn append(
    head: &Head,
    id: &str,
    claims: &Claims,
    mut body: RequestBody,
    settings: &Settings,
) -> Result<Response, Problem> {
    check_version(head)?;
    let content_type = head.header("content-type").unwrap_or("");
    if !content_type.eq_ignore_ascii_case("application/offset+octet-stream") {
        return Err(Problem::new(
            415,
            "Unsupported media type",
            "a PATCH carries Content-Type: application/offset+octet-stream",
        ));
    }
    let upload = owned(id, claims)?;
    let offset: i64 = head
        .header("upload-offset")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| Problem::invalid_field("Upload-Offset", "is required"))?;
    if offset != upload.received {
        return Err(Problem::conflict(format!(
            "Upload-Offset is {offset}, but the upload has {} bytes",
            upload.received
        ))
        .with_header("upload-offset", upload.received.to_string()));
    }
    if upload.media_id.is_some() {
        return Err(Problem::conflict(format!("upload {id} is complete")));
    }
    let bucket = storage::bucket()?;
    let remaining = (upload.length - upload.received) as u64;
    let part_key = format!("{}{:020}-{}", parts_prefix(id), offset, new_id());
    let (written, interrupted) = receive_part(&mut body, &bucket, &part_key, remaining)?;
    let received = upload.received + written as i64;
    if written > 0 && !store::advance_upload(&store::open()?, &upload, &part_key, received)? {
        storage::delete_quietly(&bucket, &part_key);
        return Err(Problem::conflict(format!(
            "another request appended to upload {id} at the same time"
        )));
    }
    if let Some(why) = interrupted.filter(|_| received < upload.length) {
        // The client is gone; the bytes that arrived are kept for its retry.
        return Err(Problem::bad_request(format!(
            "the upload was interrupted: {why}"
        )));
    }
    let mut response = tus_response(204);
    response.header("upload-offset", received.to_string());
    if received == upload.length {
        let mut parts = upload.part_keys.clone();
        if written > 0 {
            parts.push(part_key);
        }
        let media = assemble(&upload, parts, settings)?;
        with_media_headers(&mut response, &media);
    }
    Ok(response.body(Vec::new()).build())
}

/// Streams the body into one part; a broken connection finishes the part
/// with what arrived. Returns the bytes stored and why it stopped short.
fn receive_part(
    body: &mut RequestBody,
    bucket: &Bucket,
    key: &str,
    remaining: u64,
) -> Result<(u64, Option<String>), Problem> {
    let upload = bucket
        .put(key, "application/octet-stream")
        .map_err(storage::error)?;
    let mut written = 0u64;
    let interrupted = loop {
        match body.next_chunk(CHUNK) {
            Ok(Some(bytes)) => {
                written += bytes.len() as u64;
                if written > remaining {
                    return Err(Problem::new(
                        413,
                        "Content too large",
                        format!(
                            "the PATCH carries more than the {remaining} bytes the upload lacks"
                        ),
                    ));
                }
                upload.write(&bytes).map_err(storage::error)?;
            }
            Ok(None) => break None,
            Err(SourceError::Interrupted(why)) => break Some(why),
            Err(SourceError::Refused(p)) => return Err(p),
        }
    };
    if written == 0 {
        return Ok((0, interrupted));
    }
    Upload::finish(upload).map_err(storage::error)?;
    Ok((written, interrupted))
}

/// The complete upload, its parts read in order, taken in like any upload.
/// A refused file ends the upload; a failure that may pass leaves the parts,
/// and an empty PATCH at the final offset tries again. The item's id comes
/// from the upload's, so two PATCHes that both complete it make one item.
fn assemble(
    upload: &PendingUpload,
    parts: Vec<String>,
    settings: &Settings,
) -> Result<Media, Problem> {
    let mut source = Parts {
        bucket: storage::bucket()?,
        keys: parts.into_iter(),
        current: None,
    };
    let result = ingest::ingest(
        &mut source,
        NewUpload {
            media_id: media_id_of(&upload.id),
            owner_id: upload.owner_id.clone(),
            filename: upload.filename.clone(),
            declared_length: Some(upload.length as u64),
            completes: Some(upload.id.clone()),
        },
        settings,
    );
    match result {
        Ok(media) => {
            storage::delete_prefix(&storage::bucket()?, &parts_prefix(&upload.id))?;
            Ok(media)
        }
        Err(e) => {
            let problem = e.into_problem();
            if problem.status < 500 && problem.status != 409 {
                discard(upload)?;
            }
            Err(problem)
        }
    }
}

/// The id of the item upload `upload_id` becomes: a UUID from its hash, as
/// unguessable as the upload's id.
fn media_id_of(upload_id: &str) -> String {
    let digest = Sha256::digest(format!("folio.media.upload:{upload_id}").as_bytes());
    uuid_from_hash(&digest[..16].try_into().expect("16 bytes"))
}

/// The stored parts of an upload, read one after another.
struct Parts {
    bucket: Bucket,
    keys: std::vec::IntoIter<String>,
    current: Option<Download>,
}

impl ByteSource for Parts {
    fn next_chunk(&mut self, max: usize) -> Result<Option<Vec<u8>>, SourceError> {
        loop {
            if let Some(download) = self.current.as_mut() {
                if let Some(bytes) = download.next_chunk(max)? {
                    return Ok(Some(bytes));
                }
                self.current = None;
            }
            let Some(key) = self.keys.next() else {
                return Ok(None);
            };
            let download = self
                .bucket
                .get(&key, None)
                .map_err(storage::error)?
                .ok_or_else(|| Problem::unavailable(format!("upload part {key} is missing")))?;
            self.current = Some(download);
        }
    }
}

/// Deletes uploads whose time ran out, with their parts.
pub fn sweep_expired() -> Result<usize, Problem> {
    let expired = store::expired_uploads(&store::open()?, 100)?;
    for upload in &expired {
        discard(upload)?;
    }
    Ok(expired.len())
}
