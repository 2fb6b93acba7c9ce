//! The notification service: tells users what happened, by email (the
//! host's mail capability), web push (encrypted per RFC 8291, VAPID) and an
//! in-app inbox with a live stream, each as their preferences, quiet hours
//! and digest choice say. Who is told what comes from the platform's
//! events (`triggers.rs`); big audiences are told a page at a time
//! (`fanout.rs`); each email or push is a delivery sent by its own event
//! and logged with every attempt (`delivery.rs`); a cron releases what
//! waited for quiet hours to end and sends digests (`digest.rs`).

mod api;
mod clock;
mod config;
mod delivery;
mod digest;
mod fanout;
mod model;
mod newsletters;
mod notify;
mod openapi;
mod preferences;
mod push;
mod recipients;
mod schema;
mod store;
mod stream;
mod templates;
mod triggers;

use folio_guest::http::{Problem, path, respond, send};
use folio_guest::worker::{Event, Guest, HandleError};
use schema::Schema;
use spin_sdk::http::conversions::TryFromIncomingRequest;
use spin_sdk::http::{IncomingRequest, Method, Request, ResponseOutparam};
use spin_sdk::http_component;

folio_guest::bindings::export!(Schema);

#[http_component]
async fn handle(request: IncomingRequest, out: ResponseOutparam) {
    let request = match Request::try_from_incoming_request(request).await {
        Ok(request) => request,
        Err(e) => {
            let problem = Problem::bad_request(format!("the request could not be read: {e}"));
            return send(out, respond(Err(problem)), true);
        }
    };
    if path(&request) == "/api/v1/notifications/stream" {
        if *request.method() == Method::Get {
            return stream::serve(request, out);
        }
        return send(out, respond(Err(Problem::method_not_allowed("GET"))), true);
    }
    let with_body = *request.method() != Method::Head;
    send(out, api::route(request), with_body);
}

/// Account and content events, fan-out steps and deliveries, each from its
/// own `[[trigger.event]]`.
struct Worker;

impl Guest for Worker {
    fn handle(event: Event) -> Result<(), HandleError> {
        match event.topic.as_str() {
            triggers::USERS_TOPIC => triggers::users(&event),
            triggers::CONTENT_TOPIC => triggers::content(&event),
            triggers::PUBLISHING_TOPIC => triggers::publishing(&event),
            triggers::BILLING_TOPIC => triggers::billing(&event),
            fanout::TOPIC => triggers::fanout_step(&event),
            notify::DELIVERY_TOPIC => delivery::handle(&event),
            other => Err(HandleError::Reject(format!(
                "the notification service does not consume topic {other}"
            ))),
        }
    }
}

folio_guest::worker::export!(Worker);

use folio_guest::cron::{Error as CronError, Metadata};

/// Every minute: deliveries past their quiet hours, and digests due.
struct Cron;

impl folio_guest::cron::Guest for Cron {
    fn handle_cron_event(_metadata: Metadata) -> Result<(), CronError> {
        let report = store::db()
            .and_then(|db| digest::run(&db))
            .map_err(|p| CronError::Other(p.detail))?;
        if report.released + report.reannounced + report.digests > 0 {
            eprintln!("notifications cron: {report:?}");
        }
        Ok(())
    }
}

folio_guest::cron::export!(Cron);
