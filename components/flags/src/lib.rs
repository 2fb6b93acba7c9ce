//! The feature flag service: flags in flagd's definition format (so flag
//! files written for flagd work unchanged), per environment, managed by
//! admins (`/api/v1/flags`) and evaluated by anyone through the OpenFeature
//! Remote Evaluation Protocol (`/ofrep/v1/evaluate/flags`), which standard
//! OpenFeature providers speak. `flagd.rs` and `jsonlogic.rs` evaluate;
//! every change is an event on `folio.flags`.

mod api;
mod evaluate;
mod flagd;
mod jsonlogic;
mod openapi;
mod schema;
mod store;

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
