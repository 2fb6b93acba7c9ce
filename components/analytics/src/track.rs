//! What a tracked event is once checked: the pure half of ingestion.
//! A batch is taken whole or refused whole (a 422 naming the field), so a
//! bad event never leaves half a batch counted. A malformed UTM value is
//! the one thing dropped quietly (and counted), since it comes from links
//! other people wrote.

use folio_guest::http::Problem;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

pub const MAX_BATCH: usize = 100;
const MAX_PROPS: usize = 20;
const MAX_PROPS_BYTES: usize = 2048;
const MAX_URL: usize = 2048;
const MAX_PATH: usize = 512;
const MAX_UTM: usize = 100;
const MAX_FUTURE_MS: i64 = 5 * 60_000;
const MAX_AGE_MS: i64 = 48 * 3_600_000;

/// One event as the aggregation worker and the warehouse see it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Tracked {
    /// Unix milliseconds.
    pub at: i64,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The referring site's domain, `None` for direct traffic and links
    /// within the site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utm_source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utm_medium: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utm_campaign: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visitor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Who an experiment counts: the site's own id for the reader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub props: Option<Map<String, Json>>,
}

/// What the request tells about every event in it.
pub struct Context<'a> {
    pub now_ms: i64,
    pub device: &'static str,
    pub user_id: Option<String>,
    /// The visitor id for a page host (the salted hash).
    pub visitor: &'a dyn Fn(&str) -> String,
}

pub struct Batch {
    pub events: Vec<Tracked>,
    pub discarded_utm: u64,
}

pub fn parse_batch(body: &[u8], context: &Context) -> Result<Batch, Problem> {
    let document: Json = serde_json::from_slice(body)
        .map_err(|e| Problem::bad_request(format!("the body is not valid JSON: {e}")))?;
    let Json::Object(document) = document else {
        return Err(Problem::bad_request("the body must be a JSON object"));
    };
    if let Some(unknown) = document.keys().find(|k| *k != "events") {
        return Err(Problem::invalid_field(unknown, "is not a known field"));
    }
    let Some(Json::Array(items)) = document.get("events") else {
        return Err(Problem::invalid_field(
            "events",
            "is required: a list of events",
        ));
    };
    if items.is_empty() || items.len() > MAX_BATCH {
        return Err(Problem::invalid_field(
            "events",
            format!("must hold 1 to {MAX_BATCH} events, not {}", items.len()),
        ));
    }
    let mut batch = Batch {
        events: Vec::with_capacity(items.len()),
        discarded_utm: 0,
    };
    for (i, item) in items.iter().enumerate() {
        let field = |name: &str| format!("events[{i}].{name}");
        let Json::Object(item) = item else {
            return Err(Problem::invalid_field(
                &format!("events[{i}]"),
                "must be an object",
            ));
        };
        let (event, discarded) = parse_event(item, context, &field)?;
        batch.discarded_utm += discarded;
        batch.events.push(event);
    }
    Ok(batch)
}

