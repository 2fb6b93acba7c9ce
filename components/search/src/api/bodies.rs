//! The answers of the search API, serialized from these types and
//! documented from the same ones, so the two cannot drift apart.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

pub use folio_guest::openapi::ProblemDetails;

#[derive(Serialize, ToSchema)]
pub struct Link {
    pub href: String,
}

#[derive(Serialize, ToSchema)]
pub struct ItemLinks {
    /// The content item.
    #[serde(rename = "self")]
    pub self_: Link,
}

impl ItemLinks {
    pub fn to_content(id: &str) -> ItemLinks {
        ItemLinks {
            self_: Link {
                href: format!("/api/v1/content/{id}"),
            },
        }
    }
}

/// A match.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchItem {
    /// The content id.
    pub id: String,
    /// The content type (`article`, `video`, `gallery`, `podcast`).
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    /// About 160 characters of the text around the best match, HTML-escaped,
    /// the matched words in `<mark>`; empty when the text did not match.
    pub snippet: String,
    /// True for a paid item the caller holds no tier for: it was matched,
    /// and its snippet taken, from its public preview only.
    pub preview: bool,
    /// Relevance: higher is better.
    pub score: f32,
    #[schema(required = true, format = DateTime)]
    pub published_at: Option<String>,
    #[serde(rename = "_links")]
    pub links: ItemLinks,
}

/// Counts of the values among the matches (most frequent 20), each counted
/// under every filter but that facet's own; only the facets asked for.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Facets {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub kind: Option<BTreeMap<String, u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub category: Option<BTreeMap<String, u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub tag: Option<BTreeMap<String, u64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub author_id: Option<BTreeMap<String, u64>>,
}

#[derive(Serialize, ToSchema)]
pub struct PageLinks {
    #[serde(rename = "self")]
    pub self_: Link,
    /// The next page, while there is one (at most 10000 matches are paged).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub next: Option<Link>,
}

#[derive(Serialize, ToSchema)]
pub struct SearchPage {
    pub items: Vec<SearchItem>,
    pub facets: Facets,
    /// Every match the caller may read, not only this page's.
    pub total: u64,
    #[serde(rename = "_links")]
    pub links: PageLinks,
}

#[derive(Serialize, ToSchema)]
pub struct SuggestionItem {
    /// The content id.
    pub id: String,
    pub title: String,
}

/// Titles that complete the text, best first.
#[derive(Serialize, ToSchema)]
pub struct SuggestionList {
    pub suggestions: Vec<SuggestionItem>,
}

/// An item like the one asked about.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RelatedItem {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub score: f32,
    #[schema(required = true, format = DateTime)]
    pub published_at: Option<String>,
    #[serde(rename = "_links")]
    pub links: ItemLinks,
}

/// Most related first.
#[derive(Serialize, ToSchema)]
pub struct RelatedList {
    pub items: Vec<RelatedItem>,
}

/// A result someone opened.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct ClickRequest {
    /// The query as searched (normalized when stored).
    #[schema(min_length = 1, max_length = 256)]
    pub query: String,
    /// The content id of the result (a UUID).
    pub content_id: String,
    /// Its position in the results, 1 for the first.
    #[schema(minimum = 1, maximum = 10000)]
    pub position: i64,
}

/// The order of results.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub enum SearchSort {
    #[serde(rename = "relevance")]
    Relevance,
    #[serde(rename = "publishedAt")]
    PublishedAt,
}

/// A facet: a keyword field counted among the matches.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub enum FacetName {
    #[serde(rename = "type")]
    Type,
    #[serde(rename = "category")]
    Category,
    #[serde(rename = "tag")]
    Tag,
    #[serde(rename = "authorId")]
    AuthorId,
}
