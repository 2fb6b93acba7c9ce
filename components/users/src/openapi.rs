//! The OpenAPI 3.1 document of this service, generated from the handlers'
//! `#[utoipa::path]` annotations and the body types; served at
//! `GET /api/v1/openapi/users.json`.

use spin_sdk::http::Response;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::api::{admin, auth, me, wellknown};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Folio users service",
        description = "Accounts, authentication with MFA, tokens, roles and preferences. Errors are RFC 9457 problem details."
    ),
    paths(
        auth::register,
        auth::login,
        auth::mfa,
        auth::refresh,
        auth::logout,
        auth::token,
        auth::session,
        auth::request_password_reset,
        auth::confirm_password_reset,
        me::get,
        me::patch,
        me::put_preferences,
        me::change_password,
        me::enrol_totp,
        me::verify_totp,
        me::disable_mfa,
        admin::list_users,
        admin::get_user,
        admin::patch_user,
        admin::delete_user,
        admin::register_client,
        admin::list_clients,
        admin::delete_client,
        wellknown::jwks,
        wellknown::openid_configuration,
    ),
    modifiers(&BearerAuth)
)]
pub struct UsersApi;

struct BearerAuth;

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

pub fn document() -> Response {
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("cache-control", "public, max-age=300")
        .body(
            UsersApi::openapi()
                .to_json()
                .expect("the document serializes"),
        )
        .build()
}
