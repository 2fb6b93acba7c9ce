//! `POST /api/v1/analytics/events`: check the batch, hash the visitor,
//! append one message to the event log, answer 202. Aggregation is the
//! worker's (`rollups.rs`), so a traffic spike costs page serving nothing.

use folio_guest::OutgoingEvent;
use folio_guest::auth::authenticate;
use folio_guest::events::{Error as PublishError, publish};
use folio_guest::http::{Problem, header, json};
use folio_guest::util::now_ms;
use serde::{Deserialize, Serialize};
use serde_json::json;
use spin_sdk::http::{Request, Response};

use crate::store;
use crate::track::{self, Context, Tracked};
use crate::visitors;

pub const TOPIC: &str = "folio.analytics.events";
pub const EVENT_TYPE: &str = "folio.analytics.Tracked";

/// One log message: a request's batch.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    pub events: Vec<Tracked>,
    #[serde(default)]
    pub discarded_utm: u64,
}

pub fn track(request: &Request) -> Result<Response, Problem> {
    if header(request, "dnt") == Some("1") || header(request, "sec-gpc") == Some("1") {
        return Ok(refused("do-not-track"));
    }
    let user_agent = header(request, "user-agent").unwrap_or("");
    if track::is_bot(user_agent) {
        return Ok(refused("bot"));
    }
    let user_id = match header(request, "authorization") {
        Some(_) => Some(authenticate(request)?.sub),
        None => None,
    };
    let now = now_ms();
    let db = store::db()?;
    let salt = visitors::current_salt(&db, now.div_euclid(1000))?;
    let address = visitors::client_address(header(request, "spin-client-addr").unwrap_or(""));
    let visitor = |host: &str| visitors::visitor_id(&salt, host, &address, user_agent);
    let context = Context {
        now_ms: now,
        device: track::device_class(user_agent),
        user_id,
        visitor: &visitor,
    };
    let batch = track::parse_batch(request.body(), &context)?;
    let accepted = batch.events.len();
    let key = batch.events[0].visitor.clone().unwrap_or_default();
    let message = Message {
        events: batch.events,
        discarded_utm: batch.discarded_utm,
    };
    publish(&OutgoingEvent {
        topic: TOPIC.into(),
        type_: EVENT_TYPE.into(),
        key,
        subject: None,
        datacontenttype: "application/json".into(),
        data: serde_json::to_vec(&message).expect("events serialize"),
    })
    .map_err(|e| match e {
        PublishError::Unavailable(m) => Problem::unavailable(format!("the event log: {m}")),
        other => Problem::new(
            500,
            "Internal error",
            format!("the event log refused the batch: {other:?}"),
        ),
    })?;
    Ok(json(
        202,
        &json!({"accepted": accepted, "discarded": {"utm": message.discarded_utm}}),
    ))
}

/// Nothing is recorded, not even that the request came.
fn refused(reason: &str) -> Response {
    json(202, &json!({"accepted": 0, "dropped": reason}))
}
