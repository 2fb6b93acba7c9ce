//! The Stripe provider: Customers, Checkout Sessions and off-session
//! PaymentIntents over outbound HTTP, and webhook signatures.
//!
//! Folio is the system of record for subscriptions and invoices; Stripe only
//! moves money. Every POST carries an `Idempotency-Key` derived from what the
//! call is for (the account, the invoice and its attempt number), so a call
//! repeated after a crash or a timeout cannot create a second customer or
//! charge twice.

use hmac::{Hmac, Mac};
use serde_json::Value as Json;
use sha2::Sha256;
use spin_sdk::http::{Method, Request, Response};
use subtle::ConstantTimeEq;

/// How far a webhook's signed timestamp may be from now (Stripe's default).
pub const TOLERANCE_SECONDS: i64 = 300;

pub struct Config {
    /// `https://api.stripe.com`, or a stand-in's address in tests.
    pub api_base: String,
    pub secret_key: String,
    pub webhook_secret: String,
    /// Where Checkout sends the customer back.
    pub public_url: String,
}

fn variable(name: &str) -> String {
    spin_sdk::variables::get(name)
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

/// The deployment's Stripe settings; `None` when no secret key is set.
pub fn config() -> Option<Config> {
    let secret_key = variable("stripe_secret_key");
    if secret_key.is_empty() {
        return None;
    }
    let api_base = match variable("stripe_api_base") {
        base if base.is_empty() => "https://api.stripe.com".to_string(),
        base => base.trim_end_matches('/').to_string(),
    };
    Some(Config {
        api_base,
        secret_key,
        webhook_secret: variable("stripe_webhook_secret"),
        public_url: variable("public_url").trim_end_matches('/').to_string(),
    })
}

#[derive(Debug, PartialEq, Eq)]
pub enum SignatureError {
    Missing,
    Malformed,
    Mismatch,
    Stale,
}

impl SignatureError {
    pub fn message(&self) -> &'static str {
        match self {
            SignatureError::Missing => "the Stripe-Signature header is missing",
            SignatureError::Malformed => "the Stripe-Signature header is malformed",
            SignatureError::Mismatch => "no v1 signature matches the payload",
            SignatureError::Stale => "the signed timestamp is outside the tolerance",
        }
    }
}

fn mac(secret: &str, timestamp: &str, payload: &[u8]) -> Hmac<Sha256> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac
}

