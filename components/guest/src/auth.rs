//! Authorization for every component: verifies the bearer access token the
//! users component issued, against the public keys in the component's
//! configuration, and checks roles.
//!
//! A component that authorizes requests is granted these variables in spin.toml:
//! `auth_public_keys` (a JWKS document), `auth_issuer` and `auth_audience`.

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

pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The bearer token, if the request carries one.
pub fn bearer_token(request: &Request) -> Option<&str> {
    let value = header(request, "authorization")?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The verified claims of the request's access token: 401 without a valid one.
pub fn authenticate(request: &Request) -> Result<Claims, Problem> {
    let token = bearer_token(request)
        .ok_or_else(|| Problem::unauthorized("this route needs a bearer access token"))?;
    verifier()?
        .verify(token, now_unix())
        .map_err(|e| Problem::unauthorized(format!("the access token was refused: {e}")))
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
