//! One-click unsubscribe (RFC 8058): the `List-Unsubscribe` URL of bulk
//! mail. A POST turns that category's email off; a GET only shows a page
//! with the button, so link scanners that follow URLs change nothing.

use folio_guest::http::{Problem, form_pairs};
use folio_guest::util::now_ms;
use spin_sdk::http::{Request, Response};

use super::bodies::ProblemDetails;
use super::{param, params};
use crate::delivery::check_unsubscribe_token;
use crate::model::{CATEGORIES, is_mandatory};
use crate::preferences;
use crate::store;

fn target(request: &Request) -> Result<(String, String, String), Problem> {
    let pairs = params(request, &["token"])?;
    let token = param(&pairs, "token").ok_or_else(|| Problem::bad_request("token is missing"))?;
    let (user_id, category) = check_unsubscribe_token(token)?
        .filter(|(_, c)| CATEGORIES.contains(&c.as_str()) && !is_mandatory(c, "email"))
        .ok_or_else(|| Problem::forbidden("this unsubscribe link is not valid"))?;
    Ok((token.to_string(), user_id, category))
}

fn html(status: u16, body: String) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "text/html; charset=utf-8")
        .header("cache-control", "no-store")
        .body(format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>Unsubscribe</title></head><body>{body}</body></html>"
        ))
        .build()
}

#[utoipa::path(
    get, path = "/api/v1/notifications/unsubscribe", operation_id = "unsubscribePage", tag = "notification preferences",
    params(("token" = String, Query, description = "From the message's List-Unsubscribe link")),
    responses(
        (status = 200, description = "A page with the unsubscribe button", content_type = "text/html"),
        (status = 400, description = "No token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a valid link", body = ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn page(request: &Request) -> Result<Response, Problem> {
    let (token, _, category) = target(request)?;
    Ok(html(
        200,
        format!(
            "<form method=\"post\" action=\"?token={token}\"><input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
             <p>Stop emails about <strong>{category}</strong>?</p><button type=\"submit\">Unsubscribe</button></form>"
        ),
    ))
}

#[utoipa::path(
    post, path = "/api/v1/notifications/unsubscribe", operation_id = "unsubscribeOneClick", tag = "notification preferences",
    params(("token" = String, Query, description = "From the message's List-Unsubscribe link")),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "`List-Unsubscribe=One-Click`"),
    responses(
        (status = 200, description = "That category's email is off", content_type = "text/html"),
        (status = 400, description = "No token, or not a one-click body", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not a valid link", body = ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn one_click(request: &Request) -> Result<Response, Problem> {
    let (_, user_id, category) = target(request)?;
    let body = String::from_utf8_lossy(request.body());
    if !form_pairs(&body)
        .iter()
        .any(|(k, v)| k == "List-Unsubscribe" && v == "One-Click")
    {
        return Err(Problem::bad_request(
            "the body must be List-Unsubscribe=One-Click",
        ));
    }
    let db = store::db()?;
    preferences::turn_off(&db, &user_id, &category, "email", now_ms())?;
    Ok(html(
        200,
        format!("<p>You will get no more emails about <strong>{category}</strong>.</p>"),
    ))
}
