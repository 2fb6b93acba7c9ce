//! `POST /content/import` (NDJSON, admins) and the job it leaves behind.

use folio_guest::http::{Problem, header, json};
use serde_json::json;
use spin_sdk::http::{Request, Response};

use super::content::writer;
use crate::{import, store};

/// Imports items, one JSON object per line, as `POST /api/v1/content` takes
/// them plus `id` (a UUID; an item already there is skipped), `status`
/// (default `draft`), `authorId`, `createdAt` and `publishedAt`. Every line
/// is checked before anything is written: a bad one answers 422 with its
/// `line` and writes nothing. Lines without an `id` get one from the upload
/// and the line, so sending the same upload again creates nothing twice.
/// Each item gets a `ContentImported` event; none are announced as
/// publications.
#[utoipa::path(
    post,
    path = "/api/v1/content/import",
    operation_id = "importContent",
    tag = "content",
    security(("bearer" = [])),
    request_body(content = String, content_type = "application/x-ndjson", description = "One item per line"),
    responses(
        (status = 200, description = "Imported; `Location` is the job", body = super::bodies::ImportJob),
        (status = 401, description = "No valid access token", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Importing is for admins", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 413, description = "A line (or the upload) is too large; `line` says which", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "The body is not application/x-ndjson", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 400, description = "A line is not a JSON object; `line` says which", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "A field of a line is invalid: `line` and `errors` say which; nothing was written", body = super::bodies::ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn import(request: &Request) -> Result<Response, Problem> {
    let (caller, admin) = writer(request)?;
    if !caller.is_admin() {
        return Err(Problem::forbidden("importing content is for admins"));
    }
    let mime = header(request, "content-type")
        .and_then(|ct| ct.split(';').next())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if !matches!(mime.as_str(), "application/x-ndjson" | "application/jsonl") {
        return Err(Problem::new(
            415,
            "Unsupported media type",
            "the body must be application/x-ndjson: one JSON object per line",
        ));
    }
    let outcome = import::run(&store::open()?, request.body(), &admin)?;
    let mut response = json(
        200,
        &json!({
            "id": outcome.job,
            "lines": outcome.lines,
            "created": outcome.created,
            "skipped": outcome.skipped,
            "state": "done",
        }),
    );
    response.set_header(
        "location",
        format!("/api/v1/content/imports/{}", outcome.job),
    );
    Ok(response)
}

/// How far an import got: lines checked, items created and skipped so far.
#[utoipa::path(
    get,
    path = "/api/v1/content/imports/{id}",
    operation_id = "getContentImport",
    tag = "content",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The job id `POST /content/import` answered")),
    responses(
        (status = 200, description = "The job", body = super::bodies::ImportJob),
        (status = 401, description = "No valid access token", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Imports are for admins", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such import", body = super::bodies::ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn job(request: &Request, id: &str) -> Result<Response, Problem> {
    let (caller, _) = writer(request)?;
    if !caller.is_admin() {
        return Err(Problem::forbidden("imports are for admins"));
    }
    match import::job(&store::open()?, id)? {
        Some(job) => Ok(json(200, &job)),
        None => Err(Problem::not_found("no such import")),
    }
}
