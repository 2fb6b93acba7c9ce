//! The HTTP surface: routing to thin handlers over the publishing code.

pub mod bodies;
pub mod channels;
pub mod distributions;
pub mod feed_keys;
pub mod items;
pub mod pages;

use folio_guest::auth::{Claims, Role, authenticate, require_role};
use folio_guest::http::{Problem, path_segments, query_pairs, respond};
use spin_sdk::http::{Method, Request, Response};

pub fn route(request: Request) -> Response {
    let segments = path_segments(&request);
    let method = request.method().clone();
    let r = &request;
    use Method::{Delete, Get, Head, Post, Put};
    let result = match (segments.as_slice(), &method) {
        (["feeds", name], Get | Head) => crate::feeds_api::feed(r, name),
        (["feeds", _], _) => Err(Problem::method_not_allowed("GET, HEAD")),
        (["sitemap.xml"], Get | Head) => crate::feeds_api::sitemap(r),
        (["sitemap.xml"], _) => Err(Problem::method_not_allowed("GET, HEAD")),
        (["sitemaps", name], Get | Head) => crate::feeds_api::sitemap_page(r, name),
        (["sitemaps", _], _) => Err(Problem::method_not_allowed("GET, HEAD")),
        (["preview", token], Get | Head) => pages::preview(r, token),
        (["preview", _], _) => Err(Problem::method_not_allowed("GET, HEAD")),
        (["api", "v1", rest @ ..], _) => match (rest, &method) {
            (["openapi", "publishing.json"], Get) => Ok(crate::openapi::document()),
            (["openapi", "publishing.json"], _) => Err(Problem::method_not_allowed("GET")),
            (["channels"], Get) => channels::list(r),
            (["channels"], Post) => channels::create(r),
            (["channels"], _) => Err(Problem::method_not_allowed("GET, POST")),
            (["channels", id], Get) => channels::get(r, id),
            (["channels", id], Put) => channels::replace(r, id),
            (["channels", id], Delete) => channels::delete(r, id),
            (["channels", _], _) => Err(Problem::method_not_allowed("GET, PUT, DELETE")),
            (["channels", id, "secrets"], Get) => channels::secrets(r, id),
            (["channels", _, "secrets"], _) => Err(Problem::method_not_allowed("GET")),
            (["channels", id, "secrets", "rotate"], Post) => channels::rotate(r, id),
            (["channels", _, "secrets", "rotate"], _) => Err(Problem::method_not_allowed("POST")),
            (["channels", id, "replay"], Post) => channels::replay(r, id),
            (["channels", _, "replay"], _) => Err(Problem::method_not_allowed("POST")),
            (["approvals"], Get) => items::approval_queue(r),
            (["approvals"], _) => Err(Problem::method_not_allowed("GET")),
            (["content", id, "approvals"], Post) => items::decide(r, id),
            (["content", _, "approvals"], _) => Err(Problem::method_not_allowed("POST")),
            (["content", id, "distributions"], Get) => distributions::for_item(r, id),
            (["content", _, "distributions"], _) => Err(Problem::method_not_allowed("GET")),
            (["content", id, "preview-links"], Post) => items::create_preview_link(r, id),
            (["content", id, "preview-links"], Get) => items::preview_links(r, id),
            (["content", _, "preview-links"], _) => Err(Problem::method_not_allowed("GET, POST")),
            (["preview-links", id], Delete) => items::revoke_preview_link(r, id),
            (["preview-links", _], _) => Err(Problem::method_not_allowed("DELETE")),
            (["feeds", "key"], Post) => feed_keys::create(r),
            (["feeds", "key"], Delete) => feed_keys::revoke(r),
            (["feeds", "key"], _) => Err(Problem::method_not_allowed("POST, DELETE")),
            (["distributions"], Get) => distributions::list(r),
            (["distributions"], _) => Err(Problem::method_not_allowed("GET")),
            (["distributions", id], Get) => distributions::get(r, id),
            (["distributions", _], _) => Err(Problem::method_not_allowed("GET")),
            (["distributions", id, "retry"], Post) => distributions::retry(r, id),
            (["distributions", _, "retry"], _) => Err(Problem::method_not_allowed("POST")),
            _ => Err(Problem::not_found("no such route")),
        },
        _ => Err(Problem::not_found("no such route")),
    };
    respond(result)
}

pub fn admin(request: &Request) -> Result<Claims, Problem> {
    let claims = authenticate(request)?;
    require_role(&claims, &[Role::Admin])?;
    Ok(claims)
}

/// A person: admins and creators (service clients have no say in editorial work).
pub fn editor(request: &Request) -> Result<Claims, Problem> {
    let claims = authenticate(request)?;
    require_role(&claims, &[Role::Admin, Role::Creator])?;
    Ok(claims)
}

/// The query's parameters, 400 naming the first not in `known` or repeated.
pub fn params(request: &Request, known: &[&str]) -> Result<Vec<(String, String)>, Problem> {
    let pairs = query_pairs(request);
    for (i, (name, _)) in pairs.iter().enumerate() {
        if !known.contains(&name.as_str()) {
            return Err(Problem::invalid_field(
                name,
                "is not a known query parameter",
            ));
        }
        if pairs[..i].iter().any(|(n, _)| n == name) {
            return Err(Problem::invalid_field(name, "is repeated"));
        }
    }
    Ok(pairs)
}

pub fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// `limit` between 1 and `max`, `default` when absent.
pub fn limit(pairs: &[(String, String)], default: i64, max: i64) -> Result<i64, Problem> {
    match param(pairs, "limit") {
        None => Ok(default),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|l| (1..=max).contains(l))
            .ok_or_else(|| Problem::invalid_field("limit", format!("must be 1 to {max}"))),
    }
}

/// A UUID path segment, or 404 (a malformed id names nothing).
pub fn uuid(id: &str, what: &str) -> Result<String, Problem> {
    if folio_guest::util::is_uuid(id) {
        Ok(id.to_ascii_lowercase())
    } else {
        Err(Problem::not_found(format!("no such {what}")))
    }
}