/// Checks `Stripe-Signature: t=…,v1=…[,v1=…]`: an HMAC-SHA256 with
/// `secret` over `t.payload`, any `v1` matching (there are several while a
/// secret is rolled), compared in constant time, and `t` within
/// [`TOLERANCE_SECONDS`] of `now_s` so a captured delivery cannot be replayed
/// later.
pub fn verify_signature(
    header: Option<&str>,
    payload: &[u8],
    secret: &str,
    now_s: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let (key, value) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match key {
            "t" if timestamp.is_none() => timestamp = Some(value),
            "t" => return Err(SignatureError::Malformed),
            "v1" => signatures.push(decode_hex(value)),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    let at: i64 = timestamp.parse().map_err(|_| SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let expected = mac(secret, timestamp, payload).finalize().into_bytes();
    let matched = signatures.iter().flatten().fold(false, |found, candidate| {
        found | bool::from(candidate.as_slice().ct_eq(expected.as_slice()))
    });
    if !matched {
        return Err(SignatureError::Mismatch);
    }
    if (now_s - at).abs() > TOLERANCE_SECONDS {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

/// The header Stripe would send: for the unit tests and nothing else.
#[cfg(test)]
pub fn sign(payload: &[u8], secret: &str, at_s: i64) -> String {
    let digest = mac(secret, &at_s.to_string(), payload)
        .finalize()
        .into_bytes();
    format!("t={at_s},v1={}", hex(&digest))
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `application/x-www-form-urlencoded`, as Stripe's API takes it.
pub fn form(pairs: &[(String, String)]) -> String {
    fn encode(text: &str, into: &mut String) {
        for byte in text.bytes() {
            match byte {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                    into.push(byte as char)
                }
                b' ' => into.push('+'),
                _ => into.push_str(&format!("%{byte:02X}")),
            }
        }
    }
    let mut body = String::new();
    for (i, (key, value)) in pairs.iter().enumerate() {
        if i > 0 {
            body.push('&');
        }
        encode(key, &mut body);
        body.push('=');
        encode(value, &mut body);
    }
    body
}

#[derive(Debug)]
pub enum CallError {
    /// The card was declined (402): the PaymentIntent it created, if any.
    Declined {
        payment_intent: Option<String>,
        reason: String,
    },
    /// Stripe refused the request itself (another 4xx): retrying will not help.
    Refused(String),
    /// Unreachable, 429 or 5xx: try again later.
    Unavailable(String),
}

fn post(
    config: &Config,
    path: &str,
    idempotency_key: &str,
    pairs: &[(String, String)],
) -> Result<Json, CallError> {
    let body = form(pairs);
    let mut request = Request::builder();
    request
        .method(Method::Post)
        .uri(format!("{}{path}", config.api_base))
        .header("authorization", format!("Bearer {}", config.secret_key))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("idempotency-key", idempotency_key)
        .header("stripe-version", "2024-06-20")
        .header("content-length", body.len().to_string());
    let request = request.body(body.into_bytes()).build();
    let response: Response = spin_sdk::http::run(spin_sdk::http::send(request))
        .map_err(|e| CallError::Unavailable(format!("Stripe could not be reached: {e}")))?;
    let status = *response.status();
    let answer: Json = serde_json::from_slice(response.body()).unwrap_or(Json::Null);
    let message = || {
        answer["error"]["message"]
            .as_str()
            .unwrap_or("no message")
            .to_string()
    };
    match status {
        200..=299 => Ok(answer),
        402 => Err(CallError::Declined {
            payment_intent: answer["error"]["payment_intent"]["id"]
                .as_str()
                .map(str::to_string),
            reason: decline_reason(&answer["error"]),
        }),
        429 | 500..=599 => Err(CallError::Unavailable(format!(
            "Stripe answered {status}: {}",
            message()
        ))),
        _ => Err(CallError::Refused(format!(
            "Stripe answered {status}: {}",
            message()
        ))),
    }
}

/// `card_declined (insufficient_funds): Your card has insufficient funds.`
fn decline_reason(error: &Json) -> String {
    let code = error["code"].as_str().unwrap_or("card_declined");
    let message = error["message"].as_str().unwrap_or("the card was declined");
    match error["decline_code"].as_str() {
        Some(decline) => format!("{code} ({decline}): {message}"),
        None => format!("{code}: {message}"),
    }
}

fn id_of(answer: &Json) -> Result<String, CallError> {
    answer["id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| CallError::Unavailable("Stripe's answer has no id".into()))
}

/// Creates the account's Stripe Customer (one per account, whoever asks twice).
pub fn create_customer(config: &Config, account: &str) -> Result<String, CallError> {
    let answer = post(
        config,
        "/v1/customers",
        &format!("folio-customer-{account}"),
        &[("metadata[account]".into(), account.into())],
    )?;
    id_of(&answer)
}

pub struct Checkout {
    pub id: String,
    pub url: String,
}

/// What the customer does at checkout.
pub enum CheckoutFor<'a> {
    /// Pays a first invoice; the card is kept for renewals.
    Invoice {
        id: &'a str,
        description: &'a str,
        amount: i64,
        currency: &'a str,
    },
    /// Leaves a card for when a trial ends.
    Trial {
        subscription_id: &'a str,
        currency: &'a str,
    },
}

/// A Checkout Session for `customer`; its `url` is where the customer goes.
pub fn checkout(
    config: &Config,
    account: &str,
    customer: &str,
    purpose: CheckoutFor<'_>,
) -> Result<Checkout, CallError> {
    let back = |outcome: &str| format!("{}/billing/checkout/{outcome}", config.public_url);
    let mut pairs: Vec<(String, String)> = vec![
        ("customer".into(), customer.into()),
        ("success_url".into(), back("done")),
        ("cancel_url".into(), back("canceled")),
    ];
    let key = match purpose {
        CheckoutFor::Invoice {
            id,
            description,
            amount,
            currency,
        } => {
            pairs.extend([
                ("mode".into(), "payment".into()),
                ("client_reference_id".into(), id.into()),
                (
                    "line_items[0][price_data][currency]".into(),
                    currency.to_ascii_lowercase(),
                ),
                (
                    "line_items[0][price_data][unit_amount]".into(),
                    amount.to_string(),
                ),
                (
                    "line_items[0][price_data][product_data][name]".into(),
                    description.to_string(),
                ),
                ("line_items[0][quantity]".into(), "1".into()),
                (
                    "payment_intent_data[setup_future_usage]".into(),
                    "off_session".into(),
                ),
                (
                    "payment_intent_data[metadata][invoice_id]".into(),
                    id.into(),
                ),
                (
                    "payment_intent_data[metadata][account]".into(),
                    account.into(),
                ),
            ]);
            format!("folio-checkout-{id}")
        }
        CheckoutFor::Trial {
            subscription_id,
            currency,
        } => {
            pairs.extend([
                ("mode".into(), "setup".into()),
                ("client_reference_id".into(), subscription_id.into()),
                ("currency".into(), currency.to_ascii_lowercase()),
                (
                    "setup_intent_data[metadata][account]".into(),
                    account.into(),
                ),
            ]);
            format!("folio-setup-{subscription_id}")
        }
    };
    let answer = post(config, "/v1/checkout/sessions", &key, &pairs)?;
    Ok(Checkout {
        id: id_of(&answer)?,
        url: answer["url"].as_str().unwrap_or_default().to_string(),
    })
}

pub struct Charge<'a> {
    pub account: &'a str,
    pub customer: &'a str,
    pub payment_method: &'a str,
    pub invoice_id: &'a str,
    pub invoice_number: &'a str,
    pub attempt: i64,
    pub amount: i64,
    pub currency: &'a str,
}

/// Charges the card on file without the customer present. `Ok` is the
/// PaymentIntent's id once it succeeded.
pub fn charge(config: &Config, charge: &Charge<'_>) -> Result<String, CallError> {
    let answer = post(
        config,
        "/v1/payment_intents",
        &format!(
            "folio-invoice-{}-attempt-{}",
            charge.invoice_id, charge.attempt
        ),
        &[
            ("amount".into(), charge.amount.to_string()),
            ("currency".into(), charge.currency.to_ascii_lowercase()),
            ("customer".into(), charge.customer.into()),
            ("payment_method".into(), charge.payment_method.into()),
            ("off_session".into(), "true".into()),
            ("confirm".into(), "true".into()),
            (
                "description".into(),
                format!("Invoice {}", charge.invoice_number),
            ),
            ("metadata[invoice_id]".into(), charge.invoice_id.into()),
            ("metadata[account]".into(), charge.account.into()),
            ("metadata[attempt]".into(), charge.attempt.to_string()),
        ],
    )?;
    let id = id_of(&answer)?;
    match answer["status"].as_str() {
        Some("succeeded") => Ok(id),
        other => Err(CallError::Declined {
            payment_intent: Some(id),
            reason: format!(
                "the payment is {} (it needs the customer)",
                other.unwrap_or("in an unknown state")
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test";

    #[test]
    fn a_signature_made_with_the_secret_passes() {
        let payload = br#"{"id":"evt_1"}"#;
        let header = sign(payload, SECRET, 1_700_000_000);
        assert_eq!(
            verify_signature(Some(&header), payload, SECRET, 1_700_000_100),
            Ok(())
        );
    }

    #[test]
    fn any_of_several_v1_signatures_may_match() {
        let payload = b"{}";
        let good = sign(payload, SECRET, 1_700_000_000);
        let v1 = good.split("v1=").nth(1).unwrap();
        let header = format!("t=1700000000,v1={},v1={v1},v0=abc", "00".repeat(32));
        assert_eq!(
            verify_signature(Some(&header), payload, SECRET, 1_700_000_000),
            Ok(())
        );
    }

    #[test]
    fn forged_stale_and_malformed_signatures_are_refused() {
        let payload = br#"{"id":"evt_1"}"#;
        let other = sign(payload, "whsec_other", 1_700_000_000);
        assert_eq!(
            verify_signature(Some(&other), payload, SECRET, 1_700_000_000),
            Err(SignatureError::Mismatch)
        );
        let good = sign(payload, SECRET, 1_700_000_000);
        assert_eq!(
            verify_signature(Some(&good), br#"{"id":"evt_2"}"#, SECRET, 1_700_000_000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(Some(&good), payload, SECRET, 1_700_000_301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify_signature(Some(&good), payload, SECRET, 1_699_999_699),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify_signature(None, payload, SECRET, 1_700_000_000),
            Err(SignatureError::Missing)
        );
        for header in [
            "",
            "v1=abcd",
            "t=1700000000",
            "t=soon,v1=abcd",
            "t=1,t=2,v1=ab",
        ] {
            assert_eq!(
                verify_signature(Some(header), payload, SECRET, 1_700_000_000),
                Err(SignatureError::Malformed),
                "{header}"
            );
        }
        let odd = "t=1700000000,v1=abc";
        assert_eq!(
            verify_signature(Some(odd), payload, SECRET, 1_700_000_000),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn forms_encode_brackets_and_reserved_characters() {
        let body = form(&[
            ("metadata[account]".into(), "a b&c=d".into()),
            ("amount".into(), "1500".into()),
        ]);
        assert_eq!(body, "metadata%5Baccount%5D=a+b%26c%3Dd&amount=1500");
    }
}
