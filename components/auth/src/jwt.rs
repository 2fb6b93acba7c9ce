//! Access tokens: compact JWS signed with Ed25519 (`alg: EdDSA`, `typ: at+jwt`), and roles.
//!
//! Verification follows RFC 8725: one algorithm only, the key picked by `kid` from a fixed set,
//! strict base64url, and the signature checked over the received bytes before any claim is read.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer, VerifyingKey};
use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The only `alg` accepted and produced.
pub const ALGORITHM: &str = "EdDSA";
/// The `typ` header of access tokens (RFC 9068).
pub const TOKEN_TYPE: &str = "at+jwt";
/// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
pub const LEEWAY_SECS: i64 = 30;
/// Longer tokens are rejected before any decoding.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

// Rejects padding, the standard alphabet's `+` and `/`, and non-zero trailing bits.
fn unb64(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

/// Why a key or key set could not be loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyError {
    /// Not base64url without padding.
    Encoding,
    /// Decoded to the wrong number of bytes.
    Length,
    /// Not a valid Ed25519 public key, or a weak (small-order) one.
    InvalidKey,
    /// A JWK that is not an Ed25519 signing key.
    UnsupportedKey,
    /// The JWKS is not JSON of the form `{"keys": [...]}`.
    InvalidJwks,
    /// No usable Ed25519 key was found.
    NoUsableKeys,
    /// Two different keys share one `kid`.
    DuplicateKeyId,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyError::Encoding => "key is not base64url without padding",
            KeyError::Length => "key has the wrong length",
            KeyError::InvalidKey => "not a valid Ed25519 public key",
            KeyError::UnsupportedKey => "not an Ed25519 signing key",
            KeyError::InvalidJwks => "not a JWK set",
            KeyError::NoUsableKeys => "no usable Ed25519 key",
            KeyError::DuplicateKeyId => "two keys share one kid",
        })
    }
}

impl std::error::Error for KeyError {}

/// An Ed25519 public key with its key id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    key: VerifyingKey,
    x: String,
    kid: String,
}

impl PublicKey {
    fn from_verifying_key(key: VerifyingKey) -> Self {
        let x = b64(key.as_bytes());
        let kid = thumbprint(&x);
        PublicKey { key, x, kid }
    }

    /// The raw 32-byte public key, base64url without padding (a JWK's `x`).
    pub fn from_x_b64(x: &str) -> Result<Self, KeyError> {
        let bytes = unb64(x).ok_or(KeyError::Encoding)?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| KeyError::Length)?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::InvalidKey)?;
        if key.is_weak() {
            return Err(KeyError::InvalidKey);
        }
        Ok(Self::from_verifying_key(key))
    }

    /// An `OKP`/`Ed25519` JWK. Its `kid` is kept if present, else the thumbprint is used.
    pub fn from_jwk(jwk: &Value) -> Result<Self, KeyError> {
        let field = |name: &str| jwk.get(name).and_then(Value::as_str);
        let optional_is = |name: &str, expected: &str| match jwk.get(name) {
            None => true,
            Some(value) => value.as_str() == Some(expected),
        };
        if field("kty") != Some("OKP")
            || field("crv") != Some("Ed25519")
            || !optional_is("alg", ALGORITHM)
            || !optional_is("use", "sig")
        {
            return Err(KeyError::UnsupportedKey);
        }
        let mut key = Self::from_x_b64(field("x").ok_or(KeyError::InvalidKey)?)?;
        match jwk.get("kid") {
            None => {}
            Some(Value::String(kid)) => key.kid = kid.clone(),
            Some(_) => return Err(KeyError::InvalidKey),
        }
        Ok(key)
    }

    /// The key id: the RFC 7638 thumbprint, unless the JWK it was loaded from named another.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The JWK's `x`: the raw public key, base64url.
    pub fn x(&self) -> &str {
        &self.x
    }

    /// The public JWK: `kty`, `crv`, `x`, `kid`, `alg` and `use`.
    pub fn to_jwk(&self) -> Value {
        json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": self.x,
            "kid": self.kid,
            "alg": ALGORITHM,
            "use": "sig",
        })
    }
}

