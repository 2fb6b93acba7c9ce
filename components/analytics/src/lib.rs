//! The analytics service. Ingestion (`ingest.rs`, `track.rs`) checks a
//! batch, hashes the visitor without cookies (`visitors.rs`) and appends
//! it to the event log; the worker (`rollups.rs`) turns batches and other
//! services' events (`server_events.rs`) into rollups, raw rows and
//! cohorts; reports (`reports.rs`) read the rollups; a cron writes raw
//! events to Parquet (`warehouse.rs`) and forgets old salts. A/B
//! experiments: `experiments.rs`, `stats.rs`. `popularity.rs` tells the
//! search service how much each of some items is viewed.

mod api;
mod config;
mod experiments;
mod ingest;
mod openapi;
mod popularity;
mod reports;
mod rollups;
mod schema;
mod server_events;
mod stats;
mod store;
mod track;
mod visitors;
mod warehouse;

use folio_guest::http::{Problem, respond, send};
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
    let with_body = *request.method() != Method::Head;
    send(out, api::route(request), with_body);
}

struct Worker;

impl Guest for Worker {
    fn handle(event: Event) -> Result<(), HandleError> {
        match event.topic.as_str() {
            ingest::TOPIC => {
                let message: ingest::Message = serde_json::from_slice(&event.data)
                    .map_err(|e| HandleError::Reject(format!("not a batch of events: {e}")))?;
                rollups::take(&event.id, &message.events, message.discarded_utm)
                    .map(|_| ())
                    .map_err(|p| HandleError::Retry(p.detail))
            }
            server_events::CONTENT_TOPIC => server_events::content_event(&event),
            server_events::USERS_TOPIC => server_events::users_event(&event),
            other => Err(HandleError::Reject(format!(
                "the analytics service does not consume topic {other}"
            ))),
        }
    }
}

folio_guest::worker::export!(Worker);

use folio_guest::cron::{Error as CronError, Metadata};

struct Cron;

/// Each tick: forget salts past their period, write due warehouse files;
/// once a minute, prune what no report needs any more.
impl folio_guest::cron::Guest for Cron {
    fn handle_cron_event(_metadata: Metadata) -> Result<(), CronError> {
        let run = || -> Result<(), Problem> {
            let db = store::db()?;
            let now = folio_guest::util::now_unix();
            visitors::rotate(&db, now)?;
            let written = warehouse::export(&db)?;
            if written > 0 {
                eprintln!("analytics: {written} warehouse files written");
            }
            if now % 60 == 0 {
                store::prune(&db, now)?;
                warehouse::prune(&db)?;
            }
            Ok(())
        };
        run().map_err(|p| CronError::Other(p.detail))
    }
}

folio_guest::cron::export!(Cron);
