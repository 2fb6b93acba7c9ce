//! One-time codes: HOTP (RFC 4226) and TOTP (RFC 6238) with HMAC-SHA1, 6 digits and 30-second
//! steps (what authenticator apps support), plus base32 and the `otpauth://` enrolment URI.

use std::fmt;

use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

pub const STEP_SECS: u64 = 30;
pub const DIGITS: u32 = 6;
/// Recommended secret length in bytes (160 bits, RFC 4226).
pub const SECRET_LEN: usize = 20;

/// The HOTP value for `counter`, reduced to `digits` decimal digits (at most 9 are meaningful).
pub fn hotp(secret: &[u8], counter: u64, digits: u32) -> u32 {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(&counter.to_be_bytes());
    let hash = mac.finalize().into_bytes();
    let offset = usize::from(hash[19] & 0x0f);
    let truncated = u32::from_be_bytes([
        hash[offset],
        hash[offset + 1],
        hash[offset + 2],
        hash[offset + 3],
    ]) & 0x7fff_ffff;
    match 10u32.checked_pow(digits) {
        Some(modulus) => truncated % modulus,
        None => truncated,
    }
}

/// The TOTP value at `unix_time` for steps of `step` seconds. Panics if `step` is 0.
pub fn totp_at(secret: &[u8], unix_time: u64, step: u64, digits: u32) -> u32 {
    assert_ne!(step, 0, "TOTP step must not be zero");
    hotp(secret, unix_time / step, digits)
}

/// A code as the user sees it, with leading zeros.
pub fn format_code(code: u32, digits: u32) -> String {
    format!("{code:0width$}", width = digits as usize)
}

/// Checks a 6-digit code against the steps just before, at and after `unix_time`, and returns
/// the step that matched.
///
/// To stop a code being replayed, the caller keeps the last step it accepted for the secret and
/// refuses any step not greater than it.
pub fn verify(secret: &[u8], code: &str, unix_time: u64) -> Option<u64> {
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = unix_time / STEP_SECS;
    let mut matched = None;
    for step in [
        current.checked_sub(1),
        Some(current),
        current.checked_add(1),
    ]
    .into_iter()
    .flatten()
    {
        let expected = format_code(hotp(secret, step, DIGITS), DIGITS);
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) && matched.is_none() {
            matched = Some(step);
        }
    }
    matched
}

const BASE32_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32, without padding (the form authenticator apps take).
pub fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(
                BASE32_ALPHABET[((buffer >> bits) & 31) as usize],
            ));
        }
    }
    if bits > 0 {
        out.push(char::from(
            BASE32_ALPHABET[((buffer << (5 - bits)) & 31) as usize],
        ));
    }
    out
}

/// Text that is not base32.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidBase32;

impl fmt::Display for InvalidBase32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid base32")
    }
}

impl std::error::Error for InvalidBase32 {}

/// RFC 4648 base32, in either case; whitespace and trailing `=` padding are ignored.
pub fn base32_decode(text: &str) -> Result<Vec<u8>, InvalidBase32> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    let mut symbols = 0usize;
    let mut padding = false;
    for c in text.chars().filter(|c| !c.is_whitespace()) {
        if c == '=' {
            padding = true;
            continue;
        }
        let value = match c.to_ascii_uppercase() {
            upper @ 'A'..='Z' => upper as u32 - 'A' as u32,
            digit @ '2'..='7' => digit as u32 - '2' as u32 + 26,
            _ => return Err(InvalidBase32),
        };
        if padding {
            return Err(InvalidBase32);
        }
        buffer = (buffer << 5) | value;
        bits += 5;
        symbols += 1;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    // These counts leave bits that cannot end a whole byte.
    if matches!(symbols % 8, 1 | 3 | 6) {
        return Err(InvalidBase32);
    }
    Ok(out)
}

