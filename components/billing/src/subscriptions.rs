//! Subscriptions: a plan at a price, in a period, through a provider. Each
//! change is a ledger entry written in the same transaction as the
//! subscription's row, which is the state the entries add up to.
//!
//! `incomplete` (first invoice unpaid) → `active`; `trialing` (a trial
//! grants the plan's tiers at once) → `active` at the trial's end;
//! `active` renews each period with an invoice; a cancel takes effect at the
//! period's end (`canceled`), until then `resume` undoes it. Dunning
//! (`past_due`) is not built yet.

use folio_guest::columns::{integer, optional_integer, text};
use folio_guest::http::{JsonBody, Problem};
use folio_guest::util::{is_uuid, new_id};
use folio_guest::{Connection, Transaction, Value};
use serde::Serialize;
use serde_json::json;

use crate::calendar;
use crate::invoices::{self, Draft, Invoice, Line};
use crate::ledger::{self, Kind};
use crate::plans::{self, Interval, Plan};
use crate::store::{Reads, db_error};

/// Statuses that hold the account's one live subscription.
const LIVE: &str = "('incomplete', 'trialing', 'active', 'past_due')";
/// Statuses that grant the plan's tiers.
const ENTITLED: [&str; 3] = ["trialing", "active", "past_due"];
const DAY_MS: i64 = 86_400_000;
/// Renewals taken per cron run.
const RENEWAL_BATCH: i64 = 200;

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub id: String,
    pub account: String,
    pub plan_id: String,
    pub interval: Interval,
    pub currency: String,
    pub amount: i64,
    pub provider: String,
    pub status: String,
    pub current_period_start_ms: i64,
    pub current_period_end_ms: i64,
    pub trial_end_ms: Option<i64>,
    pub cancel_at_period_end: bool,
    pub ended_at_ms: Option<i64>,
}

const COLUMNS: &str = "id, account, plan_id, billing_interval, currency, amount, provider, status, \
                       period_start, period_end, trial_end, cancel_at_period_end, ended_at";

fn from_row(r: &[Value]) -> Subscription {
    Subscription {
        id: text(&r[0]),
        account: text(&r[1]),
        plan_id: text(&r[2]),
        interval: Interval::parse(&text(&r[3])).unwrap_or(Interval::Month),
        currency: text(&r[4]),
        amount: integer(&r[5]),
        provider: text(&r[6]),
        status: text(&r[7]),
        current_period_start_ms: integer(&r[8]),
        current_period_end_ms: integer(&r[9]),
        trial_end_ms: optional_integer(&r[10]),
        cancel_at_period_end: integer(&r[11]) != 0,
        ended_at_ms: optional_integer(&r[12]),
    }
}

/// The account's one subscription in `incomplete`, `trialing`, `active` or `past_due`.
pub fn live(db: &impl Reads, account: &str) -> Result<Option<Subscription>, Problem> {
    let rows = db.read(
        &format!("SELECT {COLUMNS} FROM subscriptions WHERE account = $1 AND status IN {LIVE}"),
        &[Value::Text(account.to_string())],
    )?;
    Ok(rows.rows.first().map(|r| from_row(r)))
}

fn by_id(db: &impl Reads, id: &str) -> Result<Option<Subscription>, Problem> {
    let rows = db.read(
        &format!("SELECT {COLUMNS} FROM subscriptions WHERE id = $1"),
        &[Value::Text(id.to_string())],
    )?;
    Ok(rows.rows.first().map(|r| from_row(r)))
}

