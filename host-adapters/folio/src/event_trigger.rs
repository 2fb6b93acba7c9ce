//! `[[trigger.event]]`: consumes its topics in its consumer group and hands
//! every event to a fresh instance of the component (`handle` of
//! `folio:platform/event-handler`). Up to `concurrency` events are handled
//! at once, in lanes chosen by the event's key, so events with one key are
//! handled one after another, in log order. An offset is committed only
//! when the event and every event before it in its partition are handled
//! or dead-lettered.

use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use folio_events::{CloudEvent, Consumer, Delivery};
use futures_util::future::BoxFuture;
use rand::Rng;
use tokio::sync::{mpsc, watch};
use wasmtime::Store;

use crate::executor::{Admission, GuestCall};
use crate::manifest::{App, EventTrigger as EventTriggerDecl};
use crate::remote_delivery::Answer;
use crate::runtime::{AppRuntime, CallerContext, HostState, LoadedComponent};
use crate::telemetry::{Attribute, SpanKind};
use crate::trace::TraceContext;
use crate::trigger::Trigger;

mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "folio:platform/event-handler-export",
        exports: { default: async },
    });
}

use bindings::exports::folio::platform::event_handler::{Event, HandleError};

type EventHandlerPre = bindings::EventHandlerExportPre<HostState>;

/// Retry waits double from the trigger's `retry_backoff` up to this.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Events read ahead per lane, waiting for their turn.
const READ_AHEAD_PER_LANE: usize = 4;

pub(crate) struct EventTrigger {
    decl: EventTriggerDecl,
    pre: EventHandlerPre,
}

pub(crate) fn from_manifest(
    app: &App,
    components: &HashMap<String, Arc<LoadedComponent>>,
) -> anyhow::Result<Vec<Arc<dyn Trigger>>> {
    let mut triggers: Vec<Arc<dyn Trigger>> = Vec::new();
    for decl in &app.event_triggers {
        let component = &components[&decl.component];
        let pre = EventHandlerPre::new(component.instance_pre.clone())
            .map_err(anyhow::Error::from)
            .with_context(|| {
                format!(
                    "component `{}`: a [[trigger.event]] names it, but it does not export folio:platform/event-handler",
                    decl.component
                )
            })?;
        triggers.push(Arc::new(EventTrigger {
            decl: decl.clone(),
            pre,
        }));
    }
    Ok(triggers)
}

/// One try of one event.
struct HandleEvent {
    pre: EventHandlerPre,
    event: Event,
}

impl GuestCall for HandleEvent {
    type Instance = bindings::EventHandlerExport;
    type Output = Result<(), HandleError>;

    async fn instantiate(
        &mut self,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<bindings::EventHandlerExport> {
        self.pre.instantiate_async(store).await
    }

    async fn call(
        self,
        worker: bindings::EventHandlerExport,
        store: &mut Store<HostState>,
    ) -> wasmtime::Result<Result<(), HandleError>> {
        worker
            .folio_platform_event_handler()
            .call_handle(store, &self.event)
            .await
    }
}

/// What became of one try of one event.
enum Outcome {
    Handled,
    Retry(String),
    Reject(String),
}

impl Trigger for EventTrigger {
    fn run(
        self: Arc<Self>,
        runtime: Arc<AppRuntime>,
        stop: watch::Receiver<bool>,
    ) -> BoxFuture<'static, ()> {
        Box::pin(consume(runtime, self, stop))
    }
}

