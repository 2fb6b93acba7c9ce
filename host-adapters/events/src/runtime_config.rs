//! Which log events go to, from the runtime config file's `[event_log]`
//! table. With none, the embedded log under the data directory.

use std::path::PathBuf;

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum EventLogConfig {
    /// `type = "embedded"`: a durable log file, by default under the data
    /// directory. Events older than `retention_hours` (default 168, Kafka's
    /// default week) are deleted, consumed or not.
    Embedded {
        path: Option<PathBuf>,
        #[serde(default = "default_retention_hours")]
        retention_hours: u64,
    },
    /// `type = "kafka"`: `brokers` is Kafka's `bootstrap.servers`.
    Kafka {
        brokers: String,
        /// Partitions of the topics the host creates (existing topics are left as they are).
        #[serde(default = "default_partitions")]
        partitions: i32,
        #[serde(default = "default_replication")]
        replication: i32,
    },
}

fn default_retention_hours() -> u64 {
    168
}

fn default_partitions() -> i32 {
    3
}

fn default_replication() -> i32 {
    1
}

impl Default for EventLogConfig {
    fn default() -> Self {
        EventLogConfig::Embedded {
            path: None,
            retention_hours: default_retention_hours(),
        }
    }
}
