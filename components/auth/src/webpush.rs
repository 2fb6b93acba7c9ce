//! Web Push: message encryption (RFC 8291, the `aes128gcm` coding of RFC 8188)
//! and application server identification (VAPID, RFC 8292).
//!
//! Pure and deterministic: the caller supplies the randomness (the ephemeral
//! ECDH key and the salt) and does the HTTP.

use std::fmt;

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hkdf::Hkdf;
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{PublicKey, SecretKey};
use sha2::Sha256;

/// The `rs` written in the header.
pub const RECORD_SIZE: u32 = 4096;
/// Salt (16), `rs` (4), `idlen` (1) and the 65-byte `keyid`.
pub const HEADER_LEN: usize = 16 + 4 + 1 + POINT_LEN;
const POINT_LEN: usize = 65;
const AUTH_LEN: usize = 16;
const TAG_LEN: usize = 16;
const DELIMITER: u8 = 0x02;
/// The body size every push service must accept (RFC 8030 §7.2).
const MAX_BODY: usize = 4096;
/// Largest plaintext `encrypt` takes, 3993 bytes (RFC 8291 §4): the body must
/// fit [`MAX_BODY`] with the header (86), padding delimiter (1) and tag (16).
/// The record (at most 4010 bytes) then also stays below `rs`.
pub const MAX_PLAINTEXT: usize = MAX_BODY - HEADER_LEN - 1 - TAG_LEN;

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Strict base64url, except that trailing `=` padding is tolerated.
fn unb64(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()
}

/// Why subscription keys were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// `p256dh` is unusable; the text says why.
    P256dh(String),
    /// `auth` is unusable; the text says why.
    Auth(String),
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::P256dh(why) => write!(f, "p256dh {why}"),
            KeyError::Auth(why) => write!(f, "auth {why}"),
        }
    }
}

impl std::error::Error for KeyError {}

/// Why a message could not be encrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncryptError {
    /// The plaintext is longer than [`MAX_PLAINTEXT`].
    TooLong(usize),
    /// The ephemeral secret is zero or not below the group order.
    EphemeralKey,
}

impl fmt::Display for EncryptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncryptError::TooLong(len) => write!(
                f,
                "push payload of {len} bytes is longer than {MAX_PLAINTEXT} bytes"
            ),
            EncryptError::EphemeralKey => {
                f.write_str("ephemeral secret is not a valid P-256 scalar")
            }
        }
    }
}

impl std::error::Error for EncryptError {}

/// A browser's push subscription keys, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionKeys {
    p256dh: PublicKey,
    auth: [u8; AUTH_LEN],
}

impl SubscriptionKeys {
    /// From the base64url (padding tolerated) strings of
    /// `PushSubscription.toJSON().keys`.
    pub fn parse(p256dh: &str, auth: &str) -> Result<SubscriptionKeys, KeyError> {
        const POINT: &str = "must be a 65-byte uncompressed P-256 point in base64url";
        let point =
            unb64(p256dh).ok_or_else(|| KeyError::P256dh(format!("is not base64url: {POINT}")))?;
        if point.len() != POINT_LEN {
            return Err(KeyError::P256dh(format!(
                "has {} bytes: {POINT}",
                point.len()
            )));
        }
        if point[0] != 0x04 {
            return Err(KeyError::P256dh(format!("is not uncompressed: {POINT}")));
        }
        let p256dh = PublicKey::from_sec1_bytes(&point)
            .map_err(|_| KeyError::P256dh(format!("is not a point on the curve: {POINT}")))?;

        const AUTH: &str = "must be 16 bytes in base64url";
        let auth =
            unb64(auth).ok_or_else(|| KeyError::Auth(format!("is not base64url: {AUTH}")))?;
        let auth = <[u8; AUTH_LEN]>::try_from(auth.as_slice())
            .map_err(|_| KeyError::Auth(format!("has {} bytes: {AUTH}", auth.len())))?;
        Ok(SubscriptionKeys { p256dh, auth })
    }
}

fn uncompressed(key: &PublicKey) -> [u8; POINT_LEN] {
    key.to_encoded_point(false)
        .as_bytes()
        .try_into()
        .expect("an uncompressed P-256 point has 65 bytes")
}

