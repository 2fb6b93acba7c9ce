//! Serving feed and sitemap channels: `/feeds/{slug}.xml` (RSS 2.0),
//! `.atom` (Atom 1.0), `.json` (JSON Feed 1.1), and `/sitemap.xml`, a
//! sitemap index past `sitemap_page_size` URLs (50,000, the protocol's
//! limit) with its pages at `/sitemaps/{n}.xml`. A channel shows the items
//! it delivered, so rules, embargoes and approvals shape feeds too. Every
//! answer has validators (`ETag`, `Last-Modified`) and answers 304 to a
//! conditional GET, cheaply: the validator comes from one aggregate query.
//! With a reader's private key (`?key=`), paid items whose tier the reader
//! holds come whole, and the answer is the reader's alone.

use folio_guest::columns::{integer, optional_integer, text};
use folio_guest::entitlements;
use folio_guest::http::{Problem, header, query_pairs};
use folio_guest::util::rfc3339;
use folio_guest::{Connection, Value};
use spin_sdk::http::{Request, Response};

use crate::channels::{self, Channel};
use crate::feed_keys;
use crate::feeds::{self, FeedEntry, FeedMeta, SitemapUrl};
use crate::items;
use crate::store::{self, db_error};

const FEED_CACHE: &str = "public, max-age=300, stale-while-revalidate=600, stale-if-error=86400";
const PRIVATE_FEED_CACHE: &str = "private, max-age=300";

/// `name` is `{slug}.xml`, `{slug}.atom` or `{slug}.json`.
#[utoipa::path(
    get, path = "/feeds/{name}", operation_id = "getFeed", tag = "publishing",
    params(
        ("name" = String, Path, description = "`{slug}.xml` (RSS 2.0), `{slug}.atom` (Atom 1.0) or `{slug}.json` (JSON Feed 1.1)"),
        ("key" = Option<String>, Query, description = "A reader's private feed key (`POST /api/v1/feeds/key`): paid items whose tier the reader holds come whole")
    ),
    responses(
        (status = 200, description = "The feed's newest items", content_type = "application/rss+xml"),
        (status = 304, description = "Not modified since the validator given"),
        (status = 403, description = "The key is not valid (revoked, replaced or mistyped)", body = crate::api::bodies::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "No such feed", body = crate::api::bodies::ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn feed(request: &Request, name: &str) -> Result<Response, Problem> {
    let (slug, format) = name
        .rsplit_once('.')
        .filter(|(_, f)| ["xml", "atom", "json"].contains(f))
        .ok_or_else(|| Problem::not_found("no such feed"))?;
    let db = store::db()?;
    let channel = channels::by_slug(&db, slug)?
        .filter(|c| c.kind == "feed" && c.status != "disabled")
        .ok_or_else(|| Problem::not_found("no such feed"))?;
    let reader = Reader::of(request, &db)?;
    let mut state = State::of(&db, &channel)?;
    if let Reader::Subscriber { tiers, .. } = &reader {
        state.private = true;
        state
            .etag
            .insert_str(state.etag.len() - 1, &format!("-k{}", tiers.join(".")));
    }
    if let Some(not_modified) = state.not_modified(request, &channel.slug) {
        return Ok(not_modified);
    }
    let limit = channel
        .config
        .get("limit")
        .and_then(serde_json::Value::as_i64)
        .unwrap_or(50);
    let rows = db
        .query(
            &format!(
                "SELECT {} FROM channel_entries e JOIN items i ON i.id = e.content_id \
                 WHERE e.channel_id = $1 ORDER BY e.published_at DESC, e.content_id LIMIT $2",
                items::columns("i.")
            ),
            &[Value::Text(channel.id.clone()), Value::Integer(limit)],
        )
        .map_err(db_error)?;
    let with_body = channel.rules.transform == "full";
    let entries: Vec<FeedEntry> = rows
        .rows
        .iter()
        .map(|r| {
            let item = items::from_row(r);
            FeedEntry {
                url: item.url(),
                summary: item.description.clone(),
                content_html: with_body.then(|| reader.body_of(&item).to_string()),
                author_name: item.author_name.clone(),
                published: rfc3339(item.published_at.unwrap_or(item.updated_at)),
                updated: rfc3339(item.updated_at),
                categories: item.tags.clone(),
                image: None,
                title: item.title,
                id: item.id,
            }
        })
        .collect();
    let base = crate::config::public_url();
    let meta = FeedMeta {
        title: channel
            .config_str("title")
            .map(str::to_string)
            .unwrap_or_else(|| channel.name.clone()),
        description: channel
            .config_str("description")
            .map(str::to_string)
            .unwrap_or_else(|| format!("{} from {}", channel.name, crate::config::platform_name())),
        site_url: base.clone(),
        feed_url: match &reader {
            Reader::Subscriber { key, .. } => format!("{base}/feeds/{name}?key={key}"),
            Reader::Anyone => format!("{base}/feeds/{name}"),
        },
        language: channel.config_str("language").map(str::to_string),
        updated: rfc3339(state.last_modified),
    };
    let (body, content_type) = match format {
        "xml" => (
            feeds::rss(&meta, &entries),
            "application/rss+xml; charset=utf-8",
        ),
        "atom" => (
            feeds::atom(&meta, &entries),
            "application/atom+xml; charset=utf-8",
        ),
        _ => (
            feeds::json_feed(&meta, &entries),
            "application/feed+json; charset=utf-8",
        ),
    };
    Ok(state.respond(body, content_type, &channel.slug))
}

/// Who reads a feed: anyone, or through a private key an account and the
/// paid tiers it holds.
enum Reader {
    Anyone,
    Subscriber { key: String, tiers: Vec<String> },
}

impl Reader {
    fn of(request: &Request, db: &Connection) -> Result<Reader, Problem> {
        let Some(key) = query_pairs(request)
            .into_iter()
            .find(|(name, _)| name == "key")
            .map(|(_, key)| key)
        else {
            return Ok(Reader::Anyone);
        };
        let account = feed_keys::account_of(db, &key)?.ok_or_else(|| {
            Problem::forbidden("the feed key is not valid: it was revoked, replaced or mistyped")
        })?;
        let tiers = entitlements::tiers_of(db, &account)?;
        Ok(Reader::Subscriber { key, tiers })
    }

    /// The body this reader gets: a gated item whole only to holders of its tier.
    fn body_of<'a>(&self, item: &'a items::Item) -> &'a str {
        match (self, &item.required_tier, &item.paid_body) {
            (Reader::Subscriber { tiers, .. }, Some(tier), Some(paid)) if tiers.contains(tier) => {
                paid
            }
            _ => &item.body,
        }
    }
}

