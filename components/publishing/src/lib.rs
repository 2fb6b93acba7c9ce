//! The publishing service: where published content goes. Channels
//! (`channels.rs`) are webhooks signed per Standard Webhooks
//! (`webhooks.rs`), RSS/Atom/JSON feeds and sitemaps (`feeds.rs`,
//! `feeds_api.rs`), newsletters (handed to the notification service),
//! templated outbound HTTP (`templates.rs`) and CDN purges. Content events
//! become distributions (`intake.rs`), held for approval policies
//! (`approvals.rs`) and embargoes, sent by their own events and recorded
//! attempt by attempt (`distributions.rs`, `delivery.rs`); a cron announces
//! retries and ended embargoes (`cron.rs`). Preview links show a draft
//! without signing in (`preview.rs`).

mod api;
mod approvals;
mod channels;
mod config;
mod cron;
mod delivery;
mod distributions;
mod feed_keys;
mod feeds;
mod feeds_api;
mod intake;
mod items;
mod openapi;
mod preview;
mod schema;
mod sources;
mod store;
mod templates;
mod webhooks;

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

/// Content and media events, deliveries (`folio.publishing.deliveries`),
/// and who holds which paid tiers (`folio.billing`, for private feeds).
struct Worker;

impl Guest for Worker {
    fn handle(event: Event) -> Result<(), HandleError> {
        match event.topic.as_str() {
            intake::CONTENT_TOPIC => intake::content_event(&event),
            intake::MEDIA_TOPIC => intake::media_event(&event),
            distributions::DELIVERY_TOPIC => delivery::handle(&event),
            folio_guest::entitlements::TOPIC => {
                folio_guest::entitlements::consume(store::db(), &event)
            }
            other => Err(HandleError::Reject(format!(
                "the publishing service does not consume topic {other}"
            ))),
        }
    }
}

folio_guest::worker::export!(Worker);

use folio_guest::cron::{Error as CronError, Metadata};

struct Cron;

impl folio_guest::cron::Guest for Cron {
    fn handle_cron_event(_metadata: Metadata) -> Result<(), CronError> {
        let announced = store::db()
            .and_then(|db| cron::run(&db))
            .map_err(|p| CronError::Other(p.detail))?;
        if announced > 0 {
            eprintln!("publishing cron: {announced} distributions announced");
        }
        Ok(())
    }
}

folio_guest::cron::export!(Cron);