/// The content encryption key and nonce of RFC 8291 §3.4 and RFC 8188 §2.2.
fn derive(
    shared: &[u8],
    auth: &[u8; AUTH_LEN],
    ua_public: &[u8; POINT_LEN],
    as_public: &[u8; POINT_LEN],
    salt: &[u8; 16],
) -> ([u8; 16], [u8; 12]) {
    let mut key_info = Vec::with_capacity(14 + 2 * POINT_LEN);
    key_info.extend_from_slice(b"WebPush: info\0");
    key_info.extend_from_slice(ua_public);
    key_info.extend_from_slice(as_public);
    let mut ikm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(auth), shared)
        .expand(&key_info, &mut ikm)
        .expect("32 bytes is a valid HKDF-SHA256 length");

    let prk = Hkdf::<Sha256>::new(Some(salt), &ikm);
    let mut cek = [0u8; 16];
    let mut nonce = [0u8; 12];
    prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek)
        .expect("16 bytes is a valid HKDF-SHA256 length");
    prk.expand(b"Content-Encoding: nonce\0", &mut nonce)
        .expect("12 bytes is a valid HKDF-SHA256 length");
    (cek, nonce)
}

/// The `aes128gcm` body of `plaintext` for `keys`: the RFC 8188 header (salt,
/// `rs` = 4096, `idlen` = 65, `keyid` = the ephemeral public key) and one
/// record ending with the padding delimiter 0x02, without further padding.
///
/// `ephemeral_secret` is the application server's one-time ECDH private
/// scalar and `salt` 16 random bytes; both must be fresh for every message.
pub fn encrypt(
    plaintext: &[u8],
    keys: &SubscriptionKeys,
    ephemeral_secret: [u8; 32],
    salt: [u8; 16],
) -> Result<Vec<u8>, EncryptError> {
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(EncryptError::TooLong(plaintext.len()));
    }
    let secret =
        SecretKey::from_bytes(&ephemeral_secret.into()).map_err(|_| EncryptError::EphemeralKey)?;
    let as_public = uncompressed(&secret.public_key());
    let shared = p256::ecdh::diffie_hellman(secret.to_nonzero_scalar(), keys.p256dh.as_affine());
    let (cek, nonce) = derive(
        shared.raw_secret_bytes(),
        &keys.auth,
        &uncompressed(&keys.p256dh),
        &as_public,
        &salt,
    );

    let mut body = Vec::with_capacity(HEADER_LEN + plaintext.len() + 1 + TAG_LEN);
    body.extend_from_slice(&salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(POINT_LEN as u8);
    body.extend_from_slice(&as_public);
    body.extend_from_slice(plaintext);
    body.push(DELIMITER);
    // The record is the first and only one, so its sequence number is 0 and
    // the nonce is used as derived.
    let tag = Aes128Gcm::new(&cek.into())
        .encrypt_in_place_detached(Nonce::from_slice(&nonce), b"", &mut body[HEADER_LEN..])
        .expect("a record below 64 GiB encrypts");
    body.extend_from_slice(&tag);
    Ok(body)
}

/// The VAPID key pair of the application server (P-256).
#[derive(Clone)]
pub struct VapidKey {
    signing: SigningKey,
}

impl fmt::Debug for VapidKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VapidKey")
            .field("public", &self.public_key_b64url())
            .finish_non_exhaustive()
    }
}

impl VapidKey {
    /// From the 32-byte big-endian private scalar.
    pub fn from_private(d: &[u8]) -> Result<VapidKey, String> {
        if d.len() != 32 {
            return Err(format!(
                "VAPID private key has {} bytes: must be a 32-byte P-256 scalar",
                d.len()
            ));
        }
        let signing = SigningKey::from_slice(d)
            .map_err(|_| "VAPID private key is not a valid P-256 scalar".to_string())?;
        Ok(VapidKey { signing })
    }

