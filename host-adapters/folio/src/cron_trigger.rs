//! Time-triggered components: each `[[trigger.cron]]` is a background task
//! that sleeps until the schedule's next fire time and then calls the
//! component's `handle-cron-event` export (Spin's cron trigger plugin's
//! interface, `fermyon:spin-cron@2.0.0`) in a fresh instance. A run that is
//! still going when the next fire time comes makes the task skip that tick:
//! runs of one trigger never overlap. The trigger keeps no state: a schedule
//! starts over from the clock when the host starts, so what must survive a
//! restart (what is due, what was done) belongs in the component's database.
//! Hosts sharing that database (a cluster) claim each fire time in it first,
//! so every tick runs on one host of the cluster.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use tokio::sync::watch;
use wasmtime::Store;

use crate::executor::{Admission, GuestCall};
use crate::manifest::{App, CronTrigger as CronTriggerDecl};
use crate::problem::Failure;
use crate::remote_delivery::Answer;
use crate::runtime::{AppRuntime, CallerContext, HostState, LoadedComponent};
use crate::telemetry::{Attribute, SpanKind};
use crate::trace::{TraceContext, random_hex};
use crate::trigger::Trigger;

mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "fermyon:spin-cron/spin-cron@2.0.0",
        exports: { default: async },
    });
}

use bindings::fermyon::spin_cron::cron_types::{Error as CronError, Metadata};

type CronHandlerPre = bindings::SpinCronPre<HostState>;

/// Sleeps are cut into pieces of at most this, so a wall clock that moved
/// (NTP, a suspended VM) is noticed instead of sleeping on a stale plan.
const MAX_SLEEP: Duration = Duration::from_secs(60);
/// Ticks counted as skipped after a long run, at most (an every-second
/// schedule behind a run stuck until its deadline skips about 31).
const MAX_SKIPPED_COUNTED: usize = 10_000;
/// How long a run waits for a background slot before the tick is skipped.
const SLOT_WAIT: Duration = Duration::from_secs(2);

pub(crate) struct CronTrigger {
    decl: CronTriggerDecl,
    pre: CronHandlerPre,
    /// What this trigger's fire times are claimed under in the component's
    /// database: its place in the manifest and its expression.
    schedule_key: String,
}

pub(crate) fn from_manifest(
    app: &App,
    components: &HashMap<String, Arc<LoadedComponent>>,
) -> anyhow::Result<Vec<Arc<dyn Trigger>>> {
    let mut triggers: Vec<Arc<dyn Trigger>> = Vec::new();
    for (n, decl) in app.cron_triggers.iter().enumerate() {
        let component = &components[&decl.component];
        let pre = CronHandlerPre::new(component.instance_pre.clone())
            .map_err(anyhow::Error::from)
            .with_context(|| {
                format!(
                    "component `{}`: a [[trigger.cron]] names it, but it does not export \
                     handle-cron-event (fermyon:spin-cron@2.0.0, Spin's cron trigger)",
                    decl.component
                )
            })?;
        triggers.push(Arc::new(CronTrigger {
            decl: decl.clone(),
            pre,
            schedule_key: format!("{}#{n} {}", decl.component, decl.cron_expression),
        }));
    }
    Ok(triggers)
}

impl Trigger for CronTrigger {
    fn run(
        self: Arc<Self>,
        runtime: Arc<AppRuntime>,
        stop: watch::Receiver<bool>,
    ) -> BoxFuture<'static, ()> {
        Box::pin(run_schedule(runtime, self, stop))
    }
}

/// `handle-cron-event` with the fire time.
struct HandleCronEvent {
    pre: CronHandlerPre,
    timestamp: u64,
}

impl GuestCall for HandleCronEvent {
    type Instance = bindings::SpinCron;
    type Output = Result<(), CronError>;

