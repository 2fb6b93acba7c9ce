//! Which backend each bucket name is bound to, from the runtime config
//! file's `[blob_bucket.NAME]` tables. Unbound names are on local disk
//! under the data directory.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum BlobBackendConfig {
    /// `type = "disk"`: a directory per component and bucket,
    /// `<path>/<component>/<bucket>/`; `path` defaults to `<data_dir>/blobs`.
    Disk { path: Option<PathBuf> },
    /// `type = "s3"`: any S3 server, addressed path-style. Credentials not
    /// given here come from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`,
    /// the region from `AWS_REGION` (else `us-east-1`).
    S3 {
        /// e.g. `http://127.0.0.1:53900`; omitted for AWS itself.
        endpoint: Option<String>,
        region: Option<String>,
        /// The S3 bucket; components get `[prefix]<component>/<bucket>/` inside it.
        bucket: String,
        access_key_id: Option<String>,
        secret_access_key: Option<String>,
        /// Put before every key, e.g. `"folio/"`.
        prefix: Option<String>,
    },
}

#[derive(Debug, Clone, Default)]
pub struct BlobConfig {
    pub buckets: BTreeMap<String, BlobBackendConfig>,
}

impl BlobConfig {
    pub fn backend(&self, name: &str) -> BlobBackendConfig {
        self.buckets
            .get(name)
            .cloned()
            .unwrap_or(BlobBackendConfig::Disk { path: None })
    }
}
