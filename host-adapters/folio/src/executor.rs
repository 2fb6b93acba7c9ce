//! The instance executor: every trigger — an HTTP request, a chained call,
//! an event delivery, a cron run — runs its component through
//! [`AppRuntime::start_instance`]: admit it under a budget, build the store
//! (memory cap, epoch deadline), instantiate, call the trigger's export,
//! classify a failure, and count it.
//!
//! Budgets (`Capacity`) cannot deadlock and do not spill over:
//! - HTTP requests wait briefly for their component's bulkhead
//!   (`tool.folio` `max_concurrency`), then for a request slot;
//! - event deliveries and cron runs have a budget of their own;
//! - a chained call never waits: it takes its target's bulkhead, a slot of
//!   its request's chain budget and one of a reserve, or fails at once, so a
//!   request holding a slot never waits on a slot only requests like it can free.
//!
//! The pool is sized for the sum of the budgets, so an admitted instance
//! always finds a slot.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use wasmtime::{Store, Trap};

use crate::manifest::App;
use crate::problem::Failure;
use crate::runtime::{AppRuntime, CallerContext, HostState, Limits};

/// How long an HTTP request waits for its bulkhead and a slot before 503.
const SLOT_WAIT: Duration = Duration::from_secs(2);
/// Instances one request's chained calls may hold at once, the whole call tree together.
pub(crate) const CHAINED_INSTANCES_PER_REQUEST: usize = 8;

/// One export of a component, as a trigger calls it.
pub(crate) trait GuestCall: Send + 'static {
    type Instance: Send + 'static;
    type Output: Send + 'static;

    /// Takes `&mut self` so that a call holding a body that is `Send` but
    /// not `Sync` still makes a `Send` future.
    fn instantiate<'a>(
        &'a mut self,
        store: &'a mut Store<HostState>,
    ) -> impl Future<Output = wasmtime::Result<Self::Instance>> + Send + 'a;

    fn call<'a>(
        self,
        instance: Self::Instance,
        store: &'a mut Store<HostState>,
    ) -> impl Future<Output = wasmtime::Result<Self::Output>> + Send + 'a;
}

/// Which budget a call is admitted under.
pub(crate) enum Admission {
    /// An HTTP request from outside.
    Request,
    /// A request from another instance (service chaining).
    Chained,
    /// An event delivery or a cron run; waits for a background slot up to
    /// `wait`, or until one frees when `None`.
    Background { wait: Option<Duration> },
}

/// Budgets are shared by every release of the app a process holds, so two
/// releases side by side never hold more instances than the pool has slots.
pub(crate) struct Capacity {
    requests: Arc<Semaphore>,
    chained: Arc<Semaphore>,
    background: Arc<Semaphore>,
    /// Per component, from `[component.NAME.tool.folio] max_concurrency`
    /// (with that size, so a release that keeps it keeps the semaphore).
    bulkheads: HashMap<String, (usize, Arc<Semaphore>)>,
}

