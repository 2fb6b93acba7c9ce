//! The route Spin serves a component's events on (`/_folio/deliver/<id>/events`).
//! `folio adapters` consumes the event log as `folio up` would and delivers
//! each event here as CloudEvents over HTTP in binary mode; this component,
//! composed around the service component by `folio export spin`, turns the
//! request back into the `event-handler` record and calls the service's own
//! `handle`. 204 is handled, 422 is `reject` (dead-letter at once), 503 is
//! `retry`; the service keeps the retries, backoff and dead letters.

mod bindings {
    spin_sdk::wit_bindgen::generate!({
        path: "../../wit",
        world: "folio:platform/spin-event-delivery",
        runtime_path: "spin_sdk::wit_bindgen::rt",
        generate_all,
    });
}

use bindings::folio::platform::event_handler::{self, Event, HandleError};
use folio_adapter_protocol::{
    ATTEMPT_HEADER, TOPIC_HEADER, decode_header_value, delivery_authorized,
};
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;

/// The CloudEvents attributes with a field of their own in `event`; every
/// other `ce-` header is an extension.
const ATTRIBUTES: [&str; 6] = ["specversion", "id", "source", "type", "subject", "time"];

#[http_component]
fn deliver(request: Request) -> Response {
    if *request.method() != Method::Post {
        return answer(405, "POST only");
    }
    if !authorized(&request) {
        return answer(401, "not the adapter service's delivery token");
    }
    let event = match event_of(&request) {
        Ok(event) => event,
        Err(problem) => return answer(400, &problem),
    };
    match event_handler::handle(&event) {
        Ok(()) => Response::new(204, ()),
        Err(HandleError::Reject(why)) => answer(422, &why),
        Err(HandleError::Retry(why)) => answer(503, &why),
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

fn event_of(request: &Request) -> Result<Event, String> {
    let header = |name: &str| -> Result<Option<String>, String> {
        match request.header(name).and_then(|v| v.as_str()) {
            None => Ok(None),
            Some(text) => decode_header_value(text)
                .map(Some)
                .ok_or_else(|| format!("header {name}: not percent-encoded UTF-8")),
        }
    };
    let required = |name: &str| -> Result<String, String> {
        header(name)?.ok_or_else(|| format!("header {name} is missing"))
    };
    if required("ce-specversion")? != "1.0" {
        return Err("header ce-specversion: only CloudEvents 1.0".into());
    }
    let attempt = required(ATTEMPT_HEADER)?
        .parse()
        .map_err(|_| format!("header {ATTEMPT_HEADER}: not a count"))?;
    let mut extensions = Vec::new();
    for (name, value) in request.headers() {
        let Some(attribute) = name
            .to_ascii_lowercase()
            .strip_prefix("ce-")
            .map(str::to_string)
        else {
            continue;
        };
        if ATTRIBUTES.contains(&attribute.as_str()) {
            continue;
        }
        let value = value
            .as_str()
            .and_then(decode_header_value)
            .ok_or_else(|| format!("header {name}: not percent-encoded UTF-8"))?;
        extensions.push((attribute, value));
    }
    Ok(Event {
        id: required("ce-id")?,
        source: required("ce-source")?,
        type_: required("ce-type")?,
        subject: header("ce-subject")?,
        time: header("ce-time")?.unwrap_or_default(),
        datacontenttype: header("content-type")?.unwrap_or_default(),
        data: request.body().to_vec(),
        topic: required(TOPIC_HEADER)?,
        attempt,
        extensions,
    })
}

fn answer(status: u16, text: &str) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(text.to_string())
        .build()
}