fn save(tx: &Transaction, s: &Subscription, now_ms: i64) -> Result<(), Problem> {
    tx.execute(
        "INSERT INTO subscriptions (id, account, plan_id, billing_interval, currency, amount, provider, \
         status, period_start, period_end, trial_end, cancel_at_period_end, ended_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14) \
         ON CONFLICT (id) DO UPDATE SET plan_id = $3, billing_interval = $4, currency = $5, amount = $6, \
         status = $8, period_start = $9, period_end = $10, trial_end = $11, cancel_at_period_end = $12, \
         ended_at = $13, updated_at = $14",
        &[
            Value::Text(s.id.clone()),
            Value::Text(s.account.clone()),
            Value::Text(s.plan_id.clone()),
            Value::Text(s.interval.name().into()),
            Value::Text(s.currency.clone()),
            Value::Integer(s.amount),
            Value::Text(s.provider.clone()),
            Value::Text(s.status.clone()),
            Value::Integer(s.current_period_start_ms),
            Value::Integer(s.current_period_end_ms),
            s.trial_end_ms.map_or(Value::Null, Value::Integer),
            Value::Integer(i64::from(s.cancel_at_period_end)),
            s.ended_at_ms.map_or(Value::Null, Value::Integer),
            Value::Integer(now_ms),
        ],
    )
    .map_err(db_error)?;
    Ok(())
}

/// The state an entry records.
fn snapshot(s: &Subscription) -> serde_json::Value {
    json!({
        "subscriptionId": s.id,
        "planId": s.plan_id,
        "interval": s.interval,
        "currency": s.currency,
        "amount": s.amount,
        "provider": s.provider,
        "status": s.status,
        "currentPeriodStartMs": s.current_period_start_ms,
        "currentPeriodEndMs": s.current_period_end_ms,
        "trialEndMs": s.trial_end_ms,
        "cancelAtPeriodEnd": s.cancel_at_period_end,
    })
}

pub struct Order {
    pub plan: Plan,
    pub interval: Interval,
    pub currency: String,
    pub provider: String,
}

/// `POST /api/v1/billing/subscriptions`: `{planId, interval?, currency?, provider?}`.
pub fn parse_order(db: &Connection, body: &JsonBody) -> Result<Order, Problem> {
    body.only(&["planId", "interval", "currency", "provider"])?;
    let plan_id = body.required_str("planId")?.to_ascii_lowercase();
    let no_plan = || Problem::invalid_field("planId", "is not a plan in the catalog");
    if !is_uuid(&plan_id) {
        return Err(no_plan());
    }
    let plan = plans::get(db, &plan_id)?.ok_or_else(no_plan)?;
    let interval = match body.optional_str("interval")? {
        None => Interval::Month,
        Some(raw) => Interval::parse(raw)
            .ok_or_else(|| Problem::invalid_field("interval", "must be month or year"))?,
    };
    let currency = match body.value("currency") {
        Some(v) => crate::money::currency("currency", Some(v))?,
        None => {
            let mut offered: Vec<&str> = plan
                .prices
                .iter()
                .filter(|p| p.interval == interval)
                .map(|p| p.currency.as_str())
                .collect();
            offered.dedup();
            match offered.as_slice() {
                [only] => only.to_string(),
                _ => {
                    return Err(Problem::invalid_field(
                        "currency",
                        "is required: the plan is priced in several currencies",
                    ));
                }
            }
        }
    };
    if plan.price(interval, &currency).is_none() {
        return Err(Problem::invalid_field(
            "currency",
            format!("the plan has no {} price in {currency}", interval.name()),
        ));
    }
    let provider = body.optional_str("provider")?.unwrap_or("manual");
    match provider {
        "manual" => {}
        "stripe" => {
            return Err(Problem::invalid_field(
                "provider",
                "stripe is not available on this deployment yet; use manual",
            ));
        }
        _ => {
            return Err(Problem::invalid_field(
                "provider",
                "must be manual or stripe",
            ));
        }
    }
    Ok(Order {
        plan,
        interval,
        currency,
        provider: provider.to_string(),
    })
}

fn plan_line(plan: &Plan, s: &Subscription) -> Line {
    Line {
        description: format!(
            "{} ({}, {} to {})",
            plan.name,
            s.interval.name(),
            calendar::date(s.current_period_start_ms),
            calendar::date(s.current_period_end_ms)
        ),
        quantity: 1,
        unit_amount: s.amount,
        amount: s.amount,
    }
}

