//! `folio:platform/passwords`, hashed here: the same Argon2id parameters as
//! the host (`folio_auth::password`), inside the instance, which Spin
//! bounds like any other request's work.

use folio_auth::password;

use crate::bindings::exports::folio::platform::passwords::{Guest, PasswordError};

impl Guest for crate::Shim {
    fn hash(secret: String) -> Result<String, PasswordError> {
        let mut salt = [0u8; password::SALT_LEN];
        getrandom::fill(&mut salt).expect("the host gives random bytes");
        Ok(password::hash(&secret, salt))
    }

    fn verify(secret: String, phc: String) -> Result<bool, PasswordError> {
        if phc.is_empty() {
            password::verify_against_dummy(&secret);
            return Ok(false);
        }
        Ok(password::verify(&secret, &phc))
    }
}