    /// The 65-byte uncompressed public key in base64url without padding, as
    /// browsers take it for `applicationServerKey`.
    pub fn public_key_b64url(&self) -> String {
        b64(self
            .signing
            .verifying_key()
            .to_encoded_point(false)
            .as_bytes())
    }

    /// The `Authorization` header value for a push to `endpoint`:
    /// `vapid t=<ES256 JWT>, k=<public key>` (RFC 8292 §3).
    ///
    /// `subject` is a `mailto:` or `https:` URL. `expires_unix` becomes `exp`;
    /// push services refuse one more than 24 hours ahead, which the caller (who
    /// knows the time) must keep to.
    pub fn authorization(
        &self,
        endpoint: &str,
        subject: &str,
        expires_unix: i64,
    ) -> Result<String, String> {
        let aud = origin(endpoint)?;
        if !(subject.starts_with("mailto:") || subject.starts_with("https:")) {
            return Err(format!(
                "VAPID subject {subject:?} must be a mailto: or https: URL"
            ));
        }
        if expires_unix <= 0 {
            return Err(format!("VAPID expiry {expires_unix} is not a Unix time"));
        }
        let header = b64(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = format!(
            r#"{{"aud":{},"exp":{expires_unix},"sub":{}}}"#,
            json_string(&aud),
            json_string(subject)
        );
        let signing_input = format!("{header}.{}", b64(claims.as_bytes()));
        // RFC 6979 nonces, so no random source is needed.
        let signature: Signature = self.signing.sign(signing_input.as_bytes());
        Ok(format!(
            "vapid t={signing_input}.{}, k={}",
            b64(&signature.to_bytes()),
            self.public_key_b64url()
        ))
    }
}

fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c < ' ' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `scheme://host[:port]` of an endpoint URL, as `aud` of VAPID wants it:
/// lowercased, without path, user info or default port. Err for anything
/// but an absolute http(s) URL.
pub fn origin(endpoint: &str) -> Result<String, String> {
    let bad = |why: &str| format!("push endpoint {endpoint:?} {why}");
    let (scheme, rest) = endpoint
        .split_once("://")
        .ok_or_else(|| bad("is not an absolute URL"))?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port: u16 = match scheme.as_str() {
        "https" => 443,
        "http" => 80,
        _ => return Err(bad("is not an http(s) URL")),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let (host, port) = if host_port.starts_with('[') {
        let end = host_port
            .find(']')
            .ok_or_else(|| bad("has an unclosed IPv6 literal"))?;
        let (host, after) = host_port.split_at(end + 1);
        let literal = &host[1..end];
        if literal.is_empty()
            || !literal
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return Err(bad("has an invalid IPv6 literal"));
        }
        match after {
            "" => (host, None),
            _ => (
                host,
                Some(
                    after
                        .strip_prefix(':')
                        .ok_or_else(|| bad("has junk after its host"))?,
                ),
            ),
        }
    } else {
        match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    let host_ok = !host.is_empty()
        && (host.starts_with('[')
            || host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._~%".contains(c)));
    if !host_ok {
        return Err(bad("has no valid host"));
    }
    let host = host.to_ascii_lowercase();
    let port = match port {
        None | Some("") => default_port,
        Some(port) if port.bytes().all(|b| b.is_ascii_digit()) => port
            .parse::<u16>()
            .map_err(|_| bad("has an invalid port"))?,
        Some(_) => return Err(bad("has an invalid port")),
    };
    // Like a browser's origin, no default port.
    if port == default_port {
        Ok(format!("{scheme}://{host}"))
    } else {
        Ok(format!("{scheme}://{host}:{port}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::VerifyingKey;
    use p256::ecdsa::signature::Verifier;
    use sha2::{Digest, Sha256};

    fn d(text: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(text).unwrap()
    }

    // RFC 8291 Appendix A.
    const RFC_PLAINTEXT: &str = "When I grow up, I want to be a watermelon";
    const RFC_AS_PRIVATE: &str = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";
    const RFC_AS_PUBLIC: &str =
        "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8";
    const RFC_UA_PRIVATE: &str = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94";
    const RFC_UA_PUBLIC: &str =
        "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
    const RFC_SALT: &str = "DGv6ra1nlYgDCS1FRnbzlw";
    const RFC_AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";
    const RFC_BODY: &str = concat!(
        "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27ml",
        "mlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPT",
        "pK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN",
    );

    /// The user agent's side (RFC 8291 §3.4), for checking round trips.
    fn decrypt(body: &[u8], ua_private: &SecretKey, auth: &[u8; 16]) -> Option<Vec<u8>> {
        let salt: [u8; 16] = body.get(..16)?.try_into().ok()?;
        let rs = u32::from_be_bytes(body.get(16..20)?.try_into().ok()?);
        let idlen = usize::from(*body.get(20)?);
        let as_public: [u8; POINT_LEN] = body.get(21..21 + idlen)?.try_into().ok()?;
        let record = body.get(21 + idlen..)?;
        if record.len() > rs as usize {
            return None;
        }
        let as_key = PublicKey::from_sec1_bytes(&as_public).ok()?;
        let shared = p256::ecdh::diffie_hellman(ua_private.to_nonzero_scalar(), as_key.as_affine());
        let ua_public = uncompressed(&ua_private.public_key());
        let (cek, nonce) = derive(
            shared.raw_secret_bytes(),
            auth,
            &ua_public,
            &as_public,
            &salt,
        );
        let mut plain = record.to_vec();
        Aes128Gcm::new(&cek.into())
            .decrypt_in_place(Nonce::from_slice(&nonce), b"", &mut plain)
            .ok()?;
        // Strip padding: zeros after the delimiter, which must be 0x02.
        let end = plain.iter().rposition(|&b| b != 0)?;
        (plain[end] == DELIMITER).then(|| plain[..end].to_vec())
    }

    /// A deterministic, valid-looking scalar for a seed.
    fn scalar(seed: &str) -> [u8; 32] {
        Sha256::digest(seed.as_bytes()).into()
    }

    #[test]
    fn max_plaintext_is_rfc8291s() {
        assert_eq!(HEADER_LEN, 86);
        assert_eq!(MAX_PLAINTEXT, 3993);
    }

    #[test]
    fn rfc8291_appendix_a() {
        let keys = SubscriptionKeys::parse(RFC_UA_PUBLIC, RFC_AUTH).unwrap();
        let body = encrypt(
            RFC_PLAINTEXT.as_bytes(),
            &keys,
            d(RFC_AS_PRIVATE).try_into().unwrap(),
            d(RFC_SALT).try_into().unwrap(),
        )
        .unwrap();
        assert_eq!(b64(&body), RFC_BODY);
        assert_eq!(b64(&body[21..86]), RFC_AS_PUBLIC);

        let ua_private = SecretKey::from_slice(&d(RFC_UA_PRIVATE)).unwrap();
        let auth = d(RFC_AUTH).try_into().unwrap();
        assert_eq!(
            decrypt(&d(RFC_BODY), &ua_private, &auth).unwrap(),
            RFC_PLAINTEXT.as_bytes()
        );
    }

    #[test]
    fn round_trip() {
        let ua_private = SecretKey::from_bytes(&scalar("user agent").into()).unwrap();
        let auth: [u8; 16] = scalar("auth")[..16].try_into().unwrap();
        // Padded base64url, as some clients send it.
        let p256dh = URL_SAFE_NO_PAD.encode(uncompressed(&ua_private.public_key())) + "=";
        let keys = SubscriptionKeys::parse(&p256dh, &(b64(&auth) + "==")).unwrap();

        for len in [0, 1, 15, 16, 17, 1000, MAX_PLAINTEXT] {
            let plaintext: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let salt: [u8; 16] = scalar(&format!("salt {len}"))[..16].try_into().unwrap();
            let body = encrypt(&plaintext, &keys, scalar(&format!("eph {len}")), salt).unwrap();
            assert_eq!(body.len(), HEADER_LEN + len + 1 + TAG_LEN);
            assert_eq!(&body[..16], &salt);
            assert_eq!(&body[16..21], &[0, 0, 0x10, 0, 65]);
            assert_eq!(decrypt(&body, &ua_private, &auth).unwrap(), plaintext);

            let mut tampered = body.clone();
            *tampered.last_mut().unwrap() ^= 1;
            assert_eq!(decrypt(&tampered, &ua_private, &auth), None);
        }
        assert_eq!(
            encrypt(&vec![0; 4096], &keys, scalar("eph"), [0; 16]).unwrap_err(),
            EncryptError::TooLong(4096)
        );
        let full = encrypt(&[b'x'; MAX_PLAINTEXT], &keys, scalar("eph"), [0; 16]).unwrap();
        assert_eq!(full.len(), 4096);
        assert_eq!(
            encrypt(&vec![0; MAX_PLAINTEXT + 1], &keys, scalar("eph"), [0; 16]).unwrap_err(),
            EncryptError::TooLong(MAX_PLAINTEXT + 1)
        );
        assert_eq!(
            encrypt(b"hi", &keys, [0; 32], [0; 16]).unwrap_err(),
            EncryptError::EphemeralKey
        );
        assert_eq!(
            encrypt(b"hi", &keys, [0xff; 32], [0; 16]).unwrap_err(),
            EncryptError::EphemeralKey
        );
    }

    #[test]
    fn parse_refuses_bad_keys() {
        let point = d(RFC_UA_PUBLIC);
        let is_p256dh_err = |p: &str| {
            matches!(
                SubscriptionKeys::parse(p, RFC_AUTH),
                Err(KeyError::P256dh(_))
            )
        };
        let is_auth_err = |a: &str| {
            matches!(
                SubscriptionKeys::parse(RFC_UA_PUBLIC, a),
                Err(KeyError::Auth(_))
            )
        };

        assert!(is_p256dh_err(""));
        assert!(is_p256dh_err("not base64!"));
        assert!(is_p256dh_err(&RFC_UA_PUBLIC.replace('-', "+"))); // standard alphabet
        assert!(is_p256dh_err(&b64(&point[..64])));
        assert!(is_p256dh_err(&b64(&[point.as_slice(), &[0]].concat())));
        // Compressed form of a valid point.
        let compressed = PublicKey::from_sec1_bytes(&point)
            .unwrap()
            .to_encoded_point(true);
        assert!(is_p256dh_err(&b64(compressed.as_bytes())));
        // Not on the curve: y changed.
        let mut off_curve = point.clone();
        off_curve[64] ^= 1;
        assert_eq!(
            SubscriptionKeys::parse(&b64(&off_curve), RFC_AUTH).unwrap_err(),
            KeyError::P256dh(
                "is not a point on the curve: must be a 65-byte uncompressed P-256 point in base64url"
                    .into()
            )
        );
        let mut hybrid = point.clone();
        hybrid[0] = 0x06;
        assert!(is_p256dh_err(&b64(&hybrid)));
        // Coordinates not below p.
        let mut too_big = vec![0x04];
        too_big.extend_from_slice(&[0xff; 64]);
        assert!(is_p256dh_err(&b64(&too_big)));

        assert!(is_auth_err(""));
        assert!(is_auth_err("BTBZMqHH6r4Tts7J_aSIg"));
        assert!(is_auth_err(&b64(&[1; 15])));
        assert!(is_auth_err(&b64(&[1; 17])));
        assert!(is_auth_err("BTBZMqHH6r4Tts7J/aSIgg"));

        assert_eq!(
            SubscriptionKeys::parse(&b64(&point[..64]), RFC_AUTH).unwrap_err(),
            KeyError::P256dh(
                "has 64 bytes: must be a 65-byte uncompressed P-256 point in base64url".into()
            )
        );
        assert_eq!(
            SubscriptionKeys::parse(RFC_UA_PUBLIC, &b64(&[1; 15]))
                .unwrap_err()
                .to_string(),
            "auth has 15 bytes: must be 16 bytes in base64url"
        );
    }

    #[test]
    fn vapid_jwt_verifies() {
        let key = VapidKey::from_private(&d(RFC_AS_PRIVATE)).unwrap();
        assert_eq!(key.public_key_b64url(), RFC_AS_PUBLIC);

        let header = key
            .authorization(
                "https://Push.Example.net:443/wpush/v2/abc?x=1",
                "mailto:ops@example.com",
                1_700_000_000,
            )
            .unwrap();
        let (t, k) = header
            .strip_prefix("vapid t=")
            .and_then(|rest| rest.split_once(", k="))
            .unwrap();
        assert_eq!(k, key.public_key_b64url());

        let (signing_input, signature) = t.rsplit_once('.').unwrap();
        let (jose, claims) = signing_input.split_once('.').unwrap();
        assert_eq!(d(jose), br#"{"typ":"JWT","alg":"ES256"}"#);
        assert_eq!(
            String::from_utf8(d(claims)).unwrap(),
            r#"{"aud":"https://push.example.net","exp":1700000000,"sub":"mailto:ops@example.com"}"#
        );
        let signature = d(signature);
        assert_eq!(signature.len(), 64);
        let verifying = VerifyingKey::from_sec1_bytes(&d(k)).unwrap();
        let signature = Signature::from_slice(&signature).unwrap();
        assert!(
            verifying
                .verify(signing_input.as_bytes(), &signature)
                .is_ok()
        );
        assert!(verifying.verify(b"something else", &signature).is_err());

        // Deterministic (RFC 6979).
        assert_eq!(
            key.authorization(
                "https://push.example.net/x",
                "mailto:ops@example.com",
                1_700_000_000
            ),
            Ok(header)
        );
    }

    #[test]
    fn vapid_refuses_bad_input() {
        assert!(VapidKey::from_private(&[1; 31]).is_err());
        assert!(VapidKey::from_private(&[1; 33]).is_err());
        assert!(VapidKey::from_private(&[0; 32]).is_err());
        assert!(VapidKey::from_private(&[0xff; 32]).is_err());
        let key = VapidKey::from_private(&scalar("vapid")).unwrap();
        assert!(
            key.authorization("https://p.example/x", "ops@example.com", 1)
                .is_err()
        );
        assert!(
            key.authorization("https://p.example/x", "http://example.com", 1)
                .is_err()
        );
        assert!(
            key.authorization("ftp://p.example/x", "mailto:a@b", 1)
                .is_err()
        );
        assert!(
            key.authorization("https://p.example/x", "mailto:a@b", 0)
                .is_err()
        );
        let with_quote = key
            .authorization("https://p.example/x", "mailto:\"a\"@b", 1)
            .unwrap();
        let claims = with_quote.split('.').nth(1).unwrap();
        assert_eq!(
            String::from_utf8(d(claims)).unwrap(),
            r#"{"aud":"https://p.example","exp":1,"sub":"mailto:\"a\"@b"}"#
        );
        assert!(format!("{key:?}").contains(&key.public_key_b64url()));
    }

    #[test]
    fn origins() {
        let ok = |url: &str| origin(url).unwrap();
        assert_eq!(
            ok("https://fcm.googleapis.com/fcm/send/abc:def"),
            "https://fcm.googleapis.com"
        );
        assert_eq!(
            ok("HTTPS://Updates.Push.Services.Mozilla.com/wpush/v2/x"),
            "https://updates.push.services.mozilla.com"
        );
        assert_eq!(ok("http://127.0.0.1:8123/push/0"), "http://127.0.0.1:8123");
        assert_eq!(ok("http://127.0.0.1:80/push/0"), "http://127.0.0.1");
        assert_eq!(ok("https://example.com:8443"), "https://example.com:8443");
        assert_eq!(ok("https://example.com?x#y"), "https://example.com");
        assert_eq!(
            ok("https://user:pw@example.com:444/p"),
            "https://example.com:444"
        );
        assert_eq!(ok("http://[::1]:9000/push"), "http://[::1]:9000");
        assert_eq!(ok("http://[::1]/push"), "http://[::1]");
        for bad in [
            "",
            "example.com/push",
            "ftp://example.com/push",
            "mailto:ops@example.com",
            "https:///path",
            "https://exa mple.com/",
            "https://example.com:99999/",
            "https://example.com:-1/",
            "https://example.com:x/",
            "http://[::1/push",
            "http://[::1]x/push",
            "http://[]/push",
        ] {
            assert!(origin(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
