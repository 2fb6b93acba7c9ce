//! Admin-only routes: `/api/v1/users` and `/api/v1/service-clients`.

use folio_auth::jwt::{Claims, Role};
use folio_guest::auth::{authenticate, require_role};
use folio_guest::http::{JsonBody, Problem, json, no_content, query_pairs};
use serde_json::json;
use spin_sdk::http::{Request, Response};

use crate::accounts::{self, Change, ListQuery, ROLES, STATUSES};
use crate::{clients, util, validate};

fn admin(request: &Request) -> Result<Claims, Problem> {
    let claims = authenticate(request)?;
    require_role(&claims, &[Role::Admin])?;
    Ok(claims)
}

/// `GET /users?role=&status=&email=&page=&limit=&sort=`; `sort` is a field,
/// `-` first for descending (default `-createdAt`).
pub fn list_users(request: &Request) -> Result<Response, Problem> {
    admin(request)?;
    let mut query = ListQuery {
        role: None,
        status: None,
        email_prefix: None,
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
        &json!({
            "items": items,
            "pagination": {
                "page": query.page,
                "limit": query.limit,
                "total": total,
                "totalPages": (total + limit - 1) / limit,
            },
        }),
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

pub fn get_user(request: &Request, id: &str) -> Result<Response, Problem> {
    admin(request)?;
    let (_, user) = find(id)?;
    Ok(json(200, &user.view()))
}

/// Changes role, status or names. Suspending or deactivating an account ends
/// its refresh sessions at once; its access tokens run out within 15 minutes.
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
    let mut response = json(
        201,
        &json!({
            "clientId": client.id,
            "clientSecret": secret,
            "name": client.name,
            "scopes": client.scopes,
            "createdAt": client.created_at,
        }),
    );
    response.set_header("location", format!("/api/v1/service-clients/{}", client.id));
    Ok(response)
}

pub fn list_clients(request: &Request) -> Result<Response, Problem> {
    admin(request)?;
    Ok(json(
        200,
        &json!({ "items": clients::list(&accounts::open()?)? }),
    ))
}

pub fn delete_client(request: &Request, id: &str) -> Result<Response, Problem> {
    admin(request)?;
    if clients::delete(&accounts::open()?, id)? {
        Ok(no_content())
    } else {
        Err(Problem::not_found("no such service client"))
    }
}