/// `/sitemap.xml`: the sitemap channel's URLs, or the index of its pages.
#[utoipa::path(
    get, path = "/sitemap.xml", operation_id = "getSitemap", tag = "publishing",
    responses(
        (status = 200, description = "A sitemap, or a sitemap index when the URLs need more than one file", content_type = "application/xml"),
        (status = 304, description = "Not modified since the validator given"),
        (status = 404, description = "No sitemap channel", body = crate::api::bodies::ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn sitemap(request: &Request) -> Result<Response, Problem> {
    let db = store::db()?;
    let channel = sitemap_channel(&db)?;
    let state = State::of(&db, &channel)?;
    if let Some(not_modified) = state.not_modified(request, &channel.slug) {
        return Ok(not_modified);
    }
    let size = crate::config::sitemap_page_size();
    let body = if state.count as usize <= size {
        feeds::sitemap(&urls(&db, &channel, size, 0)?)
    } else {
        let base = crate::config::public_url();
        let pages = (state.count as usize).div_ceil(size);
        let index: Vec<SitemapUrl> = (1..=pages)
            .map(|n| SitemapUrl {
                loc: format!("{base}/sitemaps/{n}.xml"),
                lastmod: Some(rfc3339(state.last_modified)),
            })
            .collect();
        feeds::sitemap_index(&index)
    };
    Ok(state.respond(body, "application/xml; charset=utf-8", &channel.slug))
}

/// `/sitemaps/{n}.xml`: one page of a sitemap too big for one file.
#[utoipa::path(
    get, path = "/sitemaps/{name}", operation_id = "getSitemapPage", tag = "publishing",
    params(("name" = String, Path, description = "`{n}.xml`, from 1")),
    responses(
        (status = 200, description = "One page of the sitemap", content_type = "application/xml"),
        (status = 304, description = "Not modified since the validator given"),
        (status = 404, description = "No such page", body = crate::api::bodies::ProblemDetails, content_type = "application/problem+json")
    )
)]
pub fn sitemap_page(request: &Request, name: &str) -> Result<Response, Problem> {
    let n: usize = name
        .strip_suffix(".xml")
        .and_then(|n| n.parse().ok())
        .filter(|n| *n >= 1)
        .ok_or_else(|| Problem::not_found("no such sitemap"))?;
    let db = store::db()?;
    let channel = sitemap_channel(&db)?;
    let state = State::of(&db, &channel)?;
    let size = crate::config::sitemap_page_size();
    if (n - 1) * size >= state.count as usize {
        return Err(Problem::not_found("no such sitemap page"));
    }
    if let Some(not_modified) = state.not_modified(request, &channel.slug) {
        return Ok(not_modified);
    }
    let body = feeds::sitemap(&urls(&db, &channel, size, (n - 1) * size)?);
    Ok(state.respond(body, "application/xml; charset=utf-8", &channel.slug))
}

