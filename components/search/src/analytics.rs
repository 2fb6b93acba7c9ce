//! Search analytics: what people search for (`search_queries`), what they
//! click in the results (`search_clicks`), and the report built from both.
//! Queries are kept normalized (lowercased, whitespace collapsed), so
//! "Rust  Wasm" and "rust wasm" count as one.

use folio_guest::columns::{integer, text};
use folio_guest::http::Problem;
use folio_guest::util::{now_ms, rfc3339};
use folio_guest::{Connection, Value};
use serde::Serialize;
use utoipa::ToSchema;

use crate::query::MAX_QUERY_CHARS;
use crate::store::{self, db_error};

/// Rows in each list of the report.
const TOP: i64 = 20;

/// Lowercased, runs of whitespace made one space, trimmed, at most
/// [`MAX_QUERY_CHARS`] characters.
pub fn normalize(query: &str) -> String {
    query
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
        .chars()
        .take(MAX_QUERY_CHARS)
        .collect()
}

/// Records a search for `query` (normalized) that matched `results` documents.
pub fn record_search(query: &str, results: u64) -> Result<(), Problem> {
    store::db()?
        .execute(
            "INSERT INTO search_queries (at, query, results) VALUES ($1, $2, $3)",
            &[
                Value::Timestamp(rfc3339(now_ms())),
                Value::Text(query.to_string()),
                Value::Integer(results.min(i64::MAX as u64) as i64),
            ],
        )
        .map_err(db_error)?;
    Ok(())
}

pub struct Click {
    /// Normalized.
    pub query: String,
    pub content_id: String,
    /// 1 for the first result.
    pub position: i64,
}

pub fn record_click(click: &Click) -> Result<(), Problem> {
    store::db()?
        .execute(
            "INSERT INTO search_clicks (at, query, content_id, position) VALUES ($1, $2, $3, $4)",
            &[
                Value::Timestamp(rfc3339(now_ms())),
                Value::Text(click.query.clone()),
                Value::Text(click.content_id.clone()),
                Value::Integer(click.position),
            ],
        )
        .map_err(db_error)?;
    Ok(())
}

/// Searches and clicks between two times.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub searches: i64,
    pub clicks: i64,
    /// Clicks per search.
    pub click_through_rate: f64,
    /// The most searched queries, most first (at most 20).
    pub top_queries: Vec<QueryStats>,
    /// The most searched queries that found nothing, most first (at most 20).
    pub no_result_queries: Vec<NoResultQuery>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueryStats {
    pub query: String,
    pub searches: i64,
    pub clicks: i64,
    pub click_through_rate: f64,
}

#[derive(Serialize, ToSchema)]
pub struct NoResultQuery {
    pub query: String,
    /// Searches for it that found nothing.
    pub searches: i64,
}

fn rate(clicks: i64, searches: i64) -> f64 {
    if searches == 0 {
        0.0
    } else {
        (clicks as f64 / searches as f64 * 10_000.0).round() / 10_000.0
    }
}

/// The report for `from..=to` (milliseconds).
pub fn report(from_ms: i64, to_ms: i64) -> Result<Report, Problem> {
    let db = store::db()?;
    let range = [
        Value::Timestamp(rfc3339(from_ms)),
        Value::Timestamp(rfc3339(to_ms)),
    ];
    let count = |table: &str| -> Result<i64, Problem> {
        let rows = db
            .query(
                &format!("SELECT COUNT(*) FROM {table} WHERE at >= $1 AND at <= $2"),
                &range,
            )
            .map_err(db_error)?;
        Ok(rows.rows.first().map_or(0, |r| integer(&r[0])))
    };
    let searches = count("search_queries")?;
    let clicks = count("search_clicks")?;
    let top_queries = top_queries(&db, &range)?;
    let no_result_queries = db
        .query(
            &format!(
                "SELECT query, COUNT(*) AS searches FROM search_queries \
                 WHERE at >= $1 AND at <= $2 AND results = 0 \
                 GROUP BY query ORDER BY searches DESC, query LIMIT {TOP}"
            ),
            &range,
        )
        .map_err(db_error)?
        .rows
        .iter()
        .map(|r| NoResultQuery {
            query: text(&r[0]),
            searches: integer(&r[1]),
        })
        .collect();
    Ok(Report {
        searches,
        clicks,
        click_through_rate: rate(clicks, searches),
        top_queries,
        no_result_queries,
    })
}

fn top_queries(db: &Connection, range: &[Value]) -> Result<Vec<QueryStats>, Problem> {
    let rows = db
        .query(
            &format!(
                "SELECT s.query, s.searches, COALESCE(c.clicks, 0) FROM \
                 (SELECT query, COUNT(*) AS searches FROM search_queries \
                  WHERE at >= $1 AND at <= $2 GROUP BY query) s \
                 LEFT JOIN (SELECT query, COUNT(*) AS clicks FROM search_clicks \
                  WHERE at >= $1 AND at <= $2 GROUP BY query) c ON c.query = s.query \
                 ORDER BY s.searches DESC, s.query LIMIT {TOP}"
            ),
            range,
        )
        .map_err(db_error)?;
    Ok(rows
        .rows
        .iter()
        .map(|r| {
            let (searches, clicks) = (integer(&r[1]), integer(&r[2]));
            QueryStats {
                query: text(&r[0]),
                searches,
                clicks,
                click_through_rate: rate(clicks, searches),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_normalized() {
        assert_eq!(normalize("  Rust \t\n WASM  "), "rust wasm");
        assert_eq!(normalize(&"é".repeat(300)).chars().count(), MAX_QUERY_CHARS);
    }

    #[test]
    fn rates_are_clicks_per_search() {
        assert_eq!(rate(0, 0), 0.0);
        assert_eq!(rate(1, 3), 0.3333);
    }
}
