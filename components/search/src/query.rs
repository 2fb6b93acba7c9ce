//! Query parameters into searches: every parameter is checked (a 400 names
//! it), unknown ones are refused, and a paging cursor only works for the
//! query it was given for.

use folio_guest::http::{FieldError, Problem};
use folio_guest::search::{AnyOf, Query, SortOrder};
use folio_guest::util::{b64url, b64url_decode, sha256_hex};
use serde::{Deserialize, Serialize};

use crate::dates::{self, Bound};

/// What a caller may type: characters, and the index's own limit in bytes.
pub const MAX_QUERY_CHARS: usize = 256;
const MAX_QUERY_BYTES: usize = 512;
pub const DEFAULT_LIMIT: u32 = 20;
pub const MAX_LIMIT: u32 = 100;
/// Paging goes this deep into the matches (the index's largest offset).
pub const MAX_WINDOW: u32 = 10_000;
pub const SNIPPET_CHARS: u32 = 160;
/// The most values answered per facet.
pub const FACET_VALUES: u32 = 20;
const MAX_FILTER_VALUES: usize = 20;
const MAX_FILTER_VALUE_CHARS: usize = 100;

/// 400 naming query parameter `name`.
pub fn invalid(name: &str, message: impl Into<String>) -> Problem {
    let message = message.into();
    Problem {
        errors: vec![FieldError {
            field: name.to_string(),
            message: message.clone(),
        }],
        ..Problem::new(400, "Invalid query parameter", format!("{name}: {message}"))
    }
}

/// A request's query parameters, each name checked against the route's own.
pub struct Params<'a> {
    pairs: &'a [(String, String)],
}

impl<'a> Params<'a> {
    /// 400 naming the first parameter not in `known`: a typo must not pass silently.
    pub fn new(pairs: &'a [(String, String)], known: &[&str]) -> Result<Params<'a>, Problem> {
        match pairs
            .iter()
            .find(|(name, _)| !known.contains(&name.as_str()))
        {
            Some((name, _)) => Err(invalid(name, "is not a known query parameter")),
            None => Ok(Params { pairs }),
        }
    }

    /// The value of a parameter that may be given once.
    pub fn one(&self, name: &str) -> Result<Option<&'a str>, Problem> {
        let mut values = self.all(name);
        let first = values.next();
        if values.next().is_some() {
            return Err(invalid(name, "must be given once"));
        }
        Ok(first)
    }

    pub fn all(&self, name: &str) -> impl Iterator<Item = &'a str> {
        let name = name.to_string();
        self.pairs
            .iter()
            .filter(move |(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A count: `default` when absent, 400 unless a whole number of at least
    /// `min`; a larger one than `max` is taken as `max`.
    pub fn count(&self, name: &str, default: u32, min: u32, max: u32) -> Result<u32, Problem> {
        let Some(raw) = self.one(name)? else {
            return Ok(default);
        };
        if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(name, "must be a whole number"));
        }
        // More digits than fit are more than any cap.
        let n = raw.parse::<u64>().unwrap_or(u64::MAX);
        if n < u64::from(min) {
            return Err(invalid(name, format!("must be at least {min}")));
        }
        Ok(n.min(u64::from(max)) as u32)
    }

    /// A time (RFC 3339 or `YYYY-MM-DD`), if given.
    pub fn time(&self, name: &str, bound: Bound) -> Result<Option<i64>, Problem> {
        self.one(name)?
            .map(|raw| {
                dates::parse(raw, bound).ok_or_else(|| {
                    invalid(
                        name,
                        "must be an RFC 3339 time (2026-12-01T09:00:00Z) or a date (2026-12-01)",
                    )
                })
            })
            .transpose()
    }
}

/// Words typed by a caller: trimmed, at most `max_chars` characters (and
/// what the index takes in bytes), no control characters.
pub fn typed_text(name: &str, raw: &str, max_chars: usize) -> Result<String, Problem> {
    let text = raw.trim();
    if text.chars().count() > max_chars || text.len() > MAX_QUERY_BYTES {
        return Err(invalid(
            name,
            format!("must be at most {max_chars} characters ({MAX_QUERY_BYTES} bytes)"),
        ));
    }
    if text.chars().any(|c| c.is_control() && !c.is_whitespace()) {
        return Err(invalid(name, "must not contain control characters"));
    }
    Ok(text.to_string())
}

