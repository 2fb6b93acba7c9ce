//! Each account's Stripe Customer and the card it keeps for renewals.

use folio_guest::columns::{optional_text, text};
use folio_guest::http::Problem;
use folio_guest::{Connection, Transaction, Value};

use crate::store::{Reads, db_error};
use crate::stripe::{self, CallError};

pub struct Customer {
    pub id: String,
    pub payment_method: Option<String>,
}

pub fn of_account(db: &impl Reads, account: &str) -> Result<Option<Customer>, Problem> {
    let rows = db.read(
        "SELECT customer_id, payment_method FROM stripe_customers WHERE account = $1",
        &[Value::Text(account.to_string())],
    )?;
    Ok(rows.rows.first().map(|r| Customer {
        id: text(&r[0]),
        payment_method: optional_text(&r[1]),
    }))
}

/// The account's customer, created at Stripe the first time (the
/// idempotency key makes a concurrent second creation return the first).
pub fn ensure(
    db: &Connection,
    config: &stripe::Config,
    account: &str,
    now_ms: i64,
) -> Result<String, Problem> {
    if let Some(customer) = of_account(db, account)? {
        return Ok(customer.id);
    }
    let id = stripe::create_customer(config, account).map_err(provider_problem)?;
    db.execute(
        "INSERT INTO stripe_customers (account, customer_id, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (account) DO NOTHING",
        &[
            Value::Text(account.to_string()),
            Value::Text(id.clone()),
            Value::Integer(now_ms),
        ],
    )
    .map_err(db_error)?;
    Ok(id)
}

/// Keeps `payment_method` as the card `customer` is charged on; `false`
/// when it already was.
pub fn remember_card(
    tx: &Transaction,
    customer: &str,
    payment_method: &str,
    now_ms: i64,
) -> Result<bool, Problem> {
    let changed = tx
        .execute(
            "UPDATE stripe_customers SET payment_method = $2, updated_at = $3 WHERE customer_id = $1 \
             AND (payment_method IS NULL OR payment_method <> $2)",
            &[
                Value::Text(customer.to_string()),
                Value::Text(payment_method.to_string()),
                Value::Integer(now_ms),
            ],
        )
        .map_err(db_error)?;
    Ok(changed == 1)
}

/// A provider failure as this service answers it: 502, the request was
/// fine but Stripe did not take it.
pub fn provider_problem(error: CallError) -> Problem {
    let detail = match error {
        CallError::Declined { reason, .. } => reason,
        CallError::Refused(m) | CallError::Unavailable(m) => m,
    };
    Problem::new(502, "Bad Gateway", detail)
}
