//! What every component's HTTP handlers share: RFC 9457 problem responses,
//! JSON bodies read field by field (so errors name the field), and JSON replies.

use serde::Serialize;
use serde_json::{Map, Value};
use spin_sdk::http::{Request, Response};
use subtle::ConstantTimeEq;

/// An RFC 9457 `application/problem+json` error.
#[derive(Debug)]
pub struct Problem {
    pub status: u16,
    pub title: &'static str,
    pub detail: String,
    /// The request fields at fault, each with what is wrong with it.
    pub errors: Vec<FieldError>,
    pub headers: Vec<(&'static str, String)>,
    /// Extension members (RFC 9457 §3.2) added to the body.
    pub extensions: Vec<(&'static str, Value)>,
}

#[derive(Debug, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl Problem {
    pub fn new(status: u16, title: &'static str, detail: impl Into<String>) -> Problem {
        Problem {
            status,
            title,
            detail: detail.into(),
            errors: Vec::new(),
            headers: Vec::new(),
            extensions: Vec::new(),
        }
    }

    /// 422: the request was well-formed JSON but `field` is not acceptable.
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Problem {
        let message = message.into();
        Problem {
            errors: vec![FieldError {
                field: field.to_string(),
                message: message.clone(),
            }],
            ..Problem::new(422, "Invalid field", format!("{field}: {message}"))
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Problem {
        Problem::new(400, "Bad request", detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Problem {
        Problem::new(401, "Unauthorized", detail).with_header(
            "www-authenticate",
            "Bearer error=\"invalid_token\"".to_string(),
        )
    }

    pub fn forbidden(detail: impl Into<String>) -> Problem {
        Problem::new(403, "Forbidden", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem::new(404, "Not found", detail)
    }

    pub fn method_not_allowed(allowed: &str) -> Problem {
        Problem::new(
            405,
            "Method not allowed",
            format!("this resource accepts {allowed}"),
        )
        .with_header("allow", allowed.to_string())
    }

    pub fn conflict(detail: impl Into<String>) -> Problem {
        Problem::new(409, "Conflict", detail)
    }

    /// 503: a backend (database, key-value store, event log) failed; retrying may help.
    pub fn unavailable(detail: impl Into<String>) -> Problem {
        Problem::new(503, "Service unavailable", detail)
    }

    pub fn with_header(mut self, name: &'static str, value: String) -> Problem {
        self.headers.push((name, value));
        self
    }

    pub fn with_extension(mut self, name: &'static str, value: Value) -> Problem {
        self.extensions.push((name, value));
        self
    }

    pub fn into_response(self) -> Response {
        let mut body = serde_json::json!({
            "type": "about:blank",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        });
        if !self.errors.is_empty() {
            body["errors"] = serde_json::to_value(&self.errors).expect("field errors serialize");
        }
        for (name, value) in self.extensions {
            body[name] = value;
        }
        let mut builder = Response::builder();
        builder
            .status(self.status)
            .header("content-type", "application/problem+json")
            .header("cache-control", "no-store");
        for (name, value) in self.headers {
            builder.header(name, value);
        }
        builder.body(body.to_string()).build()
    }
}

/// Turns a handler's result into the response.
pub fn respond(result: Result<Response, Problem>) -> Response {
    result.unwrap_or_else(Problem::into_response)
}

/// A JSON reply with `status`; never cached, since these carry account data.
pub fn json(status: u16, body: &impl Serialize) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(serde_json::to_vec(body).expect("response serializes"))
        .build()
}

pub fn no_content() -> Response {
    Response::builder().status(204).body(Vec::new()).build()
}

/// A request header as text, if present and valid UTF-8.
pub fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request.header(name).and_then(|v| v.as_str())
}

/// The component named by `variable` (reached at `http://NAME.spin.internal`),
/// or `default` when the variable is unset, empty, or not a host name
/// (letters, digits, `-`, `_`).
pub fn chained_service(variable: &str, default: &str) -> String {
    spin_sdk::variables::get(variable)
        .ok()
        .filter(|name| {
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        .unwrap_or_else(|| default.to_string())
}

/// The header the host sets on chained calls to the calling component's
/// name, and strips from outside requests.
const CALLING_COMPONENT: &str = "folio-calling-component";
/// Under Spin, which neither sets nor strips [`CALLING_COMPONENT`], the
/// caller proves its name with this header: the key `folio export spin`
/// made for that caller and this callee alone (`folio_chain_to_<callee>`
/// in the caller, `folio_chain_from_<caller>` in the callee). No component
/// holds a key that would let it pass for another.
const CALLING_PROOF: &str = "folio-calling-proof";

/// Whether `request` is a chained call from a component that the
/// comma-separated list in `variable` names. Under Spin (where the export
/// names each component in `folio_component`), the caller's name counts
/// only with the key this component shares with that caller.
pub fn chained_from(request: &Request, variable: &str) -> bool {
    let Some(caller) = header(request, CALLING_COMPONENT) else {
        return false;
    };
    if own_name().is_some() {
        let Some(key) = chain_key("from", caller) else {
            return false;
        };
        let proof = header(request, CALLING_PROOF).unwrap_or_default();
        if !bool::from(proof.as_bytes().ct_eq(key.as_bytes())) {
            return false;
        }
    }
    let allowed = spin_sdk::variables::get(variable).unwrap_or_default();
    allowed
        .split(',')
        .map(str::trim)
        .any(|name| !name.is_empty() && name == caller)
}

/// Names this component on a chained call to `callee` where the host does
/// not (under Spin): its name and the key it holds for `callee`. Under
/// `folio up` the host sets the name itself and this adds nothing; without
/// a key for `callee` the call goes unproven, and a chained-only route
/// refuses it.
pub fn sign_chained_call(request: &mut spin_sdk::http::RequestBuilder, callee: &str) {
    let (Some(me), Some(key)) = (own_name(), chain_key("to", callee)) else {
        return;
    };
    request.header(CALLING_PROOF, key);
    request.header(CALLING_COMPONENT, me);
}

fn own_name() -> Option<String> {
    spin_sdk::variables::get("folio_component")
        .ok()
        .filter(|name| !name.is_empty())
}

/// `folio_chain_<direction>_<component>`'s value, for a component id
/// (lowercase kebab case) and nothing else.
fn chain_key(direction: &str, component: &str) -> Option<String> {
    let is_id = !component.is_empty()
        && component
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !is_id {
        return None;
    }
    let name = format!("folio_chain_{direction}_{}", component.replace('-', "_"));
    spin_sdk::variables::get(&name)
        .ok()
        .filter(|key| !key.is_empty())
}

/// The request's path without the query, e.g. `/api/v1/users/42`.
pub fn path(request: &Request) -> &str {
    let uri = request.path_and_query().unwrap_or("/");
    uri.split('?').next().unwrap_or("/")
}

/// The path's segments, without leading or trailing `/`, for routing with
/// slice patterns: `/api/v1/users/42` is `["api", "v1", "users", "42"]`.
pub fn path_segments(request: &Request) -> Vec<&str> {
    path(request)
        .trim_start_matches('/')
        .trim_end_matches('/')
        .split('/')
        .collect()
}

/// Query parameters, percent-decoded.
pub fn query_pairs(request: &Request) -> Vec<(String, String)> {
    let query = request.query();
    form_pairs(query)
}

/// The ids of a batch lookup, its only query parameter `ids=a,b,c`: UUIDs
/// (`what` says whose, for the message), lowercased, duplicates dropped, in
/// the order given, 1 to `max` of them. Anything else is a 422 naming the
/// parameter.
pub fn batch_ids(
    query: &[(String, String)],
    what: &str,
    max: usize,
) -> Result<Vec<String>, Problem> {
    let mut ids: Option<Vec<String>> = None;
    for (name, value) in query {
        match name.as_str() {
            "ids" if ids.is_none() => {
                let mut list: Vec<String> = Vec::new();
                for id in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    if !crate::util::is_uuid(id) {
                        return Err(Problem::invalid_field(
                            "ids",
                            format!("must be comma-separated {what} ids (UUIDs)"),
                        ));
                    }
                    let id = id.to_ascii_lowercase();
                    if !list.contains(&id) {
                        list.push(id);
                    }
                }
                ids = Some(list);
            }
            "ids" => return Err(Problem::invalid_field("ids", "must be given once")),
            other => {
                return Err(Problem::invalid_field(
                    other,
                    "is not a known query parameter",
                ));
            }
        }
    }
    let ids = ids.ok_or_else(|| Problem::invalid_field("ids", "is required"))?;
    if ids.is_empty() {
        return Err(Problem::invalid_field("ids", "names no id"));
    }
    if ids.len() > max {
        return Err(Problem::invalid_field(
            "ids",
            format!("names {} ids; at most {max} are accepted", ids.len()),
        ));
    }
    Ok(ids)
}

/// Decodes `application/x-www-form-urlencoded` text.
pub fn form_pairs(text: &str) -> Vec<(String, String)> {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match hex_value(bytes[i + 1], bytes[i + 2]) {
                Some(b) => {
                    out.push(b);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_value(high: u8, low: u8) -> Option<u8> {
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    Some(digit(high)? << 4 | digit(low)?)
}

/// A JSON object request body, read one field at a time.
pub struct JsonBody(Map<String, Value>);

impl JsonBody {
    /// 415 unless the body is declared JSON (or undeclared), 400 unless it is a JSON object.
    pub fn parse(request: &Request) -> Result<JsonBody, Problem> {
        if let Some(ct) = header(request, "content-type") {
            let mime = ct.split(';').next().unwrap_or("").trim();
            if !mime.eq_ignore_ascii_case("application/json") && !mime.ends_with("+json") {
                return Err(Problem::new(
                    415,
                    "Unsupported media type",
                    format!("the body must be application/json, not {mime}"),
                ));
            }
        }
        match serde_json::from_slice::<Value>(request.body()) {
            Ok(Value::Object(map)) => Ok(JsonBody(map)),
            Ok(_) => Err(Problem::bad_request("the body must be a JSON object")),
            Err(e) => Err(Problem::bad_request(format!(
                "the body is not valid JSON: {e}"
            ))),
        }
    }

    /// A body already parsed (a line of an NDJSON upload, say).
    pub fn from_object(object: Map<String, Value>) -> JsonBody {
        JsonBody(object)
    }

    pub fn has(&self, field: &str) -> bool {
        self.0.contains_key(field)
    }

    /// The raw value of `field`, null counting as absent.
    pub fn value(&self, field: &str) -> Option<&Value> {
        self.0.get(field).filter(|v| !v.is_null())
    }

    pub fn required_str(&self, field: &str) -> Result<&str, Problem> {
        self.optional_str(field)?
            .ok_or_else(|| Problem::invalid_field(field, "is required"))
    }

    /// `None` when absent or null; 422 when present with another type.
    pub fn optional_str(&self, field: &str) -> Result<Option<&str>, Problem> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(Problem::invalid_field(field, "must be a string")),
        }
    }

    pub fn optional_bool(&self, field: &str) -> Result<Option<bool>, Problem> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(Problem::invalid_field(field, "must be true or false")),
        }
    }

    pub fn optional_str_list(&self, field: &str) -> Result<Option<Vec<String>>, Problem> {
        match self.0.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| Problem::invalid_field(field, "must be a list of strings"))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(Problem::invalid_field(field, "must be a list of strings")),
        }
    }

    /// 422 naming the first field not in `known`: a typo must not pass silently.
    pub fn only(&self, known: &[&str]) -> Result<(), Problem> {
        match self.0.keys().find(|k| !known.contains(&k.as_str())) {
            Some(unknown) => Err(Problem::invalid_field(unknown, "is not a known field")),
            None => Ok(()),
        }
    }
}

/// A response head for the streaming (`ResponseOutparam`) style of handler.
pub fn outgoing(status: u16, headers: &[(String, String)]) -> spin_sdk::http::OutgoingResponse {
    let fields: Vec<(String, Vec<u8>)> = headers
        .iter()
        .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
        .collect();
    let response = spin_sdk::http::OutgoingResponse::new(
        spin_sdk::http::Fields::from_list(&fields).expect("valid headers"),
    );
    response
        .set_status_code(status)
        .expect("a valid status code");
    response
}

/// Sends a whole `Response` through `out` (without its body for HEAD) and
/// finishes it: the client has it all when this returns, so a handler can
/// go on with work the answer does not wait for.
pub fn send(out: spin_sdk::http::ResponseOutparam, response: Response, with_body: bool) {
    let mut headers: Vec<(String, String)> = response
        .headers()
        .filter(|(k, _)| with_body || !k.eq_ignore_ascii_case("content-length"))
        .map(|(k, v)| (k.to_string(), v.as_str().unwrap_or_default().to_string()))
        .collect();
    let status = *response.status();
    let body = response.into_body();
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-length"))
    {
        headers.push(("content-length".into(), body.len().to_string()));
    }
    let response = outgoing(status, &headers);
    let body_handle = response.body().expect("the body is taken once");
    out.set(response);
    if with_body {
        let stream = body_handle.write().expect("the stream is taken once");
        let _ = crate::streams::write_all(&stream, &body);
        let _ = stream.blocking_flush();
        drop(stream);
    }
    let _ = spin_sdk::http::OutgoingBody::finish(body_handle, None);
}
