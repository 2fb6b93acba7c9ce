//! Getting invoices paid, and dunning when that fails.
//!
//! An invoice the cron collects (a renewal, a plan change) is charged to the
//! card on file when it is due (Stripe), or checked for the transfer at its
//! due date (manual). A failure is a `PaymentFailed` entry; the subscription
//! turns `past_due` (it keeps its tiers: the grace period) and the invoice is
//! tried again [`RETRY_DAYS`] after its due date; when the last retry fails
//! the subscription is canceled and the invoice void. A payment at any point
//! settles the invoice and makes the subscription `active` again.
//!
//! Outcomes arrive twice for Stripe (the charge's answer and its webhook) and
//! in any order: each is recorded once per (reference, outcome) in
//! `payments`, and only an open invoice changes.

use folio_guest::columns::text;
use folio_guest::http::Problem;
use folio_guest::{Connection, Transaction, Value};
use serde_json::json;

use crate::customers;
use crate::invoices::{self, Invoice};
use crate::ledger::{self, Kind};
use crate::store::db_error;
use crate::stripe::{self, CallError, Charge};
use crate::subscriptions;
use crate::{calendar, money};

/// Days after the due date on which a failed invoice is tried again.
pub const RETRY_DAYS: [i64; 4] = [1, 3, 5, 7];
const DAY_MS: i64 = 86_400_000;
/// How long a claimed attempt is held before another run may take it over
/// (with the same attempt number, so the same idempotency key).
const LEASE_MS: i64 = 10 * 60_000;
/// When Stripe cannot be reached the attempt is not a failure: try later.
const UNREACHABLE_RETRY_MS: i64 = 60 * 60_000;
const COLLECT_BATCH: i64 = 100;

pub struct Payment<'a> {
    /// The provider's reference (a PaymentIntent id), or one of ours.
    pub reference: &'a str,
    pub provider: &'a str,
    /// `card`, `bank_transfer`.
    pub method: &'a str,
    pub amount: i64,
    pub currency: &'a str,
}

/// `invoice_id` locked for a change: read again under its account's lock.
fn locked(tx: &Transaction, invoice_id: &str, now_ms: i64) -> Result<Option<Invoice>, Problem> {
    let Some(invoice) = invoices::get(tx, invoice_id)? else {
        return Ok(None);
    };
    ledger::lock_account(tx, &invoice.account, now_ms)?;
    invoices::get(tx, invoice_id)
}

/// Records an outcome; `false` when it was already recorded.
fn record(
    tx: &Transaction,
    invoice: &Invoice,
    payment: &Payment<'_>,
    outcome: &str,
    reason: Option<&str>,
    now_ms: i64,
) -> Result<bool, Problem> {
    let inserted = tx
        .execute(
            "INSERT INTO payments (reference, outcome, invoice_id, account, provider, amount, currency, \
             reason, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (reference, outcome) DO NOTHING",
            &[
                Value::Text(payment.reference.to_string()),
                Value::Text(outcome.to_string()),
                Value::Text(invoice.id.clone()),
                Value::Text(invoice.account.clone()),
                Value::Text(payment.provider.to_string()),
                Value::Integer(payment.amount),
                Value::Text(payment.currency.to_ascii_uppercase()),
                reason.map_or(Value::Null, |r| Value::Text(r.to_string())),
                Value::Integer(now_ms),
            ],
        )
        .map_err(db_error)?;
    Ok(inserted == 1)
}

/// A payment was taken for `invoice_id`. `Ok(false)`: nothing changed (seen
/// before, the invoice is no longer open, or the amount is not the total).
pub fn succeeded(
    tx: &Transaction,
    invoice_id: &str,
    payment: &Payment<'_>,
    now_ms: i64,
) -> Result<bool, Problem> {
    let Some(invoice) = locked(tx, invoice_id, now_ms)? else {
        return Ok(false);
    };
    let matches =
        payment.amount == invoice.total && payment.currency.eq_ignore_ascii_case(&invoice.currency);
    let outcome = if matches { "succeeded" } else { "mismatched" };
    if !record(tx, &invoice, payment, outcome, None, now_ms)? || !matches {
        return Ok(false);
    }
    if invoice.status != "open" {
        return Ok(false);
    }
    invoices::settle(
        tx,
        &invoice,
        payment.method,
        Some(payment.reference),
        now_ms,
    )?;
    subscriptions::paid(tx, &invoice, now_ms)?;
    Ok(true)
}

