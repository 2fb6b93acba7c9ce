//! Password hashing (Argon2id with OWASP's parameters, PHC strings) and the password policy.

use std::fmt;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

pub const MEMORY_KIB: u32 = 19_456;
pub const ITERATIONS: u32 = 2;
pub const PARALLELISM: u32 = 1;
pub const SALT_LEN: usize = 16;

pub const MIN_LENGTH: usize = 12;
pub const MAX_LENGTH: usize = 256;

/// A real hash with the current parameters, of a password no account uses; see
/// [`verify_against_dummy`] and the test that re-derives it.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$Zm9saW8tZHVtbXktc2FsdA$4OWz/GAAtlZ0VTFDpLAnKZiccJ1g/TdUAUpYS8UfE4M";

/// Lowercase, one per line.
const COMMON_PASSWORDS: &str = include_str!("common-passwords.txt");

fn argon2() -> Argon2<'static> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None)
        .expect("the Argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The Argon2id PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`) of `password`, with `salt`
/// from the caller's random source.
pub fn hash(password: &str, salt: [u8; SALT_LEN]) -> String {
    let salt = SaltString::encode_b64(&salt).expect("16 bytes is a valid salt");
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .expect("Argon2 hashing with valid parameters does not fail")
        .to_string()
}

/// Whether `password` matches the PHC string `phc`; false if `phc` is malformed.
pub fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        // The parameters come from the PHC string; the comparison is constant-time.
        Ok(parsed) => argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Takes as long as a [`verify`] of a real hash. Call it when no account matches, so that
/// response times do not tell which accounts exist.
pub fn verify_against_dummy(password: &str) {
    std::hint::black_box(verify(password, DUMMY_HASH));
}

/// Whether `phc` was made with other parameters than [`hash`] uses now (or is malformed), so the
/// password should be hashed again after the next successful login.
pub fn needs_rehash(phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return true;
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return true;
    };
    parsed.algorithm != Algorithm::Argon2id.ident()
        || parsed.version != Some(Version::V0x13.into())
        || params.m_cost() != MEMORY_KIB
        || params.t_cost() != ITERATIONS
        || params.p_cost() != PARALLELISM
}

/// Why a new password is refused. The messages are meant for the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyError {
    TooShort,
    TooLong,
    /// A common password, a common word with digits or symbols around it, or a simple pattern.
    Common,
    /// Contains the user's name or email address.
    ContainsPersonalInfo,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyError::TooShort => write!(f, "password must be at least {MIN_LENGTH} characters"),
            PolicyError::TooLong => write!(f, "password must be at most {MAX_LENGTH} characters"),
            PolicyError::Common => f.write_str("password is too common or too easy to guess"),
            PolicyError::ContainsPersonalInfo => {
                f.write_str("password must not contain your name or email address")
            }
        }
    }
}

impl std::error::Error for PolicyError {}

/// Checks a new password. `context` holds what an attacker would try first: the user's email
/// (only its local part is used), names, the user name. Parts shorter than 4 characters are
/// ignored.
pub fn check_policy(password: &str, context: &[&str]) -> Result<(), PolicyError> {
    let length = password.chars().count();
    if length < MIN_LENGTH {
        return Err(PolicyError::TooShort);
    }
    if length > MAX_LENGTH {
        return Err(PolicyError::TooLong);
    }
    let lower = password.to_lowercase();
    if is_guessable(&lower) {
        return Err(PolicyError::Common);
    }
    if contains_personal_info(&lower, context) {
        return Err(PolicyError::ContainsPersonalInfo);
    }
    Ok(())
}

fn is_common(candidate: &str) -> bool {
    COMMON_PASSWORDS.lines().any(|line| line == candidate)
}

fn is_guessable(lower: &str) -> bool {
    // "Summer2024!" and "!!password123" are their base word with decorations people add.
    let core = lower.trim_matches(|c: char| {
        c.is_ascii_digit() || c.is_ascii_punctuation() || c.is_whitespace()
    });
    let unleet: String = core.chars().map(unleet).collect();
    let joined: String = unleet
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '-' | '_' | '.' | ',' | '+'))
        .collect();
    core.is_empty()
        || [lower, core, &unleet, &joined]
            .into_iter()
            .any(|candidate| is_common(candidate) || is_repetition(candidate) || is_run(candidate))
}

fn unleet(c: char) -> char {
    match c {
        '0' => 'o',
        '1' | '!' => 'i',
        '3' => 'e',
        '4' | '@' => 'a',
        '5' | '$' => 's',
        '7' => 't',
        other => other,
    }
}

/// A short or common unit repeated: "aaaaaaaaaaaa", "abcabcabcabc", "monkeymonkey".
fn is_repetition(text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    (1..chars.len()).any(|period| {
        chars.len().is_multiple_of(period)
            && chars.chunks(period).all(|chunk| chunk == &chars[..period])
            && (period <= 4 || is_common(&chars[..period].iter().collect::<String>()))
    })
}

