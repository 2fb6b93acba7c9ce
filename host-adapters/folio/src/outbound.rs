//! Outbound HTTP from guests: only to `allowed_outbound_hosts`, and
//! `http://NAME.spin.internal/...` (service chaining) served in-process;
//! anything else only to public addresses (or `[outbound] allow_private`),
//! connected to the very address that was checked (SSRF protection).

use std::future::poll_fn;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::{Pin, pin};
use std::sync::{Arc, OnceLock, Weak};
use std::task::{Context as TaskContext, Poll, ready};
use std::time::Duration;

use anyhow::{Context, bail};
use http::uri::Scheme;
use ipnet::IpNet;
use tokio::net::TcpStream;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use crate::resilience::OutboundPolicy;
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
                                let policy = runtime.breakers.policy();
                                tokio::time::timeout(
                                    policy.call_timeout,
                                    send_pinned(request, options, policy, &caller.component),
                                )
                                .await
                                .map_err(|_| HttpError::ConnectionReadTimeout)?
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

/// Sends `request` over the network, only to an address of its host that is
/// public or in `[outbound] allow_private`: the host is resolved once and the
/// connection made to the checked address itself, so a second DNS answer
/// cannot swap in another (DNS rebinding). TLS is verified against the host
/// name; redirects come back to the guest as they are (never followed).
async fn send_pinned(
    request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
    policy: &OutboundPolicy,
    component: &str,
) -> wasmtime_wasi_http::Result<Sent> {
    let uri = request.uri();
    let use_tls = uri.scheme() == Some(&Scheme::HTTPS);
    let host = uri
        .host()
        .ok_or(HttpError::HttpRequestUriInvalid)?
        .to_ascii_lowercase();
    let port = uri.port_u16().unwrap_or(if use_tls { 443 } else { 80 });
    let connect_timeout = options
        .and_then(|o| o.connect_timeout)
        .unwrap_or(policy.call_timeout);

    let resolved = resolve(&host, port, connect_timeout).await?;
    let (allowed, refused): (Vec<SocketAddr>, Vec<SocketAddr>) = resolved
        .into_iter()
        .partition(|a| destination_allowed(a.ip(), &policy.allow_private));
    if allowed.is_empty() {
        let refused: Vec<String> = refused.iter().map(|a| a.ip().to_string()).collect();
        tracing::warn!(
            component, %host, refused = %refused.join(", "),
            "outbound request refused: the destination address is not public (see [outbound] allow_private)"
        );
        return Err(HttpError::DestinationIpProhibited);
    }

    let stream = connect(&allowed, connect_timeout).await?;
    if use_tls {
        let name = tls_server_name(&host)?;
        let stream = tokio::time::timeout(connect_timeout, tls_connector().connect(name, stream))
            .await
            .map_err(|_| HttpError::ConnectionTimeout)?
            .map_err(HttpError::Tls)?;
        exchange(stream, request, options, connect_timeout).await
    } else {
        exchange(stream, request, options, connect_timeout).await
    }
}

/// The addresses of `host` (an IP literal as it is, a name through DNS).
async fn resolve(
    host: &str,
    port: u16,
    timeout: Duration,
) -> wasmtime_wasi_http::Result<Vec<SocketAddr>> {
    if let Some(ip) = ip_literal(host) {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let dns_error = || HttpError::DnsError {
        rcode: Some("address not available".to_string()),
        info_code: None,
    };
    let found = tokio::time::timeout(timeout, tokio::net::lookup_host((host, port)))
        .await
        .map_err(|_| HttpError::DnsTimeout)?
        .map_err(|e| {
            tracing::debug!(%host, error = %e, "outbound request: DNS lookup failed");
            dns_error()
        })?;
    let mut addresses: Vec<SocketAddr> = Vec::new();
    for address in found {
        if !addresses.contains(&address) {
            addresses.push(address);
        }
    }
    if addresses.is_empty() {
        return Err(dns_error());
    }
    Ok(addresses)
}

/// `host` as a URI gives it, when it is an address (`[::1]` has brackets).
fn ip_literal(host: &str) -> Option<IpAddr> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse().ok()
}

