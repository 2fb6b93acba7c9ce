//! The content service: typed content (articles, videos, galleries,
//! podcasts) with revisions, an editorial workflow, categories and tags,
//! and scheduled publication. Reads of published content are public;
//! creators write their own content, admins everything.

mod api;
mod cache;
mod categories;
mod events;
mod import;
mod input;
mod model;
mod openapi;
mod relations;
mod scheduling;
mod schema;
mod store;

use schema::Schema;
use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

folio_guest::bindings::export!(Schema);

#[http_component]
fn handle(request: Request) -> Response {
    api::route(request)
}

use folio_guest::cron::{Error as CronError, Metadata};

struct Scheduler;

impl folio_guest::cron::Guest for Scheduler {
    fn handle_cron_event(_metadata: Metadata) -> Result<(), CronError> {
        scheduling::publish_due()
            .map(|_| ())
            .map_err(|p| CronError::Other(p.detail))
    }
}

folio_guest::cron::export!(Scheduler);

use folio_guest::worker::{Event, Guest, HandleError};

/// Its own events (`[[trigger.event]]` on `folio.content`) repair the read
/// cache: a writer updates the cache after its commit, and if it died in
/// between, the event, committed with the write, still arrives. The billing
/// service's (`folio.billing`) keep who holds which paid tiers.
struct Events;

impl Guest for Events {
    fn handle(event: Event) -> Result<(), HandleError> {
        if event.topic == folio_guest::entitlements::TOPIC {
            return folio_guest::entitlements::consume(store::open(), &event);
        }
        let Some(id) = event.subject.as_deref() else {
            return Err(HandleError::Reject(
                "a content event without a subject".into(),
            ));
        };
        let version = serde_json::from_slice::<serde_json::Value>(&event.data)
            .ok()
            .and_then(|data| data["version"].as_i64());
        let age_ms = folio_guest::util::parse_rfc3339_ms(&event.time).map_or(0, |at| {
            folio_guest::util::now_ms().saturating_sub(at).max(0) as u64
        });
        cache::repair(&event.type_, id, version, age_ms).map_err(|p| HandleError::Retry(p.detail))
    }
}

folio_guest::worker::export!(Events);
