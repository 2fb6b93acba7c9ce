//! Keeps the index current from the content service's events: for each
//! event, the item's state is read from the content feed and written to
//! the index. State, not the event, decides, so redeliveries, reordering
//! and unknown event types are all harmless, and the index's versions keep
//! an older write from replacing a newer one.

use folio_guest::Connection;
use folio_guest::http::Problem;
use folio_guest::search::{self, Document, Index};
use folio_guest::util::parse_rfc3339_ms;
use folio_guest::worker::{Event, HandleError};

use crate::access;
use crate::feed::{self, FeedError, FeedItem};
use crate::store;

pub const TOPIC: &str = "folio.content";

/// The index documents of a feed item: one, or for a gated item its
/// whole text and its preview (see `access`).
pub fn documents(item: &FeedItem) -> Vec<Document> {
    let tier = item.required_tier.as_deref();
    match (tier, &item.paid) {
        (Some(tier), Some(paid)) => vec![
            document(
                item,
                item.id.clone(),
                &paid.text,
                access::keywords(Some(tier), false),
            ),
            document(
                item,
                access::preview_id(&item.id),
                &item.text,
                access::keywords(Some(tier), true),
            ),
        ],
        // A gated item without its whole text: only the preview is known.
        (Some(tier), None) => vec![document(
            item,
            access::preview_id(&item.id),
            &item.text,
            access::keywords(Some(tier), true),
        )],
        (None, _) => vec![document(
            item,
            item.id.clone(),
            &item.text,
            access::keywords(None, false),
        )],
    }
}

fn document(item: &FeedItem, id: String, text: &str, access: Vec<(String, String)>) -> Document {
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
    keywords.extend(access);
    let body = [item.description.as_str(), text]
        .into_iter()
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n");
    Document {
        id,
        version: item.version,
        title: item.title.clone(),
        body,
        keywords,
        time: item.published_at.as_deref().and_then(parse_rfc3339_ms),
    }
}

/// Writes what the feed says of `id` to the index: the item, its deletion
/// at its version, or (absent from the feed: purged) its deletion for good.
/// A preview document is deleted with its item, and when the item is no
/// longer gated.
pub fn apply(
    index: &Index,
    db: &Connection,
    id: &str,
    found: Option<&FeedItem>,
) -> Result<(), HandleError> {
    let retry = |p: Problem| HandleError::Retry(p.detail);
    let both = || vec![id.to_string(), access::preview_id(id)];
    match found {
        Some(item) if item.deleted => index.delete(&both(), item.version),
        Some(item) => {
            if let Some(tier) = &item.required_tier {
                access::record_gate(db, id, tier).map_err(retry)?;
            }
            index.upsert(&documents(item)).map_err(worker_error)?;
            match item.required_tier {
                None if access::was_gated(db, id).map_err(retry)? => {
                    index.delete(&[access::preview_id(id)], item.version)
                }
                _ => Ok(()),
            }
        }
        None => index.delete(&both(), i64::MAX),
    }
    .map_err(worker_error)
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
    let db = store::db().map_err(|p| HandleError::Retry(p.detail))?;
    let found = page.items.iter().find(|item| item.id == id);
    apply(&index, &db, id, found)
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
        let docs = documents(&item);
        let [doc] = docs.as_slice() else {
            panic!("an open item is one document: {docs:?}")
        };
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
                kw("access", "open"),
                kw("access", "whole"),
            ]
        );
    }

    #[test]
    fn a_gated_item_is_its_whole_text_and_its_preview() {
        let item: FeedItem = serde_json::from_value(serde_json::json!({
            "id": "c2", "version": 1, "title": "Members only", "description": "",
            "text": "The opening.", "status": "published", "type": "article",
            "authorId": "u1", "requiredTier": "members",
            "paid": { "text": "The opening.\nThe paid part." }
        }))
        .unwrap();
        let docs = documents(&item);
        let bodies: Vec<(&str, &str)> = docs
            .iter()
            .map(|d| (d.id.as_str(), d.body.as_str()))
            .collect();
        assert_eq!(
            bodies,
            [
                ("c2", "The opening.\nThe paid part."),
                ("c2~preview", "The opening.")
            ]
        );
        assert!(
            docs[1]
                .keywords
                .contains(&("access".into(), "preview:members".into()))
        );
        assert!(!docs[1].keywords.iter().any(|(_, v)| v == "whole"));
    }
}
