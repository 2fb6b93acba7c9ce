//! The HTTP surface: routing to thin handlers over the search code.

pub mod analytics;
pub mod bodies;
pub mod reindex;
pub mod search;

use folio_guest::http::{Problem, path_segments, query_pairs, respond};
use spin_sdk::http::{Method, Request, Response};

use crate::query::Params;

/// The response, and what is left to do once it is sent.
pub struct Answer {
    pub response: Response,
    pub then: Option<search::SearchRecord>,
}

pub fn route(request: Request) -> Answer {
    let segments = path_segments(&request);
    let method = request.method().clone();
    let r = &request;
    use Method::{Get, Post};
    let mut then = None;
    let result = match (segments.as_slice(), &method) {
        (["api", "v1", "openapi", "search.json"], Get) => Ok(crate::openapi::document()),
        (["api", "v1", "openapi", "search.json"], _) => Err(Problem::method_not_allowed("GET")),
        (["api", "v1", "search", rest @ ..], _) => match (rest, &method) {
            ([], Get) => search::search(r).map(|(response, record)| {
                then = record;
                response
            }),
            ([], _) => Err(Problem::method_not_allowed("GET")),
            (["suggest"], Get) => search::suggest(r),
            (["suggest"], _) => Err(Problem::method_not_allowed("GET")),
            (["related", id], Get) => search::related(r, id),
            (["related", _], _) => Err(Problem::method_not_allowed("GET")),
            (["clicks"], Post) => analytics::click(r),
            (["clicks"], _) => Err(Problem::method_not_allowed("POST")),
            (["analytics"], Get) => analytics::report(r),
            (["analytics"], _) => Err(Problem::method_not_allowed("GET")),
            (["reindex"], Post) => reindex::start(r),
            (["reindex"], _) => Err(Problem::method_not_allowed("POST")),
            (["reindex", id], Get) => reindex::status(r, id),
            (["reindex", _], _) => Err(Problem::method_not_allowed("GET")),
            _ => Err(Problem::not_found("no such route")),
        },
        _ => Err(Problem::not_found("no such route")),
    };
    Answer {
        response: respond(result),
        then,
    }
}

/// 400 naming the first query parameter of a route that takes none.
fn no_parameters(request: &Request) -> Result<(), Problem> {
    Params::new(&query_pairs(request), &[]).map(|_| ())
}