/// The `otpauth://totp/...` URI (Google Authenticator's key URI format) that enrols a secret.
pub fn otpauth_uri(issuer: &str, account: &str, secret_b32: &str) -> String {
    let issuer = percent_encode(issuer);
    format!(
        "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}\
         &algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        account = percent_encode(account),
        secret = percent_encode(secret_b32),
    )
}

/// Everything but RFC 3986's unreserved characters is escaped.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc4226_hotp_vectors() {
        let expected = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (counter, code) in expected.into_iter().enumerate() {
            assert_eq!(
                hotp(RFC_SECRET, counter as u64, 6),
                code,
                "counter {counter}"
            );
        }
    }

    #[test]
    fn rfc6238_sha1_vectors() {
        let expected = [
            (59, "94287082"),
            (1111111109, "07081804"),
            (1111111111, "14050471"),
            (1234567890, "89005924"),
            (2000000000, "69279037"),
            (20000000000, "65353130"),
        ];
        for (time, code) in expected {
            let got = format_code(totp_at(RFC_SECRET, time, STEP_SECS, 8), 8);
            assert_eq!(got, code, "time {time}");
        }
    }

    #[test]
    fn verify_accepts_one_step_either_side() {
        let now = 1_700_000_000;
        let step = now / STEP_SECS;
        let code_at = |offset: i64| {
            let time = (now as i64 + offset * STEP_SECS as i64) as u64;
            format_code(totp_at(RFC_SECRET, time, STEP_SECS, DIGITS), DIGITS)
        };
        assert_eq!(verify(RFC_SECRET, &code_at(0), now), Some(step));
        assert_eq!(verify(RFC_SECRET, &code_at(-1), now), Some(step - 1));
        assert_eq!(verify(RFC_SECRET, &code_at(1), now), Some(step + 1));
        assert_eq!(verify(RFC_SECRET, &code_at(-2), now), None);
        assert_eq!(verify(RFC_SECRET, &code_at(2), now), None);
        assert_eq!(verify(b"another secret", &code_at(0), now), None);
    }

    #[test]
    fn verify_rejects_malformed_codes() {
        let now = 59;
        let code = format_code(totp_at(RFC_SECRET, now, STEP_SECS, DIGITS), DIGITS);
        assert_eq!(verify(RFC_SECRET, &code, now), Some(1));
        for bad in [
            "",
            "12345",
            "1234567",
            "12a456",
            " 287082",
            "+87082",
            "２８７０８２",
        ] {
            assert_eq!(verify(RFC_SECRET, bad, now), None, "{bad:?}");
        }
        // Time zero has no previous step.
        let code = format_code(hotp(RFC_SECRET, 0, DIGITS), DIGITS);
        assert_eq!(verify(RFC_SECRET, &code, 0), Some(0));
    }

    #[test]
    fn base32_rfc4648_vectors() {
        let vectors = [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(base32_encode(plain.as_bytes()), encoded);
            assert_eq!(base32_decode(encoded).unwrap(), plain.as_bytes());
        }
    }

    #[test]
    fn base32_decode_is_lenient_about_case_spaces_and_padding() {
        assert_eq!(base32_decode("mzxw 6ytb oi======").unwrap(), b"foobar");
        assert_eq!(base32_decode("MZXW6===").unwrap(), b"foo");
        for bad in ["MZXW6YTB1", "MZ=XW", "M", "MZX", "MZXW6Y", "MZXW!"] {
            assert_eq!(base32_decode(bad), Err(InvalidBase32), "{bad}");
        }
        let secret: Vec<u8> = (0..=255).collect();
        assert_eq!(base32_decode(&base32_encode(&secret)).unwrap(), secret);
    }

    #[test]
    fn otpauth_uri_format() {
        assert_eq!(
            otpauth_uri("Folio Test", "alice+x@example.com", "JBSWY3DPEHPK3PXP"),
            "otpauth://totp/Folio%20Test:alice%2Bx%40example.com?secret=JBSWY3DPEHPK3PXP\
             &issuer=Folio%20Test&algorithm=SHA1&digits=6&period=30"
        );
    }
}