/// RFC 7638 thumbprint of an Ed25519 JWK: its required members, sorted, without whitespace.
fn thumbprint(x: &str) -> String {
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    b64(&Sha256::digest(canonical.as_bytes()))
}

/// A JWK set document, `{"keys":[...]}`, for the given public keys.
pub fn jwks_json<'a>(keys: impl IntoIterator<Item = &'a PublicKey>) -> String {
    let keys: Vec<Value> = keys.into_iter().map(PublicKey::to_jwk).collect();
    json!({ "keys": keys }).to_string()
}

/// An Ed25519 private key that signs access tokens.
pub struct SigningKey {
    inner: ed25519_dalek::SigningKey,
    public: PublicKey,
}

impl SigningKey {
    /// The key from its 32-byte seed.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let inner = ed25519_dalek::SigningKey::from_bytes(seed);
        let public = PublicKey::from_verifying_key(inner.verifying_key());
        SigningKey { inner, public }
    }

    /// The key from its 32-byte seed, base64url without padding.
    pub fn from_seed_b64(seed: &str) -> Result<Self, KeyError> {
        let bytes = Zeroizing::new(unb64(seed).ok_or(KeyError::Encoding)?);
        let mut array = Zeroizing::new([0u8; 32]);
        if bytes.len() != array.len() {
            return Err(KeyError::Length);
        }
        array.copy_from_slice(&bytes);
        Ok(Self::from_seed(&array))
    }

    /// A new seed for [`SigningKey::from_seed_b64`], from 32 random bytes the caller supplies.
    pub fn generate_seed_b64(random: [u8; 32]) -> String {
        b64(&random)
    }

    /// The RFC 7638 thumbprint of the public key, used as `kid`.
    pub fn kid(&self) -> &str {
        self.public.kid()
    }

    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    pub fn public_jwk(&self) -> Value {
        self.public.to_jwk()
    }

    /// A compact JWS with header `{"alg":"EdDSA","typ":"at+jwt","kid":...}`.
    pub fn sign(&self, claims: &Claims) -> String {
        let header = json!({ "alg": ALGORITHM, "typ": TOKEN_TYPE, "kid": self.kid() });
        let payload = serde_json::to_vec(claims).expect("claims always serialize");
        self.sign_parts(&header.to_string(), &payload)
    }

    fn sign_parts(&self, header: &str, payload: &[u8]) -> String {
        let mut token = format!("{}.{}", b64(header.as_bytes()), b64(payload));
        let signature = self.inner.sign(token.as_bytes());
        token.push('.');
        token.push_str(&b64(&signature.to_bytes()));
        token
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid())
            .finish_non_exhaustive()
    }
}

/// The claims of an access token. Times are Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    /// The user (or service) id.
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    /// On a verified token that had no `nbf`, its `iat`.
    pub nbf: i64,
    pub jti: String,
    /// One of [`Role`]'s names; see [`Claims::role`].
    pub role: String,
    /// The session the token was issued for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Space-separated scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

impl Claims {
    /// The role, if it is one this crate knows.
    pub fn role(&self) -> Option<Role> {
        self.role.parse().ok()
    }

    pub fn has_any_role(&self, roles: &[Role]) -> bool {
        self.role().is_some_and(|role| roles.contains(&role))
    }
}

/// What a user or caller may do on the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Creator,
    Consumer,
    Service,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Creator, Role::Consumer, Role::Service];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Creator => "creator",
            Role::Consumer => "consumer",
            Role::Service => "service",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not one of [`Role`]'s (names are lowercase).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownRole;

impl fmt::Display for UnknownRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown role")
    }
}

impl std::error::Error for UnknownRole {}

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == name)
            .ok_or(UnknownRole)
    }
}

