//! The HTTP front: accepts connections, answers `/_folio/*`, routes the rest
//! to components, and drains in-flight requests on SIGTERM/SIGINT.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::config::EndpointAccess;
use crate::gateway::rate_limit::Caller;
use crate::gateway::{HttpPolicy, Preflight, address_key, browser};
use crate::http_trigger::Invocation;
use crate::problem::{Failure, full_body};
use crate::releases::{Release, Releases};
use crate::runtime::{AppRuntime, CallerContext};
use crate::telemetry::{Attribute, SpanKind};
use crate::trace::{TraceContext, random_hex};

/// How long in-flight requests may run after a shutdown signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Server {
    releases: Arc<Releases>,
    draining: AtomicBool,
    metrics_access: EndpointAccess,
    releases_access: EndpointAccess,
    http: HttpPolicy,
}

impl Server {
    pub fn new(
        releases: Arc<Releases>,
        metrics_access: EndpointAccess,
        releases_access: EndpointAccess,
        http: HttpPolicy,
    ) -> Arc<Server> {
        Arc::new(Server {
            releases,
            draining: AtomicBool::new(false),
            metrics_access,
            releases_access,
            http,
        })
    }

    pub async fn serve(self: Arc<Self>, listener: TcpListener) -> anyhow::Result<()> {
        let graceful = GracefulShutdown::new();
        let mut shutdown = std::pin::pin!(shutdown_signal());
        let connections = Arc::new(tokio::sync::Semaphore::new(self.http.max_connections));
        loop {
            // At the connection cap, new connections wait in the listen backlog.
            let slot = tokio::select! {
                slot = connections.clone().acquire_owned() => slot.expect("never closed"),
                signal = &mut shutdown => {
                    tracing::info!(signal, "shutting down: no new connections, draining in-flight requests");
                    break;
                }
            };
            tokio::select! {
                accepted = listener.accept() => {
                    let (stream, client) = match accepted {
                        Ok(conn) => conn,
                        Err(e) => {
                            tracing::warn!("accept failed: {e}");
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    let (stream, idle) = crate::gateway::idle::IdleWatch::new(stream);
                    let server = self.clone();
                    let in_flight = idle.clone();
                    let service = hyper::service::service_fn(move |req| {
                        let server = server.clone();
                        let busy = in_flight.request_started();
                        async move {
                            let response = server.handle(req, client).await;
                            drop(busy);
                            Ok::<_, std::convert::Infallible>(response)
                        }
                    });
                    let conn = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .timer(hyper_util::rt::TokioTimer::new())
                        .header_read_timeout(self.http.header_read_timeout)
                        .serve_connection(TokioIo::new(stream), service);
                    let conn = graceful.watch(conn);
                    let idle_timeout = self.http.idle_timeout;
                    tokio::spawn(async move {
                        let _slot = slot;
                        tokio::select! {
                            ended = conn => {
                                if let Err(e) = ended {
                                    tracing::debug!("connection from {client} ended: {e}");
                                }
                            }
                            () = idle.expired(idle_timeout) => {
                                tracing::debug!("connection from {client} closed: idle for {idle_timeout:?}");
                            }
                        }
                    });
                }
                signal = &mut shutdown => {
                    tracing::info!(signal, "shutting down: no new connections, draining in-flight requests");
                    break;
                }
            }
        }
        self.draining.store(true, Ordering::SeqCst);
        drop(listener);
        match tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await {
            Ok(()) => tracing::info!("drained; bye"),
            Err(_) => tracing::warn!("drain timed out after {DRAIN_TIMEOUT:?}; closing"),
        }
        Ok(())
    }

    /// Every response leaves with the security headers, and the CORS
    /// headers when the request came from an allowed origin.
    async fn handle(
        &self,
        request: Request<Incoming>,
        peer: SocketAddr,
    ) -> Response<HyperOutgoingBody> {
        let origin = request.headers().get(http::header::ORIGIN).cloned();
        let mut response = self.answer(request, peer).await;
        let headers = response.headers_mut();
        if let Some(cors) = &self.http.cors {
            cors.decorate(origin.as_ref(), headers);
        }
        browser::add_security_headers(headers, self.http.hsts.as_ref());
        response
    }

    async fn answer(
        &self,
        request: Request<Incoming>,
        peer: SocketAddr,
    ) -> Response<HyperOutgoingBody> {
        let started = Instant::now();
        let client = self
            .http
            .trusted_proxies
            .client_address(peer, request.headers());
        let request_id = request_id(request.headers());
        let trace = TraceContext::from_header(
            request
                .headers()
                .get("traceparent")
                .and_then(|v| v.to_str().ok()),
        );
        let path = request.uri().path().to_string();
        let method = request.method().clone();

        if path.starts_with("/_folio/")
            && let Some(response) = self.platform_endpoint(&path, &request, peer).await
        {
            return response;
        }
        if path
            .strip_prefix(crate::release_api::ROUTE)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        {
            return crate::release_api::serve(
                &self.releases,
                &self.releases_access,
                request,
                peer,
                &request_id,
            )
            .await;
        }
        let release = self.releases.pick(request.headers());
        let runtime = &release.runtime;
        if path.starts_with(folio_blobs::presign::ROUTE_PREFIX) {
            let mut response = crate::blob_urls::serve(runtime, request, &request_id).await;
            tracing::info!(
                requestId = %request_id, traceId = %trace.trace_id, spanId = %trace.span_id,
                method = %method, path = %path, route = "/_folio/blobs/...",
                status = response.status().as_u16(),
                durationMs = started.elapsed().as_secs_f64() * 1000.0,
                "presigned blob request"
            );
            if let Ok(v) = http::HeaderValue::from_str(&request_id) {
                response.headers_mut().insert("x-request-id", v);
            }
            return response;
        }

        let mut rate_limit_headers = None;
        let (component, route_label, result) = match runtime.route(&path) {
            None => (String::new(), String::new(), Err(Failure::NotFound)),
            Some(_) if self.draining.load(Ordering::SeqCst) => {
                (String::new(), String::new(), Err(Failure::ShuttingDown))
            }
            Some((component, route)) => {
                let route_label = route.raw_route.clone();
                let gate = match self
                    .http
                    .cors
                    .as_ref()
                    .map(|c| c.preflight(&method, request.headers()))
                {
                    Some(Preflight::Allowed(headers)) => {
                        let mut response = Response::builder()
                            .status(StatusCode::NO_CONTENT)
                            .body(full_body(Bytes::new()))
                            .expect("static response parts are valid");
                        response.headers_mut().extend(headers);
                        return response;
                    }
                    Some(Preflight::Refused(why)) => Err(Failure::CorsRefused(why)),
                    Some(Preflight::NotOne) | None => {
                        let (headers, refusal) = self
                            .check_rate_limits(
                                &release,
                                &component,
                                &method,
                                &path,
                                client,
                                request.headers(),
                            )
                            .await;
                        rate_limit_headers = headers;
                        refusal.map_or(Ok(()), Err)
                    }
                };
                let result = match gate {
                    Err(refusal) => Err(refusal),
                    Ok(()) => {
                        let inv = Invocation {
                            component: component.clone(),
                            route,
                            full_url: full_url(&request),
                            caller: CallerContext::new(
                                &component,
                                &request_id,
                                trace.clone(),
                                &client.to_string(),
                            ),
                            calling_component: None,
                        };
                        runtime.dispatch(inv, request).await
                    }
                };
                (component, route_label, result)
            }
        };

        let elapsed = started.elapsed();
        let mut response = match result {
            Ok(response) => {
                let response = crate::body::coalesce(response).await;
                tracing::info!(
                    requestId = %request_id,
                    traceId = %trace.trace_id,
                    spanId = %trace.span_id,
                    method = %method,
                    path = %path,
                    route = %route_label,
                    component = %component,
                    status = response.status().as_u16(),
                    durationMs = elapsed.as_secs_f64() * 1000.0,
                    "request handled"
                );
                response
            }
            Err(failure) => {
                let status = failure.status().as_u16();
                let detail = failure.log_detail();
                if failure.status().is_server_error() {
                    tracing::error!(
                        requestId = %request_id, traceId = %trace.trace_id, spanId = %trace.span_id,
                        method = %method, path = %path, route = %route_label, component = %component,
                        status, kind = failure.kind(), error = %detail,
                        durationMs = elapsed.as_secs_f64() * 1000.0,
                        "request failed"
                    );
                } else {
                    tracing::info!(
                        requestId = %request_id, traceId = %trace.trace_id, spanId = %trace.span_id,
                        method = %method, path = %path, route = %route_label, component = %component,
                        status, kind = failure.kind(), error = %detail,
                        durationMs = elapsed.as_secs_f64() * 1000.0,
                        "request refused"
                    );
                }
                runtime
                    .metrics
                    .observe_error(&route_label, &component, failure.kind());
                failure.to_response(&path, &request_id)
            }
        };
        runtime.metrics.observe_request(
            &route_label,
            &component,
            method.as_str(),
            response.status().as_u16(),
            elapsed,
        );
        let status = response.status();
        crate::telemetry::finished(
            &trace,
            || {
                format!(
                    "{method} {}",
                    if route_label.is_empty() {
                        "(no route)"
                    } else {
                        &route_label
                    }
                )
            },
            SpanKind::Server,
            elapsed,
            || {
                let mut attributes = crate::telemetry::http_attributes(
                    &method,
                    &path,
                    &route_label,
                    status.as_u16(),
                    &component,
                );
                attributes.push(("folio.request_id", Attribute::Text(request_id.clone())));
                attributes
            },
            status
                .is_server_error()
                .then(|| format!("status {}", status.as_u16())),
        );
        let headers = response.headers_mut();
        if let Some((policy, current)) = rate_limit_headers {
            headers.insert("ratelimit-policy", policy);
            headers.insert("ratelimit", current);
        }
        if let Ok(v) = http::HeaderValue::from_str(&request_id) {
            headers.insert("x-request-id", v);
        }
        headers.insert(crate::releases::RELEASE_HEADER, release.id.into());
        if let Ok(v) = http::HeaderValue::from_str(&trace.traceparent()) {
            headers.insert("traceparent", v);
        }
        response
    }

    /// Counts the request against its component's rate-limit policies:
    /// the `RateLimit-Policy` and `RateLimit` headers to answer with, and
    /// the refusal when a policy is exhausted.
    async fn check_rate_limits(
        &self,
        release: &Release,
        component: &str,
        method: &http::Method,
        path: &str,
        client: SocketAddr,
        headers: &http::HeaderMap,
    ) -> (
        Option<(http::HeaderValue, http::HeaderValue)>,
        Option<Failure>,
    ) {
        if release.rate_limits.is_empty() {
            return (None, None);
        }
        let address = address_key(client.ip());
        let identity = || {
            let token = headers
                .get(http::header::AUTHORIZATION)?
                .to_str()
                .ok()?
                .strip_prefix("Bearer ")?;
            release.runtime.verified_identity(component, token.trim())
        };
        let caller = Caller {
            address_key: &address,
            identity: &identity,
        };
        let Some(verdict) = release
            .rate_limits
            .check(component, method, path, client.ip(), &caller)
            .await
        else {
            return (None, None);
        };
        let headers = verdict.headers().and_then(|(policy, current)| {
            Some((
                http::HeaderValue::from_str(&policy).ok()?,
                http::HeaderValue::from_str(&current).ok()?,
            ))
        });
        let refusal = verdict.refusal_detail().map(|(detail, retry_after_secs)| {
            if let Some((policy, _)) = verdict.refusal() {
                release
                    .runtime
                    .metrics
                    .observe_rate_limited(component, &policy.rule.name);
            }
            Failure::RateLimited {
                detail,
                retry_after_secs,
            }
        });
        (headers, refusal)
    }

    async fn platform_endpoint(
        &self,
        path: &str,
        request: &Request<Incoming>,
        client: SocketAddr,
    ) -> Option<Response<HyperOutgoingBody>> {
        let (status, content_type, body) = match path {
            "/_folio/health" => (
                StatusCode::OK,
                "application/json",
                r#"{"status":"ok"}"#.to_string(),
            ),
            "/_folio/ready" if self.draining.load(Ordering::SeqCst) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "application/json",
                r#"{"status":"draining"}"#.to_string(),
            ),
            "/_folio/ready" => self.readiness().await,
            "/_folio/metrics" => match self.metrics_access.allows(request.headers(), client) {
                Ok(()) => (
                    StatusCode::OK,
                    "text/plain; version=0.0.4",
                    self.releases.live().runtime.metrics.render(),
                ),
                Err(status) => (
                    status,
                    "application/problem+json",
                    serde_json::json!({
                        "type": "urn:folio:problem:metrics-restricted",
                        "title": "Metrics are restricted by the runtime config ([metrics])",
                        "status": status.as_u16(),
                    })
                    .to_string(),
                ),
            },
            _ => return None,
        };
        let mut response = Response::builder()
            .status(status)
            .header(http::header::CONTENT_TYPE, content_type);
        if status == StatusCode::UNAUTHORIZED {
            response = response.header(http::header::WWW_AUTHENTICATE, "Bearer");
        }
        Some(
            response
                .body(full_body(Bytes::from(body)))
                .expect("static response parts are valid"),
        )
    }

    async fn readiness(&self) -> (StatusCode, &'static str, String) {
        readiness(&self.releases.live().runtime).await
    }
}

/// Ready when every capability's backends answer; otherwise 503 naming
/// each one that does not (`folio up` and `folio adapters` alike).
pub(crate) async fn readiness(runtime: &AppRuntime) -> (StatusCode, &'static str, String) {
    let failing: serde_json::Map<String, serde_json::Value> = runtime
        .check_ready()
        .await
        .into_iter()
        .filter_map(|(name, result)| Some((name.to_string(), result.err()?.into())))
        .collect();
    if failing.is_empty() {
        return (
            StatusCode::OK,
            "application/json",
            r#"{"status":"ready"}"#.to_string(),
        );
    }
    tracing::warn!(failing = %serde_json::Value::Object(failing.clone()), "not ready: a backend does not answer");
    let body = serde_json::json!({ "status": "unavailable", "failing": failing });
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "application/json",
        body.to_string(),
    )
}

/// The incoming `x-request-id` when it is a sane token, else a new one.
fn request_id(headers: &http::HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 128
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        })
        .map(str::to_string)
        .unwrap_or_else(|| random_hex(16))
}

fn full_url<B>(request: &Request<B>) -> String {
    let host = request
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let path_and_query = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    format!("http://{host}{path_and_query}")
}

pub(crate) async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}