/// The slots an instance holds until it ends.
pub(crate) struct Permits(#[allow(dead_code)] Vec<OwnedSemaphorePermit>);

impl Capacity {
    pub(crate) fn new(limits: &Limits, app: &App) -> Capacity {
        Capacity {
            requests: Arc::new(Semaphore::new(limits.max_concurrent_instances)),
            chained: Arc::new(Semaphore::new(Self::chained_reserve(limits))),
            background: Arc::new(Semaphore::new(limits.max_background_instances)),
            bulkheads: HashMap::new(),
        }
        .for_release(app)
    }

    /// The same budgets, with `app`'s bulkheads (a component's kept when
    /// its size is unchanged).
    pub(crate) fn for_release(&self, app: &App) -> Capacity {
        let bulkheads = app
            .components
            .values()
            .filter_map(|c| {
                let size = c.max_concurrency?;
                let semaphore = match self.bulkheads.get(&c.id) {
                    Some((kept, semaphore)) if *kept == size => semaphore.clone(),
                    _ => Arc::new(Semaphore::new(size)),
                };
                Some((c.id.clone(), (size, semaphore)))
            })
            .collect();
        Capacity {
            requests: self.requests.clone(),
            chained: self.chained.clone(),
            background: self.background.clone(),
            bulkheads,
        }
    }

    /// Chained calls may hold as many instances as their callers' budgets.
    fn chained_reserve(limits: &Limits) -> usize {
        limits.max_concurrent_instances + limits.max_background_instances
    }

    /// Pool slots every budget together can hold.
    pub(crate) fn pool_slots(limits: &Limits) -> u32 {
        let total = limits.max_concurrent_instances
            + limits.max_background_instances
            + Self::chained_reserve(limits);
        u32::try_from(total).unwrap_or(u32::MAX / 8)
    }

    async fn admit(
        &self,
        component: &str,
        admission: &Admission,
        caller: &CallerContext,
    ) -> Result<Permits, Failure> {
        match admission {
            Admission::Request => {
                let until = Instant::now() + SLOT_WAIT;
                let mut permits = Vec::with_capacity(2);
                if let Some((_, bulkhead)) = self.bulkheads.get(component) {
                    permits.push(
                        acquire_until(bulkhead, until)
                            .await
                            .ok_or(Failure::ComponentBusy)?,
                    );
                }
                permits.push(
                    acquire_until(&self.requests, until)
                        .await
                        .ok_or(Failure::Overloaded)?,
                );
                Ok(Permits(permits))
            }
            Admission::Chained => {
                let mut permits = Vec::with_capacity(3);
                if let Some((_, bulkhead)) = self.bulkheads.get(component) {
                    permits.push(
                        bulkhead
                            .clone()
                            .try_acquire_owned()
                            .map_err(|_| Failure::ComponentBusy)?,
                    );
                }
                permits.push(
                    caller
                        .chain_budget
                        .clone()
                        .try_acquire_owned()
                        .map_err(|_| Failure::ChainLimit)?,
                );
                permits.push(
                    self.chained
                        .clone()
                        .try_acquire_owned()
                        .map_err(|_| Failure::Overloaded)?,
                );
                Ok(Permits(permits))
            }
            Admission::Background { wait } => {
                let slot = match wait {
                    Some(wait) => acquire_until(&self.background, Instant::now() + *wait).await,
                    None => self.background.clone().acquire_owned().await.ok(),
                };
                Ok(Permits(vec![slot.ok_or(Failure::Overloaded)?]))
            }
        }
    }
}

async fn acquire_until(semaphore: &Arc<Semaphore>, until: Instant) -> Option<OwnedSemaphorePermit> {
    let wait = until.saturating_duration_since(Instant::now());
    match tokio::time::timeout(wait, semaphore.clone().acquire_owned()).await {
        Ok(Ok(permit)) => Some(permit),
        _ => None,
    }
}

/// An instance running on its own task. Dropping this does not stop it;
/// `abort` does.
pub(crate) struct RunningInstance<T> {
    task: JoinHandle<Result<T, Failure>>,
}

impl<T> RunningInstance<T> {
    /// Waits for the instance to end: the export's result or why it failed.
    pub(crate) async fn finish(self) -> Result<T, Failure> {
        match self.task.await {
            Ok(result) => result,
            Err(join) => Err(Failure::Internal(format!("instance task failed: {join}"))),
        }
    }

    pub(crate) fn abort(&self) {
        self.task.abort();
    }
}

impl AppRuntime {
    /// Admits `call` on `component` under `admission`, then runs it in a
    /// fresh instance with `deadline`, on a task of its own.
    pub(crate) async fn start_instance<C: GuestCall>(
        &self,
        component_id: &str,
        caller: CallerContext,
        admission: Admission,
        deadline: Duration,
        call: C,
    ) -> Result<RunningInstance<C::Output>, Failure> {
        let component = self
            .components
            .get(component_id)
            .cloned()
            .ok_or_else(|| Failure::Internal(format!("no component `{component_id}`")))?;
        let permits = self
            .capacity
            .admit(component_id, &admission, &caller)
            .await?;
        let mut store = self.new_store(&component, caller, deadline);
        let metrics = self.metrics.clone();
        let task = tokio::spawn(async move {
            let _permits = permits;
            let _in_flight = metrics.instance_started();
            let mut call = call;
            let run = async {
                let started = Instant::now();
                let instance = call.instantiate(&mut store).await?;
                metrics.observe_instantiation(&component.id, started.elapsed());
                call.call(instance, &mut store).await
            };
            // The epoch deadline stops guest code; this stops a guest blocked in a host call.
            match tokio::time::timeout(deadline + Duration::from_secs(1), run).await {
                Ok(Ok(output)) => Ok(output),
                Ok(Err(e)) => Err(classify_trap(e, store.data().memory.exceeded)),
                Err(_) => Err(Failure::Timeout),
            }
        });
        Ok(RunningInstance { task })
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
    // Admission keeps the pool from running out; if it ever does, say so plainly.
    if message.contains("maximum concurrent") {
        return Failure::Overloaded;
    }
    Failure::Trap(message.lines().next().unwrap_or("trap").to_string())
}
