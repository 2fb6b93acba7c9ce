//! `/api/v1/auth/...`: registration, login (with MFA), refresh, logout, the
//! client-credentials grant and password reset.

use folio_auth::{sealed, throttle, totp};
use folio_guest::http::{JsonBody, Problem, form_pairs, header, json, no_content};
use folio_guest::passwords;
use spin_sdk::http::{Request, Response};

use super::bodies::*;
use crate::accounts::{self, Change, NewUser, User, db_error};
use crate::events::{self, UserEvent};
use crate::sessions::{self, Delay, Limit, MfaAttempt, MfaChallenge, Refresh};
use crate::tokens::{Issuer, SERVICE_LIFETIME_SECS, TokenPair, variable};
use crate::{clients, validate};
use folio_guest::util::{
    b64url, b64url_decode, new_secret, now_ms, now_rfc3339, random, rfc3339, sha256_hex,
};

const PASSWORD_RESET_LIFETIME_MS: i64 = 30 * 60 * 1000;

/// The client's address without the port, as the host reports it (after
/// the proxies it trusts).
pub fn client_address(request: &Request) -> String {
    throttle::client_ip(header(request, "spin-client-addr").unwrap_or(""))
}

fn user_agent(request: &Request) -> String {
    header(request, "user-agent").unwrap_or("").to_string()
}

/// Every failure counter's window.
const FAILURE_WINDOW_SECS: i64 = 15 * 60;
/// The longest progressive delay of an account under attack.
const ACCOUNT_DELAY_CAP_SECS: i64 = 60;

/// A positive whole number from a variable, else `default` (variables the
/// manifest does not declare are optional).
fn configured(name: &str, default: i64) -> i64 {
    variable(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|n: &i64| *n > 0)
        .unwrap_or(default)
}

/// Failures of `kind`, at most `variable_name` (default 5) per 15 minutes.
pub fn limit(kind: &'static str, variable_name: &str) -> Limit {
    Limit {
        kind,
        max: configured(variable_name, 5),
        window_secs: FAILURE_WINDOW_SECS,
    }
}

/// Wrong second factors per account, across every sign-in and
/// `DELETE /users/me/mfa`; only a right one clears them.
pub fn second_factor_limit() -> Limit {
    limit("second-factor", "mfa_max_failures")
}

/// Failed sign-ins from one address to one account: that pair is locked.
fn pair_limit() -> Limit {
    limit("pair", "login_max_failures")
}

/// Failed sign-ins from one address, to any account.
fn address_limit() -> Limit {
    limit("address", "login_max_failures_per_address")
}

/// Failed sign-ins to one account from anywhere: a delay, not a lock.
fn account_delay() -> Delay {
    let failures = limit("account", "login_max_failures");
    Delay {
        threshold: failures.max,
        failures,
        cap_secs: ACCOUNT_DELAY_CAP_SECS,
    }
}

/// 429 with `Retry-After`; `what` says what failed too often.
pub fn too_many(what: &str, retry_after: i64) -> Problem {
    Problem::new(
        429,
        "Too many attempts",
        format!("too many failed {what}; try again later"),
    )
    .with_header("retry-after", retry_after.max(1).to_string())
}

fn too_many_attempts(retry_after: i64) -> Problem {
    too_many("sign-in attempts", retry_after)
}

fn invalid_credentials() -> Problem {
    Problem::unauthorized("the email or password is wrong")
}

