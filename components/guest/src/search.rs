//! Full-text search indexes held by the host (`folio:platform/search`):
//! the indexes spin.toml grants (`[component.NAME.tool.folio] search_indexes`),
//! and their errors as problem responses.

pub use crate::bindings::folio::platform::search::{
    AnyOf, Document, Error, FacetCount, Hit, Index, IndexStats, Query, Results, SortOrder,
    Suggestion,
};

use crate::http::Problem;

impl Error {
    /// A stable, machine-readable name for the error's kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::NoSuchIndex(_) => "no-such-index",
            Error::InvalidArgument(_) => "invalid-argument",
            Error::Unavailable(_) => "unavailable",
        }
    }
}

impl From<Error> for Problem {
    fn from(e: Error) -> Problem {
        match e {
            Error::NoSuchIndex(name) => Problem::new(
                500,
                "Internal error",
                format!(
                    "the search index {name} is not granted to this component \
                     (search_indexes in spin.toml)"
                ),
            ),
            Error::InvalidArgument(why) => {
                Problem::bad_request(format!("the search index refused the request: {why}"))
            }
            Error::Unavailable(why) => {
                Problem::unavailable(format!("the search index is unavailable: {why}"))
                    .with_header("retry-after", "1".to_string())
            }
        }
    }
}

/// Opens index `name`; 500 when spin.toml does not grant it.
pub fn open(name: &str) -> Result<Index, Problem> {
    Index::open(name).map_err(Problem::from)
}
