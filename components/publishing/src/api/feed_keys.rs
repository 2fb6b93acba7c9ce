//! `/api/v1/feeds/key`: a reader's private feed key (see `feed_keys`).

use folio_guest::auth::authenticate;
use folio_guest::http::{Problem, json, no_content};
use serde_json::json;
use spin_sdk::http::{Request, Response};

use super::bodies::*;
use crate::{channels, config, feed_keys, store};

#[utoipa::path(
    post, path = "/api/v1/feeds/key", operation_id = "createFeedKey", tag = "publishing",
    responses(
        (status = 201, description = "The key and the private URLs of every feed; shown only now", body = FeedKey),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn create(request: &Request) -> Result<Response, Problem> {
    let claims = authenticate(request)?;
    let db = store::db()?;
    let key = feed_keys::create(&db, &claims.sub)?;
    let base = config::public_url();
    let feeds: Vec<_> = channels::all(&db)?
        .into_iter()
        .filter(|c| c.kind == "feed" && c.status != "disabled")
        .map(|c| {
            let url = |ext: &str| format!("{base}/feeds/{}.{ext}?key={key}", c.slug);
            json!({
                "channel": c.slug,
                "name": c.name,
                "rss": url("xml"),
                "atom": url("atom"),
                "json": url("json"),
            })
        })
        .collect();
    let mut response = json(201, &json!({ "key": key, "feeds": feeds }));
    response.set_header("cache-control", "no-store");
    Ok(response)
}

#[utoipa::path(
    delete, path = "/api/v1/feeds/key", operation_id = "revokeFeedKey", tag = "publishing",
    responses(
        (status = 204, description = "Revoked (or there was none): its URLs are refused from now on"),
        (status = 401, description = "No valid bearer token", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn revoke(request: &Request) -> Result<Response, Problem> {
    let claims = authenticate(request)?;
    feed_keys::revoke(&store::db()?, &claims.sub)?;
    Ok(no_content())
}
