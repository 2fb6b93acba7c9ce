//! The HTTP surface: routing to thin handlers over the account, session and
//! token code.

pub mod admin;
pub mod auth;
pub mod bodies;
pub mod me;
pub mod profiles;
pub mod wellknown;

use folio_guest::http::{Problem, path_segments, respond};
use spin_sdk::http::{Method, Request, Response};

pub fn route(request: Request) -> Response {
    let segments = path_segments(&request);
    let method = request.method().clone();
    let r = &request;
    use Method::{Delete, Get, Patch, Post, Put};
    let result = match (segments.as_slice(), &method) {
        ([".well-known", "jwks.json"], Get) => wellknown::jwks(),
        ([".well-known", "openid-configuration"], Get) => wellknown::openid_configuration(),
        ([".well-known", ..], _) => Err(Problem::method_not_allowed("GET")),
        (["api", "v1", "openapi", "users.json"], Get) => Ok(crate::openapi::document()),
        (["api", "v1", rest @ ..], _) => match (rest, &method) {
            (["auth", "register"], Post) => auth::register(r),
            (["auth", "login"], Post) => auth::login(r),
            (["auth", "mfa"], Post) => auth::mfa(r),
            (["auth", "refresh"], Post) => auth::refresh(r),
            (["auth", "logout"], Post) => auth::logout(r),
            (["auth", "token"], Post) => auth::token(r),
            (["auth", "session"], Get) => auth::session(r),
            (["auth", "password-reset"], Post) => auth::request_password_reset(r),
            (["auth", "password-reset", "confirm"], Post) => auth::confirm_password_reset(r),
            (["auth", ..], _) => Err(not_here_or_method(rest, "POST")),
            (["users", "me"], Get) => me::get(r),
            (["users", "me"], Patch) => me::patch(r),
            (["users", "me"], _) => Err(Problem::method_not_allowed("GET, PATCH")),
            (["users", "me", "preferences"], Put) => me::put_preferences(r),
            (["users", "me", "preferences"], _) => Err(Problem::method_not_allowed("PUT")),
            (["users", "me", "password"], Post) => me::change_password(r),
            (["users", "me", "mfa"], Delete) => me::disable_mfa(r),
            (["users", "me", "mfa", "totp"], Post) => me::enrol_totp(r),
            (["users", "me", "mfa", "totp", "verify"], Post) => me::verify_totp(r),
            (["users", "me", ..], _) => Err(not_here_or_method(rest, "POST")),
            (["users", "profiles"], Get) => profiles::list(r),
            (["users", "profiles"], _) => Err(Problem::method_not_allowed("GET")),
            (["users"], Get) => admin::list_users(r),
            (["users"], _) => Err(Problem::method_not_allowed("GET")),
            (["users", id], Get) => admin::get_user(r, id),
            (["users", id], Patch) => admin::patch_user(r, id),
            (["users", id], Delete) => admin::delete_user(r, id),
            (["users", _], _) => Err(Problem::method_not_allowed("GET, PATCH, DELETE")),
            (["service-clients"], Get) => admin::list_clients(r),
            (["service-clients"], Post) => admin::register_client(r),
            (["service-clients"], _) => Err(Problem::method_not_allowed("GET, POST")),
            (["service-clients", id], Delete) => admin::delete_client(r, id),
            (["service-clients", _], _) => Err(Problem::method_not_allowed("DELETE")),
            _ => Err(not_found()),
        },
        _ => Err(not_found()),
    };
    respond(result)
}

fn not_found() -> Problem {
    Problem::not_found("no such route")
}

/// A known route hit with the wrong method is a 405, anything else a 404.
fn not_here_or_method(rest: &[&str], allowed: &str) -> Problem {
    let known = matches!(
        rest,
        [
            "auth",
            "register"
                | "login"
                | "mfa"
                | "refresh"
                | "logout"
                | "token"
                | "password-reset"
                | "session"
        ] | ["auth", "password-reset", "confirm"]
            | ["users", "me", "password" | "mfa"]
            | ["users", "me", "mfa", "totp"]
            | ["users", "me", "mfa", "totp", "verify"]
    );
    if known {
        Problem::method_not_allowed(match rest {
            ["users", "me", "mfa"] => "DELETE",
            ["auth", "session"] => "GET",
            _ => allowed,
        })
    } else {
        not_found()
    }
}
