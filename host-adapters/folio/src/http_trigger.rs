//! `[[trigger.http]]`: routes, and one request → one fresh instance of the
//! component that owns the route, through the executor. Service chaining
//! (`http://NAME.spin.internal/...`) comes in here too, as a chained call.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::Context;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response};
use http_body::Body;
use tokio::sync::oneshot;
use wasmtime::Store;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};
use wasmtime_wasi_http::p2::bindings::{Proxy, ProxyPre};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiBody, WasiHttpView};

use crate::body::CappedBody;
use crate::executor::{Admission, GuestCall};
use crate::manifest::App;
use crate::problem::Failure;
use crate::routing::{RouteMatch, RoutePattern, Router};
use crate::runtime::{AppRuntime, CallerContext, HostState, LoadedComponent};
use crate::telemetry::{Attribute, SpanKind};

/// Service chaining deeper than this is treated as a loop.
const MAX_CHAIN_DEPTH: u32 = 8;

/// One request to one component.
pub struct Invocation {
    pub component: String,
    pub route: RouteMatch,
    pub full_url: String,
    pub caller: CallerContext,
    /// For a chained call, the component that made it: sent as
    /// [`CALLING_COMPONENT_HEADER`], which no outside request can set.
    pub calling_component: Option<String>,
}

/// Names the component behind a chained request. The host removes it from
/// every request and sets it only on chained ones, so a component can grant
/// a route to named peers (the content service's index feed to search).
pub const CALLING_COMPONENT_HEADER: &str = "folio-calling-component";

pub(crate) struct HttpTrigger {
    router: Router<String>,
    /// Routes of each component, for chained calls that arrive by component id.
    component_routes: HashMap<String, Vec<RoutePattern>>,
    /// Every component that exports `wasi:http/incoming-handler`: the ones
    /// routes name, and any other one, for service chaining.
    handlers: HashMap<String, ProxyPre<HostState>>,
}

impl HttpTrigger {
    pub(crate) fn new(
        app: &App,
        components: &HashMap<String, Arc<LoadedComponent>>,
    ) -> anyhow::Result<HttpTrigger> {
        let mut routes = Vec::new();
        let mut component_routes: HashMap<String, Vec<_>> = HashMap::new();
        for trigger in &app.http_triggers {
            if let Some(route) = &trigger.route {
                routes.push((route.clone(), trigger.component.clone()));
                component_routes
                    .entry(trigger.component.clone())
                    .or_default()
                    .push(route.clone());
            }
        }
        let mut handlers = HashMap::new();
        for (id, component) in components {
            match ProxyPre::new(component.instance_pre.clone()) {
                Ok(pre) => {
                    handlers.insert(id.clone(), pre);
                }
                Err(e) if app.serves_http(id) => {
                    return Err(anyhow::Error::from(e)).with_context(|| {
                        format!(
                            "component `{id}`: a [[trigger.http]] names it, but it does not export wasi:http/incoming-handler"
                        )
                    });
                }
                Err(_) => {}
            }
        }
        Ok(HttpTrigger {
            router: Router::new(routes),
            component_routes,
            handlers,
        })
    }
}

/// `wasi:http/incoming-handler.handle`, answering through `response`.
struct HandleRequest<B> {
    pre: ProxyPre<HostState>,
    request: Request<CappedBody<B>>,
    response: oneshot::Sender<Result<Response<HyperOutgoingBody>, ErrorCode>>,
}

impl<B> GuestCall for HandleRequest<B>
where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<wasmtime_wasi_http::Error>,
{
    type Instance = Proxy;
    type Output = ();

    async fn instantiate(&mut self, store: &mut Store<HostState>) -> wasmtime::Result<Proxy> {
        self.pre.instantiate_async(store).await
    }

    async fn call(self, proxy: Proxy, store: &mut Store<HostState>) -> wasmtime::Result<()> {
        let incoming = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, self.request)?;
        let outparam = store
            .data_mut()
            .http()
            .new_response_outparam(self.response)?;
        proxy
            .wasi_http_incoming_handler()
            .call_handle(store, incoming, outparam)
            .await
    }
}

impl AppRuntime {
    pub fn route(&self, path: &str) -> Option<(String, RouteMatch)> {
        self.http.router.route(path)
    }

