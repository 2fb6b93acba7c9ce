//! Invoices: numbered gaplessly per year (`2026-000001`), with line items,
//! tax and totals in minor units, issued inside the transaction of the
//! change that bills (so a number is never taken by an invoice that then
//! fails to exist), each an `InvoiceGenerated` entry in the ledger.

use folio_guest::columns::{integer, optional_integer, optional_text, text};
use folio_guest::http::Problem;
use folio_guest::{Connection, Transaction, Value};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::calendar;
use crate::ledger::{self, Kind};
use crate::money;
use crate::store::{Reads, db_error};

/// Days a manual (bank transfer) invoice may stay unpaid; a Stripe invoice
/// is charged when issued.
pub const PAYMENT_TERMS_DAYS: i64 = 14;
const DAY_MS: i64 = 86_400_000;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Line {
    pub description: String,
    pub quantity: i64,
    pub unit_amount: i64,
    pub amount: i64,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Invoice {
    pub id: String,
    pub number: String,
    pub account: String,
    pub subscription_id: Option<String>,
    pub currency: String,
    pub lines: Vec<Line>,
    pub subtotal: i64,
    /// Basis points: 2000 is 20%.
    pub tax_rate: i64,
    pub tax: i64,
    pub total: i64,
    /// `open`, `paid` or `void`.
    pub status: String,
    pub issued_at_ms: i64,
    pub due_at_ms: i64,
    pub paid_at_ms: Option<i64>,
    /// `manual` or `stripe`.
    pub provider: String,
    /// Collection attempts that failed so far.
    pub attempts: i64,
    /// When it is next collected (charged, or checked for a transfer).
    pub next_attempt_at_ms: Option<i64>,
}

/// Totals of `lines` taxed at `tax_rate` basis points.
pub fn totals(lines: &[Line], tax_rate: i64) -> (i64, i64, i64) {
    let subtotal: i64 = lines.iter().map(|l| l.amount).sum();
    let tax = money::tax(subtotal.max(0), tax_rate);
    (subtotal, tax, subtotal + tax)
}

/// The next number of `year`, taken in `tx`: the counter row stays locked
/// until `tx` ends, and a rollback gives the number back.
fn next_number(tx: &Transaction, year: i64) -> Result<String, Problem> {
    let rows = tx
        .query(
            "INSERT INTO invoice_numbers (year, last_number) VALUES ($1, 1) \
             ON CONFLICT (year) DO UPDATE SET last_number = invoice_numbers.last_number + 1 \
             RETURNING last_number",
            &[Value::Integer(year)],
        )
        .map_err(db_error)?;
    let n = rows.rows.first().map(|r| integer(&r[0])).unwrap_or(0);
    if n <= 0 {
        return Err(Problem::unavailable("no invoice number could be taken"));
    }
    Ok(format!("{year}-{n:06}"))
}

pub struct Draft<'a> {
    /// Known before the invoice exists when a provider needs it first.
    pub id: String,
    pub account: &'a str,
    pub subscription_id: Option<&'a str>,
    pub currency: &'a str,
    pub lines: Vec<Line>,
    pub tax_rate: i64,
    pub provider: &'a str,
    /// Whether the cron collects it at its due date (renewals, plan
    /// changes); a first invoice is paid by the customer at checkout or by
    /// transfer instead.
    pub collect: bool,
}

/// Issues `draft` in `tx` (the account locked): numbered, stored, in the ledger.
pub fn issue(tx: &Transaction, draft: Draft<'_>, now_ms: i64) -> Result<Invoice, Problem> {
    let (subtotal, tax, total) = totals(&draft.lines, draft.tax_rate);
    let due_at_ms = match draft.provider {
        "manual" => now_ms + PAYMENT_TERMS_DAYS * DAY_MS,
        _ => now_ms,
    };
    let invoice = Invoice {
        id: draft.id,
        number: next_number(tx, calendar::year(now_ms))?,
        account: draft.account.to_string(),
        subscription_id: draft.subscription_id.map(str::to_string),
        currency: draft.currency.to_string(),
        lines: draft.lines,
        subtotal,
        tax_rate: draft.tax_rate,
        tax,
        total,
        status: "open".into(),
        issued_at_ms: now_ms,
        due_at_ms,
        paid_at_ms: None,
        provider: draft.provider.to_string(),
        attempts: 0,
        next_attempt_at_ms: draft.collect.then_some(due_at_ms),
    };
    tx.execute(
        "INSERT INTO invoices (id, number, account, subscription_id, currency, lines, subtotal, \
         tax_rate_bp, tax, total, status, issued_at, due_at, provider, next_attempt_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        &[
            Value::Text(invoice.id.clone()),
            Value::Text(invoice.number.clone()),
            Value::Text(invoice.account.clone()),
            invoice
                .subscription_id
                .clone()
                .map_or(Value::Null, Value::Text),
            Value::Text(invoice.currency.clone()),
            Value::Text(serde_json::to_string(&invoice.lines).unwrap_or_default()),
            Value::Integer(subtotal),
            Value::Integer(invoice.tax_rate),
            Value::Integer(tax),
            Value::Integer(total),
            Value::Text(invoice.status.clone()),
            Value::Integer(invoice.issued_at_ms),
            Value::Integer(invoice.due_at_ms),
            Value::Text(invoice.provider.clone()),
            invoice
                .next_attempt_at_ms
                .map_or(Value::Null, Value::Integer),
        ],
    )
    .map_err(db_error)?;
    ledger::append(
        tx,
        draft.account,
        Kind::InvoiceGenerated,
        &json!({
            "invoiceId": invoice.id,
            "number": invoice.number,
            "subscriptionId": invoice.subscription_id,
            "currency": invoice.currency,
            "subtotal": subtotal,
            "tax": tax,
            "total": total,
            "amountText": money::display(total, &invoice.currency),
            "dueAtMs": invoice.due_at_ms,
            "dueDate": calendar::date(invoice.due_at_ms),
        }),
        now_ms,
    )?;
    Ok(invoice)
}

