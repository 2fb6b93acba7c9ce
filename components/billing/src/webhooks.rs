//! Stripe's webhook deliveries: signature checked over the raw body, each
//! event applied once (its id is stored in the transaction that applies
//! it), in any order (only an open invoice changes, and each payment
//! outcome counts once whichever of the charge's answer or the webhook
//! brings it first).

use folio_guest::Connection;
use folio_guest::http::Problem;
use folio_guest::{Transaction, Value};
use serde::Serialize;
use serde_json::Value as Json;

use crate::collection::{self, Payment};
use crate::customers;
use crate::store::db_error;
use crate::stripe;

/// Stripe's events are a few KiB; anything far larger is not one.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

#[derive(Serialize)]
pub struct Receipt {
    pub received: bool,
    /// Delivered before: nothing was done again.
    pub duplicate: bool,
    /// Whether the event changed anything here.
    pub applied: bool,
}

pub fn receive(
    db: &Connection,
    body: &[u8],
    signature: Option<&str>,
    now_ms: i64,
) -> Result<Receipt, Problem> {
    let secret = stripe::config()
        .map(|c| c.webhook_secret)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Problem::not_found("Stripe webhooks are not configured"))?;
    if body.len() > MAX_BODY_BYTES {
        return Err(Problem::new(
            413,
            "Content Too Large",
            "a Stripe event is at most 256 KiB",
        ));
    }
    stripe::verify_signature(signature, body, &secret, now_ms / 1000)
        .map_err(|e| Problem::bad_request(e.message()))?;
    let event: Json = serde_json::from_slice(body)
        .map_err(|_| Problem::bad_request("the payload is not a JSON event"))?;
    let id = event["id"]
        .as_str()
        .filter(|id| !id.is_empty() && id.len() <= 255)
        .ok_or_else(|| Problem::bad_request("the event has no id"))?;
    let kind = event["type"]
        .as_str()
        .ok_or_else(|| Problem::bad_request("the event has no type"))?;
    let tx = db.begin().map_err(db_error)?;
    let first = tx
        .execute(
            "INSERT INTO stripe_events (id, type, received_at) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO NOTHING",
            &[
                Value::Text(id.to_string()),
                Value::Text(kind.chars().take(255).collect()),
                Value::Integer(now_ms),
            ],
        )
        .map_err(db_error)?
        == 1;
    if !first {
        return Ok(Receipt {
            received: true,
            duplicate: true,
            applied: false,
        });
    }
    let applied = apply(&tx, kind, &event["data"]["object"], now_ms)?;
    tx.commit().map_err(db_error)?;
    Ok(Receipt {
        received: true,
        duplicate: false,
        applied,
    })
}

fn apply(tx: &Transaction, kind: &str, object: &Json, now_ms: i64) -> Result<bool, Problem> {
    let str_of = |field: &str| object[field].as_str().filter(|s| !s.is_empty());
    match kind {
        "payment_intent.succeeded" | "payment_intent.payment_failed" => {
            let (Some(reference), Some(invoice_id)) =
                (str_of("id"), object["metadata"]["invoice_id"].as_str())
            else {
                return Ok(false);
            };
            let payment = Payment {
                reference,
                provider: "stripe",
                method: "card",
                amount: object["amount_received"]
                    .as_i64()
                    .filter(|a| *a > 0)
                    .or_else(|| object["amount"].as_i64())
                    .unwrap_or(0),
                currency: str_of("currency").unwrap_or(""),
            };
            if kind == "payment_intent.succeeded" {
                let mut changed = false;
                if let (Some(customer), Some(method)) =
                    (str_of("customer"), str_of("payment_method"))
                {
                    changed |= customers::remember_card(tx, customer, method, now_ms)?;
                }
                Ok(collection::succeeded(tx, invoice_id, &payment, now_ms)? || changed)
            } else {
                let error = &object["last_payment_error"];
                let reason = error["message"]
                    .as_str()
                    .unwrap_or("the payment failed")
                    .to_string();
                let reason = match error["decline_code"].as_str() {
                    Some(code) => format!("{code}: {reason}"),
                    None => reason,
                };
                collection::failed(tx, invoice_id, &payment, &reason, now_ms)
            }
        }
        "setup_intent.succeeded" => match (str_of("customer"), str_of("payment_method")) {
            (Some(customer), Some(method)) => {
                customers::remember_card(tx, customer, method, now_ms)
            }
            _ => Ok(false),
        },
        _ => Ok(false),
    }
}