#[utoipa::path(
    post,
    path = "/api/v1/auth/register",
    tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 202, description = "The same answer whether or not the email already has an account: a new email's account is created (sign in with it); the owner of a taken one is told of the attempt", body = RegistrationAccepted),
        (status = 422, description = "A field is invalid; `errors` names it", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "Busy (see `Retry-After`) or a backend is down", body = ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn register(request: &Request) -> Result<Response, Problem> {
    let body = JsonBody::parse(request)?;
    body.only(&["email", "password", "firstName", "lastName"])?;
    let email = validate::email("email", body.required_str("email")?)?;
    let first_name = validate::name("firstName", body.required_str("firstName")?)?;
    let last_name = validate::name("lastName", body.required_str("lastName")?)?;
    let password = body.required_str("password")?;
    validate::new_account_password("password", password, &email, &first_name, &last_name)?;
    // Hashed whether or not the email is taken: the answer and its timing
    // must not tell which emails have accounts.
    let password_hash = passwords::hash(password)?;
    let db = accounts::open()?;
    let created = accounts::create(
        &db,
        NewUser {
            email: email.clone(),
            password_hash,
            first_name,
            last_name,
            role: "consumer",
        },
    )?;
    if created.is_none() {
        // The email has an account: its owner is told (by the notification
        // service), the caller is not.
        if let Some(owner) = accounts::find_by_email(&db, &email)? {
            let tx = db.begin().map_err(db_error)?;
            events::publish(&tx, UserEvent::registration_attempted(&owner))?;
            tx.commit().map_err(db_error)?;
        }
    }
    Ok(json(
        202,
        &RegistrationAccepted {
            message: "registration received: if the email had no account, it has one now and \
                      can sign in; if it had, its owner is told",
        },
    ))
}

/// The first admin: when `bootstrap_admin_email` and `bootstrap_admin_password`
/// are configured and no account has that email, signing in with them creates
/// the account as an admin. Unset them afterwards.
fn bootstrap_admin(
    db: &folio_guest::Connection,
    email: &str,
    password: &str,
) -> Result<(), Problem> {
    let configured = |name: &str| variable(name).ok().filter(|v| !v.is_empty());
    let (Some(admin_email), Some(admin_password)) = (
        configured("bootstrap_admin_email"),
        configured("bootstrap_admin_password"),
    ) else {
        return Ok(());
    };
    if admin_email.trim().to_lowercase() != email
        || admin_password != password
        || accounts::find_by_email(db, email)?.is_some()
    {
        return Ok(());
    }
    validate::new_password("bootstrap_admin_password", password, &[])?;
    // `None`: another request created it first.
    accounts::create(
        db,
        NewUser {
            email: email.to_string(),
            password_hash: passwords::hash(password)?,
            first_name: "Admin".into(),
            last_name: "Admin".into(),
            role: "admin",
        },
    )?;
    Ok(())
}

#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Tokens, or an MFA challenge", body = LoginResponse),
        (status = 401, description = "Wrong email or password (the same answer for both)", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "The account is suspended or inactive", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Too many failures from this address for this account or for any account, or (from an address the account has not signed in from) the account's progressive delay: see `Retry-After`", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "Busy (see `Retry-After`) or a backend is down", body = ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn login(request: &Request) -> Result<Response, Problem> {
    let body = JsonBody::parse(request)?;
    body.only(&["email", "password"])?;
    let email = body.required_str("email")?.trim().to_lowercase();
    let password = body.required_str("password")?;
    let address = client_address(request);
    let address_key = throttle::address_key(&address);
    let bucket = sessions::open()?;
    // Failures lock the address (for every account) and the pair of this
    // address and this account; an account's failures from everywhere only
    // delay addresses it has never signed in from, so nobody elsewhere can
    // lock its owner out.
    let per_address = address_limit();
    let per_pair = pair_limit();
    let per_account = account_delay();
    let pair = format!("{address_key} {email}");
    for (limit, subject) in [(&per_address, &address_key), (&per_pair, &pair)] {
        if let Some(retry_after) = limit.retry_after(&bucket, subject)? {
            return Err(too_many_attempts(retry_after));
        }
    }
    if !sessions::is_known_address(&bucket, &email, &address_key)?
        && let Some(retry_after) = per_account.retry_after(&bucket, &email)?
    {
        return Err(too_many_attempts(retry_after));
    }
    // Counted before the check, so concurrent guesses from the pair get
    // through only up to the limit; a right password clears the count.
    let counted = per_pair.count(&bucket, &pair)?;
    if let Some(retry_after) = counted.over {
        return Err(too_many_attempts(retry_after));
    }
    let checked = check_password(&email, password);
    let (db, user, verified) = match checked {
        Ok(checked) => checked,
        Err(problem) => {
            per_pair.release(&bucket, &counted)?;
            return Err(problem);
        }
    };
    let user = match user {
        Some(user) if verified => user,
        _ => {
            per_address.count(&bucket, &address_key)?;
            per_account.record_failure(&bucket, &email)?;
            return Err(invalid_credentials());
        }
    };
    per_pair.clear(&bucket, &pair)?;
    check_can_sign_in(&user)?;
    if user.totp_secret.is_some() {
        let token = sessions::start_mfa(
            &bucket,
            &MfaChallenge {
                user_id: user.id.clone(),
                client_address: address,
                user_agent: user_agent(request),
            },
        )?;
        return Ok(json(
            200,
            &MfaChallengeResponse {
                mfa_required: true,
                mfa_token: token,
                expires_in: sessions::MFA_CHALLENGE_SECS,
            },
        ));
    }
    sign_in(
        &db,
        &bucket,
        &user,
        "password",
        &address,
        &user_agent(request),
    )
}

/// The account of `email` and whether `password` is its password. Unknown
/// emails cost the same check as known ones: no enumeration by timing.
fn check_password(
    email: &str,
    password: &str,
) -> Result<(folio_guest::Connection, Option<User>, bool), Problem> {
    let db = accounts::open()?;
    bootstrap_admin(&db, email, password)?;
    let user = accounts::find_by_email(&db, email)?;
    let verified = match &user {
        Some(user) => passwords::verify(password, &user.password_hash)?,
        None => {
            passwords::verify_dummy(password)?;
            false
        }
    };
    Ok((db, user, verified))
}

fn check_can_sign_in(user: &User) -> Result<(), Problem> {
    if user.is_active() {
        Ok(())
    } else {
        Err(Problem::forbidden(format!(
            "this account is {}",
            user.status
        )))
    }
}

/// Records the sign-in (emitting `UserAuthenticated`) and starts a session.
fn sign_in(
    db: &folio_guest::Connection,
    bucket: &folio_guest::kv::Bucket,
    user: &User,
    method: &str,
    address: &str,
    agent: &str,
) -> Result<Response, Problem> {
    let issuer = Issuer::from_config()?;
    let tx = db.begin().map_err(db_error)?;
    let user = accounts::update(&tx, user, vec![Change::LastLogin])?;
    events::publish(&tx, UserEvent::authenticated(&user, method, address))?;
    tx.commit().map_err(db_error)?;
    sessions::remember_address(bucket, &user.email, &throttle::address_key(address))?;
    let (session_id, refresh) =
        sessions::start(bucket, &user.id, user.session_epoch, address, agent)?;
    let access = issuer.user_token(&user.id, &user.role, &session_id);
    Ok(json(
        200,
        &TokenPair::new(access, refresh, sessions::REFRESH_LIFETIME_SECS),
    ))
}

#[utoipa::path(
    post,
    path = "/api/v1/auth/mfa",
    tag = "auth",
    request_body = MfaRequest,
    responses(
        (status = 200, description = "Tokens", body = TokenPair),
        (status = 401, description = "Wrong or reused code, unknown challenge, or the challenge ended after five codes", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Too many wrong codes for this account, across sign-ins: no code is checked until `Retry-After`", body = ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn mfa(request: &Request) -> Result<Response, Problem> {
    let body = JsonBody::parse(request)?;
    body.only(&["mfaToken", "code", "recoveryCode"])?;
    let token = body.required_str("mfaToken")?;
    let code = body.optional_str("code")?;
    let recovery_code = body.optional_str("recoveryCode")?;
    if code.is_none() && recovery_code.is_none() {
        return Err(Problem::invalid_field(
            "code",
            "a code or a recoveryCode is required",
        ));
    }
    let bucket = sessions::open()?;
    let challenge = match sessions::attempt_mfa(&bucket, token)? {
        MfaAttempt::Open(challenge) => challenge,
        MfaAttempt::Unknown => {
            return Err(Problem::unauthorized(
                "the MFA challenge is unknown or expired: sign in again",
            ));
        }
        MfaAttempt::Exhausted => {
            return Err(Problem::unauthorized(
                "too many codes were tried on this MFA challenge: sign in again",
            ));
        }
    };
    let db = accounts::open()?;
    let user = accounts::find_by_id(&db, &challenge.user_id)?
        .ok_or_else(|| Problem::unauthorized("the account no longer exists"))?;
    check_can_sign_in(&user)?;
    let limit = second_factor_limit();
    let counted = gate(&bucket, &limit, &user.id, "second-factor codes")?;
    let tx = db.begin().map_err(db_error)?;
    let accepted = match second_factor(&tx, &user, code, recovery_code) {
        Ok(accepted) => accepted,
        Err(problem) => {
            limit.release(&bucket, &counted)?;
            return Err(problem);
        }
    };
    if !accepted {
        drop(tx);
        return Err(Problem::unauthorized(
            "the code is wrong or was already used",
        ));
    }
    tx.commit().map_err(db_error)?;
    limit.clear(&bucket, &user.id)?;
    sessions::end_mfa(&bucket, token)?;
    let method = if code.is_some() {
        "totp"
    } else {
        "recovery-code"
    };
    sign_in(
        &db,
        &bucket,
        &user,
        method,
        &challenge.client_address,
        &challenge.user_agent,
    )
}

/// Lets an attempt on `subject` through `limit`: 429 while the subject is
/// locked, before anything is checked; otherwise the attempt is counted
/// first (so concurrent attempts pass only up to the limit), to be cleared
/// by a success or released if it could not be checked.
pub fn gate(
    bucket: &folio_guest::kv::Bucket,
    limit: &Limit,
    subject: &str,
    what: &str,
) -> Result<sessions::Counted, Problem> {
    if let Some(retry_after) = limit.retry_after(bucket, subject)? {
        return Err(too_many(what, retry_after));
    }
    let counted = limit.count(bucket, subject)?;
    if let Some(retry_after) = counted.over {
        return Err(too_many(what, retry_after));
    }
    Ok(counted)
}

/// Checks a TOTP code or recovery code and uses it up inside `tx`, so
/// neither works twice.
pub fn second_factor(
    tx: &folio_guest::Transaction,
    user: &User,
    code: Option<&str>,
    recovery_code: Option<&str>,
) -> Result<bool, Problem> {
    let Some(secret) = user
        .totp_secret
        .as_deref()
        .and_then(|s| totp::base32_decode(s).ok())
    else {
        return Ok(false);
    };
    if let Some(code) = code {
        let now = folio_guest::util::now_unix() as u64;
        return match totp::verify(&secret, code.trim(), now) {
            Some(step) => accounts::consume_totp_step(tx, &user.id, step as i64),
            None => Ok(false),
        };
    }
    match recovery_code {
        Some(code) => accounts::consume_recovery_code(tx, &user.id, code),
        None => Ok(false),
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/auth/refresh",
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "The next token pair; the old refresh token is spent", body = TokenPair),
        (status = 401, description = "Invalid, expired or reused (reuse revokes the session)", body = ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn refresh(request: &Request) -> Result<Response, Problem> {
    let body = JsonBody::parse(request)?;
    body.only(&["refreshToken"])?;
    let token = body.required_str("refreshToken")?;
    let bucket = sessions::open()?;
    let (id, session, next) = match sessions::rotate(&bucket, token)? {
        Refresh::Rotated { id, session, token } => (id, session, token),
        Refresh::Reused => {
            return Err(Problem::unauthorized(
                "this refresh token was already used: the session is revoked, sign in again",
            ));
        }
        Refresh::Invalid => {
            return Err(Problem::unauthorized(
                "the refresh token is invalid or expired",
            ));
        }
    };
    let db = accounts::open()?;
    let user = accounts::find_by_id(&db, &session.user_id)?;
    let user = match user {
        Some(user) if user.is_active() && user.session_epoch == session.epoch => user,
        _ => {
            sessions::end(&bucket, &id)?;
            return Err(Problem::unauthorized(
                "the session has ended: sign in again",
            ));
        }
    };
    let issuer = Issuer::from_config()?;
    let access = issuer.user_token(&user.id, &user.role, &id);
    let left =
        (folio_guest::util::parse_rfc3339_ms(&session.expires_at).unwrap_or(0) - now_ms()) / 1000;
    Ok(json(200, &TokenPair::new(access, next, left.max(0))))
}

/// Ends the session named by the refresh token in the body, or by the access token.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    tag = "auth",
    request_body(content = Option<LogoutRequest>),
    responses(
        (status = 204, description = "The session has ended"),
        (status = 401, description = "No valid refresh or access token", body = ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn logout(request: &Request) -> Result<Response, Problem> {
    let bucket = sessions::open()?;
    let session_id = if request.body().is_empty() {
        let claims = folio_guest::auth::authenticate(request)?;
        claims
            .sid
            .ok_or_else(|| Problem::bad_request("this token belongs to no session"))?
    } else {
        let body = JsonBody::parse(request)?;
        body.only(&["refreshToken"])?;
        let token = body.required_str("refreshToken")?;
        sessions::authentic_session_id(&bucket, token)?
            .ok_or_else(|| Problem::unauthorized("the refresh token is invalid or expired"))?
    };
    sessions::end(&bucket, &session_id)?;
    Ok(no_content())
}

fn oauth_error(status: u16, error: &str, description: &str) -> Response {
    let mut response = json(
        status,
        &OAuthError {
            error: error.to_string(),
            error_description: description.to_string(),
        },
    );
    if status == 401 {
        response.set_header("www-authenticate", "Basic realm=\"folio\"");
    }
    response
}

/// `POST /auth/token`: the OAuth 2.0 client-credentials grant (RFC 6749 §4.4),
/// with client authentication by HTTP Basic or in the form body.
#[utoipa::path(
    post,
    path = "/api/v1/auth/token",
    tag = "auth",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "A service access token", body = ServiceTokenResponse),
        (status = 400, description = "Bad grant or scope", body = OAuthError),
        (status = 401, description = "Unknown client or wrong secret", body = OAuthError)
    )
)]
pub fn token(request: &Request) -> Result<Response, Problem> {
    let content_type = header(request, "content-type").unwrap_or("");
    let params: Vec<(String, String)> = if content_type.starts_with("application/json") {
        match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(request.body()) {
            Ok(map) => map
                .into_iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_string())))
                .collect(),
            Err(_) => {
                return Ok(oauth_error(
                    400,
                    "invalid_request",
                    "the body is not a JSON object",
                ));
            }
        }
    } else {
        form_pairs(&String::from_utf8_lossy(request.body()))
    };
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    match param("grant_type") {
        Some("client_credentials") => {}
        Some(_) => {
            return Ok(oauth_error(
                400,
                "unsupported_grant_type",
                "only client_credentials is supported here",
            ));
        }
        None => {
            return Ok(oauth_error(
                400,
                "invalid_request",
                "grant_type is required",
            ));
        }
    }
    let credentials = basic_credentials(request).or_else(|| {
        Some((
            param("client_id")?.to_string(),
            param("client_secret")?.to_string(),
        ))
    });
    let Some((client_id, secret)) = credentials else {
        return Ok(oauth_error(
            401,
            "invalid_client",
            "client authentication is required",
        ));
    };
    let db = accounts::open()?;
    let Some(client) = clients::authenticate(&db, &client_id, &secret)? else {
        return Ok(oauth_error(
            401,
            "invalid_client",
            "unknown client or wrong secret",
        ));
    };
    let scope = match param("scope") {
        None => client.scopes.join(" "),
        Some(requested) => {
            let requested: Vec<&str> = requested.split_whitespace().collect();
            if let Some(bad) = requested
                .iter()
                .find(|s| !client.scopes.iter().any(|c| c == *s))
            {
                return Ok(oauth_error(
                    400,
                    "invalid_scope",
                    &format!("the client may not request `{bad}`"),
                ));
            }
            requested.join(" ")
        }
    };
    let issuer = Issuer::from_config()?;
    Ok(json(
        200,
        &ServiceTokenResponse {
            access_token: issuer.service_token(&client.id, &scope),
            token_type: "Bearer",
            expires_in: SERVICE_LIFETIME_SECS,
            scope,
        },
    ))
}

