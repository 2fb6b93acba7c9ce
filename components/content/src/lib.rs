//! The content service: typed content (articles, videos, galleries,
//! podcasts) with revisions, an editorial workflow, categories and tags,
//! and scheduled publication. Reads of published content are public;
//! creators write their own content, admins everything.

mod api;
mod categories;
mod events;
mod input;
mod model;
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

mod cron_bindings {
    spin_sdk::wit_bindgen::generate!({
        path: "../../wit",
        world: "fermyon:spin-cron/spin-cron@2.0.0",
        runtime_path: "spin_sdk::wit_bindgen::rt",
        generate_all,
    });
}

use cron_bindings::fermyon::spin_cron::cron_types::{Error as CronError, Metadata};

struct Scheduler;

impl cron_bindings::Guest for Scheduler {
    fn handle_cron_event(_metadata: Metadata) -> Result<(), CronError> {
        scheduling::publish_due()
            .map(|_| ())
            .map_err(|p| CronError::Other(p.detail))
    }
}

cron_bindings::export!(Scheduler with_types_in cron_bindings);
