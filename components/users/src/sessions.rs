//! State kept in the key-value store (Redis in production): refresh-token
//! sessions, pending MFA challenges, failure counters and the addresses each
//! account has signed in from.
//!
//! A refresh token is `<session id>.<generation>.<mac>`, the mac an
//! HMAC-SHA256 under a key only the session record holds. Each refresh moves
//! the session to the next generation through an atomic increment, so an
//! authentic token of an older generation can only be a replay: the whole
//! session (the token family) is then revoked.

use folio_auth::throttle;
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
/// Codes checked per challenge at most; the challenge ends at the next one.
pub const MFA_MAX_ATTEMPTS: i64 = 5;

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
    pub client_address: String,
    pub user_agent: String,
}

fn challenge_key(token: &str) -> String {
    format!("mfa:{}", sha256_hex(token))
}

/// The codes tried against a challenge, counted apart from it with atomic
/// increments, so concurrent guesses on one token each get their own count.
fn attempts_key(token: &str) -> String {
    format!("mfa:{}:attempts", sha256_hex(token))
}

/// Starts the second step of a login; returns the challenge token.
pub fn start_mfa(bucket: &Bucket, challenge: &MfaChallenge) -> Result<String, Problem> {
    let token = folio_guest::util::new_secret();
    let bytes = serde_json::to_vec(challenge).expect("challenges serialize");
    let ttl = (MFA_CHALLENGE_SECS * 1000) as u64;
    kv::set_with_ttl(bucket, &challenge_key(&token), &bytes, ttl).map_err(kv_error)?;
    // Written after the challenge, so it never expires before it.
    kv::set_with_ttl(bucket, &attempts_key(&token), b"0", ttl).map_err(kv_error)?;
    Ok(token)
}

pub enum MfaAttempt {
    /// No live challenge has this token.
    Unknown,
    /// This attempt is one too many: the challenge has ended.
    Exhausted,
    /// The challenge; this attempt may be checked.
    Open(MfaChallenge),
}

/// Counts an attempt on the challenge of `token` before any code is checked:
/// at most `MFA_MAX_ATTEMPTS` attempts per challenge are ever checked,
/// however many arrive at once.
pub fn attempt_mfa(bucket: &Bucket, token: &str) -> Result<MfaAttempt, Problem> {
    if token.is_empty() || token.len() > 128 {
        return Ok(MfaAttempt::Unknown);
    }
    let attempt = kv::increment(bucket, &attempts_key(token), 1).map_err(kv_error)?;
    let challenge = bucket
        .get(&challenge_key(token))
        .map_err(kv_error)?
        .and_then(|bytes| serde_json::from_slice::<MfaChallenge>(&bytes).ok());
    let Some(challenge) = challenge else {
        // The increment may just have made the key (without expiry).
        bucket.delete(&attempts_key(token)).map_err(kv_error)?;
        return Ok(MfaAttempt::Unknown);
    };
    if attempt > MFA_MAX_ATTEMPTS {
        end_mfa(bucket, token)?;
        return Ok(MfaAttempt::Exhausted);
    }
    Ok(MfaAttempt::Open(challenge))
}

pub fn end_mfa(bucket: &Bucket, token: &str) -> Result<(), Problem> {
    bucket.delete(&challenge_key(token)).map_err(kv_error)?;
    bucket.delete(&attempts_key(token)).map_err(kv_error)
}

/// Failures (or attempts) of one kind counted per subject in fixed windows
/// of `window_secs`; a subject is locked while the count of this window and
/// the one before reaches `max`, so each failure counts for one to two windows.
///
/// Counting is an atomic increment of the window's own key, so concurrent
/// attempts each see a distinct count and window ends need no reset.
pub struct Limit {
    /// Names the kind of failure in the keys (`pair`, `second-factor`, ...).
    pub kind: &'static str,
    pub max: i64,
    pub window_secs: i64,
}

/// One count taken by [`Limit::count`].
pub struct Counted {
    key: String,
    /// Seconds to wait, when this count is beyond the limit.
    pub over: Option<i64>,
}

impl Limit {
    fn key(&self, subject: &str, window: i64) -> String {
        format!("limit:{}:{}:{window}", self.kind, sha256_hex(subject))
    }

    fn counts(&self, bucket: &Bucket, subject: &str, now: i64) -> Result<(i64, i64), Problem> {
        let window = throttle::window_of(now, self.window_secs);
        Ok((
            read_number(bucket, &self.key(subject, window - 1))?,
            read_number(bucket, &self.key(subject, window))?,
        ))
    }

    /// What `subject` has counted in this window and the one before.
    pub fn failures(&self, bucket: &Bucket, subject: &str) -> Result<i64, Problem> {
        let (previous, current) = self.counts(bucket, subject, now_unix())?;
        Ok(previous + current)
    }

    /// Seconds until `subject` may try again, if it is locked now.
    pub fn retry_after(&self, bucket: &Bucket, subject: &str) -> Result<Option<i64>, Problem> {
        let now = now_unix();
        let (previous, current) = self.counts(bucket, subject, now)?;
        Ok(throttle::locked_for(
            previous,
            current,
            self.max,
            now,
            self.window_secs,
        ))
    }

