//! `folio adapters`: the host's adapters as a service, for components Spin
//! runs with the platform shim composed in (`components/spin-shim`,
//! `folio export spin`). Spin has no outbox, no expiring keys, no event log:
//! each call the shim cannot answer itself comes here as one JSON
//! `POST /v1/call` and is made on the very bindings a local instance calls,
//! against the component's own databases, stores and topics.
//!
//! - **Who calls.** The `folio-component` header names the component; its
//!   bearer token is the HMAC of that name under `FOLIO_ADAPTERS_SECRET`
//!   (`folio_adapter_protocol::component_token`), compared in constant time.
//!   A component reaches only what its manifest grants it.
//! - **Sessions.** Connections and buckets are opened by name for each call.
//!   Transactions and CAS handles live in a table per component instance,
//!   keyed by the random `folio-session` id the shim draws; an instance can
//!   name no other's handles. A session ends when its last handle is closed;
//!   Spin does not say when an instance ends (a trap closes nothing), so a
//!   session idle for [`SESSION_IDLE`] is dropped, and with it its open
//!   transactions, which roll back.
//! - **Outbox.** Committed events are relayed to the event log as `folio
//!   up` does. With `--deliver-to`, the event and cron triggers run here
//!   too, and send each event and tick to the Spin app
//!   ([`crate::remote_delivery`]).
//! - **Objects** stream over `GET`/`PUT /v1/blobs` instead of calls
//!   (`blob_streams.rs`).

mod blob_streams;
mod dispatch;

use dispatch::SessionUse;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use folio_adapter_protocol::{
    BLOBS_PATH, CALL_PATH, COMPONENT_HEADER, Call, RateRefusal, RateVerdict, Reply, SESSION_HEADER,
    component_token, tokens_match,
};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use wasmtime::component::ResourceTable;

use crate::gateway::client_address::address_key;
use crate::gateway::rate_limit::{Caller, RateLimiter};
use crate::runtime::{AppRuntime, LoadedComponent};

/// What the service answers with: a whole reply, or a download's stream.
type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// A session nobody called for this long is dropped, and its transactions
/// roll back. An instance that trapped never says it is gone, and an open
/// SQLite transaction holds the database's write lock until then: this is
/// how long other writers may wait behind it.
pub const SESSION_IDLE: Duration = Duration::from_secs(15);
/// Sessions one component may hold at once; past this, calls are refused 503.
const MAX_SESSIONS_PER_COMPONENT: usize = 10_000;
/// The largest call body: a statement and its parameters, or a value.
const MAX_CALL_BYTES: usize = 32 << 20;

pub struct AdapterService {
    runtime: Arc<AppRuntime>,
    secret: Vec<u8>,
    /// The host's rate-limit policies, for the gateways Spin runs.
    rate_limits: RateLimiter,
    /// By component, then by the session id its instance drew.
    sessions: Mutex<HashMap<String, HashMap<String, SharedSession>>>,
}

type SharedSession = Arc<tokio::sync::Mutex<Session>>;

struct Session {
    table: ResourceTable,
    /// Transactions and CAS handles open in it; at 0 the session ends.
    handles: usize,
    last_used: Instant,
}

impl AdapterService {
    pub fn new(
        runtime: Arc<AppRuntime>,
        secret: Vec<u8>,
        rate_limits: RateLimiter,
    ) -> anyhow::Result<Arc<Self>> {
        if secret.len() < 32 {
            anyhow::bail!("FOLIO_ADAPTERS_SECRET must be at least 32 bytes");
        }
        Ok(Arc::new(AdapterService {
            runtime,
            secret,
            rate_limits,
            sessions: Mutex::default(),
        }))
    }

