//! The token signing key of an embedded deployment. When the app declares
//! `auth_signing_key` and nothing sets it, the host generates an Ed25519 key
//! on first start, keeps it in the data directory, and fills in
//! `auth_signing_key` and `auth_public_keys` (the matching JWKS document).
//! In production both come from the environment like any other variable.

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
