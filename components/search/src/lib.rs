//! The search service: full-text search over content in the host's search
//! index, with facets, title suggestions and related items, answered only
//! from documents the caller may read. The index is kept current from the
//! content service's events and can be rebuilt from its feed without
//! interrupting searches; searches and clicks are recorded for analytics.

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

use folio_guest::worker::{Event, Guest, HandleError};
use schema::Schema;
use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

folio_guest::bindings::export!(Schema);

#[http_component]
fn handle(request: Request) -> Response {
    api::route(request)
}

/// Content changes (`folio.content`) and reindex steps
/// (`folio.search.reindex`), each from its own `[[trigger.event]]`.
struct Worker;

impl Guest for Worker {
    fn handle(event: Event) -> Result<(), HandleError> {
        match event.topic.as_str() {
            indexer::TOPIC => indexer::handle(&event),
            reindex::TOPIC => reindex::step(&event),
            other => Err(HandleError::Reject(format!(
                "the search service does not consume topic {other}"
            ))),
        }
    }
}

folio_guest::worker::export!(Worker);
