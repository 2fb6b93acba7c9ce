//! `GET /api/v1/users/profiles?ids=`: public author profiles, many at once
//! (for the GraphQL component's batched loading, and any client showing
//! who wrote what). Anyone may read them: only accounts that can author
//! content (creators and admins) have a public profile, and it holds only
//! their id and names; other ids, and unknown ones, are left out.

use folio_guest::http::{Problem, json, query_pairs};
use folio_guest::util::is_uuid;
use serde_json::json;
use spin_sdk::http::{Request, Response};

use super::bodies::*;
use crate::accounts;

/// Ids one request may name.
pub const MAX_IDS: usize = 100;

/// The ids of `ids=a,b,c`: UUIDs, at most [`MAX_IDS`], duplicates dropped.
fn parse_ids(request: &Request) -> Result<Vec<String>, Problem> {
    let mut ids: Option<Vec<String>> = None;
    for (name, value) in query_pairs(request) {
        match name.as_str() {
            "ids" if ids.is_none() => {
                let mut list: Vec<String> = Vec::new();
                for id in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    if !is_uuid(id) {
                        return Err(Problem::invalid_field(
                            "ids",
                            "must be comma-separated user ids (UUIDs)",
                        ));
                    }
                    let id = id.to_ascii_lowercase();
                    if !list.contains(&id) {
                        list.push(id);
                    }
                }
                ids = Some(list);
            }
            "ids" => return Err(Problem::invalid_field("ids", "must be given once")),
            other => {
                return Err(Problem::invalid_field(
                    other,
                    "is not a known query parameter",
                ));
            }
        }
    }
    let ids = ids.ok_or_else(|| Problem::invalid_field("ids", "is required"))?;
    if ids.is_empty() {
        return Err(Problem::invalid_field("ids", "names no id"));
    }
    if ids.len() > MAX_IDS {
        return Err(Problem::invalid_field(
            "ids",
            format!("names {} ids; at most {MAX_IDS} are accepted", ids.len()),
        ));
    }
    Ok(ids)
}

#[utoipa::path(
    get,
    path = "/api/v1/users/profiles",
    operation_id = "listProfiles",
    tag = "profiles",
    params(
        ("ids" = String, Query, description = "Comma-separated user ids (UUIDs), 1-100"),
    ),
    responses(
        (status = 200, description = "The public profiles of those ids that have one (creators and admins), in the order asked", body = ProfileList),
        (status = 422, description = "`ids` is missing, malformed or names more than 100; or an unknown parameter", body = ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn list(request: &Request) -> Result<Response, Problem> {
    let ids = parse_ids(request)?;
    let found = accounts::public_profiles(&accounts::open()?, &ids)?;
    let items: Vec<&PublicProfile> = ids
        .iter()
        .filter_map(|id| found.iter().find(|p| p.id == *id))
        .collect();
    let mut response = json(200, &json!({ "items": items }));
    response.set_header("cache-control", "public, max-age=60");
    Ok(response)
}
