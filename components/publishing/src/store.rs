//! The database handle, and the small conversions every module shares.

use folio_guest::http::Problem;
use folio_guest::{Connection, SqlError};

pub fn db() -> Result<Connection, Problem> {
    Connection::open("default").map_err(db_error)
}

pub fn db_error(e: SqlError) -> Problem {
    e.into_problem("publishing")
}

/// Unix milliseconds of an RFC 3339 time with any offset.
pub fn parse_time(text: &str) -> Option<i64> {
    text.parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_millisecond())
}

pub fn json_list(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}