/// Connects to the first of `addresses` that answers, each given `timeout`.
async fn connect(
    addresses: &[SocketAddr],
    timeout: Duration,
) -> wasmtime_wasi_http::Result<TcpStream> {
    let mut failure = HttpError::ConnectionRefused;
    for address in addresses {
        match tokio::time::timeout(timeout, TcpStream::connect(address)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Ok(Err(e)) => failure = HttpError::Connect(e),
            Err(_) => failure = HttpError::ConnectionTimeout,
        }
    }
    Err(failure)
}

pub(crate) fn tls_server_name(
    host: &str,
) -> wasmtime_wasi_http::Result<tokio_rustls::rustls::pki_types::ServerName<'static>> {
    use tokio_rustls::rustls::pki_types::ServerName;
    match ip_literal(host) {
        Some(ip) => Ok(ServerName::from(ip)),
        None => Ok(ServerName::try_from(host.to_string())?),
    }
}

/// TLS with the webpki roots (as `default_send_request` has), made once.
pub(crate) fn tls_connector() -> tokio_rustls::TlsConnector {
    use tokio_rustls::rustls;
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    let config = CONFIG.get_or_init(|| {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.into(),
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the default TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Arc::new(config)
    });
    tokio_rustls::TlsConnector::from(config.clone())
}

/// One HTTP/1.1 exchange on `stream`, as `wasmtime_wasi_http::default_send_request`
/// makes it: the request options' first-byte and between-bytes timeouts, and
/// the connection's own task as the second half of the answer.
async fn exchange<S>(
    stream: S,
    mut request: http::Request<WasiBody>,
    options: Option<RequestOptions>,
    handshake_timeout: Duration,
) -> wasmtime_wasi_http::Result<Sent>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    use http_body_util::BodyExt;
    const UNSET: Duration = Duration::from_secs(600);
    let first_byte_timeout = options.and_then(|o| o.first_byte_timeout).unwrap_or(UNSET);
    // Tokio panics on a zero interval; 1 ns is as good as zero.
    let between_bytes_timeout = options
        .and_then(|o| o.between_bytes_timeout)
        .unwrap_or(UNSET)
        .max(Duration::from_nanos(1));

    let (mut sender, conn) = tokio::time::timeout(
        handshake_timeout,
        hyper::client::conn::http1::handshake::<_, WasiBody>(hyper_util::rt::TokioIo::new(stream)),
    )
    .await
    .map_err(|_| HttpError::ConnectionTimeout)??;

    // The request line has the path only (the authority is in `Host`).
    *request.uri_mut() = http::Uri::builder()
        .path_and_query(
            request
                .uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/"),
        )
        .build()
        .expect("comes from a valid request");

    let send = async move {
        let response = tokio::time::timeout(first_byte_timeout, sender.send_request(request))
            .await
            .map_err(|_| HttpError::ConnectionReadTimeout)??;
        let mut timeout = tokio::time::interval(between_bytes_timeout);
        timeout.reset();
        Ok::<_, HttpError>(response.map(|incoming| IncomingBody { incoming, timeout }))
    };
    let mut send = pin!(send);
    let mut conn = Some(conn);
    // Wait for the response while driving the connection's I/O.
    let response = poll_fn(|cx| match send.as_mut().poll(cx) {
        Poll::Ready(result) => Poll::Ready(result),
        Poll::Pending => {
            let Some(fut) = conn.as_mut() else {
                return Poll::Pending;
            };
            let result = ready!(Pin::new(fut).poll(cx));
            conn = None;
            match result {
                Ok(()) => send.as_mut().poll(cx),
                Err(e) => Poll::Ready(Err(HttpError::from(e))),
            }
        }
    })
    .await?;
    let io: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send> =
        Box::new(async move {
            let Some(conn) = conn else { return Ok(()) };
            conn.await.map_err(|e| {
                if e.is_timeout() {
                    HttpError::HttpResponseTimeout
                } else {
                    HttpError::from(e)
                }
            })
        });
    Ok((response.map(BodyExt::boxed_unsync), io))
}