fn parse_event(
    item: &Map<String, Json>,
    context: &Context,
    field: &dyn Fn(&str) -> String,
) -> Result<(Tracked, u64), Problem> {
    const KNOWN: [&str; 7] = [
        "name",
        "url",
        "referrer",
        "contentId",
        "props",
        "subject",
        "timestamp",
    ];
    if let Some(unknown) = item.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(Problem::invalid_field(
            &field(unknown),
            "is not a known field",
        ));
    }
    let text = |name: &str| -> Result<Option<&str>, Problem> {
        match item.get(name) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(Problem::invalid_field(&field(name), "must be a string")),
        }
    };
    let name =
        text("name")?.ok_or_else(|| Problem::invalid_field(&field("name"), "is required"))?;
    if !valid_name(name) {
        return Err(Problem::invalid_field(
            &field("name"),
            "must be 1 to 64 letters, digits, '_', '-', '.' or ':', starting with a letter",
        ));
    }
    let url = text("url")?.ok_or_else(|| Problem::invalid_field(&field("url"), "is required"))?;
    let page = parse_http_url(url).ok_or_else(|| {
        Problem::invalid_field(
            &field("url"),
            "must be an absolute http(s) URL of at most 2048 characters",
        )
    })?;
    let host = page.host_str().unwrap_or_default().to_ascii_lowercase();
    let mut path: String = page.path().chars().take(MAX_PATH).collect();
    if path.is_empty() {
        path.push('/');
    }
    let mut event = Tracked {
        at: context.now_ms,
        name: name.to_string(),
        host: Some(host.clone()),
        path: Some(path),
        device: Some(context.device.to_string()),
        user_id: context.user_id.clone(),
        visitor: Some((context.visitor)(&host)),
        ..Tracked::default()
    };
    let mut discarded = 0;
    for (key, value) in page.query_pairs() {
        let slot = match key.as_ref() {
            "utm_source" => &mut event.utm_source,
            "utm_medium" => &mut event.utm_medium,
            "utm_campaign" => &mut event.utm_campaign,
            _ => continue,
        };
        match clean_utm(&value) {
            Some(v) => *slot = Some(v),
            None => discarded += 1,
        }
    }
    if let Some(referrer) = text("referrer")?.filter(|r| !r.is_empty()) {
        let parsed = parse_http_url(referrer).ok_or_else(|| {
            Problem::invalid_field(
                &field("referrer"),
                "must be an absolute http(s) URL of at most 2048 characters",
            )
        })?;
        let domain = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
        let domain = domain.strip_prefix("www.").unwrap_or(&domain).to_string();
        let own = host.strip_prefix("www.").unwrap_or(&host);
        if !domain.is_empty() && domain != own {
            event.referrer = Some(domain);
        }
    }
    if let Some(id) = text("contentId")? {
        if !folio_guest::util::is_uuid(id) {
            return Err(Problem::invalid_field(
                &field("contentId"),
                "must be a content id (a UUID)",
            ));
        }
        event.content_id = Some(id.to_ascii_lowercase());
    }
    if let Some(subject) = text("subject")? {
        if subject.is_empty() || subject.len() > 128 || subject.chars().any(char::is_control) {
            return Err(Problem::invalid_field(
                &field("subject"),
                "must be 1 to 128 printable characters",
            ));
        }
        event.subject = Some(subject.to_string());
    }
    if let Some(timestamp) = text("timestamp")? {
        let at = folio_guest::util::parse_rfc3339_ms(timestamp)
            .filter(|_| timestamp.ends_with('Z'))
            .ok_or_else(|| {
                Problem::invalid_field(
                    &field("timestamp"),
                    "must be UTC RFC 3339, e.g. 2026-12-05T09:15:00Z",
                )
            })?;
        if at > context.now_ms + MAX_FUTURE_MS {
            return Err(Problem::invalid_field(
                &field("timestamp"),
                "is in the future",
            ));
        }
        if at < context.now_ms - MAX_AGE_MS {
            return Err(Problem::invalid_field(
                &field("timestamp"),
                "is more than 48 hours old",
            ));
        }
        event.at = at;
    }
    match item.get("props") {
        None | Some(Json::Null) => {}
        Some(Json::Object(props)) => {
            check_props(props).map_err(|m| Problem::invalid_field(&field("props"), m))?;
            if !props.is_empty() {
                event.props = Some(props.clone());
            }
        }
        Some(_) => return Err(Problem::invalid_field(&field("props"), "must be an object")),
    }
    if name == "read" {
        if event.content_id.is_none() {
            return Err(Problem::invalid_field(
                &field("contentId"),
                "is required for a read",
            ));
        }
        let props = event.props.clone().unwrap_or_default();
        let number = |key: &str, max: i64| -> Result<i64, Problem> {
            props
                .get(key)
                .and_then(Json::as_f64)
                .filter(|n| n.is_finite() && *n >= 0.0 && *n <= max as f64)
                .map(|n| n.round() as i64)
                .ok_or_else(|| {
                    Problem::invalid_field(
                        &field(&format!("props.{key}")),
                        format!("is required for a read: a number from 0 to {max}"),
                    )
                })
        };
        event.seconds = Some(number("seconds", 86_400)?);
        event.depth = Some(number("depth", 100)?);
    }
    Ok((event, discarded))
}

fn parse_http_url(text: &str) -> Option<url::Url> {
    if text.len() > MAX_URL {
        return None;
    }
    let url = url::Url::parse(text).ok()?;
    (matches!(url.scheme(), "http" | "https") && url.host_str().is_some()).then_some(url)
}

pub fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    name.len() <= 64
        && bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b"_-.:".contains(&b))
}

/// A UTM value as given, trimmed, when it is one short line of printable text.
fn clean_utm(value: &str) -> Option<String> {
    let value = value.trim();
    let ok = !value.is_empty()
        && value.chars().count() <= MAX_UTM
        && !value.chars().any(|c| c.is_control() || c == '\u{fffd}');
    ok.then(|| value.to_string())
}

fn check_props(props: &Map<String, Json>) -> Result<(), String> {
    if props.len() > MAX_PROPS {
        return Err(format!("may hold at most {MAX_PROPS} properties"));
    }
    for (key, value) in props {
        if key.is_empty() || key.len() > 64 {
            return Err("names must be 1 to 64 characters".into());
        }
        match value {
            Json::String(s) if s.len() <= 256 => {}
            Json::Number(_) | Json::Bool(_) => {}
            Json::String(_) => return Err(format!("`{key}` is over 256 characters")),
            _ => return Err(format!("`{key}` must be a string, number or boolean")),
        }
    }
    let bytes = serde_json::to_string(props)
        .map(|s| s.len())
        .unwrap_or(usize::MAX);
    if bytes > MAX_PROPS_BYTES {
        return Err(format!("must be at most {MAX_PROPS_BYTES} bytes as JSON"));
    }
    Ok(())
}

