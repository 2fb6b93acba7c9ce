//! `/api/v1/users/me/notification-preferences` and `/api/v1/users/me/follows`:
//! the caller's own choices.

use std::collections::BTreeMap;

use folio_guest::http::{JsonBody, Problem, json, no_content};
use folio_guest::util::{now_ms, rfc3339};
use serde_json::Value as Json;
use spin_sdk::http::{Request, Response};

use super::bodies::{FollowList, FollowView, PreferencesView, ProblemDetails, QuietHoursView};
use super::{param, params, user};
use crate::clock::{QuietHours, format_hh_mm};
use crate::model::{CATEGORIES, CHANNELS, DIGESTS, is_mandatory};
use crate::preferences::{self, MAX_FOLLOWS, Preferences};
use crate::recipients;
use crate::store::{self, db_error};

fn view(prefs: &Preferences, time_zone: String) -> PreferencesView {
    let mut channels: BTreeMap<String, BTreeMap<String, bool>> = BTreeMap::new();
    for category in CATEGORIES {
        for channel in CHANNELS {
            channels
                .entry(category.into())
                .or_default()
                .insert(channel.into(), prefs.allows(category, channel));
        }
    }
    let mandatory = CATEGORIES
        .iter()
        .flat_map(|c| CHANNELS.iter().map(move |ch| (*c, *ch)))
        .filter(|(c, ch)| is_mandatory(c, ch))
        .map(|(c, ch)| format!("{c}.{ch}"))
        .collect();
    PreferencesView {
        channels,
        mandatory,
        quiet_hours: prefs.quiet_hours.map(|q| QuietHoursView {
            start: format_hh_mm(q.start_minute),
            end: format_hh_mm(q.end_minute),
        }),
        digest: prefs.digest.clone(),
        time_zone,
    }
}

fn time_zone_of(db: &folio_guest::Connection, user_id: &str) -> Result<String, Problem> {
    Ok(recipients::get(db, user_id)?.map_or_else(|| "UTC".into(), |r| r.time_zone))
}

