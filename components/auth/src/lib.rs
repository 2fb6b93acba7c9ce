//! Authentication helpers shared by Folio components: EdDSA access tokens and roles ([`jwt`]),
//! one-time codes ([`totp`]), password hashing and policy ([`password`]), sealed boxes for
//! secrets that travel through events ([`sealed`]), Web Push message encryption and VAPID
//! ([`webpush`]) and the arithmetic of sign-in throttling ([`throttle`]).
//!
//! Pure Rust with no I/O and no randomness of its own: callers pass in the time and any random
//! bytes, so everything here is deterministic and builds both natively and for `wasm32-wasip2`.

pub mod jwt;
pub mod password;
pub mod sealed;
pub mod throttle;
pub mod totp;
pub mod webpush;

pub use jwt::{Claims, KeyError, PublicKey, Role, SigningKey, TokenError, Verifier};
