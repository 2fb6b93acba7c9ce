//! Feed (RSS 2.0, Atom 1.0, JSON Feed 1.1) and sitemap rendering.
//!
//! Everything here is pure string building: no I/O, no clock. Dates come in
//! as RFC 3339 strings; anything that does not parse is either left out (for
//! optional elements) or replaced by the Unix epoch (for required ones), so
//! rendering never fails and never panics on user data.
//!
//! Item ids are rendered as `urn:uuid:<id>` in all three feed formats, so a
//! reader that switches format sees the same identity for each item.

use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Weekday};
use jiff::tz::Offset;
use serde_json::{Map, Value, json};

pub struct FeedMeta {
    pub title: String,
    pub description: String,
    /// The site's home page.
    pub site_url: String,
    /// This feed's own URL (rel=self).
    pub feed_url: String,
    pub language: Option<String>,
    /// RFC 3339, newest entry's updated time (or now).
    pub updated: String,
}

pub struct FeedEntry {
    /// Stable item id (a UUID).
    pub id: String,
    /// Canonical link.
    pub url: String,
    pub title: String,
    /// Plain text.
    pub summary: String,
    /// Sanitized HTML body; `None` = summary only.
    pub content_html: Option<String>,
    pub author_name: Option<String>,
    /// RFC 3339.
    pub published: String,
    /// RFC 3339.
    pub updated: String,
    pub categories: Vec<String>,
    pub image: Option<String>,
}

pub struct SitemapUrl {
    pub loc: String,
    /// RFC 3339.
    pub lastmod: Option<String>,
}

/// Most URLs (or sitemaps, for an index) one file may list; callers split.
pub const SITEMAP_MAX_URLS: usize = 50_000;

const NS_ATOM: &str = "http://www.w3.org/2005/Atom";
const NS_CONTENT: &str = "http://purl.org/rss/1.0/modules/content/";
const NS_DC: &str = "http://purl.org/dc/elements/1.1/";
const NS_SITEMAP: &str = "http://www.sitemaps.org/schemas/sitemap/0.9";
const JSON_FEED_VERSION: &str = "https://jsonfeed.org/version/1.1";

/// RSS 2.0 with the `atom`, `content` and `dc` extension namespaces.
#[must_use]
pub fn rss(meta: &FeedMeta, entries: &[FeedEntry]) -> String {
    let mut x = XmlWriter::new();
    x.open(
        "rss",
        &[
            ("version", "2.0"),
            ("xmlns:atom", NS_ATOM),
            ("xmlns:content", NS_CONTENT),
            ("xmlns:dc", NS_DC),
        ],
    );
    x.open("channel", &[]);
    x.text("title", &[], &meta.title);
    x.text("link", &[], &meta.site_url);
    x.text("description", &[], &meta.description);
    if let Some(language) = non_blank(meta.language.as_deref()) {
        x.text("language", &[], language);
    }
    if let Some(updated) = feed_updated(meta, entries) {
        x.text("lastBuildDate", &[], &rfc822(updated));
    }
    x.empty(
        "atom:link",
        &[
            ("href", &meta.feed_url),
            ("rel", "self"),
            ("type", "application/rss+xml"),
        ],
    );
    for entry in entries {
        x.open("item", &[]);
        x.text("title", &[], &entry.title);
        x.text("link", &[], &entry.url);
        x.text("guid", &[("isPermaLink", "false")], &urn_uuid(&entry.id));
        if let Some(published) = parse_ts(&entry.published) {
            x.text("pubDate", &[], &rfc822(published));
        }
        if let Some(author) = non_blank(entry.author_name.as_deref()) {
            x.text("dc:creator", &[], author);
        }
        for category in categories(entry) {
            x.text("category", &[], category);
        }
        if !is_blank(&entry.summary) {
            // <description> is HTML to RSS readers, so the plain-text summary
            // is HTML-escaped first; otherwise "a <b> c" would render as markup.
            x.cdata("description", &html_escape(&entry.summary));
        }
        if let Some(html) = &entry.content_html {
            x.cdata("content:encoded", html);
        }
        x.close("item");
    }
    x.close("channel");
    x.close("rss");
    x.finish()
}

