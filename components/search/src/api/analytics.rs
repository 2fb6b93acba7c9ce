//! `POST /api/v1/search/clicks` (anyone) and `GET /api/v1/search/analytics` (admins).

use folio_guest::http::{JsonBody, Problem, json, no_content, query_pairs};
use folio_guest::util::{is_uuid, now_ms};
use spin_sdk::http::{Request, Response};

use super::no_parameters;
use crate::analytics::{self, Click, Report};
use crate::dates::{self, Bound};
use crate::query::{MAX_QUERY_CHARS, Params, invalid};
use crate::visibility::require_admin;

const DEFAULT_DAYS: i64 = 30;
const MAX_POSITION: i64 = 10_000;

/// Records that a search result was opened.
#[utoipa::path(
    post,
    path = "/api/v1/search/clicks",
    operation_id = "recordSearchClick",
    tag = "search",
    request_body = super::bodies::ClickRequest,
    responses(
        (status = 204, description = "Recorded"),
        (status = 400, description = "The body is not a JSON object, or a query parameter was sent", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "A field is missing or invalid; `errors` names it", body = super::bodies::ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn click(request: &Request) -> Result<Response, Problem> {
    no_parameters(request)?;
    let body = JsonBody::parse(request)?;
    body.only(&["query", "contentId", "position"])?;
    let raw_query = body.required_str("query")?;
    if raw_query.trim().chars().count() > MAX_QUERY_CHARS {
        return Err(Problem::invalid_field(
            "query",
            format!("must be at most {MAX_QUERY_CHARS} characters"),
        ));
    }
    let query = analytics::normalize(raw_query);
    if query.is_empty() {
        return Err(Problem::invalid_field("query", "must not be empty"));
    }
    let content_id = body.required_str("contentId")?;
    if !is_uuid(content_id) {
        return Err(Problem::invalid_field(
            "contentId",
            "must be a content id (a UUID)",
        ));
    }
    let position = body
        .value("position")
        .ok_or_else(|| Problem::invalid_field("position", "is required"))?;
    let position = position
        .as_i64()
        .filter(|p| (1..=MAX_POSITION).contains(p))
        .ok_or_else(|| {
            Problem::invalid_field(
                "position",
                format!("must be a whole number from 1 to {MAX_POSITION}"),
            )
        })?;
    analytics::record_click(&Click {
        query,
        content_id: content_id.to_ascii_lowercase(),
        position,
    })?;
    Ok(no_content())
}

/// Searches, clicks and the queries behind them, for a time range.
#[utoipa::path(
    get,
    path = "/api/v1/search/analytics",
    operation_id = "searchAnalytics",
    tag = "search",
    security(("bearer" = [])),
    params(
        ("from" = Option<String>, Query, nullable = false, description = "RFC 3339 or a date (from its start, UTC); default 30 days before `to`"),
        ("to" = Option<String>, Query, nullable = false, description = "RFC 3339 or a date (to its end, UTC); default now"),
    ),
    responses(
        (status = 200, description = "The report", body = Report),
        (status = 400, description = "A query parameter is invalid or unknown; `errors` names it", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Search analytics are for admins", body = super::bodies::ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn report(request: &Request) -> Result<Response, Problem> {
    require_admin(request)?;
    let pairs = query_pairs(request);
    let params = Params::new(&pairs, &["from", "to"])?;
    let to = params.time("to", Bound::End)?.unwrap_or_else(now_ms);
    let from = params
        .time("from", Bound::Start)?
        .unwrap_or(to - DEFAULT_DAYS * 86_400_000);
    // Nothing was recorded before 1970 or will be after 9999, and times
    // outside those years have no RFC 3339 form for the database.
    let (from, to) = (dates::clamp(from), dates::clamp(to));
    if from > to {
        return Err(invalid("to", "must not be before from"));
    }
    Ok(json(200, &analytics::report(from, to)?))
}
