//! The HTTP surface: routing to thin handlers over the notification code.
//! The live stream (`/api/v1/notifications/stream`) is answered in
//! `lib.rs`, where the response can be written a piece at a time.

pub mod bodies;
pub mod inbox;
pub mod log;
pub mod push;
pub mod settings;
pub mod templates;
pub mod unsubscribe;

use folio_guest::auth::{Claims, Role, authenticate, require_role};
use folio_guest::http::{Problem, path_segments, query_pairs, respond};
use spin_sdk::http::{Method, Request, Response};

pub fn route(request: Request) -> Response {
    let segments = path_segments(&request);
    let method = request.method().clone();
    let r = &request;
    use Method::{Delete, Get, Post, Put};
    let result = match (segments.as_slice(), &method) {
        (["api", "v1", "openapi", "notifications.json"], Get) => Ok(crate::openapi::document()),
        (["api", "v1", "openapi", "notifications.json"], _) => {
            Err(Problem::method_not_allowed("GET"))
        }
        (["api", "v1", "notifications"], Get) => inbox::list(r),
        (["api", "v1", "notifications"], Post) => inbox::broadcast(r),
        (["api", "v1", "notifications"], _) => Err(Problem::method_not_allowed("GET, POST")),
        (["api", "v1", "notifications", "unread-count"], Get) => inbox::unread_count(r),
        (["api", "v1", "notifications", "unread-count"], _) => {
            Err(Problem::method_not_allowed("GET"))
        }
        (["api", "v1", "notifications", "read-all"], Post) => inbox::read_all(r),
        (["api", "v1", "notifications", "read-all"], _) => Err(Problem::method_not_allowed("POST")),
        (["api", "v1", "notifications", "stream-tickets"], Post) => inbox::stream_ticket(r),
        (["api", "v1", "notifications", "stream-tickets"], _) => {
            Err(Problem::method_not_allowed("POST"))
        }
        (["api", "v1", "notifications", "vapid-public-key"], Get) => push::vapid_public_key(r),
        (["api", "v1", "notifications", "vapid-public-key"], _) => {
            Err(Problem::method_not_allowed("GET"))
        }
        (["api", "v1", "notifications", "unsubscribe"], Get) => unsubscribe::page(r),
        (["api", "v1", "notifications", "unsubscribe"], Post) => unsubscribe::one_click(r),
        (["api", "v1", "notifications", "unsubscribe"], _) => {
            Err(Problem::method_not_allowed("GET, POST"))
        }
        (["api", "v1", "notifications", id, "read"], Post) => inbox::read(r, id),
        (["api", "v1", "notifications", _, "read"], _) => Err(Problem::method_not_allowed("POST")),
        (["api", "v1", "push-subscriptions"], Post) => push::subscribe(r),
        (["api", "v1", "push-subscriptions"], Get) => push::list(r),
        (["api", "v1", "push-subscriptions"], _) => Err(Problem::method_not_allowed("GET, POST")),
        (["api", "v1", "push-subscriptions", id], Delete) => push::unsubscribe(r, id),
        (["api", "v1", "push-subscriptions", _], _) => Err(Problem::method_not_allowed("DELETE")),
        (["api", "v1", "users", "me", "notification-preferences"], Get) => {
            settings::get_preferences(r)
        }
        (["api", "v1", "users", "me", "notification-preferences"], Put) => {
            settings::put_preferences(r)
        }
        (["api", "v1", "users", "me", "notification-preferences"], _) => {
            Err(Problem::method_not_allowed("GET, PUT"))
        }
        (["api", "v1", "users", "me", "follows"], Get) => settings::list_follows(r),
        (["api", "v1", "users", "me", "follows"], Post) => settings::follow(r),
        (["api", "v1", "users", "me", "follows"], Delete) => settings::unfollow(r),
        (["api", "v1", "users", "me", "follows"], _) => {
            Err(Problem::method_not_allowed("GET, POST, DELETE"))
        }
        (["api", "v1", "notification-templates"], Get) => templates::list(r),
        (["api", "v1", "notification-templates"], _) => Err(Problem::method_not_allowed("GET")),
        (["api", "v1", "notification-templates", key], Get) => templates::get(r, key),
        (["api", "v1", "notification-templates", key], Put) => templates::put(r, key),
        (["api", "v1", "notification-templates", key], Delete) => templates::delete(r, key),
        (["api", "v1", "notification-templates", _], _) => {
            Err(Problem::method_not_allowed("GET, PUT, DELETE"))
        }
        (["api", "v1", "notification-templates", key, "preview"], Post) => {
            templates::preview(r, key)
        }
        (["api", "v1", "notification-templates", _, "preview"], _) => {
            Err(Problem::method_not_allowed("POST"))
        }
        (["api", "v1", "notification-deliveries"], Get) => log::deliveries(r),
        (["api", "v1", "notification-deliveries"], _) => Err(Problem::method_not_allowed("GET")),
        _ => Err(Problem::not_found("no such route")),
    };
    respond(result)
}

/// The signed-in user (any role but a service client).
pub fn user(request: &Request) -> Result<Claims, Problem> {
    let claims = authenticate(request)?;
    if claims.role() == Some(Role::Service) {
        return Err(Problem::forbidden("a service client has no inbox"));
    }
    Ok(claims)
}

pub fn admin(request: &Request) -> Result<Claims, Problem> {
    let claims = authenticate(request)?;
    require_role(&claims, &[Role::Admin])?;
    Ok(claims)
}

/// The query's parameters, 400 naming the first not in `known` or repeated.
pub fn params(request: &Request, known: &[&str]) -> Result<Vec<(String, String)>, Problem> {
    let pairs = query_pairs(request);
    for (i, (name, _)) in pairs.iter().enumerate() {
        if !known.contains(&name.as_str()) {
            return Err(
                Problem::bad_request(format!("unknown query parameter {name}"))
                    .with_extension("parameter", serde_json::json!(name)),
            );
        }
        if pairs[..i].iter().any(|(n, _)| n == name) {
            return Err(Problem::bad_request(format!(
                "query parameter {name} is repeated"
            )));
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
            .ok_or_else(|| {
                Problem::bad_request(format!("limit must be a whole number from 1 to {max}"))
            }),
    }
}
