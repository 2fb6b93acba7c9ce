//! `/api/v1/notification-templates` (admins): the built-in templates, the
//! versions admins wrote per locale, and previews.

use folio_guest::Value;
use folio_guest::http::{JsonBody, Problem, json, no_content};
use folio_guest::util::{now_ms, rfc3339};
use spin_sdk::http::{Request, Response};

use super::bodies::{
    ProblemDetails, StoredTemplate, TemplateList, TemplateParts, TemplateSummary, TemplateView,
};
use super::{admin, param, params};
use crate::config;
use crate::store::{self, db_error};
use crate::templates::{self, BUILTINS, Builtin, Parts, TemplateError};

fn builtin_or_404(key: &str) -> Result<&'static Builtin, Problem> {
    templates::builtin(key).ok_or_else(|| Problem::not_found("no such template"))
}

fn locale_field(locale: &str) -> Result<String, Problem> {
    let supported = config::locales();
    supported
        .iter()
        .find(|l| l.eq_ignore_ascii_case(locale))
        .cloned()
        .ok_or_else(|| {
            Problem::invalid_field(
                "locale",
                format!(
                    "is not a supported locale (notification_locales: {})",
                    supported.join(", ")
                ),
            )
        })
}

fn parts_view(p: &Parts) -> TemplateParts {
    TemplateParts {
        subject: p.subject.clone(),
        text: p.text.clone(),
        html: p.html.clone(),
    }
}