    /// Runs one request in a fresh instance of `inv.component`.
    pub async fn dispatch<B>(
        &self,
        inv: Invocation,
        request: Request<B>,
    ) -> Result<Response<HyperOutgoingBody>, Failure>
    where
        B: Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        self.dispatch_within(inv, request, self.limits.request_timeout)
            .await
    }

    /// [`dispatch`](Self::dispatch) with its own deadline.
    async fn dispatch_within<B>(
        &self,
        inv: Invocation,
        request: Request<B>,
        deadline: std::time::Duration,
    ) -> Result<Response<HyperOutgoingBody>, Failure>
    where
        B: Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let pre = self
            .http
            .handlers
            .get(&inv.component)
            .cloned()
            .ok_or_else(|| {
                Failure::Internal(format!(
                    "component `{}` does not handle HTTP requests",
                    inv.component
                ))
            })?;
        let body_too_large = Arc::new(AtomicBool::new(false));
        let request = self.prepare_request(&inv, request, body_too_large.clone())?;
        let admission = match inv.caller.chain_depth {
            0 => Admission::Request,
            _ => Admission::Chained,
        };
        let (sender, receiver) = oneshot::channel();
        let call = HandleRequest {
            pre,
            request,
            response: sender,
        };
        let instance = self
            .start_instance(&inv.component, inv.caller, admission, deadline, call)
            .await?;

        let failure = match tokio::time::timeout(deadline, receiver).await {
            // A guest that hit the body cap answers whatever its SDK makes of a
            // stream error; the client should learn what really happened.
            Ok(Ok(Ok(_))) if body_too_large.load(Ordering::Relaxed) => {
                return Err(Failure::BodyTooLarge(self.limits.max_body_bytes));
            }
            Ok(Ok(Ok(response))) => return Ok(response),
            Ok(Ok(Err(code))) => Failure::GuestError(format!("{code:?}")),
            Ok(Err(_sender_dropped)) => match instance.finish().await {
                Ok(()) => Failure::NoResponse,
                Err(failure) => failure,
            },
            Err(_elapsed) => {
                instance.abort();
                Failure::Timeout
            }
        };
        if body_too_large.load(Ordering::Relaxed) {
            return Err(Failure::BodyTooLarge(self.limits.max_body_bytes));
        }
        Err(failure)
    }

    /// Adds Spin's request headers, the trace context and the body cap.
    fn prepare_request<B>(
        &self,
        inv: &Invocation,
        request: Request<B>,
        body_too_large: Arc<AtomicBool>,
    ) -> Result<Request<CappedBody<B>>, Failure>
    where
        B: Body<Data = Bytes> + Send + Unpin + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let (mut parts, body) = request.into_parts();
        if let Some(len) = crate::body::content_length(&parts.headers)
            && len > self.limits.max_body_bytes
        {
            return Err(Failure::BodyTooLarge(self.limits.max_body_bytes));
        }
        let h = &mut parts.headers;
        let route = &inv.route;
        set(h, "spin-full-url", &inv.full_url);
        set(h, "spin-path-info", &route.path_info);
        set(h, "spin-matched-route", &route.raw_route);
        set(h, "spin-raw-component-route", &route.raw_route);
        set(h, "spin-component-route", &route.component_route);
        set(h, "spin-base-path", "/");
        set(h, "spin-client-addr", &inv.caller.client_addr);
        h.remove(CALLING_COMPONENT_HEADER);
        if let Some(calling) = &inv.calling_component {
            set(h, CALLING_COMPONENT_HEADER, calling);
        }
        for (name, value) in &route.params {
            set(
                h,
                &format!("spin-path-match-{}", name.to_ascii_lowercase()),
                value,
            );
        }
        set(h, "x-request-id", &inv.caller.request_id);
        set(h, "traceparent", &inv.caller.trace.traceparent());
        if parts.uri.authority().is_none() && !h.contains_key(http::header::HOST) {
            h.insert(http::header::HOST, HeaderValue::from_static("localhost"));
        }
        let body = CappedBody::new(body, self.limits.max_body_bytes, body_too_large);
        Ok(Request::from_parts(parts, body))
    }

    /// Service chaining: a guest's request to `http://NAME.spin.internal/...`
    /// runs component NAME in-process, with the caller's request id and trace.
    pub async fn chain(
        &self,
        caller: &CallerContext,
        target: &str,
        request: Request<WasiBody>,
    ) -> wasmtime_wasi_http::Result<Response<WasiBody>> {
        if !self.components.contains_key(target) {
            return Err(wasmtime_wasi_http::Error::DestinationNotFound);
        }
        if caller.chain_depth >= MAX_CHAIN_DEPTH {
            return Err(wasmtime_wasi_http::Error::LoopDetected);
        }
        let path = request.uri().path().to_string();
        let route = self
            .http
            .component_routes
            .get(target)
            .into_iter()
            .flatten()
            .find_map(|r| r.matches(&path))
            .unwrap_or_else(|| RouteMatch {
                raw_route: "/...".into(),
                component_route: String::new(),
                path_info: path.clone(),
                params: Vec::new(),
            });
        let route_label = route.raw_route.clone();
        let callee = caller.chained(target);
        let span_trace = callee.trace.clone();
        let inv = Invocation {
            component: target.to_string(),
            full_url: request.uri().to_string(),
            route,
            caller: callee,
            calling_component: Some(caller.component.clone()),
        };
        let method = request.method().clone();
        let started = Instant::now();
        // A chained call gets the call timeout, so a hung dependency fails
        // (and counts against its circuit breaker) well before the caller's deadline.
        let deadline = self
            .limits
            .outbound
            .call_timeout
            .min(self.limits.request_timeout);
        let response = match self.dispatch_within(inv, request, deadline).await {
            Ok(r) => r,
            Err(failure) => {
                tracing::warn!(
                    requestId = %caller.request_id, component = %target, caller = %caller.component,
                    path = %path, kind = failure.kind(), error = %failure.log_detail(),
                    "chained request failed"
                );
                failure.to_response(&path, &caller.request_id)
            }
        };
        self.metrics.observe_request(
            &route_label,
            target,
            method.as_str(),
            response.status().as_u16(),
            started.elapsed(),
        );
        let status = response.status();
        crate::telemetry::finished(
            &span_trace,
            || format!("{method} {route_label} (chained)"),
            SpanKind::Server,
            started.elapsed(),
            || {
                let mut attributes = crate::telemetry::http_attributes(
                    &method,
                    &path,
                    &route_label,
                    status.as_u16(),
                    target,
                );
                attributes.push(("folio.caller", Attribute::Text(caller.component.clone())));
                attributes
            },
            status
                .is_server_error()
                .then(|| format!("status {}", status.as_u16())),
        );
        Ok(response)
    }
}

fn set(headers: &mut http::HeaderMap, name: &str, value: &str) {
    if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
        headers.insert(name, value);
    }
}
