//! Folio's events adapter: CloudEvents on an embedded durable log (the
//! default) or Kafka; the relay that moves each component's committed
//! outbox rows to the log; consumers for queue-triggered workers; and
//! `folio:platform/events` (publish outside a transaction) for guests.

mod embedded;
mod event;
mod kafka;
pub mod relay;
pub mod runtime_config;

use std::path::Path;

use wasmtime::component::{HasData, Linker};

pub use event::{CloudEvent, now_rfc3339};
pub use runtime_config::EventLogConfig;

pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "folio:platform/event-log",
        imports: { default: async | trappable },
        require_store_data_send: true,
    });
}

use bindings::folio::platform::events as wit;

#[derive(Debug, Clone, PartialEq)]
pub enum EventError {
    Invalid(String),
    TooLarge(String),
    Unavailable(String),
}

impl std::fmt::Display for EventError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EventError::Invalid(m) => write!(f, "invalid event: {m}"),
            EventError::TooLarge(m) => write!(f, "event too large: {m}"),
            EventError::Unavailable(m) => write!(f, "event log unavailable: {m}"),
        }
    }
}

impl std::error::Error for EventError {}

/// The app's event log.
#[derive(Clone)]
pub enum EventLog {
    Embedded(embedded::Log),
    Kafka(kafka::Log),
}

impl EventLog {
    /// The backend, as traces name it.
    pub fn system(&self) -> &'static str {
        match self {
            EventLog::Embedded(_) => "embedded-log",
            EventLog::Kafka(_) => "kafka",
        }
    }

    pub async fn open(config: &EventLogConfig, data_dir: &Path) -> anyhow::Result<EventLog> {
        Ok(match config {
            EventLogConfig::Embedded {
                path,
                retention_hours,
            } => {
                let path = path
                    .clone()
                    .unwrap_or_else(|| data_dir.join("events").join("log.db"));
                let log = embedded::Log::open(&path).await.map_err(|e| {
                    anyhow::anyhow!("embedded event log at {}: {e:#}", path.display())
                })?;
                let retention = std::time::Duration::from_secs(retention_hours * 3600);
                tokio::spawn(embedded::enforce_retention_forever(log.clone(), retention));
                EventLog::Embedded(log)
            }
            EventLogConfig::Kafka {
                brokers,
                partitions,
                replication,
            } => EventLog::Kafka(kafka::Log::open(brokers, *partitions, *replication)?),
        })
    }

    /// Appends `events`; when this returns Ok they are durable in the log.
    pub async fn append(&self, events: &[CloudEvent]) -> Result<(), EventError> {
        match self {
            EventLog::Embedded(log) => log.append(events).await,
            EventLog::Kafka(log) => log.append(events).await,
        }
    }

    /// Whether the log answers: the embedded file, or a Kafka broker.
    pub async fn check(&self) -> Result<(), EventError> {
        match self {
            EventLog::Embedded(log) => log.check().await,
            EventLog::Kafka(log) => log.check().await,
        }
    }

    /// Deletes embedded-log events published before `cutoff`; returns how
    /// many. Kafka enforces its own retention, so there it does nothing.
    pub async fn delete_before(
        &self,
        cutoff: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, EventError> {
        match self {
            EventLog::Embedded(log) => log.delete_before(cutoff).await,
            EventLog::Kafka(_) => Ok(0),
        }
    }

    /// A consumer in `group` for `topics`, starting after the group's last commit.
    pub async fn subscribe(&self, group: &str, topics: &[String]) -> Result<Consumer, EventError> {
        Ok(match self {
            EventLog::Embedded(log) => Consumer::Embedded(log.subscribe(group, topics).await?),
            EventLog::Kafka(log) => Consumer::Kafka(log.subscribe(group, topics).await?),
        })
    }
}

pub enum Consumer {
    Embedded(embedded::Consumer),
    Kafka(kafka::Consumer),
}

/// One event handed to a consumer, with where it sits in the log.
pub struct Delivery {
    pub event: CloudEvent,
    position: Position,
}

enum Position {
    Embedded(embedded::Position),
    Kafka(kafka::Position),
}

