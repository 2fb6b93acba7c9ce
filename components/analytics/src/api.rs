//! The HTTP surface: ingestion (`/api/v1/analytics/events`, `/a.js`),
//! reports (`/api/v1/analytics/reports/*`) and experiments
//! (`/api/v1/experiments`).

use folio_guest::auth::{Claims, Role, authenticate, require_role};
use folio_guest::http::{Problem, header, json, path_segments, query_pairs, respond};
use serde_json::json;
use spin_sdk::http::{Method, Request, Response};

use crate::experiments;
use crate::reports::{self, Interval, Report};
use crate::store;

pub use folio_guest::openapi::ProblemDetails;

pub const SCRIPT: &str = include_str!("script.js");

pub fn route(request: Request) -> Response {
    let segments = path_segments(&request);
    let method = request.method().clone();
    let r = &request;
    use Method::{Get, Head, Post};
    let result = match (segments.as_slice(), &method) {
        (["a.js"], Get | Head) => Ok(script(r)),
        (["a.js"], _) => Err(Problem::method_not_allowed("GET, HEAD")),
        (["api", "v1", "openapi", "analytics.json"], Get) => Ok(crate::openapi::document()),
        (["api", "v1", "analytics", "events"], Post) => crate::ingest::track(r),
        (["api", "v1", "analytics", "events"], _) => Err(Problem::method_not_allowed("POST")),
        (["api", "v1", "analytics", "popularity"], Get) => crate::popularity::get(r),
        (["api", "v1", "analytics", "reports", report @ ..], Get) => report_route(r, report),
        (["api", "v1", "analytics", "reports", ..], _) => Err(Problem::method_not_allowed("GET")),
        (["api", "v1", "experiments"], Get) => list_experiments(r),
        (["api", "v1", "experiments"], Post) => create_experiment(r),
        (["api", "v1", "experiments"], _) => Err(Problem::method_not_allowed("GET, POST")),
        (["api", "v1", "experiments", key], Get) => get_experiment(r, key),
        (["api", "v1", "experiments", key, "stop"], Post) => stop_experiment(r, key),
        (["api", "v1", "experiments", key, "assignment"], Get) => assignment(r, key),
        (["api", "v1", "experiments", key, "results"], Get) => results(r, key),
        (["api", "v1", "experiments", ..], _) => Err(Problem::method_not_allowed("GET, POST")),
        _ => Err(Problem::not_found("no such route")),
    };
    respond(result)
}

fn script(request: &Request) -> Response {
    let etag = format!("\"{}\"", &folio_guest::util::sha256_hex(SCRIPT)[..16]);
    let status = if header(request, "if-none-match") == Some(etag.as_str()) {
        304
    } else {
        200
    };
    Response::builder()
        .status(status)
        .header("content-type", "text/javascript; charset=utf-8")
        .header(
            "cache-control",
            "public, max-age=86400, stale-while-revalidate=604800",
        )
        .header("etag", etag)
        .body(if status == 200 {
            SCRIPT.as_bytes().to_vec()
        } else {
            Vec::new()
        })
        .build()
}

fn admin(request: &Request) -> Result<Claims, Problem> {
    let claims = authenticate(request)?;
    require_role(&claims, &[Role::Admin])?;
    Ok(claims)
}

fn reply(request: &Request, report: Report) -> Result<Response, Problem> {
    let wants_csv = header(request, "accept").is_some_and(|a| a.contains("text/csv"));
    if !wants_csv {
        return Ok(json(200, &report.json));
    }
    Ok(Response::builder()
        .status(200)
        .header("content-type", "text/csv; charset=utf-8")
        .header("cache-control", "no-store")
        .header("content-disposition", "attachment; filename=\"report.csv\"")
        .body(reports::csv(&report.columns, &report.rows))
        .build())
}

