//! The token signing key of an embedded deployment. When the app declares
//! `auth_signing_key` and nothing sets it, the host generates an Ed25519 key
//! on first start, keeps it in the data directory, and fills in
//! `auth_signing_key` and `auth_public_keys` (the matching JWKS document).
//! In production both come from the environment like any other variable.
//!
//! The notification service's secrets are generated the same way: the
//! X25519 key reset tokens are sealed to (`reset_delivery_private_key`, and
//! the users service's `reset_delivery_public_key` derived from it), the
//! VAPID key of web push, and the key that signs unsubscribe links.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use folio_auth::jwt::{SigningKey, jwks_json};

use crate::manifest::App;
use crate::variables::env_name;

pub const SIGNING_KEY: &str = "auth_signing_key";
pub const PUBLIC_KEYS: &str = "auth_public_keys";

/// Values for the key variables the environment leaves unset.
pub fn defaults(
    app: &App,
    env: &dyn Fn(&str) -> Option<String>,
    data_dir: &Path,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    generated_secrets(app, env, data_dir, &mut out)?;
    if !app.variables.contains_key(SIGNING_KEY) {
        return Ok(out);
    }
    let seed = match env(&env_name(SIGNING_KEY)) {
        Some(seed) => seed,
        None => {
            let seed = load_or_create_seed(&data_dir.join("auth").join("signing-key"))?;
            out.insert(env_name(SIGNING_KEY), seed.clone());
            seed
        }
    };
    if env(&env_name(PUBLIC_KEYS)).is_none() {
        let key = SigningKey::from_seed_b64(seed.trim())
            .map_err(|e| anyhow::anyhow!("{}: {e}", env_name(SIGNING_KEY)))?;
        out.insert(env_name(PUBLIC_KEYS), jwks_json([key.public_key()]));
    }
    Ok(out)
}

/// A new key as `FOLIO_VAR_...=` lines, single-quoted for a shell or env file.
/// (variable, file under `<data_dir>/auth/`): 32 random bytes in base64url.
/// A random 32-byte string is a valid X25519 secret, and a valid P-256
/// scalar but for odds of about 2^-32.
const GENERATED_SECRETS: [(&str, &str); 3] = [
    (RESET_DELIVERY_PRIVATE_KEY, "reset-delivery-key"),
    ("vapid_private_key", "vapid-key"),
    ("notification_link_secret", "notification-link-secret"),
];
pub const RESET_DELIVERY_PRIVATE_KEY: &str = "reset_delivery_private_key";
pub const RESET_DELIVERY_PUBLIC_KEY: &str = "reset_delivery_public_key";

fn generated_secrets(
    app: &App,
    env: &dyn Fn(&str) -> Option<String>,
    data_dir: &Path,
    out: &mut BTreeMap<String, String>,
) -> anyhow::Result<()> {
    for (variable, file) in GENERATED_SECRETS {
        if app.variables.contains_key(variable) && env(&env_name(variable)).is_none() {
            let secret = load_or_create_seed(&data_dir.join("auth").join(file))?;
            out.insert(env_name(variable), secret);
        }
    }
    if app.variables.contains_key(RESET_DELIVERY_PUBLIC_KEY)
        && env(&env_name(RESET_DELIVERY_PUBLIC_KEY)).is_none()
    {
        let name = env_name(RESET_DELIVERY_PRIVATE_KEY);
        if let Some(private) = env(&name).or_else(|| out.get(&name).cloned()) {
            use base64::Engine;
            let bytes: [u8; 32] = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(private.trim().trim_end_matches('='))
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| anyhow::anyhow!("{name} must be 32 bytes in base64url"))?;
            let public = folio_auth::sealed::public_key(&bytes);
            out.insert(
                env_name(RESET_DELIVERY_PUBLIC_KEY),
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(public),
            );
        }
    }
    Ok(())
}

pub fn new_key_env() -> String {
    let seed = SigningKey::generate_seed_b64(rand::random());
    let key = SigningKey::from_seed_b64(&seed).expect("a fresh seed is valid");
    format!(
        "{}='{seed}'\n{}='{}'\n",
        env_name(SIGNING_KEY),
        env_name(PUBLIC_KEYS),
        jwks_json([key.public_key()])
    )
}

fn load_or_create_seed(path: &Path) -> anyhow::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => return Ok(text.trim().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("{}", path.display())),
    }
    let seed = SigningKey::generate_seed_b64(rand::random());
    std::fs::create_dir_all(path.parent().expect("the key lives in a directory"))?;
    let tmp = path.with_extension("tmp");
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("{}", tmp.display()))?;
        f.write_all(seed.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("{}", path.display()))?;
    Ok(seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_once_and_keeps_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth").join("signing-key");
        let first = load_or_create_seed(&path).unwrap();
        assert_eq!(load_or_create_seed(&path).unwrap(), first);
        assert!(SigningKey::from_seed_b64(&first).is_ok());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
