//! Time-triggered components: each `[[trigger.cron]]` is a background task
//! that sleeps until the schedule's next fire time and then calls the
//! component's `handle-cron-event` export (Spin's cron trigger plugin's
//! interface, `fermyon:spin-cron@2.0.0`) in a fresh instance. A run that is
//! still going when the next fire time comes makes the task skip that tick:
//! runs of one trigger never overlap. The trigger keeps no state: a schedule
//! starts over from the clock when the host starts, so what must survive a
//! restart (what is due, what was done) belongs in the component's database.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::manifest::CronTrigger;
use crate::problem::Failure;
use crate::runtime::{AppRuntime, CallerContext, HostState, classify_trap};
use crate::trace::{TraceContext, random_hex};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "fermyon:spin-cron/spin-cron@2.0.0",
        exports: { default: async },
    });
}

use bindings::fermyon::spin_cron::cron_types::{Error as CronError, Metadata};

pub type CronHandlerPre = bindings::SpinCronPre<HostState>;

/// The export a component named by a `[[trigger.cron]]` must have.
pub const EXPORT: &str = "handle-cron-event (fermyon:spin-cron@2.0.0, Spin's cron trigger)";

/// Sleeps are cut into pieces of at most this, so a wall clock that moved
/// (NTP, a suspended VM) is noticed instead of sleeping on a stale plan.
const MAX_SLEEP: Duration = Duration::from_secs(60);
/// Ticks counted as skipped after a long run, at most (an every-second
/// schedule behind a run stuck until its deadline skips about 31).
const MAX_SKIPPED_COUNTED: usize = 10_000;

/// What became of one run.
enum Outcome {
    Ok,
    /// The handler returned `error::other(message)`.
    Error(String),
    /// A trap, the deadline, the memory cap, no free instance slot.
    Failed(Failure),
}

impl Outcome {
    /// The `outcome` label of logs and metrics: `ok`, `error`, or the
    /// failure's kind (`guest-trap`, `deadline-exceeded`, `memory-limit`,
    /// `overloaded`, ...).
    fn label(&self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error(_) => "error",
            Outcome::Failed(failure) => failure.kind(),
        }
    }
}

impl AppRuntime {
    /// Runs `component`'s cron handler once, in a fresh instance.
    async fn run_cron(
        &self,
        component_id: &str,
        timestamp: u64,
        request_id: &str,
        trace: &TraceContext,
    ) -> Outcome {
        let Some(component) = self.components.get(component_id) else {
            return Outcome::Failed(Failure::Internal(format!("no component `{component_id}`")));
        };
        let Some(pre) = component.cron.clone() else {
            return Outcome::Failed(Failure::Internal(format!(
                "component `{component_id}` is not a cron component"
            )));
        };
        let _permit = match self.acquire_slot().await {
            Ok(permit) => permit,
            Err(failure) => return Outcome::Failed(failure),
        };
        let caller = CallerContext {
            component: component_id.to_string(),
            request_id: request_id.to_string(),
            trace: trace.clone(),
            chain_depth: 0,
            client_addr: String::new(),
        };
        let mut store = self.new_store(component, caller, self.limits.request_timeout);
        let _in_flight = self.metrics.instance_started();
        let run = async {
            let started = Instant::now();
            let instance = pre.instantiate_async(&mut store).await?;
            self.metrics
                .observe_instantiation(component_id, started.elapsed());
            instance
                .call_handle_cron_event(&mut store, Metadata { timestamp })
                .await
        };
        let deadline = self.limits.request_timeout + Duration::from_secs(1);
        match tokio::time::timeout(deadline, run).await {
            Ok(Ok(Ok(()))) => Outcome::Ok,
            Ok(Ok(Err(CronError::Other(message)))) => Outcome::Error(message),
            Ok(Err(trap)) => Outcome::Failed(classify_trap(trap, store.data().memory.exceeded)),
            Err(_) => Outcome::Failed(Failure::Timeout),
        }
    }
}

