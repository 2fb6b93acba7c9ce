//! The rate limits of a service under Spin. Spin calls the component
//! directly, so `folio export spin` composes this gateway around a service
//! whose manifest declares `tool.folio` rate limits: for each request it
//! asks `folio adapters` (`Call::RateCheck`: the method, the path, the
//! client's address from `spin-client-addr`, the bearer token for policies
//! keyed on the user) for the verdict of the host's own policies and
//! counters; a refused request is answered 429 here and never reaches the
//! service, any other is handed to the service as it came.

mod bindings {
    spin_sdk::wit_bindgen::generate!({
        path: "../../wit",
        world: "folio:platform/spin-gateway",
        runtime_path: "spin_sdk::wit_bindgen::rt",
        generate_all,
    });
}

use bindings::exports::wasi::http::incoming_handler::Guest;
use bindings::wasi::http::incoming_handler;
use bindings::wasi::http::outgoing_handler;
use bindings::wasi::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingRequest, OutgoingResponse,
    ResponseOutparam, Scheme,
};
use folio_adapter_protocol::{
    CALL_PATH, COMPONENT_HEADER, Call, RateVerdict, Reply, SESSION_HEADER,
};

struct Gateway;

impl Guest for Gateway {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        match verdict(&request) {
            Ok(verdict) => match verdict.refusal {
                None => incoming_handler::handle(request, response_out),
                Some(refusal) => answer(
                    response_out,
                    429,
                    &[
                        ("content-type", "application/problem+json".into()),
                        ("retry-after", refusal.retry_after_secs.to_string()),
                    ],
                    serde_json::json!({
                        "type": "about:blank",
                        "title": "Too Many Requests",
                        "status": 429,
                        "detail": refusal.detail,
                    })
                    .to_string(),
                ),
            },
            Err(unavailable) => answer(
                response_out,
                503,
                &[("content-type", "application/problem+json".into())],
                serde_json::json!({
                    "type": "about:blank",
                    "title": "Service Unavailable",
                    "status": 503,
                    "detail": unavailable,
                })
                .to_string(),
            ),
        }
    }
}

fn header(request: &IncomingRequest, name: &str) -> Option<String> {
    let values = request.headers().get(name);
    values
        .first()
        .and_then(|v| String::from_utf8(v.clone()).ok())
}

fn variable(name: &str) -> Result<String, String> {
    spin_sdk::variables::get(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("the gateway has no `{name}` variable"))
}

/// The host's verdict on `request`, from the adapter service.
fn verdict(request: &IncomingRequest) -> Result<RateVerdict, String> {
    let method = match request.method() {
        Method::Get => "GET".to_string(),
        Method::Head => "HEAD".into(),
        Method::Post => "POST".into(),
        Method::Put => "PUT".into(),
        Method::Delete => "DELETE".into(),
        Method::Connect => "CONNECT".into(),
        Method::Options => "OPTIONS".into(),
        Method::Trace => "TRACE".into(),
        Method::Patch => "PATCH".into(),
        Method::Other(other) => other,
    };
    let path_and_query = request.path_with_query().unwrap_or_else(|| "/".into());
    let path = path_and_query.split('?').next().unwrap_or("/").to_string();
    let address = header(request, "spin-client-addr").unwrap_or_default();
    let bearer = header(request, "authorization")
        .and_then(|a| a.strip_prefix("Bearer ").map(|t| t.trim().to_string()));
    let call = Call::RateCheck {
        method,
        path,
        address,
        bearer,
    };
    let body = serde_json::to_vec(&call).expect("calls serialize");
    let (status, answer) = post(&body)?;
    if status != 200 {
        return Err(format!(
            "the adapter service answered {status}: {}",
            String::from_utf8_lossy(&answer)
        ));
    }
    match serde_json::from_slice::<Reply<RateVerdict, ()>>(&answer) {
        Ok(Reply::Ok(verdict)) => Ok(verdict),
        _ => Err("the adapter service answered something else".into()),
    }
}

/// One call to the adapter service.
fn post(body: &[u8]) -> Result<(u16, Vec<u8>), String> {
    let base = variable("folio_adapters_url")?;
    let mut session = [0u8; 16];
    getrandom::fill(&mut session).map_err(|e| e.to_string())?;
    let session: String = session.iter().map(|b| format!("{b:02x}")).collect();
    let headers: Vec<(String, Vec<u8>)> = vec![
        ("content-type".into(), b"application/json".to_vec()),
        (
            "authorization".into(),
            format!("Bearer {}", variable("folio_adapters_token")?).into_bytes(),
        ),
        (
            COMPONENT_HEADER.into(),
            variable("folio_adapters_component")?.into_bytes(),
        ),
        (SESSION_HEADER.into(), session.into_bytes()),
    ];
    let fields = Fields::from_list(&headers).map_err(|e| format!("{e:?}"))?;
    let request = OutgoingRequest::new(fields);
    let (scheme, rest) = base
        .split_once("://")
        .ok_or_else(|| format!("folio_adapters_url {base:?}"))?;
    let (authority, prefix) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let scheme = if scheme == "https" {
        Scheme::Https
    } else {
        Scheme::Http
    };
    let path = format!("{}{CALL_PATH}", prefix.trim_end_matches('/'));
    let set = request.set_method(&Method::Post).is_ok()
        && request.set_scheme(Some(&scheme)).is_ok()
        && request.set_authority(Some(authority)).is_ok()
        && request.set_path_with_query(Some(&path)).is_ok();
    if !set {
        return Err(format!("folio_adapters_url {base:?}"));
    }
    let outgoing = request.body().map_err(|_| "no request body")?;
    let future = outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
    {
        let stream = outgoing.write().map_err(|_| "no body stream")?;
        for chunk in body.chunks(4096) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|e| format!("{e:?}"))?;
        }
    }
    OutgoingBody::finish(outgoing, None).map_err(|e| format!("{e:?}"))?;
    future.subscribe().block();
    let response = match future.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(e))) => return Err(format!("the adapter service did not answer: {e:?}")),
        _ => return Err("the adapter service did not answer".into()),
    };
    let status = response.status();
    let incoming = response.consume().map_err(|_| "no response body")?;
    let stream = incoming.stream().map_err(|_| "no response stream")?;
    let mut answer = Vec::new();
    loop {
        match stream.blocking_read(64 << 10) {
            Ok(chunk) => answer.extend(chunk),
            Err(_) => break,
        }
        if answer.len() > 1 << 20 {
            return Err("the adapter service's answer is too long".into());
        }
    }
    Ok((status, answer))
}

fn answer(out: ResponseOutparam, status: u16, headers: &[(&str, String)], body: String) {
    let list: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.clone().into_bytes()))
        .collect();
    let fields = Fields::from_list(&list).expect("valid headers");
    let response = OutgoingResponse::new(fields);
    let _ = response.set_status_code(status);
    let outgoing = response.body().expect("a new response has a body");
    ResponseOutparam::set(out, Ok(response));
    if let Ok(stream) = outgoing.write() {
        let _ = stream.blocking_write_and_flush(body.as_bytes());
    }
    let _ = OutgoingBody::finish(outgoing, None);
}

bindings::export!(Gateway with_types_in bindings);
