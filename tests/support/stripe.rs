//! A test double for the few Stripe API endpoints the billing service calls
//! (`POST /v1/customers`, `/v1/checkout/sessions`, `/v1/payment_intents`):
//! not Stripe, a loopback stand-in that checks what Folio sends (the secret
//! key, form fields, an `Idempotency-Key` on every POST, a key never reused
//! with other parameters, replayed answers for a reused key) and makes the
//! objects Stripe would, so a test can send the signed webhooks Stripe
//! would, in any order and as often as it likes.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::{Host, client};

pub const SECRET_KEY: &str = "sk_test_folio_double";
pub const WEBHOOK_SECRET: &str = "whsec_folio_double";

#[derive(Clone, Debug)]
pub struct Recorded {
    pub path: String,
    pub idempotency_key: Option<String>,
    pub form: BTreeMap<String, String>,
    /// Answered from the idempotency cache, as Stripe does for a retry.
    pub replayed: bool,
    pub status: u16,
}

#[derive(Default)]
struct State {
    requests: Vec<Recorded>,
    answered: HashMap<String, (BTreeMap<String, String>, u16, Value)>,
    customers: HashMap<String, Value>,
    sessions: HashMap<String, Value>,
    intents: HashMap<String, Value>,
    next: u64,
    declining: bool,
}

impl State {
    fn id(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!("{prefix}_{:08}", self.next)
    }
}

