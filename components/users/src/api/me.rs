//! `/api/v1/users/me...`: the signed-in user's own account.

use folio_auth::jwt::Claims;
use folio_auth::totp;
use folio_guest::auth::authenticate;
use folio_guest::http::{JsonBody, Problem, json, no_content};
use spin_sdk::http::{Request, Response};

use super::bodies::*;
use crate::accounts::{self, Change, Preferences, User, UserView, db_error};
use crate::api::auth::{gate, limit, second_factor, second_factor_limit};
use crate::sessions;
use crate::validate;
use folio_guest::util::random;

const RECOVERY_CODES: usize = 10;

/// The caller's account: 401 without a user token, 403 once it is not active.
fn current_user(request: &Request) -> Result<(Claims, User), Problem> {
    let claims = authenticate(request)?;
    if claims.role == "service" {
        return Err(Problem::forbidden("service tokens have no user account"));
    }
    let db = accounts::open()?;
    let user = accounts::find_by_id(&db, &claims.sub)?
        .ok_or_else(|| Problem::unauthorized("the account no longer exists"))?;
    if !user.is_active() {
        return Err(Problem::forbidden(format!(
            "this account is {}",
            user.status
        )));
    }
    Ok((claims, user))
}

#[utoipa::path(
    get,
    path = "/api/v1/users/me",
    tag = "me",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's account", body = UserView),
        (status = 401, description = "No valid access token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Suspended or inactive", body = ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn get(request: &Request) -> Result<Response, Problem> {
    let (_, user) = current_user(request)?;
    Ok(json(200, &user.view()))
}

#[utoipa::path(
    patch,
    path = "/api/v1/users/me",
    tag = "me",
    request_body = ProfileChange,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The account", body = UserView),
        (status = 422, description = "A field is invalid", body = ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn patch(request: &Request) -> Result<Response, Problem> {
    let (_, user) = current_user(request)?;
    let body = JsonBody::parse(request)?;
    body.only(&["firstName", "lastName"])?;
    let mut changes = Vec::new();
    if let Some(v) = body.optional_str("firstName")? {
        changes.push(Change::FirstName(validate::name("firstName", v)?));
    }
    if let Some(v) = body.optional_str("lastName")? {
        changes.push(Change::LastName(validate::name("lastName", v)?));
    }
    if changes.is_empty() {
        return Ok(json(200, &user.view()));
    }
    let user = accounts::update_now(&accounts::open()?, &user, changes)?;
    Ok(json(200, &user.view()))
}

#[utoipa::path(
    put,
    path = "/api/v1/users/me/preferences",
    tag = "me",
    request_body = Preferences,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The preferences", body = Preferences),
        (status = 422, description = "A field is invalid", body = ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn put_preferences(request: &Request) -> Result<Response, Problem> {
    let (_, user) = current_user(request)?;
    let body = JsonBody::parse(request)?;
    body.only(&[
        "language",
        "timezone",
        "emailNotifications",
        "pushNotifications",
    ])?;
    let preferences = Preferences {
        language: validate::language("language", body.required_str("language")?)?,
        timezone: validate::timezone("timezone", body.required_str("timezone")?)?,
        email_notifications: body
            .optional_bool("emailNotifications")?
            .ok_or_else(|| Problem::invalid_field("emailNotifications", "is required"))?,
        push_notifications: body
            .optional_bool("pushNotifications")?
            .ok_or_else(|| Problem::invalid_field("pushNotifications", "is required"))?,
    };
    let user = accounts::update_now(
        &accounts::open()?,
        &user,
        vec![Change::Preferences(preferences)],
    )?;
    Ok(json(200, &user.preferences))
}

/// Changes the password; every other session of the account ends.
#[utoipa::path(
    post,
    path = "/api/v1/users/me/password",
    tag = "me",
    request_body = PasswordChange,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Changed; other sessions have ended"),
        (status = 422, description = "Wrong current password or weak new one", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Too many wrong current passwords for this account: see `Retry-After`", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 503, description = "Busy (see `Retry-After`) or a backend is down", body = ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn change_password(request: &Request) -> Result<Response, Problem> {
    let (claims, user) = current_user(request)?;
    let body = JsonBody::parse(request)?;
    body.only(&["currentPassword", "newPassword"])?;
    let current = body.required_str("currentPassword")?;
    let new_password = body.required_str("newPassword")?;
    // A stolen access token must not become a way to guess the password.
    let bucket = sessions::open()?;
    let limit = current_password_limit();
    let counted = gate(&bucket, &limit, &user.id, "current passwords")?;
    let matches = match folio_guest::passwords::verify(current, &user.password_hash) {
        Ok(matches) => matches,
        Err(problem) => {
            limit.release(&bucket, &counted)?;
            return Err(problem);
        }
    };
    if !matches {
        return Err(Problem::invalid_field("currentPassword", "is wrong"));
    }
    limit.clear(&bucket, &user.id)?;
    validate::new_account_password(
        "newPassword",
        new_password,
        &user.email,
        &user.first_name,
        &user.last_name,
    )?;
    let user = accounts::update_now(
        &accounts::open()?,
        &user,
        accounts::new_password_changes(new_password)?,
    )?;
    if let Some(sid) = &claims.sid {
        sessions::set_epoch(&bucket, sid, user.session_epoch)?;
    }
    Ok(no_content())
}

/// Wrong current passwords per account at `POST /users/me/password`.
fn current_password_limit() -> sessions::Limit {
    limit("current-password", "login_max_failures")
}

/// Starts TOTP enrolment: a new secret, active once a code from it is verified.
#[utoipa::path(
    post,
    path = "/api/v1/users/me/mfa/totp",
    tag = "me",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A new secret, active once verified", body = TotpEnrolment),
        (status = 409, description = "MFA is already on", body = ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn enrol_totp(request: &Request) -> Result<Response, Problem> {
    let (_, user) = current_user(request)?;
    if user.totp_secret.is_some() {
        return Err(Problem::conflict(
            "MFA is already on: turn it off before enrolling again",
        ));
    }
    let secret = totp::base32_encode(&random::<20>());
    accounts::update_now(
        &accounts::open()?,
        &user,
        vec![Change::TotpPending(Some(secret.clone()))],
    )?;
    let issuer = spin_sdk::variables::get("mfa_issuer").unwrap_or_else(|_| "Folio".into());
    Ok(json(
        200,
        &TotpEnrolment {
            otpauth_uri: totp::otpauth_uri(&issuer, &user.email, &secret),
            secret,
        },
    ))
}

/// Activates TOTP with a first code; answers the one-time recovery codes.
#[utoipa::path(
    post,
    path = "/api/v1/users/me/mfa/totp/verify",
    tag = "me",
    request_body = TotpCode,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "MFA is on; ten single-use recovery codes", body = RecoveryCodes),
        (status = 409, description = "No enrolment pending", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Wrong code", body = ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn verify_totp(request: &Request) -> Result<Response, Problem> {
    let (_, user) = current_user(request)?;
    let body = JsonBody::parse(request)?;
    body.only(&["code"])?;
    let code = body.required_str("code")?;
    let Some(pending) = user.totp_pending_secret.clone() else {
        return Err(Problem::conflict(
            "no TOTP enrolment is pending: start one first",
        ));
    };
    let secret = totp::base32_decode(&pending).unwrap_or_default();
    let now = folio_guest::util::now_unix() as u64;
    let step = totp::verify(&secret, code.trim(), now)
        .ok_or_else(|| Problem::invalid_field("code", "is not the current code"))?;
    let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| recovery_code()).collect();
    let db = accounts::open()?;
    let tx = db.begin().map_err(db_error)?;
    accounts::update(
        &tx,
        &user,
        vec![Change::TotpEnabled {
            secret: pending,
            step: step as i64,
        }],
    )?;
    accounts::replace_recovery_codes(&tx, &user.id, &codes)?;
    tx.commit().map_err(db_error)?;
    Ok(json(
        200,
        &RecoveryCodes {
            recovery_codes: codes,
        },
    ))
}

/// `xxxxx-xxxxx`: 50 random bits in an alphabet without look-alikes.
fn recovery_code() -> String {
    let text = totp::base32_encode(&random::<7>()).to_lowercase();
    format!("{}-{}", &text[0..5], &text[5..10])
}

/// Turns MFA off; needs a current TOTP code or a recovery code.
#[utoipa::path(
    delete,
    path = "/api/v1/users/me/mfa",
    tag = "me",
    request_body = SecondFactor,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "MFA is off"),
        (status = 409, description = "MFA is not on", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Wrong or used code", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Too many wrong codes for this account (counted with those at sign-in): see `Retry-After`", body = ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn disable_mfa(request: &Request) -> Result<Response, Problem> {
    let (_, user) = current_user(request)?;
    if user.totp_secret.is_none() {
        return Err(Problem::conflict("MFA is not on"));
    }
    let body = JsonBody::parse(request)?;
    body.only(&["code", "recoveryCode"])?;
    let code = body.optional_str("code")?;
    let recovery = body.optional_str("recoveryCode")?;
    if code.is_none() && recovery.is_none() {
        return Err(Problem::invalid_field(
            "code",
            "a code or a recoveryCode is required",
        ));
    }
    let bucket = sessions::open()?;
    let limit = second_factor_limit();
    let counted = gate(&bucket, &limit, &user.id, "second-factor codes")?;
    let db = accounts::open()?;
    let tx = db.begin().map_err(db_error)?;
    let accepted = match second_factor(&tx, &user, code, recovery) {
        Ok(accepted) => accepted,
        Err(problem) => {
            limit.release(&bucket, &counted)?;
            return Err(problem);
        }
    };
    if !accepted {
        return Err(Problem::invalid_field(
            if code.is_some() {
                "code"
            } else {
                "recoveryCode"
            },
            "is wrong or was already used",
        ));
    }
    accounts::update(&tx, &user, vec![Change::TotpDisabled])?;
    accounts::replace_recovery_codes(&tx, &user.id, &[])?;
    tx.commit().map_err(db_error)?;
    limit.clear(&bucket, &user.id)?;
    Ok(no_content())
}