/// Why a token was rejected. The messages are safe to return to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Longer than [`MAX_TOKEN_LEN`].
    TooLong,
    /// Not three strict-base64url parts, or a header that is not a JSON object.
    Malformed,
    /// `alg` is anything but `EdDSA`.
    UnsupportedAlgorithm,
    /// The header has a `crit` member.
    UnsupportedCriticalHeader,
    /// `typ` is not `at+jwt`.
    WrongType,
    MissingKeyId,
    /// `kid` names none of the verifier's keys.
    UnknownKey,
    BadSignature,
    /// The payload is not JSON with the required claims of the right types.
    InvalidClaims,
    Expired,
    /// `nbf` or `iat` is in the future.
    NotYetValid,
    WrongIssuer,
    WrongAudience,
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenError::TooLong => "token too long",
            TokenError::Malformed => "malformed token",
            TokenError::UnsupportedAlgorithm => "unsupported token algorithm",
            TokenError::UnsupportedCriticalHeader => "unsupported critical token header",
            TokenError::WrongType => "not an access token",
            TokenError::MissingKeyId => "token has no key id",
            TokenError::UnknownKey => "token signed by an unknown key",
            TokenError::BadSignature => "invalid token signature",
            TokenError::InvalidClaims => "invalid token claims",
            TokenError::Expired => "token expired",
            TokenError::NotYetValid => "token not yet valid",
            TokenError::WrongIssuer => "token from an unexpected issuer",
            TokenError::WrongAudience => "token not meant for this service",
        })
    }
}

impl std::error::Error for TokenError {}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    kid: Option<String>,
    // Any `crit`, even `null` or empty, is refused: this verifier understands no extensions.
    #[serde(default, deserialize_with = "is_present")]
    crit: bool,
}

fn is_present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(deserializer).map(|_| true)
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

/// The payload as received; `aud` may be a string or an array (RFC 7519).
#[derive(Deserialize)]
struct ReceivedClaims {
    iss: String,
    sub: String,
    aud: Audience,
    exp: i64,
    iat: i64,
    #[serde(default)]
    nbf: Option<i64>,
    jti: String,
    role: String,
    #[serde(default)]
    sid: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
}

fn is_access_token_type(typ: &str) -> bool {
    typ.eq_ignore_ascii_case(TOKEN_TYPE) || typ.eq_ignore_ascii_case("application/at+jwt")
}

/// The time checks alone, with [`LEEWAY_SECS`] of clock skew allowed: for
/// claims verified earlier and checked again now.
pub fn check_validity_period(
    exp: i64,
    iat: i64,
    nbf: i64,
    now_unix: i64,
) -> Result<(), TokenError> {
    if now_unix >= exp.saturating_add(LEEWAY_SECS) {
        return Err(TokenError::Expired);
    }
    let latest_start = now_unix.saturating_add(LEEWAY_SECS);
    if iat > latest_start || nbf > latest_start {
        return Err(TokenError::NotYetValid);
    }
    Ok(())
}

/// Checks access tokens from one issuer, for one audience, against a fixed set of keys.
#[derive(Debug, Clone)]
pub struct Verifier {
    keys: Vec<PublicKey>,
    issuer: String,
    audience: String,
}

impl Verifier {
    pub fn new(
        keys: impl IntoIterator<Item = PublicKey>,
        issuer: &str,
        audience: &str,
    ) -> Result<Self, KeyError> {
        let mut unique: Vec<PublicKey> = Vec::new();
        for key in keys {
            match unique.iter().find(|known| known.kid == key.kid) {
                Some(known) if known.key == key.key => {}
                Some(_) => return Err(KeyError::DuplicateKeyId),
                None => unique.push(key),
            }
        }
        if unique.is_empty() {
            return Err(KeyError::NoUsableKeys);
        }
        Ok(Verifier {
            keys: unique,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        })
    }

    /// From a JWK set document. Keys other than valid Ed25519 signing keys are skipped.
    pub fn from_jwks(jwks_json: &str, issuer: &str, audience: &str) -> Result<Self, KeyError> {
        let jwks: Value = serde_json::from_str(jwks_json).map_err(|_| KeyError::InvalidJwks)?;
        let keys = jwks
            .get("keys")
            .and_then(Value::as_array)
            .ok_or(KeyError::InvalidJwks)?;
        Self::new(
            keys.iter().filter_map(|jwk| PublicKey::from_jwk(jwk).ok()),
            issuer,
            audience,
        )
    }