/// A response body that fails when `timeout` passes between two frames.
struct IncomingBody {
    incoming: hyper::body::Incoming,
    timeout: tokio::time::Interval,
}

impl http_body::Body for IncomingBody {
    type Data = bytes::Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<http_body::Frame<bytes::Bytes>, HttpError>>> {
        match Pin::new(&mut self.incoming).poll_frame(cx) {
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(if e.is_timeout() {
                HttpError::HttpResponseTimeout
            } else {
                HttpError::from(e)
            }))),
            Poll::Ready(Some(Ok(frame))) => {
                self.timeout.reset();
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => {
                ready!(self.timeout.poll_tick(cx));
                Poll::Ready(Some(Err(HttpError::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.incoming.size_hint()
    }
}

/// Whether an outbound request may connect to `ip`: a public address, or
/// one in the `[outbound] allow_private` networks.
pub fn destination_allowed(ip: IpAddr, allow_private: &[IpNet]) -> bool {
    if is_public(ip) {
        return true;
    }
    let embedded = match ip {
        IpAddr::V6(v6) => embedded_ipv4(v6).map(IpAddr::V4),
        IpAddr::V4(_) => None,
    };
    allow_private
        .iter()
        .any(|net| net.contains(&ip) || embedded.is_some_and(|v4| net.contains(&v4)))
}

/// IPv4 networks that are not the public internet (loopback, private,
/// link-local, CGNAT, documentation, benchmarking, multicast, reserved…).
const NON_PUBLIC_V4: [([u8; 4], u32); 14] = [
    ([0, 0, 0, 0], 8),       // "this network", unspecified
    ([10, 0, 0, 0], 8),      // private
    ([100, 64, 0, 0], 10),   // CGNAT (shared address space)
    ([127, 0, 0, 0], 8),     // loopback
    ([169, 254, 0, 0], 16),  // link-local (cloud metadata services)
    ([172, 16, 0, 0], 12),   // private
    ([192, 0, 0, 0], 24),    // IETF protocol assignments
    ([192, 0, 2, 0], 24),    // documentation (TEST-NET-1)
    ([192, 168, 0, 0], 16),  // private
    ([198, 18, 0, 0], 15),   // benchmarking
    ([198, 51, 100, 0], 24), // documentation (TEST-NET-2)
    ([203, 0, 113, 0], 24),  // documentation (TEST-NET-3)
    ([224, 0, 0, 0], 4),     // multicast
    ([240, 0, 0, 0], 4),     // reserved, and broadcast 255.255.255.255
];

/// IPv6 networks that are not the public internet (addresses embedding an
/// IPv4 one are judged by that, see [`embedded_ipv4`]).
const NON_PUBLIC_V6: [(u128, u32); 7] = [
    (0, 128),                               // ::, unspecified
    (1, 128),                               // ::1, loopback
    (0xfe80 << 112, 10),                    // link-local
    (0xfec0 << 112, 10),                    // site-local (deprecated)
    (0xfc00 << 112, 7),                     // unique local
    (0xff00 << 112, 8),                     // multicast
    ((0x2001 << 112) | (0x0db8 << 96), 32), // documentation
];

/// Whether `ip` is a public internet address (see [`NON_PUBLIC_V4`] and [`NON_PUBLIC_V6`]).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match embedded_ipv4(v6) {
            Some(v4) => is_public_v4(v4),
            None => {
                let bits = u128::from(v6);
                !NON_PUBLIC_V6
                    .iter()
                    .any(|&(net, len)| bits & prefix_mask_128(len) == net)
            }
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let bits = u32::from(ip);
    !NON_PUBLIC_V4
        .iter()
        .any(|&(net, len)| bits & prefix_mask_32(len) == u32::from_be_bytes(net))
}

/// The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible
/// (`::a.b.c.d`) or NAT64 (`64:ff9b::a.b.c.d`) IPv6 address: connecting to
/// one reaches that IPv4 address.
fn embedded_ipv4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(ip);
    let high = bits >> 32;
    // `::` and `::1` are IPv6's own unspecified and loopback addresses.
    let compatible = high == 0 && bits > 1;
    let mapped = high == 0xffff;
    let nat64 = high == 0x0064_ff9b << 64;
    (compatible || mapped || nat64).then(|| Ipv4Addr::from(bits as u32))
}

fn prefix_mask_32(len: u32) -> u32 {
    u32::MAX.checked_shl(32 - len).unwrap_or(0)
}

fn prefix_mask_128(len: u32) -> u128 {
    u128::MAX.checked_shl(128 - len).unwrap_or(0)
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

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn non_public_addresses_are_recognised() {
        for text in [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "10.255.255.255",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "127.255.0.9",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.10",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.99",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "2001:db8::1",
            "2001:db8:ffff::1",
            // IPv4 inside IPv6: judged by the IPv4 address.
            "::ffff:127.0.0.1",
            "::ffff:10.1.2.3",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "::0.0.0.2",
            "64:ff9b::10.0.0.1",
            "64:ff9b::7f00:1",
        ] {
            assert!(!is_public(ip(text)), "{text} must not count as public");
        }
    }

    #[test]
    fn public_addresses_are_recognised() {
        for text in [
            "1.1.1.1",
            "8.8.8.8",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.1",
            "169.253.255.255",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.1",
            "192.0.3.1",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "198.51.101.1",
            "203.0.112.1",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "2001:db9::1",
            "fe7f::1",
            "fbff::1",
            "::ffff:8.8.8.8",
            "64:ff9b::8.8.8.8",
            "::8.8.8.8",
        ] {
            assert!(is_public(ip(text)), "{text} must count as public");
        }
    }

    #[test]
    fn allow_private_lets_listed_networks_through() {
        let nets: Vec<IpNet> = ["127.0.0.0/8", "::1/128", "10.1.0.0/16"]
            .iter()
            .map(|n| n.parse().unwrap())
            .collect();
        for text in [
            "127.0.0.1",
            "127.9.9.9",
            "::1",
            "10.1.200.3",
            "::ffff:127.0.0.1",
            "64:ff9b::a01:203",
            "8.8.8.8",
        ] {
            assert!(destination_allowed(ip(text), &nets), "{text}");
        }
        for text in [
            "10.2.0.1",
            "192.168.0.1",
            "169.254.169.254",
            "::ffff:169.254.169.254",
            "fe80::1",
            "0.0.0.0",
        ] {
            assert!(!destination_allowed(ip(text), &nets), "{text}");
        }
        assert!(!destination_allowed(ip("127.0.0.1"), &[]));
        assert!(destination_allowed(ip("1.1.1.1"), &[]));
    }

    #[test]
    fn ip_literals_in_uris() {
        assert_eq!(ip_literal("[::1]"), Some(ip("::1")));
        assert_eq!(ip_literal("127.0.0.1"), Some(ip("127.0.0.1")));
        assert_eq!(ip_literal("localhost"), None);
        assert_eq!(ip_literal("example.com"), None);
    }

    #[tokio::test]
    async fn names_resolve_and_literals_do_not() {
        let found = resolve("localhost", 8080, Duration::from_secs(5))
            .await
            .unwrap();
        assert!(!found.is_empty());
        assert!(
            found
                .iter()
                .all(|a| a.port() == 8080 && a.ip().is_loopback())
        );
        assert!(found.iter().all(|a| !destination_allowed(a.ip(), &[])));
        let found = resolve("[::1]", 1, Duration::from_secs(5)).await.unwrap();
        assert_eq!(found, [SocketAddr::new(ip("::1"), 1)]);
        let missing = resolve("no-such-host.invalid", 80, Duration::from_secs(5)).await;
        assert!(
            matches!(
                missing,
                Err(HttpError::DnsError { .. } | HttpError::DnsTimeout)
            ),
            "{missing:?}"
        );
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
