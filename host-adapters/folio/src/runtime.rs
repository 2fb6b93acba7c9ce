//! The Wasm side of the host: one Engine, every component compiled and
//! pre-instantiated once, its capabilities opened once, and a fresh
//! instance (own Store, own memory) for every call, made by the executor.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::Duration;

use anyhow::{Context, anyhow};
use futures_util::future::BoxFuture;
use wasmtime::component::{Component, InstancePre, Linker, ResourceTable};
use wasmtime::{Engine, PoolingAllocationConfig, Store, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::access_tokens::TokenVerifier;
use crate::capability::{Capabilities, ComponentStates, HostContext, SchemaSource};
use crate::compile_cache::CompileCache;
use crate::executor::Capacity;
use crate::guest_output::GuestOutput;
use crate::http_trigger::HttpTrigger;
use crate::manifest::{App, ComponentDecl};
use crate::metrics::Metrics;
use crate::outbound::{AllowedHosts, OutboundHooks};
use crate::trace::TraceContext;
use crate::trigger::Trigger;
use crate::variables::{self, ComponentVariables};

/// Epochs tick this often; deadlines are counted in ticks.
const EPOCH_TICK: Duration = Duration::from_millis(10);
/// Per pool slot, what stays mapped between requests (see `engine`).
const RESIDENT_MEMORY_BYTES: usize = 2 << 20;
const RESIDENT_TABLE_BYTES: usize = 64 << 10;
const RESIDENT_STACK_BYTES: usize = 128 << 10;
/// Instances made outside any budget: the start-up schema instances.
const UNBUDGETED_SLOTS: u32 = 16;

#[derive(Debug, Clone)]
pub struct Limits {
    pub max_memory_bytes: usize,
    pub request_timeout: Duration,
    pub max_body_bytes: u64,
    /// HTTP requests in flight at once (chained calls have a budget of their own).
    pub max_concurrent_instances: usize,
    /// Event deliveries and cron runs in flight at once: their own budget,
    /// so an HTTP flood never holds up background work.
    pub max_background_instances: usize,
    /// Timeouts, circuit breakers and retries of outbound and chained calls.
    pub outbound: crate::resilience::OutboundPolicy,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_memory_bytes: 256 << 20,
            request_timeout: Duration::from_secs(30),
            max_body_bytes: 32 << 20,
            max_concurrent_instances: 256,
            max_background_instances: 32,
            outbound: crate::resilience::OutboundPolicy::default(),
        }
    }
}

/// Who is calling a component: carried into its outbound calls so chained
/// requests keep the request id and trace, and share one chain budget.
#[derive(Debug, Clone)]
pub struct CallerContext {
    pub component: String,
    pub request_id: String,
    pub trace: TraceContext,
    pub chain_depth: u32,
    pub client_addr: String,
    /// Instances this request's chained calls may hold at once, shared by
    /// the whole call tree.
    pub(crate) chain_budget: Arc<tokio::sync::Semaphore>,
}

impl CallerContext {
    /// A call from outside: an HTTP request, an event delivery, a cron run.
    pub fn new(component: &str, request_id: &str, trace: TraceContext, client_addr: &str) -> Self {
        CallerContext {
            component: component.to_string(),
            request_id: request_id.to_string(),
            trace,
            chain_depth: 0,
            client_addr: client_addr.to_string(),
            chain_budget: Arc::new(tokio::sync::Semaphore::new(
                crate::executor::CHAINED_INSTANCES_PER_REQUEST,
            )),
        }
    }

    /// The context of a call this one makes to component `target`.
    pub fn chained(&self, target: &str) -> Self {
        CallerContext {
            component: target.to_string(),
            trace: self.trace.child(),
            chain_depth: self.chain_depth + 1,
            ..self.clone()
        }
    }
}

pub struct HostState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: OutboundHooks,
    component: Arc<LoadedComponent>,
    /// The instance's span, stamped on the events it publishes.
    traceparent: String,
    pub(crate) memory: MemoryGuard,
}

impl HostState {
    pub(crate) fn new(
        component: Arc<LoadedComponent>,
        runtime: Weak<AppRuntime>,
        caller: CallerContext,
        memory_cap: usize,
    ) -> HostState {
        let (stdout, stderr) = GuestOutput::pair(
            &component.id,
            &caller.request_id,
            &caller.trace.trace_id,
            &caller.trace.span_id,
        );
        let mut wasi = WasiCtx::builder();
        wasi.stdout(stdout).stderr(stderr);
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
            component,
            memory: MemoryGuard {
                cap: memory_cap,
                exceeded: false,
            },
        }
    }

    /// What a capability's bindings need: the resource table, the
    /// component's opened capabilities, and the instance's traceparent.
    pub(crate) fn capability_parts(&mut self) -> (&mut ResourceTable, &ComponentStates, &str) {
        (&mut self.table, &self.component.states, &self.traceparent)
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
        &self.component.tokens
    }
}