    /// Serves calls until SIGTERM or SIGINT, dropping idle sessions as it goes.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) -> anyhow::Result<()> {
        let sweeper = tokio::spawn({
            let service = self.clone();
            async move {
                loop {
                    tokio::time::sleep(SESSION_IDLE / 15).await;
                    service.drop_idle_sessions(Instant::now());
                }
            }
        });
        let mut shutdown = std::pin::pin!(crate::server::shutdown_signal());
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let _ = stream.set_nodelay(true);
                    let service = self.clone();
                    tokio::spawn(async move {
                        let handler = hyper::service::service_fn(move |req| {
                            let service = service.clone();
                            async move { Ok::<_, std::convert::Infallible>(service.handle(req).await) }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .keep_alive(true)
                            .serve_connection(TokioIo::new(stream), handler)
                            .await;
                    });
                }
                signal = &mut shutdown => {
                    tracing::info!(signal, "adapter service stopping");
                    break;
                }
            }
        }
        sweeper.abort();
        Ok(())
    }

    async fn handle(&self, request: Request<Incoming>) -> Response<Body> {
        match (request.method().as_str(), request.uri().path()) {
            ("GET", "/_folio/health") => return text(StatusCode::OK, "ok"),
            ("GET", "/_folio/ready") => {
                let (status, content_type, body) = crate::server::readiness(&self.runtime).await;
                return Response::builder()
                    .status(status)
                    .header("content-type", content_type)
                    .body(full(body))
                    .expect("a valid response");
            }
            ("POST", CALL_PATH) | ("GET" | "PUT", BLOBS_PATH) => {}
            (_, CALL_PATH) => return text(StatusCode::METHOD_NOT_ALLOWED, "POST only"),
            (_, BLOBS_PATH) => return text(StatusCode::METHOD_NOT_ALLOWED, "GET or PUT only"),
            _ => return text(StatusCode::NOT_FOUND, "no such route"),
        }
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let (component, loaded) = match self.caller(&header) {
            Ok(caller) => caller,
            Err((status, why)) => return text(status, why),
        };
        let traceparent = header("traceparent").unwrap_or_default();
        if request.uri().path() == BLOBS_PATH {
            return match *request.method() {
                hyper::Method::GET => {
                    blob_streams::download(loaded, request.headers(), traceparent).await
                }
                _ => blob_streams::upload(loaded, request, traceparent).await,
            };
        }
        let session_id = header(SESSION_HEADER).unwrap_or_default();
        if session_id.len() != 32 || !session_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return text(
                StatusCode::BAD_REQUEST,
                "folio-session must be 32 hex digits",
            );
        }
        let body = match Limited::new(request.into_body(), MAX_CALL_BYTES)
            .collect()
            .await
        {
            Ok(body) => body.to_bytes(),
            Err(_) => return text(StatusCode::PAYLOAD_TOO_LARGE, "call too large"),
        };
        let call: Call = match serde_json::from_slice(&body) {
            Ok(call) => call,
            Err(e) => return text(StatusCode::BAD_REQUEST, &format!("not a call: {e}")),
        };
        if let Call::RateCheck {
            method,
            path,
            address,
            bearer,
        } = call
        {
            let verdict = self
                .rate_check(&component, &method, &path, &address, bearer)
                .await;
            return Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/json")
                .body(full(
                    serde_json::to_vec(&Reply::<_, ()>::Ok(verdict)).expect("verdicts serialize"),
                ))
                .expect("a valid response");
        }
        let session_use = SessionUse::of(&call);
        let outcome = if session_use == SessionUse::None {
            let mut scratch = ResourceTable::new();
            dispatch::dispatch(call, &mut scratch, &loaded.states, &traceparent).await
        } else {
            let start = session_use == SessionUse::Opens;
            let Some(session) = self.session(&component, &session_id, start) else {
                return match start {
                    true => text(StatusCode::SERVICE_UNAVAILABLE, "too many open sessions"),
                    false => text(StatusCode::BAD_REQUEST, "no such session: it went idle"),
                };
            };
            let mut held = session.lock().await;
            held.last_used = Instant::now();
            let outcome =
                dispatch::dispatch(call, &mut held.table, &loaded.states, &traceparent).await;
            held.last_used = Instant::now();
            if let Ok(reply) = &outcome {
                held.handles = held
                    .handles
                    .saturating_add_signed(session_use.handles_added(reply));
                if held.handles == 0 {
                    drop(held);
                    self.end_session(&component, &session_id);
                }
            }
            outcome
        };
        match outcome {
            Ok(reply) => Response::builder()
                .status(StatusCode::OK)
                .header("content-type", "application/json")
                .body(full(reply.to_string()))
                .expect("a valid response"),
            Err(trap) => text(StatusCode::BAD_REQUEST, &format!("{trap:#}")),
        }
    }

    /// The host's rate limits on one request Spin received for `component`,
    /// counted as `folio up`'s gateway counts them.
    async fn rate_check(
        &self,
        component: &str,
        method: &str,
        path: &str,
        address: &str,
        bearer: Option<String>,
    ) -> RateVerdict {
        let allowed = RateVerdict { refusal: None };
        let Ok(method) = http::Method::from_bytes(method.as_bytes()) else {
            return allowed;
        };
        // `spin-client-addr` is `ip:port`; without one, every such request
        // shares one count rather than escaping the limit.
        let ip = address
            .parse::<std::net::SocketAddr>()
            .map(|a| a.ip())
            .or_else(|_| address.parse::<std::net::IpAddr>())
            .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        let address = address_key(ip);
        let identity = || {
            self.runtime
                .verified_identity(component, bearer.as_deref()?)
        };
        let caller = Caller {
            address_key: &address,
            identity: &identity,
        };
        let Some(verdict) = self
            .rate_limits
            .check(component, &method, path, ip, &caller)
            .await
        else {
            return allowed;
        };
        if let Some((policy, _)) = verdict.refusal() {
            self.runtime
                .metrics
                .observe_rate_limited(component, &policy.rule.name);
        }
        RateVerdict {
            refusal: verdict
                .refusal_detail()
                .map(|(detail, retry_after_secs)| RateRefusal {
                    detail,
                    retry_after_secs,
                }),
        }
    }

    /// The calling component, from its name and token; why not otherwise.
    fn caller(
        &self,
        header: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(String, Arc<LoadedComponent>), (StatusCode, &'static str)> {
        let Some(component) = header(COMPONENT_HEADER) else {
            return Err((StatusCode::UNAUTHORIZED, "no folio-component header"));
        };
        let presented = header("authorization").unwrap_or_default();
        let expected = format!("Bearer {}", component_token(&self.secret, &component));
        if !tokens_match(&presented, &expected) {
            return Err((StatusCode::UNAUTHORIZED, "not that component's token"));
        }
        let Some(loaded) = self.runtime.components.get(&component).cloned() else {
            return Err((StatusCode::FORBIDDEN, "no such component in this app"));
        };
        Ok((component, loaded))
    }

    /// The session `id` of `component`; a new one only when `start`.
    fn session(&self, component: &str, id: &str, start: bool) -> Option<SharedSession> {
        let mut sessions = self.sessions.lock().unwrap();
        let of_component = sessions.entry(component.to_string()).or_default();
        if let Some(session) = of_component.get(id) {
            return Some(session.clone());
        }
        if !start || of_component.len() >= MAX_SESSIONS_PER_COMPONENT {
            return None;
        }
        let session = Arc::new(tokio::sync::Mutex::new(Session {
            table: ResourceTable::new(),
            handles: 0,
            last_used: Instant::now(),
        }));
        of_component.insert(id.to_string(), session.clone());
        Some(session)
    }

    fn end_session(&self, component: &str, id: &str) {
        if let Some(of_component) = self.sessions.lock().unwrap().get_mut(component) {
            of_component.remove(id);
        }
    }

    /// Drops sessions idle since before `now - SESSION_IDLE`; one in a call
    /// (its lock held) is kept.
    fn drop_idle_sessions(&self, now: Instant) {
        for of_component in self.sessions.lock().unwrap().values_mut() {
            of_component.retain(|_, session| match session.try_lock() {
                Ok(s) => now.duration_since(s.last_used) < SESSION_IDLE,
                Err(_) => true,
            });
        }
    }
}

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

fn text(status: StatusCode, body: &str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(full(body.to_string()))
        .expect("a valid response")
}
