//! The OpenAPI 3.1 document of the analytics and experiments API, served
//! at `GET /api/v1/openapi/analytics.json`.

use folio_guest::openapi::BearerAuth;
use spin_sdk::http::Response;
use utoipa::OpenApi;

use crate::api;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Folio analytics",
        description = "Privacy-first event tracking (no cookies; visitors are daily-salted hashes), reports from rollups (JSON, or CSV with Accept: text/csv), and A/B experiments. Errors are RFC 9457 problem details."
    ),
    paths(
        track, overview, top_content, referrers, breakdown, content, funnel, retention,
        api::list_experiments, api::create_experiment, api::get_experiment, api::stop_experiment,
        api::assignment, api::results
    ),
    modifiers(&BearerAuth)
)]
pub struct AnalyticsApi;

pub fn document() -> Response {
    folio_guest::openapi::served(AnalyticsApi::openapi())
}

use folio_guest::openapi::ProblemDetails;

#[utoipa::path(
    post, path = "/api/v1/analytics/events", operation_id = "trackEvents", tag = "analytics",
    request_body(content = inline(serde_json::Value), description = "`{events: [{name, url, referrer?, contentId?, subject?, timestamp?, props?}]}`, 1 to 100 events; a `read` needs `contentId`, `props.seconds` and `props.depth`"),
    responses(
        (status = 202, description = "Accepted (`accepted`, `discarded.utm`), or dropped whole (`dropped`: `do-not-track` or `bot`)"),
        (status = 400, description = "Not a JSON object", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "A bearer token that is not valid", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "A bad event: the field is named, and nothing of the batch is kept", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests from this address", body = ProblemDetails, content_type = "application/problem+json")
    )
)]
#[allow(dead_code)]
fn track() {}

macro_rules! report_doc {
    ($name:ident, $path:literal, $id:literal, $what:literal $(, ($param:literal, $desc:literal))*) => {
        #[utoipa::path(
            get, path = $path, operation_id = $id, tag = "analytics",
            params(
                ("from" = Option<String>, Query, description = "A date or UTC RFC 3339 time; default a week before `to`"),
                ("to" = Option<String>, Query, description = "Default now"),
                ("interval" = Option<String>, Query, description = "`minute` (a day at most), `hour` (31 days), `day`, `week`, `month`"),
                $(($param = Option<String>, Query, description = $desc),)*
            ),
            responses(
                (status = 200, description = $what),
                (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
                (status = 403, description = "Not allowed", body = ProblemDetails, content_type = "application/problem+json"),
                (status = 404, description = "No such item", body = ProblemDetails, content_type = "application/problem+json"),
                (status = 422, description = "A bad parameter, named", body = ProblemDetails, content_type = "application/problem+json")
            ),
            security(("bearer" = []))
        )]
        #[allow(dead_code)]
        fn $name() {}
    };
}

report_doc!(
    overview,
    "/api/v1/analytics/reports/overview",
    "analyticsOverview",
    "Visitors, visits, pageviews, events, reads, average read time and bounce rate: totals and a series (admins; CSV with Accept: text/csv)"
);
report_doc!(
    top_content,
    "/api/v1/analytics/reports/top-content",
    "analyticsTopContent",
    "Items by pageviews (admins: all; creators: their own)",
    ("limit", "1 to 1000, default 10"),
    ("sort", "pageviews, visits, events or reads")
);
report_doc!(
    referrers,
    "/api/v1/analytics/reports/referrers",
    "analyticsReferrers",
    "Referring sites by visits; `(direct)` for none (admins)",
    ("limit", "1 to 1000, default 10"),
    ("sort", "pageviews, visits, events or reads")
);
report_doc!(
    breakdown,
    "/api/v1/analytics/reports/breakdown",
    "analyticsBreakdown",
    "Any dimension's top values (admins)",
    (
        "dimension",
        "referrer, page, device, utm_source, utm_medium, utm_campaign, type, category, event, content"
    ),
    ("limit", "1 to 1000, default 10"),
    ("sort", "pageviews, visits, events or reads")
);
report_doc!(
    funnel,
    "/api/v1/analytics/reports/funnel",
    "analyticsFunnel",
    "Sessions (a visitor's day) reaching each step in order, and the conversion per step (admins)",
    (
        "steps",
        "Event names, or pageview:/path, in order, comma-separated"
    )
);
report_doc!(
    retention,
    "/api/v1/analytics/reports/retention",
    "analyticsRetention",
    "Weekly cohorts of signed-in readers and how many were active each later week (admins)"
);

#[utoipa::path(
    get, path = "/api/v1/analytics/reports/content/{id}", operation_id = "analyticsContent", tag = "analytics",
    params(
        ("id" = String, Path, description = "The content item"),
        ("from" = Option<String>, Query, description = "A date or UTC RFC 3339 time; default a week before `to`"),
        ("to" = Option<String>, Query, description = "Default now"),
        ("interval" = Option<String>, Query, description = "`hour` (31 days at most), `day`, `week`, `month`"),
    ),
    responses(
        (status = 200, description = "Views and reads over time, read time, read depth (admins, and the item's author)"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such item (or not the creator's)", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "A bad parameter, named", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
#[allow(dead_code)]
fn content() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_is_described_with_problem_answers() {
        folio_guest::openapi::assert_well_described(&AnalyticsApi::openapi(), 13);
    }
}
