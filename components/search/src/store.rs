//! Where the service keeps things: the `content` search index and its own
//! database (reindex jobs, search analytics).

use folio_guest::http::Problem;
use folio_guest::search::Index;
use folio_guest::{Connection, SqlError};

/// The index spin.toml grants (`search_indexes`).
pub const INDEX: &str = "content";

pub fn index() -> Result<Index, Problem> {
    folio_guest::search::open(INDEX)
}

pub fn db() -> Result<Connection, Problem> {
    Connection::open("default").map_err(db_error)
}

pub fn db_error(e: SqlError) -> Problem {
    e.into_problem("search")
}
