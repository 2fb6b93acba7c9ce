//! What every service's OpenAPI document shares (feature `openapi`): the
//! bearer-token security scheme, the problem-details schema and how the
//! document is served.

use spin_sdk::http::Response;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, ToSchema};

/// Adds the `bearer` scheme (the users service's JWT access tokens) that
/// operations name in `security(("bearer" = []))`.
pub struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// RFC 9457 problem details: how [`crate::http::Problem`] is written.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ProblemDetails {
    #[schema(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// The request fields at fault.
    pub errors: Option<Vec<FieldProblem>>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct FieldProblem {
    pub field: String,
    pub message: String,
}

/// The document as `GET /api/v1/openapi/<service>.json` answers it.
pub fn served(document: utoipa::openapi::OpenApi) -> Response {
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("cache-control", "public, max-age=300")
        .body(document.to_json().expect("the document serializes"))
        .build()
}

/// For the services' tests: the document is OpenAPI 3.1, has `paths`
/// paths, and every 4xx it describes is problem+json. Panics naming what
/// is not.
pub fn assert_well_described(document: &utoipa::openapi::OpenApi, paths: usize) {
    let doc: serde_json::Value =
        serde_json::from_str(&document.to_json().expect("the document serializes"))
            .expect("the document is JSON");
    assert!(
        doc["openapi"]
            .as_str()
            .unwrap_or_default()
            .starts_with("3.1")
    );
    let listed = doc["paths"].as_object().expect("paths");
    assert_eq!(
        listed.len(),
        paths,
        "{:?}",
        listed.keys().collect::<Vec<_>>()
    );
    for (path, operations) in listed {
        for (method, operation) in operations.as_object().expect("operations") {
            for (status, response) in operation["responses"].as_object().expect("responses") {
                if status.starts_with('4') {
                    assert!(
                        response["content"]["application/problem+json"].is_object(),
                        "{method} {path} {status} is not problem+json"
                    );
                }
            }
        }
    }
}
