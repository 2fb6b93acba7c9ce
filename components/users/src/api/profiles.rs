//! `GET /api/v1/users/profiles?ids=`: public author profiles, many at once
//! (for the GraphQL component's batched loading, and any client showing
//! who wrote what). Anyone may read them: only accounts that can author
//! content (creators and admins) have a public profile, and it holds only
//! their id and names; other ids, and unknown ones, are left out.

use folio_guest::http::{Problem, batch_ids, json, query_pairs};
use serde_json::json;
use spin_sdk::http::{Request, Response};

use super::bodies::*;
use crate::accounts;

/// Ids one request may name.
pub const MAX_IDS: usize = 100;

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
    let ids = batch_ids(&query_pairs(request), "user", MAX_IDS)?;
    let found = accounts::public_profiles(&accounts::open()?, &ids)?;
    let items: Vec<&PublicProfile> = ids
        .iter()
        .filter_map(|id| found.iter().find(|p| p.id == *id))
        .collect();
    let mut response = json(200, &json!({ "items": items }));
    response.set_header("cache-control", "public, max-age=60");
    Ok(response)
}
