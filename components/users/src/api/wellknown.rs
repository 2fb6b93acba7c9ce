//! Discovery: the public keys tokens are signed with, and the OpenID
//! Provider metadata that points at them.

use folio_guest::http::Problem;
use serde_json::json;
use spin_sdk::http::Response;

use crate::tokens::variable;

#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "discovery",
    responses(
        (status = 200, description = "The JWK set access tokens are signed with")
    )
)]
pub fn jwks() -> Result<Response, Problem> {
    let keys = variable("auth_public_keys")?;
    Ok(Response::builder()
        .status(200)
        .header("content-type", "application/jwk-set+json")
        .header("cache-control", "public, max-age=300")
        .body(keys)
        .build())
}

#[utoipa::path(
    get,
    path = "/.well-known/openid-configuration",
    tag = "discovery",
    responses(
        (status = 200, description = "OpenID Provider metadata")
    )
)]
pub fn openid_configuration() -> Result<Response, Problem> {
    let issuer = variable("auth_issuer")?;
    let base = issuer.trim_end_matches('/');
    let document = json!({
        "issuer": issuer,
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "token_endpoint": format!("{base}/api/v1/auth/token"),
        "grant_types_supported": ["client_credentials", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "id_token_signing_alg_values_supported": ["EdDSA"],
        "token_endpoint_auth_signing_alg_values_supported": ["EdDSA"],
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "role", "sid", "scope", "client_id"],
    });
    Ok(Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("cache-control", "public, max-age=300")
        .body(document.to_string())
        .build())
}