async fn consume(
    runtime: Arc<AppRuntime>,
    trigger: Arc<EventTrigger>,
    mut stop: watch::Receiver<bool>,
) {
    let decl = &trigger.decl;
    let mut consumer: Consumer = loop {
        match runtime
            .event_log()
            .subscribe(&decl.group, &decl.topics)
            .await
        {
            Ok(c) => break c,
            Err(e) => {
                tracing::warn!(component = %decl.component, error = %e, "event trigger cannot subscribe; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.changed() => return,
                }
            }
        }
    };
    tracing::info!(component = %decl.component, group = %decl.group, topics = ?decl.topics,
        concurrency = decl.concurrency, "event trigger consuming");

    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(u64, bool)>();
    let lanes: Vec<mpsc::UnboundedSender<(u64, CloudEvent)>> = (0..decl.concurrency)
        .map(|_| {
            let (tx, mut rx) = mpsc::unbounded_channel::<(u64, CloudEvent)>();
            let (runtime, trigger, done, mut stop) = (
                runtime.clone(),
                trigger.clone(),
                done_tx.clone(),
                stop.clone(),
            );
            tokio::spawn(async move {
                while let Some((ticket, event)) = rx.recv().await {
                    if let Some(waited) = event.age() {
                        runtime.metrics.observe_event_start(
                            &trigger.decl.component,
                            &trigger.decl.group,
                            waited,
                        );
                    }
                    let finished = deliver(&runtime, &trigger, &event, &mut stop).await;
                    if done.send((ticket, finished)).is_err() || !finished {
                        return;
                    }
                }
            });
            tx
        })
        .collect();
    drop(done_tx);

    let mut pending = PendingCommits::<Delivery>::default();
    let read_ahead = decl.concurrency * READ_AHEAD_PER_LANE;
    let mut next_ticket = 0u64;
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            Some((ticket, finished)) = done_rx.recv() => {
                if !finished {
                    break;
                }
                if let Some(delivery) = pending.finish(ticket)
                    && let Err(e) = consumer.commit(&delivery).await
                {
                    tracing::warn!(component = %decl.component, error = %e, "cannot commit the event's offset; it may be delivered again");
                }
            }
            delivery = consumer.next(), if pending.len() < read_ahead => {
                let delivery = match delivery {
                    Ok(d) => d,
                    Err(e) => {
                        tracing::warn!(component = %decl.component, error = %e, "event trigger cannot read events; retrying");
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_millis(500)) => continue,
                            _ = stop.changed() => break,
                        }
                    }
                };
                let ticket = next_ticket;
                next_ticket += 1;
                let lane = lane_of(&delivery.event, lanes.len());
                let event = delivery.event.clone();
                pending.push(ticket, delivery.stream(), delivery);
                if lanes[lane].send((ticket, event)).is_err() {
                    break;
                }
            }
        }
    }
    // Lanes finish the event in hand (they see `stop`); commit what completed.
    drop(lanes);
    while let Some((ticket, finished)) = done_rx.recv().await {
        if finished && let Some(delivery) = pending.finish(ticket) {
            let _ = consumer.commit(&delivery).await;
        }
    }
    if let Err(e) = consumer.flush().await {
        tracing::warn!(component = %decl.component, error = %e, "cannot commit offsets on shutdown");
    }
}