/// Starts `account`'s subscription: a trial at once when the plan has one,
/// else `incomplete` with its first invoice.
pub fn subscribe(
    db: &Connection,
    account: &str,
    order: Order,
    tax_rate: i64,
    now_ms: i64,
) -> Result<(Subscription, Option<Invoice>), Problem> {
    let price = order
        .plan
        .price(order.interval, &order.currency)
        .cloned()
        .ok_or_else(|| Problem::invalid_field("currency", "has no price"))?;
    let tx = db.begin().map_err(db_error)?;
    ledger::lock_account(&tx, account, now_ms)?;
    if live(&tx, account)?.is_some() {
        return Err(Problem::conflict(
            "the account already has a subscription: change its plan or cancel it",
        ));
    }
    let trial = order.plan.trial_days > 0;
    let period_end = if trial {
        now_ms + order.plan.trial_days * DAY_MS
    } else {
        calendar::period_end(now_ms, order.interval)
    };
    let subscription = Subscription {
        id: new_id(),
        account: account.to_string(),
        plan_id: order.plan.id.clone(),
        interval: order.interval,
        currency: order.currency.clone(),
        amount: price.amount,
        provider: order.provider.clone(),
        status: if trial { "trialing" } else { "incomplete" }.into(),
        current_period_start_ms: now_ms,
        current_period_end_ms: period_end,
        trial_end_ms: trial.then_some(period_end),
        cancel_at_period_end: false,
        ended_at_ms: None,
    };
    save(&tx, &subscription, now_ms)?;
    ledger::append(
        &tx,
        account,
        Kind::SubscriptionCreated,
        &snapshot(&subscription),
        now_ms,
    )?;
    let invoice = if trial {
        None
    } else {
        Some(invoices::issue(
            &tx,
            Draft {
                account,
                subscription_id: Some(&subscription.id),
                currency: &subscription.currency,
                lines: vec![plan_line(&order.plan, &subscription)],
                tax_rate,
            },
            now_ms,
        )?)
    };
    tx.commit().map_err(db_error)?;
    Ok((subscription, invoice))
}

/// Schedules the end at the period's end (an unpaid first period ends now).
pub fn cancel(db: &Connection, account: &str, now_ms: i64) -> Result<Subscription, Problem> {
    let tx = db.begin().map_err(db_error)?;
    ledger::lock_account(&tx, account, now_ms)?;
    let mut s =
        live(&tx, account)?.ok_or_else(|| Problem::not_found("the account has no subscription"))?;
    if s.status == "incomplete" {
        s.status = "canceled".into();
        s.ended_at_ms = Some(now_ms);
        save(&tx, &s, now_ms)?;
        tx.execute(
            "UPDATE invoices SET status = 'void' WHERE subscription_id = $1 AND status = 'open'",
            &[Value::Text(s.id.clone())],
        )
        .map_err(db_error)?;
        ledger::append(
            &tx,
            account,
            Kind::SubscriptionCancelled,
            &snapshot(&s),
            now_ms,
        )?;
    } else {
        if s.cancel_at_period_end {
            return Err(Problem::conflict(
                "the subscription already ends at the end of its period",
            ));
        }
        s.cancel_at_period_end = true;
        save(&tx, &s, now_ms)?;
        ledger::append(
            &tx,
            account,
            Kind::SubscriptionUpdated,
            &snapshot(&s),
            now_ms,
        )?;
    }
    tx.commit().map_err(db_error)?;
    Ok(s)
}

/// Undoes a scheduled cancel.
pub fn resume(db: &Connection, account: &str, now_ms: i64) -> Result<Subscription, Problem> {
    let tx = db.begin().map_err(db_error)?;
    ledger::lock_account(&tx, account, now_ms)?;
    let mut s =
        live(&tx, account)?.ok_or_else(|| Problem::not_found("the account has no subscription"))?;
    if !s.cancel_at_period_end {
        return Err(Problem::conflict("the subscription is not set to end"));
    }
    s.cancel_at_period_end = false;
    save(&tx, &s, now_ms)?;
    ledger::append(
        &tx,
        account,
        Kind::SubscriptionUpdated,
        &snapshot(&s),
        now_ms,
    )?;
    tx.commit().map_err(db_error)?;
    Ok(s)
}