impl Delivery {
    /// The part of the log a commit covers in order (a topic, or a topic
    /// partition): a delivery may be committed only once every earlier
    /// delivery of its stream is handled.
    pub fn stream(&self) -> String {
        match &self.position {
            Position::Embedded(p) => p.stream().to_string(),
            Position::Kafka(p) => p.stream(),
        }
    }
}

impl Consumer {
    /// Waits for the next event of the subscribed topics.
    pub async fn next(&mut self) -> Result<Delivery, EventError> {
        Ok(match self {
            Consumer::Embedded(c) => {
                let (position, event) = c.next().await?;
                Delivery {
                    event,
                    position: Position::Embedded(position),
                }
            }
            Consumer::Kafka(c) => {
                let (position, event) = c.next().await?;
                Delivery {
                    event,
                    position: Position::Kafka(position),
                }
            }
        })
    }

    /// Records that `delivery` (and everything before it in its partition)
    /// was handled; it is not delivered to this group again.
    pub async fn commit(&mut self, delivery: &Delivery) -> Result<(), EventError> {
        match (self, &delivery.position) {
            (Consumer::Embedded(c), Position::Embedded(p)) => c.commit(p).await,
            (Consumer::Kafka(c), Position::Kafka(p)) => c.commit(p),
            _ => Err(EventError::Invalid("delivery from another log".into())),
        }
    }

    /// Makes every commit so far durable (on shutdown).
    pub async fn flush(&mut self) -> Result<(), EventError> {
        match self {
            Consumer::Embedded(c) => c.flush().await,
            Consumer::Kafka(c) => c.flush(),
        }
    }
}

/// The per-instance view the `events` bindings run against.
pub struct EventsView<'a> {
    pub log: &'a EventLog,
    /// The topics spin.toml lets this component publish to.
    pub publishes: &'a folio_sql::TopicGrants,
    /// CloudEvents `source` of what this component publishes.
    pub source: &'a str,
    /// W3C trace context of the publishing instance, carried as the
    /// `traceparent` extension (CloudEvents distributed tracing).
    pub traceparent: &'a str,
}

struct EventsData;

impl HasData for EventsData {
    type Data<'a> = EventsView<'a>;
}

pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> EventsView<'_>,
) -> anyhow::Result<()> {
    wit::add_to_linker::<T, EventsData>(linker, view)?;
    Ok(())
}

impl wit::Host for EventsView<'_> {
    async fn publish(
        &mut self,
        event: wit::OutgoingEvent,
    ) -> wasmtime::Result<Result<String, wit::Error>> {
        let event = folio_sql::OutboxEvent {
            topic: event.topic,
            event_type: event.type_,
            key: event.key,
            subject: event.subject,
            datacontenttype: event.datacontenttype,
            data: event.data,
        };
        if let Err(e) = folio_sql::check_event(&event) {
            return Ok(Err(match e {
                folio_sql::SqlError::TooLarge(m) => wit::Error::TooLarge(m),
                other => wit::Error::InvalidEvent(other.to_string()),
            }));
        }
        if !self.publishes.allows(&event.topic) {
            return Ok(Err(wit::Error::NotAllowed(
                folio_sql::TopicGrants::refusal(&event.topic),
            )));
        }
        let mut event = CloudEvent::new(self.source, event);
        event
            .extensions
            .insert("traceparent".into(), self.traceparent.to_string());
        let site = folio_observe::Site {
            traceparent: self.traceparent,
            capability: "events",
            system: self.log.system(),
            operation: "publish",
            target: Some(&event.topic),
            statement: None,
        };
        let appended =
            folio_observe::observed(site, self.log.append(std::slice::from_ref(&event))).await;
        Ok(match appended {
            Ok(()) => Ok(event.id),
            Err(EventError::TooLarge(m)) => Err(wit::Error::TooLarge(m)),
            Err(EventError::Invalid(m)) => Err(wit::Error::InvalidEvent(m)),
            Err(EventError::Unavailable(m)) => Err(wit::Error::Unavailable(m)),
        })
    }
}
