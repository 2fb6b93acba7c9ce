//! The shapes of request and response bodies, as the OpenAPI document shows
//! them. Handlers read requests field by field (so a 422 names the field) and
//! answer JSON built from `model::Content` and `categories::Category`; the
//! tests below check that these types and those answers name the same fields.

#![allow(dead_code)]

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};
use utoipa::ToSchema;

/// Where an item is in the workflow: draft → review → published → archived
/// (review → draft, archived → draft).
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ContentStatus {
    Draft,
    Review,
    Published,
    Archived,
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ContentType {
    Article,
    Video,
    Gallery,
    Podcast,
}

/// A list's order: a field, `-` first for descending.
#[derive(Serialize, Deserialize, ToSchema)]
pub enum ContentSort {
    #[serde(rename = "createdAt")]
    CreatedAt,
    #[serde(rename = "-createdAt")]
    CreatedAtDescending,
    #[serde(rename = "updatedAt")]
    UpdatedAt,
    #[serde(rename = "-updatedAt")]
    UpdatedAtDescending,
    #[serde(rename = "publishedAt")]
    PublishedAt,
    #[serde(rename = "-publishedAt")]
    PublishedAtDescending,
    #[serde(rename = "title")]
    Title,
    #[serde(rename = "-title")]
    TitleDescending,
}

#[derive(ToSchema)]
pub struct Link {
    pub href: String,
}

#[derive(ToSchema)]
pub struct ItemLinks {
    #[schema(rename = "self")]
    pub self_: Link,
    pub revisions: Link,
}

/// A content item, with `ETag: "<id>-v<version>"`.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct ContentItem {
    pub id: String,
    pub title: String,
    pub description: String,
    /// Sanitized HTML.
    pub body: String,
    pub status: ContentStatus,
    #[schema(rename = "type")]
    pub kind: ContentType,
    /// Category ids.
    pub categories: Vec<String>,
    /// Lowercased.
    pub tags: Vec<String>,
    pub media_ids: Vec<String>,
    pub author_id: String,
    #[schema(value_type = Object)]
    pub metadata: Map<String, Json>,
    #[schema(required = true, format = DateTime)]
    pub published_at: Option<String>,
    /// When a publish request made while this is ahead takes effect.
    #[schema(required = true, format = DateTime)]
    pub scheduled_at: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// Starts at 1; every write adds one.
    pub version: i64,
    /// The paid tier a reader needs for the whole body; null when open to all.
    #[schema(required = true)]
    pub required_tier: Option<String>,
    /// True when this is what a reader without `requiredTier` gets: the
    /// body is its first paragraph (the ETag ends in `-preview`).
    #[schema(nullable = false)]
    pub preview: Option<bool>,
    #[schema(rename = "_links")]
    pub links: ItemLinks,
}

/// An item as a revision recorded it (no `_links`).
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct ContentSnapshot {
    pub id: String,
    pub title: String,
    pub description: String,
    pub body: String,
    pub status: ContentStatus,
    #[schema(rename = "type")]
    pub kind: ContentType,
    pub categories: Vec<String>,
    pub tags: Vec<String>,
    pub media_ids: Vec<String>,
    pub author_id: String,
    #[schema(value_type = Object)]
    pub metadata: Map<String, Json>,
    #[schema(required = true, format = DateTime)]
    pub published_at: Option<String>,
    #[schema(required = true, format = DateTime)]
    pub scheduled_at: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    pub version: i64,
    /// Only on the revision a soft delete wrote.
    #[schema(format = DateTime)]
    pub deleted_at: Option<String>,
    pub required_tier: Option<String>,
}