/// An admin records a bank transfer: the invoice is paid, and the
/// subscription it bills becomes active.
pub fn mark_paid(db: &Connection, invoice_id: &str, now_ms: i64) -> Result<Invoice, Problem> {
    let account = invoices::get(db, invoice_id)?
        .ok_or_else(|| Problem::not_found("no such invoice"))?
        .account;
    let tx = db.begin().map_err(db_error)?;
    ledger::lock_account(&tx, &account, now_ms)?;
    let invoice =
        invoices::get(&tx, invoice_id)?.ok_or_else(|| Problem::not_found("no such invoice"))?;
    invoices::settle(&tx, &invoice, "bank_transfer", now_ms)?;
    let billed = match &invoice.subscription_id {
        Some(id) => by_id(&tx, id)?,
        None => None,
    };
    if let Some(mut s) = billed.filter(|s| s.status == "incomplete" || s.status == "past_due") {
        s.status = "active".into();
        save(&tx, &s, now_ms)?;
        ledger::append(
            &tx,
            &account,
            Kind::SubscriptionUpdated,
            &snapshot(&s),
            now_ms,
        )?;
    }
    tx.commit().map_err(db_error)?;
    invoices::get(db, invoice_id)?.ok_or_else(|| Problem::not_found("no such invoice"))
}

/// The tiers `account` holds now.
pub fn entitlements(
    db: &Connection,
    account: &str,
) -> Result<(Vec<String>, Option<Subscription>), Problem> {
    let Some(s) = live(db, account)? else {
        return Ok((Vec::new(), None));
    };
    if !ENTITLED.contains(&s.status.as_str()) {
        return Ok((Vec::new(), Some(s)));
    }
    let tiers = plans::get(db, &s.plan_id)?
        .map(|p| p.tiers)
        .unwrap_or_default();
    Ok((tiers, Some(s)))
}

/// Ends or renews subscriptions whose period is over: a scheduled cancel
/// takes effect; otherwise the next period starts (a trial becomes active)
/// with its invoice. Each in its own transaction; returns how many.
pub fn renew_due(db: &Connection, tax_rate: i64, now_ms: i64) -> Result<usize, Problem> {
    let due = db
        .query(
            "SELECT id, account FROM subscriptions WHERE period_end <= $1 \
             AND status IN ('trialing', 'active', 'past_due') ORDER BY period_end LIMIT $2",
            &[Value::Integer(now_ms), Value::Integer(RENEWAL_BATCH)],
        )
        .map_err(db_error)?;
    let mut done = 0;
    for row in &due.rows {
        let (id, account) = (text(&row[0]), text(&row[1]));
        let tx = db.begin().map_err(db_error)?;
        ledger::lock_account(&tx, &account, now_ms)?;
        // Another host may have taken it since the query.
        let Some(mut s) = by_id(&tx, &id)? else {
            continue;
        };
        if s.current_period_end_ms > now_ms || !ENTITLED.contains(&s.status.as_str()) {
            continue;
        }
        let at = s.current_period_end_ms;
        if s.cancel_at_period_end {
            s.status = "canceled".into();
            s.ended_at_ms = Some(at);
            save(&tx, &s, now_ms)?;
            ledger::append(
                &tx,
                &account,
                Kind::SubscriptionCancelled,
                &snapshot(&s),
                now_ms,
            )?;
        } else {
            let Some(plan) = plans::get(db, &s.plan_id)? else {
                continue;
            };
            s.status = if s.status == "trialing" {
                "active".into()
            } else {
                s.status
            };
            s.current_period_start_ms = at;
            s.current_period_end_ms = calendar::period_end(at, s.interval);
            save(&tx, &s, now_ms)?;
            ledger::append(
                &tx,
                &account,
                Kind::SubscriptionUpdated,
                &snapshot(&s),
                now_ms,
            )?;
            invoices::issue(
                &tx,
                Draft {
                    account: &account,
                    subscription_id: Some(&s.id),
                    currency: &s.currency,
                    lines: vec![plan_line(&plan, &s)],
                    tax_rate,
                },
                now_ms,
            )?;
        }
        tx.commit().map_err(db_error)?;
        done += 1;
    }
    Ok(done)
}
