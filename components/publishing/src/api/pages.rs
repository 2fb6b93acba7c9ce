//! Pages anyone with the URL may open.

use folio_guest::http::{Problem, header};
use spin_sdk::http::{Request, Response};

use super::bodies::ProblemDetails;
use crate::{preview, store};

#[utoipa::path(
    get, path = "/preview/{token}", operation_id = "viewPreview", tag = "publishing",
    params(("token" = String, Path, description = "The secret part of a preview link")),
    responses(
        (status = 200, description = "The version the link names: an HTML page, or JSON when `Accept: application/json`", content_type = "text/html"),
        (status = 404, description = "No such link, or expired, or revoked", body = ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn preview(request: &Request, token: &str) -> Result<Response, Problem> {
    let wants_json = header(request, "accept").is_some_and(|a| a.contains("application/json"));
    preview::view(&store::db()?, token, wants_json)
}
