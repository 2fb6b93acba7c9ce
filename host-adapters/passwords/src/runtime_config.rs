//! The runtime config file's `[passwords]` table. Every key is optional.
//!
//! ```toml
//! [passwords]
//! threads = 2        # hashes running at once (default: one per core)
//! max_waiting = 64   # calls queued behind them; past this a call answers `busy`
//! ```

use anyhow::bail;
use serde::Deserialize;

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordsConfig {
    pub threads: Option<usize>,
    pub max_waiting: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSettings {
    pub threads: usize,
    pub max_waiting: usize,
}

pub const DEFAULT_MAX_WAITING: usize = 64;

impl PasswordsConfig {
    pub fn settings(&self) -> anyhow::Result<PoolSettings> {
        if self.threads == Some(0) {
            bail!("[passwords] threads must be at least 1");
        }
        // Every core: the threads run at a lower priority, so request
        // handling still gets the CPU the moment it needs it.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(PoolSettings {
            threads: self.threads.unwrap_or(cores),
            max_waiting: self.max_waiting.unwrap_or(DEFAULT_MAX_WAITING),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_refusals() {
        let s = PasswordsConfig::default().settings().unwrap();
        assert!(s.threads >= 1);
        assert_eq!(s.max_waiting, DEFAULT_MAX_WAITING);
        let zero = PasswordsConfig {
            threads: Some(0),
            ..Default::default()
        };
        assert!(zero.settings().is_err());
    }
}