/// Atom 1.0 (RFC 4287).
#[must_use]
pub fn atom(meta: &FeedMeta, entries: &[FeedEntry]) -> String {
    let mut x = XmlWriter::new();
    match non_blank(meta.language.as_deref()) {
        Some(language) => x.open("feed", &[("xmlns", NS_ATOM), ("xml:lang", language)]),
        None => x.open("feed", &[("xmlns", NS_ATOM)]),
    }
    x.text("id", &[], &meta.feed_url);
    x.text("title", &[], &meta.title);
    if !is_blank(&meta.description) {
        x.text("subtitle", &[], &meta.description);
    }
    let updated = feed_updated(meta, entries).unwrap_or(Timestamp::UNIX_EPOCH);
    x.text("updated", &[], &rfc3339(updated));
    x.empty(
        "link",
        &[
            ("rel", "self"),
            ("type", "application/atom+xml"),
            ("href", &meta.feed_url),
        ],
    );
    x.empty(
        "link",
        &[
            ("rel", "alternate"),
            ("type", "text/html"),
            ("href", &meta.site_url),
        ],
    );
    // RFC 4287 4.1.1: a feed needs an author unless every entry has one.
    // Emitted for an empty feed too, where validators expect it.
    if entries.is_empty() || entries.iter().any(|e| author(e).is_none()) {
        x.open("author", &[]);
        x.text("name", &[], &meta.title);
        x.close("author");
    }
    for entry in entries {
        x.open("entry", &[]);
        x.text("id", &[], &urn_uuid(&entry.id));
        x.text("title", &[], &entry.title);
        let updated = entry_updated(entry).unwrap_or(Timestamp::UNIX_EPOCH);
        x.text("updated", &[], &rfc3339(updated));
        if let Some(published) = parse_ts(&entry.published) {
            x.text("published", &[], &rfc3339(published));
        }
        x.empty(
            "link",
            &[
                ("rel", "alternate"),
                ("type", "text/html"),
                ("href", &entry.url),
            ],
        );
        if let Some(name) = author(entry) {
            x.open("author", &[]);
            x.text("name", &[], name);
            x.close("author");
        }
        for category in categories(entry) {
            x.empty("category", &[("term", category)]);
        }
        if !is_blank(&entry.summary) {
            x.text("summary", &[("type", "text")], &entry.summary);
        }
        if let Some(html) = &entry.content_html {
            x.text("content", &[("type", "html")], html);
        }
        x.close("entry");
    }
    x.close("feed");
    x.finish()
}

/// JSON Feed 1.1.
#[must_use]
pub fn json_feed(meta: &FeedMeta, entries: &[FeedEntry]) -> String {
    let mut feed = Map::new();
    feed.insert("version".into(), JSON_FEED_VERSION.into());
    feed.insert("title".into(), json_text(&meta.title));
    insert_non_blank(&mut feed, "home_page_url", Some(&meta.site_url));
    insert_non_blank(&mut feed, "feed_url", Some(&meta.feed_url));
    insert_non_blank(&mut feed, "description", Some(&meta.description));
    insert_non_blank(&mut feed, "language", meta.language.as_deref());
    let items: Vec<Value> = entries.iter().map(json_item).collect();
    feed.insert("items".into(), items.into());
    Value::Object(feed).to_string()
}

fn json_item(entry: &FeedEntry) -> Value {
    let mut item = Map::new();
    item.insert("id".into(), json_text(&urn_uuid(&entry.id)));
    insert_non_blank(&mut item, "url", Some(&entry.url));
    item.insert("title".into(), json_text(&entry.title));
    insert_non_blank(&mut item, "summary", Some(&entry.summary));
    // One of content_html / content_text is required.
    match &entry.content_html {
        Some(html) => item.insert("content_html".into(), json_text(html)),
        None => item.insert("content_text".into(), json_text(&entry.summary)),
    };
    if let Some(published) = parse_ts(&entry.published) {
        item.insert("date_published".into(), rfc3339(published).into());
    }
    if let Some(updated) = parse_ts(&entry.updated) {
        item.insert("date_modified".into(), rfc3339(updated).into());
    }
    if let Some(name) = author(entry) {
        item.insert("authors".into(), json!([{ "name": json_text(name) }]));
    }
    let tags: Vec<Value> = categories(entry).map(json_text).collect();
    if !tags.is_empty() {
        item.insert("tags".into(), tags.into());
    }
    insert_non_blank(&mut item, "image", entry.image.as_deref());
    Value::Object(item)
}

