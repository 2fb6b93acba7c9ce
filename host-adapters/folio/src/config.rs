//! The runtime config file (`--runtime-config`): how this host runs an app,
//! as opposed to what the app is (spin.toml). Command-line flags win over it.
//! The host reads its own keys here (`data_dir`, `[limits]`, `[metrics]`, `[releases]`,
//! `public_url`, `[http]`, `[rate_limits]`, `[outbound]`); every other table belongs to a
//! capability (`[sqlite_database.NAME]`, `[key_value_store.NAME]`,
//! `[event_log]`, `[blob_bucket.NAME]`, `[transcode]`, `[passwords]`), which takes and
//! checks it, and a table nobody takes is an error.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use http::StatusCode;
use serde::Deserialize;

use crate::runtime::Limits;

#[derive(Debug, Default, Deserialize)]
pub struct RuntimeConfig {
    /// Where embedded state and the compile cache live (default `.folio`).
    pub data_dir: Option<PathBuf>,
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Who may read `/_folio/metrics`.
    #[serde(default)]
    pub metrics: EndpointAccess,
    /// Who may stage, weigh, promote and roll back releases at
    /// `/_folio/releases` (off unless `bearer_token` is set).
    #[serde(default)]
    pub releases: EndpointAccess,
    /// The URL clients reach this host at (default `http://<listen address>`);
    /// presigned URLs of buckets on disk point here.
    pub public_url: Option<String>,
    /// The HTTP front: trusted proxies, CORS, server timeouts.
    #[serde(default)]
    pub http: crate::gateway::HttpConfig,
    /// Timeouts, circuit breakers and retries of outbound and chained calls.
    #[serde(default)]
    pub outbound: crate::resilience::OutboundConfig,
    /// Where rate-limit counters live, exemptions, and extra policies.
    #[serde(default)]
    pub rate_limits: crate::gateway::RateLimitsConfig,
    /// OpenTelemetry export (OTLP/HTTP).
    #[serde(default)]
    pub telemetry: crate::telemetry::TelemetryConfig,
    /// Every other table: the capabilities' bindings.
    #[serde(flatten)]
    pub capabilities: toml::Table,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    pub max_memory_mb: Option<usize>,
    pub request_timeout_ms: Option<u64>,
    pub max_body_bytes: Option<u64>,
    pub max_concurrent_instances: Option<usize>,
    pub max_background_instances: Option<usize>,
}

/// `[metrics]`, `[releases]`: `bearer_token` makes callers send
/// `Authorization: Bearer …`; `local_only` answers only clients on the
/// loopback interface.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointAccess {
    pub bearer_token: Option<String>,
    #[serde(default)]
    pub local_only: bool,
}

impl EndpointAccess {
    /// `Err` is the status to answer: 403 for a client that is not local,
    /// 401 for a missing or wrong token.
    pub fn allows(&self, headers: &http::HeaderMap, client: SocketAddr) -> Result<(), StatusCode> {
        if self.local_only && !is_loopback(client.ip()) {
            return Err(StatusCode::FORBIDDEN);
        }
        let Some(expected) = &self.bearer_token else {
            return Ok(());
        };
        let presented = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        match folio_adapter_protocol::tokens_match(presented, expected) {
            true => Ok(()),
            false => Err(StatusCode::UNAUTHORIZED),
        }
    }
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
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
        if let Some(n) = self.max_background_instances {
            limits.max_background_instances = n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_access_checks_the_token_and_the_client() {
        let open = EndpointAccess::default();
        let remote: SocketAddr = "192.0.2.7:5000".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        assert_eq!(open.allows(&http::HeaderMap::new(), remote), Ok(()));

        let guarded = EndpointAccess {
            bearer_token: Some("s3cret-token".into()),
            local_only: true,
        };
        let mut headers = http::HeaderMap::new();
        assert_eq!(
            guarded.allows(&headers, local),
            Err(StatusCode::UNAUTHORIZED)
        );
        headers.insert("authorization", "Bearer wrong".parse().unwrap());
        assert_eq!(
            guarded.allows(&headers, local),
            Err(StatusCode::UNAUTHORIZED)
        );
        headers.insert("authorization", "Bearer s3cret-token".parse().unwrap());
        assert_eq!(guarded.allows(&headers, local), Ok(()));
        assert_eq!(guarded.allows(&headers, remote), Err(StatusCode::FORBIDDEN));
    }

    #[test]
    fn capability_tables_are_kept_for_the_capabilities() {
        let config: RuntimeConfig = toml::from_str(
            "[limits]\nmax_background_instances = 3\n[event_log]\ntype = \"embedded\"\n[nonsense]\nx = 1\n",
        )
        .unwrap();
        assert_eq!(config.limits.max_background_instances, Some(3));
        assert!(config.capabilities.contains_key("event_log"));
        assert!(config.capabilities.contains_key("nonsense"));
    }
}