/// Crawlers, monitors, scripts and headless browsers: not readers.
pub fn is_bot(user_agent: &str) -> bool {
    const MARKS: [&str; 24] = [
        "bot",
        "crawl",
        "spider",
        "slurp",
        "curl/",
        "wget",
        "python",
        "httpclient",
        "http-client",
        "go-http",
        "java/",
        "okhttp",
        "axios",
        "node-fetch",
        "headless",
        "lighthouse",
        "pingdom",
        "uptime",
        "monitor",
        "preview",
        "facebookexternalhit",
        "phantomjs",
        "scrapy",
        "libwww",
    ];
    let ua = user_agent.trim().to_ascii_lowercase();
    ua.len() < 8 || MARKS.iter().any(|m| ua.contains(m))
}

pub fn device_class(user_agent: &str) -> &'static str {
    let ua = user_agent.to_ascii_lowercase();
    if ua.contains("ipad")
        || ua.contains("tablet")
        || (ua.contains("android") && !ua.contains("mobile"))
    {
        "tablet"
    } else if ua.contains("mobi") || ua.contains("iphone") || ua.contains("android") {
        "mobile"
    } else {
        "desktop"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(body: Json) -> Result<Batch, Problem> {
        let visitor = |host: &str| format!("v-{host}");
        let context = Context {
            now_ms: 1_800_000_000_000,
            device: "desktop",
            user_id: None,
            visitor: &visitor,
        };
        parse_batch(body.to_string().as_bytes(), &context)
    }

    #[test]
    fn a_pageview_takes_its_sources_from_the_urls() {
        let batch = parse(json!({"events": [{
            "name": "pageview",
            "url": "https://www.example.com/posts/1?utm_source=news&utm_medium=email&utm_campaign=%01bad",
            "referrer": "https://www.google.com/search?q=x",
        }]}))
        .unwrap();
        let e = &batch.events[0];
        assert_eq!(e.path.as_deref(), Some("/posts/1"));
        assert_eq!(e.referrer.as_deref(), Some("google.com"));
        assert_eq!(e.utm_source.as_deref(), Some("news"));
        assert_eq!(e.utm_medium.as_deref(), Some("email"));
        assert_eq!(e.utm_campaign, None);
        assert_eq!(batch.discarded_utm, 1);
        assert_eq!(e.visitor.as_deref(), Some("v-www.example.com"));
    }

    #[test]
    fn links_within_the_site_are_not_referrers() {
        let batch = parse(json!({"events": [{"name": "pageview", "url": "https://example.com/a", "referrer": "https://www.example.com/b"}]})).unwrap();
        assert_eq!(batch.events[0].referrer, None);
    }

    #[test]
    fn bad_batches_are_refused_whole() {
        let too_many: Vec<Json> = (0..101)
            .map(|_| json!({"name": "pageview", "url": "https://a.example/"}))
            .collect();
        assert!(parse(json!({"events": too_many})).is_err());
        assert!(parse(json!({"events": []})).is_err());
        assert!(parse(json!({"events": [{"name": "pageview", "url": "https://a.example/"}, {"name": "", "url": "https://a.example/"}]})).is_err());
        assert!(parse(json!({"events": [{"name": "read", "url": "https://a.example/", "contentId": "0192f0c4-0000-7000-8000-000000000001"}]})).is_err());
        assert!(parse(json!({"events": [{"name": "x", "url": "https://a.example/", "timestamp": "2030-01-01T00:00:00Z"}]})).is_err());
        assert!(parse(json!({"events": [{"name": "x", "url": "javascript:alert(1)"}]})).is_err());
        let huge: Map<String, Json> = (0..21).map(|i| (format!("k{i}"), json!(i))).collect();
        assert!(
            parse(
                json!({"events": [{"name": "custom", "url": "https://a.example/", "props": huge}]})
            )
            .is_err()
        );
        assert!(parse(json!({"events": 3})).is_err());
    }

    #[test]
    fn user_agents_are_classified() {
        assert!(is_bot(
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
        ));
        assert!(is_bot("curl/8.5.0"));
        assert!(is_bot(""));
        assert!(!is_bot(
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
        ));
        assert_eq!(
            device_class("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148"),
            "mobile"
        );
        assert_eq!(
            device_class("Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X)"),
            "tablet"
        );
        assert_eq!(
            device_class("Mozilla/5.0 (Windows NT 10.0; Win64; x64)"),
            "desktop"
        );
    }
}
