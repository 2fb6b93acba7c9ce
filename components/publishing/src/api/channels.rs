//! `/api/v1/channels`: admin CRUD, webhook secrets, replays.

use folio_guest::Value;
use folio_guest::columns::text;
use folio_guest::http::{JsonBody, Problem, json, no_content};
use folio_guest::util::{new_id, now_ms};
use serde_json::json;
use spin_sdk::http::{Request, Response};

use super::bodies::*;
use super::{admin, uuid};
use crate::channels::{self as model, parse_input};
use crate::store::{self, db_error, parse_time};
use crate::{config, distributions, webhooks};

fn body_object(request: &Request) -> Result<serde_json::Map<String, serde_json::Value>, Problem> {
    serde_json::from_slice::<serde_json::Value>(request.body())
        .ok()
        .and_then(|v| v.as_object().cloned())
        .ok_or_else(|| Problem::bad_request("the body must be a JSON object"))
}

#[utoipa::path(
    get, path = "/api/v1/channels", operation_id = "listChannels", tag = "publishing",
    responses(
        (status = 200, description = "Every channel, oldest first", body = ChannelList),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn list(request: &Request) -> Result<Response, Problem> {
    admin(request)?;
    let db = store::db()?;
    let items: Vec<_> = model::all(&db)?
        .iter()
        .map(model::Channel::to_json)
        .collect();
    Ok(json(200, &json!({ "items": items })))
}

#[utoipa::path(
    post, path = "/api/v1/channels", operation_id = "createChannel", tag = "publishing",
    request_body = ChannelInput,
    responses(
        (status = 201, description = "Created; a webhook's secret is in this answer only", body = Channel),
        (status = 400, description = "Not a JSON object", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "The slug is taken", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid (named in `errors`)", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn create(request: &Request) -> Result<Response, Problem> {
    let claims = admin(request)?;
    let input = parse_input(&body_object(request)?, config::allow_insecure_endpoints())?;
    let db = store::db()?;
    let id = new_id();
    let tx = db.begin().map_err(db_error)?;
    model::insert(&tx, &id, &input, &claims.sub)?;
    let secret = match input.kind.as_str() {
        "webhook" => {
            let secret = input
                .config
                .get("secret")
                .and_then(|s| s.as_str())
                .map(str::to_string)
                .unwrap_or_else(webhooks::new_secret);
            webhooks::add_secret(&tx, &id, &secret)?;
            Some(secret)
        }
        _ => None,
    };
    tx.commit().map_err(db_error)?;
    let channel = model::get(&db, &id)?.ok_or_else(|| Problem::not_found("no such channel"))?;
    let mut body = channel.to_json();
    if let Some(secret) = secret {
        body["secret"] = json!(secret);
    }
    let mut response = json(201, &body);
    response.set_header("location", format!("/api/v1/channels/{id}"));
    Ok(response)
}

#[utoipa::path(
    get, path = "/api/v1/channels/{id}", operation_id = "getChannel", tag = "publishing",
    params(("id" = String, Path, description = "The channel id")),
    responses(
        (status = 200, description = "The channel", body = Channel),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such channel", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn get(request: &Request, id: &str) -> Result<Response, Problem> {
    admin(request)?;
    let id = uuid(id, "channel")?;
    let db = store::db()?;
    let channel = model::get(&db, &id)?.ok_or_else(|| Problem::not_found("no such channel"))?;
    Ok(json(200, &channel.to_json()))
}

#[utoipa::path(
    put, path = "/api/v1/channels/{id}", operation_id = "replaceChannel", tag = "publishing",
    params(("id" = String, Path, description = "The channel id")),
    request_body = ChannelInput,
    responses(
        (status = 200, description = "Replaced; `status: active` turns a disabled channel back on", body = Channel),
        (status = 400, description = "Not a JSON object", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such channel", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "The slug is taken", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid, the kind changed, or a secret was given (rotate instead)", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn replace(request: &Request, id: &str) -> Result<Response, Problem> {
    admin(request)?;
    let id = uuid(id, "channel")?;
    let input = parse_input(&body_object(request)?, config::allow_insecure_endpoints())?;
    let db = store::db()?;
    let old = model::get(&db, &id)?.ok_or_else(|| Problem::not_found("no such channel"))?;
    if old.kind != input.kind {
        return Err(Problem::invalid_field(
            "kind",
            "cannot change: make a new channel",
        ));
    }
    if input.config.contains_key("secret") {
        return Err(Problem::invalid_field(
            "config.secret",
            "cannot be replaced: rotate it (POST /api/v1/channels/{id}/secrets/rotate)",
        ));
    }
    let tx = db.begin().map_err(db_error)?;
    if !model::replace(&tx, &id, &input)? {
        return Err(Problem::not_found("no such channel"));
    }
    tx.commit().map_err(db_error)?;
    let channel = model::get(&db, &id)?.ok_or_else(|| Problem::not_found("no such channel"))?;
    Ok(json(200, &channel.to_json()))
}

#[utoipa::path(
    delete, path = "/api/v1/channels/{id}", operation_id = "deleteChannel", tag = "publishing",
    params(("id" = String, Path, description = "The channel id")),
    responses(
        (status = 204, description = "Deleted; what it had still to send is cancelled, its history kept"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such channel", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn delete(request: &Request, id: &str) -> Result<Response, Problem> {
    admin(request)?;
    let id = uuid(id, "channel")?;
    let db = store::db()?;
    if model::get(&db, &id)?.is_none() {
        return Err(Problem::not_found("no such channel"));
    }
    let tx = db.begin().map_err(db_error)?;
    model::disable(&tx, &id, "deleted")?;
    for sql in [
        "DELETE FROM channel_secrets WHERE channel_id = $1",
        "DELETE FROM channel_entries WHERE channel_id = $1",
        "DELETE FROM channels WHERE id = $1",
    ] {
        tx.execute(sql, &[Value::Text(id.clone())])
            .map_err(db_error)?;
    }
    tx.commit().map_err(db_error)?;
    Ok(no_content())
}

fn webhook(db: &folio_guest::Connection, id: &str) -> Result<model::Channel, Problem> {
    let id = uuid(id, "channel")?;
    model::get(db, &id)?
        .filter(|c| c.kind == "webhook")
        .ok_or_else(|| Problem::not_found("no such webhook channel"))
}

#[utoipa::path(
    get, path = "/api/v1/channels/{id}/secrets", operation_id = "getChannelSecrets", tag = "publishing",
    params(("id" = String, Path, description = "The webhook channel id")),
    responses(
        (status = 200, description = "The live signing secrets", body = Secrets),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such webhook channel", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn secrets(request: &Request, id: &str) -> Result<Response, Problem> {
    admin(request)?;
    let db = store::db()?;
    let channel = webhook(&db, id)?;
    let mut response = json(
        200,
        &json!({ "secrets": webhooks::live_secrets(&db, &channel.id)? }),
    );
    response.set_header("cache-control", "no-store");
    Ok(response)
}

#[utoipa::path(
    post, path = "/api/v1/channels/{id}/secrets/rotate", operation_id = "rotateChannelSecret", tag = "publishing",
    params(("id" = String, Path, description = "The webhook channel id")),
    request_body = RotateInput,
    responses(
        (status = 200, description = "The new secret signs from now on, beside the old ones until the overlap ends", body = Secrets),
        (status = 400, description = "Not a JSON object", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such webhook channel", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "overlapSeconds out of range", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn rotate(request: &Request, id: &str) -> Result<Response, Problem> {
    admin(request)?;
    let overlap = if request.body().is_empty() {
        86_400
    } else {
        let body = JsonBody::parse(request)?;
        body.only(&["overlapSeconds"])?;
        match body.value("overlapSeconds") {
            None | Some(serde_json::Value::Null) => 86_400,
            Some(v) => v
                .as_i64()
                .filter(|s| (0..=7 * 86_400).contains(s))
                .ok_or_else(|| Problem::invalid_field("overlapSeconds", "must be 0 to 604800"))?,
        }
    };
    let db = store::db()?;
    let channel = webhook(&db, id)?;
    let tx = db.begin().map_err(db_error)?;
    webhooks::rotate(&tx, &channel.id, overlap * 1000)?;
    tx.commit().map_err(db_error)?;
    let mut response = json(
        200,
        &json!({ "secrets": webhooks::live_secrets(&db, &channel.id)? }),
    );
    response.set_header("cache-control", "no-store");
    Ok(response)
}

#[utoipa::path(
    post, path = "/api/v1/channels/{id}/replay", operation_id = "replayChannel", tag = "publishing",
    params(("id" = String, Path, description = "The channel id")),
    request_body = ReplayInput,
    responses(
        (status = 202, description = "The channel's finished distributions made in [from, to) are sent again, with their original ids (receivers de-duplicate on `webhook-id`)", body = ReplayResult),
        (status = 400, description = "Not a JSON object", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such channel", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "The channel is not active", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "from/to missing, malformed, reversed or more than 31 days apart", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn replay(request: &Request, id: &str) -> Result<Response, Problem> {
    admin(request)?;
    let id = uuid(id, "channel")?;
    let body = JsonBody::parse(request)?;
    body.only(&["from", "to"])?;
    let time = |field: &str| {
        parse_time(body.required_str(field)?)
            .ok_or_else(|| Problem::invalid_field(field, "must be an RFC 3339 time"))
    };
    let (from, to) = (time("from")?, time("to")?);
    if to <= from || to - from > 31 * 86_400_000 {
        return Err(Problem::invalid_field(
            "to",
            "must be after from, at most 31 days later",
        ));
    }
    let db = store::db()?;
    let channel = model::get(&db, &id)?.ok_or_else(|| Problem::not_found("no such channel"))?;
    if channel.status != "active" {
        return Err(Problem::conflict(format!(
            "the channel is {}: turn it on first",
            channel.status
        )));
    }
    let tx = db.begin().map_err(db_error)?;
    let rows = tx
        .query(
            "SELECT id, content_id FROM distributions WHERE channel_id = $1 AND created_at >= $2 \
             AND created_at < $3 AND status IN ('delivered', 'failed') ORDER BY created_at \
             LIMIT 10000",
            &[
                Value::Text(id.clone()),
                Value::Integer(from),
                Value::Integer(to),
            ],
        )
        .map_err(db_error)?;
    let now = now_ms();
    let mut by_item: Vec<(String, Vec<String>)> = Vec::new();
    for r in &rows.rows {
        let (distribution, item) = (text(&r[0]), text(&r[1]));
        tx.execute(
            "UPDATE distributions SET status = 'retrying', next_attempt_at = $2, updated_at = $2, \
             reason = 'replayed' WHERE id = $1",
            &[Value::Text(distribution.clone()), Value::Integer(now)],
        )
        .map_err(db_error)?;
        match by_item.iter_mut().find(|(i, _)| *i == item) {
            Some((_, ids)) => ids.push(distribution),
            None => by_item.push((item, vec![distribution])),
        }
    }
    for (item, ids) in &by_item {
        distributions::announce(&tx, ids, item)?;
    }
    tx.commit().map_err(db_error)?;
    Ok(json(202, &json!({ "replayed": rows.rows.len() })))
}
