//! The search service: full-text search over content in the host's search
//! index, with facets, title suggestions and related items, answered only
//! from documents the caller may read. The index is kept current from the
//! content service's events and can be rebuilt from its feed without
//! interrupting searches; searches and clicks are recorded for analytics.

mod access;
mod analytics;
mod api;
mod dates;
mod feed;
mod indexer;
mod openapi;
mod popularity;
mod query;
mod reindex;
mod schema;
mod searcher;
mod store;
mod url;
mod visibility;

use folio_guest::http::{Problem, respond, send};
use folio_guest::worker::{Event, Guest, HandleError};
use schema::Schema;
use spin_sdk::http::conversions::TryFromIncomingRequest;
use spin_sdk::http::{IncomingRequest, Method, Request, ResponseOutparam};
use spin_sdk::http_component;

folio_guest::bindings::export!(Schema);

/// Answers, then does what the answer does not wait for (search analytics).
#[http_component]
async fn handle(request: IncomingRequest, out: ResponseOutparam) {
    let request = match Request::try_from_incoming_request(request).await {
        Ok(request) => request,
        Err(e) => {
            let problem = Problem::bad_request(format!("the request could not be read: {e}"));
            return send(out, respond(Err(problem)), true);
        }
    };
    let with_body = *request.method() != Method::Head;
    let answer = api::route(request);
    send(out, answer.response, with_body);
    if let Some(record) = answer.then {
        record.save();
    }
}

/// Content changes (`folio.content`), reindex steps (`folio.search.reindex`)
/// and who holds which paid tiers (`folio.billing`), each from its own
/// `[[trigger.event]]`.
struct Worker;

impl Guest for Worker {
    fn handle(event: Event) -> Result<(), HandleError> {
        match event.topic.as_str() {
            indexer::TOPIC => indexer::handle(&event),
            reindex::TOPIC => reindex::step(&event),
            folio_guest::entitlements::TOPIC => {
                folio_guest::entitlements::consume(store::db(), &event)
            }
            other => Err(HandleError::Reject(format!(
                "the search service does not consume topic {other}"
            ))),
        }
    }
}

folio_guest::worker::export!(Worker);
