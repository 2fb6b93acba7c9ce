//! The runtime config file (`--runtime-config`): how this host runs an app,
//! as opposed to what the app is (spin.toml). Command-line flags win over it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

use crate::runtime::Limits;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    /// Where embedded state and the compile cache live (default `.folio`).
    pub data_dir: Option<PathBuf>,
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Backends for `sqlite_databases` names, as Spin's `[sqlite_database.NAME]`.
    #[serde(default)]
    pub sqlite_database: BTreeMap<String, folio_sql::BackendConfig>,
    /// Backends for `key_value_stores` names, as Spin's `[key_value_store.NAME]`.
    #[serde(default)]
    pub key_value_store: BTreeMap<String, folio_kv::KvBackendConfig>,
    /// The event log: `[event_log] type = "embedded"` (default) or `"kafka"`.
    #[serde(default)]
    pub event_log: folio_events::EventLogConfig,
    /// Backends for `blob_buckets` names (a Folio extension: Spin has no blob store).
    #[serde(default)]
    pub blob_bucket: BTreeMap<String, folio_blobs::BlobBackendConfig>,
    /// ffmpeg/ffprobe and their limits, for `folio:platform/transcode` (a Folio extension).
    #[serde(default)]
    pub transcode: folio_transcode::TranscodeConfig,
    /// The URL clients reach this host at (default `http://<listen address>`);
    /// presigned URLs of buckets on disk point here.
    pub public_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    pub max_memory_mb: Option<usize>,
    pub request_timeout_ms: Option<u64>,
    pub max_body_bytes: Option<u64>,
    pub max_concurrent_instances: Option<usize>,
}

impl RuntimeConfig {
    pub fn load(path: &Path) -> anyhow::Result<RuntimeConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read runtime config", path.display()))?;
        toml::from_str(&text).map_err(|e| {
            let e = crate::manifest::toml_error(&text, &e);
            anyhow::anyhow!("{}: runtime config: {e}", path.display())
        })
    }
}

impl RuntimeConfig {
    /// A binding for a name no component declares is almost always a typo;
    /// refuse it rather than silently running that component on the default.
    pub fn check_bindings(&self, app: &crate::manifest::App) -> anyhow::Result<()> {
        let declared = |pick: fn(&crate::manifest::ComponentDecl) -> &Vec<String>| {
            app.components
                .values()
                .flat_map(pick)
                .cloned()
                .collect::<std::collections::BTreeSet<_>>()
        };
        let databases = declared(|c| &c.sqlite_databases);
        let stores = declared(|c| &c.key_value_stores);
        let buckets = declared(|c| &c.blob_buckets);
        let unused = self
            .sqlite_database
            .keys()
            .filter(|n| !databases.contains(*n))
            .map(|n| format!("[sqlite_database.{n}]"))
            .chain(
                self.key_value_store
                    .keys()
                    .filter(|n| !stores.contains(*n))
                    .map(|n| format!("[key_value_store.{n}]")),
            )
            .chain(
                self.blob_bucket
                    .keys()
                    .filter(|n| !buckets.contains(*n))
                    .map(|n| format!("[blob_bucket.{n}]")),
            )
            .collect::<Vec<_>>();
        if !unused.is_empty() {
            anyhow::bail!(
                "runtime config binds {}, which no component in {} declares",
                unused.join(", "),
                app.manifest_path.display()
            );
        }
        Ok(())
    }
}

impl LimitsConfig {
    pub fn apply(&self, limits: &mut Limits) {
        if let Some(mb) = self.max_memory_mb {
            limits.max_memory_bytes = mb << 20;
        }
        if let Some(ms) = self.request_timeout_ms {
            limits.request_timeout = Duration::from_millis(ms);
        }
        if let Some(b) = self.max_body_bytes {
            limits.max_body_bytes = b;
        }
        if let Some(n) = self.max_concurrent_instances {
            limits.max_concurrent_instances = n;
        }
    }
}