    async fn instantiate(
        &mut self,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<bindings::SpinCron> {
        self.pre.instantiate_async(store).await
    }

    async fn call(
        self,
        instance: bindings::SpinCron,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<Result<(), CronError>> {
        instance
            .call_handle_cron_event(
                store,
                Metadata {
                    timestamp: self.timestamp,
                },
            )
            .await
    }
}

/// What became of one run.
enum Outcome {
    Ok,
    /// The handler returned `error::other(message)` (or, delivered to a
    /// Spin app, the delivery failed).
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

/// Runs the trigger's component once, in a fresh instance.
async fn run_once(
    runtime: &AppRuntime,
    trigger: &CronTrigger,
    timestamp: u64,
    request_id: &str,
    trace: &TraceContext,
) -> Outcome {
    let component = &trigger.decl.component;
    let deadline = runtime.limits.request_timeout;
    if let Some(remote) = runtime.remote_delivery.get() {
        return match remote.cron(component, timestamp, deadline).await {
            Answer::Done => Outcome::Ok,
            Answer::Rejected(why) | Answer::Failed(why) => Outcome::Error(why),
        };
    }
    let caller = CallerContext::new(component, request_id, trace.clone(), "");
    let call = HandleCronEvent {
        pre: trigger.pre.clone(),
        timestamp,
    };
    let admission = Admission::Background {
        wait: Some(SLOT_WAIT),
    };
    let result = match runtime
        .start_instance(component, caller, admission, deadline, call)
        .await
    {
        Ok(instance) => instance.finish().await,
        Err(failure) => Err(failure),
    };
    match result {
        Ok(Ok(())) => Outcome::Ok,
        Ok(Err(CronError::Other(message))) => Outcome::Error(message),
        Err(failure) => Outcome::Failed(failure),
    }
}

/// One `[[trigger.cron]]`: wait for the next fire time, run, repeat, until stopped.
async fn run_schedule(
    runtime: Arc<AppRuntime>,
    trigger: Arc<CronTrigger>,
    mut stop: watch::Receiver<bool>,
) {
    let component = trigger.decl.component.as_str();
    let expression = trigger.decl.cron_expression.as_str();
    tracing::info!(
        component,
        cronExpression = expression,
        "cron trigger scheduled"
    );
    let mut after = Utc::now();
    loop {
        let Some(fire_at) = trigger.decl.schedule.after(&after).next() else {
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
        let timestamp = u64::try_from(fire_at.timestamp()).unwrap_or(0);
        if !claim(&runtime, &trigger, fire_at).await {
            after = fire_at;
            continue;
        }
        let request_id = random_hex(16);
        let trace = TraceContext::from_header(None);
        let started = Instant::now();
        let outcome = run_once(&runtime, &trigger, timestamp, &request_id, &trace).await;
        let elapsed = started.elapsed();
        runtime
            .metrics
            .observe_cron_run(component, outcome.label(), elapsed);
        crate::telemetry::finished(
            &trace,
            || format!("cron {component}"),
            SpanKind::Internal,
            elapsed,
            || {
                vec![
                    ("folio.component", Attribute::Text(component.to_string())),
                    (
                        "folio.cron_expression",
                        Attribute::Text(expression.to_string()),
                    ),
                    ("folio.scheduled_at", Attribute::Text(fire_at.to_rfc3339())),
                ]
            },
            (!matches!(outcome, Outcome::Ok)).then(|| outcome.label().to_string()),
        );
        let duration_ms = elapsed.as_secs_f64() * 1000.0;
        let scheduled_at = fire_at.to_rfc3339();
        match &outcome {
            // Most runs of a frequent schedule find nothing to do: not news.
            Outcome::Ok => tracing::debug!(
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
            .decl
            .schedule
            .after(&fire_at)
            .take(MAX_SKIPPED_COUNTED)
            .take_while(|t| *t <= now)
            .count();
        if skipped > 0 {
            runtime
                .metrics
                .observe_cron_not_run(component, "skipped", skipped as u64);
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

/// Whether this host runs fire time `fire_at`: hosts sharing the
/// component's database (a cluster on Postgres) claim each fire time there,
/// so it runs once per cluster. A component without a database runs on
/// every host. When the database cannot be reached the run is skipped: the
/// other hosts may be running it, and it would most likely fail anyway.
async fn claim(runtime: &AppRuntime, trigger: &CronTrigger, fire_at: DateTime<Utc>) -> bool {
    let component = trigger.decl.component.as_str();
    let Some(db) = runtime.claims_database(component) else {
        return true;
    };
    let host = crate::manifest::host_id();
    match folio_sql::claim_tick(&db, &trigger.schedule_key, fire_at.timestamp(), &host).await {
        Ok(true) => true,
        Ok(false) => {
            runtime
                .metrics
                .observe_cron_not_run(component, "claimed-elsewhere", 1);
            tracing::debug!(
                component, cronExpression = %trigger.decl.cron_expression,
                scheduledAt = %fire_at.to_rfc3339(),
                "cron tick claimed by another host"
            );
            false
        }
        Err(e) => {
            runtime
                .metrics
                .observe_cron_not_run(component, "unclaimed", 1);
            tracing::warn!(
                component, cronExpression = %trigger.decl.cron_expression,
                scheduledAt = %fire_at.to_rfc3339(), error = %e,
                "cron run skipped: its fire time could not be claimed"
            );
            false
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
