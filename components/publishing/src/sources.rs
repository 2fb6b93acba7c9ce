//! What this service reads from others, through service chaining: items
//! from the content service's index feed (granted by its `index_readers`
//! variable), author names from the users service's public profiles.

use folio_guest::http::sign_chained_call;
use serde::Deserialize;
use spin_sdk::http::{Request, Response};

use crate::config;

/// One item as the content feed describes it (with `html=true`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentItem {
    pub id: String,
    pub version: i64,
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// Sanitized HTML: a gated item's public preview.
    #[serde(default)]
    pub body: String,
    /// The body as plain text.
    #[serde(default)]
    pub text: String,
    /// The tier a reader needs for the whole item.
    #[serde(default)]
    pub required_tier: Option<String>,
    /// A gated item's whole body.
    #[serde(default)]
    pub paid: Option<PaidPart>,
    pub status: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub author_id: String,
    #[serde(default)]
    pub categories: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub media_ids: Vec<String>,
    pub published_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(default)]
    pub deleted: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PaidPart {
    /// Sanitized HTML.
    #[serde(default)]
    pub body: String,
}

impl ContentItem {
    pub fn is_public(&self) -> bool {
        self.status == "published" && !self.deleted
    }

    /// The whole body, paid part included.
    pub fn whole_body(&self) -> &str {
        self.paid.as_ref().map_or(&self.body, |paid| &paid.body)
    }
}

#[derive(Deserialize)]
struct Page<T> {
    items: Vec<T>,
}

#[derive(Debug)]
pub enum SourceError {
    /// Unreachable, overloaded or failing: a later try may pass.
    Unavailable(String),
    /// Refused: trying again cannot help.
    Refused(String),
}

/// The item as it is now; `None` once purged.
pub fn current_item(id: &str) -> Result<Option<ContentItem>, SourceError> {
    let page: Page<ContentItem> = get(
        &config::content_service(),
        &format!("/api/v1/content/index-feed?html=true&ids={id}"),
    )?;
    Ok(page.items.into_iter().next())
}

/// Version `version` of an item (drafts included), for previews.
pub fn item_version(id: &str, version: i64) -> Result<Option<ContentItem>, SourceError> {
    match get::<Page<ContentItem>>(
        &config::content_service(),
        &format!("/api/v1/content/index-feed?html=true&id={id}&revision={version}"),
    ) {
        Ok(page) => Ok(page.items.into_iter().next()),
        Err(SourceError::Refused(m)) if m.contains(" 404") => Ok(None),
        Err(e) => Err(e),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    id: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
}

/// The author's public name, when they have a profile. A name is a nicety:
/// failing to get one never holds up a publication.
pub fn author_name(user_id: &str) -> Option<String> {
    let page: Page<Profile> = get(
        &config::users_service(),
        &format!("/api/v1/users/profiles?ids={user_id}"),
    )
    .ok()?;
    page.items
        .into_iter()
        .find(|p| p.id == user_id)
        .map(|p| {
            format!("{} {}", p.first_name, p.last_name)
                .trim()
                .to_string()
        })
        .filter(|name| !name.is_empty())
}

fn get<T: serde::de::DeserializeOwned>(service: &str, path: &str) -> Result<T, SourceError> {
    let url = format!("http://{service}.spin.internal{path}");
    let mut request = Request::get(url);
    request.header("accept", "application/json");
    sign_chained_call(&mut request, service);
    let response: Response = spin_sdk::http::run(spin_sdk::http::send(request))
        .map_err(|e| SourceError::Unavailable(format!("{service} could not be reached: {e}")))?;
    let status = *response.status();
    if !(200..300).contains(&status) {
        let message = format!("{service} answered {status}");
        return Err(if status >= 500 || status == 408 || status == 429 {
            SourceError::Unavailable(message)
        } else {
            SourceError::Refused(message)
        });
    }
    serde_json::from_slice(response.body())
        .map_err(|e| SourceError::Unavailable(format!("{service}'s answer is malformed: {e}")))
}
