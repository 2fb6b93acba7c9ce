//! Kafka through librdkafka: an idempotent producer with `acks=all`, and
//! consumer groups that commit only offsets the host stored after a handler
//! succeeded. Events use the CloudEvents Kafka binary binding: the payload is
//! `data`, attributes travel as `ce_*` headers, `content-type` carries
//! `datacontenttype`.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer as _, StreamConsumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::{BorrowedMessage, Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use tokio::sync::Mutex;

use crate::{CloudEvent, EventError};

/// How long librdkafka keeps retrying one delivery before it reports failure;
/// the relay then retries the batch, so a long outage loses nothing.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct Log {
    brokers: String,
    /// Replaced when librdkafka reports a fatal error (an idempotent
    /// producer cannot continue after one, e.g. when the broker lost its state).
    producer: Arc<std::sync::RwLock<FutureProducer>>,
    admin: Arc<AdminClient<DefaultClientContext>>,
    partitions: i32,
    replication: i32,
    known_topics: Arc<Mutex<HashSet<String>>>,
}

impl Log {
    /// Whether a broker answers a metadata request within a few seconds.
    pub async fn check(&self) -> Result<(), EventError> {
        let producer = self.producer.read().unwrap().clone();
        tokio::task::spawn_blocking(move || {
            producer
                .client()
                .fetch_metadata(None, Duration::from_secs(3))
                .map(drop)
                .map_err(|e| EventError::Unavailable(format!("kafka: {e}")))
        })
        .await
        .map_err(|e| EventError::Unavailable(format!("kafka: {e}")))?
    }

    pub fn open(brokers: &str, partitions: i32, replication: i32) -> anyhow::Result<Log> {
        let producer = new_producer(brokers)?;
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .create()?;
        Ok(Log {
            brokers: brokers.to_string(),
            producer: Arc::new(std::sync::RwLock::new(producer)),
            admin: Arc::new(admin),
            partitions,
            replication,
            known_topics: Arc::default(),
        })
    }