/// One `[[trigger.cron]]`: wait for the next fire time, run, repeat, until stopped.
pub(crate) async fn run_schedule(
    runtime: Arc<AppRuntime>,
    trigger: CronTrigger,
    mut stop: watch::Receiver<bool>,
) {
    let component = trigger.component.as_str();
    let expression = trigger.cron_expression.as_str();
    tracing::info!(
        component,
        cronExpression = expression,
        "cron trigger scheduled"
    );
    let mut after = Utc::now();
    loop {
        let Some(fire_at) = trigger.schedule.after(&after).next() else {
            tracing::info!(
                component,
                cronExpression = expression,
                "cron trigger has no further fire times; it stops"
            );
            return;
        };
        if !sleep_until(fire_at, &mut stop).await {
            return;
        }
        let request_id = random_hex(16);
        let trace = TraceContext::from_header(None);
        let timestamp = u64::try_from(fire_at.timestamp()).unwrap_or(0);
        let started = Instant::now();
        let outcome = runtime
            .run_cron(component, timestamp, &request_id, &trace)
            .await;
        let elapsed = started.elapsed();
        runtime
            .metrics
            .observe_cron_run(component, outcome.label(), elapsed);
        let duration_ms = elapsed.as_secs_f64() * 1000.0;
        let scheduled_at = fire_at.to_rfc3339();
        match &outcome {
            Outcome::Ok => tracing::info!(
                requestId = %request_id, traceId = %trace.trace_id, spanId = %trace.span_id,
                component, cronExpression = expression, scheduledAt = %scheduled_at,
                outcome = outcome.label(), durationMs = duration_ms,
                "cron run handled"
            ),
            Outcome::Error(message) => tracing::warn!(
                requestId = %request_id, traceId = %trace.trace_id, spanId = %trace.span_id,
                component, cronExpression = expression, scheduledAt = %scheduled_at,
                outcome = outcome.label(), error = %message, durationMs = duration_ms,
                "cron run failed"
            ),
            Outcome::Failed(Failure::Overloaded) => tracing::warn!(
                requestId = %request_id, traceId = %trace.trace_id, spanId = %trace.span_id,
                component, cronExpression = expression, scheduledAt = %scheduled_at,
                outcome = outcome.label(), durationMs = duration_ms,
                "cron run skipped: no instance slot came free"
            ),
            Outcome::Failed(failure) => tracing::error!(
                requestId = %request_id, traceId = %trace.trace_id, spanId = %trace.span_id,
                component, cronExpression = expression, scheduledAt = %scheduled_at,
                outcome = outcome.label(), error = %failure.log_detail(), durationMs = duration_ms,
                "cron run failed"
            ),
        }
        // Fire times that passed while this run was going are skipped, not
        // made up for: the next run is the first one after now.
        let now = Utc::now();
        let skipped = trigger
            .schedule
            .after(&fire_at)
            .take(MAX_SKIPPED_COUNTED)
            .take_while(|t| *t <= now)
            .count();
        if skipped > 0 {
            runtime
                .metrics
                .observe_cron_skipped(component, skipped as u64);
            tracing::info!(
                component,
                cronExpression = expression,
                skipped,
                "cron ticks skipped: the previous run was still going"
            );
        }
        after = now.max(fire_at);
        if *stop.borrow() {
            return;
        }
    }
}

/// Sleeps until the wall clock reaches `at`; false if told to stop first.
async fn sleep_until(at: DateTime<Utc>, stop: &mut watch::Receiver<bool>) -> bool {
    loop {
        if *stop.borrow() {
            return false;
        }
        let Ok(left) = (at - Utc::now()).to_std() else {
            return true;
        };
        if left.is_zero() {
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep(left.min(MAX_SLEEP)) => {}
            _ = stop.changed() => return false,
        }
    }
}