/// Every report: admins see all; creators see their own items' (`top-content`, `content/{id}`).
pub fn report_route(request: &Request, report: &[&str]) -> Result<Response, Problem> {
    let claims = authenticate(request)?;
    let is_admin = claims.role() == Some(Role::Admin);
    let pairs = query_pairs(request);
    let db = store::db()?;
    let need_admin = || {
        if is_admin {
            Ok(())
        } else {
            Err(Problem::forbidden("this report is for admins"))
        }
    };
    let report = match report {
        ["overview"] => {
            need_admin()?;
            reports::overview(&db, &reports::query(&pairs, &[], Interval::Day)?)?
        }
        ["top-content"] => {
            if !is_admin && claims.role() != Some(Role::Creator) {
                return Err(Problem::forbidden(
                    "top content is for admins and creators (their own items)",
                ));
            }
            let q = reports::query(&pairs, &["limit", "sort"], Interval::Day)?;
            reports::breakdown(
                &db,
                &q,
                "content",
                (!is_admin).then_some(claims.sub.as_str()),
            )?
        }
        ["referrers"] => {
            need_admin()?;
            let mut q = reports::query(&pairs, &["limit", "sort"], Interval::Day)?;
            q.params
                .entry("sort".into())
                .or_insert_with(|| "visits".into());
            reports::breakdown(&db, &q, "referrer", None)?
        }
        ["breakdown"] => {
            need_admin()?;
            let q = reports::query(&pairs, &["limit", "sort", "dimension"], Interval::Day)?;
            let dimension = q.params.get("dimension").map(String::as_str).unwrap_or("");
            if !reports::BREAKDOWNS.contains(&dimension) {
                return Err(Problem::invalid_field(
                    "dimension",
                    format!("must be one of {}", reports::BREAKDOWNS.join(", ")),
                ));
            }
            reports::breakdown(&db, &q, dimension, None)?
        }
        ["content", id] => {
            if !folio_guest::util::is_uuid(id) {
                return Err(Problem::not_found("no such content item"));
            }
            let meta = reports::content_meta(&db, id)?;
            let own =
                meta.as_ref().and_then(|m| m.author_id.as_deref()) == Some(claims.sub.as_str());
            if !is_admin && !own {
                // The same answer as an unknown item: creators cannot probe others' ids.
                return Err(Problem::not_found("no such content item among yours"));
            }
            reports::content(
                &db,
                &reports::query(&pairs, &[], Interval::Day)?,
                id,
                meta.as_ref(),
            )?
        }
        ["funnel"] => {
            need_admin()?;
            reports::funnel(&db, &reports::query(&pairs, &["steps"], Interval::Day)?)?
        }
        ["retention"] => {
            need_admin()?;
            let mut q = reports::query(&pairs, &[], Interval::Week)?;
            q.interval = Interval::Week;
            reports::retention(&db, &q)?
        }
        _ => return Err(Problem::not_found("no such report")),
    };
    reply(request, report)
}