    /// Counts one for `subject`; `over` says whether that count is beyond
    /// the limit (so a check and a count between them let at most `max`
    /// attempts through, however many run at once).
    pub fn count(&self, bucket: &Bucket, subject: &str) -> Result<Counted, Problem> {
        let now = now_unix();
        let window = throttle::window_of(now, self.window_secs);
        let key = self.key(subject, window);
        let current = kv::increment(bucket, &key, 1).map_err(kv_error)?;
        if current == 1 {
            // Read through the end of the next window.
            give_expiry(bucket, &key, (window + 2) * self.window_secs - now)?;
        }
        let previous = read_number(bucket, &self.key(subject, window - 1))?;
        let over = if previous + current > self.max {
            throttle::locked_for(previous, current, self.max, now, self.window_secs)
        } else {
            None
        };
        Ok(Counted { key, over })
    }

    /// Takes back a count whose attempt was never checked (the check failed).
    pub fn release(&self, bucket: &Bucket, counted: &Counted) -> Result<(), Problem> {
        kv::increment(bucket, &counted.key, -1).map_err(kv_error)?;
        Ok(())
    }

    /// Forgets every count of `subject`.
    pub fn clear(&self, bucket: &Bucket, subject: &str) -> Result<(), Problem> {
        let window = throttle::window_of(now_unix(), self.window_secs);
        for w in [window - 1, window] {
            bucket.delete(&self.key(subject, w)).map_err(kv_error)?;
        }
        Ok(())
    }
}

/// `increment` makes a missing key without expiry: this gives the key it
/// just made one, keeping its count. An increment by another request between
/// the read and the write here is lost; that is one round trip, once per key.
fn give_expiry(bucket: &Bucket, key: &str, ttl_secs: i64) -> Result<(), Problem> {
    let count = kv::increment(bucket, key, 0).map_err(kv_error)?;
    kv::set_with_ttl(
        bucket,
        key,
        count.to_string().as_bytes(),
        (ttl_secs.max(1) * 1000) as u64,
    )
    .map_err(kv_error)
}

pub const KNOWN_ADDRESS_SECS: i64 = 30 * 24 * 3600;

fn known_key(account: &str, address_key: &str) -> String {
    format!("known:{}:{address_key}", sha256_hex(account))
}

/// Remembers that `account` signed in from `address_key` (for 30 days from
/// the latest sign-in): the account's progressive delay spares it.
pub fn remember_address(bucket: &Bucket, account: &str, address_key: &str) -> Result<(), Problem> {
    kv::set_with_ttl(
        bucket,
        &known_key(account, address_key),
        b"1",
        (KNOWN_ADDRESS_SECS * 1000) as u64,
    )
    .map_err(kv_error)
}

pub fn is_known_address(
    bucket: &Bucket,
    account: &str,
    address_key: &str,
) -> Result<bool, Problem> {
    Ok(bucket
        .get(&known_key(account, address_key))
        .map_err(kv_error)?
        .is_some())
}

/// Failed sign-ins to one account from every address: not a lock, which
/// anyone could set off, but a delay for addresses the account has never
/// signed in from. From `threshold` failures on, such an address must wait
/// 1, 2, 4... (at most `cap_secs`) seconds after the latest failure, and then
/// only one attempt per delay gets through.
pub struct Delay {
    pub failures: Limit,
    pub threshold: i64,
    pub cap_secs: i64,
}

impl Delay {
    fn last_key(account: &str) -> String {
        format!("delay:{}:last", sha256_hex(account))
    }

    /// Seconds an attempt on `account` from an address it does not know must
    /// still wait; `None` lets it through (and uses up this delay's slot).
    pub fn retry_after(&self, bucket: &Bucket, account: &str) -> Result<Option<i64>, Problem> {
        let failures = self.failures.failures(bucket, account)?;
        let Some(wait) = throttle::progressive_delay_secs(failures, self.threshold, self.cap_secs)
        else {
            return Ok(None);
        };
        let last_ms = read_number(bucket, &Delay::last_key(account))?;
        let left_ms = last_ms + wait * 1000 - now_ms();
        if left_ms > 0 {
            return Ok(Some((left_ms + 999) / 1000));
        }
        let now = now_unix();
        let slot = format!(
            "delay:{}:{wait}:{}",
            sha256_hex(account),
            now.div_euclid(wait)
        );
        let taken = kv::increment(bucket, &slot, 1).map_err(kv_error)?;
        if taken == 1 {
            give_expiry(bucket, &slot, wait)?;
            return Ok(None);
        }
        Ok(Some((wait - now.rem_euclid(wait)).max(1)))
    }

    pub fn record_failure(&self, bucket: &Bucket, account: &str) -> Result<(), Problem> {
        self.failures.count(bucket, account)?;
        kv::set_with_ttl(
            bucket,
            &Delay::last_key(account),
            now_ms().to_string().as_bytes(),
            (2 * self.failures.window_secs * 1000) as u64,
        )
        .map_err(kv_error)
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
