//! `/api/v1/categories...`: anyone reads the tree; admins change it.

use folio_auth::jwt::Role;
use folio_guest::auth::{authenticate, require_role};
use folio_guest::cdn;
use folio_guest::http::{JsonBody, Problem, json, no_content, query_pairs};
use folio_guest::util::is_uuid;
use serde_json::json;
use spin_sdk::http::{Request, Response};

use crate::categories::{self, Category, Fields};
use crate::store;

fn admin(request: &Request) -> Result<(), Problem> {
    require_role(&authenticate(request)?, &[Role::Admin])
}

fn found(category: Option<Category>) -> Result<Category, Problem> {
    category.ok_or_else(|| Problem::not_found("no such category"))
}

fn by_id(db: &folio_guest::Connection, id: &str) -> Result<Category, Problem> {
    if !is_uuid(id) {
        return Err(Problem::not_found("no such category"));
    }
    found(categories::find(db, "id", id)?)
}

/// `?tree=true` nests subcategories under their parents.
#[utoipa::path(
    get,
    path = "/api/v1/categories",
    operation_id = "listCategories",
    tag = "categories",
    params(
        ("tree" = Option<bool>, Query, nullable = false, description = "true: the roots, each with `children`"),
    ),
    responses(
        (status = 200, description = "Every category", body = super::bodies::CategoryList, headers(("cache-control" = String, description = "`public, max-age=60, stale-while-revalidate=300, stale-if-error=86400`"), ("surrogate-key" = String, description = "`categories`, for a CDN to purge by (Fastly)"), ("cache-tag" = String, description = "`categories` (Cloudflare)"))),
        (status = 422, description = "A query parameter is unknown", body = super::bodies::ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn list(request: &Request) -> Result<Response, Problem> {
    let mut as_tree = false;
    for (name, value) in query_pairs(request) {
        match name.as_str() {
            "tree" => as_tree = value == "true",
            other => {
                return Err(Problem::invalid_field(
                    other,
                    "is not a known query parameter",
                ));
            }
        }
    }
    let all = categories::all(&store::open()?)?;
    let mut response = if as_tree {
        json(200, &json!({ "items": categories::tree(all) }))
    } else {
        json(200, &json!({ "items": all }))
    };
    cdn::shared(&mut response, MAX_AGE, &cdn::category_keys(None));
    Ok(response)
}

/// How long a browser or CDN keeps a category answer before revalidating.
const MAX_AGE: u32 = 60;

/// One category: the same for everyone, so a CDN may keep it.
fn one(category: &Category) -> Response {
    let mut response = json(200, category);
    cdn::shared(
        &mut response,
        MAX_AGE,
        &cdn::category_keys(Some(&category.id)),
    );
    response
}

#[utoipa::path(
    get,
    path = "/api/v1/categories/{id}",
    operation_id = "getCategory",
    tag = "categories",
    params(
        ("id" = String, Path, description = "The category id (a UUID)"),
    ),
    responses(
        (status = 200, description = "The category", body = super::bodies::Category, headers(("cache-control" = String, description = "`public, max-age=60, stale-while-revalidate=300, stale-if-error=86400`"), ("surrogate-key" = String, description = "`categories category:<id>`, space-separated (Fastly)"), ("cache-tag" = String, description = "The same keys, comma-separated (Cloudflare)"))),
        (status = 404, description = "No such category", body = super::bodies::ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn get(id: &str) -> Result<Response, Problem> {
    Ok(one(&by_id(&store::open()?, id)?))
}

#[utoipa::path(
    get,
    path = "/api/v1/categories/by-slug/{slug}",
    operation_id = "getCategoryBySlug",
    tag = "categories",
    params(
        ("slug" = String, Path),
    ),
    responses(
        (status = 200, description = "The category", body = super::bodies::Category, headers(("cache-control" = String, description = "`public, max-age=60, stale-while-revalidate=300, stale-if-error=86400`"), ("surrogate-key" = String, description = "`categories category:<id>`, space-separated (Fastly)"), ("cache-tag" = String, description = "The same keys, comma-separated (Cloudflare)"))),
        (status = 404, description = "No such category", body = super::bodies::ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn by_slug(slug: &str) -> Result<Response, Problem> {
    Ok(one(&found(categories::find(
        &store::open()?,
        "slug",
        slug,
    )?)?))
}

fn fields(body: &JsonBody) -> Result<Fields, Problem> {
    body.only(&["name", "description", "parentId", "slug"])?;
    let name = body.required_str("name")?.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 || name.contains('<') {
        return Err(Problem::invalid_field(
            "name",
            "must be 1-100 characters of plain text",
        ));
    }
    let description = body
        .optional_str("description")?
        .unwrap_or("")
        .trim()
        .to_string();
    if description.chars().count() > 1000 || description.contains('<') {
        return Err(Problem::invalid_field(
            "description",
            "must be at most 1000 characters of plain text",
        ));
    }
    let parent_id = body.optional_str("parentId")?.map(str::to_lowercase);
    if parent_id.as_deref().is_some_and(|p| !is_uuid(p)) {
        return Err(Problem::invalid_field("parentId", "must be a category id"));
    }
    let slug = match body.optional_str("slug")? {
        Some(s) => s.to_string(),
        None => slugify(&name),
    };
    let valid = !slug.is_empty()
        && slug.len() <= 100
        && slug.split('-').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        });
    if !valid {
        return Err(Problem::invalid_field(
            "slug",
            "must be lowercase letters and digits in words joined by `-`",
        ));
    }
    Ok(Fields {
        name,
        description,
        parent_id,
        slug,
    })
}

fn slugify(name: &str) -> String {
    name.to_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

#[utoipa::path(
    post,
    path = "/api/v1/categories",
    operation_id = "createCategory",
    tag = "categories",
    security(("bearer" = [])),
    request_body = super::bodies::CategoryRequest,
    responses(
        (status = 201, description = "Created, with `Location`", body = super::bodies::Category, headers(("location" = String))),
        (status = 400, description = "The body is not a JSON object", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "Another category has this slug", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid (or the parent does not exist); `errors` names it", body = super::bodies::ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn create(request: &Request) -> Result<Response, Problem> {
    admin(request)?;
    let fields = fields(&JsonBody::parse(request)?)?;
    let category = categories::create(&store::open()?, fields)?;
    let mut response = json(201, &category);
    response.set_header("location", format!("/api/v1/categories/{}", category.id));
    Ok(response)
}

#[utoipa::path(
    put,
    path = "/api/v1/categories/{id}",
    operation_id = "replaceCategory",
    tag = "categories",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "The category id (a UUID)"),
    ),
    request_body = super::bodies::CategoryRequest,
    responses(
        (status = 200, description = "The category as replaced", body = super::bodies::Category),
        (status = 400, description = "The body is not a JSON object", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No valid access token", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such category", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "Another category has this slug", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 415, description = "The body is not JSON", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid (or the parent would make a cycle); `errors` names it", body = super::bodies::ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn replace(request: &Request, id: &str) -> Result<Response, Problem> {
    admin(request)?;
    let db = store::open()?;
    let old = by_id(&db, id)?;
    let fields = fields(&JsonBody::parse(request)?)?;
    Ok(json(200, &categories::update(&db, &old, fields)?))
}

#[utoipa::path(
    delete,
    path = "/api/v1/categories/{id}",
    operation_id = "deleteCategory",
    tag = "categories",
    security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "The category id (a UUID)"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid access token", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such category", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "The category still has subcategories or content", body = super::bodies::ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn delete(request: &Request, id: &str) -> Result<Response, Problem> {
    admin(request)?;
    let db = store::open()?;
    let category = by_id(&db, id)?;
    categories::delete(&db, &category.id)?;
    Ok(no_content())
}
