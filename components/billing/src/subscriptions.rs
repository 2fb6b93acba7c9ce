//! Subscriptions: a plan at a price, in a period, through a provider. Each
//! change is a ledger entry written in the same transaction as the
//! subscription's row, which is the state the entries add up to.
//!
//! `incomplete` (first invoice unpaid) → `active`; `trialing` (a trial
//! grants the plan's tiers at once) → `active` at the trial's end;
//! `active` renews each period with an invoice; a cancel takes effect at the
//! period's end (`canceled`), until then `resume` undoes it; a plan change
//! is prorated over what is left of the period. A failed payment makes it
//! `past_due` until paid, or `canceled` after the last retry (`collection.rs`).

use folio_guest::columns::{integer, optional_integer, text};
use folio_guest::http::{JsonBody, Problem};
use folio_guest::util::{is_uuid, new_id};
use folio_guest::{Connection, Transaction, Value};
use serde::Serialize;
use serde_json::json;

use crate::calendar;
use crate::collection::{self, Payment};
use crate::customers;
use crate::invoices::{self, Draft, Invoice, Line};
use crate::ledger::{self, Kind};
use crate::money;
use crate::plans::{self, Interval, Plan};
use crate::store::{Reads, db_error};
use crate::stripe::{self, Checkout, CheckoutFor};
use crate::usage;

/// Statuses that hold the account's one live subscription.
const LIVE: &str = "('incomplete', 'trialing', 'active', 'past_due')";
/// Statuses that grant the plan's tiers.
const ENTITLED: [&str; 3] = ["trialing", "active", "past_due"];
const DAY_MS: i64 = 86_400_000;
/// Renewals taken per query.
const RENEWAL_BATCH: i64 = 200;
/// How long one cron run keeps renewing (the host stops a run at 30 s).
const RENEWAL_BUDGET: std::time::Duration = std::time::Duration::from_secs(20);

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
    /// Unused time credited by a downgrade, taken off the next invoices.
    pub credit: i64,
    pub created_at_ms: i64,
}

pub(crate) const COLUMNS: &str = "id, account, plan_id, billing_interval, currency, amount, provider, status, \
                       period_start, period_end, trial_end, cancel_at_period_end, ended_at, credit, created_at";

pub(crate) fn from_row(r: &[Value]) -> Subscription {
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
        credit: integer(&r[13]),
        created_at_ms: integer(&r[14]),
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
         status, period_start, period_end, trial_end, cancel_at_period_end, ended_at, created_at, updated_at, \
         credit) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14, $15) \
         ON CONFLICT (id) DO UPDATE SET plan_id = $3, billing_interval = $4, currency = $5, amount = $6, \
         status = $8, period_start = $9, period_end = $10, trial_end = $11, cancel_at_period_end = $12, \
         ended_at = $13, updated_at = $14, credit = $15",
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
            Value::Integer(s.credit),
        ],
    )
    .map_err(db_error)?;
    Ok(())
}

/// The state an entry records, with the tiers it grants now (what the
/// services that gate content keep, from these events).
fn snapshot(tx: &Transaction, s: &Subscription) -> Result<serde_json::Value, Problem> {
    let plan = match ENTITLED.contains(&s.status.as_str()) {
        true => plans::get(tx, &s.plan_id)?,
        false => None,
    };
    Ok(snapshot_of(s, plan.as_ref()))
}

/// [`snapshot`] when the caller has `s`'s plan already.
fn snapshot_of(s: &Subscription, plan: Option<&Plan>) -> serde_json::Value {
    let tiers = match plan {
        Some(plan) if ENTITLED.contains(&s.status.as_str()) => plan.tiers.clone(),
        _ => Vec::new(),
    };
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
        "credit": s.credit,
        "tiers": tiers,
    })
}

/// Saves `s` and appends a `kind` entry of the state it is now in: every
/// change to a subscription is both, in one transaction.
fn record(tx: &Transaction, s: &Subscription, kind: Kind, now_ms: i64) -> Result<(), Problem> {
    let data = snapshot(tx, s)?;
    record_with(tx, s, kind, &data, now_ms)
}

/// [`record`] with `data` (a snapshot, perhaps with more fields) as the entry.
fn record_with(
    tx: &Transaction,
    s: &Subscription,
    kind: Kind,
    data: &serde_json::Value,
    now_ms: i64,
) -> Result<(), Problem> {
    save(tx, s, now_ms)?;
    ledger::append(tx, &s.account, kind, data, now_ms)
}