/// A `<urlset>` sitemap. At most [`SITEMAP_MAX_URLS`] URLs; callers split.
#[must_use]
pub fn sitemap(urls: &[SitemapUrl]) -> String {
    debug_assert!(
        urls.len() <= SITEMAP_MAX_URLS,
        "sitemap has {} URLs; split at SITEMAP_MAX_URLS",
        urls.len()
    );
    sitemap_doc("urlset", "url", urls)
}

/// A `<sitemapindex>`. At most [`SITEMAP_MAX_URLS`] sitemaps; callers split.
#[must_use]
pub fn sitemap_index(sitemaps: &[SitemapUrl]) -> String {
    debug_assert!(
        sitemaps.len() <= SITEMAP_MAX_URLS,
        "sitemap index has {} sitemaps; split at SITEMAP_MAX_URLS",
        sitemaps.len()
    );
    sitemap_doc("sitemapindex", "sitemap", sitemaps)
}

fn sitemap_doc(root: &str, child: &str, urls: &[SitemapUrl]) -> String {
    let mut x = XmlWriter::new();
    x.open(root, &[("xmlns", NS_SITEMAP)]);
    for url in urls {
        x.open(child, &[]);
        x.text("loc", &[], trim_text(&url.loc));
        if let Some(lastmod) = url.lastmod.as_deref().and_then(w3c_datetime) {
            x.text("lastmod", &[], &lastmod);
        }
        x.close(child);
    }
    x.close(root);
    x.finish()
}

// ---------------------------------------------------------------------------
// Entry helpers

/// Trims whitespace and the characters the XML output drops anyway, so a
/// value made only of those counts as absent.
fn trim_text(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || !is_xml_char(c))
}

fn is_blank(s: &str) -> bool {
    trim_text(s).is_empty()
}

fn non_blank(s: Option<&str>) -> Option<&str> {
    s.map(trim_text).filter(|s| !s.is_empty())
}

fn insert_non_blank(map: &mut Map<String, Value>, key: &str, value: Option<&str>) {
    if let Some(value) = non_blank(value) {
        map.insert(key.into(), json_text(value));
    }
}

/// JSON can carry any character, but the JSON feed drops the same ones as the
/// XML feeds so every format shows the same text (and NUL, which some JSON
/// stores reject, never goes out).
fn json_text(s: &str) -> Value {
    Value::String(s.chars().filter(|&c| is_xml_char(c)).collect())
}

fn author(entry: &FeedEntry) -> Option<&str> {
    non_blank(entry.author_name.as_deref())
}

fn categories(entry: &FeedEntry) -> impl Iterator<Item = &str> {
    entry
        .categories
        .iter()
        .map(|c| trim_text(c))
        .filter(|c| !c.is_empty())
}

fn urn_uuid(id: &str) -> String {
    let id = trim_text(id);
    let bare = match (id.get(..9), id.get(9..)) {
        (Some(prefix), Some(rest)) if prefix.eq_ignore_ascii_case("urn:uuid:") => rest,
        _ => id,
    };
    format!("urn:uuid:{bare}")
}

/// The feed's own updated time, else the newest entry's, else `None`.
fn feed_updated(meta: &FeedMeta, entries: &[FeedEntry]) -> Option<Timestamp> {
    parse_ts(&meta.updated).or_else(|| entries.iter().filter_map(entry_updated).max())
}

fn entry_updated(entry: &FeedEntry) -> Option<Timestamp> {
    parse_ts(&entry.updated).or_else(|| parse_ts(&entry.published))
}

// ---------------------------------------------------------------------------
// Dates

/// Parses an RFC 3339 timestamp. Years before 1 are rejected because neither
/// RFC 822 nor RFC 3339 output can represent them.
fn parse_ts(s: &str) -> Option<Timestamp> {
    let ts: Timestamp = s.trim().parse().ok()?;
    (utc(ts).year() >= 1).then_some(ts)
}

fn utc(ts: Timestamp) -> DateTime {
    Offset::UTC.to_datetime(ts)
}

/// RFC 3339 in UTC, e.g. `2026-12-05T00:10:00Z`; sub-seconds kept if present.
fn rfc3339(ts: Timestamp) -> String {
    let dt = utc(ts);
    let mut out = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    );
    let nanos = dt.subsec_nanosecond();
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

