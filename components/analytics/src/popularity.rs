//! `GET /api/v1/analytics/popularity?ids=a,b,c`: how popular some content
//! items have been over the last 30 days (pageviews plus reads, from the
//! daily rollups), as boosts from 0 to 1 relative to the most popular of
//! them. The search service blends them into its related items.
//!
//! Only a chained call from a component named in the `popularity_readers`
//! variable gets an answer (the host sets `folio-calling-component` on
//! chained calls and strips it from outside requests): the traffic of items
//! a caller may not read, drafts included, is no one else's business. To
//! anyone else the route does not exist.

use std::collections::BTreeMap;

use folio_guest::Value;
use folio_guest::columns::{integer, text, text_in_list};
use folio_guest::http::{Problem, chained_from, json, query_pairs};
use folio_guest::util::{is_uuid, now_unix};
use serde_json::json;
use spin_sdk::http::{Request, Response};

use crate::store::{self, db_error, floor};

const MAX_IDS: usize = 100;
const WINDOW_DAYS: i64 = 30;

pub fn get(request: &Request) -> Result<Response, Problem> {
    if !chained_from(request, "popularity_readers") {
        return Err(Problem::not_found("no such route"));
    }
    let pairs = query_pairs(request);
    let ids: Vec<String> = pairs
        .iter()
        .filter(|(name, _)| name == "ids")
        .flat_map(|(_, value)| value.split(','))
        .filter(|id| !id.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    if ids.len() > MAX_IDS || ids.iter().any(|id| !is_uuid(id)) {
        return Err(Problem::invalid_field(
            "ids",
            format!("must be at most {MAX_IDS} comma-separated content ids"),
        ));
    }
    let views = views(&ids, floor(now_unix(), "day") - (WINDOW_DAYS - 1) * 86_400)?;
    Ok(json(200, &json!({ "boosts": boosts(&views) })))
}

/// Pageviews plus reads of each of `ids` since `since` (unix seconds, a
/// day's start); items without any are absent.
fn views(ids: &[String], since: i64) -> Result<BTreeMap<String, i64>, Problem> {
    if ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    let (list, mut params) = text_in_list(ids);
    // The ids are $1..$n; the window start follows.
    params.push(Value::Integer(since));
    let rows = store::db()?
        .query(
            &format!(
                "SELECT value, CAST(SUM(pageviews) + SUM(reads) AS BIGINT) FROM rollups \
                 WHERE grain = 'day' AND dimension = 'content' AND value IN ({list}) \
                 AND bucket >= ${} GROUP BY value",
                ids.len() + 1
            ),
            &params,
        )
        .map_err(db_error)?;
    Ok(rows
        .rows
        .iter()
        .map(|r| (text(&r[0]), integer(&r[1])))
        .filter(|(_, n)| *n > 0)
        .collect())
}

/// Each count over the largest.
fn boosts(views: &BTreeMap<String, i64>) -> BTreeMap<String, f64> {
    let most = views.values().copied().max().unwrap_or(0);
    if most <= 0 {
        return BTreeMap::new();
    }
    views
        .iter()
        .map(|(id, n)| (id.clone(), *n as f64 / most as f64))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boosts_are_relative_to_the_most_viewed() {
        let views = BTreeMap::from([("a".to_string(), 40), ("b".to_string(), 10)]);
        let b = boosts(&views);
        assert_eq!(b["a"], 1.0);
        assert_eq!(b["b"], 0.25);
        assert!(boosts(&BTreeMap::new()).is_empty());
    }
}
