//! The HTTP surface: routing to thin handlers over the content code.

pub mod bodies;
pub mod categories;
pub mod content;
pub mod imports;
pub mod index_feed;
pub mod relations;

use folio_guest::http::{Problem, path_segments, respond};
use spin_sdk::http::{Method, Request, Response};

pub fn route(request: Request) -> Response {
    let segments = path_segments(&request);
    let method = request.method().clone();
    let r = &request;
    use Method::{Delete, Get, Patch, Post, Put};
    let result = match (segments.as_slice(), &method) {
        (["api", "v1", rest @ ..], _) => match (rest, &method) {
            (["content"], Get) => content::list(r),
            (["content"], Post) => content::create(r),
            (["content"], _) => Err(Problem::method_not_allowed("GET, POST")),
            (["content", "index-feed"], Get) => index_feed::get(r),
            (["content", "import"], Post) => imports::import(r),
            (["content", "import"], _) => Err(Problem::method_not_allowed("POST")),
            (["content", "imports", id], Get) => imports::job(r, id),
            (["content", "imports", _], _) => Err(Problem::method_not_allowed("GET")),
            (["content", id], Get) => content::get(r, id),
            (["content", id], Put) => content::update(r, id, true),
            (["content", id], Patch) => content::update(r, id, false),
            (["content", id], Delete) => content::delete(r, id),
            (["content", _], _) => Err(Problem::method_not_allowed("GET, PUT, PATCH, DELETE")),
            (["content", id, "revisions"], Get) => content::revisions(r, id),
            (["content", _, "revisions"], _) => Err(Problem::method_not_allowed("GET")),
            (["content", id, "revisions", n], Get) => content::revision(r, id, n),
            (["content", _, "revisions", _], _) => Err(Problem::method_not_allowed("GET")),
            (["content", id, "revisions", n, "restore"], Post) => content::restore(r, id, n),
            (["content", _, "revisions", _, "restore"], _) => {
                Err(Problem::method_not_allowed("POST"))
            }
            (["content", id, "transitions"], Post) => content::transition(r, id),
            (["content", _, "transitions"], _) => Err(Problem::method_not_allowed("POST")),
            (["content", id, "relations"], Get) => relations::list(r, id),
            (["content", id, "relations"], Post) => relations::create(r, id),
            (["content", _, "relations"], _) => Err(Problem::method_not_allowed("GET, POST")),
            (["content", id, "relations", kind, target], Delete) => {
                relations::delete(r, id, kind, target)
            }
            (["content", _, "relations", _, _], _) => Err(Problem::method_not_allowed("DELETE")),
            (["content", id, "schedule"], Delete) => content::cancel_schedule(r, id),
            (["content", _, "schedule"], _) => Err(Problem::method_not_allowed("DELETE")),
            (["openapi", "content.json"], Get) => Ok(crate::openapi::document()),
            (["tags"], Get) => content::tags(r),
            (["tags"], _) => Err(Problem::method_not_allowed("GET")),
            (["categories"], Get) => categories::list(r),
            (["categories"], Post) => categories::create(r),
            (["categories"], _) => Err(Problem::method_not_allowed("GET, POST")),
            (["categories", "by-slug", slug], Get) => categories::by_slug(slug),
            (["categories", "by-slug", _], _) => Err(Problem::method_not_allowed("GET")),
            (["categories", id], Get) => categories::get(id),
            (["categories", id], Put) => categories::replace(r, id),
            (["categories", id], Delete) => categories::delete(r, id),
            (["categories", _], _) => Err(Problem::method_not_allowed("GET, PUT, DELETE")),
            _ => Err(Problem::not_found("no such route")),
        },
        _ => Err(Problem::not_found("no such route")),
    };
    respond(result)
}
