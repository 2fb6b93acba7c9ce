//! The media service: uploads (multipart, streamed, resumable), images
//! processed into renditions inside this component, audio and video
//! transcoded by the host's ffmpeg adapter, and delivery with ranges,
//! validators, CDN-friendly caching and on-the-fly image transforms.

mod access;
mod api;
mod delivery;
mod events;
mod ingest;
mod model;
mod multipart;
mod openapi;
mod processing;
mod resumable;
mod schema;
mod settings;
mod storage;
mod store;
mod wire;

use schema::Schema;
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

folio_guest::bindings::export!(Schema);

#[http_component]
async fn handle(request: IncomingRequest, out: ResponseOutparam) {
    api::handle(request, out)
}

use folio_guest::worker::{Event, Guest, HandleError};

/// Processing jobs and `MediaDeleted`, content and billing events
/// (`[[trigger.event]]` in spin.toml).
struct Worker;

impl Guest for Worker {
    fn handle(event: Event) -> Result<(), HandleError> {
        // The content that uses media, and who holds which tiers: who may
        // fetch it (`access.rs`).
        match event.topic.as_str() {
            access::CONTENT_TOPIC => {
                return store::open()
                    .and_then(|db| access::apply_content_event(&db, &event.type_, &event.data))
                    .map_err(|p| match p.status {
                        500.. => HandleError::Retry(p.detail),
                        _ => HandleError::Reject(p.detail),
                    });
            }
            folio_guest::entitlements::TOPIC => {
                return folio_guest::entitlements::consume(store::open(), &event);
            }
            _ => {}
        }
        let Some(id) = event.subject.as_deref() else {
            return Err(HandleError::Reject(
                "a media event without a subject".into(),
            ));
        };
        match api::handle_event(&event.type_, id) {
            Ok(processing::Outcome::Done) => Ok(()),
            Ok(processing::Outcome::Retry(why)) => Err(HandleError::Retry(why)),
            Err(problem) => Err(HandleError::Retry(problem.detail)),
        }
    }
}

folio_guest::worker::export!(Worker);

use folio_guest::cron::{Error as CronError, Metadata};

/// Deletes resumable uploads whose time ran out, and what uploads whose
/// process died had stored (`[[trigger.cron]]`).
struct Sweeper;

impl folio_guest::cron::Guest for Sweeper {
    fn handle_cron_event(_metadata: Metadata) -> Result<(), CronError> {
        let settings = settings::Settings::load().map_err(|p| CronError::Other(p.detail))?;
        resumable::sweep_expired()
            .and_then(|_| ingest::sweep_abandoned(&settings))
            .map(|_| ())
            .map_err(|p| CronError::Other(p.detail))
    }
}

folio_guest::cron::export!(Sweeper);
