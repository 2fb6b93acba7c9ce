//! State kept in the key-value store (Redis in production): refresh-token
//! sessions, pending MFA challenges and login-failure counters.
//!
//! A refresh token is `<session id>.<generation>.<mac>`, the mac an
//! HMAC-SHA256 under a key only the session record holds. Each refresh moves
//! the session to the next generation through an atomic increment, so an
//! authentic token of an older generation can only be a replay: the whole
//! session (the token family) is then revoked.

use folio_guest::http::Problem;
use folio_guest::kv::{self, Bucket};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use folio_guest::util::{
    b64url, b64url_decode, new_id, now_ms, now_unix, parse_rfc3339_ms, random, rfc3339, sha256_hex,
};

pub const REFRESH_LIFETIME_SECS: i64 = 30 * 24 * 3600;
pub const MFA_CHALLENGE_SECS: i64 = 300;
const MFA_MAX_ATTEMPTS: u32 = 5;

fn kv_error(e: kv::Error) -> Problem {
    Problem::unavailable(format!("the session store: {e:?}"))
}

pub fn open() -> Result<Bucket, Problem> {
    kv::open("default").map_err(kv_error)
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub user_id: String,
    /// The account's session epoch when the session began: a password change
    /// or suspension moves the account on and so ends the session.
    pub epoch: i64,
    key: String,
    pub client_address: String,
    pub user_agent: String,
    pub created_at: String,
    pub expires_at: String,
}

fn session_key(id: &str) -> String {
    format!("session:{id}")
}

fn generation_key(id: &str) -> String {
    format!("session:{id}:generation")
}

fn mac(key: &[u8], id: &str, generation: u64) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    m.update(format!("{id}.{generation}").as_bytes());
    m
}

fn refresh_token(session: &Session, id: &str, generation: u64) -> String {
    let key = b64url_decode(&session.key).unwrap_or_default();
    format!(
        "{id}.{generation}.{}",
        b64url(&mac(&key, id, generation).finalize().into_bytes())
    )
}

/// Starts a session; returns its id and first refresh token.
pub fn start(
    bucket: &Bucket,
    user_id: &str,
    epoch: i64,
    client_address: &str,
    user_agent: &str,
) -> Result<(String, String), Problem> {
    let id = new_id();
    let now = now_ms();
    let session = Session {
        user_id: user_id.to_string(),
        epoch,
        key: b64url(&random::<32>()),
        client_address: client_address.to_string(),
        user_agent: user_agent.chars().take(256).collect(),
        created_at: rfc3339(now),
        expires_at: rfc3339(now + REFRESH_LIFETIME_SECS * 1000),
    };
    let ttl = (REFRESH_LIFETIME_SECS * 1000) as u64;
    kv::set_with_ttl(bucket, &generation_key(&id), b"0", ttl).map_err(kv_error)?;
    save(bucket, &id, &session, ttl)?;
    Ok((id.clone(), refresh_token(&session, &id, 0)))
}

fn save(bucket: &Bucket, id: &str, session: &Session, ttl_ms: u64) -> Result<(), Problem> {
    let bytes = serde_json::to_vec(session).expect("sessions serialize");
    kv::set_with_ttl(bucket, &session_key(id), &bytes, ttl_ms).map_err(kv_error)
}

