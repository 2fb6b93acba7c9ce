//! What every service's OpenAPI document shares (feature `openapi`): the
//! bearer-token security scheme and how the document is served.

use spin_sdk::http::Response;
use utoipa::Modify;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

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

/// The document as `GET /api/v1/openapi/<service>.json` answers it.
pub fn served(document: utoipa::openapi::OpenApi) -> Response {
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("cache-control", "public, max-age=300")
        .body(document.to_json().expect("the document serializes"))
        .build()
}
