//! Presigned URLs for buckets on local disk: the host serves them itself at
//! `/_folio/blobs/<component>/<bucket>/<key>?expires=<unix>&sig=<hex>`,
//! signed with HMAC-SHA256 under a key generated once per data directory.
//! The signature covers the method, component, bucket, key, expiry and (for
//! PUT) the content type the client must send.

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::Sha256;

use crate::backend::BlobError;

/// Where the host serves presigned disk URLs.
pub const ROUTE_PREFIX: &str = "/_folio/blobs/";

/// Everything but unreserved characters (RFC 3986) is escaped, `/` included.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

#[derive(Clone)]
pub struct Signer {
    key: Arc<[u8; 32]>,
    base_url: Arc<OnceLock<String>>,
}

/// A presigned request, parsed from the URL path and query.
#[derive(Debug, PartialEq)]
pub struct PresignedTarget {
    pub component: String,
    pub bucket: String,
    pub key: String,
    expires: u64,
    sig: String,
}

impl Signer {
    /// The signing key lives at `<data_dir>/blobs/signing-key` (created with
    /// mode 0600 on first use), so URLs survive a restart.
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<Signer> {
        let path = data_dir.join("blobs").join("signing-key");
        let key = match std::fs::read_to_string(&path) {
            Ok(text) => hex::decode(text.trim())
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .with_context(|| format!("{}: not a 32-byte hex key", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key: [u8; 32] = rand::random();
                std::fs::create_dir_all(path.parent().unwrap())?;
                let tmp = path.with_extension("tmp");
                {
                    use std::io::Write;
                    use std::os::unix::fs::OpenOptionsExt;
                    let mut f = std::fs::OpenOptions::new()
                        .write(true)
                        .create(true)
                        .truncate(true)
                        .mode(0o600)
                        .open(&tmp)?;
                    f.write_all(hex::encode(key).as_bytes())?;
                    f.sync_all()?;
                }
                std::fs::rename(&tmp, &path)?;
                key
            }
            Err(e) => return Err(e).with_context(|| format!("{}", path.display())),
        };
        Ok(Signer {
            key: Arc::new(key),
            base_url: Arc::new(OnceLock::new()),
        })
    }

    /// The URL clients reach this host at, e.g. `http://127.0.0.1:3000`.
    /// Set once, when the host knows it (after binding its listener).
    pub fn set_base_url(&self, url: &str) {
        let _ = self.base_url.set(url.trim_end_matches('/').to_string());
    }

    fn mac(
        &self,
        method: &str,
        component: &str,
        bucket: &str,
        key: &str,
        content_type: &str,
        expires: u64,
    ) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key[..]).expect("any key length");
        for part in [
            method,
            component,
            bucket,
            key,
            content_type,
            &expires.to_string(),
        ] {
            mac.update(part.as_bytes());
            mac.update(b"\n");
        }
        mac
    }

    pub fn url(
        &self,
        method: &str,
        component: &str,
        bucket: &str,
        key: &str,
        content_type: &str,
        ttl: Duration,
    ) -> Result<String, BlobError> {
        let base = self.base_url.get().ok_or_else(|| {
            BlobError::Unavailable("the host's public URL is not known yet".into())
        })?;
        let expires = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs()
            + ttl.as_secs();
        let sig = hex::encode(
            self.mac(method, component, bucket, key, content_type, expires)
                .finalize()
                .into_bytes(),
        );
        let key_path = key
            .split('/')
            .map(|s| utf8_percent_encode(s, SEGMENT).to_string())
            .collect::<Vec<_>>()
            .join("/");
        Ok(format!(
            "{base}{ROUTE_PREFIX}{}/{}/{key_path}?expires={expires}&sig={sig}",
            utf8_percent_encode(component, SEGMENT),
            utf8_percent_encode(bucket, SEGMENT),
        ))
    }

    /// Checks a request against its signature: the method, the path, the
    /// expiry and, for PUT, the `content-type` the request carries.
    pub fn verify(
        &self,
        method: &str,
        target: &PresignedTarget,
        content_type: &str,
    ) -> Result<(), String> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let Ok(sig) = hex::decode(&target.sig) else {
            return Err("the signature is not hex".into());
        };
        let content_type = if method == "PUT" { content_type } else { "" };
        self.mac(
            method,
            &target.component,
            &target.bucket,
            &target.key,
            content_type,
            target.expires,
        )
        .verify_slice(&sig)
        .map_err(|_| {
            "the signature does not match this method, path, expiry and content type".to_string()
        })?;
        if now > target.expires {
            return Err("the URL has expired".into());
        }
        Ok(())
    }
}

impl PresignedTarget {
    /// Parses `/_folio/blobs/<component>/<bucket>/<key>` and `expires=..&sig=..`.
    pub fn parse(path: &str, query: Option<&str>) -> Option<PresignedTarget> {
        let rest = path.strip_prefix(ROUTE_PREFIX)?;
        let mut parts = rest.splitn(3, '/');
        let decode = |s: &str| {
            percent_decode_str(s)
                .decode_utf8()
                .ok()
                .map(|c| c.into_owned())
        };
        let component = decode(parts.next()?)?;
        let bucket = decode(parts.next()?)?;
        let key = parts
            .next()?
            .split('/')
            .map(decode)
            .collect::<Option<Vec<_>>>()?
            .join("/");
        let (mut expires, mut sig) = (None, None);
        for pair in query?.split('&') {
            match pair.split_once('=') {
                Some(("expires", v)) => expires = v.parse().ok(),
                Some(("sig", v)) => sig = Some(v.to_string()),
                _ => {}
            }
        }
        Some(PresignedTarget {
            component,
            bucket,
            key,
            expires: expires?,
            sig: sig?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify() {
        let dir = tempfile::tempdir().unwrap();
        let signer = Signer::load_or_create(dir.path()).unwrap();
        signer.set_base_url("http://127.0.0.1:1");
        let url = signer
            .url(
                "PUT",
                "media",
                "up loads",
                "a b/ü.txt",
                "image/png",
                Duration::from_secs(60),
            )
            .unwrap();
        let (path, query) = url
            .strip_prefix("http://127.0.0.1:1")
            .unwrap()
            .split_once('?')
            .unwrap();
        let target = PresignedTarget::parse(path, Some(query)).unwrap();
        assert_eq!(target.key, "a b/ü.txt");
        assert_eq!(target.bucket, "up loads");
        assert_eq!(signer.verify("PUT", &target, "image/png"), Ok(()));
        assert!(signer.verify("PUT", &target, "text/html").is_err());
        assert!(signer.verify("GET", &target, "image/png").is_err());
        // The same key on reload; another data dir's key does not verify.
        let again = Signer::load_or_create(dir.path()).unwrap();
        assert_eq!(again.verify("PUT", &target, "image/png"), Ok(()));
        let other = Signer::load_or_create(tempfile::tempdir().unwrap().path()).unwrap();
        assert!(other.verify("PUT", &target, "image/png").is_err());
        let tampered = PresignedTarget {
            key: "a b/other.txt".into(),
            ..target
        };
        assert!(signer.verify("PUT", &tampered, "image/png").is_err());
    }
}
