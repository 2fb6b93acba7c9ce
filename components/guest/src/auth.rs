//! Authorization for every component: verifies the bearer access token the
//! users component issued, against the public keys in the component's
//! configuration, and checks roles.
//!
//! A component that authorizes requests is granted these variables in spin.toml:
//! `auth_public_keys` (a JWKS document), `auth_issuer` and `auth_audience`.
//! [`authenticate`] has the Folio host run the checks natively
//! (`folio:platform/access-tokens`); [`verifier`] runs the same checks in the
//! guest, for hosts without that interface.

pub use folio_auth::jwt::{Claims, Role, TokenError, Verifier};
use spin_sdk::http::Request;

use crate::http::{Problem, header};

/// The verifier built from this component's configuration.
pub fn verifier() -> Result<Verifier, Problem> {
    let get = |name: &str| {
        spin_sdk::variables::get(name).map_err(|e| {
            Problem::unavailable(format!("authorization is not configured: {name}: {e}"))
        })
    };
    Verifier::from_jwks(
        &get("auth_public_keys")?,
        &get("auth_issuer")?,
        &get("auth_audience")?,
    )
    .map_err(|e| Problem::unavailable(format!("auth_public_keys: {e}")))
}

pub use crate::util::now_unix;

/// The bearer token, if the request carries one.
pub fn bearer_token(request: &Request) -> Option<&str> {
    bearer(header(request, "authorization")?)
}

fn bearer(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The verified claims of the request's access token: 401 without a valid one.
pub fn authenticate(request: &Request) -> Result<Claims, Problem> {
    authenticate_authorization(header(request, "authorization"))
}

/// `authenticate` for handlers that hold only the `Authorization` header
/// (those that stream the request body rather than read it whole).
pub fn authenticate_authorization(authorization: Option<&str>) -> Result<Claims, Problem> {
    use crate::bindings::folio::platform::access_tokens::{VerifyError, verify};
    let token = authorization
        .and_then(bearer)
        .ok_or_else(|| Problem::unauthorized("this route needs a bearer access token"))?;
    match verify(token) {
        Ok(c) => Ok(Claims {
            iss: c.issuer,
            sub: c.subject,
            aud: c.audience,
            exp: c.expires_at,
            iat: c.issued_at,
            nbf: c.not_before,
            jti: c.token_id,
            role: c.role,
            sid: c.session_id,
            scope: c.scope,
            client_id: c.client_id,
        }),
        Err(VerifyError::Invalid(reason)) => Err(Problem::unauthorized(format!(
            "the access token was refused: {reason}"
        ))),
        Err(VerifyError::NotConfigured(reason)) => Err(Problem::unavailable(format!(
            "authorization is not configured: {reason}"
        ))),
    }
}

/// 403 unless the caller holds one of `roles`.
pub fn require_role(claims: &Claims, roles: &[Role]) -> Result<(), Problem> {
    if claims.has_any_role(roles) {
        Ok(())
    } else {
        let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        Err(Problem::forbidden(format!(
            "this route needs the role {}",
            names.join(" or ")
        )))
    }
}
