//! Searches, suggestions and related items, each run under the caller's
//! visibility clause.

use folio_guest::http::Problem;
use folio_guest::search::{FacetCount, Hit, Index, Suggestion};

use crate::access;
use crate::popularity::{self, Popularity};
use crate::query::{self, SearchRequest};
use crate::visibility::Viewer;

/// Keyword fields whose shared values make items related.
const SHARED_FIELDS: [&str; 2] = ["tag", "category"];

pub struct Page {
    /// Every match the caller may read, not just this page.
    pub total: u64,
    pub hits: Vec<Hit>,
    pub facets: Vec<FacetCount>,
    pub next_offset: Option<u32>,
}

/// One page of matches; `popularity` reorders the page (its set of items
/// stays the index's, so paging neither skips nor repeats an item).
pub fn search(
    index: &Index,
    request: &SearchRequest,
    viewer: &Viewer,
    popularity: &dyn Popularity,
) -> Result<Page, Problem> {
    let mut results = index.search(&request.to_query(viewer.clauses()))?;
    as_content(&mut results.hits);
    let ids: Vec<&str> = results.hits.iter().map(|h| h.id.as_str()).collect();
    let boosts = popularity.boosts(&ids);
    Ok(Page {
        total: results.total,
        next_offset: request.next_offset(results.total),
        hits: popularity::blend(results.hits, &boosts),
        facets: results.facets,
    })
}

pub fn suggest(
    index: &Index,
    text: &str,
    limit: u32,
    viewer: &Viewer,
) -> Result<Vec<Suggestion>, Problem> {
    let mut suggestions = index.suggest(text, &viewer.clauses(), limit)?;
    for s in &mut suggestions {
        s.id = access::content_id(&s.id).0.to_string();
    }
    Ok(suggestions)
}

/// Items like `id`, best first, or `None` when the caller may not read `id`
/// (or it is not indexed).
pub fn related(
    index: &Index,
    id: &str,
    limit: u32,
    viewer: &Viewer,
    popularity: &dyn Popularity,
) -> Result<Option<Vec<Hit>>, Problem> {
    // The document the caller reads: the whole item or its preview.
    let Some(doc_id) = readable_document(index, id, viewer)? else {
        return Ok(None);
    };
    let filters = viewer.clauses();
    let shared: Vec<String> = SHARED_FIELDS.iter().map(|f| f.to_string()).collect();
    // Twice as many candidates as wanted, so popularity can lift some in.
    let candidates = (limit * 2).min(query::MAX_LIMIT);
    let mut hits = index.more_like_this(&doc_id, &shared, &filters, candidates)?;
    as_content(&mut hits);
    let ids: Vec<&str> = hits.iter().map(|h| h.id.as_str()).collect();
    let boosts = popularity.boosts(&ids);
    let mut ranked = popularity::blend(hits, &boosts);
    ranked.truncate(limit as usize);
    Ok(Some(ranked))
}

/// The document of item `id` the caller may read (whole or its preview),
/// if it is indexed.
fn readable_document(index: &Index, id: &str, viewer: &Viewer) -> Result<Option<String>, Problem> {
    let mut filters = viewer.clauses();
    filters.push(vec![
        ("id".to_string(), id.to_string()),
        ("id".to_string(), access::preview_id(id)),
    ]);
    let results = index.search(&query::filtered(filters, 1))?;
    Ok(results.hits.into_iter().next().map(|hit| hit.id))
}

/// Hits as the items they stand for: a preview document under its item's id.
fn as_content(hits: &mut [Hit]) {
    for hit in hits {
        hit.id = access::content_id(&hit.id).0.to_string();
    }
}