impl variables::HasVariables for HostState {
    fn variables(&self) -> &ComponentVariables {
        &self.component.variables
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

/// A component ready to be instantiated: its code linked against the host,
/// and what it was granted.
pub(crate) struct LoadedComponent {
    pub(crate) id: String,
    pub(crate) instance_pre: InstancePre<HostState>,
    allowed_hosts: AllowedHosts,
    variables: ComponentVariables,
    tokens: Arc<TokenVerifier>,
    environment: Vec<(String, String)>,
    /// What each capability opened for it.
    pub(crate) states: ComponentStates,
}

/// Where components keep state: the runtime config's capability tables
/// (`[sqlite_database.*]`, `[event_log]`, ...) and the data directory.
pub struct Storage {
    pub tables: toml::Table,
    pub data_dir: PathBuf,
}

/// One loaded release of an app: its components, routes and triggers, on
/// the host's engine, capabilities, budgets and metrics, which every
/// release of the process shares (see `releases.rs`).
pub struct AppRuntime {
    engine: Engine,
    pub app_name: String,
    pub app_version: String,
    pub(crate) components: HashMap<String, Arc<LoadedComponent>>,
    pub(crate) capabilities: Capabilities,
    pub(crate) http: HttpTrigger,
    /// Event and cron triggers, started with the background work.
    pub(crate) triggers: Vec<Arc<dyn Trigger>>,
    pub(crate) background: crate::background::Background,
    pub(crate) limits: Limits,
    pub(crate) capacity: Capacity,
    pub metrics: Metrics,
    pub(crate) breakers: Arc<crate::resilience::Breakers>,
    cache: CompileCache,
    data_dir: PathBuf,
    pub(crate) self_ref: Weak<AppRuntime>,
    /// Set by `folio adapters --deliver-to`: triggers send each try to the
    /// Spin app instead of running a local instance.
    pub(crate) remote_delivery: std::sync::OnceLock<crate::remote_delivery::RemoteDelivery>,
}

/// What every release of the process shares.
struct Shared {
    engine: Engine,
    capabilities: Capabilities,
    limits: Limits,
    capacity: Capacity,
    metrics: Metrics,
    breakers: Arc<crate::resilience::Breakers>,
    cache: CompileCache,
    data_dir: PathBuf,
}

/// Builds the Engine every component shares: pooling allocator sized for
/// every budget, epoch interruption for deadlines, memory capped per instance.
pub fn engine(limits: &Limits) -> anyhow::Result<Engine> {
    let mut config = wasmtime::Config::new();
    config.epoch_interruption(true);
    config.wasm_component_model(true);
    let slots = Capacity::pool_slots(limits) + UNBUDGETED_SLOTS;
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

/// WASI, `wasi:http`, variables, access tokens, then every capability.
pub(crate) fn linker(
    engine: &Engine,
    capabilities: &Capabilities,
) -> anyhow::Result<Linker<HostState>> {
    let mut linker = Linker::<HostState>::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    variables::add_to_linker::<HostState>(&mut linker)?;
    crate::access_tokens::add_to_linker::<HostState>(&mut linker)?;
    capabilities.add_to_linker(&mut linker)?;
    Ok(linker)
}

impl AppRuntime {
    /// The subject and client id of `token` if it is authentic for
    /// `component` (its own key variables); for keying rate limits.
    pub fn verified_identity(
        &self,
        component: &str,
        token: &str,
    ) -> Option<(String, Option<String>)> {
        let claims = self
            .components
            .get(component)?
            .tokens
            .verify_now(token)
            .ok()?;
        Some((claims.sub, claims.client_id))
    }

    pub async fn load(
        app: &App,
        limits: Limits,
        cache: &CompileCache,
        storage: Storage,
        env: &(dyn Fn(&str) -> Option<String> + Sync),
    ) -> anyhow::Result<Arc<AppRuntime>> {
        let engine = engine(&limits)?;
        let metrics = Metrics::default();
        let mut tables = storage.tables;
        let capabilities = crate::capability::configure_all(HostContext {
            app,
            data_dir: &storage.data_dir,
            metrics: &metrics,
            tables: &mut tables,
        })
        .await?;
        let shared = Shared {
            engine,
            capabilities,
            capacity: Capacity::new(&limits, app),
            breakers: Arc::new(crate::resilience::Breakers::new(
                limits.outbound.clone(),
                metrics.clone(),
            )),
            limits,
            metrics,
            cache: cache.clone(),
            data_dir: storage.data_dir,
        };
        Self::assemble(shared, app, env).await
    }

    /// Another release of the app (a changed manifest or components), on
    /// this one's engine, capabilities, budgets and metrics: its databases'
    /// migrations are applied, its components compiled and linked, and
    /// nothing is served from it until the caller switches traffic to it.
    pub async fn load_release(
        &self,
        app: &App,
        env: &(dyn Fn(&str) -> Option<String> + Sync),
    ) -> anyhow::Result<Arc<AppRuntime>> {
        let shared = Shared {
            engine: self.engine.clone(),
            capabilities: self.capabilities.clone(),
            limits: self.limits.clone(),
            capacity: self.capacity.for_release(app),
            metrics: self.metrics.clone(),
            breakers: self.breakers.clone(),
            cache: self.cache.clone(),
            data_dir: self.data_dir.clone(),
        };
        Self::assemble(shared, app, env).await
    }

    async fn assemble(
        shared: Shared,
        app: &App,
        env: &(dyn Fn(&str) -> Option<String> + Sync),
    ) -> anyhow::Result<Arc<AppRuntime>> {
        let Shared {
            engine,
            capabilities,
            limits,
            capacity,
            metrics,
            breakers,
            cache,
            data_dir,
        } = shared;
        let linker = linker(&engine, &capabilities)?;
        let generated = crate::auth_keys::defaults(app, env, &data_dir)?;
        let env = |name: &str| env(name).or_else(|| generated.get(name).cloned());
        let mut resolved = variables::resolve(app, &env)
            .map_err(|e| anyhow!("{}: {e:#}", app.manifest_path.display()))?;

        let mut components = HashMap::new();
        for decl in app.components.values() {
            let variables = resolved.remove(&decl.id).unwrap_or_default();
            let loaded = ComponentLoader {
                linker: &linker,
                cache: &cache,
                capabilities: &capabilities,
                data_dir: &data_dir,
                limits: &limits,
            }
            .load(decl, variables)
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
            components.insert(decl.id.clone(), Arc::new(loaded));
        }
        let in_manifest = |e: anyhow::Error| {
            anyhow!(
                "{}: {}",
                app.manifest_path.display(),
                crate::manifest::one_line(&e)
            )
        };
        let http = HttpTrigger::new(app, &components).map_err(in_manifest)?;
        let triggers = crate::trigger::from_manifest(app, &components).map_err(in_manifest)?;

        Ok(Arc::new_cyclic(|self_ref| AppRuntime {
            engine,
            app_name: app.name.clone(),
            app_version: app.version.clone(),
            components,
            capabilities,
            http,
            triggers,
            background: Default::default(),
            capacity,
            breakers,
            limits,
            metrics,
            cache,
            data_dir,
            self_ref: self_ref.clone(),
            remote_delivery: std::sync::OnceLock::new(),
        }))
    }

    /// Makes event and cron triggers deliver to a Spin app (`folio adapters
    /// --deliver-to`); set once, before the triggers start.
    pub fn deliver_remotely(&self, delivery: crate::remote_delivery::RemoteDelivery) {
        if self.remote_delivery.set(delivery).is_err() {
            tracing::warn!("remote delivery was already set; the first one stays");
        }
    }

    /// Where `component`'s once-per-cluster runs are claimed: its `default`
    /// database, else its first; none without a database.
    pub fn claims_database(&self, component: &str) -> Option<folio_sql::Database> {
        let sql = self
            .components
            .get(component)?
            .states
            .get::<crate::capability::ComponentSql>()?;
        sql.databases
            .get("default")
            .or_else(|| sql.databases.iter().next().map(|(_, db)| db))
            .map(|open| open.db.clone())
    }

    /// The URL clients reach this host at, for presigned URLs of buckets on disk.
    pub fn set_public_url(&self, url: &str) {
        if let Some(signer) = self.blobs().and_then(|b| b.signer()) {
            signer.set_base_url(url);
        }
    }

    fn blobs(&self) -> Option<&crate::capability::BlobsCapability> {
        self.capabilities
            .get::<crate::capability::BlobsCapability>()
    }

    /// Component `component`'s bucket `name`, and the signer its presigned
    /// disk URLs are checked with; for `/_folio/blobs/...`.
    pub fn blob_bucket(
        &self,
        component: &str,
        name: &str,
    ) -> Option<(folio_blobs::Bucket, &folio_blobs::Signer)> {
        let buckets = self
            .components
            .get(component)?
            .states
            .get::<folio_blobs::ComponentBuckets>()?;
        let bucket = buckets.get(name)?.clone();
        Some((bucket, self.blobs()?.signer()?))
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Each capability's readiness: `Err` names the backend that is down.
    pub async fn check_ready(&self) -> Vec<(&'static str, Result<(), String>)> {
        self.capabilities.check_ready().await
    }

    /// A fresh store for one instance of `component`: its own host state,
    /// the memory cap and an epoch deadline `timeout` from now.
    pub(crate) fn new_store(
        &self,
        component: &Arc<LoadedComponent>,
        caller: CallerContext,
        timeout: Duration,
    ) -> Store<HostState> {
        let state = HostState::new(
            component.clone(),
            self.self_ref.clone(),
            caller,
            self.limits.max_memory_bytes,
        );
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.memory);
        // A guest that computes without calling the host would otherwise keep
        // its executor thread until the deadline: on a two-core host, two such
        // guests would stall every other request. Each epoch tick it yields,
        // and at the deadline it traps.
        let deadline = std::time::Instant::now() + timeout;
        store.epoch_deadline_callback(move |_| {
            if std::time::Instant::now() >= deadline {
                return Ok(UpdateDeadline::Interrupt);
            }
            Ok(UpdateDeadline::Yield(1))
        });
        store.set_epoch_deadline(1);
        store
    }
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

/// What loading a component needs from the host being built.
struct ComponentLoader<'a> {
    linker: &'a Linker<HostState>,
    cache: &'a CompileCache,
    capabilities: &'a Capabilities,
    data_dir: &'a std::path::Path,
    limits: &'a Limits,
}

impl ComponentLoader<'_> {
    async fn load(
        &self,
        decl: &ComponentDecl,
        variables: ComponentVariables,
    ) -> anyhow::Result<LoadedComponent> {
        // Compiling takes seconds of CPU; a release loaded while the host
        // serves must not hold up the requests on this thread.
        let (engine, cache, source) = (
            self.linker.engine().clone(),
            self.cache.clone(),
            decl.source.clone(),
        );
        let component = tokio::task::spawn_blocking(move || cache.load(&engine, &source)).await??;
        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| link_error(anyhow::Error::from(e)))?;
        let tokens = Arc::new(
            TokenVerifier::from_variables(&variables)
                .with_context(|| format!("component `{}`", decl.id))?,
        );
        let mut loaded = LoadedComponent {
            id: decl.id.clone(),
            instance_pre,
            allowed_hosts: decl.allowed_outbound_hosts.clone(),
            variables,
            tokens,
            environment: decl.environment.clone().into_iter().collect(),
            states: ComponentStates::default(),
        };
        let schema = GuestSchema {
            linker: self.linker,
            component: &component,
            loaded: &loaded,
            memory_cap: self.limits.max_memory_bytes,
        };
        let states = self.capabilities.open(decl, self.data_dir, &schema).await?;
        loaded.states = states;
        Ok(loaded)
    }
}

/// Asks a component for its migrations in a throwaway instance, before
/// its capabilities are open (so the instance reaches none of them).
struct GuestSchema<'a> {
    linker: &'a Linker<HostState>,
    component: &'a Component,
    loaded: &'a LoadedComponent,
    memory_cap: usize,
}

impl SchemaSource for GuestSchema<'_> {
    fn migrations<'a>(
        &'a self,
        databases: &'a [String],
        config: &'a folio_sql::SqlConfig,
    ) -> BoxFuture<'a, anyhow::Result<std::collections::BTreeMap<String, Vec<folio_sql::Migration>>>>
    {
        Box::pin(async move {
            let provisional = Arc::new(LoadedComponent {
                id: self.loaded.id.clone(),
                instance_pre: self.loaded.instance_pre.clone(),
                allowed_hosts: AllowedHosts::default(),
                variables: self.loaded.variables.clone(),
                tokens: self.loaded.tokens.clone(),
                environment: self.loaded.environment.clone(),
                states: ComponentStates::default(),
            });
            let caller = CallerContext::new(
                &self.loaded.id,
                "startup",
                TraceContext::from_header(None),
                "",
            );
            let state = HostState::new(provisional, Weak::new(), caller, self.memory_cap);
            crate::schema::migrations(self.linker, self.component, databases, config, state).await
        })
    }
}
