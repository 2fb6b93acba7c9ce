//! Which backend each database name is bound to, from the runtime config
//! file's `[sqlite_database.NAME]` tables (Spin's key). Unbound names are
//! embedded SQLite files under the data directory.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use crate::migrations::Dialect;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum BackendConfig {
    /// `type = "sqlite"` (or Spin's `"spin"`): a file, by default under the data directory.
    #[serde(alias = "spin")]
    Sqlite { path: Option<PathBuf> },
    /// `type = "postgres"`: `url` names a user allowed to create roles and schemas.
    Postgres {
        url: String,
        #[serde(default = "default_max_connections")]
        max_connections: u32,
    },
}

fn default_max_connections() -> u32 {
    5
}

impl BackendConfig {
    pub fn dialect(&self) -> Dialect {
        match self {
            BackendConfig::Sqlite { .. } => Dialect::Sqlite,
            BackendConfig::Postgres { .. } => Dialect::Postgres,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct SqlConfig {
    pub databases: BTreeMap<String, BackendConfig>,
}

impl SqlConfig {
    pub fn backend(&self, name: &str) -> BackendConfig {
        self.databases
            .get(name)
            .cloned()
            .unwrap_or(BackendConfig::Sqlite { path: None })
    }
}
