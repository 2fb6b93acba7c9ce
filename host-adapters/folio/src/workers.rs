//! Queue-triggered workers and the outbox relays: the host's background
//! work. Each `[[trigger.event]]` consumes its topics in its consumer group
//! and hands every event to a fresh instance of the worker component; the
//! offset is committed only after the handler succeeded, or after the event
//! went to the dead-letter topic.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use folio_events::{CloudEvent, Consumer};
use rand::Rng;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::manifest::EventTrigger;
use crate::runtime::{AppRuntime, CallerContext, HostState, classify_trap};
use crate::trace::TraceContext;

mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "folio:platform/event-handler-export",
        exports: { default: async },
    });
}

use bindings::exports::folio::platform::event_handler::{Event, HandleError};

pub type EventHandlerPre = bindings::EventHandlerExportPre<HostState>;

/// Retry waits double from the trigger's `retry_backoff` up to this.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long shutdown waits for workers to finish the event in hand.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The host's background tasks, stopped together on shutdown.
pub struct Background {
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Default for Background {
    fn default() -> Self {
        Background {
            stop: watch::Sender::new(false),
            tasks: Mutex::default(),
        }
    }
}

/// What became of one try of one event.
enum Outcome {
    Handled,
    Retry(String),
    Reject(String),
}

impl AppRuntime {
    /// Starts a relay per component database, a consumer per event trigger
    /// and a schedule per cron trigger.
    pub fn start_background(self: &Arc<Self>) {
        let mut tasks = self.background.tasks.lock().unwrap();
        for (id, component) in &self.components {
            for (name, database) in component.sql_databases().iter() {
                let label = format!("{id}/{name}");
                let stats = self.metrics.relay_stats(&label);
                tasks.push(tokio::spawn(folio_events::relay::run(
                    label,
                    database.clone(),
                    self.event_log.clone(),
                    stats,
                    self.background.stop.subscribe(),
                )));
            }
        }
        for trigger in &self.event_triggers {
            tasks.push(tokio::spawn(run_worker(
                self.clone(),
                trigger.clone(),
                self.background.stop.subscribe(),
            )));
        }
        for trigger in &self.cron_triggers {
            tasks.push(tokio::spawn(crate::cron_trigger::run_schedule(
                self.clone(),
                trigger.clone(),
                self.background.stop.subscribe(),
            )));
        }
    }

    /// Lets relays finish their batch, workers their event and cron triggers
    /// their run, then stops them.
    pub async fn stop_background(&self) {
        self.background.stop.send_replace(true);
        let tasks = std::mem::take(&mut *self.background.tasks.lock().unwrap());
        for task in tasks {
            let abort = task.abort_handle();
            if tokio::time::timeout(STOP_TIMEOUT, task).await.is_err() {
                abort.abort();
            }
        }
    }

    /// Runs one try of `event` in a fresh instance of worker `component`,
    /// with `timeout` as its deadline.
    async fn handle_event(
        &self,
        component_id: &str,
        event: &CloudEvent,
        attempt: u32,
        timeout: Duration,
    ) -> Outcome {
        let Some(component) = self.components.get(component_id) else {
            return Outcome::Reject(format!("no component `{component_id}`"));
        };
        let Some(pre) = component.worker.clone() else {
            return Outcome::Reject(format!("component `{component_id}` is not a worker"));
        };
        let Ok(_permit) = self.acquire_slot().await else {
            return Outcome::Retry("no instance slot was free".into());
        };
        let caller = CallerContext {
            component: component_id.to_string(),
            request_id: event.id.clone(),
            trace: TraceContext::from_header(
                event.extensions.get("traceparent").map(String::as_str),
            ),
            chain_depth: 0,
            client_addr: String::new(),
        };
        let mut store = self.new_store(component, caller, timeout);

        let wit_event = Event {
            id: event.id.clone(),
            source: event.source.clone(),
            type_: event.event_type.clone(),
            subject: event.subject.clone(),
            time: event.time.clone(),
            datacontenttype: event.datacontenttype.clone(),
            data: event.data.clone(),
            topic: event.topic.clone(),
            attempt,
            extensions: event
                .extensions
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        };
        let _in_flight = self.metrics.instance_started();
        let run = async {
            let started = Instant::now();
            let worker = pre.instantiate_async(&mut store).await?;
            self.metrics
                .observe_instantiation(component_id, started.elapsed());
            worker
                .folio_platform_event_handler()
                .call_handle(&mut store, &wit_event)
                .await
        };
        let deadline = timeout + Duration::from_secs(1);
        match tokio::time::timeout(deadline, run).await {
            Ok(Ok(Ok(()))) => Outcome::Handled,
            Ok(Ok(Err(HandleError::Retry(m)))) => Outcome::Retry(m),
            Ok(Ok(Err(HandleError::Reject(m)))) => Outcome::Reject(m),
            Ok(Err(trap)) => {
                let failure = classify_trap(trap, store.data().memory.exceeded);
                Outcome::Retry(format!("{}: {failure:?}", failure.kind()))
            }
            Err(_) => Outcome::Retry("deadline-exceeded".into()),
        }
    }
}

async fn run_worker(
    runtime: Arc<AppRuntime>,
    trigger: EventTrigger,
    mut stop: watch::Receiver<bool>,
) {
    let mut consumer: Consumer = loop {
        match runtime
            .event_log
            .subscribe(&trigger.group, &trigger.topics)
            .await
        {
            Ok(c) => break c,
            Err(e) => {
                tracing::warn!(component = %trigger.component, error = %e, "worker cannot subscribe; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.changed() => return,
                }
            }
        }
    };
    tracing::info!(component = %trigger.component, group = %trigger.group, topics = ?trigger.topics, "worker consuming");
    loop {
        let delivery = tokio::select! {
            d = consumer.next() => d,
            _ = stop.changed() => break,
        };
        let delivery = match delivery {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(component = %trigger.component, error = %e, "worker cannot read events; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(500)) => continue,
                    _ = stop.changed() => break,
                }
            }
        };
        if !deliver(&runtime, &trigger, &delivery.event, &mut stop).await {
            break;
        }
        if let Err(e) = consumer.commit(&delivery).await {
            tracing::warn!(component = %trigger.component, error = %e, "cannot commit the event's offset; it may be delivered again");
        }
    }
    if let Err(e) = consumer.flush().await {
        tracing::warn!(component = %trigger.component, error = %e, "cannot commit offsets on shutdown");
    }
}

