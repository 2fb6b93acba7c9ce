//! Driving `wrk` from the benchmarks and reading its report.

use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, Clone)]
pub struct LoadResult {
    pub requests_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub errors: String,
}

/// The `wrk` binary, or an error saying how to install it.
pub fn find() -> anyhow::Result<PathBuf> {
    which("wrk").ok_or_else(|| anyhow::anyhow!("wrk is needed: apt-get install wrk"))
}

/// Runs `wrk --latency` with `args` (connections, duration, URL, ...).
pub fn run(wrk: &Path, args: &[String]) -> anyhow::Result<LoadResult> {
    let output = Command::new(wrk).arg("--latency").args(args).output()?;
    anyhow::ensure!(
        output.status.success(),
        "wrk failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    parse(&String::from_utf8_lossy(&output.stdout))
}

pub fn parse(text: &str) -> anyhow::Result<LoadResult> {
    let mut result = LoadResult {
        requests_per_sec: 0.0,
        p50_ms: 0.0,
        p99_ms: 0.0,
        errors: "none".into(),
    };
    for line in text.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("Requests/sec:") {
            result.requests_per_sec = v.trim().parse()?;
        } else if let Some(v) = line.strip_prefix("50%") {
            result.p50_ms = duration_ms(v.trim())?;
        } else if let Some(v) = line.strip_prefix("99%") {
            result.p99_ms = duration_ms(v.trim())?;
        } else if line.starts_with("Socket errors") || line.starts_with("Non-2xx") {
            result.errors = line.to_string();
        }
    }
    anyhow::ensure!(
        result.requests_per_sec > 0.0,
        "could not parse wrk output:\n{text}"
    );
    Ok(result)
}

fn duration_ms(v: &str) -> anyhow::Result<f64> {
    let (number, factor) = if let Some(n) = v.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1000.0)
    } else {
        anyhow::bail!("unknown duration {v}")
    };
    Ok(number.parse::<f64>()? * factor)
}

pub fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
}