#[utoipa::path(
    get, path = "/api/v1/notification-templates", operation_id = "listNotificationTemplates", tag = "notification templates",
    responses(
        (status = 200, description = "Every template", body = TemplateList),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn list(request: &Request) -> Result<Response, Problem> {
    admin(request)?;
    params(request, &[])?;
    let db = store::db()?;
    let mut items = Vec::new();
    for b in BUILTINS {
        items.push(TemplateSummary {
            key: b.key.into(),
            category: b.category.into(),
            description: b.description.into(),
            locales: templates::stored(&db, b.key)?
                .into_iter()
                .map(|s| s.locale)
                .collect(),
        });
    }
    Ok(json(200, &TemplateList { items }))
}

#[utoipa::path(
    get, path = "/api/v1/notification-templates/{key}", operation_id = "getNotificationTemplate", tag = "notification templates",
    params(("key" = String, Path, description = "e.g. `password-reset`")),
    responses(
        (status = 200, description = "The template", body = TemplateView),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such template", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn get(request: &Request, key: &str) -> Result<Response, Problem> {
    admin(request)?;
    params(request, &[])?;
    let b = builtin_or_404(key)?;
    let db = store::db()?;
    let locales = templates::stored(&db, key)?
        .into_iter()
        .map(|s| StoredTemplate {
            locale: s.locale,
            subject: s.parts.subject,
            text: s.parts.text,
            html: s.parts.html,
            updated_at: rfc3339(s.updated_at),
            updated_by: s.updated_by,
        })
        .collect();
    Ok(json(
        200,
        &TemplateView {
            key: b.key.into(),
            category: b.category.into(),
            description: b.description.into(),
            sample_data: templates::sample(key),
            built_in: parts_view(&templates::builtin_parts(b)),
            locales,
            supported_locales: config::locales(),
        },
    ))
}

#[utoipa::path(
    put, path = "/api/v1/notification-templates/{key}", operation_id = "putNotificationTemplate", tag = "notification templates",
    params(("key" = String, Path, description = "e.g. `password-reset`")),
    request_body = super::bodies::TemplateUpdate,
    responses(
        (status = 200, description = "Stored: messages in that locale use it from now on", body = StoredTemplate),
        (status = 400, description = "The body is not a JSON object", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such template", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "An unsupported locale, an oversized part, or a template that does not compile or render its sample data; `errors` names the part and `line` the line", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn put(request: &Request, key: &str) -> Result<Response, Problem> {
    let claims = admin(request)?;
    params(request, &[])?;
    builtin_or_404(key)?;
    let body = JsonBody::parse(request)?;
    body.only(&["locale", "subject", "text", "html"])?;
    let locale = locale_field(body.required_str("locale")?)?;
    let parts = Parts {
        subject: body.required_str("subject")?.into(),
        text: body.required_str("text")?.into(),
        html: body.required_str("html")?.into(),
    };
    templates::check(key, &parts)?;
    let now = now_ms();
    let db = store::db()?;
    db.execute(
        "INSERT INTO templates (template_key, locale, subject, text_body, html_body, updated_at, updated_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (template_key, locale) DO UPDATE SET \
         subject = excluded.subject, text_body = excluded.text_body, html_body = excluded.html_body, \
         updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        &[
            Value::Text(key.into()),
            Value::Text(locale.clone()),
            Value::Text(parts.subject.clone()),
            Value::Text(parts.text.clone()),
            Value::Text(parts.html.clone()),
            Value::Integer(now),
            Value::Text(claims.sub.clone()),
        ],
    )
    .map_err(db_error)?;
    Ok(json(
        200,
        &StoredTemplate {
            locale,
            subject: parts.subject,
            text: parts.text,
            html: parts.html,
            updated_at: rfc3339(now),
            updated_by: claims.sub,
        },
    ))
}

#[utoipa::path(
    delete, path = "/api/v1/notification-templates/{key}", operation_id = "resetNotificationTemplate", tag = "notification templates",
    params(
        ("key" = String, Path, description = "e.g. `password-reset`"),
        ("locale" = String, Query, description = "The version to remove; messages fall back to the next locale, then the built-in template"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "No locale", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such template or version", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn delete(request: &Request, key: &str) -> Result<Response, Problem> {
    admin(request)?;
    let pairs = params(request, &["locale"])?;
    builtin_or_404(key)?;
    let locale =
        param(&pairs, "locale").ok_or_else(|| Problem::bad_request("locale is missing"))?;
    let db = store::db()?;
    let removed = db
        .execute(
            "DELETE FROM templates WHERE template_key = $1 AND locale = $2",
            &[Value::Text(key.into()), Value::Text(locale.into())],
        )
        .map_err(db_error)?;
    if removed == 0 {
        return Err(Problem::not_found(
            "no version of that template in that locale",
        ));
    }
    Ok(no_content())
}

#[utoipa::path(
    post, path = "/api/v1/notification-templates/{key}/preview", operation_id = "previewNotificationTemplate", tag = "notification templates",
    params(("key" = String, Path, description = "e.g. `password-reset`")),
    request_body = super::bodies::PreviewRequest,
    responses(
        (status = 200, description = "Rendered", body = TemplateParts),
        (status = 400, description = "The body is not a JSON object", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such template", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "The template does not render; `errors` names the part and `line` the line", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn preview(request: &Request, key: &str) -> Result<Response, Problem> {
    admin(request)?;
    params(request, &[])?;
    builtin_or_404(key)?;
    let body = JsonBody::parse(request)?;
    body.only(&["locale", "data", "subject", "text", "html"])?;
    let locale = match body.optional_str("locale")? {
        Some(l) => locale_field(l)?,
        None => "en".into(),
    };
    let db = store::db()?;
    let stored = templates::resolve(&db, key, &locale)?;
    let parts = Parts {
        subject: body
            .optional_str("subject")?
            .map_or(stored.subject, str::to_string),
        text: body
            .optional_str("text")?
            .map_or(stored.text, str::to_string),
        html: body
            .optional_str("html")?
            .map_or(stored.html, str::to_string),
    };
    templates::check(key, &parts)?;
    let mut data = templates::sample(key);
    if let Some(extra) = body.value("data") {
        if !extra.is_object() {
            return Err(Problem::invalid_field("data", "must be an object"));
        }
        templates::merge(&mut data, extra.clone());
    }
    let rendered = templates::render(&parts, &data, true).map_err(TemplateError::into_problem)?;
    Ok(json(
        200,
        &TemplateParts {
            subject: rendered.subject,
            text: rendered.text,
            html: rendered.html,
        },
    ))
}