/// A list entry: an item with only the `fields` asked for (all without
/// `fields`), and always `_links`.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct ContentListItem {
    #[schema(nullable = false)]
    pub id: Option<String>,
    #[schema(nullable = false)]
    pub title: Option<String>,
    #[schema(nullable = false)]
    pub description: Option<String>,
    #[schema(nullable = false)]
    pub body: Option<String>,
    #[schema(nullable = false)]
    pub status: Option<ContentStatus>,
    #[schema(rename = "type", nullable = false)]
    pub kind: Option<ContentType>,
    #[schema(nullable = false)]
    pub categories: Option<Vec<String>>,
    #[schema(nullable = false)]
    pub tags: Option<Vec<String>>,
    #[schema(nullable = false)]
    pub media_ids: Option<Vec<String>>,
    #[schema(nullable = false)]
    pub author_id: Option<String>,
    #[schema(value_type = Option<Object>, nullable = false)]
    pub metadata: Option<Map<String, Json>>,
    #[schema(format = DateTime)]
    pub published_at: Option<String>,
    #[schema(format = DateTime)]
    pub scheduled_at: Option<String>,
    #[schema(nullable = false, format = DateTime)]
    pub created_at: Option<String>,
    #[schema(nullable = false, format = DateTime)]
    pub updated_at: Option<String>,
    #[schema(nullable = false)]
    pub version: Option<i64>,
    pub required_tier: Option<String>,
    /// True for a gated item: lists show its preview.
    #[schema(nullable = false)]
    pub preview: Option<bool>,
    #[schema(rename = "_links")]
    pub links: ItemLinks,
}

/// A list's first page and page-number pages answer `page` and `total`;
/// pages reached by a cursor do not count.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct ContentPagination {
    #[schema(nullable = false, minimum = 1)]
    pub page: Option<u32>,
    #[schema(minimum = 1, maximum = 100)]
    pub limit: u32,
    /// Exact when `totalExact`; otherwise the count stopped at 10000
    /// (ask for `total=exact` to count every match).
    #[schema(nullable = false)]
    pub total: Option<i64>,
    #[schema(nullable = false)]
    pub total_exact: Option<bool>,
    /// Pass as `cursor` for the next page; null on the last one.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
    /// Pass as `cursor` for the page before; absent on the first.
    #[schema(nullable = false)]
    pub prev_cursor: Option<String>,
}

#[derive(ToSchema)]
pub struct ListLinks {
    #[schema(rename = "self")]
    pub self_: Link,
    #[schema(nullable = false)]
    pub next: Option<Link>,
    #[schema(nullable = false)]
    pub prev: Option<Link>,
}

/// A bulk import: lines checked, and items created or skipped (already
/// there) so far.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct ImportJob {
    pub id: String,
    #[schema(nullable = false)]
    pub created_by: Option<String>,
    pub lines: i64,
    pub created: i64,
    pub skipped: i64,
    /// `running` or `done`.
    pub state: String,
    #[schema(nullable = false)]
    pub created_at: Option<String>,
    #[schema(nullable = false)]
    pub updated_at: Option<String>,
}

#[derive(ToSchema)]
pub struct ContentPage {
    pub items: Vec<ContentListItem>,
    pub pagination: ContentPagination,
    #[schema(rename = "_links")]
    pub links: ListLinks,
}

/// A new item (POST) or a whole replacement (PUT).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContentRequest {
    /// Plain text (no markup), 1-200 characters.
    #[schema(min_length = 1, max_length = 200)]
    pub title: String,
    #[serde(rename = "type")]
    pub kind: ContentType,
    /// Plain text, at most 2000 characters.
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    /// HTML, sanitized on the way in; at most 512 KiB.
    pub body: Option<String>,
    /// Up to 20 category ids.
    #[schema(max_items = 20)]
    pub categories: Option<Vec<String>>,
    /// Up to 50 tags, each 1-50 letters, digits, spaces, `-`, `_` or `.`.
    #[schema(max_items = 50)]
    pub tags: Option<Vec<String>>,
    /// Up to 100 media ids (UUIDs).
    #[schema(max_items = 100)]
    pub media_ids: Option<Vec<String>>,
    /// Any JSON object, at most 64 KiB.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Json>>,
    /// RFC 3339 UTC (`Z`); a later publish request waits for it.
    #[schema(format = DateTime)]
    pub scheduled_at: Option<String>,
    /// A paid tier (1-32 of `a-z`, `0-9`, `-`) a reader needs for the whole
    /// body; others get the title, description and first paragraph.
    #[schema(pattern = "^[a-z0-9-]{1,32}$")]
    pub required_tier: Option<String>,
}

