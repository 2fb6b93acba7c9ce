//! Outbound HTTP from guests: only to `allowed_outbound_hosts`, and
//! `http://NAME.spin.internal/...` (service chaining) served in-process.

use std::sync::Weak;

use anyhow::{Context, bail};
use http::uri::Scheme;
use wasmtime_wasi_http::{Error as HttpError, WasiBody, WasiHttpHooks};

use crate::runtime::{AppRuntime, CallerContext};

/// Suffix of the hosts that address another component of the same app.
pub const INTERNAL_SUFFIX: &str = ".spin.internal";

#[derive(Debug, Clone, Default)]
pub struct AllowedHosts {
    rules: Vec<HostRule>,
}

#[derive(Debug, Clone, PartialEq)]
struct HostRule {
    scheme: Option<String>,
    host: HostPattern,
    port: PortPattern,
}

#[derive(Debug, Clone, PartialEq)]
enum HostPattern {
    Any,
    Exact(String),
    /// `*.example.com`: any subdomain, not the bare domain.
    Subdomains(String),
}

#[derive(Debug, Clone, PartialEq)]
enum PortPattern {
    Any,
    /// No port written: the scheme's default (80/443); with `*://`, either.
    SchemeDefault,
    Range(u16, u16),
}

impl AllowedHosts {
    pub fn parse(entries: &[String]) -> anyhow::Result<AllowedHosts> {
        let rules = entries
            .iter()
            .map(|e| HostRule::parse(e).with_context(|| format!("`{e}`")))
            .collect::<anyhow::Result<_>>()?;
        Ok(AllowedHosts { rules })
    }

    pub fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        let host = host.to_ascii_lowercase();
        self.rules.iter().any(|r| r.allows(scheme, &host, port))
    }
}

impl HostRule {
    fn parse(entry: &str) -> anyhow::Result<HostRule> {
        if entry.contains("{{") {
            bail!("templated hosts are not supported yet");
        }
        let Some((scheme, rest)) = entry.split_once("://") else {
            bail!("needs a scheme, e.g. `https://example.com`");
        };
        let scheme = match scheme {
            "*" => None,
            "http" | "https" => Some(scheme.to_string()),
            other => bail!("scheme `{other}` is not http, https or *"),
        };
        let rest = rest.trim_end_matches('/');
        if rest.contains('/') {
            bail!("must not contain a path");
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || rest.starts_with('[') => (h, Some(p)),
            _ => (rest, None),
        };
        let host = host.to_ascii_lowercase();
        let host = if host == "*" {
            HostPattern::Any
        } else if let Some(suffix) = host.strip_prefix("*.") {
            HostPattern::Subdomains(format!(".{suffix}"))
        } else if host.is_empty() || host.contains('*') {
            bail!("host `{host}` is not a name, `*` or `*.domain`");
        } else {
            HostPattern::Exact(host)
        };
        let port = match port {
            None => PortPattern::SchemeDefault,
            Some("*") => PortPattern::Any,
            Some(p) => match p.split_once("..") {
                Some((lo, hi)) => PortPattern::Range(lo.parse()?, hi.parse()?),
                None => {
                    let p: u16 = p.parse().context("port must be a number, a range or *")?;
                    PortPattern::Range(p, p)
                }
            },
        };
        Ok(HostRule { scheme, host, port })
    }

    fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        if self.scheme.as_deref().is_some_and(|s| s != scheme) {
            return false;
        }
        let host_ok = match &self.host {
            HostPattern::Any => true,
            HostPattern::Exact(h) => h == host,
            HostPattern::Subdomains(suffix) => host.ends_with(suffix.as_str()),
        };
        let default_port = if scheme == "https" { 443 } else { 80 };
        let port = port.unwrap_or(default_port);
        let port_ok = match self.port {
            PortPattern::Any => true,
            PortPattern::SchemeDefault => match &self.scheme {
                Some(_) => port == default_port,
                None => port == 80 || port == 443,
            },
            PortPattern::Range(lo, hi) => (lo..=hi).contains(&port),
        };
        host_ok && port_ok
    }
}

/// The per-instance `wasi:http` hooks: the capability check and in-process chaining.
pub struct OutboundHooks {
    pub allowed: AllowedHosts,
    pub runtime: Weak<AppRuntime>,
    pub caller: CallerContext,
}

type SendFuture = Box<
    dyn Future<
            Output = wasmtime_wasi_http::Result<(
                http::Response<WasiBody>,
                Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
            )>,
        > + Send,
>;

