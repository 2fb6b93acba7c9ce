//! `GET /api/v1/search`, `/search/suggest` and `/search/related/{id}`.

use std::collections::BTreeMap;

use folio_guest::flags;
use folio_guest::http::{Problem, json, query_pairs};
use folio_guest::search::{FacetCount, Hit};
use folio_guest::util::{is_uuid, rfc3339};
use spin_sdk::http::{Request, Response};

use super::bodies::{
    Facets, ItemLinks, Link, PageLinks, RelatedItem, RelatedList, SearchItem, SearchPage,
    SuggestionItem, SuggestionList,
};
use crate::popularity::{Audience, ClickThrough, NoSignal, Popularity};
use crate::query::{Facet, Params, SearchRequest, invalid, typed_text};
use crate::visibility::Viewer;
use crate::{access, analytics, searcher, store, url};

const BASE: &str = "/api/v1/search";
const MAX_SUGGEST_CHARS: usize = 100;

/// Searches what the caller may read: published content for anyone,
/// creators' own content in any status for them, everything for admins.
#[utoipa::path(
    get,
    path = "/api/v1/search",
    operation_id = "searchContent",
    tag = "search",
    security((), ("bearer" = [])),
    params(
        ("q" = Option<String>, Query, nullable = false, max_length = 256, description = "Words (all must match, the last also as a prefix, small typos forgiven) and \"quoted phrases\"; at most 256 characters. Empty browses everything"),
        ("type" = Option<Vec<String>>, Query, style = Form, explode, nullable = false, description = "Content type; repeat for any of several"),
        ("category" = Option<Vec<String>>, Query, style = Form, explode, nullable = false, description = "Category id; repeat for any of several"),
        ("tag" = Option<Vec<String>>, Query, style = Form, explode, nullable = false, description = "Tag; repeat for any of several"),
        ("authorId" = Option<Vec<String>>, Query, style = Form, explode, nullable = false, description = "Author's user id; repeat for any of several"),
        ("publishedFrom" = Option<String>, Query, nullable = false, description = "Published at or after: RFC 3339 (`2026-12-01T09:00:00Z`) or a date (`2026-12-01`, from its start, UTC)"),
        ("publishedTo" = Option<String>, Query, nullable = false, description = "Published at or before: RFC 3339 or a date (to its end, UTC)"),
        ("sort" = Option<super::bodies::SearchSort>, Query, nullable = false, description = "Default `relevance`, or `publishedAt` (newest first) when `q` is empty"),
        ("limit" = Option<u32>, Query, nullable = false, minimum = 0, description = "Results per page: default 20; more than 100 is taken as 100; 0 answers only `total` and `facets`"),
        ("cursor" = Option<String>, Query, nullable = false, description = "The next page: from `_links.next` of the page before, with the same query"),
        ("facets" = Option<Vec<super::bodies::FacetName>>, Query, style = Form, explode = false, nullable = false, description = "Facets to count, comma-separated"),
    ),
    responses(
        (status = 200, description = "One page of matches", body = SearchPage),
        (status = 400, description = "A query parameter is invalid or unknown; `errors` names it", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "The access token was refused", body = super::bodies::ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn search(request: &Request) -> Result<(Response, Option<SearchRecord>), Problem> {
    let viewer = Viewer::of(request)?;
    let pairs = query_pairs(request);
    let search = SearchRequest::parse(&pairs)?;
    let popularity: &dyn Popularity =
        if search.ranks_by_relevance() && flags::enabled(request, "enhancedSearch", false) {
            &ClickThrough
        } else {
            &NoSignal
        };
    let page = searcher::search(&store::index()?, &search, &viewer, popularity)?;
    let record = SearchRecord::of(&search, page.total);
    let self_link = url::with_query(BASE, pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let next = page.next_offset.map(|offset| {
        let cursor = search.cursor_at(offset);
        let href = url::with_query(
            BASE,
            pairs
                .iter()
                .filter(|(name, _)| name != "cursor")
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .chain([("cursor", cursor.as_str())]),
        );
        Link { href }
    });
    let items = page
        .hits
        .into_iter()
        .map(|hit| {
            let (kind, published_at) = (keyword(&hit, "type"), published_at(&hit));
            SearchItem {
                links: ItemLinks::to_content(&hit.id),
                id: hit.id,
                kind,
                preview: access::is_preview(&hit.keywords),
                title: hit.title,
                snippet: hit.snippet,
                score: hit.score,
                published_at,
            }
        })
        .collect();
    let response = json(
        200,
        &SearchPage {
            items,
            facets: facets(page.facets),
            total: page.total,
            links: PageLinks {
                self_: Link { href: self_link },
                next,
            },
        },
    );
    Ok((response, record))
}

/// A search for analytics, written once the answer is sent: a write on the
/// answer's path made its p99 twenty times worse under load.
pub struct SearchRecord {
    query: String,
    total: u64,
}

impl SearchRecord {
    /// Searches someone typed count once each (on their first page).
    fn of(search: &SearchRequest, total: u64) -> Option<SearchRecord> {
        let query = analytics::normalize(&search.text);
        (!query.is_empty() && search.offset == 0).then_some(SearchRecord { query, total })
    }

    /// Losing a count must not fail anything: it is logged.
    pub fn save(self) {
        if let Err(p) = analytics::record_search(&self.query, self.total) {
            eprintln!("search analytics: {}", p.detail);
        }
    }
}

fn keyword(hit: &Hit, field: &str) -> String {
    hit.keywords
        .iter()
        .find(|(f, _)| f == field)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

fn published_at(hit: &Hit) -> Option<String> {
    hit.time.map(rfc3339)
}

fn facets(counts: Vec<FacetCount>) -> Facets {
    let mut facets = Facets {
        kind: None,
        category: None,
        tag: None,
        author_id: None,
    };
    for count in counts {
        let values: BTreeMap<String, u64> = count.values.into_iter().collect();
        let slot = match Facet::named(&count.field) {
            Some(Facet::Type) => &mut facets.kind,
            Some(Facet::Category) => &mut facets.category,
            Some(Facet::Tag) => &mut facets.tag,
            Some(Facet::AuthorId) => &mut facets.author_id,
            None => continue,
        };
        *slot = Some(values);
    }
    facets
}

/// Titles that complete what the caller is typing.
#[utoipa::path(
    get,
    path = "/api/v1/search/suggest",
    operation_id = "suggestTitles",
    tag = "search",
    security((), ("bearer" = [])),
    params(
        ("q" = String, Query, min_length = 1, max_length = 100, description = "What the caller typed so far (its last word as a prefix): 1-100 characters"),
        ("limit" = Option<u32>, Query, nullable = false, minimum = 1, description = "Default 8; more than 10 is taken as 10"),
    ),
    responses(
        (status = 200, description = "Suggestions, best first", body = SuggestionList),
        (status = 400, description = "A query parameter is missing, invalid or unknown; `errors` names it", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "The access token was refused", body = super::bodies::ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn suggest(request: &Request) -> Result<Response, Problem> {
    let viewer = Viewer::of(request)?;
    let pairs = query_pairs(request);
    let params = Params::new(&pairs, &["q", "limit"])?;
    let text = typed_text("q", params.one("q")?.unwrap_or(""), MAX_SUGGEST_CHARS)?;
    if text.is_empty() {
        return Err(invalid(
            "q",
            format!("is required: 1-{MAX_SUGGEST_CHARS} characters"),
        ));
    }
    let limit = params.count("limit", 8, 1, 10)?;
    let suggestions = searcher::suggest(&store::index()?, &text, limit, &viewer)?
        .into_iter()
        .map(|s| SuggestionItem {
            id: s.id,
            title: s.title,
        })
        .collect();
    Ok(json(200, &SuggestionList { suggestions }))
}

/// Items like this one (sharing distinctive words, tags and categories)
/// that the caller may read.
#[utoipa::path(
    get,
    path = "/api/v1/search/related/{id}",
    operation_id = "relatedContent",
    tag = "search",
    security((), ("bearer" = [])),
    params(
        ("id" = String, Path, description = "The content id (a UUID)"),
        ("limit" = Option<u32>, Query, nullable = false, minimum = 1, description = "Default 5; more than 20 is taken as 20"),
    ),
    responses(
        (status = 200, description = "Related items, most related first", body = RelatedList),
        (status = 400, description = "A query parameter is invalid or unknown; `errors` names it", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "The access token was refused", body = super::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such content, or not visible to the caller", body = super::bodies::ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn related(request: &Request, id: &str) -> Result<Response, Problem> {
    let viewer = Viewer::of(request)?;
    let pairs = query_pairs(request);
    let limit = Params::new(&pairs, &["limit"])?.count("limit", 5, 1, 20)?;
    let not_found = || Problem::not_found("no such content, or not visible to the caller");
    if !is_uuid(id) {
        return Err(not_found());
    }
    let id = id.to_ascii_lowercase();
    let popularity: &dyn Popularity = if flags::enabled(request, "newRecommendationEngine", false) {
        &Audience
    } else {
        &NoSignal
    };
    let hits = searcher::related(&store::index()?, &id, limit, &viewer, popularity)?
        .ok_or_else(not_found)?;
    let items = hits
        .into_iter()
        .map(|hit| {
            let (kind, published_at) = (keyword(&hit, "type"), published_at(&hit));
            RelatedItem {
                links: ItemLinks::to_content(&hit.id),
                id: hit.id,
                kind,
                title: hit.title,
                score: hit.score,
                published_at,
            }
        })
        .collect();
    Ok(json(200, &RelatedList { items }))
}
