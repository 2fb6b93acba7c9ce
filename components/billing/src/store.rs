//! The database handle and the deployment's billing settings.

use folio_guest::http::Problem;
use folio_guest::{Connection, RowSet, SqlError, Transaction, Value};

pub fn db() -> Result<Connection, Problem> {
    Connection::open("default").map_err(db_error)
}

pub fn db_error(e: SqlError) -> Problem {
    e.into_problem("billing")
}

/// A read, inside a transaction or not: the same lookups serve both.
pub trait Reads {
    fn read(&self, statement: &str, params: &[Value]) -> Result<RowSet, Problem>;
}

impl Reads for Connection {
    fn read(&self, statement: &str, params: &[Value]) -> Result<RowSet, Problem> {
        self.query(statement, params).map_err(db_error)
    }
}

impl Reads for Transaction {
    fn read(&self, statement: &str, params: &[Value]) -> Result<RowSet, Problem> {
        self.query(statement, params).map_err(db_error)
    }
}

/// The tax rate on invoices, in basis points (`tax_rate_bp`, default 0;
/// 2000 is 20%). A value that is not a whole number from 0 to 10000 is a
/// deployment error, answered 503 rather than billed wrong.
pub fn tax_rate() -> Result<i64, Problem> {
    match spin_sdk::variables::get("tax_rate_bp") {
        Err(_) => Ok(0),
        Ok(raw) if raw.trim().is_empty() => Ok(0),
        Ok(raw) => raw
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|bp| (0..=10_000).contains(bp))
            .ok_or_else(|| {
                Problem::unavailable("tax_rate_bp must be basis points from 0 to 10000")
            }),
    }
}