/// Tries `event` until it is handled or dead-lettered; false if stopped first.
async fn deliver(
    runtime: &AppRuntime,
    trigger: &EventTrigger,
    event: &CloudEvent,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let component = &trigger.component;
    let timeout = trigger.timeout.unwrap_or(runtime.limits.request_timeout);
    let mut attempt = 1;
    loop {
        let error = match runtime
            .handle_event(component, event, attempt, timeout)
            .await
        {
            Outcome::Handled => {
                runtime
                    .metrics
                    .observe_event(component, &event.topic, "handled");
                if let Some(age) = event.age() {
                    runtime
                        .metrics
                        .observe_delivery(component, &event.topic, age);
                }
                return true;
            }
            Outcome::Retry(e) if attempt < trigger.max_attempts => {
                runtime
                    .metrics
                    .observe_event(component, &event.topic, "retried");
                tracing::info!(component = %component, eventId = %event.id, attempt, error = %e, "event handler failed; will retry");
                tokio::select! {
                    _ = tokio::time::sleep(backoff(trigger.retry_backoff, attempt)) => {}
                    _ = stop.changed() => return false,
                }
                attempt += 1;
                continue;
            }
            Outcome::Retry(e) | Outcome::Reject(e) => e,
        };
        return dead_letter(runtime, trigger, event, &error, attempt, stop).await;
    }
}

/// Exponential backoff with "equal jitter": half fixed, half random.
fn backoff(base: Duration, attempt: u32) -> Duration {
    let full = base
        .saturating_mul(1 << (attempt - 1).min(16))
        .min(MAX_BACKOFF);
    let half = full / 2;
    half + half.mul_f64(rand::rng().random::<f64>())
}

async fn dead_letter(
    runtime: &AppRuntime,
    trigger: &EventTrigger,
    event: &CloudEvent,
    error: &str,
    attempts: u32,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let mut dead = event.clone();
    dead.topic = trigger
        .dead_letter_topic
        .clone()
        .unwrap_or_else(|| format!("{}.dlq", event.topic));
    dead.extensions
        .insert("folioerror".into(), error.chars().take(1024).collect());
    dead.extensions
        .insert("foliotopic".into(), event.topic.clone());
    dead.extensions
        .insert("folioattempts".into(), attempts.to_string());
    loop {
        match runtime.event_log.append(std::slice::from_ref(&dead)).await {
            Ok(()) => {
                runtime
                    .metrics
                    .observe_event(&trigger.component, &event.topic, "dead_lettered");
                tracing::warn!(component = %trigger.component, eventId = %event.id, attempts, error, deadLetterTopic = %dead.topic, "event dead-lettered");
                return true;
            }
            Err(e) => {
                tracing::warn!(component = %trigger.component, error = %e, "cannot dead-letter the event; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.changed() => return false,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_within_jitter_and_is_capped() {
        let base = Duration::from_millis(100);
        for attempt in 1..=4 {
            let full = base * (1 << (attempt - 1));
            let wait = backoff(base, attempt);
            assert!(
                wait >= full / 2 && wait <= full,
                "attempt {attempt}: {wait:?}"
            );
        }
        assert!(backoff(base, 40) <= MAX_BACKOFF);
    }
}