/// Events with the same key share a lane; keyless events spread by id.
fn lane_of(event: &CloudEvent, lanes: usize) -> usize {
    if lanes == 1 {
        return 0;
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    event.topic.hash(&mut hasher);
    match event.key.is_empty() {
        true => event.id.hash(&mut hasher),
        false => event.key.hash(&mut hasher),
    }
    (hasher.finish() % lanes as u64) as usize
}

/// Deliveries handed to lanes and not yet committed, in log order per
/// stream (a topic or a partition): a delivery is committed once it and
/// every earlier one of its stream are finished.
struct PendingCommits<T> {
    streams: HashMap<String, VecDeque<(u64, T, bool)>>,
    stream_of: HashMap<u64, String>,
}

impl<T> Default for PendingCommits<T> {
    fn default() -> Self {
        PendingCommits {
            streams: HashMap::new(),
            stream_of: HashMap::new(),
        }
    }
}

impl<T> PendingCommits<T> {
    fn len(&self) -> usize {
        self.stream_of.len()
    }

    fn push(&mut self, ticket: u64, stream: String, item: T) {
        self.stream_of.insert(ticket, stream.clone());
        self.streams
            .entry(stream)
            .or_default()
            .push_back((ticket, item, false));
    }

    /// Marks `ticket` finished; returns the item to commit when the
    /// finished prefix of its stream grew.
    fn finish(&mut self, ticket: u64) -> Option<T> {
        let stream = self.stream_of.get(&ticket)?.clone();
        let queue = self.streams.get_mut(&stream)?;
        if let Some(entry) = queue.iter_mut().find(|(t, _, _)| *t == ticket) {
            entry.2 = true;
        }
        let mut last = None;
        while queue.front().is_some_and(|(_, _, finished)| *finished) {
            let (ticket, item, _) = queue.pop_front().expect("front exists");
            self.stream_of.remove(&ticket);
            last = Some(item);
        }
        if queue.is_empty() {
            self.streams.remove(&stream);
        }
        last
    }
}

/// Tries `event` until it is handled or dead-lettered; false if stopped first.
async fn deliver(
    runtime: &AppRuntime,
    trigger: &EventTrigger,
    event: &CloudEvent,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let decl = &trigger.decl;
    let component = &decl.component;
    let mut attempt = 1;
    loop {
        let error = match handle(runtime, trigger, event, attempt, stop).await {
            None => return false,
            Some(Outcome::Handled) => {
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
            Some(Outcome::Retry(e)) if attempt < decl.max_attempts => {
                runtime
                    .metrics
                    .observe_event(component, &event.topic, "retried");
                tracing::info!(component = %component, eventId = %event.id, attempt, error = %e, "event handler failed; will retry");
                tokio::select! {
                    _ = tokio::time::sleep(backoff(decl.retry_backoff, attempt)) => {}
                    _ = stop.changed() => return false,
                }
                attempt += 1;
                continue;
            }
            Some(Outcome::Retry(e) | Outcome::Reject(e)) => e,
        };
        return dead_letter(runtime, decl, event, &error, attempt, stop).await;
    }
}

/// One try of `event` in a fresh instance; `None` if stopped while waiting
/// for a background slot (waiting is not a try).
async fn handle(
    runtime: &AppRuntime,
    trigger: &EventTrigger,
    event: &CloudEvent,
    attempt: u32,
    stop: &mut watch::Receiver<bool>,
) -> Option<Outcome> {
    let decl = &trigger.decl;
    let trace = TraceContext::from_header(event.extensions.get("traceparent").map(String::as_str));
    let began = std::time::Instant::now();
    let deadline = decl.timeout.unwrap_or(runtime.limits.request_timeout);
    let outcome = match runtime.remote_delivery.get() {
        Some(remote) => {
            match remote
                .event(&decl.component, event, attempt, deadline)
                .await
            {
                Answer::Done => Outcome::Handled,
                Answer::Rejected(why) => Outcome::Reject(why),
                Answer::Failed(why) => Outcome::Retry(why),
            }
        }
        None => handle_locally(runtime, trigger, event, attempt, &trace, deadline, stop).await?,
    };
    crate::telemetry::finished(
        &trace,
        || format!("{} process", event.topic),
        SpanKind::Consumer,
        began.elapsed(),
        || {
            vec![
                ("messaging.system", Attribute::Text("folio".into())),
                (
                    "messaging.destination.name",
                    Attribute::Text(event.topic.clone()),
                ),
                ("messaging.message.id", Attribute::Text(event.id.clone())),
                (
                    "messaging.consumer.group.name",
                    Attribute::Text(decl.group.clone()),
                ),
                (
                    "cloudevents.event_type",
                    Attribute::Text(event.event_type.clone()),
                ),
                ("folio.component", Attribute::Text(decl.component.clone())),
                ("folio.attempt", Attribute::Int(attempt.into())),
            ]
        },
        match &outcome {
            Outcome::Handled => None,
            Outcome::Retry(m) | Outcome::Reject(m) => Some(m.chars().take(512).collect()),
        },
    );
    Some(outcome)
}

/// One try of `event` in a fresh local instance; `None` if stopped while
/// waiting for a background slot.
async fn handle_locally(
    runtime: &AppRuntime,
    trigger: &EventTrigger,
    event: &CloudEvent,
    attempt: u32,
    trace: &TraceContext,
    deadline: Duration,
    stop: &mut watch::Receiver<bool>,
) -> Option<Outcome> {
    let decl = &trigger.decl;
    let caller = CallerContext::new(&decl.component, &event.id, trace.clone(), "");
    let call = HandleEvent {
        pre: trigger.pre.clone(),
        event: Event {
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
        },
    };
    let admission = Admission::Background { wait: None };
    let started = tokio::select! {
        started = runtime.start_instance(&decl.component, caller, admission, deadline, call) => started,
        _ = stop.changed() => return None,
    };
    let outcome = match started {
        Ok(instance) => instance.finish().await,
        Err(failure) => Err(failure),
    };
    let outcome = match outcome {
        Ok(Ok(())) => Outcome::Handled,
        Ok(Err(HandleError::Retry(m))) => Outcome::Retry(m),
        Ok(Err(HandleError::Reject(m))) => Outcome::Reject(m),
        Err(failure) => Outcome::Retry(format!("{}: {}", failure.kind(), failure.log_detail())),
    };
    Some(outcome)
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
    decl: &EventTriggerDecl,
    event: &CloudEvent,
    error: &str,
    attempts: u32,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let mut dead = event.clone();
    dead.topic = decl
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
        match runtime
            .event_log()
            .append(std::slice::from_ref(&dead))
            .await
        {
            Ok(()) => {
                runtime
                    .metrics
                    .observe_event(&decl.component, &event.topic, "dead_lettered");
                tracing::warn!(component = %decl.component, eventId = %event.id, attempts, error, deadLetterTopic = %dead.topic, "event dead-lettered");
                return true;
            }
            Err(e) => {
                tracing::warn!(component = %decl.component, error = %e, "cannot dead-letter the event; retrying");
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

    fn event(key: &str, id: &str) -> CloudEvent {
        CloudEvent {
            id: id.into(),
            source: "/t".into(),
            event_type: "t".into(),
            subject: None,
            time: String::new(),
            datacontenttype: "application/json".into(),
            data: Vec::new(),
            topic: "t".into(),
            key: key.into(),
            extensions: Default::default(),
        }
    }

    #[test]
    fn an_offset_is_committed_only_after_every_earlier_event_of_its_stream() {
        let mut pending = PendingCommits::default();
        for (ticket, stream) in [(0, "a"), (1, "a"), (2, "b"), (3, "a")] {
            pending.push(ticket, stream.to_string(), ticket);
        }
        assert_eq!(pending.finish(1), None, "0 is still running");
        assert_eq!(pending.finish(2), Some(2), "b has nothing before it");
        assert_eq!(pending.finish(0), Some(1), "0 and 1 are done");
        assert_eq!(pending.len(), 1);
        assert_eq!(pending.finish(3), Some(3));
        assert_eq!(pending.len(), 0);
        assert_eq!(pending.finish(3), None);
    }

    #[test]
    fn one_key_always_takes_one_lane_and_keys_spread() {
        let lane = lane_of(&event("user-7", "a"), 8);
        for id in ["b", "c", "d"] {
            assert_eq!(lane_of(&event("user-7", id), 8), lane);
        }
        let used: std::collections::HashSet<usize> = (0..64)
            .map(|i| lane_of(&event(&format!("k{i}"), "x"), 8))
            .collect();
        assert!(used.len() >= 6, "{used:?}");
        assert_eq!(lane_of(&event("k", "x"), 1), 0);
    }
}
