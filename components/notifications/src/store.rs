//! The database handle and the shapes shared by the modules that read it.

use folio_guest::http::Problem;
use folio_guest::{Connection, SqlError};

pub fn db() -> Result<Connection, Problem> {
    Connection::open("default").map_err(db_error)
}

pub fn db_error(e: SqlError) -> Problem {
    e.into_problem("notifications")
}