const COLUMNS: &str = "id, number, account, subscription_id, currency, lines, subtotal, \
                       tax_rate_bp, tax, total, status, issued_at, due_at, paid_at, provider, \
                       attempts, next_attempt_at";

fn from_row(r: &[Value]) -> Invoice {
    Invoice {
        id: text(&r[0]),
        number: text(&r[1]),
        account: text(&r[2]),
        subscription_id: optional_text(&r[3]),
        currency: text(&r[4]),
        lines: serde_json::from_str(&text(&r[5])).unwrap_or_default(),
        subtotal: integer(&r[6]),
        tax_rate: integer(&r[7]),
        tax: integer(&r[8]),
        total: integer(&r[9]),
        status: text(&r[10]),
        issued_at_ms: integer(&r[11]),
        due_at_ms: integer(&r[12]),
        paid_at_ms: optional_integer(&r[13]),
        provider: text(&r[14]),
        attempts: integer(&r[15]),
        next_attempt_at_ms: optional_integer(&r[16]),
    }
}

pub fn get(db: &impl Reads, id: &str) -> Result<Option<Invoice>, Problem> {
    let rows = db.read(
        &format!("SELECT {COLUMNS} FROM invoices WHERE id = $1"),
        &[Value::Text(id.to_string())],
    )?;
    Ok(rows.rows.first().map(|r| from_row(r)))
}

/// `account`'s invoices, newest first.
pub fn of_account(db: &Connection, account: &str) -> Result<Vec<Invoice>, Problem> {
    let rows = db
        .query(
            &format!(
                "SELECT {COLUMNS} FROM invoices WHERE account = $1 ORDER BY issued_at DESC, number DESC"
            ),
            &[Value::Text(account.to_string())],
        )
        .map_err(db_error)?;
    Ok(rows.rows.iter().map(|r| from_row(r)).collect())
}

/// Marks `invoice` paid in `tx` and records the payment in the ledger;
/// `reference` is the provider's (a PaymentIntent id) when there is one.
pub fn settle(
    tx: &Transaction,
    invoice: &Invoice,
    method: &str,
    reference: Option<&str>,
    now_ms: i64,
) -> Result<(), Problem> {
    let changed = tx
        .execute(
            "UPDATE invoices SET status = 'paid', paid_at = $2, next_attempt_at = NULL \
             WHERE id = $1 AND status = 'open'",
            &[Value::Text(invoice.id.clone()), Value::Integer(now_ms)],
        )
        .map_err(db_error)?;
    if changed != 1 {
        return Err(Problem::conflict(format!(
            "invoice {} is {}, not open",
            invoice.number, invoice.status
        )));
    }
    ledger::append(
        tx,
        &invoice.account,
        Kind::PaymentProcessed,
        &json!({
            "invoiceId": invoice.id,
            "number": invoice.number,
            "currency": invoice.currency,
            "amount": invoice.total,
            "method": method,
            "reference": reference,
        }),
        now_ms,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_add_tax_on_the_subtotal() {
        let lines = vec![
            Line {
                description: "Pro (month)".into(),
                quantity: 1,
                unit_amount: 999,
                amount: 999,
            },
            Line {
                description: "Credit for unused time".into(),
                quantity: 1,
                unit_amount: -333,
                amount: -333,
            },
        ];
        assert_eq!(totals(&lines, 2000), (666, 133, 799));
        assert_eq!(totals(&[], 2000), (0, 0, 0));
    }
}
