//! Paid items in the index. An item that requires a tier is indexed twice:
//! whole (under its id) and as its public preview (under `{id}~preview`:
//! title, summary, first paragraph). Each document carries `access`
//! keywords, and every search carries a clause that lets exactly one of the
//! two through: the whole item to holders of its tier, the preview to
//! everyone else. So a reader without the tier can neither see a snippet of
//! the paid part nor find the item by a word that only the paid part has.
//!
//! The clause names the tiers the caller lacks, so it needs every tier that
//! gates an item: those are kept in `gates` as items are indexed (never
//! removed: a stale one only lengthens the clause).

use folio_guest::columns::text;
use folio_guest::http::Problem;
use folio_guest::search::AnyOf;
use folio_guest::{Connection, Value};

use crate::store::db_error;

pub const FIELD: &str = "access";
const PREVIEW_SUFFIX: &str = "~preview";

/// The id of an item's preview document.
pub fn preview_id(id: &str) -> String {
    format!("{id}{PREVIEW_SUFFIX}")
}

/// The content id a document stands for, and whether it is a preview.
pub fn content_id(doc_id: &str) -> (&str, bool) {
    match doc_id.strip_suffix(PREVIEW_SUFFIX) {
        Some(id) => (id, true),
        None => (doc_id, false),
    }
}

/// The `access` keywords of a document: an open item's, or a gated item's
/// whole text or its preview.
pub fn keywords(tier: Option<&str>, preview: bool) -> Vec<(String, String)> {
    let value = |v: String| (FIELD.to_string(), v);
    match (tier, preview) {
        (None, _) => vec![value("open".into()), value("whole".into())],
        (Some(tier), false) => vec![value(format!("full:{tier}")), value("whole".into())],
        (Some(tier), true) => vec![value(format!("preview:{tier}"))],
    }
}

/// Whether a hit is a paid item's preview.
pub fn is_preview(keywords: &[(String, String)]) -> bool {
    keywords
        .iter()
        .any(|(field, value)| field == FIELD && value.starts_with("preview:"))
}

/// What a reader holding `tiers` may see, every tier in `gates` considered.
pub fn clause(tiers: &[String], gates: &[String]) -> AnyOf {
    let mut clause = vec![(FIELD.to_string(), "open".to_string())];
    for gate in gates {
        let kind = if tiers.contains(gate) {
            "full"
        } else {
            "preview"
        };
        clause.push((FIELD.to_string(), format!("{kind}:{gate}")));
    }
    clause
}

/// Admins read every item whole.
pub fn whole() -> AnyOf {
    vec![(FIELD.to_string(), "whole".to_string())]
}

/// Remembers that `content_id` is gated by `tier`, before its documents are
/// written, so searches ask for its tier by the time they can find it.
pub fn record_gate(db: &Connection, content_id: &str, tier: &str) -> Result<(), Problem> {
    let tier = Value::Text(tier.to_string());
    db.execute(
        "INSERT INTO gates (tier) VALUES ($1) ON CONFLICT (tier) DO NOTHING",
        std::slice::from_ref(&tier),
    )
    .map_err(db_error)?;
    db.execute(
        "INSERT INTO gated_items (content_id, tier) VALUES ($1, $2) \
         ON CONFLICT (content_id) DO UPDATE SET tier = $2",
        &[Value::Text(content_id.to_string()), tier],
    )
    .map_err(db_error)?;
    Ok(())
}

/// Whether `content_id` was ever gated (it may have a preview document).
/// Never forgotten, so every host's index drops the preview of an item
/// made open again, whichever host's indexer comes first.
pub fn was_gated(db: &Connection, content_id: &str) -> Result<bool, Problem> {
    let rows = db
        .query(
            "SELECT 1 FROM gated_items WHERE content_id = $1",
            &[Value::Text(content_id.to_string())],
        )
        .map_err(db_error)?;
    Ok(!rows.rows.is_empty())
}

pub fn gates(db: &Connection) -> Result<Vec<String>, Problem> {
    let rows = db
        .query("SELECT tier FROM gates ORDER BY tier", &[])
        .map_err(db_error)?;
    Ok(rows.rows.iter().map(|r| text(&r[0])).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether a document with these keywords passes the clause.
    fn passes(clause: &AnyOf, keywords: &[(String, String)]) -> bool {
        keywords.iter().any(|k| clause.contains(k))
    }

    #[test]
    fn exactly_one_document_of_a_gated_item_passes_each_reader() {
        let gates = vec!["members".to_string(), "pro".to_string()];
        let full = keywords(Some("members"), false);
        let preview = keywords(Some("members"), true);
        let open = keywords(None, false);
        let free = clause(&[], &gates);
        let member = clause(&["members".to_string()], &gates);
        let pro = clause(&["pro".to_string()], &gates);
        assert!(passes(&free, &preview) && !passes(&free, &full));
        assert!(passes(&member, &full) && !passes(&member, &preview));
        assert!(passes(&pro, &preview) && !passes(&pro, &full));
        assert!(passes(&whole(), &full) && !passes(&whole(), &preview));
        for reader in [&free, &member, &pro, &whole()] {
            assert!(passes(reader, &open));
        }
        // A tier not yet known as a gate shows neither: closed, not open.
        let unknown = clause(&["members".to_string()], &[]);
        assert!(!passes(&unknown, &full) && !passes(&unknown, &preview));
    }

    #[test]
    fn preview_ids_map_back_to_the_item() {
        assert_eq!(content_id(&preview_id("c1")), ("c1", true));
        assert_eq!(content_id("c1"), ("c1", false));
    }
}
