//! The OpenAPI 3.1 document of this service, generated from the handlers'
//! `#[utoipa::path]` annotations and the body types; served at
//! `GET /api/v1/openapi/users.json`.

use folio_guest::openapi::BearerAuth;
use spin_sdk::http::Response;
use utoipa::OpenApi;

use crate::api::{admin, auth, me, profiles, wellknown};

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
        profiles::list,
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

pub fn document() -> Response {
    folio_guest::openapi::served(UsersApi::openapi())
}
