//! Admin-only routes: `/api/v1/users` and `/api/v1/service-clients`.

use folio_auth::jwt::{Claims, Role};
use folio_guest::auth::{authenticate, require_role};
use folio_guest::http::{JsonBody, Problem, batch_ids, json, no_content, query_pairs};
use spin_sdk::http::{Request, Response};

use super::bodies::*;
use crate::accounts::{self, Change, ListQuery, ROLES, STATUSES, UserView};
use crate::{clients, validate};
use folio_guest::util;

fn admin(request: &Request) -> Result<Claims, Problem> {
    let claims = authenticate(request)?;
    require_role(&claims, &[Role::Admin])?;
    Ok(claims)
}

/// `GET /users?role=&status=&email=&ids=&page=&limit=&sort=`; `sort` is a field,
/// `-` first for descending (default `-createdAt`).
#[utoipa::path(
    get,
    path = "/api/v1/users",
    tag = "admin",
    security(("bearer" = [])),
    params(
        ("role" = Option<String>, Query, description = "admin, creator or consumer"),
        ("status" = Option<String>, Query, description = "active, inactive or suspended"),
        ("email" = Option<String>, Query, description = "Email prefix"),
        ("ids" = Option<String>, Query, description = "Only these accounts: comma-separated user ids, 1-100"),
        ("page" = Option<u32>, Query, description = "From 1"),
        ("limit" = Option<u32>, Query, description = "1-100, default 20"),
        ("sort" = Option<String>, Query, description = "createdAt, updatedAt, email or lastName; `-` first for descending (default -createdAt)"),
    ),
    responses(
        (status = 200, description = "One page of accounts", body = UserPage),
        (status = 401, description = "No valid access token", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "A query parameter is invalid", body = ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn list_users(request: &Request) -> Result<Response, Problem> {
    admin(request)?;
    let mut query = ListQuery {
        role: None,
        status: None,
        email_prefix: None,
        ids: None,
        page: 1,
        limit: 20,
        order_by: "created_at",
        descending: true,
    };
    for (name, value) in query_pairs(request) {
        match name.as_str() {
            "role" => query.role = Some(validate::one_of("role", &value, &ROLES)?),
            "status" => query.status = Some(validate::one_of("status", &value, &STATUSES)?),
            "email" => query.email_prefix = Some(value.trim().to_lowercase()),
            "ids" => query.ids = Some(batch_ids(&[(name.clone(), value)], "user", 100)?),
            "page" => {
                query.page = value
                    .parse()
                    .ok()
                    .filter(|p| (1..=100_000).contains(p))
                    .ok_or_else(|| Problem::invalid_field("page", "must be a number from 1"))?
            }
            "limit" => {
                query.limit = value
                    .parse()
                    .ok()
                    .filter(|l| (1..=100).contains(l))
                    .ok_or_else(|| Problem::invalid_field("limit", "must be from 1 to 100"))?
            }
            "sort" => {
                let (descending, field) = match value.strip_prefix('-') {
                    Some(field) => (true, field),
                    None => (false, value.as_str()),
                };
                query.descending = descending;
                query.order_by = match field {
                    "createdAt" => "created_at",
                    "updatedAt" => "updated_at",
                    "email" => "email",
                    "lastName" => "last_name",
                    _ => {
                        return Err(Problem::invalid_field(
                            "sort",
                            "must be createdAt, updatedAt, email or lastName, with `-` for descending",
                        ));
                    }
                };
            }
            other => {
                return Err(Problem::invalid_field(
                    other,
                    "is not a known query parameter",
                ));
            }
        }
    }
    let db = accounts::open()?;
    let (users, total) = accounts::list(&db, &query)?;
    let items: Vec<_> = users.iter().map(|u| u.view()).collect();
    let limit = i64::from(query.limit);
    Ok(json(
        200,
        &UserPage {
            items,
            pagination: Pagination {
                page: query.page,
                limit: query.limit,
                total,
                total_pages: (total + limit - 1) / limit,
            },
        },
    ))
}

fn find(id: &str) -> Result<(folio_guest::Connection, accounts::User), Problem> {
    let db = accounts::open()?;
    let user = if util::is_uuid(id) {
        accounts::find_by_id(&db, id)?
    } else {
        None
    };
    let user = user.ok_or_else(|| Problem::not_found("no such user"))?;
    Ok((db, user))
}

#[utoipa::path(
    get,
    path = "/api/v1/users/{id}",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The id")),
    responses(
        (status = 200, description = "The account", body = UserView),
        (status = 403, description = "Not an admin", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn get_user(request: &Request, id: &str) -> Result<Response, Problem> {
    admin(request)?;
    let (_, user) = find(id)?;
    Ok(json(200, &user.view()))
}

/// Changes role, status or names. Suspending or deactivating an account ends
/// its refresh sessions at once; its access tokens run out within 15 minutes.
#[utoipa::path(
    patch,
    path = "/api/v1/users/{id}",
    tag = "admin",
    request_body = UserChange,
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The id")),
    responses(
        (status = 200, description = "The account", body = UserView),
        (status = 403, description = "Not an admin", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "Admins cannot change their own role or status", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid", body = ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn patch_user(request: &Request, id: &str) -> Result<Response, Problem> {
    let claims = admin(request)?;
    let body = JsonBody::parse(request)?;
    body.only(&["role", "status", "firstName", "lastName"])?;
    let (db, user) = find(id)?;
    let mut changes = Vec::new();
    if let Some(role) = body.optional_str("role")? {
        let role = validate::one_of("role", role, &ROLES)?;
        if user.id == claims.sub && role != user.role {
            return Err(Problem::conflict("admins cannot change their own role"));
        }
        if role != user.role {
            changes.push(Change::Role(role));
        }
    }
    if let Some(status) = body.optional_str("status")? {
        let status = validate::one_of("status", status, &STATUSES)?;
        if user.id == claims.sub && status != user.status {
            return Err(Problem::conflict("admins cannot change their own status"));
        }
        if status != user.status {
            if status != "active" {
                changes.push(Change::EndSessions);
            }
            changes.push(Change::Status(status));
        }
    }
    if let Some(v) = body.optional_str("firstName")? {
        changes.push(Change::FirstName(validate::name("firstName", v)?));
    }
    if let Some(v) = body.optional_str("lastName")? {
        changes.push(Change::LastName(validate::name("lastName", v)?));
    }
    if changes.is_empty() {
        return Ok(json(200, &user.view()));
    }
    let user = accounts::update_now(&db, &user, changes)?;
    Ok(json(200, &user.view()))
}

/// Deletes the account and its personal data; emits `UserDeleted`.
#[utoipa::path(
    delete,
    path = "/api/v1/users/{id}",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The id")),
    responses(
        (status = 204, description = "Deleted with its personal data"),
        (status = 403, description = "Not an admin", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn delete_user(request: &Request, id: &str) -> Result<Response, Problem> {
    let claims = admin(request)?;
    let (db, user) = find(id)?;
    if user.id == claims.sub {
        return Err(Problem::conflict(
            "admins cannot delete their own account here",
        ));
    }
    accounts::delete(&db, &user)?;
    Ok(no_content())
}

#[utoipa::path(
    post,
    path = "/api/v1/service-clients",
    tag = "admin",
    request_body = ClientRegistration,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The client and its secret", body = RegisteredClient),
        (status = 403, description = "Not an admin", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "A field is invalid", body = ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn register_client(request: &Request) -> Result<Response, Problem> {
    admin(request)?;
    let body = JsonBody::parse(request)?;
    body.only(&["name", "scopes"])?;
    let name = validate::name("name", body.required_str("name")?)?;
    let scopes = body.optional_str_list("scopes")?.unwrap_or_default();
    for scope in &scopes {
        let valid = !scope.is_empty()
            && scope.len() <= 64
            && scope
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '.' | '_' | '-'));
        if !valid {
            return Err(Problem::invalid_field(
                "scopes",
                "each scope is 1-64 letters, digits, `:`, `.`, `_` or `-`",
            ));
        }
    }
    let (client, secret) = clients::register(&accounts::open()?, &name, &scopes)?;
    let location = format!("/api/v1/service-clients/{}", client.id);
    let mut response = json(
        201,
        &RegisteredClient {
            client_id: client.id,
            client_secret: secret,
            name: client.name,
            scopes: client.scopes,
            created_at: client.created_at,
        },
    );
    response.set_header("location", location);
    Ok(response)
}

#[utoipa::path(
    get,
    path = "/api/v1/service-clients",
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every service client", body = ClientList),
        (status = 403, description = "Not an admin", body = ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn list_clients(request: &Request) -> Result<Response, Problem> {
    admin(request)?;
    Ok(json(
        200,
        &ClientList {
            items: clients::list(&accounts::open()?)?,
        },
    ))
}

#[utoipa::path(
    delete,
    path = "/api/v1/service-clients/{id}",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not an admin", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such client", body = ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn delete_client(request: &Request, id: &str) -> Result<Response, Problem> {
    admin(request)?;
    if clients::delete(&accounts::open()?, id)? {
        Ok(no_content())
    } else {
        Err(Problem::not_found("no such service client"))
    }
}
