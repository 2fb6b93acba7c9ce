//! Who holds which paid tiers, as a service that gates content keeps it: a
//! projection of the billing service's subscription events (`folio.billing`)
//! into the service's own database, so a check is one indexed read, not a
//! call to billing on every request.
//!
//! A service adds [`MIGRATION`] to its schema, consumes `folio.billing` with
//! [`apply`] in its `[[trigger.event]]` worker, and asks [`tiers_of`] once per
//! request. Events of one account come in its ledger order (they are keyed
//! by account) and carry their ledger sequence; an older one than the row
//! already holds is ignored, so a redelivery or a rewind changes nothing.

use serde_json::Value as Json;

use crate::bindings::folio::platform::sql::{Connection, Value};
use crate::columns::text;
use crate::http::Problem;
use crate::worker::{Event, HandleError};

pub const TOPIC: &str = "folio.billing";

/// The table this module reads and writes.
pub const MIGRATION: &str = "CREATE TABLE entitlements (
    account TEXT PRIMARY KEY,
    -- A JSON array of tier names.
    tiers TEXT NOT NULL,
    sequence BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
)";

/// The billing events that change what an account holds.
const SUBSCRIPTION_EVENTS: [&str; 3] = [
    "folio.billing.SubscriptionCreated",
    "folio.billing.SubscriptionUpdated",
    "folio.billing.SubscriptionCancelled",
];

/// Records the tiers a subscription event grants its account. Other billing
/// events are not about entitlements and are skipped.
pub fn apply(db: &Connection, kind: &str, data: &[u8], now_ms: i64) -> Result<(), Problem> {
    if !SUBSCRIPTION_EVENTS.contains(&kind) {
        return Ok(());
    }
    let data: Json = serde_json::from_slice(data)
        .map_err(|e| Problem::bad_request(format!("{kind}: the data is not JSON: {e}")))?;
    let (Some(account), Some(sequence)) = (data["account"].as_str(), data["sequence"].as_i64())
    else {
        return Err(Problem::bad_request(format!(
            "{kind} without an account and a sequence"
        )));
    };
    let tiers: Vec<String> = data["tiers"]
        .as_array()
        .map(|tiers| {
            tiers
                .iter()
                .filter_map(|t| t.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    db.execute(
        "INSERT INTO entitlements (account, tiers, sequence, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (account) DO UPDATE SET tiers = $2, sequence = $3, updated_at = $4 \
         WHERE entitlements.sequence < $3",
        &[
            Value::Text(account.to_string()),
            Value::Text(serde_json::to_string(&tiers).unwrap_or_else(|_| "[]".into())),
            Value::Integer(sequence),
            Value::Integer(now_ms),
        ],
    )
    .map_err(|e| e.into_problem("entitlements"))?;
    Ok(())
}

/// [`apply`] as a worker's answer to a `folio.billing` event: a database
/// failure is retried, a malformed event rejected.
pub fn consume(db: Result<Connection, Problem>, event: &Event) -> Result<(), HandleError> {
    db.and_then(|db| apply(&db, &event.type_, &event.data, crate::util::now_ms()))
        .map_err(|p| match p.status {
            500.. => HandleError::Retry(p.detail),
            _ => HandleError::Reject(p.detail),
        })
}

/// The tiers `account` holds, as far as this service has heard.
pub fn tiers_of(db: &Connection, account: &str) -> Result<Vec<String>, Problem> {
    let rows = db
        .query(
            "SELECT tiers FROM entitlements WHERE account = $1",
            &[Value::Text(account.to_string())],
        )
        .map_err(|e| e.into_problem("entitlements"))?;
    Ok(rows
        .rows
        .first()
        .and_then(|r| serde_json::from_str(&text(&r[0])).ok())
        .unwrap_or_default())
}

/// A tier name, as plans grant them and content requires them: 1 to 32 of
/// `a-z`, `0-9`, `-`.
pub fn valid_tier(tier: &str) -> bool {
    (1..=32).contains(&tier.len())
        && tier
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The public preview of a gated body: its first paragraph (up to the
/// first `</p>` of HTML, else the first blank line).
pub fn first_paragraph(body: &str) -> &str {
    if let Some(end) = body.find("</p>") {
        return &body[..end + "</p>".len()];
    }
    let trimmed = body.trim_start();
    match trimmed.find("\n\n") {
        Some(end) => &trimmed[..end],
        None => trimmed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preview_is_the_first_paragraph() {
        assert_eq!(first_paragraph("<p>One.</p><p>Two.</p>"), "<p>One.</p>");
        assert_eq!(first_paragraph("\nOne\nline.\n\nTwo."), "One\nline.");
        assert_eq!(first_paragraph("Only one."), "Only one.");
        assert_eq!(first_paragraph(""), "");
    }
}
