//! Keeps the index current from the content service's events: for each
//! event, the item's state is read from the content feed and written to
//! the index. State, not the event, decides, so redeliveries, reordering
//! and unknown event types are all harmless, and the index's versions keep
//! an older write from replacing a newer one.

use folio_guest::search::{self, Document, Index};
use folio_guest::util::parse_rfc3339_ms;
use folio_guest::worker::{Event, HandleError};

use crate::feed::{self, FeedError, FeedItem};
use crate::store;

pub const TOPIC: &str = "folio.content";

/// The index document of a feed item.
pub fn document(item: &FeedItem) -> Document {
    let mut keywords = vec![
        ("type".to_string(), item.kind.clone()),
        ("status".to_string(), item.status.clone()),
        ("authorId".to_string(), item.author_id.clone()),
    ];
    keywords.extend(
        item.categories
            .iter()
            .map(|c| ("category".to_string(), c.clone())),
    );
    keywords.extend(item.tags.iter().map(|t| ("tag".to_string(), t.clone())));
    let body = [item.description.as_str(), item.text.as_str()]
        .into_iter()
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n");
    Document {
        id: item.id.clone(),
        version: item.version,
        title: item.title.clone(),
        body,
        keywords,
        time: item.published_at.as_deref().and_then(parse_rfc3339_ms),
    }
}

/// Writes what the feed says of `id` to the index: the item, its deletion
/// at its version, or (absent from the feed: purged) its deletion for good.
pub fn apply(index: &Index, id: &str, found: Option<&FeedItem>) -> Result<(), search::Error> {
    match found {
        Some(item) if item.deleted => index.delete(std::slice::from_ref(&item.id), item.version),
        Some(item) => index.upsert(&[document(item)]),
        None => index.delete(&[id.to_string()], i64::MAX),
    }
}

/// One `folio.content` event: its subject is the item's id.
pub fn handle(event: &Event) -> Result<(), HandleError> {
    let Some(id) = event.subject.as_deref().filter(|id| !id.is_empty()) else {
        return Err(HandleError::Reject(
            "a content event without a subject".into(),
        ));
    };
    let page = feed::by_ids(&[id]).map_err(|e| match e {
        FeedError::Unavailable(m) => HandleError::Retry(m),
        FeedError::Refused(m) => HandleError::Reject(m),
    })?;
    let index = store::index().map_err(|p| HandleError::Retry(p.detail))?;
    let found = page.items.iter().find(|item| item.id == id);
    apply(&index, id, found).map_err(worker_error)
}

/// A failed index write as the event trigger's answer.
pub fn worker_error(e: search::Error) -> HandleError {
    match e {
        search::Error::InvalidArgument(m) => {
            HandleError::Reject(format!("the index refused the document: {m}"))
        }
        other => HandleError::Retry(format!("the index failed ({}): {other:?}", other.kind())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_becomes_a_document_with_its_keywords() {
        let item: FeedItem = serde_json::from_value(serde_json::json!({
            "id": "c1",
            "version": 3,
            "title": "Wasm at the edge",
            "description": "Why it matters",
            "text": "Components start in microseconds.",
            "status": "published",
            "type": "article",
            "authorId": "u1",
            "categories": ["k1"],
            "tags": ["wasm", "edge"],
            "publishedAt": "2026-11-23T11:15:02.007Z",
            "deleted": false
        }))
        .unwrap();
        let doc = document(&item);
        assert_eq!(doc.version, 3);
        assert_eq!(
            doc.body,
            "Why it matters\n\nComponents start in microseconds."
        );
        assert_eq!(doc.time, Some(1_795_432_502_007));
        let kw = |f: &str, v: &str| (f.to_string(), v.to_string());
        assert_eq!(
            doc.keywords,
            vec![
                kw("type", "article"),
                kw("status", "published"),
                kw("authorId", "u1"),
                kw("category", "k1"),
                kw("tag", "wasm"),
                kw("tag", "edge"),
            ]
        );
    }
}