fn basic_credentials(request: &Request) -> Option<(String, String)> {
    let value = header(request, "authorization")?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

/// Answers the same whether or not the email has an account.
#[utoipa::path(
    post,
    path = "/api/v1/auth/password-reset",
    tag = "auth",
    request_body = PasswordResetRequest,
    responses(
        (status = 202, description = "The same answer whether or not the email has an account; the token goes, sealed, to the notification service in `PasswordResetRequested`", body = Accepted),
        (status = 422, description = "Not an email address", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "`reset_delivery_public_key` is malformed, or a backend is down", body = ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn request_password_reset(request: &Request) -> Result<Response, Problem> {
    let body = JsonBody::parse(request)?;
    body.only(&["email"])?;
    let email = validate::email("email", body.required_str("email")?)?;
    // Both paths make a token, seal it and write in a transaction, so
    // neither the answer nor its timing tells whether the email has an account.
    let delivery_key = reset_delivery_key()?;
    let token = new_secret();
    let token_hash = folio_guest::Value::Text(sha256_hex(&token));
    let sealed_token = delivery_key
        .map(|key| {
            sealed::seal(&key, token.as_bytes(), random(), sealed::RESET_TOKEN_INFO)
                .map(|bytes| b64url(&bytes))
        })
        .transpose()
        .map_err(|e| Problem::unavailable(format!("reset_delivery_public_key: {e}")))?;
    let expires_at = rfc3339(now_ms() + PASSWORD_RESET_LIFETIME_MS);
    let db = accounts::open()?;
    let user = accounts::find_by_email(&db, &email)?.filter(User::is_active);
    let tx = db.begin().map_err(db_error)?;
    match user {
        Some(user) => {
            tx.execute(
                "INSERT INTO password_resets (token_hash, user_id, expires_at) VALUES ($1, $2, $3)",
                &[
                    token_hash,
                    folio_guest::Value::Text(user.id.clone()),
                    folio_guest::Value::Timestamp(expires_at.clone()),
                ],
            )
            .map_err(db_error)?;
            events::publish(
                &tx,
                UserEvent::password_reset_requested(&user, sealed_token.as_deref(), &expires_at),
            )?;
        }
        None => {
            // A statement of the same kind that changes nothing.
            tx.execute(
                "DELETE FROM password_resets WHERE token_hash = $1",
                &[token_hash],
            )
            .map_err(db_error)?;
        }
    }
    tx.commit().map_err(db_error)?;
    Ok(json(
        202,
        &Accepted {
            message: "if the address has an account, a reset link is on its way",
        },
    ))
}

/// The public key reset tokens are sealed to, if one is configured:
/// `reset_delivery_public_key`, 32 bytes in base64url (X25519). Without it
/// the token goes nowhere but the database (hashed). A malformed key fails
/// every request alike.
fn reset_delivery_key() -> Result<Option<[u8; 32]>, Problem> {
    let Some(text) = variable("reset_delivery_public_key")
        .ok()
        .filter(|v| !v.trim().is_empty())
    else {
        return Ok(None);
    };
    b64url_decode(text.trim().trim_end_matches('='))
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .map(Some)
        .ok_or_else(|| {
            Problem::unavailable(
                "the users service is not configured: reset_delivery_public_key must be 32 bytes in base64url",
            )
        })
}

#[utoipa::path(
    post,
    path = "/api/v1/auth/password-reset/confirm",
    tag = "auth",
    request_body = PasswordResetConfirmation,
    responses(
        (status = 204, description = "The password is changed and every session ended"),
        (status = 422, description = "Bad token or weak password", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "Busy (see `Retry-After`) or a backend is down", body = ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn confirm_password_reset(request: &Request) -> Result<Response, Problem> {
    let body = JsonBody::parse(request)?;
    body.only(&["token", "newPassword"])?;
    let token = body.required_str("token")?;
    let new_password = body.required_str("newPassword")?;
    let invalid = || Problem::invalid_field("token", "is invalid, expired or already used");
    let db = accounts::open()?;
    let rows = db
        .query(
            "SELECT user_id FROM password_resets WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
            &[
                folio_guest::Value::Text(sha256_hex(token)),
                folio_guest::Value::Timestamp(now_rfc3339()),
            ],
        )
        .map_err(db_error)?;
    let user_id = rows
        .rows
        .first()
        .map(|r| accounts::row_text(&r[0]))
        .ok_or_else(invalid)?;
    let user = accounts::find_by_id(&db, &user_id)?.ok_or_else(invalid)?;
    validate::new_account_password(
        "newPassword",
        new_password,
        &user.email,
        &user.first_name,
        &user.last_name,
    )?;
    let changes = accounts::new_password_changes(new_password)?;
    let tx = db.begin().map_err(db_error)?;
    let used = tx
        .execute(
            "UPDATE password_resets SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL",
            &[
                folio_guest::Value::Timestamp(now_rfc3339()),
                folio_guest::Value::Text(sha256_hex(token)),
            ],
        )
        .map_err(db_error)?;
    if used != 1 {
        return Err(invalid());
    }
    tx.execute(
        "DELETE FROM password_resets WHERE user_id = $1 AND used_at IS NULL",
        &[folio_guest::Value::Text(user.id.clone())],
    )
    .map_err(db_error)?;
    accounts::update(&tx, &user, changes)?;
    tx.commit().map_err(db_error)?;
    Ok(no_content())
}

/// What the bearer token says about its holder, after verification, without a
/// database read: the cheapest protected route.
#[utoipa::path(
    get,
    path = "/api/v1/auth/session",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The verified claims", body = TokenClaims),
        (status = 401, description = "No valid access token", body = ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn session(request: &Request) -> Result<Response, Problem> {
    let claims = folio_guest::auth::authenticate(request)?;
    Ok(json(
        200,
        &TokenClaims {
            subject: claims.sub,
            role: claims.role,
            session_id: claims.sid,
            client_id: claims.client_id,
            scope: claims.scope,
            expires_at: claims.exp,
        },
    ))
}
