//! The content service's index feed (`GET /api/v1/content/index-feed`,
//! answered only to this component's chained calls): items as the index
//! needs them, looked up by id or paged in id order. The service's
//! component name comes from the variable `content_service` (default
//! `content`).

use folio_guest::http::{chained_service, sign_chained_call};
use serde::Deserialize;
use spin_sdk::http::{Request, Response};

use crate::url;

const FEED_PATH: &str = "/api/v1/content/index-feed";

/// One item as the feed describes it. Purged items are not in the feed.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FeedItem {
    pub id: String,
    pub version: i64,
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// The body as plain text: a gated item's public preview.
    #[serde(default)]
    pub text: String,
    /// The tier a reader needs for the whole item.
    #[serde(default)]
    pub required_tier: Option<String>,
    /// A gated item's whole text.
    #[serde(default)]
    pub paid: Option<Paid>,
    pub status: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub author_id: String,
    /// Category ids.
    #[serde(default)]
    pub categories: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub published_at: Option<String>,
    #[serde(default)]
    pub deleted: bool,
}

#[derive(Debug, Deserialize)]
pub struct Paid {
    #[serde(default)]
    pub text: String,
}

#[derive(Debug, Deserialize)]
pub struct FeedPage {
    pub items: Vec<FeedItem>,
    /// Every item, on pages read with `after`.
    #[serde(default)]
    pub total: Option<u64>,
    /// Pass as `after` for the next page; none on the last.
    #[serde(default)]
    pub next: Option<String>,
}

#[derive(Debug)]
pub enum FeedError {
    /// Unreachable, overloaded or failing: a later try may pass.
    Unavailable(String),
    /// The content service refused the request: trying again cannot help.
    Refused(String),
}

/// The items with these ids that still exist (deleted ones included, marked).
pub fn by_ids(ids: &[&str]) -> Result<FeedPage, FeedError> {
    let ids = ids.join(",");
    get(&url::with_query(FEED_PATH, [("ids", ids.as_str())]))
}

/// Up to `limit` items after id `after` ("" for the first page), in id order.
pub fn after(after: &str, limit: u32) -> Result<FeedPage, FeedError> {
    let limit = limit.to_string();
    get(&url::with_query(
        FEED_PATH,
        [("after", after), ("limit", limit.as_str())],
    ))
}

fn get(path_and_query: &str) -> Result<FeedPage, FeedError> {
    let content = chained_service("content_service", "content");
    let url = format!("http://{content}.spin.internal{path_and_query}");
    let mut request = Request::get(url);
    request.header("accept", "application/json");
    sign_chained_call(&mut request, &content);
    let response: Response = spin_sdk::http::run(spin_sdk::http::send(request)).map_err(|e| {
        FeedError::Unavailable(format!("the content feed could not be reached: {e}"))
    })?;
    let status = *response.status();
    if !(200..300).contains(&status) {
        let detail = serde_json::from_slice::<serde_json::Value>(response.body())
            .ok()
            .and_then(|body| body["detail"].as_str().map(str::to_string))
            .unwrap_or_default();
        let message = format!("the content feed answered {status}: {detail}");
        return Err(if status >= 500 || status == 408 || status == 429 {
            FeedError::Unavailable(message)
        } else {
            FeedError::Refused(message)
        });
    }
    // A malformed answer is most likely a deployment in progress: try again.
    serde_json::from_slice(response.body())
        .map_err(|e| FeedError::Unavailable(format!("the content feed's answer is malformed: {e}")))
}
