//! The HTTP surface: the admin API (`/api/v1/flags`, flagd's format, per
//! `?environment=`, default `production`) and the OpenFeature Remote
//! Evaluation Protocol (`/ofrep/v1/evaluate/flags[/{key}]`).

use folio_guest::auth::{Claims, Role, authenticate, require_role};
use folio_guest::http::{Problem, header, json, no_content, path_segments, query_pairs, respond};
use serde_json::{Map, Value as Json, json};
use spin_sdk::http::{Method, Request, Response};

use crate::flagd::{self, Evaluation};
use crate::store::{self, db_error};

pub use folio_guest::openapi::ProblemDetails;

const DEFAULT_ENVIRONMENT: &str = "production";
const MAX_CONTEXT_BYTES: usize = 64 * 1024;

pub fn route(request: Request) -> Response {
    let segments = path_segments(&request);
    let method = request.method().clone();
    let r = &request;
    use Method::{Delete, Get, Post, Put};
    let result = match (segments.as_slice(), &method) {
        (["api", "v1", "openapi", "flags.json"], Get) => Ok(crate::openapi::document()),
        (["api", "v1", "flags"], Get) => export(r),
        (["api", "v1", "flags"], Put) => import(r),
        (["api", "v1", "flags"], _) => Err(Problem::method_not_allowed("GET, PUT")),
        (["api", "v1", "flags", key], Get) => get(r, key),
        (["api", "v1", "flags", key], Put) => put(r, key),
        (["api", "v1", "flags", key], Delete) => delete(r, key),
        (["api", "v1", "flags", _], _) => Err(Problem::method_not_allowed("GET, PUT, DELETE")),
        (["ofrep", "v1", "evaluate", "flags"], Post) => return ofrep_bulk(r),
        (["ofrep", "v1", "evaluate", "flags", key], Post) => return ofrep_one(r, key),
        (["ofrep", "v1", "evaluate", "flags", ..], _) => Err(Problem::method_not_allowed("POST")),
        _ => Err(Problem::not_found("no such route")),
    };
    respond(result)
}

fn admin(request: &Request) -> Result<Claims, Problem> {
    let claims = authenticate(request)?;
    require_role(&claims, &[Role::Admin])?;
    Ok(claims)
}

fn environment(request: &Request) -> Result<String, Problem> {
    let mut environment = DEFAULT_ENVIRONMENT.to_string();
    for (name, value) in query_pairs(request) {
        match name.as_str() {
            "environment" => environment = value,
            other => {
                return Err(Problem::invalid_field(
                    other,
                    "is not a known query parameter",
                ));
            }
        }
    }
    let valid = !environment.is_empty()
        && environment.len() <= 32
        && environment
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid {
        return Err(Problem::invalid_field(
            "environment",
            "must be 1 to 32 lowercase letters, digits and dashes",
        ));
    }
    Ok(environment)
}

fn valid_key(key: &str) -> Result<(), Problem> {
    let ok = !key.is_empty()
        && key.len() <= 128
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Problem::invalid_field(
            "key",
            "must be 1 to 128 letters, digits, '-', '_' or '.'",
        ))
    }
}

fn body_json(request: &Request) -> Result<Json, Problem> {
    serde_json::from_slice(request.body())
        .map_err(|e| Problem::bad_request(format!("the body is not JSON: {e}")))
}

/// flagd's own validation of a whole document, as a 422 naming the field.
fn check(document: &Json) -> Result<(), Problem> {
    flagd::parse_flag_set(&document.to_string())
        .map(|_| ())
        .map_err(|e| {
            let field = e.split(':').next().unwrap_or("flags").to_string();
            Problem::invalid_field(&field, e)
        })
}

