//! The Wasm side of the host: one Engine, every component compiled and
//! pre-instantiated once, and a fresh instance (own Store, own memory) per request.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response};
use http_body::Body;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Engine, PoolingAllocationConfig, Store, Trap};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use folio_blobs::{BlobConfig, BlobView, ComponentBuckets, Signer};
use folio_events::{EventLog, EventLogConfig, EventsView};
use folio_kv::{ComponentStores, KvConfig, KvView};
use folio_sql::{ComponentDatabases, SqlConfig, SqlView};
use folio_transcode::{JobReport, TranscodeConfig, TranscodeView, Transcoder};

use crate::access_tokens::TokenVerifier;
use crate::body::CappedBody;
use crate::compile_cache::CompileCache;
use crate::manifest::{App, ComponentDecl};
use crate::metrics::Metrics;
use crate::outbound::{AllowedHosts, OutboundHooks};
use crate::problem::Failure;
use crate::routing::{RouteMatch, Router};
use crate::trace::TraceContext;
use crate::variables::{self, ComponentVariables};

/// Epochs tick this often; request deadlines are counted in ticks.
const EPOCH_TICK: Duration = Duration::from_millis(10);
/// How long a request waits for a free instance slot before it gets 503.
const SLOT_WAIT: Duration = Duration::from_secs(2);
/// Per pool slot, what stays mapped between requests (see `engine`).
const RESIDENT_MEMORY_BYTES: usize = 2 << 20;
const RESIDENT_TABLE_BYTES: usize = 64 << 10;
const RESIDENT_STACK_BYTES: usize = 128 << 10;
/// Service chaining deeper than this is treated as a loop.
const MAX_CHAIN_DEPTH: u32 = 8;

#[derive(Debug, Clone)]
pub struct Limits {
    pub max_memory_bytes: usize,
    pub request_timeout: Duration,
    pub max_body_bytes: u64,
    pub max_concurrent_instances: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_memory_bytes: 256 << 20,
            request_timeout: Duration::from_secs(30),
            max_body_bytes: 32 << 20,
            max_concurrent_instances: 256,
        }
    }
}

/// Who is calling a component: carried into its outbound calls so chained
/// requests keep the request id and trace.
#[derive(Debug, Clone)]
pub struct CallerContext {
    pub component: String,
    pub request_id: String,
    pub trace: TraceContext,
    pub chain_depth: u32,
    pub client_addr: String,
}

/// One request to one component.
pub struct Invocation {
    pub component: String,
    pub route: RouteMatch,
    pub full_url: String,
    pub caller: CallerContext,
}

pub struct HostState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: OutboundHooks,
    variables: Arc<ComponentVariables>,
    tokens: Arc<TokenVerifier>,
    sql: Arc<ComponentDatabases>,
    kv: Arc<ComponentStores>,
    events: EventLog,
    event_source: Arc<str>,
    /// The instance's span, stamped on the events it publishes.
    traceparent: String,
    blobs: Arc<ComponentBuckets>,
    transcoder: Transcoder,
    pub(crate) memory: MemoryGuard,
}

