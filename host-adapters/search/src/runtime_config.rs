//! `[search]` in the runtime config: where indexes live and how they are
//! written.
//!
//! ```toml
//! [search]
//! path = "/var/lib/folio/search"   # default: <data_dir>/search
//! commit_interval_ms = 100         # writes wait at most this long to be committed together
//! writer_threads = 2
//! writer_memory_mb = 64
//! ```

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::index::WriterSettings;

#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct SearchConfig {
    pub path: Option<PathBuf>,
    pub commit_interval_ms: Option<u64>,
    pub writer_threads: Option<usize>,
    pub writer_memory_mb: Option<usize>,
}

impl SearchConfig {
    pub fn settings(&self) -> anyhow::Result<WriterSettings> {
        let default = WriterSettings::default();
        let interval = self.commit_interval_ms.unwrap_or(100);
        if !(1..=10_000).contains(&interval) {
            anyhow::bail!("[search] commit_interval_ms must be 1 to 10000");
        }
        let threads = self.writer_threads.unwrap_or(default.threads);
        if !(1..=16).contains(&threads) {
            anyhow::bail!("[search] writer_threads must be 1 to 16");
        }
        let memory_mb = self.writer_memory_mb.unwrap_or(default.memory_bytes >> 20);
        // tantivy wants at least 15 MB per indexing thread.
        if memory_mb < 16 * threads || memory_mb > 4096 {
            anyhow::bail!("[search] writer_memory_mb must be 16 per writer thread to 4096");
        }
        Ok(WriterSettings {
            threads,
            memory_bytes: memory_mb << 20,
            commit_interval: Duration::from_millis(interval),
        })
    }
}
