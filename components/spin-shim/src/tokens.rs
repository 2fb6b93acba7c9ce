//! `folio:platform/access-tokens`, checked here against the component's
//! own `auth_public_keys`, `auth_issuer` and `auth_audience` variables (the
//! host checks the same ones natively).

use folio_auth::jwt::Verifier;

use crate::bindings::exports::folio::platform::access_tokens::{Claims, Guest, VerifyError};

fn verifier() -> Result<Verifier, VerifyError> {
    let var = |name: &str| {
        spin_sdk::variables::get(name)
            .ok()
            .filter(|v| !v.trim().is_empty())
    };
    match (
        var("auth_public_keys"),
        var("auth_issuer"),
        var("auth_audience"),
    ) {
        (Some(keys), Some(issuer), Some(audience)) => {
            Verifier::from_jwks(&keys, &issuer, &audience)
                .map_err(|e| VerifyError::NotConfigured(format!("variable auth_public_keys: {e}")))
        }
        _ => Err(VerifyError::NotConfigured(
            "the component has no auth_public_keys, auth_issuer and auth_audience variables".into(),
        )),
    }
}

impl Guest for crate::Shim {
    fn verify(token: String) -> Result<Claims, VerifyError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let c = verifier()?
            .verify(&token, now)
            .map_err(|e| VerifyError::Invalid(e.to_string()))?;
        Ok(Claims {
            issuer: c.iss,
            subject: c.sub,
            audience: c.aud,
            expires_at: c.exp,
            issued_at: c.iat,
            not_before: c.nbf,
            token_id: c.jti,
            role: c.role,
            session_id: c.sid,
            scope: c.scope,
            client_id: c.client_id,
        })
    }
}
