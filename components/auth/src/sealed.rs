//! Sealed boxes: a secret encrypted to one recipient's X25519 public key, so
//! that it can travel through events and logs that others may read and only
//! the holder of the matching secret key can open it (e.g. a password-reset
//! token on its way to the notification service).
//!
//! Each box uses a fresh ephemeral key pair (its secret comes from the
//! caller's random source): X25519 between the ephemeral secret and the
//! recipient's public key, HKDF-SHA256 (salt: both public keys; info: the
//! caller's context label) to a ChaCha20-Poly1305 key, which seals exactly
//! one message. As the key is never reused, a fixed nonce is safe.
//!
//! Layout: the ephemeral public key (32 bytes) followed by the ciphertext
//! and its 16-byte tag.

use std::fmt;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hkdf::Hkdf;
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroize;

pub const KEY_LEN: usize = 32;

/// The `info` of a password-reset token sealed by the users service for the
/// service that delivers reset links (`resetTokenSealed` in
/// `folio.users.PasswordResetRequested`).
pub const RESET_TOKEN_INFO: &[u8] = b"folio.users password-reset token v1";
const TAG_LEN: usize = 16;

/// Why a box could not be made or opened. Deliberately coarse: an opener
/// learns nothing about which check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealError {
    /// The recipient's public key is a low-order point (no shared secret).
    WeakKey,
    /// Too short, tampered with, for another key or another `info`.
    Invalid,
}

impl fmt::Display for SealError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SealError::WeakKey => f.write_str("the recipient's public key is not usable"),
            SealError::Invalid => f.write_str("the sealed box cannot be opened"),
        }
    }
}

impl std::error::Error for SealError {}

/// The X25519 public key of `secret` (for generating a recipient key pair).
pub fn public_key(secret: &[u8; KEY_LEN]) -> [u8; KEY_LEN] {
    PublicKey::from(&StaticSecret::from(*secret)).to_bytes()
}

fn cipher(
    shared: &[u8; KEY_LEN],
    ephemeral_public: &[u8; KEY_LEN],
    recipient_public: &[u8; KEY_LEN],
    info: &[u8],
) -> ChaCha20Poly1305 {
    let mut salt = [0u8; 2 * KEY_LEN];
    salt[..KEY_LEN].copy_from_slice(ephemeral_public);
    salt[KEY_LEN..].copy_from_slice(recipient_public);
    let mut key = [0u8; KEY_LEN];
    Hkdf::<Sha256>::new(Some(&salt), shared)
        .expand(info, &mut key)
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    let cipher = ChaCha20Poly1305::new(Key::from_slice(&key));
    key.zeroize();
    cipher
}

/// Seals `plaintext` to `recipient_public`. `ephemeral_secret` must be 32
/// fresh random bytes, used for this box only; `info` names the purpose (a
/// box opens only with the same `info`).
pub fn seal(
    recipient_public: &[u8; KEY_LEN],
    plaintext: &[u8],
    ephemeral_secret: [u8; KEY_LEN],
    info: &[u8],
) -> Result<Vec<u8>, SealError> {
    let ephemeral = StaticSecret::from(ephemeral_secret);
    let ephemeral_public = PublicKey::from(&ephemeral).to_bytes();
    let shared = ephemeral.diffie_hellman(&PublicKey::from(*recipient_public));
    if !shared.was_contributory() {
        return Err(SealError::WeakKey);
    }
    let cipher = cipher(shared.as_bytes(), &ephemeral_public, recipient_public, info);
    let ciphertext = cipher
        .encrypt(
            Nonce::from_slice(&[0u8; 12]),
            Payload {
                msg: plaintext,
                aad: &ephemeral_public,
            },
        )
        .expect("ChaCha20-Poly1305 encrypts any message that fits in memory");
    let mut out = Vec::with_capacity(KEY_LEN + ciphertext.len());
    out.extend_from_slice(&ephemeral_public);
    out.extend_from_slice(&ciphertext);
    Ok(out)
}

/// Opens a box made by [`seal`] for the public key of `recipient_secret`
/// with the same `info`.
pub fn open(
    recipient_secret: &[u8; KEY_LEN],
    sealed: &[u8],
    info: &[u8],
) -> Result<Vec<u8>, SealError> {
    if sealed.len() < KEY_LEN + TAG_LEN {
        return Err(SealError::Invalid);
    }
    let (ephemeral_public, ciphertext) = sealed.split_at(KEY_LEN);
    let ephemeral_public: [u8; KEY_LEN] = ephemeral_public.try_into().expect("split at 32");
    let secret = StaticSecret::from(*recipient_secret);
    let recipient_public = PublicKey::from(&secret).to_bytes();
    let shared = secret.diffie_hellman(&PublicKey::from(ephemeral_public));
    if !shared.was_contributory() {
        return Err(SealError::Invalid);
    }
    cipher(
        shared.as_bytes(),
        &ephemeral_public,
        &recipient_public,
        info,
    )
    .decrypt(
        Nonce::from_slice(&[0u8; 12]),
        Payload {
            msg: ciphertext,
            aad: &ephemeral_public,
        },
    )
    .map_err(|_| SealError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &[u8] = b"folio password reset token v1";

    fn recipient() -> ([u8; 32], [u8; 32]) {
        let secret = [0x42u8; 32];
        (secret, public_key(&secret))
    }

    #[test]
    fn round_trip() {
        let (secret, public) = recipient();
        let sealed = seal(&public, b"the reset token", [7u8; 32], INFO).unwrap();
        assert_eq!(sealed.len(), 32 + 15 + 16);
        assert_eq!(open(&secret, &sealed, INFO).unwrap(), b"the reset token");
        let empty = seal(&public, b"", [8u8; 32], INFO).unwrap();
        assert_eq!(open(&secret, &empty, INFO).unwrap(), b"");
    }

    #[test]
    fn the_plaintext_does_not_show_and_each_box_differs() {
        let (_, public) = recipient();
        let a = seal(&public, b"the reset token", [7u8; 32], INFO).unwrap();
        let b = seal(&public, b"the reset token", [9u8; 32], INFO).unwrap();
        assert_ne!(a, b);
        assert!(!a.windows(5).any(|w| w == b"reset"));
    }

    #[test]
    fn tampering_fails() {
        let (secret, public) = recipient();
        let sealed = seal(&public, b"the reset token", [7u8; 32], INFO).unwrap();
        for i in [0, 31, 32, sealed.len() - 1] {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert_eq!(
                open(&secret, &bad, INFO),
                Err(SealError::Invalid),
                "byte {i}"
            );
        }
        assert_eq!(
            open(&secret, &sealed[..sealed.len() - 1], INFO),
            Err(SealError::Invalid)
        );
        assert_eq!(open(&secret, &sealed[..40], INFO), Err(SealError::Invalid));
        assert_eq!(open(&secret, &[], INFO), Err(SealError::Invalid));
    }

    #[test]
    fn another_key_or_purpose_fails() {
        let (secret, public) = recipient();
        let sealed = seal(&public, b"the reset token", [7u8; 32], INFO).unwrap();
        assert_eq!(open(&[0x43u8; 32], &sealed, INFO), Err(SealError::Invalid));
        assert_eq!(
            open(&secret, &sealed, b"another purpose"),
            Err(SealError::Invalid)
        );
    }

    #[test]
    fn a_low_order_public_key_is_refused() {
        assert_eq!(
            seal(&[0u8; 32], b"x", [7u8; 32], INFO),
            Err(SealError::WeakKey)
        );
    }
}