    /// The token's claims, if it is a valid access token at `now_unix` (Unix seconds).
    ///
    /// On success `aud` holds this verifier's audience, even if the token listed several.
    pub fn verify(&self, token: &str, now_unix: i64) -> Result<Claims, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::TooLong);
        }
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };

        let header = unb64(header_b64).ok_or(TokenError::Malformed)?;
        let header: Header = serde_json::from_slice(&header).map_err(|_| TokenError::Malformed)?;
        if header.alg != ALGORITHM {
            return Err(TokenError::UnsupportedAlgorithm);
        }
        if header.crit {
            return Err(TokenError::UnsupportedCriticalHeader);
        }
        if !header.typ.as_deref().is_some_and(is_access_token_type) {
            return Err(TokenError::WrongType);
        }
        let kid = header.kid.ok_or(TokenError::MissingKeyId)?;
        let key = self
            .keys
            .iter()
            .find(|key| key.kid == kid)
            .ok_or(TokenError::UnknownKey)?;

        let signature = unb64(signature_b64).ok_or(TokenError::Malformed)?;
        let signature: [u8; 64] = signature.try_into().map_err(|_| TokenError::BadSignature)?;
        let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
        key.key
            .verify_strict(signing_input.as_bytes(), &Signature::from_bytes(&signature))
            .map_err(|_| TokenError::BadSignature)?;

        let payload = unb64(payload_b64).ok_or(TokenError::Malformed)?;
        let claims: ReceivedClaims =
            serde_json::from_slice(&payload).map_err(|_| TokenError::InvalidClaims)?;

        if claims.iss != self.issuer {
            return Err(TokenError::WrongIssuer);
        }
        let for_us = match &claims.aud {
            Audience::One(aud) => *aud == self.audience,
            Audience::Many(auds) => auds.contains(&self.audience),
        };
        if !for_us {
            return Err(TokenError::WrongAudience);
        }
        check_validity_period(
            claims.exp,
            claims.iat,
            claims.nbf.unwrap_or(claims.iat),
            now_unix,
        )?;

        Ok(Claims {
            iss: claims.iss,
            sub: claims.sub,
            aud: self.audience.clone(),
            exp: claims.exp,
            iat: claims.iat,
            nbf: claims.nbf.unwrap_or(claims.iat),
            jti: claims.jti,
            role: claims.role,
            sid: claims.sid,
            scope: claims.scope,
            client_id: claims.client_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD_NO_PAD;
    use hmac::{Hmac, Mac};

    const NOW: i64 = 1_700_000_000;
    const ISSUER: &str = "https://folio.test/users";
    const AUDIENCE: &str = "folio";
    // RFC 8037 Appendix A.1: `d` and `x` of its example Ed25519 key.
    const RFC8037_D: &str = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
    const RFC8037_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

    fn key(byte: u8) -> SigningKey {
        SigningKey::from_seed(&[byte; 32])
    }

    fn claims() -> Claims {
        Claims {
            iss: ISSUER.into(),
            sub: "user-1".into(),
            aud: AUDIENCE.into(),
            exp: NOW + 900,
            iat: NOW,
            nbf: NOW,
            jti: "jti-1".into(),
            role: "creator".into(),
            sid: Some("session-1".into()),
            scope: None,
            client_id: None,
        }
    }

    fn verifier(key: &SigningKey) -> Verifier {
        Verifier::new([key.public_key().clone()], ISSUER, AUDIENCE).unwrap()
    }

    fn header_for(key: &SigningKey) -> Value {
        json!({ "alg": "EdDSA", "typ": "at+jwt", "kid": key.kid() })
    }

    /// A token validly signed by `key` with an arbitrary header and payload.
    fn signed(key: &SigningKey, header: &Value, payload: &Value) -> String {
        key.sign_parts(&header.to_string(), payload.to_string().as_bytes())
    }

    fn parts(token: &str) -> Vec<String> {
        token.split('.').map(str::to_owned).collect()
    }

    #[test]
    fn round_trip() {
        let key = key(1);
        let token = key.sign(&claims());
        let verified = verifier(&key).verify(&token, NOW).unwrap();
        assert_eq!(verified, claims());
        assert_eq!(verified.role(), Some(Role::Creator));
        assert!(verified.has_any_role(&[Role::Admin, Role::Creator]));
        assert!(!verified.has_any_role(&[Role::Admin]));

        let header: Value = serde_json::from_slice(&unb64(&parts(&token)[0]).unwrap()).unwrap();
        assert_eq!(header, header_for(&key));
    }

    #[test]
    fn optional_claims_are_omitted() {
        let mut claims = claims();
        claims.sid = None;
        let json = serde_json::to_value(&claims).unwrap();
        for absent in ["sid", "scope", "client_id"] {
            assert!(json.get(absent).is_none(), "{absent}");
        }
        let key = key(1);
        assert_eq!(verifier(&key).verify(&key.sign(&claims), NOW), Ok(claims));
    }

    #[test]
    fn nbf_is_optional_in_received_tokens() {
        let key = key(1);
        let mut payload = serde_json::to_value(claims()).unwrap();
        payload.as_object_mut().unwrap().remove("nbf");
        payload["iat"] = json!(NOW - 5);
        let verified = verifier(&key)
            .verify(&signed(&key, &header_for(&key), &payload), NOW)
            .unwrap();
        assert_eq!(verified.nbf, NOW - 5);
    }

    #[test]
    fn jwks_round_trip_skips_other_key_types() {
        let current = key(1);
        let previous = key(2);
        let jwks = jwks_json([current.public_key(), previous.public_key()]);
        let mut doc: Value = serde_json::from_str(&jwks).unwrap();
        doc["keys"].as_array_mut().unwrap().insert(
            0,
            json!({ "kty": "RSA", "kid": current.kid(), "n": "AQAB", "e": "AQAB" }),
        );
        let verifier = Verifier::from_jwks(&doc.to_string(), ISSUER, AUDIENCE).unwrap();
        for key in [&current, &previous] {
            assert!(verifier.verify(&key.sign(&claims()), NOW).is_ok());
        }
        assert_eq!(
            verifier.verify(&key(3).sign(&claims()), NOW),
            Err(TokenError::UnknownKey)
        );
    }

    #[test]
    fn jwks_without_usable_keys_is_refused() {
        let rsa_only = r#"{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}"#;
        assert_eq!(
            Verifier::from_jwks(rsa_only, ISSUER, AUDIENCE).unwrap_err(),
            KeyError::NoUsableKeys
        );
        assert_eq!(
            Verifier::from_jwks("[]", ISSUER, AUDIENCE).unwrap_err(),
            KeyError::InvalidJwks
        );
        let wrong_alg =
            json!({ "keys": [{ "kty": "OKP", "crv": "Ed25519", "x": RFC8037_X, "alg": "ES256" }] });
        assert_eq!(
            Verifier::from_jwks(&wrong_alg.to_string(), ISSUER, AUDIENCE).unwrap_err(),
            KeyError::NoUsableKeys
        );
    }

    #[test]
    fn public_jwk_shape() {
        let key = key(1);
        let jwk = key.public_jwk();
        assert_eq!(jwk["kty"], "OKP");
        assert_eq!(jwk["crv"], "Ed25519");
        assert_eq!(jwk["alg"], "EdDSA");
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["kid"], key.kid());
        assert_eq!(PublicKey::from_jwk(&jwk).unwrap(), *key.public_key());
    }

    #[test]
    fn kid_is_the_rfc8037_thumbprint() {
        let expected = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";
        assert_eq!(PublicKey::from_x_b64(RFC8037_X).unwrap().kid(), expected);
        let key = SigningKey::from_seed_b64(RFC8037_D).unwrap();
        assert_eq!(key.public_key().x(), RFC8037_X);
        assert_eq!(key.kid(), expected);
    }

    #[test]
    fn signs_the_rfc8037_example() {
        // RFC 8037 Appendix A.4 (Ed25519 signatures are deterministic).
        let key = SigningKey::from_seed_b64(RFC8037_D).unwrap();
        let token = key.sign_parts(r#"{"alg":"EdDSA"}"#, b"Example of Ed25519 signing");
        assert_eq!(
            token,
            "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.\
             hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
        );
    }

    #[test]
    fn seed_encoding() {
        let seed = SigningKey::generate_seed_b64([7; 32]);
        let key = SigningKey::from_seed_b64(&seed).unwrap();
        assert_eq!(key.kid(), SigningKey::from_seed(&[7; 32]).kid());
        assert_eq!(
            SigningKey::from_seed_b64(&b64(&[7; 31])).unwrap_err(),
            KeyError::Length
        );
        assert_eq!(
            SigningKey::from_seed_b64(&format!("{seed}=")).unwrap_err(),
            KeyError::Encoding
        );
        assert!(!format!("{key:?}").contains(&seed));
    }

    #[test]
    fn rejects_alg_none() {
        let key = key(1);
        let payload = b64(serde_json::to_string(&claims()).unwrap().as_bytes());
        let token = format!("{}.{payload}.", b64(br#"{"alg":"none"}"#));
        assert_eq!(
            verifier(&key).verify(&token, NOW),
            Err(TokenError::UnsupportedAlgorithm)
        );
    }

    #[test]
    fn rejects_hs256_keyed_with_the_public_key() {
        let key = key(1);
        let header = json!({ "alg": "HS256", "typ": "at+jwt", "kid": key.kid() });
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(serde_json::to_string(&claims()).unwrap().as_bytes())
        );
        let secrets = [
            key.public_key().key.as_bytes().to_vec(),
            key.public_key().x().as_bytes().to_vec(),
            key.public_jwk().to_string().into_bytes(),
        ];
        for secret in secrets {
            let mut mac = Hmac::<Sha256>::new_from_slice(&secret).unwrap();
            mac.update(input.as_bytes());
            let token = format!("{input}.{}", b64(&mac.finalize().into_bytes()));
            assert_eq!(
                verifier(&key).verify(&token, NOW),
                Err(TokenError::UnsupportedAlgorithm)
            );
        }
    }

    #[test]
    fn rejects_other_algorithms() {
        let key = key(1);
        for alg in ["RS256", "ES256", "EdDSA ", "eddsa", "Ed25519"] {
            let mut header = header_for(&key);
            header["alg"] = json!(alg);
            let token = signed(&key, &header, &serde_json::to_value(claims()).unwrap());
            assert_eq!(
                verifier(&key).verify(&token, NOW),
                Err(TokenError::UnsupportedAlgorithm),
                "{alg}"
            );
        }
    }

    #[test]
    fn expiry_with_leeway() {
        let key = key(1);
        let verifier = verifier(&key);
        let mut claims = claims();
        claims.exp = NOW - LEEWAY_SECS + 1;
        assert!(verifier.verify(&key.sign(&claims), NOW).is_ok());
        claims.exp = NOW - LEEWAY_SECS;
        assert_eq!(
            verifier.verify(&key.sign(&claims), NOW),
            Err(TokenError::Expired)
        );
        let mut no_exp = serde_json::to_value(&claims).unwrap();
        no_exp.as_object_mut().unwrap().remove("exp");
        assert_eq!(
            verifier.verify(&signed(&key, &header_for(&key), &no_exp), NOW),
            Err(TokenError::InvalidClaims)
        );
    }

    #[test]
    fn not_yet_valid_with_leeway() {
        let key = key(1);
        let verifier = verifier(&key);
        let mut claims = claims();
        claims.nbf = NOW + LEEWAY_SECS;
        assert!(verifier.verify(&key.sign(&claims), NOW).is_ok());
        claims.nbf = NOW + LEEWAY_SECS + 1;
        assert_eq!(
            verifier.verify(&key.sign(&claims), NOW),
            Err(TokenError::NotYetValid)
        );
        claims.nbf = NOW;
        claims.iat = NOW + LEEWAY_SECS + 1;
        assert_eq!(
            verifier.verify(&key.sign(&claims), NOW),
            Err(TokenError::NotYetValid)
        );
    }

    #[test]
    fn rejects_wrong_issuer() {
        let key = key(1);
        let mut claims = claims();
        claims.iss = "https://evil.test".into();
        assert_eq!(
            verifier(&key).verify(&key.sign(&claims), NOW),
            Err(TokenError::WrongIssuer)
        );
    }

    #[test]
    fn audience_string_or_array() {
        let key = key(1);
        let verifier = verifier(&key);
        let mut claims = claims();
        claims.aud = "other".into();
        assert_eq!(
            verifier.verify(&key.sign(&claims), NOW),
            Err(TokenError::WrongAudience)
        );

        let mut payload = serde_json::to_value(&claims).unwrap();
        payload["aud"] = json!(["other", AUDIENCE]);
        let verified = verifier
            .verify(&signed(&key, &header_for(&key), &payload), NOW)
            .unwrap();
        assert_eq!(verified.aud, AUDIENCE);
        payload["aud"] = json!(["other", "another"]);
        assert_eq!(
            verifier.verify(&signed(&key, &header_for(&key), &payload), NOW),
            Err(TokenError::WrongAudience)
        );
    }

    #[test]
    fn rejects_tampered_payload() {
        let key = key(1);
        let parts = parts(&key.sign(&claims()));
        let mut payload: Value = serde_json::from_slice(&unb64(&parts[1]).unwrap()).unwrap();
        payload["role"] = json!("admin");
        let token = format!(
            "{}.{}.{}",
            parts[0],
            b64(payload.to_string().as_bytes()),
            parts[2]
        );
        assert_eq!(
            verifier(&key).verify(&token, NOW),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn rejects_tampered_signature() {
        let key = key(1);
        let parts = parts(&key.sign(&claims()));
        let mut signature = unb64(&parts[2]).unwrap();
        signature[0] ^= 1;
        let token = format!("{}.{}.{}", parts[0], parts[1], b64(&signature));
        assert_eq!(
            verifier(&key).verify(&token, NOW),
            Err(TokenError::BadSignature)
        );
        let truncated = format!("{}.{}.{}", parts[0], parts[1], b64(&signature[..63]));
        assert_eq!(
            verifier(&key).verify(&truncated, NOW),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn rejects_unknown_or_missing_kid() {
        let key = key(1);
        let other = key_with_kid_header(&key, None);
        assert_eq!(
            verifier(&key).verify(&other, NOW),
            Err(TokenError::MissingKeyId)
        );
        let stranger = self::key(2);
        assert_eq!(
            verifier(&key).verify(&stranger.sign(&claims()), NOW),
            Err(TokenError::UnknownKey)
        );
        // A known kid does not help a token signed by another key.
        let forged = key_with_kid_header(&stranger, Some(key.kid()));
        assert_eq!(
            verifier(&key).verify(&forged, NOW),
            Err(TokenError::BadSignature)
        );
    }

    fn key_with_kid_header(signer: &SigningKey, kid: Option<&str>) -> String {
        let mut header = json!({ "alg": "EdDSA", "typ": "at+jwt" });
        if let Some(kid) = kid {
            header["kid"] = json!(kid);
        }
        signed(signer, &header, &serde_json::to_value(claims()).unwrap())
    }

    #[test]
    fn rejects_padding_and_standard_alphabet() {
        let key = key(1);
        let verifier = verifier(&key);
        let token = key.sign(&claims());
        // A 64-byte signature takes 86 characters, so padded base64 adds "==".
        assert_eq!(
            verifier.verify(&format!("{token}=="), NOW),
            Err(TokenError::Malformed)
        );

        // Find a token whose signature differs in the standard alphabet, then re-encode it so.
        let (token, standard) = (0..)
            .map(|n| {
                let mut claims = claims();
                claims.jti = format!("jti-{n}");
                let parts = parts(&key.sign(&claims));
                let signature = STANDARD_NO_PAD.encode(unb64(&parts[2]).unwrap());
                (parts, signature)
            })
            .find(|(parts, signature)| parts[2] != *signature)
            .unwrap();
        assert!(verifier.verify(&token.join("."), NOW).is_ok());
        let recoded = format!("{}.{}.{standard}", token[0], token[1]);
        assert_eq!(verifier.verify(&recoded, NOW), Err(TokenError::Malformed));
    }

    #[test]
    fn rejects_wrong_segment_count() {
        let key = key(1);
        let verifier = verifier(&key);
        let token = key.sign(&claims());
        for bad in [
            format!("{token}.e30"),
            format!("{token}."),
            token.rsplit_once('.').unwrap().0.to_owned(),
            String::new(),
        ] {
            assert_eq!(verifier.verify(&bad, NOW), Err(TokenError::Malformed));
        }
    }

    #[test]
    fn rejects_crit_header() {
        let key = key(1);
        for crit in [json!(["exp"]), json!([]), Value::Null] {
            let mut header = header_for(&key);
            header["crit"] = crit;
            let token = signed(&key, &header, &serde_json::to_value(claims()).unwrap());
            assert_eq!(
                verifier(&key).verify(&token, NOW),
                Err(TokenError::UnsupportedCriticalHeader)
            );
        }
    }

    #[test]
    fn rejects_other_token_types() {
        let key = key(1);
        let payload = serde_json::to_value(claims()).unwrap();
        for typ in [Some("JWT"), Some("id+jwt"), None] {
            let mut header = header_for(&key);
            match typ {
                Some(typ) => header["typ"] = json!(typ),
                None => {
                    header.as_object_mut().unwrap().remove("typ");
                }
            }
            assert_eq!(
                verifier(&key).verify(&signed(&key, &header, &payload), NOW),
                Err(TokenError::WrongType)
            );
        }
        let mut header = header_for(&key);
        header["typ"] = json!("application/AT+JWT");
        assert!(
            verifier(&key)
                .verify(&signed(&key, &header, &payload), NOW)
                .is_ok()
        );
    }

    #[test]
    fn rejects_oversized_and_duplicate_claims() {
        let key = key(1);
        let mut claims = claims();
        claims.scope = Some("x".repeat(MAX_TOKEN_LEN));
        assert_eq!(
            verifier(&key).verify(&key.sign(&claims), NOW),
            Err(TokenError::TooLong)
        );

        let payload = serde_json::to_string(&self::claims()).unwrap();
        let duplicated = payload.replacen('{', r#"{"role":"admin","#, 1);
        let token = key.sign_parts(&header_for(&key).to_string(), duplicated.as_bytes());
        assert_eq!(
            verifier(&key).verify(&token, NOW),
            Err(TokenError::InvalidClaims)
        );
    }

    #[test]
    fn duplicate_kids_with_different_keys_are_refused() {
        let a = key(1).public_key().clone();
        let mut b = key(2).public_key().clone();
        b.kid = a.kid.clone();
        assert_eq!(
            Verifier::new([a.clone(), b], ISSUER, AUDIENCE).unwrap_err(),
            KeyError::DuplicateKeyId
        );
        assert!(Verifier::new([a.clone(), a], ISSUER, AUDIENCE).is_ok());
        assert_eq!(
            Verifier::new([], ISSUER, AUDIENCE).unwrap_err(),
            KeyError::NoUsableKeys
        );
    }

    #[test]
    fn roles() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse(), Ok(role));
            assert_eq!(role.to_string(), role.as_str());
        }
        assert_eq!("Admin".parse::<Role>(), Err(UnknownRole));
        assert_eq!("root".parse::<Role>(), Err(UnknownRole));
        let mut claims = claims();
        claims.role = "superuser".into();
        assert_eq!(claims.role(), None);
        assert!(!claims.has_any_role(&Role::ALL));
    }
}