#[utoipa::path(
    get, path = "/api/v1/users/me/notification-preferences", operation_id = "getNotificationPreferences", tag = "notification preferences",
    responses(
        (status = 200, description = "The caller's preferences", body = PreferencesView),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn get_preferences(request: &Request) -> Result<Response, Problem> {
    let claims = user(request)?;
    params(request, &[])?;
    let db = store::db()?;
    let prefs = preferences::load(&db, &claims.sub)?;
    Ok(json(200, &view(&prefs, time_zone_of(&db, &claims.sub)?)))
}

#[utoipa::path(
    put, path = "/api/v1/users/me/notification-preferences", operation_id = "updateNotificationPreferences", tag = "notification preferences",
    request_body = super::bodies::PreferencesUpdate,
    responses(
        (status = 200, description = "The preferences as they now are", body = PreferencesView),
        (status = 400, description = "The body is not a JSON object", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "An unknown category or channel, a mandatory message turned off, bad quiet hours or digest; `errors` names the field", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn put_preferences(request: &Request) -> Result<Response, Problem> {
    let claims = user(request)?;
    params(request, &[])?;
    let body = JsonBody::parse(request)?;
    body.only(&["channels", "quietHours", "digest"])?;
    let db = store::db()?;
    let mut prefs = preferences::load(&db, &claims.sub)?;
    if let Some(channels) = body.value("channels") {
        let Some(channels) = channels.as_object() else {
            return Err(Problem::invalid_field(
                "channels",
                "must be an object of categories",
            ));
        };
        for (category, by_channel) in channels {
            let field = format!("channels.{category}");
            if !CATEGORIES.contains(&category.as_str()) {
                return Err(Problem::invalid_field(
                    &field,
                    format!("is not a category (one of {})", CATEGORIES.join(", ")),
                ));
            }
            let Some(by_channel) = by_channel.as_object() else {
                return Err(Problem::invalid_field(
                    &field,
                    "must be an object of channels",
                ));
            };
            for (channel, on) in by_channel {
                let field = format!("channels.{category}.{channel}");
                if !CHANNELS.contains(&channel.as_str()) {
                    return Err(Problem::invalid_field(
                        &field,
                        format!("is not a channel (one of {})", CHANNELS.join(", ")),
                    ));
                }
                let Some(on) = on.as_bool() else {
                    return Err(Problem::invalid_field(&field, "must be true or false"));
                };
                if !on && is_mandatory(category, channel) {
                    return Err(Problem::invalid_field(
                        &field,
                        "cannot be turned off: security and billing mail always reaches the account's owner",
                    ));
                }
                prefs
                    .channels
                    .insert((category.clone(), channel.clone()), on);
            }
        }
    }
    if body.has("quietHours") {
        prefs.quiet_hours = match body.value("quietHours") {
            None => None,
            Some(q) => Some(quiet_hours(q)?),
        };
    }
    if let Some(digest) = body.optional_str("digest")? {
        if !DIGESTS.contains(&digest) {
            return Err(Problem::invalid_field(
                "digest",
                "must be off, daily or weekly",
            ));
        }
        prefs.digest = digest.into();
    }
    let tx = db.begin().map_err(db_error)?;
    preferences::save(&tx, &claims.sub, &prefs, now_ms())?;
    tx.commit().map_err(db_error)?;
    Ok(json(200, &view(&prefs, time_zone_of(&db, &claims.sub)?)))
}

fn quiet_hours(value: &Json) -> Result<QuietHours, Problem> {
    let field = |name: &str| -> Result<&str, Problem> {
        value[name].as_str().ok_or_else(|| {
            Problem::invalid_field(&format!("quietHours.{name}"), "must be a time as HH:MM")
        })
    };
    if !value.is_object()
        || value
            .as_object()
            .is_some_and(|o| o.keys().any(|k| k != "start" && k != "end"))
    {
        return Err(Problem::invalid_field(
            "quietHours",
            "must be {start, end} as HH:MM, or null",
        ));
    }
    let (start, end) = (field("start")?, field("end")?);
    let q = QuietHours::parse(start, end).ok_or_else(|| {
        Problem::invalid_field(
            "quietHours",
            "start and end must be times as HH:MM (00:00 to 23:59)",
        )
    })?;
    if q.start_minute == q.end_minute {
        return Err(Problem::invalid_field(
            "quietHours.end",
            "must differ from start",
        ));
    }
    Ok(q)
}

#[utoipa::path(
    get, path = "/api/v1/users/me/follows", operation_id = "listFollows", tag = "notification preferences",
    responses(
        (status = 200, description = "What the caller follows", body = FollowList),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn list_follows(request: &Request) -> Result<Response, Problem> {
    let claims = user(request)?;
    params(request, &[])?;
    let db = store::db()?;
    let items = preferences::follows(&db, &claims.sub)?
        .into_iter()
        .map(|f| FollowView {
            kind: f.kind,
            id: f.target_id,
            created_at: rfc3339(f.created_at),
        })
        .collect();
    Ok(json(200, &FollowList { items }))
}

fn follow_target(
    kind: Option<&str>,
    id: Option<&str>,
    caller: &str,
) -> Result<(String, String), Problem> {
    let kind = kind.ok_or_else(|| Problem::invalid_field("kind", "is required"))?;
    if kind != "author" && kind != "category" {
        return Err(Problem::invalid_field("kind", "must be author or category"));
    }
    let id = id
        .ok_or_else(|| Problem::invalid_field("id", "is required"))?
        .trim();
    if id.is_empty()
        || id.len() > 100
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(Problem::invalid_field(
            "id",
            "must be an author or category id",
        ));
    }
    let id = id.to_ascii_lowercase();
    if kind == "author" && id == caller {
        return Err(Problem::invalid_field("id", "you cannot follow yourself"));
    }
    Ok((kind.into(), id))
}

#[utoipa::path(
    post, path = "/api/v1/users/me/follows", operation_id = "follow", tag = "notification preferences",
    request_body = super::bodies::FollowRequest,
    responses(
        (status = 201, description = "Now followed", body = FollowView),
        (status = 200, description = "Already followed", body = FollowView),
        (status = 400, description = "The body is not a JSON object", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "A bad kind or id, or too many follows", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn follow(request: &Request) -> Result<Response, Problem> {
    let claims = user(request)?;
    params(request, &[])?;
    let body = JsonBody::parse(request)?;
    body.only(&["kind", "id"])?;
    let (kind, id) = follow_target(
        body.optional_str("kind")?,
        body.optional_str("id")?,
        &claims.sub,
    )?;
    let db = store::db()?;
    if preferences::follow_count(&db, &claims.sub)? >= MAX_FOLLOWS {
        return Err(Problem::invalid_field(
            "id",
            format!("you follow {MAX_FOLLOWS} already: unfollow something first"),
        ));
    }
    let now = now_ms();
    let added = preferences::follow(&db, &claims.sub, &kind, &id, now)?;
    Ok(json(
        if added { 201 } else { 200 },
        &FollowView {
            kind,
            id,
            created_at: rfc3339(now),
        },
    ))
}

#[utoipa::path(
    delete, path = "/api/v1/users/me/follows", operation_id = "unfollow", tag = "notification preferences",
    params(
        ("kind" = String, Query, description = "`author` or `category`"),
        ("id" = String, Query, description = "The author or category"),
    ),
    responses(
        (status = 204, description = "No longer followed"),
        (status = 400, description = "A bad query parameter", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "Not followed", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "A bad kind or id", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn unfollow(request: &Request) -> Result<Response, Problem> {
    let claims = user(request)?;
    let pairs = params(request, &["kind", "id"])?;
    let (kind, id) = follow_target(param(&pairs, "kind"), param(&pairs, "id"), &claims.sub)?;
    let db = store::db()?;
    if preferences::unfollow(&db, &claims.sub, &kind, &id)? {
        Ok(no_content())
    } else {
        Err(Problem::not_found("you do not follow that"))
    }
}
