//! Searches, suggestions and related items, each run under the caller's
//! visibility clause.

use folio_guest::http::Problem;
use folio_guest::search::{AnyOf, FacetCount, Hit, Index, Suggestion};

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
    let results = index.search(&request.to_query(viewer.clause()))?;
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
    let filters: Vec<AnyOf> = viewer.clause().into_iter().collect();
    Ok(index.suggest(text, &filters, limit)?)
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
    if !may_read(index, id, viewer)? {
        return Ok(None);
    }
    let filters: Vec<AnyOf> = viewer.clause().into_iter().collect();
    let shared: Vec<String> = SHARED_FIELDS.iter().map(|f| f.to_string()).collect();
    // Twice as many candidates as wanted, so popularity can lift some in.
    let candidates = (limit * 2).min(query::MAX_LIMIT);
    let hits = index.more_like_this(id, &shared, &filters, candidates)?;
    let ids: Vec<&str> = hits.iter().map(|h| h.id.as_str()).collect();
    let boosts = popularity.boosts(&ids);
    let mut ranked = popularity::blend(hits, &boosts);
    ranked.truncate(limit as usize);
    Ok(Some(ranked))
}

/// Whether document `id` is indexed and the caller may read it.
fn may_read(index: &Index, id: &str, viewer: &Viewer) -> Result<bool, Problem> {
    let mut filters: Vec<AnyOf> = viewer.clause().into_iter().collect();
    filters.push(vec![("id".to_string(), id.to_string())]);
    Ok(index.search(&query::filtered(filters, 1))?.total > 0)
}
