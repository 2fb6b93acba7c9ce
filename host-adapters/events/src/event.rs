//! The CloudEvents 1.0 envelope as the host carries it between the outbox,
//! the log and workers.

use std::collections::BTreeMap;

use folio_sql::OutboxEvent;

#[derive(Debug, Clone, PartialEq)]
pub struct CloudEvent {
    pub id: String,
    pub source: String,
    pub event_type: String,
    pub subject: Option<String>,
    /// RFC 3339, set when the event was published.
    pub time: String,
    pub datacontenttype: String,
    pub data: Vec<u8>,
    pub topic: String,
    /// Kafka message key: events with the same key stay in order.
    pub key: String,
    /// CloudEvents extension attributes (lowercase alphanumeric names), e.g.
    /// `folioerror` on a dead-lettered event.
    pub extensions: BTreeMap<String, String>,
}

impl CloudEvent {
    /// A new event from `source`, stamped with a fresh id and the current time.
    pub fn new(source: &str, event: OutboxEvent) -> CloudEvent {
        CloudEvent {
            id: uuid::Uuid::now_v7().to_string(),
            source: source.to_string(),
            event_type: event.event_type,
            subject: event.subject,
            time: now_rfc3339(),
            datacontenttype: event.datacontenttype,
            data: event.data,
            topic: event.topic,
            key: event.key,
            extensions: BTreeMap::new(),
        }
    }

    /// How long ago the event was published, if its time parses.
    pub fn age(&self) -> Option<std::time::Duration> {
        let published = chrono::DateTime::parse_from_rfc3339(&self.time).ok()?;
        (chrono::Utc::now() - published.with_timezone(&chrono::Utc))
            .to_std()
            .ok()
    }
}

pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}
