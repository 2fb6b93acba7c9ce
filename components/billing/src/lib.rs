//! The billing service. The catalog (`plans.rs`); subscriptions and their
//! life (`subscriptions.rs`, renewed by a cron; admins list them across
//! accounts in `subscription_list.rs`); invoices with gapless
//! numbers per year (`invoices.rs`, as PDFs in `pdf.rs`); the event store, an append-only
//! hash-chained ledger per account whose entries are published on
//! `folio.billing` (`ledger.rs`); payments collected and dunned
//! (`collection.rs`) by hand (bank transfer) or through Stripe (`stripe.rs`,
//! `customers.rs`, `webhooks.rs`); metered usage billed in arrears
//! (`usage.rs`). Money is integer minor units
//! (`money.rs`); periods are calendar months and years (`calendar.rs`).

mod api;
mod calendar;
mod collection;
mod customers;
mod invoices;
mod ledger;
mod money;
mod openapi;
mod pdf;
mod plans;
mod schema;
mod store;
mod stripe;
mod subscription_list;
mod subscriptions;
mod usage;
mod webhooks;

use folio_guest::http::{Problem, respond, send};
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

use folio_guest::cron::{Error as CronError, Metadata};

struct Cron;

/// Each tick: subscriptions whose period is over end or renew, then the
/// invoices due are collected (charged, or dunned).
impl folio_guest::cron::Guest for Cron {
    fn handle_cron_event(_metadata: Metadata) -> Result<(), CronError> {
        let run = || -> Result<usize, Problem> {
            let db = store::db()?;
            let now = folio_guest::util::now_ms();
            let renewed = subscriptions::renew_due(&db, store::tax_rate()?, now)?;
            Ok(renewed + collection::collect_due(&db, now)?)
        };
        run().map(|_| ()).map_err(|p| CronError::Other(p.detail))
    }
}

folio_guest::cron::export!(Cron);
