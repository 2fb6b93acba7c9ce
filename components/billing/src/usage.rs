//! Usage metering: services (or admins) report usage events, each kept once
//! per transaction id; at a period's end each meter of the plan is
//! aggregated over the period (sum, count, max or unique values) and billed
//! as a line of the renewal invoice.

use folio_guest::columns::integer;
use folio_guest::entitlements::valid_tier;
use folio_guest::http::{JsonBody, Problem};
use folio_guest::util::{is_uuid, parse_rfc3339_ms};
use folio_guest::{Connection, Value};
use serde::Serialize;
use serde_json::Value as Json;

use crate::invoices::Line;
use crate::plans::{Aggregation, Meter};
use crate::store::{Reads, db_error};

/// Events per request.
pub const MAX_BATCH: usize = 1000;
const MAX_QUANTITY: i64 = 1_000_000_000_000;
/// Usage older than this is refused: its period is long billed.
const MAX_AGE_MS: i64 = 400 * 86_400_000;
/// Clocks disagree a little; the future does not happen.
const MAX_AHEAD_MS: i64 = 5 * 60_000;
/// Rows per INSERT: 7 parameters each, well under every engine's limit.
const ROWS_PER_STATEMENT: usize = 100;

pub struct UsageEvent {
    pub transaction_id: String,
    pub account: String,
    pub meter: String,
    pub quantity: i64,
    pub value: Option<String>,
    pub at_ms: i64,
}

