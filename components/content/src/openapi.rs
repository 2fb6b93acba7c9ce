//! The OpenAPI 3.1 document of this service, generated from the handlers'
//! `#[utoipa::path]` annotations and the body types in `api/bodies.rs`;
//! served at `GET /api/v1/openapi/content.json`.

use folio_guest::openapi::BearerAuth;
use spin_sdk::http::Response;
use utoipa::OpenApi;

use crate::api::bodies::{
    ContentItem, ContentPatch, ContentRequest, ContentSort, ContentStatus, ContentType,
    ProblemDetails,
};
use crate::api::{categories, content, imports, relations};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Folio content service",
        description = "Typed content with revisions, an editorial workflow, categories, tags and scheduled publication. Reads of published content are public; writes need a bearer access token from the users service. Errors are RFC 9457 problem details."
    ),
    paths(
        content::list,
        content::create,
        imports::import,
        imports::job,
        content::get,
        update_put,
        update_patch,
        content::delete,
        content::revisions,
        content::revision,
        content::restore,
        content::transition,
        content::cancel_schedule,
        content::tags,
        relations::list,
        relations::create,
        relations::delete,
        categories::list,
        categories::create,
        categories::by_slug,
        categories::get,
        categories::replace,
        categories::delete,
    ),
    components(schemas(ContentSort, ContentStatus, ContentType)),
    modifiers(&BearerAuth)
)]
pub struct ContentApi;

// `content::update` serves both PUT (`replace`) and PATCH, with different
// bodies, so each method is described here.

/// Replaces every writable field (`title` and `type` required; absent fields
/// are emptied); `status` changes through transitions.
#[utoipa::path(
    put,
    path = "/api/v1/content/{id}",
    operation_id = "replaceContent",
    tag = "content",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "The content id (a UUID)"),
        ("If-Match" = String, Header, description = "The ETag read: 428 without it, 412 when stale"),
    ),
    request_body = ContentRequest,
    responses(
        (status = 200, description = "The new version", body = ContentItem, headers(("etag" = String))),
        (status = 400, description = "The body is not a JSON object", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not the author or an admin", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such content, or not visible to the caller", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 412, description = "If-Match is stale", body = ProblemDetails, content_type = "application/problem+json", headers(("etag" = String, description = "The current ETag"))),
        (status = 415, description = "The body is not JSON", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid; `errors` names it", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 428, description = "If-Match is missing", body = ProblemDetails, content_type = "application/problem+json")
    )
)]
#[allow(dead_code)]
fn update_put() {}

/// Changes the fields present; the others keep their value.
#[utoipa::path(
    patch,
    path = "/api/v1/content/{id}",
    operation_id = "patchContent",
    tag = "content",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "The content id (a UUID)"),
        ("If-Match" = String, Header, description = "The ETag read: 428 without it, 412 when stale"),
    ),
    request_body = ContentPatch,
    responses(
        (status = 200, description = "The new version", body = ContentItem, headers(("etag" = String))),
        (status = 400, description = "The body is not a JSON object", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not the author or an admin", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such content, or not visible to the caller", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 412, description = "If-Match is stale", body = ProblemDetails, content_type = "application/problem+json", headers(("etag" = String, description = "The current ETag"))),
        (status = 415, description = "The body is not JSON", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid; `errors` names it", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 428, description = "If-Match is missing", body = ProblemDetails, content_type = "application/problem+json")
    )
)]
#[allow(dead_code)]
fn update_patch() {}

pub fn document() -> Response {
    folio_guest::openapi::served(ContentApi::openapi())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_described_in_openapi_3_1() {
        let doc: serde_json::Value =
            serde_json::from_str(&ContentApi::openapi().to_json().unwrap()).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        if let Ok(path) = std::env::var("FOLIO_OPENAPI_DUMP") {
            std::fs::write(path, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
        }
        let paths = doc["paths"].as_object().unwrap();
        for (path, methods) in [
            ("/api/v1/content", &["get", "post"][..]),
            ("/api/v1/content/{id}", &["get", "put", "patch", "delete"]),
            ("/api/v1/content/{id}/revisions", &["get"]),
            ("/api/v1/content/{id}/revisions/{n}", &["get"]),
            ("/api/v1/content/{id}/revisions/{n}/restore", &["post"]),
            ("/api/v1/content/{id}/transitions", &["post"]),
            ("/api/v1/content/{id}/schedule", &["delete"]),
            ("/api/v1/tags", &["get"]),
            ("/api/v1/content/{id}/relations", &["get", "post"]),
            (
                "/api/v1/content/{id}/relations/{kind}/{target}",
                &["delete"],
            ),
            ("/api/v1/categories", &["get", "post"]),
            ("/api/v1/categories/by-slug/{slug}", &["get"]),
            ("/api/v1/categories/{id}", &["get", "put", "delete"]),
        ] {
            for method in methods {
                assert!(
                    paths[path][method].is_object(),
                    "{method} {path} is not described"
                );
            }
        }
    }
}
