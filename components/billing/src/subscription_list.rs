//! Admins' view across accounts: every subscription, filtered and paged
//! newest first by a keyset cursor, and the totals by status with the
//! monthly recurring revenue.

use std::collections::BTreeMap;

use folio_guest::Value;
use folio_guest::columns::{integer, text};
use folio_guest::http::Problem;
use folio_guest::util::is_uuid;
use serde::Serialize;

use crate::store::Reads;
use crate::subscriptions::{COLUMNS, Subscription, from_row};

pub const STATUSES: [&str; 5] = ["incomplete", "trialing", "active", "past_due", "canceled"];
pub const MAX_PAGE: usize = 100;
/// Statuses that bring in money each period (a trial does not yet).
const PAYING: [&str; 2] = ["active", "past_due"];

#[derive(Default)]
pub struct Filter {
    pub status: Option<String>,
    pub plan_id: Option<String>,
    pub account: Option<String>,
    /// The last row of the page before: `(created_at, id)`.
    pub after: Option<(i64, String)>,
    pub limit: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Page {
    pub items: Vec<Subscription>,
    /// Pass as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// `created_at` and id, which order the rows and never repeat.
fn encode_cursor(s: &Subscription) -> String {
    format!("{}_{}", s.created_at_ms, s.id)
}

/// A cursor [`list`] gave, or `None` for anything else.
pub fn decode_cursor(cursor: &str) -> Option<(i64, String)> {
    let (at, id) = cursor.split_once('_')?;
    let at = at.parse::<i64>().ok().filter(|at| *at >= 0)?;
    is_uuid(id).then(|| (at, id.to_ascii_lowercase()))
}

pub fn list(db: &impl Reads, filter: &Filter) -> Result<Page, Problem> {
    let mut conditions = Vec::new();
    let mut params = Vec::new();
    for (column, value) in [
        ("status", &filter.status),
        ("plan_id", &filter.plan_id),
        ("account", &filter.account),
    ] {
        if let Some(value) = value {
            params.push(Value::Text(value.clone()));
            conditions.push(format!("{column} = ${}", params.len()));
        }
    }
    if let Some((at, id)) = &filter.after {
        params.push(Value::Integer(*at));
        params.push(Value::Text(id.clone()));
        let (at, id) = (params.len() - 1, params.len());
        conditions.push(format!(
            "(created_at < ${at} OR (created_at = ${at} AND id < ${id}))"
        ));
    }
    let filter_sql = match conditions.is_empty() {
        true => String::new(),
        false => format!("WHERE {}", conditions.join(" AND ")),
    };
    let rows = db.read(
        &format!(
            "SELECT {COLUMNS} FROM subscriptions {filter_sql} \
             ORDER BY created_at DESC, id DESC LIMIT {}",
            filter.limit + 1
        ),
        &params,
    )?;
    let mut items: Vec<Subscription> = rows.rows.iter().map(|r| from_row(r)).collect();
    let next_cursor = (items.len() > filter.limit).then(|| {
        items.truncate(filter.limit);
        encode_cursor(items.last().expect("a full page"))
    });
    Ok(Page { items, next_cursor })
}

#[derive(Serialize, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Subscriptions in each status (every status named, 0 included).
    pub by_status: BTreeMap<String, i64>,
    /// Per currency, in minor units: what active and past-due subscriptions
    /// bring in a month (a yearly price counts a twelfth, rounded down).
    pub monthly_recurring: BTreeMap<String, i64>,
}

pub fn summary(db: &impl Reads) -> Result<Summary, Problem> {
    let mut by_status: BTreeMap<String, i64> =
        STATUSES.iter().map(|s| (s.to_string(), 0)).collect();
    let mut monthly_recurring = BTreeMap::new();
    let rows = db.read(
        "SELECT status, currency, billing_interval, COUNT(*), SUM(amount) FROM subscriptions \
         GROUP BY status, currency, billing_interval",
        &[],
    )?;
    for row in &rows.rows {
        let status = text(&row[0]);
        *by_status.entry(status.clone()).or_default() += integer(&row[3]);
        if PAYING.contains(&status.as_str()) {
            let total = integer(&row[4]);
            let monthly = match text(&row[2]).as_str() {
                "year" => total / 12,
                _ => total,
            };
            *monthly_recurring.entry(text(&row[1])).or_default() += monthly;
        }
    }
    Ok(Summary {
        by_status,
        monthly_recurring,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_what_the_service_did_not_give() {
        let id = "0192f0c4-0000-7000-8000-00000000000a";
        assert_eq!(
            decode_cursor(&format!("1733400000000_{id}")),
            Some((1_733_400_000_000, id.to_string()))
        );
        for bad in [
            "",
            "_",
            "12",
            "x_0192f0c4-0000-7000-8000-00000000000a",
            "-5_0192f0c4-0000-7000-8000-00000000000a",
            "12_not-an-id",
            "12_0192f0c4-0000-7000-8000-00000000000a' OR 1=1",
        ] {
            assert_eq!(decode_cursor(bad), None, "{bad}");
        }
    }
}