/// A partial change: absent fields keep their value; `status` changes only
/// through transitions.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContentPatch {
    #[schema(min_length = 1, max_length = 200)]
    pub title: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<ContentType>,
    #[schema(max_length = 2000)]
    pub description: Option<String>,
    pub body: Option<String>,
    #[schema(max_items = 20)]
    pub categories: Option<Vec<String>>,
    #[schema(max_items = 50)]
    pub tags: Option<Vec<String>>,
    #[schema(max_items = 100)]
    pub media_ids: Option<Vec<String>>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Json>>,
    /// Null clears the schedule.
    #[schema(format = DateTime)]
    pub scheduled_at: Option<String>,
    /// Null opens the item to every reader.
    #[schema(pattern = "^[a-z0-9-]{1,32}$")]
    pub required_tier: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionRequest {
    pub to: ContentStatus,
}

/// The publish request was accepted: the item publishes itself at `scheduledAt`.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct Scheduled {
    pub id: String,
    /// Unchanged until then.
    pub status: ContentStatus,
    #[schema(format = DateTime)]
    pub scheduled_at: String,
    pub message: String,
}

#[derive(ToSchema)]
pub struct RevisionLinks {
    #[schema(rename = "self")]
    pub self_: Link,
}

#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct RevisionSummary {
    pub revision: i64,
    /// Who wrote it.
    pub author_id: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(rename = "_links")]
    pub links: RevisionLinks,
}

/// Newest first.
#[derive(ToSchema)]
pub struct RevisionList {
    pub items: Vec<RevisionSummary>,
}

#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct RevisionDetail {
    pub revision: i64,
    pub author_id: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    /// The item as this revision left it.
    #[schema(required = true)]
    pub content: Option<ContentSnapshot>,
}

#[derive(ToSchema)]
pub struct TagCount {
    pub tag: String,
    /// Published, live items with the tag.
    pub count: i64,
}

/// Most used first.
#[derive(ToSchema)]
pub struct TagList {
    pub items: Vec<TagCount>,
}

#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct Category {
    pub id: String,
    pub name: String,
    pub description: String,
    #[schema(required = true)]
    pub parent_id: Option<String>,
    pub slug: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// A category; with `?tree=true` also its subcategories.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct CategoryNode {
    pub id: String,
    pub name: String,
    pub description: String,
    #[schema(required = true)]
    pub parent_id: Option<String>,
    pub slug: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// Only with `?tree=true`.
    #[schema(no_recursion, nullable = false)]
    pub children: Option<Vec<CategoryNode>>,
}

/// Flat, by name; or with `?tree=true` the roots, each with its subtree.
#[derive(ToSchema)]
pub struct CategoryList {
    pub items: Vec<CategoryNode>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CategoryRequest {
    /// Plain text, 1-100 characters.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// Plain text, at most 1000 characters.
    #[schema(max_length = 1000)]
    pub description: Option<String>,
    /// The parent category's id; absent or null for a root.
    pub parent_id: Option<String>,
    /// Lowercase letters and digits in words joined by `-`; made from the
    /// name when absent.
    #[schema(max_length = 100, pattern = "^[a-z0-9]+(-[a-z0-9]+)*$")]
    pub slug: Option<String>,
}

/// How one item relates to another.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum RelationKind {
    Related,
    Series,
    TranslationOf,
    PartOf,
}

/// `outgoing`: this item links to the other; `incoming`: the other links here.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RelationDirection {
    Outgoing,
    Incoming,
}

/// The item at the other end of a relation, summarized.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct RelatedContent {
    pub id: String,
    pub title: String,
    #[schema(rename = "type")]
    pub kind: ContentType,
    pub status: ContentStatus,
    #[schema(required = true, format = DateTime)]
    pub published_at: Option<String>,
}

#[derive(ToSchema)]
pub struct RelatedLinks {
    pub content: Link,
}

#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct RelationEntry {
    pub kind: RelationKind,
    pub direction: RelationDirection,
    #[schema(format = DateTime)]
    pub created_at: String,
    pub content: RelatedContent,
    #[schema(rename = "_links")]
    pub links: RelatedLinks,
}