/// `POST /api/v1/billing/usage`: `{events: [{transactionId, account, meter,
/// quantity?, value?, timestamp?}]}`, checked whole (422 naming
/// `events[i].field`, nothing kept).
pub fn parse(body: &JsonBody, now_ms: i64) -> Result<Vec<UsageEvent>, Problem> {
    body.only(&["events"])?;
    let Some(Json::Array(raw)) = body.value("events") else {
        return Err(Problem::invalid_field(
            "events",
            "must be a list of usage events",
        ));
    };
    if raw.is_empty() || raw.len() > MAX_BATCH {
        return Err(Problem::invalid_field(
            "events",
            format!("must hold 1 to {MAX_BATCH} events"),
        ));
    }
    let mut events = Vec::with_capacity(raw.len());
    for (i, raw) in raw.iter().enumerate() {
        let field = |name: &str| format!("events[{i}].{name}");
        let Json::Object(event) = raw else {
            return Err(Problem::invalid_field(
                &format!("events[{i}]"),
                "must be an object",
            ));
        };
        const KNOWN: [&str; 6] = [
            "transactionId",
            "account",
            "meter",
            "quantity",
            "value",
            "timestamp",
        ];
        if let Some(unknown) = event.keys().find(|k| !KNOWN.contains(&k.as_str())) {
            return Err(Problem::invalid_field(
                &field(unknown),
                "is not a known field",
            ));
        }
        let transaction_id = event
            .get("transactionId")
            .and_then(Json::as_str)
            .filter(|t| (1..=128).contains(&t.len()) && t.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or_else(|| {
                Problem::invalid_field(
                    &field("transactionId"),
                    "must be 1 to 128 visible ASCII characters",
                )
            })?;
        let account = event
            .get("account")
            .and_then(Json::as_str)
            .filter(|a| is_uuid(a))
            .ok_or_else(|| Problem::invalid_field(&field("account"), "must be a user id"))?;
        let meter = event
            .get("meter")
            .and_then(Json::as_str)
            .filter(|m| valid_tier(m))
            .ok_or_else(|| {
                Problem::invalid_field(
                    &field("meter"),
                    "must be a meter key: 1 to 32 of a-z, 0-9, -",
                )
            })?;
        let quantity = match event.get("quantity") {
            None => 1,
            Some(q) => q
                .as_i64()
                .filter(|q| (0..=MAX_QUANTITY).contains(q))
                .ok_or_else(|| {
                    Problem::invalid_field(
                        &field("quantity"),
                        format!("must be a whole number from 0 to {MAX_QUANTITY}"),
                    )
                })?,
        };
        let value = match event.get("value") {
            None | Some(Json::Null) => None,
            Some(Json::String(v)) if (1..=256).contains(&v.len()) => Some(v.clone()),
            Some(_) => {
                return Err(Problem::invalid_field(
                    &field("value"),
                    "must be a string of 1 to 256 bytes (what `unique` meters count)",
                ));
            }
        };
        let at_ms = match event.get("timestamp") {
            None => now_ms,
            Some(t) => t
                .as_str()
                .and_then(parse_rfc3339_ms)
                .filter(|at| *at <= now_ms + MAX_AHEAD_MS && *at >= now_ms - MAX_AGE_MS)
                .ok_or_else(|| {
                    Problem::invalid_field(
                        &field("timestamp"),
                        "must be an RFC 3339 time, not ahead of now nor over 400 days old",
                    )
                })?,
        };
        events.push(UsageEvent {
            transaction_id: transaction_id.to_string(),
            account: account.to_ascii_lowercase(),
            meter: meter.to_string(),
            quantity,
            value,
            at_ms,
        });
    }
    Ok(events)
}

#[derive(Serialize)]
pub struct Recorded {
    pub accepted: usize,
    /// Transaction ids seen before: not counted again.
    pub duplicates: usize,
}

/// Keeps `events` in one transaction; a transaction id already kept is
/// skipped, so a client may retry a batch as often as it likes.
pub fn record(db: &Connection, events: &[UsageEvent], now_ms: i64) -> Result<Recorded, Problem> {
    let tx = db.begin().map_err(db_error)?;
    let mut accepted = 0;
    for chunk in events.chunks(ROWS_PER_STATEMENT) {
        let mut placeholders = Vec::with_capacity(chunk.len());
        let mut params = Vec::with_capacity(chunk.len() * 7);
        for (i, e) in chunk.iter().enumerate() {
            let n = i * 7;
            placeholders.push(format!(
                "(${}, ${}, ${}, ${}, ${}, ${}, ${})",
                n + 1,
                n + 2,
                n + 3,
                n + 4,
                n + 5,
                n + 6,
                n + 7
            ));
            params.extend([
                Value::Text(e.transaction_id.clone()),
                Value::Text(e.account.clone()),
                Value::Text(e.meter.clone()),
                Value::Integer(e.quantity),
                e.value.clone().map_or(Value::Null, Value::Text),
                Value::Integer(e.at_ms),
                Value::Integer(now_ms),
            ]);
        }
        accepted += tx
            .execute(
                &format!(
                    "INSERT INTO usage_events (transaction_id, account, meter, quantity, value, at, \
                     recorded_at) VALUES {} ON CONFLICT (transaction_id) DO NOTHING",
                    placeholders.join(", ")
                ),
                &params,
            )
            .map_err(db_error)? as usize;
    }
    tx.commit().map_err(db_error)?;
    Ok(Recorded {
        accepted,
        duplicates: events.len() - accepted,
    })
}

/// `meter`'s quantity for `account` over `[from_ms, to_ms)`.
pub fn quantity(
    db: &impl Reads,
    account: &str,
    meter: &Meter,
    from_ms: i64,
    to_ms: i64,
) -> Result<i64, Problem> {
    let aggregate = match meter.aggregation {
        Aggregation::Sum => "COALESCE(SUM(quantity), 0)",
        Aggregation::Count => "COUNT(*)",
        Aggregation::Max => "COALESCE(MAX(quantity), 0)",
        Aggregation::Unique => "COUNT(DISTINCT value)",
    };
    let rows = db.read(
        &format!(
            "SELECT {aggregate} FROM usage_events WHERE account = $1 AND meter = $2 \
             AND at >= $3 AND at < $4"
        ),
        &[
            Value::Text(account.to_string()),
            Value::Text(meter.key.clone()),
            Value::Integer(from_ms),
            Value::Integer(to_ms),
        ],
    )?;
    Ok(rows.rows.first().map(|r| integer(&r[0])).unwrap_or(0))
}

/// The invoice lines of a period's metered usage in `currency`: one per
/// meter priced in it with any usage.
pub fn lines(
    db: &impl Reads,
    account: &str,
    meters: &[Meter],
    currency: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<Line>, Problem> {
    let mut lines = Vec::new();
    for meter in meters {
        let Some(unit) = meter.unit_amounts.get(currency) else {
            continue;
        };
        let quantity = quantity(db, account, meter, from_ms, to_ms)?;
        if quantity == 0 {
            continue;
        }
        let amount = quantity.checked_mul(*unit).ok_or_else(|| {
            Problem::unavailable(format!("{}: the usage amount overflows", meter.key))
        })?;
        lines.push(Line {
            description: format!("{} ({})", meter.key, aggregation_name(meter.aggregation)),
            quantity,
            unit_amount: *unit,
            amount,
        });
    }
    Ok(lines)
}

fn aggregation_name(a: Aggregation) -> &'static str {
    match a {
        Aggregation::Sum => "sum",
        Aggregation::Count => "count",
        Aggregation::Max => "max",
        Aggregation::Unique => "unique values",
    }
}
