//! The runtime config file's `[transcode]` table: where ffmpeg and ffprobe
//! are, and the limits every run gets. Every key is optional.
//!
//! ```toml
//! [transcode]
//! ffmpeg = "/usr/bin/ffmpeg"     # default: `ffmpeg` on PATH
//! ffprobe = "/usr/bin/ffprobe"   # default: `ffprobe` on PATH
//! timeout_secs = 900             # one job, from getting a slot to its last upload
//! max_memory_mb = 2048           # RLIMIT_AS of each ffmpeg/ffprobe process
//! max_cpu_secs = 1800            # RLIMIT_CPU of each process (default: 2 × timeout_secs)
//! threads = 2                    # ffmpeg `-threads`
//! max_concurrent_jobs = 1        # jobs running at once on this host; others wait
//! work_dir = "/var/tmp/folio"    # default: `<data_dir>/transcode`
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::bail;
use serde::Deserialize;

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TranscodeConfig {
    pub ffmpeg: Option<PathBuf>,
    pub ffprobe: Option<PathBuf>,
    pub timeout_secs: Option<u64>,
    pub max_memory_mb: Option<u64>,
    pub max_cpu_secs: Option<u64>,
    pub threads: Option<u32>,
    pub max_concurrent_jobs: Option<usize>,
    pub work_dir: Option<PathBuf>,
}

/// `[transcode]` with every default filled in and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct TranscodeSettings {
    pub ffmpeg: PathBuf,
    pub ffprobe: PathBuf,
    pub timeout: Duration,
    pub max_memory_bytes: u64,
    pub max_cpu_secs: u64,
    pub threads: u32,
    pub max_concurrent_jobs: usize,
    /// Absolute, so ffmpeg never reads a path relative to whatever its working directory is.
    pub work_dir: PathBuf,
}

pub const DEFAULT_TIMEOUT_SECS: u64 = 900;
pub const DEFAULT_MAX_MEMORY_MB: u64 = 2048;
pub const DEFAULT_THREADS: u32 = 2;
pub const DEFAULT_MAX_CONCURRENT_JOBS: usize = 1;

impl TranscodeConfig {
    pub fn settings(&self, data_dir: &Path) -> anyhow::Result<TranscodeSettings> {
        let positive = |key: &str, value: Option<u64>| -> anyhow::Result<()> {
            if value == Some(0) {
                bail!("[transcode] {key} must be at least 1");
            }
            Ok(())
        };
        positive("timeout_secs", self.timeout_secs)?;
        positive("max_cpu_secs", self.max_cpu_secs)?;
        positive("threads", self.threads.map(u64::from))?;
        positive(
            "max_concurrent_jobs",
            self.max_concurrent_jobs.map(|n| n as u64),
        )?;
        if self.max_memory_mb.is_some_and(|mb| mb < 64) {
            bail!("[transcode] max_memory_mb must be at least 64: ffmpeg cannot start below that");
        }
        let timeout_secs = self.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS);
        let work_dir = self
            .work_dir
            .clone()
            .unwrap_or_else(|| data_dir.join("transcode"));
        Ok(TranscodeSettings {
            ffmpeg: self.ffmpeg.clone().unwrap_or_else(|| "ffmpeg".into()),
            ffprobe: self.ffprobe.clone().unwrap_or_else(|| "ffprobe".into()),
            timeout: Duration::from_secs(timeout_secs),
            max_memory_bytes: self.max_memory_mb.unwrap_or(DEFAULT_MAX_MEMORY_MB) << 20,
            max_cpu_secs: self.max_cpu_secs.unwrap_or(timeout_secs.saturating_mul(2)),
            threads: self.threads.unwrap_or(DEFAULT_THREADS),
            max_concurrent_jobs: self
                .max_concurrent_jobs
                .unwrap_or(DEFAULT_MAX_CONCURRENT_JOBS),
            work_dir: std::path::absolute(&work_dir)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_timeout_and_the_data_dir() {
        let settings = TranscodeConfig::default()
            .settings(Path::new("/data"))
            .unwrap();
        assert_eq!(settings.ffmpeg, Path::new("ffmpeg"));
        assert_eq!(settings.timeout, Duration::from_secs(900));
        assert_eq!(settings.max_cpu_secs, 1800);
        assert_eq!(settings.max_memory_bytes, 2048 << 20);
        assert_eq!(settings.work_dir, Path::new("/data/transcode"));
        let custom = TranscodeConfig {
            timeout_secs: Some(10),
            ..Default::default()
        };
        assert_eq!(
            custom.settings(Path::new("/data")).unwrap().max_cpu_secs,
            20
        );
    }

    #[test]
    fn refuses_zero_limits_and_unknown_keys() {
        let zero = TranscodeConfig {
            max_concurrent_jobs: Some(0),
            ..Default::default()
        };
        let err = zero.settings(Path::new("/d")).unwrap_err().to_string();
        assert!(err.contains("max_concurrent_jobs"), "{err}");
        let parsed: Result<TranscodeConfig, _> = serde_json::from_str(r#"{"timeout": 3}"#);
        assert!(parsed.is_err());
    }
}
