//! Password hashing by the host (`folio:platform/passwords`): Argon2id runs
//! natively on the host's bounded pool of hashing threads, never inside Wasm.
//! A full pool answers 503 with `Retry-After: 1`.

use crate::bindings::folio::platform::passwords::{self, PasswordError};
use crate::http::Problem;

fn busy(e: PasswordError) -> Problem {
    match e {
        PasswordError::Busy => {
            Problem::unavailable("every password-hashing thread is busy; try again shortly")
                .with_header("retry-after", "1".to_string())
        }
    }
}

/// The Argon2id PHC string of `password`, with a fresh random salt.
pub fn hash(password: &str) -> Result<String, Problem> {
    passwords::hash(password).map_err(busy)
}

/// Whether `password` matches the PHC string `phc` (false when `phc` is malformed).
pub fn verify(password: &str, phc: &str) -> Result<bool, Problem> {
    if phc.is_empty() {
        // An empty PHC string asks the host for the dummy check: never a match.
        verify_dummy(password)?;
        return Ok(false);
    }
    passwords::verify(password, phc).map_err(busy)
}

/// Costs as much as a [`verify`] of a real hash; for when no account matches,
/// so that response times do not tell which accounts exist.
pub fn verify_dummy(password: &str) -> Result<(), Problem> {
    passwords::verify(password, "").map_err(busy)?;
    Ok(())
}
