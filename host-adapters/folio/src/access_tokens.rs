//! `folio:platform/access-tokens`: access tokens checked natively, with the
//! keys from the component's own variables parsed once at load, and tokens
//! already found authentic remembered until they expire. Verifying an Ed25519
//! signature inside Wasm costs a request about 0.2 ms; a cache hit here costs
//! a hash and a lookup.

use std::collections::HashMap;
use std::sync::Mutex;

use folio_auth::jwt::{Claims, Verifier, check_validity_period};
use sha2::{Digest, Sha256};
use wasmtime::component::{HasData, Linker};

use crate::variables::ComponentVariables;

mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "folio:platform/token-verification",
    });
}

use bindings::folio::platform::access_tokens as wit;

/// Tokens remembered per component; past this the memory is simply cleared.
const CACHE_ENTRIES: usize = 10_000;

pub struct TokenVerifier {
    verifier: Result<Verifier, String>,
    authentic: Mutex<HashMap<[u8; 32], Claims>>,
}

impl TokenVerifier {
    /// From `auth_public_keys`, `auth_issuer` and `auth_audience`; fails only
    /// when the keys are given but unusable (a configuration mistake to stop at).
    pub fn from_variables(variables: &ComponentVariables) -> anyhow::Result<TokenVerifier> {
        let get = |name: &str| variables.get(name).filter(|v| !v.trim().is_empty());
        let verifier = match (
            get("auth_public_keys"),
            get("auth_issuer"),
            get("auth_audience"),
        ) {
            (Some(keys), Some(issuer), Some(audience)) => {
                Ok(Verifier::from_jwks(keys, issuer, audience)
                    .map_err(|e| anyhow::anyhow!("variable auth_public_keys: {e}"))?)
            }
            _ => Err(
                "the component has no auth_public_keys, auth_issuer and auth_audience variables"
                    .to_string(),
            ),
        };
        Ok(TokenVerifier {
            verifier,
            authentic: Mutex::new(HashMap::new()),
        })
    }

    /// [`verify`](Self::verify) at the current time.
    pub fn verify_now(&self, token: &str) -> Result<Claims, wit::VerifyError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        self.verify(token, now)
    }

    pub fn verify(&self, token: &str, now_unix: i64) -> Result<Claims, wit::VerifyError> {
        let verifier = self
            .verifier
            .as_ref()
            .map_err(|e| wit::VerifyError::NotConfigured(e.clone()))?;
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let remembered = self.authentic.lock().unwrap().get(&digest).cloned();
        if let Some(claims) = remembered {
            check_validity_period(claims.exp, claims.iat, claims.nbf, now_unix)
                .map_err(|e| wit::VerifyError::Invalid(e.to_string()))?;
            return Ok(claims);
        }
        let claims = verifier
            .verify(token, now_unix)
            .map_err(|e| wit::VerifyError::Invalid(e.to_string()))?;
        let mut authentic = self.authentic.lock().unwrap();
        if authentic.len() >= CACHE_ENTRIES {
            authentic.clear();
        }
        authentic.insert(digest, claims.clone());
        Ok(claims)
    }
}

pub trait HasTokenVerifier {
    fn token_verifier(&self) -> &TokenVerifier;
}

struct View<'a>(&'a TokenVerifier);

struct TokensData;

impl HasData for TokensData {
    type Data<'a> = View<'a>;
}

impl wit::Host for View<'_> {
    fn verify(&mut self, token: String) -> Result<wit::Claims, wit::VerifyError> {
        let c = self.0.verify_now(&token)?;
        Ok(wit::Claims {
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

pub fn add_to_linker<T: HasTokenVerifier + 'static>(linker: &mut Linker<T>) -> anyhow::Result<()> {
    wit::add_to_linker::<T, TokensData>(linker, |state: &mut T| View(state.token_verifier()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use folio_auth::jwt::{SigningKey, jwks_json};

    fn claims(now: i64, exp: i64) -> Claims {
        Claims {
            iss: "i".into(),
            sub: "s".into(),
            aud: "a".into(),
            exp,
            iat: now,
            nbf: now,
            jti: "j".into(),
            role: "consumer".into(),
            sid: None,
            scope: None,
            client_id: None,
        }
    }

    fn verifier(key: &SigningKey) -> TokenVerifier {
        let vars = ComponentVariables::from([
            ("auth_public_keys".into(), jwks_json([key.public_key()])),
            ("auth_issuer".into(), "i".into()),
            ("auth_audience".into(), "a".into()),
        ]);
        TokenVerifier::from_variables(&vars).unwrap()
    }

    #[test]
    fn a_remembered_token_still_expires() {
        let key = SigningKey::from_seed(&[1; 32]);
        let v = verifier(&key);
        let token = key.sign(&claims(1000, 1100));
        assert_eq!(v.verify(&token, 1000).unwrap().sub, "s");
        assert_eq!(v.verify(&token, 1050).unwrap().sub, "s");
        assert!(matches!(
            v.verify(&token, 1200),
            Err(wit::VerifyError::Invalid(_))
        ));
    }

    #[test]
    fn refusals_are_not_remembered_as_authentic() {
        let key = SigningKey::from_seed(&[1; 32]);
        let v = verifier(&key);
        let forged = SigningKey::from_seed(&[2; 32]).sign(&claims(1000, 1100));
        for _ in 0..2 {
            assert!(matches!(
                v.verify(&forged, 1000),
                Err(wit::VerifyError::Invalid(_))
            ));
        }
    }

    #[test]
    fn unconfigured_and_misconfigured() {
        let none = TokenVerifier::from_variables(&ComponentVariables::new()).unwrap();
        assert!(matches!(
            none.verify("x.y.z", 0),
            Err(wit::VerifyError::NotConfigured(_))
        ));
        let bad = ComponentVariables::from([
            ("auth_public_keys".into(), "not json".into()),
            ("auth_issuer".into(), "i".into()),
            ("auth_audience".into(), "a".into()),
        ]);
        assert!(TokenVerifier::from_variables(&bad).is_err());
    }
}