/// The subscription `invoice` bills, if any.
fn billed(tx: &Transaction, invoice: &Invoice) -> Result<Option<Subscription>, Problem> {
    match &invoice.subscription_id {
        Some(id) => by_id(tx, id),
        None => Ok(None),
    }
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
    let (plan, interval, currency) = parse_price(db, body)?;
    let provider = body.optional_str("provider")?.unwrap_or("manual");
    match provider {
        "manual" => {}
        "stripe" if stripe::config().is_some() => {}
        "stripe" => {
            return Err(Problem::invalid_field(
                "provider",
                "stripe is not configured on this deployment; use manual",
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

/// `POST /api/v1/billing/subscriptions/me/change`: `{planId, interval?, currency?}`.
pub fn parse_change(db: &Connection, body: &JsonBody) -> Result<(Plan, Interval, String), Problem> {
    body.only(&["planId", "interval", "currency"])?;
    parse_price(db, body)
}

/// A plan and one of its prices: `planId`, `interval` (default month) and
/// `currency` (needed only when the plan is priced in several).
fn parse_price(db: &Connection, body: &JsonBody) -> Result<(Plan, Interval, String), Problem> {
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
    Ok((plan, interval, currency))
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

pub struct Started {
    pub subscription: Subscription,
    pub invoice: Option<Invoice>,
    /// Where a Stripe customer pays the first invoice, or leaves a card for
    /// when the trial ends.
    pub checkout: Option<Checkout>,
}

/// Starts `account`'s subscription: a trial at once when the plan has one,
/// else `incomplete` with its first invoice. With Stripe, the Checkout
/// Session is made first, so a provider that fails leaves nothing behind.
pub fn subscribe(
    db: &Connection,
    account: &str,
    order: Order,
    tax_rate: i64,
    now_ms: i64,
) -> Result<Started, Problem> {
    let price = order
        .plan
        .price(order.interval, &order.currency)
        .cloned()
        .ok_or_else(|| Problem::invalid_field("currency", "has no price"))?;
    let already = || {
        Problem::conflict("the account already has a subscription: change its plan or cancel it")
    };
    if live(db, account)?.is_some() {
        return Err(already());
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
        credit: 0,
        created_at_ms: now_ms,
    };
    let line = plan_line(&order.plan, &subscription);
    let invoice_id = new_id();
    let checkout = match order.provider.as_str() {
        "stripe" => {
            let config =
                stripe::config().ok_or_else(|| Problem::unavailable("Stripe is not configured"))?;
            let customer = customers::ensure(db, &config, account, now_ms)?;
            let (_, _, total) = invoices::totals(std::slice::from_ref(&line), tax_rate);
            let purpose = if trial {
                CheckoutFor::Trial {
                    subscription_id: &subscription.id,
                    currency: &subscription.currency,
                }
            } else {
                CheckoutFor::Invoice {
                    id: &invoice_id,
                    description: &line.description,
                    amount: total,
                    currency: &subscription.currency,
                }
            };
            Some(
                stripe::checkout(&config, account, &customer, purpose)
                    .map_err(customers::provider_problem)?,
            )
        }
        _ => None,
    };
    let tx = db.begin().map_err(db_error)?;
    ledger::lock_account(&tx, account, now_ms)?;
    if live(&tx, account)?.is_some() {
        return Err(already());
    }
    record(&tx, &subscription, Kind::SubscriptionCreated, now_ms)?;
    let invoice = if trial {
        None
    } else {
        Some(invoices::issue(
            &tx,
            Draft {
                id: invoice_id,
                account,
                subscription_id: Some(&subscription.id),
                currency: &subscription.currency,
                lines: vec![line],
                tax_rate,
                provider: &subscription.provider,
                collect: false,
            },
            now_ms,
        )?)
    };
    tx.commit().map_err(db_error)?;
    Ok(Started {
        subscription,
        invoice,
        checkout,
    })
}

/// Which subscription an action is on.
#[derive(Clone, Copy)]
pub enum Target<'a> {
    /// The account's live one: its owner acting.
    LiveOf(&'a str),
    /// One by id: an admin acting for the customer. It must still be live.
    Id(&'a str),
}

/// The live subscription `target` names, read under its account's lock.
fn locked_live(tx: &Transaction, target: Target, now_ms: i64) -> Result<Subscription, Problem> {
    let account = match target {
        Target::LiveOf(account) => account.to_string(),
        Target::Id(id) => {
            by_id(tx, id)?
                .ok_or_else(|| Problem::not_found("no such subscription"))?
                .account
        }
    };
    ledger::lock_account(tx, &account, now_ms)?;
    match (target, live(tx, &account)?) {
        (Target::LiveOf(_), Some(s)) => Ok(s),
        (Target::LiveOf(_), None) => Err(Problem::not_found("the account has no subscription")),
        (Target::Id(id), Some(s)) if s.id == id => Ok(s),
        (Target::Id(_), _) => Err(Problem::conflict("the subscription has ended")),
    }
}

/// Schedules the end at the period's end (an unpaid first period ends now).
pub fn cancel(db: &Connection, target: Target, now_ms: i64) -> Result<Subscription, Problem> {
    let tx = db.begin().map_err(db_error)?;
    let mut s = locked_live(&tx, target, now_ms)?;
    if s.status == "incomplete" {
        s.status = "canceled".into();
        s.ended_at_ms = Some(now_ms);
        record(&tx, &s, Kind::SubscriptionCancelled, now_ms)?;
        tx.execute(
            "UPDATE invoices SET status = 'void' WHERE subscription_id = $1 AND status = 'open'",
            &[Value::Text(s.id.clone())],
        )
        .map_err(db_error)?;
    } else {
        if s.cancel_at_period_end {
            return Err(Problem::conflict(
                "the subscription already ends at the end of its period",
            ));
        }
        s.cancel_at_period_end = true;
        record(&tx, &s, Kind::SubscriptionUpdated, now_ms)?;
    }
    tx.commit().map_err(db_error)?;
    Ok(s)
}

pub struct Change {
    pub subscription: Subscription,
    /// The prorated difference, when the change costs more than the
    /// unused time it credits.
    pub invoice: Option<Invoice>,
}

/// Moves the live subscription to another plan or interval now. Unused time
/// on the old price is credited and the new price charged for what is left
/// of the period (an interval change starts a new period now, charged
/// whole); a positive difference is invoiced and collected at once, a
/// negative one is kept as credit for the next invoices. A trial just
/// changes plan.
pub fn change(
    db: &Connection,
    account: &str,
    (plan, interval, currency): (Plan, Interval, String),
    tax_rate: i64,
    now_ms: i64,
) -> Result<Change, Problem> {
    let price = plan
        .price(interval, &currency)
        .cloned()
        .ok_or_else(|| Problem::invalid_field("currency", "has no price"))?;
    let tx = db.begin().map_err(db_error)?;
    ledger::lock_account(&tx, account, now_ms)?;
    let mut s =
        live(&tx, account)?.ok_or_else(|| Problem::not_found("the account has no subscription"))?;
    if s.plan_id == plan.id && s.interval == interval {
        return Err(Problem::invalid_field(
            "planId",
            "is the current plan and interval",
        ));
    }
    if currency != s.currency {
        return Err(Problem::invalid_field(
            "currency",
            format!(
                "must stay {}: a subscription is billed in one currency",
                s.currency
            ),
        ));
    }
    if s.status == "incomplete" {
        return Err(Problem::conflict(
            "the first invoice is unpaid: pay it, or cancel and subscribe again",
        ));
    }
    let from_plan = s.plan_id.clone();
    let old = plans::get(&tx, &s.plan_id)?;
    let mut invoice = None;
    let mut proration = json!(null);
    if s.status == "trialing" {
        s.plan_id = plan.id.clone();
        s.interval = interval;
        s.amount = price.amount;
    } else {
        let length = (s.current_period_end_ms - s.current_period_start_ms).max(1);
        let left = (s.current_period_end_ms - now_ms).clamp(0, length);
        let credit = money::prorate(s.amount, left, length);
        let charge = if interval == s.interval {
            money::prorate(price.amount, left, length)
        } else {
            s.current_period_start_ms = now_ms;
            s.current_period_end_ms = calendar::period_end(now_ms, interval);
            price.amount
        };
        let old_name = old.map_or_else(|| "the previous plan".to_string(), |p| p.name);
        s.plan_id = plan.id.clone();
        s.interval = interval;
        s.amount = price.amount;
        let net = charge - credit;
        proration = json!({ "credit": credit, "charge": charge, "net": net });
        if net > 0 {
            let mut lines = vec![
                Line {
                    description: format!("Unused time on {old_name}"),
                    quantity: 1,
                    unit_amount: -credit,
                    amount: -credit,
                },
                Line {
                    description: format!(
                        "{} ({}, {} to {})",
                        plan.name,
                        interval.name(),
                        calendar::date(now_ms),
                        calendar::date(s.current_period_end_ms)
                    ),
                    quantity: 1,
                    unit_amount: charge,
                    amount: charge,
                },
            ];
            apply_credit(&mut s, &mut lines);
            let due = lines.iter().map(|l| l.amount).sum::<i64>();
            invoice = Some((lines, due));
        } else {
            s.credit += -net;
        }
    }
    let mut data = snapshot_of(&s, Some(&plan));
    data["change"] =
        json!({ "fromPlanId": from_plan, "toPlanId": plan.id, "proration": proration });
    record_with(&tx, &s, Kind::SubscriptionUpdated, &data, now_ms)?;
    let invoice = match invoice {
        Some((lines, due)) => {
            let issued = invoices::issue(
                &tx,
                Draft {
                    id: new_id(),
                    account,
                    subscription_id: Some(&s.id),
                    currency: &s.currency,
                    lines,
                    tax_rate,
                    provider: &s.provider,
                    collect: due > 0,
                },
                now_ms,
            )?;
            if issued.total <= 0 {
                invoices::settle(&tx, &issued, "credit", None, now_ms)?;
            }
            Some(issued)
        }
        None => None,
    };
    tx.commit().map_err(db_error)?;
    // A card on file is charged now rather than at the next cron tick.
    if let Some(issued) = invoice.as_ref().filter(|i| i.provider == "stripe") {
        collection::collect_now(db, &issued.id, now_ms)?;
    }
    let subscription = by_id(db, &s.id)?.unwrap_or(s);
    let invoice = match invoice {
        Some(i) => invoices::get(db, &i.id)?,
        None => None,
    };
    Ok(Change {
        subscription,
        invoice,
    })
}

/// Undoes a scheduled cancel.
pub fn resume(db: &Connection, target: Target, now_ms: i64) -> Result<Subscription, Problem> {
    let tx = db.begin().map_err(db_error)?;
    let mut s = locked_live(&tx, target, now_ms)?;
    if !s.cancel_at_period_end {
        return Err(Problem::conflict("the subscription is not set to end"));
    }
    s.cancel_at_period_end = false;
    record(&tx, &s, Kind::SubscriptionUpdated, now_ms)?;
    tx.commit().map_err(db_error)?;
    Ok(s)
}

/// An admin records a bank transfer: the invoice is paid, and the
/// subscription it bills becomes active.
pub fn mark_paid(db: &Connection, invoice_id: &str, now_ms: i64) -> Result<Invoice, Problem> {
    let invoice =
        invoices::get(db, invoice_id)?.ok_or_else(|| Problem::not_found("no such invoice"))?;
    let tx = db.begin().map_err(db_error)?;
    let reference = format!("transfer-{}", invoice.id);
    let payment = Payment {
        reference: &reference,
        provider: "manual",
        method: "bank_transfer",
        amount: invoice.total,
        currency: &invoice.currency,
    };
    if !collection::succeeded(&tx, invoice_id, &payment, now_ms)? {
        return Err(Problem::conflict(format!(
            "invoice {} is {}, not open",
            invoice.number, invoice.status
        )));
    }
    tx.commit().map_err(db_error)?;
    invoices::get(db, invoice_id)?.ok_or_else(|| Problem::not_found("no such invoice"))
}

/// `invoice` was paid (in `tx`, its account locked): the subscription it
/// bills, unpaid or past due, is active.
pub fn paid(tx: &Transaction, invoice: &Invoice, now_ms: i64) -> Result<(), Problem> {
    let unpaid =
        billed(tx, invoice)?.filter(|s| s.status == "incomplete" || s.status == "past_due");
    if let Some(mut s) = unpaid {
        s.status = "active".into();
        record(tx, &s, Kind::SubscriptionUpdated, now_ms)?;
    }
    Ok(())
}

/// A collection of `invoice` failed (in `tx`, its account locked): its
/// subscription is past due, or, after the last retry, canceled with the
/// invoice void.
pub fn dunning(
    tx: &Transaction,
    invoice: &Invoice,
    exhausted: bool,
    now_ms: i64,
) -> Result<(), Problem> {
    let Some(mut s) = billed(tx, invoice)? else {
        return Ok(());
    };
    if exhausted {
        tx.execute(
            "UPDATE invoices SET status = 'void', next_attempt_at = NULL WHERE id = $1 AND status = 'open'",
            &[Value::Text(invoice.id.clone())],
        )
        .map_err(db_error)?;
        if !ENTITLED.contains(&s.status.as_str()) {
            return Ok(());
        }
        s.status = "canceled".into();
        s.ended_at_ms = Some(now_ms);
        let mut data = snapshot(tx, &s)?;
        data["reason"] = json!("payment_failed");
        record_with(tx, &s, Kind::SubscriptionCancelled, &data, now_ms)?;
    } else if s.status == "active" {
        s.status = "past_due".into();
        record(tx, &s, Kind::SubscriptionUpdated, now_ms)?;
    }
    Ok(())
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

/// Takes what credit `s` holds off `lines` (at most their total).
fn apply_credit(s: &mut Subscription, lines: &mut Vec<Line>) {
    let billable: i64 = lines.iter().map(|l| l.amount).sum();
    let credited = s.credit.min(billable);
    if credited > 0 {
        s.credit -= credited;
        lines.push(Line {
            description: "Credit for unused time".into(),
            quantity: 1,
            unit_amount: -credited,
            amount: -credited,
        });
    }
}

/// Issues `lines` to `s`'s account, collected when due; settled at once
/// when credit covered it all.
fn bill(
    tx: &Transaction,
    s: &Subscription,
    lines: Vec<Line>,
    tax_rate: i64,
    now_ms: i64,
) -> Result<(), Problem> {
    let invoice = invoices::issue(
        tx,
        Draft {
            id: new_id(),
            account: &s.account,
            subscription_id: Some(&s.id),
            currency: &s.currency,
            lines,
            tax_rate,
            provider: &s.provider,
            collect: true,
        },
        now_ms,
    )?;
    if invoice.total <= 0 {
        invoices::settle(tx, &invoice, "credit", None, now_ms)?;
    }
    Ok(())
}

/// Ends or renews subscriptions whose period is over: a scheduled cancel
/// takes effect; otherwise the next period starts (a trial becomes active)
/// with its invoice. Each in its own transaction, batch after batch for up
/// to [`RENEWAL_BUDGET`] (the next tick takes the rest); returns how many.
pub fn renew_due(db: &Connection, tax_rate: i64, now_ms: i64) -> Result<usize, Problem> {
    let started = std::time::Instant::now();
    let mut done = 0;
    loop {
        let (taken, renewed) = renew_batch(db, tax_rate, now_ms)?;
        done += renewed;
        if taken < RENEWAL_BATCH as usize || started.elapsed() > RENEWAL_BUDGET {
            return Ok(done);
        }
    }
}

/// One batch of [`renew_due`]: how many were due, and how many of those
/// this run ended or renewed.
fn renew_batch(db: &Connection, tax_rate: i64, now_ms: i64) -> Result<(usize, usize), Problem> {
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
        let plan = plans::get(&tx, &s.plan_id)?;
        // The usage of the period that ends, billed in arrears (a trial's is free).
        let usage = match &plan {
            Some(plan) if s.status != "trialing" => usage::lines(
                &tx,
                &account,
                &plan.meters,
                &s.currency,
                s.current_period_start_ms,
                at,
            )?,
            _ => Vec::new(),
        };
        if s.cancel_at_period_end {
            s.status = "canceled".into();
            s.ended_at_ms = Some(at);
            record(&tx, &s, Kind::SubscriptionCancelled, now_ms)?;
            if !usage.is_empty() {
                let mut lines = usage;
                apply_credit(&mut s, &mut lines);
                save(&tx, &s, now_ms)?;
                bill(&tx, &s, lines, tax_rate, now_ms)?;
            }
        } else {
            let Some(plan) = plan else {
                continue;
            };
            s.status = if s.status == "trialing" {
                "active".into()
            } else {
                s.status
            };
            s.current_period_start_ms = at;
            s.current_period_end_ms = calendar::period_end(at, s.interval);
            let mut lines = vec![plan_line(&plan, &s)];
            lines.extend(usage);
            apply_credit(&mut s, &mut lines);
            let data = snapshot_of(&s, Some(&plan));
            record_with(&tx, &s, Kind::SubscriptionUpdated, &data, now_ms)?;
            bill(&tx, &s, lines, tax_rate, now_ms)?;
        }
        tx.commit().map_err(db_error)?;
        done += 1;
    }
    Ok((due.rows.len(), done))
}