impl HostState {
    pub(crate) fn new(
        component: &LoadedComponent,
        runtime: Weak<AppRuntime>,
        caller: CallerContext,
        memory_cap: usize,
    ) -> HostState {
        let mut wasi = WasiCtx::builder();
        wasi.inherit_stderr();
        wasi.envs(&component.environment);
        HostState {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            traceparent: caller.trace.traceparent(),
            hooks: OutboundHooks {
                allowed: component.allowed_hosts.clone(),
                runtime,
                caller,
            },
            variables: component.variables.clone(),
            tokens: component.tokens.clone(),
            sql: component.sql.clone(),
            kv: component.kv.clone(),
            events: component.events.clone(),
            event_source: component.event_source.clone(),
            blobs: component.blobs.clone(),
            transcoder: component.transcoder.clone(),
            memory: MemoryGuard {
                cap: memory_cap,
                exceeded: false,
            },
        }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

impl crate::access_tokens::HasTokenVerifier for HostState {
    fn token_verifier(&self) -> &TokenVerifier {
        &self.tokens
    }
}

impl variables::HasVariables for HostState {
    fn variables(&self) -> &ComponentVariables {
        &self.variables
    }
}

/// The per-instance memory cap; remembers that it refused a growth so a
/// trap that follows is reported as memory exhaustion, not a bug.
pub(crate) struct MemoryGuard {
    cap: usize,
    pub(crate) exceeded: bool,
}

impl wasmtime::ResourceLimiter for MemoryGuard {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.cap {
            self.exceeded = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

impl LoadedComponent {
    pub(crate) fn sql_databases(&self) -> &ComponentDatabases {
        &self.sql
    }
}

pub(crate) struct LoadedComponent {
    /// Present when an HTTP trigger serves the component.
    pre: Option<ProxyPre<HostState>>,
    /// Present when an event trigger feeds the component.
    pub(crate) worker: Option<crate::workers::EventHandlerPre>,
    /// Present when a cron trigger wakes the component.
    pub(crate) cron: Option<crate::cron_trigger::CronHandlerPre>,
    allowed_hosts: AllowedHosts,
    variables: Arc<ComponentVariables>,
    tokens: Arc<TokenVerifier>,
    environment: Vec<(String, String)>,
    sql: Arc<ComponentDatabases>,
    kv: Arc<ComponentStores>,
    events: EventLog,
    event_source: Arc<str>,
    blobs: Arc<ComponentBuckets>,
    /// The host's one transcoder; jobs run on this component's buckets.
    transcoder: Transcoder,
}

/// Where components keep state: the backends bound in the runtime config,
/// and the data directory for embedded ones.
pub struct Storage {
    pub sql: SqlConfig,
    pub kv: KvConfig,
    pub events: EventLogConfig,
    pub blobs: BlobConfig,
    /// `[transcode]`: where ffmpeg is and the limits of its runs.
    pub transcode: TranscodeConfig,
    pub data_dir: PathBuf,
}

pub struct AppRuntime {
    engine: Engine,
    pub app_name: String,
    pub app_version: String,
    pub(crate) components: HashMap<String, LoadedComponent>,
    pub(crate) event_log: EventLog,
    pub(crate) event_triggers: Vec<crate::manifest::EventTrigger>,
    pub(crate) cron_triggers: Vec<crate::manifest::CronTrigger>,
    pub(crate) background: crate::workers::Background,
    router: Router<String>,
    /// Routes of each component, for chained calls that arrive by component id.
    component_routes: HashMap<String, Vec<crate::routing::RoutePattern>>,
    pub(crate) limits: Limits,
    pub metrics: Metrics,
    slots: Arc<Semaphore>,
    pub(crate) self_ref: Weak<AppRuntime>,
    /// Signs and checks presigned URLs of buckets on disk (none when no
    /// component declares a bucket).
    blob_signer: Option<Signer>,
}

/// Builds the Engine every component shares: pooling allocator sized for the
/// concurrency bound, epoch interruption for deadlines, memory capped per instance.
pub fn engine(limits: &Limits) -> anyhow::Result<Engine> {
    let mut config = wasmtime::Config::new();
    config.epoch_interruption(true);
    config.wasm_component_model(true);
    // Chained calls hold a second instance while the first waits.
    let slots = (limits.max_concurrent_instances as u32).saturating_mul(2) + 16;
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(slots)
        .total_core_instances(slots * 4)
        .total_memories(slots)
        .total_tables(slots * 2)
        .total_stacks(slots)
        .max_memory_size(limits.max_memory_bytes)
        .max_component_instance_size(10 << 20)
        .max_core_instances_per_component(50)
        .max_tables_per_component(20)
        .table_elements(100_000)
        // Reset a slot by rewriting only the pages the last request dirtied
        // (PAGEMAP_SCAN, Linux 6.7+) and keep them resident, instead of
        // unmapping everything and taking page faults on the next request.
        .pagemap_scan(wasmtime::Enabled::Auto)
        .linear_memory_keep_resident(RESIDENT_MEMORY_BYTES)
        .table_keep_resident(RESIDENT_TABLE_BYTES)
        .async_stack_keep_resident(RESIDENT_STACK_BYTES);
    config.allocation_strategy(pool);
    // Stacks are reused across tenants' requests; do not leak one guest's data to the next.
    config.async_stack_zeroing(true);
    let engine = Engine::new(&config).map_err(anyhow::Error::from)?;
    let ticker = engine.weak();
    std::thread::Builder::new()
        .name("folio-epoch".into())
        .spawn(move || {
            while let Some(engine) = ticker.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })?;
    Ok(engine)
}

pub fn linker(engine: &Engine) -> anyhow::Result<Linker<HostState>> {
    let mut linker = Linker::<HostState>::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    variables::add_to_linker::<HostState>(&mut linker)?;
    crate::access_tokens::add_to_linker::<HostState>(&mut linker)?;
    folio_sql::add_to_linker(&mut linker, |s: &mut HostState| SqlView {
        table: &mut s.table,
        databases: &s.sql,
        traceparent: &s.traceparent,
    })?;
    folio_kv::add_to_linker(&mut linker, |s: &mut HostState| KvView {
        table: &mut s.table,
        stores: &s.kv,
    })?;
    folio_events::add_to_linker(&mut linker, |s: &mut HostState| EventsView {
        log: &s.events,
        source: &s.event_source,
        traceparent: &s.traceparent,
    })?;
    folio_blobs::add_to_linker(&mut linker, |s: &mut HostState| BlobView {
        table: &mut s.table,
        buckets: &s.blobs,
    })?;
    folio_transcode::add_to_linker(&mut linker, |s: &mut HostState| TranscodeView {
        table: &mut s.table,
        buckets: &s.blobs,
        transcoder: &s.transcoder,
        component: &s.hooks.caller.component,
    })?;
    Ok(linker)
}

impl AppRuntime {
    pub async fn load(
        app: &App,
        limits: Limits,
        cache: &CompileCache,
        storage: &Storage,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Arc<AppRuntime>> {
        let engine = engine(&limits)?;
        let linker = linker(&engine)?;
        let generated = crate::auth_keys::defaults(app, env, &storage.data_dir)?;
        let env = |name: &str| env(name).or_else(|| generated.get(name).cloned());
        let mut resolved = variables::resolve(app, &env)
            .map_err(|e| anyhow!("{}: {e:#}", app.manifest_path.display()))?;
        let event_log = EventLog::open(&storage.events, &storage.data_dir).await?;

        let stores_blobs = app.components.values().any(|c| !c.blob_buckets.is_empty());
        let blob_signer = if stores_blobs {
            Some(Signer::load_or_create(&storage.data_dir)?)
        } else {
            None
        };
        let metrics = Metrics::default();
        let transcoder = {
            let metrics = metrics.clone();
            let settings = storage.transcode.settings(&storage.data_dir)?;
            Transcoder::with_observer(
                settings,
                Some(Arc::new(move |job: &JobReport| {
                    metrics.observe_transcode_job(&job.component, job.outcome, job.elapsed)
                })),
            )
        };
        // Without ffmpeg the host still serves; transcode calls answer `unavailable`.
        if stores_blobs && let Err(e) = transcoder.check_programs() {
            tracing::warn!(error = %e, "transcoding is unavailable");
        }
        let mut components = HashMap::new();
        for decl in app.components.values() {
            let events = app.handles_events(&decl.id);
            let cron = app.runs_on_schedule(&decl.id);
            // A component no trigger names is still loaded as an HTTP one
            // (reachable by service chaining).
            let roles = Roles {
                http: app.serves_http(&decl.id) || (!events && !cron),
                events,
                cron,
            };
            let loaded = load_component(
                &engine,
                &linker,
                cache,
                decl,
                &mut resolved,
                storage,
                &limits,
                &event_log,
                roles,
                blob_signer.as_ref(),
                &transcoder,
            )
            .await
            .map_err(|e| {
                anyhow!(
                    "{}: component `{}` ({}): {}",
                    app.manifest_path.display(),
                    decl.id,
                    decl.source.display(),
                    crate::manifest::one_line(&e)
                )
            })?;
            components.insert(decl.id.clone(), loaded);
        }

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

        Ok(Arc::new_cyclic(|self_ref| AppRuntime {
            engine,
            app_name: app.name.clone(),
            app_version: app.version.clone(),
            components,
            event_log,
            event_triggers: app.event_triggers.clone(),
            cron_triggers: app.cron_triggers.clone(),
            background: Default::default(),
            router: Router::new(routes),
            component_routes,
            slots: Arc::new(Semaphore::new(limits.max_concurrent_instances)),
            limits,
            metrics,
            self_ref: self_ref.clone(),
            blob_signer,
        }))
    }

    /// The URL clients reach this host at, for presigned URLs of buckets on disk.
    pub fn set_public_url(&self, url: &str) {
        if let Some(signer) = &self.blob_signer {
            signer.set_base_url(url);
        }
    }

    /// Component `component`'s bucket `name`, and the signer its presigned
    /// disk URLs are checked with; for `/_folio/blobs/...`.
    pub fn blob_bucket(
        &self,
        component: &str,
        name: &str,
    ) -> Option<(folio_blobs::Bucket, &Signer)> {
        let bucket = self.components.get(component)?.blobs.get(name)?.clone();
        Some((bucket, self.blob_signer.as_ref()?))
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn route(&self, path: &str) -> Option<(String, RouteMatch)> {
        self.router.route(path)
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
        let component = self
            .components
            .get(&inv.component)
            .ok_or_else(|| Failure::Internal(format!("no component `{}`", inv.component)))?;
        let pre = component.pre.clone().ok_or_else(|| {
            Failure::Internal(format!(
                "component `{}` is a worker, not an HTTP component",
                inv.component
            ))
        })?;
        let permit = self.acquire_slot().await?;
        let body_too_large = Arc::new(AtomicBool::new(false));
        let request = self.prepare_request(&inv, request, body_too_large.clone())?;

        let mut store = self.new_store(component, inv.caller.clone(), self.limits.request_timeout);

        let (sender, receiver) = tokio::sync::oneshot::channel();
        let incoming = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, request)
            .map_err(|e| Failure::Internal(format!("{e:#}")))?;
        let outparam = store
            .data_mut()
            .http()
            .new_response_outparam(sender)
            .map_err(|e| Failure::Internal(format!("{e:#}")))?;

        let metrics = self.metrics.clone();
        let component_id = inv.component.clone();
        let overall = self.limits.request_timeout + Duration::from_secs(1);
        let task = tokio::spawn(async move {
            let _permit: OwnedSemaphorePermit = permit;
            let _in_flight = metrics.instance_started();
            let run = async {
                let started = Instant::now();
                let proxy = pre.instantiate_async(&mut store).await?;
                metrics.observe_instantiation(&component_id, started.elapsed());
                proxy
                    .wasi_http_incoming_handler()
                    .call_handle(&mut store, incoming, outparam)
                    .await
            };
            let outcome = tokio::time::timeout(overall, run).await;
            let memory_exceeded = store.data().memory.exceeded;
            match outcome {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(classify_trap(e, memory_exceeded)),
                Err(_) => Err(Failure::Timeout),
            }
        });

        let failure = match tokio::time::timeout(self.limits.request_timeout, receiver).await {
            // A guest that hit the body cap answers whatever its SDK makes of a
            // stream error; the client should learn what really happened.
            Ok(Ok(Ok(_))) if body_too_large.load(Ordering::Relaxed) => {
                return Err(Failure::BodyTooLarge(self.limits.max_body_bytes));
            }
            Ok(Ok(Ok(response))) => return Ok(response),
            Ok(Ok(Err(code))) => Failure::GuestError(format!("{code:?}")),
            Ok(Err(_sender_dropped)) => match task.await {
                Ok(Ok(())) => Failure::NoResponse,
                Ok(Err(failure)) => failure,
                Err(join) => Failure::Internal(format!("instance task failed: {join}")),
            },
            Err(_elapsed) => {
                task.abort();
                Failure::Timeout
            }
        };
        if body_too_large.load(Ordering::Relaxed) {
            return Err(Failure::BodyTooLarge(self.limits.max_body_bytes));
        }
        Err(failure)
    }

    /// A fresh store for one instance of `component`: its own host state,
    /// the memory cap and an epoch deadline `timeout` from now (a request's,
    /// or an event trigger's own `timeout_ms`).
    pub(crate) fn new_store(
        &self,
        component: &LoadedComponent,
        caller: CallerContext,
        timeout: Duration,
    ) -> Store<HostState> {
        let state = HostState::new(
            component,
            self.self_ref.clone(),
            caller,
            self.limits.max_memory_bytes,
        );
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.memory);
        let ticks = (timeout.as_millis() / EPOCH_TICK.as_millis()).max(1);
        store.set_epoch_deadline(ticks as u64);
        store.epoch_deadline_trap();
        store
    }

    pub(crate) async fn acquire_slot(&self) -> Result<OwnedSemaphorePermit, Failure> {
        match tokio::time::timeout(SLOT_WAIT, self.slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(Failure::Overloaded),
        }
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
        let inv = Invocation {
            component: target.to_string(),
            full_url: request.uri().to_string(),
            route,
            caller: CallerContext {
                component: target.to_string(),
                request_id: caller.request_id.clone(),
                trace: caller.trace.child(),
                chain_depth: caller.chain_depth + 1,
                client_addr: caller.client_addr.clone(),
            },
        };
        let method = request.method().clone();
        let started = Instant::now();
        let response = match self.dispatch(inv, request).await {
            Ok(r) => r,
            Err(failure) => failure.to_response(&path, &caller.request_id),
        };
        self.metrics.observe_request(
            &route_label,
            target,
            method.as_str(),
            response.status().as_u16(),
            started.elapsed(),
        );
        Ok(response)
    }
}

fn set(headers: &mut http::HeaderMap, name: &str, value: &str) {
    if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
        headers.insert(name, value);
    }
}

pub(crate) fn classify_trap(err: wasmtime::Error, memory_exceeded: bool) -> Failure {
    if err.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
        return Failure::Timeout;
    }
    if memory_exceeded {
        return Failure::MemoryExhausted;
    }
    let message = format!("{err:#}");
    Failure::Trap(message.lines().next().unwrap_or("trap").to_string())
}

/// Names the missing import plainly; Wasmtime's own text follows for detail.
fn link_error(err: anyhow::Error) -> anyhow::Error {
    let text = crate::manifest::one_line(&err);
    let missing = text
        .split_once("imports instance `")
        .and_then(|(_, rest)| rest.split_once('`'))
        .map(|(name, _)| name.to_string());
    match missing {
        Some(name) => err.context(format!(
            "imports `{name}`, which the Folio host does not provide"
        )),
        None => err.context("cannot link"),
    }
}

/// Which exports the manifest's triggers need from a component.
struct Roles {
    http: bool,
    events: bool,
    cron: bool,
}

#[allow(clippy::too_many_arguments)]
async fn load_component(
    engine: &Engine,
    linker: &Linker<HostState>,
    cache: &CompileCache,
    decl: &ComponentDecl,
    resolved: &mut BTreeMap<String, ComponentVariables>,
    storage: &Storage,
    limits: &Limits,
    event_log: &EventLog,
    roles: Roles,
    blob_signer: Option<&Signer>,
    transcoder: &Transcoder,
) -> anyhow::Result<LoadedComponent> {
    let component = cache.load(engine, &decl.source)?;
    let instance_pre = linker
        .instantiate_pre(&component)
        .map_err(|e| link_error(anyhow::Error::from(e)))?;
    let pre = match roles.http {
        true => Some(
            ProxyPre::new(instance_pre.clone())
                .map_err(anyhow::Error::from)
                .context("does not export wasi:http/incoming-handler")?,
        ),
        false => None,
    };
    let worker = match roles.events {
        true => Some(
            crate::workers::EventHandlerPre::new(instance_pre.clone())
                .map_err(anyhow::Error::from)
                .context(
                    "a [[trigger.event]] names it, but it does not export folio:platform/event-handler",
                )?,
        ),
        false => None,
    };
    let cron = match roles.cron {
        true => Some(
            crate::cron_trigger::CronHandlerPre::new(instance_pre)
                .map_err(anyhow::Error::from)
                .with_context(|| {
                    format!(
                        "a [[trigger.cron]] names it, but it does not export {}",
                        crate::cron_trigger::EXPORT
                    )
                })?,
        ),
        false => None,
    };
    let variables = resolved.remove(&decl.id).unwrap_or_default();
    let mut loaded = LoadedComponent {
        pre,
        worker,
        cron,
        allowed_hosts: decl.allowed_outbound_hosts.clone(),
        tokens: Arc::new(
            TokenVerifier::from_variables(&variables)
                .with_context(|| format!("component `{}`", decl.id))?,
        ),
        variables: Arc::new(variables),
        environment: decl.environment.clone().into_iter().collect(),
        sql: Arc::default(),
        kv: Arc::default(),
        events: event_log.clone(),
        event_source: format!("/folio/{}", decl.id).into(),
        blobs: Arc::default(),
        transcoder: transcoder.clone(),
    };
    if let Some(signer) = blob_signer
        && !decl.blob_buckets.is_empty()
    {
        let buckets = ComponentBuckets::open(
            &decl.id,
            &decl.blob_buckets,
            &storage.blobs,
            &storage.data_dir,
            signer,
        )
        .await?;
        loaded.blobs = Arc::new(buckets);
    }
    if !decl.key_value_stores.is_empty() {
        let stores = ComponentStores::open(
            &decl.id,
            &decl.key_value_stores,
            &storage.kv,
            &storage.data_dir,
        )
        .await?;
        loaded.kv = Arc::new(stores);
    }
    if !decl.sqlite_databases.is_empty() {
        let startup = CallerContext {
            component: decl.id.clone(),
            request_id: "startup".into(),
            trace: TraceContext::from_header(None),
            chain_depth: 0,
            client_addr: String::new(),
        };
        let state = HostState::new(&loaded, Weak::new(), startup, limits.max_memory_bytes);
        let migrations = crate::schema::migrations(
            linker,
            &component,
            &decl.sqlite_databases,
            &storage.sql,
            state,
        )
        .await?;
        let databases = ComponentDatabases::open(
            &decl.id,
            &decl.sqlite_databases,
            &storage.sql,
            &storage.data_dir,
            &migrations,
        )
        .await?;
        loaded.sql = Arc::new(databases);
    }
    Ok(loaded)
}
