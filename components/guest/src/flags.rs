//! Feature flags for any component, evaluated by the flags service.
//!
//! The first question in a request makes one bulk call over the OpenFeature
//! Remote Evaluation Protocol (`POST http://{flags_service}.spin.internal
//! /ofrep/v1/evaluate/flags`, the caller's `Authorization` forwarded so the
//! flags service targets the verified user and role); every later question
//! in the same request is answered from that. Each request is a fresh
//! instance, so a flag change applies from the next request on.
//!
//! When the flags service cannot be reached, is not granted
//! (`allowed_outbound_hosts`), or does not know a flag, the caller's default
//! applies: a flag never turns an answer into an error.

use std::cell::OnceCell;
use std::collections::HashMap;

use serde_json::Value as Json;
use spin_sdk::http::{Method, Request, Response};

use crate::http::{chained_service, header};

const OFREP_BULK_PATH: &str = "/ofrep/v1/evaluate/flags";

thread_local! {
    static EVALUATED: OnceCell<HashMap<String, Json>> = const { OnceCell::new() };
}

/// The boolean flag `key` for the caller of `request`, or `default`.
pub fn enabled(request: &Request, key: &str, default: bool) -> bool {
    value(request, key)
        .and_then(|v| v.as_bool())
        .unwrap_or(default)
}

/// The value of flag `key` for the caller of `request`; `None` when the
/// flag is unknown, disabled, failed to evaluate, or the service is away.
pub fn value(request: &Request, key: &str) -> Option<Json> {
    EVALUATED.with(|cell| cell.get_or_init(|| evaluate_all(request)).get(key).cloned())
}

fn evaluate_all(request: &Request) -> HashMap<String, Json> {
    match fetch(request) {
        Ok(values) => values,
        Err(e) => {
            eprintln!("feature flags: defaults apply: {e}");
            HashMap::new()
        }
    }
}

fn fetch(request: &Request) -> Result<HashMap<String, Json>, String> {
    let url = format!(
        "http://{}.spin.internal{OFREP_BULK_PATH}",
        chained_service("flags_service", "flags")
    );
    let mut call = Request::builder();
    call.method(Method::Post)
        .uri(url)
        .header("content-type", "application/json")
        .body(br#"{"context":{}}"#.to_vec());
    if let Some(authorization) = header(request, "authorization") {
        call.header("authorization", authorization);
    }
    let response: Response =
        spin_sdk::http::run(spin_sdk::http::send(call.build())).map_err(|e| e.to_string())?;
    if *response.status() != 200 {
        return Err(format!("the flags service answered {}", response.status()));
    }
    parse_bulk(response.body())
}

/// `{flags: [{key, value, ...}]}`: the flags that have a value.
fn parse_bulk(body: &[u8]) -> Result<HashMap<String, Json>, String> {
    let body: Json = serde_json::from_slice(body).map_err(|e| format!("malformed answer: {e}"))?;
    let flags = body["flags"]
        .as_array()
        .ok_or("the answer has no `flags` list")?;
    Ok(flags
        .iter()
        .filter_map(|f| Some((f["key"].as_str()?.to_string(), f.get("value")?.clone())))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_without_a_value_are_left_to_the_default() {
        let values = parse_bulk(
            br#"{"flags": [
                {"key": "a", "value": true, "reason": "STATIC", "variant": "on"},
                {"key": "b", "reason": "DISABLED"},
                {"key": "c", "errorCode": "GENERAL", "errorDetails": "x"}
            ]}"#,
        )
        .unwrap();
        assert_eq!(values.len(), 1);
        assert_eq!(values["a"], Json::Bool(true));
        assert!(parse_bulk(b"{}").is_err());
        assert!(parse_bulk(b"not json").is_err());
    }
}
