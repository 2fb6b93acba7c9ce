//! `POST /api/v1/search/reindex` and `GET /api/v1/search/reindex/{id}` (admins).

use folio_guest::http::{Problem, json};
use folio_guest::util::{is_uuid, now_ms};
use spin_sdk::http::{Request, Response};

use super::no_parameters;
use crate::reindex;
use crate::visibility::require_admin;

/// Rebuilds the index from the content service, page by page in the
/// background; searches keep using the current index until the new one is
/// complete and replaces it at once.
#[utoipa::path(
    post,
    path = "/api/v1/search/reindex",
    operation_id = "startReindex",
    tag = "search",
    security(("bearer" = [])),
    responses(
        (status = 202, description = "The job started; follow `Location` for its progress", body = reindex::JobStatus, headers(("location" = String))),
        (status = 400, description = "A query parameter was sent; this route takes none", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Reindexing needs the admin role", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "A reindex job is running", body = super::bodies::ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn start(request: &Request) -> Result<Response, Problem> {
    require_admin(request)?;
    no_parameters(request)?;
    let job = reindex::start()?;
    let mut response = json(202, &job.status(now_ms()));
    response.set_header("location", format!("/api/v1/search/reindex/{}", job.id));
    Ok(response)
}

#[utoipa::path(
    get,
    path = "/api/v1/search/reindex/{id}",
    operation_id = "getReindex",
    tag = "search",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "The job id (a UUID)"),
    ),
    responses(
        (status = 200, description = "The job's progress", body = reindex::JobStatus),
        (status = 400, description = "A query parameter was sent; this route takes none", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Reindex jobs are for admins", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such job", body = super::bodies::ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn status(request: &Request, id: &str) -> Result<Response, Problem> {
    require_admin(request)?;
    no_parameters(request)?;
    let not_found = || Problem::not_found("no such reindex job");
    if !is_uuid(id) {
        return Err(not_found());
    }
    let job = reindex::get(&id.to_ascii_lowercase())?.ok_or_else(not_found)?;
    Ok(json(200, &job.status(now_ms())))
}
