//! The users service: accounts, authentication (passwords, TOTP MFA,
//! refresh-token sessions, the client-credentials grant), roles and
//! preferences. Every other component trusts the tokens issued here.

mod accounts;
mod api;
mod clients;
mod events;
mod openapi;
mod schema;
mod sessions;
mod tokens;
mod validate;

use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

use schema::Schema;
folio_guest::bindings::export!(Schema);

#[http_component]
fn handle(request: Request) -> Response {
    api::route(request)
}
