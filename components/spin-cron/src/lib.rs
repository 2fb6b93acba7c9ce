//! The route Spin serves a component's cron ticks on
//! (`/_folio/deliver/<id>/cron`). `folio adapters` keeps the schedule,
//! claims each fire time once per cluster, and POSTs it here with the fire
//! time in `folio-scheduled-at` (Unix seconds); this component, composed
//! around the service component by `folio export spin`, calls the service's
//! own `handle-cron-event`. 204 is done; 500 carries the handler's error.

mod bindings {
    spin_sdk::wit_bindgen::generate!({
        path: "../../wit",
        world: "folio:platform/spin-cron-delivery",
        runtime_path: "spin_sdk::wit_bindgen::rt",
        generate_all,
    });
}

use bindings::fermyon::spin_cron::cron_types::{Error, Metadata};
use folio_adapter_protocol::{SCHEDULED_AT_HEADER, delivery_authorized};
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;

#[http_component]
fn tick(request: Request) -> Response {
    if *request.method() != Method::Post {
        return answer(405, "POST only");
    }
    if !authorized(&request) {
        return answer(401, "not the adapter service's delivery token");
    }
    let Some(timestamp) = request
        .header(SCHEDULED_AT_HEADER)
        .and_then(|v| v.as_str())
        .and_then(|v| v.parse().ok())
    else {
        return answer(
            400,
            &format!("header {SCHEDULED_AT_HEADER}: Unix seconds expected"),
        );
    };
    match bindings::handle_cron_event(Metadata { timestamp }) {
        Ok(()) => Response::new(204, ()),
        Err(Error::Other(why)) => answer(500, &why),
    }
}

/// Whether the request carries the token `folio export spin` gave this
/// component (`folio_delivery_token`).
fn authorized(request: &Request) -> bool {
    delivery_authorized(
        request.header("authorization").and_then(|v| v.as_str()),
        spin_sdk::variables::get("folio_delivery_token")
            .ok()
            .as_deref(),
    )
}

fn answer(status: u16, text: &str) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(text.to_string())
        .build()
}