pub struct StripeDouble {
    pub port: u16,
    state: Arc<Mutex<State>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for StripeDouble {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn error(status: u16, kind: &str, message: &str) -> (u16, Value) {
    (
        status,
        json!({ "error": { "type": kind, "message": message } }),
    )
}

fn form(body: &[u8]) -> BTreeMap<String, String> {
    folio_guest::http::form_pairs(&String::from_utf8_lossy(body))
        .into_iter()
        .collect()
}

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

impl StripeDouble {
    pub async fn start() -> StripeDouble {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        move |request: hyper::Request<hyper::body::Incoming>| {
                            let state = state.clone();
                            async move {
                                let path = request.uri().path().to_string();
                                let method = request.method().clone();
                                let headers = request.headers().clone();
                                let body = request.into_body().collect().await.unwrap().to_bytes();
                                let header = |name: &str| {
                                    headers
                                        .get(name)
                                        .and_then(|v| v.to_str().ok())
                                        .map(str::to_string)
                                };
                                let (status, answer) = answer(
                                    &mut state.lock().unwrap(),
                                    &method,
                                    &path,
                                    header("authorization"),
                                    header("idempotency-key"),
                                    header("content-type"),
                                    &body,
                                );
                                Ok::<_, Infallible>(
                                    hyper::Response::builder()
                                        .status(status)
                                        .header("content-type", "application/json")
                                        .body(Full::new(Bytes::from(answer.to_string())))
                                        .unwrap(),
                                )
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        StripeDouble {
            port,
            state,
            server,
        }
    }

    pub fn api_base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    /// From now on, charges are declined (`insufficient_funds`) or not.
    pub fn decline_charges(&self, declining: bool) {
        self.state.lock().unwrap().declining = declining;
    }

    pub fn intent(&self, id: &str) -> Value {
        self.state.lock().unwrap().intents[id].clone()
    }

    /// The customer finishes a Checkout Session with card `payment_method`:
    /// the PaymentIntent (payment mode) or SetupIntent (setup mode) Stripe
    /// would make, for the event that reports it.
    pub fn complete_checkout(&self, session_id: &str, payment_method: &str) -> Value {
        let mut state = self.state.lock().unwrap();
        let session = state.sessions[session_id].clone();
        let metadata = |prefix: &str| -> Value {
            let mut metadata = serde_json::Map::new();
            for (key, value) in session["form"].as_object().unwrap() {
                if let Some(name) = key
                    .strip_prefix(prefix)
                    .and_then(|k| k.strip_prefix('['))
                    .and_then(|k| k.strip_suffix(']'))
                {
                    metadata.insert(name.to_string(), value.clone());
                }
            }
            Value::Object(metadata)
        };
        let form = &session["form"];
        if session["mode"] == "setup" {
            let id = state.id("seti");
            json!({
                "id": id,
                "object": "setup_intent",
                "status": "succeeded",
                "customer": session["customer"],
                "payment_method": payment_method,
                "metadata": metadata("setup_intent_data[metadata]"),
            })
        } else {
            let id = state.id("pi");
            let amount: i64 = form["line_items[0][price_data][unit_amount]"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            let intent = json!({
                "id": id,
                "object": "payment_intent",
                "status": "succeeded",
                "amount": amount,
                "amount_received": amount,
                "currency": form["line_items[0][price_data][currency]"],
                "customer": session["customer"],
                "payment_method": payment_method,
                "metadata": metadata("payment_intent_data[metadata]"),
            });
            state.intents.insert(id, intent.clone());
            intent
        }
    }

    /// The event Stripe would send about `object`.
    pub fn event(&self, kind: &str, object: Value) -> Value {
        let id = self.state.lock().unwrap().id("evt");
        json!({
            "id": id,
            "object": "event",
            "type": kind,
            "created": now_s(),
            "livemode": false,
            "data": { "object": object },
        })
    }
}

/// `Stripe-Signature` for `payload` signed with `secret` at `at_s`.
pub fn signature(payload: &[u8], secret: &str, at_s: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{at_s}.").as_bytes());
    mac.update(payload);
    let digest: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={at_s},v1={digest}")
}

/// Posts `payload` to the billing webhook with `signature`; the status and
/// the body.
pub async fn deliver_raw(host: &Host, payload: &[u8], signature: Option<String>) -> (u16, Value) {
    let mut request = client()
        .post(host.url("/api/v1/billing/webhooks/stripe"))
        .header("content-type", "application/json")
        .body(payload.to_vec());
    if let Some(signature) = signature {
        request = request.header("stripe-signature", signature);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Delivers `event` as Stripe would: signed now with the webhook secret.
pub async fn deliver(host: &Host, event: &Value) -> (u16, Value) {
    let payload = serde_json::to_vec(event).unwrap();
    let signed = signature(&payload, WEBHOOK_SECRET, now_s());
    deliver_raw(host, &payload, Some(signed)).await
}

fn answer(
    state: &mut State,
    method: &hyper::Method,
    path: &str,
    authorization: Option<String>,
    idempotency_key: Option<String>,
    content_type: Option<String>,
    body: &[u8],
) -> (u16, Value) {
    let fields = form(body);
    let mut recorded = Recorded {
        path: path.to_string(),
        idempotency_key: idempotency_key.clone(),
        form: fields.clone(),
        replayed: false,
        status: 0,
    };
    let (status, answer) = 'answer: {
        if authorization.as_deref() != Some(&format!("Bearer {SECRET_KEY}")) {
            break 'answer error(401, "invalid_request_error", "Invalid API Key provided");
        }
        if method != hyper::Method::POST {
            break 'answer error(
                404,
                "invalid_request_error",
                "this double serves POSTs only",
            );
        }
        if content_type.as_deref() != Some("application/x-www-form-urlencoded") {
            break 'answer error(400, "invalid_request_error", "the body must be a form");
        }
        // Stripe makes keys optional; Folio's contract is one on every POST.
        let Some(key) = idempotency_key else {
            break 'answer error(400, "invalid_request_error", "no Idempotency-Key");
        };
        if let Some((first, status, answer)) = state.answered.get(&key) {
            if *first != fields {
                break 'answer error(
                    400,
                    "idempotency_error",
                    "Keys for idempotent requests can only be used with the same parameters they were first used with.",
                );
            }
            recorded.replayed = true;
            break 'answer (*status, answer.clone());
        }
        let made = create(state, path, &fields);
        state
            .answered
            .insert(key, (fields.clone(), made.0, made.1.clone()));
        made
    };
    recorded.status = status;
    state.requests.push(recorded);
    (status, answer)
}

fn create(state: &mut State, path: &str, form: &BTreeMap<String, String>) -> (u16, Value) {
    let field = |name: &str| form.get(name).filter(|v| !v.is_empty()).cloned();
    let missing = |name: &str| {
        error(
            400,
            "invalid_request_error",
            &format!("Missing required param: {name}."),
        )
    };
    let positive = |name: &str| {
        field(name)
            .and_then(|v| v.parse::<i64>().ok())
            .filter(|v| *v > 0)
    };
    let currency_ok = |name: &str| {
        field(name).is_some_and(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_lowercase()))
    };
    match path {
        "/v1/customers" => {
            let Some(account) = field("metadata[account]") else {
                return missing("metadata[account]");
            };
            let id = state.id("cus");
            let customer =
                json!({ "id": id, "object": "customer", "metadata": { "account": account } });
            state.customers.insert(id, customer.clone());
            (200, customer)
        }
        "/v1/checkout/sessions" => {
            let customer = field("customer").unwrap_or_default();
            if !state.customers.contains_key(&customer) {
                return error(400, "invalid_request_error", "No such customer");
            }
            for name in ["success_url", "cancel_url", "mode"] {
                if field(name).is_none() {
                    return missing(name);
                }
            }
            let mode = field("mode").unwrap();
            match mode.as_str() {
                "payment" => {
                    if !currency_ok("line_items[0][price_data][currency]") {
                        return missing("line_items[0][price_data][currency]");
                    }
                    if positive("line_items[0][price_data][unit_amount]").is_none() {
                        return missing("line_items[0][price_data][unit_amount]");
                    }
                    for name in [
                        "line_items[0][price_data][product_data][name]",
                        "line_items[0][quantity]",
                        "payment_intent_data[metadata][invoice_id]",
                    ] {
                        if field(name).is_none() {
                            return missing(name);
                        }
                    }
                }
                "setup" => {
                    if !currency_ok("currency") {
                        return missing("currency");
                    }
                    if field("setup_intent_data[metadata][account]").is_none() {
                        return missing("setup_intent_data[metadata][account]");
                    }
                }
                _ => return error(400, "invalid_request_error", "Invalid mode"),
            }
            let id = state.id("cs_test");
            let session = json!({
                "id": id,
                "object": "checkout.session",
                "mode": mode,
                "customer": customer,
                "client_reference_id": field("client_reference_id"),
                "url": format!("https://checkout.stripe.test/c/pay/{id}"),
                "form": form,
            });
            state.sessions.insert(id, session.clone());
            (200, session)
        }
        "/v1/payment_intents" => {
            let customer = field("customer").unwrap_or_default();
            if !state.customers.contains_key(&customer) {
                return error(400, "invalid_request_error", "No such customer");
            }
            let Some(amount) = positive("amount") else {
                return missing("amount");
            };
            if !currency_ok("currency") {
                return missing("currency");
            }
            for name in ["payment_method", "metadata[invoice_id]"] {
                if field(name).is_none() {
                    return missing(name);
                }
            }
            if field("confirm").as_deref() != Some("true")
                || field("off_session").as_deref() != Some("true")
            {
                return error(
                    400,
                    "invalid_request_error",
                    "a renewal is confirmed off session",
                );
            }
            let id = state.id("pi");
            let metadata: serde_json::Map<String, Value> = form
                .iter()
                .filter_map(|(k, v)| {
                    let name = k.strip_prefix("metadata[")?.strip_suffix(']')?;
                    Some((name.to_string(), Value::String(v.clone())))
                })
                .collect();
            let mut intent = json!({
                "id": id,
                "object": "payment_intent",
                "amount": amount,
                "currency": field("currency"),
                "customer": customer,
                "payment_method": field("payment_method"),
                "metadata": metadata,
            });
            if state.declining {
                let decline = json!({
                    "type": "card_error",
                    "code": "card_declined",
                    "decline_code": "insufficient_funds",
                    "message": "Your card has insufficient funds.",
                });
                intent["status"] = json!("requires_payment_method");
                intent["amount_received"] = json!(0);
                intent["last_payment_error"] = decline.clone();
                state.intents.insert(id, intent.clone());
                let mut error = decline;
                error["payment_intent"] = intent;
                return (402, json!({ "error": error }));
            }
            intent["status"] = json!("succeeded");
            intent["amount_received"] = json!(amount);
            state.intents.insert(id, intent.clone());
            (200, intent)
        }
        _ => error(404, "invalid_request_error", "Unrecognized request URL"),
    }
}