/// The keyword fields a search filters and counts by; each is also the
/// name of its query parameter and of its facet in the answer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Facet {
    Type,
    Category,
    Tag,
    AuthorId,
}

impl Facet {
    pub const ALL: [Facet; 4] = [Facet::Type, Facet::Category, Facet::Tag, Facet::AuthorId];

    pub fn field(self) -> &'static str {
        match self {
            Facet::Type => "type",
            Facet::Category => "category",
            Facet::Tag => "tag",
            Facet::AuthorId => "authorId",
        }
    }

    pub fn named(name: &str) -> Option<Facet> {
        Facet::ALL.into_iter().find(|f| f.field() == name)
    }

    /// As the content service stores values: tags, types and category ids
    /// lowercased; user ids as they are.
    fn normalize(self, raw: &str) -> String {
        match self {
            Facet::AuthorId => raw.trim().to_string(),
            _ => raw.trim().to_lowercase(),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
pub enum Sort {
    Relevance,
    PublishedAt,
}

/// `GET /api/v1/search`, checked.
#[derive(Debug)]
pub struct SearchRequest {
    /// Trimmed; empty browses everything the caller may read.
    pub text: String,
    /// One clause per filtered field: any of its values matches.
    pub filters: Vec<(Facet, Vec<String>)>,
    pub published_from: Option<i64>,
    pub published_to: Option<i64>,
    pub sort: Sort,
    pub offset: u32,
    pub limit: u32,
    pub facets: Vec<Facet>,
}

pub const SEARCH_PARAMETERS: [&str; 11] = [
    "q",
    "type",
    "category",
    "tag",
    "authorId",
    "publishedFrom",
    "publishedTo",
    "sort",
    "limit",
    "cursor",
    "facets",
];

impl SearchRequest {
    pub fn parse(pairs: &[(String, String)]) -> Result<SearchRequest, Problem> {
        let params = Params::new(pairs, &SEARCH_PARAMETERS)?;
        let text = typed_text("q", params.one("q")?.unwrap_or(""), MAX_QUERY_CHARS)?;
        let mut filters = Vec::new();
        for facet in Facet::ALL {
            let mut values: Vec<String> = Vec::new();
            for raw in params.all(facet.field()) {
                let value = facet.normalize(raw);
                if value.is_empty() || value.chars().count() > MAX_FILTER_VALUE_CHARS {
                    return Err(invalid(
                        facet.field(),
                        format!("each value must be 1-{MAX_FILTER_VALUE_CHARS} characters"),
                    ));
                }
                if value.chars().any(|c| c.is_control() && !c.is_whitespace()) {
                    return Err(invalid(
                        facet.field(),
                        "must not contain control characters",
                    ));
                }
                if !values.contains(&value) {
                    values.push(value);
                }
            }
            if values.len() > MAX_FILTER_VALUES {
                return Err(invalid(
                    facet.field(),
                    format!("at most {MAX_FILTER_VALUES} values"),
                ));
            }
            if !values.is_empty() {
                values.sort();
                filters.push((facet, values));
            }
        }
        let published_from = params.time("publishedFrom", Bound::Start)?;
        let published_to = params.time("publishedTo", Bound::End)?;
        if let (Some(from), Some(to)) = (published_from, published_to)
            && from > to
        {
            return Err(invalid("publishedTo", "must not be before publishedFrom"));
        }
        let sort = match params.one("sort")? {
            None if text.is_empty() => Sort::PublishedAt,
            None | Some("relevance") => Sort::Relevance,
            Some("publishedAt") => Sort::PublishedAt,
            Some(_) => return Err(invalid("sort", "must be relevance or publishedAt")),
        };
        let limit = params.count("limit", DEFAULT_LIMIT, 0, MAX_LIMIT)?;
        let mut facets = Vec::new();
        for name in params
            .all("facets")
            .flat_map(|list| list.split(','))
            .map(str::trim)
            .filter(|name| !name.is_empty())
        {
            let facet = Facet::named(name).ok_or_else(|| {
                invalid(
                    "facets",
                    format!("`{name}` is not a facet: type, category, tag or authorId"),
                )
            })?;
            if !facets.contains(&facet) {
                facets.push(facet);
            }
        }
        let mut request = SearchRequest {
            text,
            filters,
            published_from,
            published_to,
            sort,
            offset: 0,
            limit,
            facets,
        };
        if let Some(cursor) = params.one("cursor")? {
            request.offset = request.offset_of(cursor)?;
        }
        Ok(request)
    }

    /// How many hits this page holds: `limit`, but never past the window.
    /// Whether the order is relevance to typed words (not browsing, not by date).
    pub fn ranks_by_relevance(&self) -> bool {
        self.sort == Sort::Relevance && !self.text.is_empty()
    }

    pub fn page_size(&self) -> u32 {
        self.limit.min(MAX_WINDOW - self.offset)
    }

    /// Where the next page starts, if there is one within the window.
    pub fn next_offset(&self, total: u64) -> Option<u32> {
        let next = self.offset + self.page_size();
        (self.page_size() > 0 && u64::from(next) < total && next < MAX_WINDOW).then_some(next)
    }

    /// The index query for this request; `visibility` is the caller's clause.
    pub fn to_query(&self, visibility: Vec<AnyOf>) -> Query {
        let mut filters: Vec<AnyOf> = self
            .filters
            .iter()
            .map(|(facet, values)| {
                values
                    .iter()
                    .map(|v| (facet.field().to_string(), v.clone()))
                    .collect()
            })
            .collect();
        filters.extend(visibility);
        Query {
            text: self.text.clone(),
            filters,
            time_from: self.published_from,
            time_to: self.published_to,
            sort: match self.sort {
                Sort::Relevance => SortOrder::Relevance,
                Sort::PublishedAt => SortOrder::NewestFirst,
            },
            offset: self.offset,
            limit: self.page_size(),
            facets: self.facets.iter().map(|f| f.field().to_string()).collect(),
            facet_limit: FACET_VALUES,
            snippet_chars: SNIPPET_CHARS,
        }
    }

    /// The cursor of the page that starts at `offset` of this query.
    pub fn cursor_at(&self, offset: u32) -> String {
        let cursor = Cursor {
            offset,
            query: self.fingerprint(),
        };
        b64url(&serde_json::to_vec(&cursor).expect("cursors serialize"))
    }

    fn offset_of(&self, cursor: &str) -> Result<u32, Problem> {
        let refused = || {
            invalid(
                "cursor",
                "is not a cursor this search gave out for this query",
            )
        };
        let bytes = b64url_decode(cursor).ok_or_else(refused)?;
        let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| refused())?;
        if cursor.query != self.fingerprint() || cursor.offset > MAX_WINDOW {
            return Err(refused());
        }
        Ok(cursor.offset)
    }

    /// What the matches depend on (not the page size or the facets asked for).
    fn fingerprint(&self) -> String {
        let filters: Vec<(&str, &Vec<String>)> = self
            .filters
            .iter()
            .map(|(facet, values)| (facet.field(), values))
            .collect();
        let identity = serde_json::json!([
            self.text,
            filters,
            self.published_from,
            self.published_to,
            self.sort,
        ]);
        sha256_hex(&identity.to_string())[..16].to_string()
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Cursor {
    #[serde(rename = "o")]
    offset: u32,
    #[serde(rename = "q")]
    query: String,
}

/// An index query without text, facets or snippets: `limit` documents
/// matching every clause of `filters`.
pub fn filtered(filters: Vec<AnyOf>, limit: u32) -> Query {
    Query {
        text: String::new(),
        filters,
        time_from: None,
        time_to: None,
        sort: SortOrder::Relevance,
        offset: 0,
        limit,
        facets: Vec::new(),
        facet_limit: 1,
        snippet_chars: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(query: &str) -> Vec<(String, String)> {
        folio_guest::http::form_pairs(query)
    }

    fn parse(query: &str) -> Result<SearchRequest, Problem> {
        SearchRequest::parse(&pairs(query))
    }

    fn field_of(problem: Problem) -> (u16, String) {
        (problem.status, problem.errors[0].field.clone())
    }

    #[test]
    fn defaults_browse_newest_first() {
        let r = parse("").unwrap();
        assert_eq!(r.sort, Sort::PublishedAt);
        assert_eq!((r.offset, r.limit), (0, DEFAULT_LIMIT));
        assert_eq!(parse("q=%20rust%20").unwrap().sort, Sort::Relevance);
        assert_eq!(parse("q=rust").unwrap().text, "rust");
    }

    #[test]
    fn repeated_filters_are_one_clause_of_any_value() {
        let r = parse("tag=Rust&tag=wasm&tag=rust&type=article").unwrap();
        let query = r.to_query(vec![vec![("status".into(), "published".into())]]);
        assert_eq!(
            query.filters,
            vec![
                vec![("type".to_string(), "article".to_string())],
                vec![
                    ("tag".to_string(), "rust".to_string()),
                    ("tag".to_string(), "wasm".to_string())
                ],
                vec![("status".to_string(), "published".to_string())],
            ]
        );
    }

    #[test]
    fn limits_are_capped_but_must_be_numbers() {
        assert_eq!(parse("limit=1000").unwrap().limit, MAX_LIMIT);
        assert_eq!(
            parse("limit=99999999999999999999999").unwrap().limit,
            MAX_LIMIT
        );
        assert_eq!(parse("limit=0").unwrap().limit, 0);
        for bad in ["limit=ten", "limit=-1", "limit=", "limit=1.5"] {
            assert_eq!(field_of(parse(bad).unwrap_err()), (400, "limit".into()));
        }
    }

    #[test]
    fn bad_parameters_are_named() {
        for (query, field) in [
            ("colour=red", "colour"),
            ("facets=type,colour", "facets"),
            ("sort=title", "sort"),
            ("publishedFrom=yesterday", "publishedFrom"),
            (
                "publishedFrom=2026-02-01&publishedTo=2026-01-01",
                "publishedTo",
            ),
            ("q=a&q=b", "q"),
            ("tag=", "tag"),
            ("cursor=not-a-cursor", "cursor"),
        ] {
            assert_eq!(
                field_of(parse(query).unwrap_err()),
                (400, field.into()),
                "{query}"
            );
        }
        let long = "x".repeat(MAX_QUERY_CHARS + 1);
        assert_eq!(
            field_of(parse(&format!("q={long}")).unwrap_err()),
            (400, "q".into())
        );
    }

    #[test]
    fn a_cursor_pages_only_its_own_query() {
        let first = parse("q=rust&tag=wasm&limit=10").unwrap();
        assert_eq!(first.next_offset(25), Some(10));
        let cursor = first.cursor_at(10);
        let second = parse(&format!("tag=wasm&q=rust&limit=10&cursor={cursor}")).unwrap();
        assert_eq!(second.offset, 10);
        assert_eq!(second.next_offset(25), Some(20));
        assert_eq!(second.next_offset(20), None);
        let other = parse(&format!("q=go&tag=wasm&cursor={cursor}")).unwrap_err();
        assert_eq!(field_of(other), (400, "cursor".into()));
    }

    #[test]
    fn paging_stops_at_the_window() {
        let mut r = parse("limit=100").unwrap();
        r.offset = MAX_WINDOW - 50;
        assert_eq!(r.page_size(), 50);
        assert_eq!(r.next_offset(1_000_000), None);
        r.offset = MAX_WINDOW - 150;
        assert_eq!(r.next_offset(1_000_000), Some(MAX_WINDOW - 50));
    }

    #[test]
    fn facets_are_comma_separated_or_repeated() {
        let r = parse("facets=type,%20tag&facets=authorId&facets=type").unwrap();
        assert_eq!(r.facets, vec![Facet::Type, Facet::Tag, Facet::AuthorId]);
    }
}
