//! `/api/v1/push-subscriptions` (a user's browsers) and the VAPID public key.

use folio_guest::Value;
use folio_guest::columns::{optional_text, text};
use folio_guest::http::{JsonBody, Problem, header, json, no_content};
use folio_guest::util::{new_id, now_ms};
use spin_sdk::http::{Request, Response};

use super::bodies::{ProblemDetails, PushSubscriptionList, PushSubscriptionView, VapidPublicKey};
use super::{params, user};
use crate::config;
use crate::push::{MAX_PER_USER, check_endpoint};
use crate::store::{self, db_error};
use folio_auth::webpush::{KeyError, SubscriptionKeys};

#[utoipa::path(
    get, path = "/api/v1/notifications/vapid-public-key", operation_id = "getVapidPublicKey", tag = "push",
    responses(
        (status = 200, description = "The key browsers subscribe with", body = VapidPublicKey),
        (status = 503, description = "No VAPID key is configured", body = ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn vapid_public_key(request: &Request) -> Result<Response, Problem> {
    params(request, &[])?;
    Ok(json(
        200,
        &VapidPublicKey {
            public_key: config::vapid_key()?.public_key_b64url(),
        },
    ))
}

#[utoipa::path(
    post, path = "/api/v1/push-subscriptions", operation_id = "subscribeToPush", tag = "push",
    request_body = super::bodies::PushSubscriptionRequest,
    responses(
        (status = 201, description = "Stored", body = PushSubscriptionView),
        (status = 200, description = "The browser's subscription was already stored; its keys are updated", body = PushSubscriptionView),
        (status = 400, description = "The body is not a JSON object", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "Not a push service's endpoint, or malformed keys; `errors` names the field", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn subscribe(request: &Request) -> Result<Response, Problem> {
    let claims = user(request)?;
    params(request, &[])?;
    let body = JsonBody::parse(request)?;
    body.only(&["endpoint", "keys", "expirationTime"])?;
    let endpoint = body.required_str("endpoint")?;
    check_endpoint(endpoint)?;
    let keys = body
        .value("keys")
        .and_then(|k| k.as_object())
        .ok_or_else(|| Problem::invalid_field("keys", "must be {p256dh, auth}"))?;
    if keys.keys().any(|k| k != "p256dh" && k != "auth") {
        return Err(Problem::invalid_field("keys", "must be {p256dh, auth}"));
    }
    let p256dh = keys["p256dh"].as_str().unwrap_or_default();
    let auth = keys
        .get("auth")
        .and_then(|a| a.as_str())
        .unwrap_or_default();
    SubscriptionKeys::parse(p256dh, auth).map_err(|e| match e {
        KeyError::P256dh(m) => Problem::invalid_field("keys.p256dh", m),
        KeyError::Auth(m) => Problem::invalid_field("keys.auth", m),
    })?;
    if let Some(t) = body.value("expirationTime")
        && !t.is_i64()
    {
        return Err(Problem::invalid_field(
            "expirationTime",
            "must be a time in unix milliseconds, or null",
        ));
    }
    let user_agent: Option<String> =
        header(request, "user-agent").map(|ua| ua.chars().take(200).collect());
    let db = store::db()?;
    let existing = db
        .query(
            "SELECT id FROM push_subscriptions WHERE endpoint = $1",
            &[Value::Text(endpoint.into())],
        )
        .map_err(db_error)?;
    let tx = db.begin().map_err(db_error)?;
    let (id, status) = match existing.rows.first() {
        // The same browser: it moves to whoever subscribed it last.
        Some(r) => {
            let id = text(&r[0]);
            tx.execute(
                "UPDATE push_subscriptions SET user_id = $2, p256dh = $3, auth = $4, user_agent = $5 WHERE id = $1",
                &[
                    Value::Text(id.clone()),
                    Value::Text(claims.sub.clone()),
                    Value::Text(p256dh.into()),
                    Value::Text(auth.into()),
                    user_agent.clone().map_or(Value::Null, Value::Text),
                ],
            )
            .map_err(db_error)?;
            (id, 200)
        }
        None => {
            let id = new_id();
            tx.execute(
                "INSERT INTO push_subscriptions (id, user_id, endpoint, p256dh, auth, user_agent, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                &[
                    Value::Text(id.clone()),
                    Value::Text(claims.sub.clone()),
                    Value::Text(endpoint.into()),
                    Value::Text(p256dh.into()),
                    Value::Text(auth.into()),
                    user_agent.clone().map_or(Value::Null, Value::Text),
                    Value::Integer(now_ms()),
                ],
            )
            .map_err(db_error)?;
            // A user's oldest browsers make room past the limit.
            tx.execute(
                "DELETE FROM push_subscriptions WHERE user_id = $1 AND id NOT IN \
                 (SELECT id FROM push_subscriptions WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2)",
                &[Value::Text(claims.sub.clone()), Value::Integer(MAX_PER_USER as i64)],
            )
            .map_err(db_error)?;
            (id, 201)
        }
    };
    tx.commit().map_err(db_error)?;
    Ok(json(
        status,
        &PushSubscriptionView {
            id,
            endpoint: endpoint.into(),
            user_agent,
        },
    ))
}

#[utoipa::path(
    get, path = "/api/v1/push-subscriptions", operation_id = "listPushSubscriptions", tag = "push",
    responses(
        (status = 200, description = "The caller's browsers", body = PushSubscriptionList),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn list(request: &Request) -> Result<Response, Problem> {
    let claims = user(request)?;
    params(request, &[])?;
    let db = store::db()?;
    let rows = db
        .query(
            "SELECT id, endpoint, user_agent FROM push_subscriptions WHERE user_id = $1 ORDER BY created_at",
            &[Value::Text(claims.sub)],
        )
        .map_err(db_error)?;
    let items = rows
        .rows
        .iter()
        .map(|r| PushSubscriptionView {
            id: text(&r[0]),
            endpoint: text(&r[1]),
            user_agent: optional_text(&r[2]),
        })
        .collect();
    Ok(json(200, &PushSubscriptionList { items }))
}

#[utoipa::path(
    delete, path = "/api/v1/push-subscriptions/{id}", operation_id = "unsubscribeFromPush", tag = "push",
    params(("id" = String, Path, description = "The subscription")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such subscription of the caller's", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn unsubscribe(request: &Request, id: &str) -> Result<Response, Problem> {
    let claims = user(request)?;
    params(request, &[])?;
    let db = store::db()?;
    let removed = db
        .execute(
            "DELETE FROM push_subscriptions WHERE id = $1 AND user_id = $2",
            &[Value::Text(id.into()), Value::Text(claims.sub)],
        )
        .map_err(db_error)?;
    if removed == 1 {
        Ok(no_content())
    } else {
        Err(Problem::not_found("no such subscription"))
    }
}