#[utoipa::path(
    get, path = "/api/v1/flags", operation_id = "exportFlags", tag = "flags",
    params(("environment" = Option<String>, Query, description = "Default `production`")),
    responses(
        (status = 200, description = "The environment's flags as a flagd document (`flags`, `$evaluators`), ready for flagd or `PUT /api/v1/flags`"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "A bad query parameter", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn export(request: &Request) -> Result<Response, Problem> {
    admin(request)?;
    let environment = environment(request)?;
    let document = store::document(&store::db()?, &environment)?;
    let mut response = json(200, &document.json);
    response.set_header("etag", document.etag);
    Ok(response)
}

#[utoipa::path(
    put, path = "/api/v1/flags", operation_id = "importFlags", tag = "flags",
    params(("environment" = Option<String>, Query, description = "Default `production`")),
    request_body(content = Object, description = "A flagd flag definition document; replaces the environment's flags and evaluators"),
    responses(
        (status = 200, description = "Imported; the document as stored"),
        (status = 400, description = "Not JSON", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Not a valid flagd document (the error names the flag and field)", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn import(request: &Request) -> Result<Response, Problem> {
    let claims = admin(request)?;
    let environment = environment(request)?;
    let mut document = body_json(request)?;
    check(&document)?;
    // flagd also takes `flags` as a list of flags with their `key`.
    if let Some(list) = document["flags"].as_array() {
        let flags: Map<String, Json> = list
            .iter()
            .filter_map(|f| {
                let mut f = f.as_object()?.clone();
                let key = f.remove("key")?.as_str()?.to_string();
                Some((key, Json::Object(f)))
            })
            .collect();
        document["flags"] = Json::Object(flags);
    }
    if let Some(flags) = document["flags"].as_object() {
        for key in flags.keys() {
            valid_key(key).map_err(|_| {
                Problem::invalid_field(&format!("flags.{key}"), "is not a valid flag key")
            })?;
        }
    }
    let db = store::db()?;
    let tx = db.begin().map_err(db_error)?;
    store::replace_all(&tx, &environment, &document, &claims.sub)?;
    tx.commit().map_err(db_error)?;
    let stored = store::document(&db, &environment)?;
    let mut response = json(200, &stored.json);
    response.set_header("etag", stored.etag);
    Ok(response)
}

#[utoipa::path(
    get, path = "/api/v1/flags/{key}", operation_id = "getFlag", tag = "flags",
    params(
        ("key" = String, Path, description = "The flag key"),
        ("environment" = Option<String>, Query, description = "Default `production`"),
    ),
    responses(
        (status = 200, description = "The flag (flagd's fields) with `version`, `updatedAt`, `updatedBy`"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such flag", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "A bad key or query parameter", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn get(request: &Request, key: &str) -> Result<Response, Problem> {
    admin(request)?;
    valid_key(key)?;
    let environment = environment(request)?;
    let stored = store::get(&store::db()?, &environment, key)?
        .ok_or_else(|| Problem::not_found("no such flag"))?;
    let mut body = stored.definition;
    if let Some(object) = body.as_object_mut() {
        object.insert("version".into(), json!(stored.version));
        object.insert(
            "updatedAt".into(),
            json!(folio_guest::util::rfc3339(stored.updated_at)),
        );
        object.insert("updatedBy".into(), json!(stored.updated_by));
    }
    let mut response = json(200, &body);
    response.set_header("etag", format!("\"{}\"", stored.version));
    Ok(response)
}

#[utoipa::path(
    put, path = "/api/v1/flags/{key}", operation_id = "putFlag", tag = "flags",
    params(
        ("key" = String, Path, description = "The flag key"),
        ("environment" = Option<String>, Query, description = "Default `production`"),
    ),
    request_body(content = Object, description = "One flag in flagd's format: `state`, `variants`, `defaultVariant`, `targeting` (JsonLogic, with `fractional`, `sem_ver`, `starts_with`, `ends_with`, `$ref`), `metadata`"),
    responses(
        (status = 200, description = "Replaced"),
        (status = 201, description = "Created"),
        (status = 400, description = "Not JSON", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 412, description = "If-Match names another version", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Not a valid flagd flag (the error names the field)", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn put(request: &Request, key: &str) -> Result<Response, Problem> {
    let claims = admin(request)?;
    valid_key(key)?;
    let environment = environment(request)?;
    let flag = body_json(request)?;
    if !flag.is_object() {
        return Err(Problem::invalid_field("flag", "must be an object"));
    }
    let db = store::db()?;
    let current = store::get(&db, &environment, key)?;
    if let Some(expected) = header(request, "if-match") {
        let actual = current.as_ref().map(|c| format!("\"{}\"", c.version));
        if actual.as_deref() != Some(expected.trim()) {
            return Err(Problem::new(
                412,
                "Precondition failed",
                "the flag changed since it was read: read it again",
            ));
        }
    }
    // Checked in the document it joins (its `$ref`s resolve against the
    // environment's evaluators).
    let mut document = store::document(&db, &environment)?.json;
    document["flags"][key] = flag.clone();
    check(&document)?;
    let tx = db.begin().map_err(db_error)?;
    let version = store::put(&tx, &environment, key, &flag, &claims.sub)?;
    tx.commit().map_err(db_error)?;
    let mut response = json(
        if current.is_some() { 200 } else { 201 },
        &json!({ "key": key, "environment": environment, "version": version, "flag": flag }),
    );
    response.set_header("etag", format!("\"{version}\""));
    Ok(response)
}

#[utoipa::path(
    delete, path = "/api/v1/flags/{key}", operation_id = "deleteFlag", tag = "flags",
    params(
        ("key" = String, Path, description = "The flag key"),
        ("environment" = Option<String>, Query, description = "Default `production`"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such flag", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn delete(request: &Request, key: &str) -> Result<Response, Problem> {
    let claims = admin(request)?;
    valid_key(key)?;
    let environment = environment(request)?;
    let db = store::db()?;
    let tx = db.begin().map_err(db_error)?;
    if !store::delete(&tx, &environment, key, &claims.sub)? {
        return Err(Problem::not_found("no such flag"));
    }
    tx.commit().map_err(db_error)?;
    Ok(no_content())
}

/// OFREP errors are its own JSON shape, not problem+json.
fn ofrep_error(status: u16, key: Option<&str>, code: &str, details: &str) -> Response {
    let mut body = json!({ "errorCode": code, "errorDetails": details });
    if let Some(key) = key {
        body["key"] = json!(key);
    }
    json(status, &body)
}

/// The evaluation context: the request's `context`, where a verified
/// bearer token's user and role replace whatever the client claimed.
fn context(request: &Request) -> Result<Json, (u16, &'static str, String)> {
    if request.body().len() > MAX_CONTEXT_BYTES {
        return Err((400, "INVALID_CONTEXT", "the context is over 64 KiB".into()));
    }
    let body: Json = if request.body().is_empty() {
        json!({})
    } else {
        serde_json::from_slice(request.body())
            .map_err(|e| (400, "PARSE_ERROR", format!("the body is not JSON: {e}")))?
    };
    let mut context = match body.get("context") {
        None | Some(Json::Null) => Map::new(),
        Some(Json::Object(c)) => c.clone(),
        Some(_) => return Err((400, "INVALID_CONTEXT", "context must be an object".into())),
    };
    if header(request, "authorization").is_some() {
        let claims = authenticate(request)
            .map_err(|_| (401, "GENERAL", "the bearer token was refused".to_string()))?;
        context.insert("userId".into(), json!(claims.sub));
        context.insert("role".into(), json!(claims.role));
        context
            .entry("targetingKey")
            .or_insert_with(|| json!(claims.sub));
    }
    Ok(Json::Object(context))
}

/// OFREP's answer for one evaluation: 200 with `value`, `variant`,
/// `reason` (no value for a disabled flag: reason `DISABLED`, the caller's
/// default applies), or the error code's status with `errorCode` and
/// `errorDetails`.
fn evaluation_json(e: &Evaluation) -> (u16, Json) {
    let status = match e.error_code.as_deref() {
        None => 200,
        Some("FLAG_NOT_FOUND") => 404,
        Some("PARSE_ERROR" | "TARGETING_KEY_MISSING" | "INVALID_CONTEXT" | "TYPE_MISMATCH") => 400,
        Some(_) => 500,
    };
    (status, e.to_json())
}

fn environment_for_ofrep(request: &Request) -> Result<String, Response> {
    environment(request).map_err(|p| ofrep_error(400, None, "INVALID_CONTEXT", &p.detail))
}

pub fn ofrep_one(request: &Request, key: &str) -> Response {
    let environment = match environment_for_ofrep(request) {
        Ok(e) => e,
        Err(response) => return response,
    };
    let context = match context(request) {
        Ok(c) => c,
        Err((status, code, details)) => return ofrep_error(status, Some(key), code, &details),
    };
    let flags = match crate::evaluate::load(&environment) {
        Ok(flags) => flags,
        Err(e) => return ofrep_error(500, Some(key), "GENERAL", &e),
    };
    let evaluation = flags.evaluate(key, &context, folio_guest::util::now_unix());
    let (status, body) = evaluation_json(&evaluation);
    json(status, &body)
}

pub fn ofrep_bulk(request: &Request) -> Response {
    let environment = match environment_for_ofrep(request) {
        Ok(e) => e,
        Err(response) => return response,
    };
    let context = match context(request) {
        Ok(c) => c,
        Err((status, code, details)) => return ofrep_error(status, None, code, &details),
    };
    let (flags, etag) = match crate::evaluate::load_with_etag(&environment) {
        Ok(loaded) => loaded,
        Err(e) => return ofrep_error(500, None, "GENERAL", &e),
    };
    // The same flags and the same context evaluate alike.
    let context_digest = <sha2::Sha256 as sha2::Digest>::digest(context.to_string().as_bytes());
    let etag = format!(
        "{}-{}\"",
        etag.trim_end_matches('"'),
        context_digest[..6]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    if header(request, "if-none-match").is_some_and(|v| v.split(',').any(|t| t.trim() == etag)) {
        let mut response = Response::new(304, ());
        response.set_header("etag", etag);
        return response;
    }
    let now = folio_guest::util::now_unix();
    let evaluated: Vec<Json> = flags
        .keys()
        .map(|key| evaluation_json(&flags.evaluate(key, &context, now)).1)
        .collect();
    let mut response = json(200, &json!({ "flags": evaluated }));
    response.set_header("etag", etag);
    response
}
