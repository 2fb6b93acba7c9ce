//! The service's variables, each read when needed (a fresh instance per
//! request reads each at most a few times).

use folio_guest::http::Problem;
use serde_json::{Map, Value as Json};

fn var(name: &str) -> Option<String> {
    spin_sdk::variables::get(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Where the site lives: item links and feed links start here.
pub fn public_url() -> String {
    var("public_url")
        .unwrap_or_else(|| "http://127.0.0.1:3000".into())
        .trim_end_matches('/')
        .to_string()
}

pub fn platform_name() -> String {
    var("platform_name").unwrap_or_else(|| "Folio".into())
}

/// An item's canonical link; `{id}` and `{type}` are replaced.
pub fn item_url(id: &str, kind: &str) -> String {
    let template = var("item_url_template").unwrap_or_else(|| "{public_url}/content/{id}".into());
    template
        .replace("{public_url}", &public_url())
        .replace("{id}", id)
        .replace("{type}", kind)
}

/// Plain `http://` endpoints (development and tests only).
pub fn allow_insecure_endpoints() -> bool {
    var("allow_insecure_endpoints").is_some_and(|v| v == "true")
}

/// How long after each failed attempt the next one goes (Standard Webhooks'
/// schedule, stretched past three days); one entry per retry.
pub fn retry_schedule() -> Vec<i64> {
    let text = var("retry_schedule").unwrap_or_else(|| "5s,5m,30m,2h,5h,10h,10h,24h,24h".into());
    let parsed: Option<Vec<i64>> = text.split(',').map(|d| duration_ms(d.trim())).collect();
    parsed
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| vec![5_000, 300_000, 1_800_000, 7_200_000])
}

/// A channel failing without a success for this long is disabled.
pub fn disable_after_ms() -> i64 {
    var("disable_after")
        .and_then(|d| duration_ms(&d))
        .unwrap_or(5 * 86_400_000)
}

/// How long a claimed delivery may run before another worker may take it.
pub fn lease_ms() -> i64 {
    var("delivery_lease")
        .and_then(|d| duration_ms(&d))
        .unwrap_or(60_000)
}

pub fn sitemap_page_size() -> usize {
    var("sitemap_page_size")
        .and_then(|v| v.parse().ok())
        .filter(|n| (1..=crate::feeds::SITEMAP_MAX_URLS).contains(n))
        .unwrap_or(crate::feeds::SITEMAP_MAX_URLS)
}

/// `30s`, `5m`, `2h`, `3d`, or plain milliseconds.
pub fn duration_ms(text: &str) -> Option<i64> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: i64 = number.parse().ok()?;
    let factor = match unit {
        "" | "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    n.checked_mul(factor)
}

/// Named secrets for `http` and `cdn` channels (`outbound_secrets`, a JSON
/// object): templates say `{{ secrets.NAME }}`, so no secret is stored in a
/// channel or shown by the API.
pub fn outbound_secrets() -> Result<Map<String, Json>, Problem> {
    match var("outbound_secrets") {
        None => Ok(Map::new()),
        Some(text) => serde_json::from_str(&text)
            .map_err(|_| Problem::unavailable("outbound_secrets is not a JSON object of strings")),
    }
}

/// The content service's component name, for its index feed.
pub fn content_service() -> String {
    service("content_service", "content")
}

pub fn users_service() -> String {
    service("users_service", "users")
}

fn service(variable: &str, default: &str) -> String {
    var(variable)
        .filter(|name| {
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        .unwrap_or_else(|| default.to_string())
}

#[cfg(test)]
mod tests {
    use super::duration_ms;

    #[test]
    fn durations() {
        assert_eq!(duration_ms("5s"), Some(5000));
        assert_eq!(duration_ms("2h"), Some(7_200_000));
        assert_eq!(duration_ms("250"), Some(250));
        assert_eq!(duration_ms("3w"), None);
        assert_eq!(duration_ms("s"), None);
    }
}
