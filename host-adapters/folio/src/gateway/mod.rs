//! The gateway in front of every component: who the client is (trusted
//! proxies), rate limits, CORS and security headers, and the HTTP server's
//! limits against slow or greedy clients. Configured by the runtime
//! config's `[http]` and `[rate_limits]` tables and the manifest's
//! `rate_limits` policies.
//!
//! ```toml
//! [http]
//! trusted_proxies = ["10.0.0.0/8"]   # whose Forwarded / X-Forwarded-For is believed
//! header_read_timeout_ms = 10000     # a request's head must arrive within this
//! idle_timeout_ms = 60000            # a keep-alive connection with nothing to do is closed
//! max_connections = 4096             # past this, new connections wait in the backlog
//! strict_transport_security = "max-age=63072000; includeSubDomains"  # behind TLS
//! [http.cors]
//! allowed_origins = ["https://admin.example.com"]
//! allow_credentials = true
//! ```

pub mod browser;
pub mod client_address;
pub mod idle;
pub mod rate_limit;

use std::time::Duration;

use http::HeaderValue;
use serde::Deserialize;

pub use browser::{Cors, CorsConfig, Preflight};
pub use client_address::{TrustedProxies, address_key};
pub use rate_limit::{RateLimitRule, RateLimiter, RateLimitsConfig};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    pub header_read_timeout_ms: Option<u64>,
    pub idle_timeout_ms: Option<u64>,
    pub max_connections: Option<usize>,
    pub strict_transport_security: Option<String>,
    pub cors: Option<CorsConfig>,
}

pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;

/// `[http]` checked and ready.
pub struct HttpPolicy {
    pub trusted_proxies: TrustedProxies,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub hsts: Option<HeaderValue>,
    pub cors: Option<Cors>,
}

impl HttpConfig {
    pub fn policy(&self) -> anyhow::Result<HttpPolicy> {
        let positive = |key: &str, v: Option<u64>| -> anyhow::Result<()> {
            if v == Some(0) {
                anyhow::bail!("[http] {key} must be at least 1");
            }
            Ok(())
        };
        positive("header_read_timeout_ms", self.header_read_timeout_ms)?;
        positive("idle_timeout_ms", self.idle_timeout_ms)?;
        positive("max_connections", self.max_connections.map(|n| n as u64))?;
        Ok(HttpPolicy {
            trusted_proxies: TrustedProxies::parse(&self.trusted_proxies)
                .map_err(|e| anyhow::anyhow!("[http] trusted_proxies: {e}"))?,
            header_read_timeout: self
                .header_read_timeout_ms
                .map_or(DEFAULT_HEADER_READ_TIMEOUT, Duration::from_millis),
            idle_timeout: self
                .idle_timeout_ms
                .map_or(DEFAULT_IDLE_TIMEOUT, Duration::from_millis),
            max_connections: self.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS),
            hsts: self
                .strict_transport_security
                .as_deref()
                .map(|v| {
                    HeaderValue::from_str(v).map_err(|_| {
                        anyhow::anyhow!("[http] strict_transport_security is not a header value")
                    })
                })
                .transpose()?,
            cors: self.cors.as_ref().map(Cors::new).transpose()?,
        })
    }
}

impl Default for HttpPolicy {
    fn default() -> Self {
        HttpConfig::default()
            .policy()
            .expect("the defaults are valid")
    }
}