    /// Creates the topics that do not exist yet (an existing one is left alone).
    pub async fn ensure_topics(&self, topics: &[String]) -> Result<(), EventError> {
        let mut known = self.known_topics.lock().await;
        let missing: Vec<&String> = topics.iter().filter(|t| !known.contains(*t)).collect();
        if missing.is_empty() {
            return Ok(());
        }
        let new_topics: Vec<NewTopic> = missing
            .iter()
            .map(|t| {
                NewTopic::new(
                    t,
                    self.partitions,
                    TopicReplication::Fixed(self.replication),
                )
            })
            .collect();
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        let results = self
            .admin
            .create_topics(&new_topics, &options)
            .await
            .map_err(|e| EventError::Unavailable(format!("kafka: creating topics: {e}")))?;
        for result in results {
            match result {
                Ok(topic) | Err((topic, RDKafkaErrorCode::TopicAlreadyExists)) => {
                    known.insert(topic);
                }
                Err((topic, code)) => {
                    return Err(EventError::Unavailable(format!(
                        "kafka: creating topic `{topic}`: {code}"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Sends `events` and waits until the brokers acknowledged every one.
    pub async fn append(&self, events: &[CloudEvent]) -> Result<(), EventError> {
        let topics: Vec<String> = events
            .iter()
            .map(|e| e.topic.clone())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        self.ensure_topics(&topics).await?;
        let producer = self.producer.read().unwrap().clone();
        let deliveries: Vec<_> = events
            .iter()
            .map(|event| {
                let record = FutureRecord::to(&event.topic)
                    .key(&event.key)
                    .payload(&event.data)
                    .headers(headers(event));
                producer.send(record, DELIVERY_TIMEOUT)
            })
            .collect();
        let mut failure = None;
        for delivery in futures_util::future::join_all(deliveries).await {
            if let Err((e, _)) = delivery {
                failure.get_or_insert(e);
            }
        }
        let Some(e) = failure else { return Ok(()) };
        if let Some((code, reason)) = producer.client().fatal_error() {
            tracing::warn!(%code, %reason, "kafka producer hit a fatal error; starting a new one");
            if let Ok(fresh) = new_producer(&self.brokers) {
                *self.producer.write().unwrap() = fresh;
            }
        }
        Err(EventError::Unavailable(format!(
            "kafka: delivery failed: {e}"
        )))
    }

    pub async fn subscribe(&self, group: &str, topics: &[String]) -> Result<Consumer, EventError> {
        self.ensure_topics(topics).await?;
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .set("group.id", group)
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", "200")
            // Only offsets the host stores (after the handler succeeded) are committed.
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", "10000")
            // Answer a fetch as soon as anything arrives, and poll an idle
            // partition often: events are latency-sensitive work, not bulk.
            .set("fetch.wait.max.ms", "50")
            .create()
            .map_err(|e| EventError::Unavailable(format!("kafka: consumer: {e}")))?;
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        consumer
            .subscribe(&names)
            .map_err(|e| EventError::Unavailable(format!("kafka: subscribe: {e}")))?;
        Ok(Consumer {
            consumer,
            handled: BTreeMap::new(),
        })
    }
}

fn new_producer(brokers: &str) -> anyhow::Result<FutureProducer> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "2")
        .set(
            "message.timeout.ms",
            DELIVERY_TIMEOUT.as_millis().to_string(),
        )
        .create()?)
}

fn headers(event: &CloudEvent) -> OwnedHeaders {
    let mut headers = OwnedHeaders::new()
        .insert(header("ce_specversion", "1.0"))
        .insert(header("ce_id", &event.id))
        .insert(header("ce_source", &event.source))
        .insert(header("ce_type", &event.event_type))
        .insert(header("ce_time", &event.time))
        .insert(header("content-type", &event.datacontenttype));
    if let Some(subject) = &event.subject {
        headers = headers.insert(header("ce_subject", subject));
    }
    for (name, value) in &event.extensions {
        headers = headers.insert(Header {
            key: &format!("ce_{name}"),
            value: Some(value.as_bytes()),
        });
    }
    headers
}

fn header<'a>(key: &'a str, value: &'a str) -> Header<'a, &'a [u8]> {
    Header {
        key,
        value: Some(value.as_bytes()),
    }
}

/// Where a delivered event sits in Kafka.
#[derive(Debug, Clone)]
pub struct Position {
    topic: String,
    partition: i32,
    offset: i64,
}

impl Position {
    /// Commits are per topic partition: a commit covers everything before it there.
    pub fn stream(&self) -> String {
        format!("{}/{}", self.topic, self.partition)
    }
}

pub struct Consumer {
    consumer: StreamConsumer,
    /// Next offset to read after the handled events, per (topic, partition).
    handled: BTreeMap<(String, i32), i64>,
}

impl Consumer {
    pub async fn next(&mut self) -> Result<(Position, CloudEvent), EventError> {
        loop {
            let message = self
                .consumer
                .recv()
                .await
                .map_err(|e| EventError::Unavailable(format!("kafka: receive: {e}")))?;
            let position = Position {
                topic: message.topic().to_string(),
                partition: message.partition(),
                offset: message.offset(),
            };
            match decode(&message) {
                Some(event) => return Ok((position, event)),
                None => {
                    // Not a CloudEvent: nothing a handler could make of it. It is
                    // not committed here, where earlier events of its partition may
                    // still be in hand; the next event's commit covers it.
                    tracing::warn!(topic = %position.topic, partition = position.partition, offset = position.offset,
                        "skipping a message without CloudEvents ce_id/ce_source/ce_type headers");
                }
            }
        }
    }

    pub fn commit(&mut self, position: &Position) -> Result<(), EventError> {
        self.handled.insert(
            (position.topic.clone(), position.partition),
            position.offset + 1,
        );
        // `store_offsets` takes the next offset to read (the single-offset
        // `store_offset` adds one itself).
        let mut next = TopicPartitionList::new();
        next.add_partition_offset(
            &position.topic,
            position.partition,
            Offset::Offset(position.offset + 1),
        )
        .and_then(|()| self.consumer.store_offsets(&next))
        .map_err(|e| EventError::Unavailable(format!("kafka: storing offset: {e}")))
    }

    /// Commits the handled offsets now (not the fetch position, which runs
    /// ahead of the handler).
    pub fn flush(&mut self) -> Result<(), EventError> {
        if self.handled.is_empty() {
            return Ok(());
        }
        let mut list = TopicPartitionList::new();
        for ((topic, partition), offset) in &self.handled {
            list.add_partition_offset(topic, *partition, Offset::Offset(*offset))
                .map_err(|e| EventError::Unavailable(format!("kafka: commit: {e}")))?;
        }
        self.consumer
            .commit(&list, CommitMode::Sync)
            .map_err(|e| EventError::Unavailable(format!("kafka: commit: {e}")))
    }
}

fn decode(message: &BorrowedMessage<'_>) -> Option<CloudEvent> {
    let mut attributes: BTreeMap<String, String> = BTreeMap::new();
    let mut content_type = None;
    if let Some(headers) = message.headers() {
        for h in headers.iter() {
            let value = String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned();
            if let Some(name) = h.key.strip_prefix("ce_") {
                attributes.insert(name.to_string(), value);
            } else if h.key.eq_ignore_ascii_case("content-type") {
                content_type = Some(value);
            }
        }
    }
    let id = attributes.remove("id")?;
    let source = attributes.remove("source")?;
    let event_type = attributes.remove("type")?;
    attributes.remove("specversion");
    Some(CloudEvent {
        id,
        source,
        event_type,
        subject: attributes.remove("subject"),
        time: attributes.remove("time").unwrap_or_default(),
        datacontenttype: content_type.unwrap_or_else(|| "application/octet-stream".into()),
        data: message.payload().unwrap_or_default().to_vec(),
        topic: message.topic().to_string(),
        key: message
            .key()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .unwrap_or_default(),
        extensions: attributes,
    })
}