pub fn load(bucket: &Bucket, id: &str) -> Result<Option<Session>, Problem> {
    Ok(bucket
        .get(&session_key(id))
        .map_err(kv_error)?
        .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
}

/// Keeps the session but moves it to the account's new epoch (the session
/// that changed the password survives it).
pub fn set_epoch(bucket: &Bucket, id: &str, epoch: i64) -> Result<(), Problem> {
    if let Some(mut session) = load(bucket, id)? {
        session.epoch = epoch;
        let left = remaining_ms(&session);
        if left > 0 {
            save(bucket, id, &session, left)?;
        }
    }
    Ok(())
}

fn remaining_ms(session: &Session) -> u64 {
    let expires = parse_rfc3339_ms(&session.expires_at).unwrap_or(0);
    (expires - now_ms()).max(0) as u64
}

pub fn end(bucket: &Bucket, id: &str) -> Result<(), Problem> {
    bucket.delete(&session_key(id)).map_err(kv_error)?;
    bucket.delete(&generation_key(id)).map_err(kv_error)
}

pub enum Refresh {
    /// The next refresh token of the session.
    Rotated {
        id: String,
        session: Session,
        token: String,
    },
    /// An already-used token came back: the session is now revoked.
    Reused,
    /// Not a token of any live session.
    Invalid,
}

/// The session, generation and record of an authentic refresh token of a live session.
fn authentic(bucket: &Bucket, token: &str) -> Result<Option<(String, u64, Session)>, Problem> {
    let parts: Vec<&str> = token.split('.').collect();
    let [id, generation, presented] = parts[..] else {
        return Ok(None);
    };
    let (Ok(generation), Some(presented)) = (generation.parse::<u64>(), b64url_decode(presented))
    else {
        return Ok(None);
    };
    if !folio_guest::util::is_uuid(id) {
        return Ok(None);
    }
    let Some(session) = load(bucket, id)? else {
        return Ok(None);
    };
    let key = b64url_decode(&session.key).unwrap_or_default();
    if mac(&key, id, generation).verify_slice(&presented).is_err() {
        return Ok(None);
    }
    Ok(Some((id.to_string(), generation, session)))
}

/// Exchanges a refresh token for the next one of its session.
pub fn rotate(bucket: &Bucket, token: &str) -> Result<Refresh, Problem> {
    let Some((id, generation, session)) = authentic(bucket, token)? else {
        return Ok(Refresh::Invalid);
    };
    let next = kv::increment(bucket, &generation_key(&id), 1).map_err(kv_error)?;
    if next != generation as i64 + 1 {
        end(bucket, &id)?;
        return Ok(Refresh::Reused);
    }
    let token = refresh_token(&session, &id, next as u64);
    Ok(Refresh::Rotated { id, session, token })
}

/// The session a refresh token names, if the token is authentic (for logout).
pub fn authentic_session_id(bucket: &Bucket, token: &str) -> Result<Option<String>, Problem> {
    Ok(authentic(bucket, token)?.map(|(id, _, _)| id))
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MfaChallenge {
    pub user_id: String,
    pub attempts: u32,
    pub client_address: String,
    pub user_agent: String,
}

fn challenge_key(token: &str) -> String {
    format!("mfa:{}", sha256_hex(token))
}

/// Starts the second step of a login; returns the challenge token.
pub fn start_mfa(bucket: &Bucket, challenge: &MfaChallenge) -> Result<String, Problem> {
    let token = folio_guest::util::new_secret();
    let bytes = serde_json::to_vec(challenge).expect("challenges serialize");
    kv::set_with_ttl(
        bucket,
        &challenge_key(&token),
        &bytes,
        (MFA_CHALLENGE_SECS * 1000) as u64,
    )
    .map_err(kv_error)?;
    Ok(token)
}

pub fn load_mfa(bucket: &Bucket, token: &str) -> Result<Option<MfaChallenge>, Problem> {
    if token.len() > 128 {
        return Ok(None);
    }
    Ok(bucket
        .get(&challenge_key(token))
        .map_err(kv_error)?
        .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
}

pub fn end_mfa(bucket: &Bucket, token: &str) -> Result<(), Problem> {
    bucket.delete(&challenge_key(token)).map_err(kv_error)
}

/// Counts a wrong code; the challenge ends after too many.
pub fn fail_mfa(bucket: &Bucket, token: &str, mut challenge: MfaChallenge) -> Result<(), Problem> {
    challenge.attempts += 1;
    if challenge.attempts >= MFA_MAX_ATTEMPTS {
        return end_mfa(bucket, token);
    }
    let bytes = serde_json::to_vec(&challenge).expect("challenges serialize");
    // The attempt count restarts the expiry; bounded by MFA_MAX_ATTEMPTS.
    kv::set_with_ttl(
        bucket,
        &challenge_key(token),
        &bytes,
        (MFA_CHALLENGE_SECS * 1000) as u64,
    )
    .map_err(kv_error)
}

/// Login failures counted per account and per client address within a window.
pub struct Throttle {
    pub max_failures: u64,
    pub window_secs: i64,
}

impl Throttle {
    fn keys(subject: &str) -> (String, String) {
        let id = sha256_hex(subject);
        (format!("failures:{id}"), format!("failures:{id}:since"))
    }

    /// Seconds until `subject` may try again, if it is locked out now.
    pub fn retry_after(&self, bucket: &Bucket, subject: &str) -> Result<Option<i64>, Problem> {
        let (count_key, since_key) = Throttle::keys(subject);
        let count = read_number(bucket, &count_key)?;
        if count < self.max_failures as i64 {
            return Ok(None);
        }
        let since = read_number(bucket, &since_key)?;
        Ok(Some((since + self.window_secs - now_unix()).max(1)))
    }

    pub fn record_failure(&self, bucket: &Bucket, subject: &str) -> Result<(), Problem> {
        let (count_key, since_key) = Throttle::keys(subject);
        let window_ms = (self.window_secs * 1000) as u64;
        if bucket.get(&count_key).map_err(kv_error)?.is_none() {
            kv::set_with_ttl(
                bucket,
                &since_key,
                now_unix().to_string().as_bytes(),
                window_ms,
            )
            .map_err(kv_error)?;
            kv::set_with_ttl(bucket, &count_key, b"0", window_ms).map_err(kv_error)?;
        }
        kv::increment(bucket, &count_key, 1).map_err(kv_error)?;
        Ok(())
    }

    pub fn clear(&self, bucket: &Bucket, subject: &str) -> Result<(), Problem> {
        let (count_key, since_key) = Throttle::keys(subject);
        bucket.delete(&count_key).map_err(kv_error)?;
        bucket.delete(&since_key).map_err(kv_error)
    }
}

fn read_number(bucket: &Bucket, key: &str) -> Result<i64, Problem> {
    Ok(bucket
        .get(key)
        .map_err(kv_error)?
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0))
}
