//! Issuing access tokens: EdDSA JWTs signed with the key from the component's
//! configuration (`auth_signing_key`), verified by every component against
//! `auth_public_keys`.

use folio_auth::jwt::{Claims, SigningKey};
use folio_guest::http::Problem;
use serde::Serialize;

use folio_guest::util::{new_id, now_unix};

pub const ACCESS_LIFETIME_SECS: i64 = 15 * 60;
pub const SERVICE_LIFETIME_SECS: i64 = 5 * 60;

pub fn variable(name: &str) -> Result<String, Problem> {
    spin_sdk::variables::get(name).map_err(|e| {
        Problem::unavailable(format!("the users service is not configured: {name}: {e}"))
    })
}

pub struct Issuer {
    key: SigningKey,
    pub issuer: String,
    audience: String,
}

impl Issuer {
    pub fn from_config() -> Result<Issuer, Problem> {
        let key = SigningKey::from_seed_b64(&variable("auth_signing_key")?)
            .map_err(|e| Problem::unavailable(format!("auth_signing_key: {e}")))?;
        Ok(Issuer {
            key,
            issuer: variable("auth_issuer")?,
            audience: variable("auth_audience")?,
        })
    }

    fn claims(&self, subject: &str, role: &str, lifetime: i64) -> Claims {
        let now = now_unix();
        Claims {
            iss: self.issuer.clone(),
            sub: subject.to_string(),
            aud: self.audience.clone(),
            exp: now + lifetime,
            iat: now,
            nbf: now,
            jti: new_id(),
            role: role.to_string(),
            sid: None,
            scope: None,
            client_id: None,
        }
    }

    /// A user's access token, tied to its refresh session.
    pub fn user_token(&self, user_id: &str, role: &str, session_id: &str) -> String {
        let mut claims = self.claims(user_id, role, ACCESS_LIFETIME_SECS);
        claims.sid = Some(session_id.to_string());
        self.key.sign(&claims)
    }

    /// A service client's token from the client-credentials grant.
    pub fn service_token(&self, client_id: &str, scope: &str) -> String {
        let mut claims = self.claims(client_id, "service", SERVICE_LIFETIME_SECS);
        claims.client_id = Some(client_id.to_string());
        claims.scope = Some(scope.to_string());
        self.key.sign(&claims)
    }
}

/// What a successful login, MFA step or refresh answers.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenPair {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds the access token stays valid.
    pub expires_in: i64,
    /// Single use: each refresh answers a new one, and reusing an old one ends the session.
    pub refresh_token: String,
    pub refresh_expires_in: i64,
}

impl TokenPair {
    pub fn new(access_token: String, refresh_token: String, refresh_expires_in: i64) -> TokenPair {
        TokenPair {
            access_token,
            token_type: "Bearer",
            expires_in: ACCESS_LIFETIME_SECS,
            refresh_token,
            refresh_expires_in,
        }
    }
}
