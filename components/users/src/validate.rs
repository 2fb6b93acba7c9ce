//! Checks on what clients send, each failing with a 422 naming the field.

use folio_auth::password::{self, PolicyError};
use folio_guest::http::Problem;

/// Trimmed and lowercased; one `@`, something on each side, at most 254 bytes.
pub fn email(field: &str, raw: &str) -> Result<String, Problem> {
    let email = raw.trim().to_lowercase();
    let valid = email.len() <= 254
        && matches!(email.split_once('@'), Some((local, domain))
            if !local.is_empty() && local.len() <= 64 && domain.contains('.')
                && !domain.starts_with('.') && !domain.ends_with('.') && !domain.contains('@'))
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(email)
    } else {
        Err(Problem::invalid_field(field, "must be an email address"))
    }
}

pub fn name(field: &str, raw: &str) -> Result<String, Problem> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(Problem::invalid_field(field, "must not be empty"));
    }
    if name.chars().count() > 100 {
        return Err(Problem::invalid_field(
            field,
            "must be at most 100 characters",
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(Problem::invalid_field(
            field,
            "must not contain control characters",
        ));
    }
    Ok(name.to_string())
}

/// The password policy; `personal` holds the email and names it must not contain.
pub fn new_password(field: &str, password: &str, personal: &[&str]) -> Result<(), Problem> {
    password::check_policy(password, personal).map_err(|e| {
        let message = match e {
            PolicyError::TooShort => "must be at least 12 characters".to_string(),
            PolicyError::TooLong => "must be at most 256 characters".to_string(),
            PolicyError::Common => "is too common: choose a less guessable password".to_string(),
            PolicyError::ContainsPersonalInfo => {
                "must not contain your email address or name".to_string()
            }
        };
        Problem::invalid_field(field, message)
    })
}

/// The policy for an account's new password: it must not contain the
/// email's local part or the names.
pub fn new_account_password(
    field: &str,
    password: &str,
    email: &str,
    first_name: &str,
    last_name: &str,
) -> Result<(), Problem> {
    let local = email.split('@').next().unwrap_or("");
    new_password(field, password, &[local, first_name, last_name])
}

/// A BCP 47 language tag such as `en` or `pt-BR`.
pub fn language(field: &str, raw: &str) -> Result<String, Problem> {
    let mut parts = raw.split('-');
    let primary = parts.next().unwrap_or("");
    let valid = (2..=3).contains(&primary.len())
        && primary.chars().all(|c| c.is_ascii_alphabetic())
        && parts
            .all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
        && raw.len() <= 35;
    if valid {
        Ok(raw.to_string())
    } else {
        Err(Problem::invalid_field(
            field,
            "must be a language tag such as `en` or `pt-BR`",
        ))
    }
}

/// An IANA time zone name such as `Europe/Paris`, or `UTC`.
pub fn timezone(field: &str, raw: &str) -> Result<String, Problem> {
    let valid = !raw.is_empty()
        && raw.len() <= 64
        && raw.split('/').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+'))
        })
        && raw.starts_with(|c: char| c.is_ascii_uppercase());
    if valid {
        Ok(raw.to_string())
    } else {
        Err(Problem::invalid_field(
            field,
            "must be an IANA time zone such as `Europe/Paris`",
        ))
    }
}

pub fn one_of(field: &str, raw: &str, allowed: &[&str]) -> Result<String, Problem> {
    if allowed.contains(&raw) {
        Ok(raw.to_string())
    } else {
        Err(Problem::invalid_field(
            field,
            format!("must be one of {}", allowed.join(", ")),
        ))
    }
}
