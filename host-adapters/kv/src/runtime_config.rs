//! Which backend each store name is bound to, from the runtime config file's
//! `[key_value_store.NAME]` tables (Spin's key). Unbound names are embedded.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum KvBackendConfig {
    /// `type = "sqlite"` (or Spin's `"spin"`): a file, by default under the data directory.
    #[serde(alias = "spin")]
    Sqlite { path: Option<PathBuf> },
    /// `type = "redis"`, e.g. `url = "redis://127.0.0.1:6379"`.
    Redis { url: String },
}

#[derive(Debug, Clone, Default)]
pub struct KvConfig {
    pub stores: BTreeMap<String, KvBackendConfig>,
}

impl KvConfig {
    pub fn backend(&self, name: &str) -> KvBackendConfig {
        self.stores
            .get(name)
            .cloned()
            .unwrap_or(KvBackendConfig::Sqlite { path: None })
    }
}