/// RFC 822 (as updated by RFC 1123: 4-digit year) in UTC,
/// e.g. `Sat, 05 Dec 2026 00:10:00 +0000`.
fn rfc822(ts: Timestamp) -> String {
    let dt = utc(ts);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} +0000",
        weekday_abbr(dt.weekday()),
        dt.day(),
        month_abbr(dt.month()),
        dt.year(),
        dt.hour(),
        dt.minute(),
        dt.second()
    )
}

fn weekday_abbr(day: Weekday) -> &'static str {
    match day {
        Weekday::Monday => "Mon",
        Weekday::Tuesday => "Tue",
        Weekday::Wednesday => "Wed",
        Weekday::Thursday => "Thu",
        Weekday::Friday => "Fri",
        Weekday::Saturday => "Sat",
        Weekday::Sunday => "Sun",
    }
}

fn month_abbr(month: i8) -> &'static str {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    // jiff guarantees 1..=12; the fallback only keeps this panic-free.
    usize::try_from(month)
        .ok()
        .and_then(|m| m.checked_sub(1))
        .and_then(|i| MONTHS.get(i))
        .copied()
        .unwrap_or("Jan")
}

/// W3C Datetime for sitemaps: a full timestamp in UTC, or a bare date
/// (which the sitemap protocol also allows) passed through.
fn w3c_datetime(s: &str) -> Option<String> {
    if let Some(ts) = parse_ts(s) {
        return Some(rfc3339(ts));
    }
    let s = s.trim();
    if s.len() != 10 {
        return None;
    }
    let date: Date = s.parse().ok()?;
    (date.year() >= 1).then(|| format!("{:04}-{:02}-{:02}", date.year(), date.month(), date.day()))
}

// ---------------------------------------------------------------------------
// XML

/// Characters outside XML 1.0's `Char` production. Surrogates cannot occur
/// in a Rust `char`, so only C0 controls and U+FFFE/U+FFFF remain.
fn is_xml_char(c: char) -> bool {
    !matches!(
        c,
        '\u{0}'..='\u{8}' | '\u{B}' | '\u{C}' | '\u{E}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}'
    )
}

fn push_escaped(out: &mut String, s: &str, in_attribute: bool) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Attribute-value normalization would turn these into spaces.
            '\t' if in_attribute => out.push_str("&#9;"),
            '\n' if in_attribute => out.push_str("&#10;"),
            '\r' if in_attribute => out.push_str("&#13;"),
            c if is_xml_char(c) => out.push(c),
            _ => {}
        }
    }
}