#[utoipa::path(
    get, path = "/api/v1/experiments", operation_id = "listExperiments", tag = "experiments",
    responses(
        (status = 200, description = "Every experiment"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn list_experiments(request: &Request) -> Result<Response, Problem> {
    admin(request)?;
    let list: Vec<_> = experiments::list(&store::db()?)?
        .iter()
        .map(experiments::Stored::view)
        .collect();
    Ok(json(200, &json!({"items": list})))
}

#[utoipa::path(
    post, path = "/api/v1/experiments", operation_id = "createExperiment", tag = "experiments",
    request_body(content = inline(serde_json::Value), description = "`{key, name?, variants: [{key, weight}], goal, targeting?: {roles?, locales?}}`; the first variant is the control"),
    responses(
        (status = 201, description = "Created and running"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "The key is taken", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "A bad field, named", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn create_experiment(request: &Request) -> Result<Response, Problem> {
    let claims = admin(request)?;
    let definition = experiments::parse(request.body())?;
    let db = store::db()?;
    if !experiments::create(&db, &definition, &claims.sub)? {
        return Err(Problem::conflict(format!(
            "experiment {} exists",
            definition.key
        )));
    }
    let stored = experiments::get(&db, &definition.key)?
        .ok_or_else(|| Problem::not_found("no such experiment"))?;
    Ok(json(201, &stored.view()))
}

fn found(key: &str) -> Result<experiments::Stored, Problem> {
    experiments::get(&store::db()?, key)?.ok_or_else(|| Problem::not_found("no such experiment"))
}

#[utoipa::path(
    get, path = "/api/v1/experiments/{key}", operation_id = "getExperiment", tag = "experiments",
    params(("key" = String, Path)),
    responses(
        (status = 200, description = "The experiment"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such experiment", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn get_experiment(request: &Request, key: &str) -> Result<Response, Problem> {
    admin(request)?;
    Ok(json(200, &found(key)?.view()))
}

#[utoipa::path(
    post, path = "/api/v1/experiments/{key}/stop", operation_id = "stopExperiment", tag = "experiments",
    params(("key" = String, Path)),
    responses(
        (status = 200, description = "Stopped: no more exposures or conversions; results stay"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such experiment", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn stop_experiment(request: &Request, key: &str) -> Result<Response, Problem> {
    admin(request)?;
    let db = store::db()?;
    if !experiments::stop(&db, key)? {
        return Err(Problem::not_found("no such experiment"));
    }
    Ok(json(200, &found(key)?.view()))
}

#[utoipa::path(
    get, path = "/api/v1/experiments/{key}/assignment", operation_id = "experimentAssignment", tag = "experiments",
    params(
        ("key" = String, Path),
        ("subject" = Option<String>, Query, description = "Who is assigned; default the signed-in user"),
        ("locale" = Option<String>, Query, description = "For locale targeting; default the first `Accept-Language` tag"),
        ("expose" = Option<bool>, Query, description = "Record the exposure (default true)"),
    ),
    responses(
        (status = 200, description = "`variant` (null when the subject is not targeted or the experiment stopped) and whether an exposure was recorded"),
        (status = 404, description = "No such experiment", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "No subject, or a bad parameter", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 429, description = "Too many requests from this address", body = ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn assignment(request: &Request, key: &str) -> Result<Response, Problem> {
    let claims = match header(request, "authorization") {
        Some(_) => Some(authenticate(request)?),
        None => None,
    };
    let (mut subject, mut locale, mut expose) =
        (claims.as_ref().map(|c| c.sub.clone()), None, true);
    for (name, value) in query_pairs(request) {
        match name.as_str() {
            "subject" => subject = Some(value),
            "locale" => locale = Some(value),
            "expose" => {
                expose = match value.as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(Problem::invalid_field("expose", "must be true or false")),
                }
            }
            other => {
                return Err(Problem::invalid_field(
                    other,
                    "is not a known query parameter",
                ));
            }
        }
    }
    let subject = subject
        .filter(|s| !s.is_empty() && s.len() <= 128 && !s.chars().any(char::is_control))
        .ok_or_else(|| {
            Problem::invalid_field(
                "subject",
                "is required (1 to 128 printable characters) unless signed in",
            )
        })?;
    let locale = locale.or_else(|| {
        header(request, "accept-language")
            .and_then(|a| a.split([',', ';']).next())
            .map(|l| l.trim().to_string())
    });
    let role = claims
        .as_ref()
        .and_then(|c| c.role())
        .map_or("anonymous", |r| r.as_str());
    let db = store::db()?;
    let stored = found(key)?;
    let d = &stored.definition;
    let variant = (stored.status == "running" && experiments::targeted(d, role, locale.as_deref()))
        .then(|| experiments::assign(d, &subject).key.clone());
    let exposed = expose && variant.is_some();
    if let Some(v) = variant.as_ref().filter(|_| exposed) {
        experiments::expose(&db, key, &subject, v)?;
    }
    Ok(json(
        200,
        &json!({"experiment": key, "subject": subject, "variant": variant, "exposed": exposed}),
    ))
}

#[utoipa::path(
    get, path = "/api/v1/experiments/{key}/results", operation_id = "experimentResults", tag = "experiments",
    params(("key" = String, Path)),
    responses(
        (status = 200, description = "Per variant: exposures, conversions, rate; against the control: difference and relative uplift with 95% intervals, z, two-sided p-value (two-proportion test); the sample-ratio check"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such experiment", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn results(request: &Request, key: &str) -> Result<Response, Problem> {
    admin(request)?;
    let stored = found(key)?;
    Ok(json(200, &experiments::results(&store::db()?, &stored)?))
}