/// Characters in consecutive order, up or down: "abcdefghijklm", "zyxwvutsrqpo".
fn is_run(text: &str) -> bool {
    let codes: Vec<i64> = text.chars().map(|c| i64::from(u32::from(c))).collect();
    codes.len() >= 2 && {
        let step = codes[1] - codes[0];
        step.abs() == 1 && codes.windows(2).all(|pair| pair[1] - pair[0] == step)
    }
}

fn contains_personal_info(lower: &str, context: &[&str]) -> bool {
    context.iter().any(|item| {
        let item = item.trim().to_lowercase();
        let local = item.split('@').next().unwrap_or_default();
        std::iter::once(local)
            .chain(local.split(|c: char| !c.is_alphanumeric()))
            .any(|part| part.chars().count() >= 4 && lower.contains(part))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_round_trip() {
        let phc = hash("correct horse battery staple", [7; SALT_LEN]);
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(!needs_rehash(&phc));
        assert!(verify("correct horse battery staple", &phc));
        assert!(!verify("correct horse battery stapler", &phc));
    }

    #[test]
    fn malformed_hashes_do_not_verify() {
        for phc in [
            "",
            "not a hash",
            "$argon2id$v=19$m=19456,t=2,p=1$",
            "$2b$12$abc",
        ] {
            assert!(!verify("anything", phc), "{phc}");
            assert!(needs_rehash(phc), "{phc}");
        }
        let weaker = "$argon2id$v=19$m=4096,t=3,p=1$c2FsdHNhbHRzYWx0$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        assert!(PasswordHash::new(weaker).is_ok());
        assert!(needs_rehash(weaker));
    }

    #[test]
    fn dummy_hash_costs_the_same_as_a_real_one() {
        // After a parameter change, replace DUMMY_HASH with the new value of this hash.
        assert_eq!(
            hash(
                "folio dummy password, matches no account",
                *b"folio-dummy-salt"
            ),
            DUMMY_HASH
        );
        verify_against_dummy("whatever was typed");
    }

    #[test]
    fn accepts_decent_passwords() {
        for password in [
            "purple elephant typing quietly",
            "Tr4vel-Kettle-Orbit",
            "mjx8#Lq2!vRw",
            "correct horse battery staples on mars",
        ] {
            assert_eq!(
                check_policy(password, &["alice@example.com", "Alice Smith"]),
                Ok(()),
                "{password}"
            );
        }
    }

    #[test]
    fn rejects_by_length() {
        assert_eq!(check_policy("short", &[]), Err(PolicyError::TooShort));
        // Counted in characters: 11 of them, though more than 12 bytes.
        assert_eq!(check_policy("ééééééééééé", &[]), Err(PolicyError::TooShort));
        let varied = |length: u32| -> String {
            (0..length)
                .map(|i| char::from(b'a' + (i * 7 % 26) as u8))
                .collect()
        };
        assert_eq!(check_policy(&varied(257), &[]), Err(PolicyError::TooLong));
        assert_eq!(check_policy(&varied(256), &[]), Ok(()));
    }

    #[test]
    fn rejects_common_and_predictable() {
        for password in [
            "passwordpassword",
            "Password1234!",
            "P@ssw0rd2024!!",
            "!!!Summer2024!!!",
            "aaaaaaaaaaaaaa",
            "abcabcabcabc",
            "monkeymonkeymonkey",
            "1234567890123",
            "qwertyuiop123",
            "abcdefghijklmno",
            "Correct-Horse-Battery-Staple",
            "123456789012!!",
            "trustno1trustno1",
        ] {
            assert_eq!(
                check_policy(password, &[]),
                Err(PolicyError::Common),
                "{password}"
            );
        }
    }

    #[test]
    fn rejects_personal_info() {
        let context = ["alice.smith@example.com", "Alice Smith", "al"];
        for password in [
            "alice.smith-rules",
            "I am ALICE and I rule",
            "smithsmith7x!q",
            "xq!alicesmith99",
        ] {
            assert_eq!(
                check_policy(password, &context),
                Err(PolicyError::ContainsPersonalInfo),
                "{password}"
            );
        }
        // Context parts under 4 characters are ignored; so is the email's domain.
        assert_eq!(check_policy("al gore example rocks", &context), Ok(()));
    }

    #[test]
    fn common_list_is_clean() {
        let mut seen = std::collections::HashSet::new();
        for line in COMMON_PASSWORDS.lines() {
            assert!(!line.is_empty() && line.trim() == line, "{line:?}");
            assert_eq!(line, line.to_lowercase(), "{line:?}");
            assert!(seen.insert(line), "duplicate {line:?}");
        }
        assert!(seen.len() > 300);
    }
}