fn push_cdata(out: &mut String, s: &str) {
    // Strip first: removing a control char could otherwise join "]]" and ">".
    let clean: String = s.chars().filter(|&c| is_xml_char(c)).collect();
    out.push_str("<![CDATA[");
    out.push_str(&clean.replace("]]>", "]]]]><![CDATA[>"));
    out.push_str("]]>");
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Minimal indenting XML writer. Element and attribute names are always
/// literals from this module; only values and text are escaped.
struct XmlWriter {
    out: String,
    depth: usize,
}

impl XmlWriter {
    fn new() -> Self {
        Self {
            out: String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"),
            depth: 0,
        }
    }

    fn start_tag(&mut self, name: &str, attrs: &[(&str, &str)]) {
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
        self.out.push('<');
        self.out.push_str(name);
        for (key, value) in attrs {
            self.out.push(' ');
            self.out.push_str(key);
            self.out.push_str("=\"");
            push_escaped(&mut self.out, value, true);
            self.out.push('"');
        }
    }

    fn open(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.start_tag(name, attrs);
        self.out.push_str(">\n");
        self.depth += 1;
    }

    fn close(&mut self, name: &str) {
        self.depth = self.depth.saturating_sub(1);
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
        self.end_tag(name);
    }

    fn end_tag(&mut self, name: &str) {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push_str(">\n");
    }

    fn empty(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.start_tag(name, attrs);
        self.out.push_str("/>\n");
    }

    fn text(&mut self, name: &str, attrs: &[(&str, &str)], text: &str) {
        self.start_tag(name, attrs);
        self.out.push('>');
        push_escaped(&mut self.out, text, false);
        self.end_tag(name);
    }

    fn cdata(&mut self, name: &str, text: &str) {
        self.start_tag(name, &[]);
        self.out.push('>');
        push_cdata(&mut self.out, text);
        self.end_tag(name);
    }

    fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> FeedMeta {
        FeedMeta {
            title: "Example & Co".into(),
            description: "News <daily>".into(),
            site_url: "https://example.com/".into(),
            feed_url: "https://example.com/feed?format=rss&v=2".into(),
            language: Some("en-us".into()),
            updated: "2026-12-05T01:10:00+01:00".into(),
        }
    }

    fn entry() -> FeedEntry {
        FeedEntry {
            id: "0f8fad5b-d9cb-469f-a165-70867728950e".into(),
            url: "https://example.com/posts/1?a=1&b=2".into(),
            title: "Tom & Jerry <\"x\"> 'y'".into(),
            summary: "A <b> summary & more".into(),
            content_html: Some("<p>Hello]]>world</p>".into()),
            author_name: Some("Ada".into()),
            published: "2026-12-04T10:00:00Z".into(),
            updated: "2026-12-05T00:10:00.250Z".into(),
            categories: vec!["rust".into(), "  ".into(), "wasm & wasi".into()],
            image: Some("https://example.com/i.png".into()),
        }
    }

    fn ts(s: &str) -> Timestamp {
        parse_ts(s).expect("test timestamp")
    }

    #[test]
    fn escapes_text_and_attributes() {
        let mut out = String::new();
        push_escaped(&mut out, "a & b < c > d \" e ' f", false);
        assert_eq!(out, "a &amp; b &lt; c &gt; d &quot; e &apos; f");

        let mut attr = String::new();
        push_escaped(&mut attr, "x\ty\nz\r", true);
        assert_eq!(attr, "x&#9;y&#10;z&#13;");

        let rss = rss(&meta(), &[entry()]);
        assert!(rss.contains("<title>Tom &amp; Jerry &lt;&quot;x&quot;&gt; &apos;y&apos;</title>"));
        assert!(rss.contains("<title>Example &amp; Co</title>"));
        assert!(rss.contains(r#"href="https://example.com/feed?format=rss&amp;v=2""#));
        assert!(rss.contains("<link>https://example.com/posts/1?a=1&amp;b=2</link>"));
        assert!(rss.contains("<category>wasm &amp; wasi</category>"));

        let atom = atom(&meta(), &[entry()]);
        assert!(atom.contains(r#"<category term="wasm &amp; wasi"/>"#));
        assert!(atom.contains(r#"<summary type="text">A &lt;b&gt; summary &amp; more</summary>"#));
        assert!(
            atom.contains(r#"<content type="html">&lt;p&gt;Hello]]&gt;world&lt;/p&gt;</content>"#)
        );
    }

    #[test]
    fn cdata_splits_terminator() {
        let mut out = String::new();
        push_cdata(&mut out, "a]]>b]]>");
        assert_eq!(out, "<![CDATA[a]]]]><![CDATA[>b]]]]><![CDATA[>]]>");

        // A stripped control char must not be able to form "]]>".
        let mut joined = String::new();
        push_cdata(&mut joined, "]]\u{1}>");
        assert_eq!(joined, "<![CDATA[]]]]><![CDATA[>]]>");

        let rss = rss(&meta(), &[entry()]);
        assert!(rss.contains(
            "<content:encoded><![CDATA[<p>Hello]]]]><![CDATA[>world</p>]]></content:encoded>"
        ));
        // Plain-text summary is HTML-escaped for the HTML-typed description.
        assert!(
            rss.contains("<description><![CDATA[A &lt;b&gt; summary &amp; more]]></description>")
        );
    }

    #[test]
    fn rfc822_dates() {
        assert_eq!(
            rfc822(ts("2026-12-05T01:10:00+01:00")),
            "Sat, 05 Dec 2026 00:10:00 +0000"
        );
        assert_eq!(
            rfc822(ts("2024-02-29T23:59:59-05:00")),
            "Fri, 01 Mar 2024 04:59:59 +0000"
        );
        assert_eq!(
            rfc822(ts("0099-01-01T00:00:00Z")),
            "Thu, 01 Jan 0099 00:00:00 +0000"
        );
        let rss = rss(&meta(), &[entry()]);
        assert!(rss.contains("<lastBuildDate>Sat, 05 Dec 2026 00:10:00 +0000</lastBuildDate>"));
        assert!(rss.contains("<pubDate>Fri, 04 Dec 2026 10:00:00 +0000</pubDate>"));
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(
            rfc3339(ts("2026-12-05T01:10:00+01:00")),
            "2026-12-05T00:10:00Z"
        );
        assert_eq!(
            rfc3339(ts("2026-12-05T00:10:00.250Z")),
            "2026-12-05T00:10:00.25Z"
        );
    }

    #[test]
    fn invalid_dates_fall_back_or_skip() {
        for bad in [
            "",
            "yesterday",
            "2026-13-01T00:00:00Z",
            "2026-12-05T00:10:00",
            "-0001-01-01T00:00:00Z",
        ] {
            assert_eq!(parse_ts(bad), None, "{bad:?}");
        }
        let mut m = meta();
        m.updated = "not a date".into();
        let mut e = entry();
        e.published = "garbage".into();
        e.updated = "also garbage".into();

        let rss = rss(&m, &[e]);
        assert!(!rss.contains("<pubDate>"));
        assert!(!rss.contains("<lastBuildDate>"));

        let mut e = entry();
        e.published = "garbage".into();
        e.updated = "also garbage".into();
        let atom = atom(&m, &[e]);
        assert!(atom.contains("<updated>1970-01-01T00:00:00Z</updated>"));
        assert!(!atom.contains("<published>"));

        let mut e = entry();
        e.published = "garbage".into();
        e.updated = "also garbage".into();
        let json: Value = serde_json::from_str(&json_feed(&m, &[e])).expect("json");
        assert!(json["items"][0].get("date_published").is_none());
        assert!(json["items"][0].get("date_modified").is_none());
    }

    #[test]
    fn feed_updated_falls_back_to_newest_entry() {
        let mut m = meta();
        m.updated = String::new();
        let mut older = entry();
        older.updated = "2020-01-01T00:00:00Z".into();
        let atom = atom(&m, &[older, entry()]);
        assert!(atom.contains("<updated>2026-12-05T00:10:00.25Z</updated>\n  <link"));
    }

    #[test]
    fn strips_xml_invalid_chars() {
        let mut out = String::new();
        push_escaped(
            &mut out,
            "a\u{0}b\u{1}c\u{B}d\u{C}e\u{1F}f\u{FFFE}g\u{FFFF}h\t\n\ri\u{7F}",
            false,
        );
        assert_eq!(out, "abcdefgh\t\n\ri\u{7F}");

        let mut e = entry();
        e.title = "Bad\u{1} title".into();
        e.content_html = Some("<p>x\u{8}y</p>".into());
        e.categories = vec!["c\u{2}at".into(), "\u{1}\u{2}".into()];
        e.author_name = Some(" \u{0} ".into());
        let rss = rss(&meta(), &[e]);
        assert!(rss.contains("<title>Bad title</title>"));
        assert!(rss.contains("<![CDATA[<p>xy</p>]]>"));
        assert!(rss.contains("<category>cat</category>"));
        assert_eq!(rss.matches("<category>").count(), 1);
        assert!(!rss.contains("<dc:creator>"));
        assert!(!rss.chars().any(|c| !is_xml_char(c)));
    }

    #[test]
    fn ids_are_urn_uuids() {
        assert_eq!(urn_uuid("abc"), "urn:uuid:abc");
        assert_eq!(urn_uuid(" URN:UUID:abc "), "urn:uuid:abc");
        assert_eq!(urn_uuid("é"), "urn:uuid:é");
        let rss = rss(&meta(), &[entry()]);
        assert!(rss.contains(
            r#"<guid isPermaLink="false">urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950e</guid>"#
        ));
        let atom = atom(&meta(), &[entry()]);
        assert!(atom.contains("<id>urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950e</id>"));
    }

    #[test]
    fn atom_feed_author_only_when_needed() {
        let feed_author = "<author>\n    <name>Example &amp; Co</name>";
        assert!(!atom(&meta(), &[entry()]).contains(feed_author));
        let mut anonymous = entry();
        anonymous.author_name = Some("  ".into());
        let doc = atom(&meta(), &[entry(), anonymous]);
        assert!(doc.contains(feed_author));
        assert_eq!(doc.matches("<name>Ada</name>").count(), 1);
        assert!(atom(&meta(), &[]).contains(feed_author));
    }

    #[test]
    fn json_feed_shape() {
        let mut plain = entry();
        plain.content_html = None;
        plain.author_name = None;
        plain.categories.clear();
        plain.image = None;
        let mut m = meta();
        m.language = None;
        let out = json_feed(&m, &[entry(), plain]);
        let v: Value = serde_json::from_str(&out).expect("valid JSON");

        assert_eq!(v["version"], "https://jsonfeed.org/version/1.1");
        assert_eq!(v["title"], "Example & Co");
        assert_eq!(v["home_page_url"], "https://example.com/");
        assert_eq!(v["feed_url"], "https://example.com/feed?format=rss&v=2");
        assert_eq!(v["description"], "News <daily>");
        assert!(v.get("language").is_none());

        let items = v["items"].as_array().expect("items");
        assert_eq!(items.len(), 2);
        let full = &items[0];
        assert_eq!(full["id"], "urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950e");
        assert_eq!(full["url"], "https://example.com/posts/1?a=1&b=2");
        assert_eq!(full["title"], "Tom & Jerry <\"x\"> 'y'");
        assert_eq!(full["summary"], "A <b> summary & more");
        assert_eq!(full["content_html"], "<p>Hello]]>world</p>");
        assert!(full.get("content_text").is_none());
        assert_eq!(full["date_published"], "2026-12-04T10:00:00Z");
        assert_eq!(full["date_modified"], "2026-12-05T00:10:00.25Z");
        assert_eq!(full["authors"], json!([{ "name": "Ada" }]));
        assert_eq!(full["tags"], json!(["rust", "wasm & wasi"]));
        assert_eq!(full["image"], "https://example.com/i.png");

        let mut dirty = entry();
        dirty.title = "a\u{0}b\u{FFFF}".into();
        dirty.author_name = Some("A\u{1}da".into());
        let cleaned: Value = serde_json::from_str(&json_feed(&m, &[dirty])).expect("valid JSON");
        assert_eq!(cleaned["items"][0]["title"], "ab");
        assert_eq!(cleaned["items"][0]["authors"][0]["name"], "Ada");

        let plain = &items[1];
        assert_eq!(plain["content_text"], "A <b> summary & more");
        assert!(plain.get("content_html").is_none());
        for key in ["authors", "tags", "image"] {
            assert!(plain.get(key).is_none(), "{key}");
        }
    }

    #[test]
    fn sitemap_escapes_and_normalizes() {
        let urls = [
            SitemapUrl {
                loc: "https://example.com/a?x=1&y='2'".into(),
                lastmod: Some("2026-12-05T01:10:00+01:00".into()),
            },
            SitemapUrl {
                loc: "https://example.com/b".into(),
                lastmod: Some("bogus".into()),
            },
            SitemapUrl {
                loc: "https://example.com/c".into(),
                lastmod: Some("2026-12-05".into()),
            },
            SitemapUrl {
                loc: "https://example.com/d".into(),
                lastmod: None,
            },
        ];
        let out = sitemap(&urls);
        assert!(out.starts_with(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n"
        ));
        assert!(out.contains("<loc>https://example.com/a?x=1&amp;y=&apos;2&apos;</loc>"));
        assert!(out.contains("<lastmod>2026-12-05T00:10:00Z</lastmod>"));
        assert!(out.contains("<lastmod>2026-12-05</lastmod>"));
        assert_eq!(out.matches("<lastmod>").count(), 2);
        assert_eq!(out.matches("<url>").count(), 4);
        assert!(out.ends_with("</urlset>\n"));

        let index = sitemap_index(&urls[..1]);
        assert!(index.contains(
            "<sitemapindex xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n  <sitemap>\n    <loc>https://example.com/a?x=1&amp;y=&apos;2&apos;</loc>"
        ));
        assert!(index.ends_with("</sitemapindex>\n"));
    }

    #[test]
    #[should_panic(expected = "split at SITEMAP_MAX_URLS")]
    #[cfg(debug_assertions)]
    fn sitemap_limit_is_debug_asserted() {
        let urls: Vec<SitemapUrl> = (0..=SITEMAP_MAX_URLS)
            .map(|i| SitemapUrl {
                loc: format!("https://example.com/{i}"),
                lastmod: None,
            })
            .collect();
        let _ = sitemap(&urls);
    }
}