/// A payment for `invoice_id` failed. A collected invoice is scheduled
/// again or, after the last retry, ends its subscription; a checkout's
/// failure is only recorded (the customer tries again there).
pub fn failed(
    tx: &Transaction,
    invoice_id: &str,
    payment: &Payment<'_>,
    reason: &str,
    now_ms: i64,
) -> Result<bool, Problem> {
    let Some(invoice) = locked(tx, invoice_id, now_ms)? else {
        return Ok(false);
    };
    if !record(tx, &invoice, payment, "failed", Some(reason), now_ms)? || invoice.status != "open" {
        return Ok(false);
    }
    let attempt = invoice.attempts + 1;
    let collected = invoice.next_attempt_at_ms.is_some();
    let next = if collected {
        RETRY_DAYS
            .get(attempt as usize - 1)
            .map(|days| invoice.due_at_ms + days * DAY_MS)
    } else {
        None
    };
    tx.execute(
        "UPDATE invoices SET attempts = $2, next_attempt_at = $3 WHERE id = $1",
        &[
            Value::Text(invoice.id.clone()),
            Value::Integer(attempt),
            next.map_or(Value::Null, Value::Integer),
        ],
    )
    .map_err(db_error)?;
    ledger::append(
        tx,
        &invoice.account,
        Kind::PaymentFailed,
        &json!({
            "invoiceId": invoice.id,
            "number": invoice.number,
            "subscriptionId": invoice.subscription_id,
            "currency": invoice.currency,
            "amount": invoice.total,
            "amountText": money::display(invoice.total, &invoice.currency),
            "provider": payment.provider,
            "reference": payment.reference,
            "attempt": attempt,
            "reason": reason,
            "nextAttemptAtMs": next,
            "nextAttemptDate": next.map(calendar::date),
            "final": collected && next.is_none(),
        }),
        now_ms,
    )?;
    if collected {
        subscriptions::dunning(tx, &invoice, next.is_none(), now_ms)?;
    }
    Ok(true)
}

/// Every collected invoice whose attempt is due, each claimed first so two
/// hosts' crons do not both charge it. Returns how many were attempted.
pub fn collect_due(db: &Connection, now_ms: i64) -> Result<usize, Problem> {
    let due = db
        .query(
            "SELECT id FROM invoices WHERE status = 'open' AND next_attempt_at IS NOT NULL \
             AND next_attempt_at <= $1 ORDER BY next_attempt_at LIMIT $2",
            &[Value::Integer(now_ms), Value::Integer(COLLECT_BATCH)],
        )
        .map_err(db_error)?;
    let mut attempted = 0;
    for row in &due.rows {
        if collect_now(db, &text(&row[0]), now_ms)? {
            attempted += 1;
        }
    }
    Ok(attempted)
}

/// Attempts `invoice_id` now if its attempt is due and no one else holds
/// it; `false` when it was not.
pub fn collect_now(db: &Connection, invoice_id: &str, now_ms: i64) -> Result<bool, Problem> {
    let claimed = db
        .execute(
            "UPDATE invoices SET next_attempt_at = $2 WHERE id = $1 AND status = 'open' \
             AND next_attempt_at IS NOT NULL AND next_attempt_at <= $3",
            &[
                Value::Text(invoice_id.to_string()),
                Value::Integer(now_ms + LEASE_MS),
                Value::Integer(now_ms),
            ],
        )
        .map_err(db_error)?;
    if claimed != 1 {
        return Ok(false);
    }
    match invoices::get(db, invoice_id)? {
        Some(invoice) => collect(db, &invoice, now_ms).map(|()| true),
        None => Ok(false),
    }
}

fn card_payment<'a>(invoice: &'a Invoice, reference: &'a str) -> Payment<'a> {
    Payment {
        reference,
        provider: &invoice.provider,
        method: "card",
        amount: invoice.total,
        currency: &invoice.currency,
    }
}

/// One attempt at `invoice`, claimed.
fn collect(db: &Connection, invoice: &Invoice, now_ms: i64) -> Result<(), Problem> {
    let attempt = invoice.attempts + 1;
    let ours = format!("folio-{}-attempt-{attempt}", invoice.id);
    let fail = |reference: &str, reason: &str| -> Result<(), Problem> {
        let tx = db.begin().map_err(db_error)?;
        failed(
            &tx,
            &invoice.id,
            &card_payment(invoice, reference),
            reason,
            now_ms,
        )?;
        tx.commit().map_err(db_error)
    };
    if invoice.provider != "stripe" {
        return fail(&ours, "not paid by the due date");
    }
    let Some(config) = stripe::config() else {
        return fail(&ours, "Stripe is not configured on this deployment");
    };
    let card = customers::of_account(db, &invoice.account)?
        .and_then(|c| c.payment_method.map(|method| (c.id, method)));
    let Some((customer, payment_method)) = card else {
        return fail(&ours, "no card on file");
    };
    let charged = stripe::charge(
        &config,
        &Charge {
            account: &invoice.account,
            customer: &customer,
            payment_method: &payment_method,
            invoice_id: &invoice.id,
            invoice_number: &invoice.number,
            attempt,
            amount: invoice.total,
            currency: &invoice.currency,
        },
    );
    match charged {
        Ok(intent) => {
            let tx = db.begin().map_err(db_error)?;
            succeeded(&tx, &invoice.id, &card_payment(invoice, &intent), now_ms)?;
            tx.commit().map_err(db_error)
        }
        Err(CallError::Declined {
            payment_intent,
            reason,
        }) => fail(payment_intent.as_deref().unwrap_or(&ours), &reason),
        Err(CallError::Refused(reason)) => fail(&ours, &reason),
        Err(CallError::Unavailable(reason)) => {
            eprintln!(
                "billing: invoice {} not collected, retrying later: {reason}",
                invoice.number
            );
            db.execute(
                "UPDATE invoices SET next_attempt_at = $2 WHERE id = $1 AND status = 'open'",
                &[
                    Value::Text(invoice.id.clone()),
                    Value::Integer(now_ms + UNREACHABLE_RETRY_MS),
                ],
            )
            .map_err(db_error)?;
            Ok(())
        }
    }
}