impl WasiHttpHooks for OutboundHooks {
    /// Lets a guest write a typical response without waiting for hyper to
    /// take each chunk (the default buffers one).
    fn p2_outgoing_body_buffer_chunks(&mut self) -> usize {
        16
    }

    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> SendFuture {
        drop(fut);
        let uri = request.uri();
        let scheme = uri.scheme().unwrap_or(&Scheme::HTTP).as_str().to_string();
        let host = uri.host().unwrap_or_default().to_ascii_lowercase();
        let port = uri.port_u16();

        if !self.allowed.allows(&scheme, &host, port) {
            tracing::warn!(
                component = %self.caller.component,
                %scheme, %host, "outbound request refused: host not in allowed_outbound_hosts"
            );
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }

        let Some(runtime) = self.runtime.upgrade() else {
            return Box::new(async { Err(HttpError::ConnectionRefused) });
        };
        let caller = self.caller.clone();
        let internal = host.strip_suffix(INTERNAL_SUFFIX).map(str::to_string);
        let destination = match &internal {
            Some(component) => format!("{component}{INTERNAL_SUFFIX}"),
            None => format!(
                "{scheme}://{host}:{}",
                port.unwrap_or(if scheme == "https" { 443 } else { 80 })
            ),
        };
        Box::new(async move {
            runtime
                .call_with_breaker(&destination, request, |request| {
                    let runtime = runtime.clone();
                    let caller = caller.clone();
                    let internal = internal.clone();
                    async move {
                        match internal {
                            // The chained call carries its own deadline (the call timeout).
                            Some(target) => {
                                let response = runtime.chain(&caller, &target, request).await?;
                                let done: Box<
                                    dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send,
                                > = Box::new(async { Ok(()) });
                                Ok((response, done))
                            }
                            None => {
                                use http_body_util::BodyExt;
                                let timeout = runtime.breakers.policy().call_timeout;
                                let sent = tokio::time::timeout(
                                    timeout,
                                    wasmtime_wasi_http::default_send_request(request, options),
                                )
                                .await
                                .map_err(|_| HttpError::ConnectionReadTimeout)?;
                                let (response, io) = sent?;
                                let io: Box<
                                    dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send,
                                > = Box::new(io);
                                Ok((response.map(BodyExt::boxed_unsync), io))
                            }
                        }
                    }
                })
                .await
        })
    }
}

type Sent = (
    http::Response<WasiBody>,
    Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
);

impl AppRuntime {
    /// Sends through `destination`'s circuit breaker: refused at once with a
    /// 503 while it is open; a failed GET, HEAD or OPTIONS is retried with
    /// jittered backoff while the retry budget lasts.
    async fn call_with_breaker<F, Fut>(
        &self,
        destination: &str,
        request: http::Request<WasiBody>,
        send: F,
    ) -> wasmtime_wasi_http::Result<Sent>
    where
        F: Fn(http::Request<WasiBody>) -> Fut,
        Fut: Future<Output = wasmtime_wasi_http::Result<Sent>>,
    {
        use crate::resilience::{Admission, backoff, counts_as_failure};
        let admission = self.breakers.admit(destination);
        if admission == Admission::Refused {
            let response = crate::problem::Failure::CircuitOpen(destination.to_string())
                .to_response(request.uri().path(), "");
            let done: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send> =
                Box::new(async { Ok(()) });
            return Ok((response, done));
        }
        let replayable = matches!(
            *request.method(),
            http::Method::GET | http::Method::HEAD | http::Method::OPTIONS
        );
        let (parts, body) = request.into_parts();
        let mut body = Some(body);
        let mut attempt = 0;
        loop {
            let body = body.take().unwrap_or_else(empty_body);
            let request = http::Request::from_parts(clone_parts(&parts), body);
            let result = send(request).await;
            let failed = match &result {
                Ok((response, _)) => counts_as_failure(response.status().as_u16()),
                Err(_) => true,
            };
            self.breakers.record(destination, admission, failed);
            attempt += 1;
            if !(failed
                && replayable
                && admission == Admission::Call
                && self.breakers.may_retry(destination, attempt))
            {
                return result;
            }
            tokio::time::sleep(backoff(attempt)).await;
            // A retry is a call of its own: the breaker may have opened meanwhile.
            if self.breakers.admit(destination) != Admission::Call {
                return result;
            }
        }
    }
}

fn empty_body() -> WasiBody {
    use http_body_util::BodyExt;
    http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}

fn clone_parts(parts: &http::request::Parts) -> http::request::Parts {
    let mut request = http::Request::builder()
        .method(parts.method.clone())
        .uri(parts.uri.clone())
        .version(parts.version)
        .body(())
        .expect("parts of a valid request");
    *request.headers_mut() = parts.headers.clone();
    request.into_parts().0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(entries: &[&str]) -> AllowedHosts {
        AllowedHosts::parse(&entries.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn exact_host_and_port() {
        let a = allowed(&["http://127.0.0.1:8080"]);
        assert!(a.allows("http", "127.0.0.1", Some(8080)));
        assert!(!a.allows("http", "127.0.0.1", Some(8081)));
        assert!(!a.allows("https", "127.0.0.1", Some(8080)));
        assert!(!a.allows("http", "127.0.0.2", Some(8080)));
    }

    #[test]
    fn default_ports_follow_the_scheme() {
        let a = allowed(&["https://example.com"]);
        assert!(a.allows("https", "example.com", None));
        assert!(a.allows("https", "EXAMPLE.com", Some(443)));
        assert!(!a.allows("https", "example.com", Some(8443)));
        assert!(!a.allows("http", "example.com", None));
    }

    #[test]
    fn wildcards() {
        let a = allowed(&["*://*.example.com:*", "http://localhost:3000..3005"]);
        assert!(a.allows("http", "api.example.com", Some(9)));
        assert!(!a.allows("http", "example.com", Some(9)));
        assert!(a.allows("http", "localhost", Some(3003)));
        assert!(!a.allows("http", "localhost", Some(3006)));
        assert!(allowed(&["http://*.spin.internal"]).allows("http", "meta.spin.internal", None));
    }

    #[test]
    fn nothing_declared_allows_nothing() {
        assert!(!AllowedHosts::default().allows("https", "example.com", None));
    }

    #[test]
    fn malformed_entries_are_rejected() {
        for bad in [
            "example.com",
            "ftp://x",
            "http://x/path",
            "http://x:port",
            "http://a*b",
        ] {
            assert!(AllowedHosts::parse(&[bad.to_string()]).is_err(), "{bad}");
        }
    }
}