fn sitemap_channel(db: &Connection) -> Result<Channel, Problem> {
    channels::all(db)?
        .into_iter()
        .find(|c| c.kind == "sitemap" && c.status != "disabled")
        .ok_or_else(|| Problem::not_found("no sitemap channel"))
}

fn urls(
    db: &Connection,
    channel: &Channel,
    limit: usize,
    offset: usize,
) -> Result<Vec<SitemapUrl>, Problem> {
    let rows = db
        .query(
            "SELECT i.id, i.kind, i.updated_at FROM channel_entries e JOIN items i \
             ON i.id = e.content_id WHERE e.channel_id = $1 \
             ORDER BY e.published_at, e.content_id LIMIT $2 OFFSET $3",
            &[
                Value::Text(channel.id.clone()),
                Value::Integer(limit as i64),
                Value::Integer(offset as i64),
            ],
        )
        .map_err(db_error)?;
    Ok(rows
        .rows
        .iter()
        .map(|r| SitemapUrl {
            loc: crate::config::item_url(&text(&r[0]), &text(&r[1])),
            lastmod: Some(rfc3339(integer(&r[2]))),
        })
        .collect())
}

/// What a channel's answer depends on, known before rendering it.
struct State {
    count: i64,
    last_modified: i64,
    etag: String,
    /// Read through a private key: for the reader alone, never a shared cache.
    private: bool,
}

impl State {
    fn of(db: &Connection, channel: &Channel) -> Result<State, Problem> {
        let rows = db
            .query(
                "SELECT COUNT(*), MAX(updated_at) FROM channel_entries WHERE channel_id = $1",
                &[Value::Text(channel.id.clone())],
            )
            .map_err(db_error)?;
        let row = rows.rows.first();
        let count = row.map(|r| integer(&r[0])).unwrap_or(0);
        let newest = row.and_then(|r| optional_integer(&r[1])).unwrap_or(0);
        // The channel's own settings change the document too.
        let last_modified = newest.max(channel.updated_at);
        // Last-Modified has whole seconds; the ETag tells apart changes within one.
        Ok(State {
            count,
            last_modified,
            etag: format!("\"{count}-{newest}-{}\"", channel.updated_at),
            private: false,
        })
    }

    fn not_modified(&self, request: &Request, slug: &str) -> Option<Response> {
        let fresh = match header(request, "if-none-match") {
            Some(tags) => tags
                .split(',')
                .map(|t| t.trim().trim_start_matches("W/"))
                .any(|t| t == self.etag || t == "*"),
            None => header(request, "if-modified-since")
                .and_then(|since| jiff::fmt::rfc2822::parse(since).ok())
                .is_some_and(|since| since.timestamp().as_second() >= self.last_modified / 1000),
        };
        fresh.then(|| {
            let mut response = Response::new(304, ());
            self.headers(&mut response, slug);
            response
        })
    }

    fn respond(&self, body: String, content_type: &str, slug: &str) -> Response {
        let mut response = Response::new(200, body);
        response.set_header("content-type", content_type);
        self.headers(&mut response, slug);
        response
    }

    fn headers(&self, response: &mut Response, slug: &str) {
        let modified = jiff::Timestamp::from_millisecond(self.last_modified)
            .map(|t| t.strftime("%a, %d %b %Y %H:%M:%S GMT").to_string())
            .unwrap_or_default();
        response.set_header("etag", self.etag.as_str());
        response.set_header("last-modified", modified);
        if self.private {
            response.set_header("cache-control", PRIVATE_FEED_CACHE);
            response.set_header("x-robots-tag", "noindex");
            return;
        }
        response.set_header("cache-control", FEED_CACHE);
        let keys = format!("feeds feed:{slug}");
        response.set_header("cache-tag", keys.replace(' ', ","));
        response.set_header("surrogate-key", keys);
    }
}