/// The item's relations the caller may see, both ways.
#[derive(ToSchema)]
pub struct RelationList {
    pub items: Vec<RelationEntry>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RelationRequest {
    pub kind: RelationKind,
    /// Another item the caller can see.
    pub target_id: String,
}

#[derive(ToSchema)]
pub struct RelationLinks {
    #[schema(rename = "self")]
    pub self_: Link,
    pub content: Link,
}

#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct Relation {
    pub kind: RelationKind,
    pub target_id: String,
    #[schema(rename = "_links")]
    pub links: RelationLinks,
}

pub use folio_guest::openapi::ProblemDetails;

/// A workflow step the item cannot take (409): problem details with the
/// statuses the caller may move it to.
#[derive(ToSchema)]
pub struct TransitionConflict {
    #[schema(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub allowed: Vec<ContentStatus>,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use utoipa::PartialSchema;
    use utoipa::openapi::schema::Schema;
    use utoipa::openapi::{RefOr, schema::Object};

    use super::*;
    use crate::model::{Content, KINDS, STATUSES};

    fn object<T: PartialSchema>() -> Object {
        match T::schema() {
            RefOr::T(Schema::Object(o)) => o,
            _ => panic!("not an object schema"),
        }
    }

    fn properties(o: &Object) -> BTreeSet<String> {
        o.properties.keys().cloned().collect()
    }

    fn content() -> Content {
        Content {
            id: "id".into(),
            title: "t".into(),
            description: String::new(),
            body: String::new(),
            status: "draft".into(),
            kind: "article".into(),
            categories: Vec::new(),
            tags: Vec::new(),
            media_ids: Vec::new(),
            author_id: "a".into(),
            metadata: Map::new(),
            published_at: None,
            scheduled_at: None,
            created_at: "now".into(),
            updated_at: "now".into(),
            version: 1,
            deleted_at: Some("now".into()),
            required_tier: None,
        }
    }

    fn keys(v: Json) -> BTreeSet<String> {
        v.as_object().unwrap().keys().cloned().collect()
    }

    #[test]
    fn content_schemas_name_the_fields_the_model_serializes() {
        let mut model = keys(serde_json::to_value(content()).unwrap());
        assert_eq!(properties(&object::<ContentSnapshot>()), model);
        model.remove("deletedAt");
        model.insert("_links".into());
        let required: BTreeSet<String> = object::<ContentItem>().required.into_iter().collect();
        assert_eq!(required, model, "every field of an item is always there");
        model.insert("preview".into());
        assert_eq!(properties(&object::<ContentItem>()), model);
        assert_eq!(properties(&object::<ContentListItem>()), model);
    }

    #[test]
    fn enums_match_the_model() {
        for s in STATUSES {
            serde_json::from_value::<ContentStatus>(Json::String(s.into())).unwrap();
        }
        for k in KINDS {
            serde_json::from_value::<ContentType>(Json::String(k.into())).unwrap();
        }
        for k in crate::relations::KINDS {
            serde_json::from_value::<RelationKind>(Json::String(k.into())).unwrap();
        }
    }

    #[test]
    fn category_schema_names_the_fields_categories_serialize() {
        let c = crate::categories::Category {
            id: "i".into(),
            name: "n".into(),
            description: String::new(),
            parent_id: None,
            slug: "s".into(),
            created_at: "now".into(),
            updated_at: "now".into(),
        };
        let flat = keys(serde_json::to_value(&c).unwrap());
        assert_eq!(properties(&object::<Category>()), flat);
        let node = crate::categories::Node {
            category: c,
            children: Vec::new(),
        };
        assert_eq!(
            properties(&object::<CategoryNode>()),
            keys(serde_json::to_value(&node).unwrap())
        );
    }

    #[test]
    fn request_schemas_name_the_fields_handlers_accept() {
        let accepted: BTreeSet<String> =
            crate::input::FIELDS.iter().map(|f| f.to_string()).collect();
        assert_eq!(properties(&object::<ContentRequest>()), accepted);
        assert_eq!(properties(&object::<ContentPatch>()), accepted);
    }
}
