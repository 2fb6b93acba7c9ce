//! What a CDN in front of the services needs to cache their public answers
//! and to forget them on purpose: surrogate keys, written in both forms CDNs
//! read (`Surrogate-Key: a b c` for Fastly, `Cache-Tag: a,b,c` for
//! Cloudflare), and a `Cache-Control` that lets it serve stale while it
//! revalidates, or while the origin is down.
//!
//! Only answers that are the same for every caller and may sit in a shared
//! cache get either: anything that depends on who asks stays `private` or
//! `no-store` and carries no keys. The publishing side purges by the same
//! names, which [`content_keys`], [`content_list_keys`], [`category_keys`]
//! and [`media_keys`] spell.

use spin_sdk::http::Response;

/// Fastly's header: keys separated by spaces.
pub const SURROGATE_KEY: &str = "surrogate-key";
/// Cloudflare's header: keys separated by commas.
pub const CACHE_TAG: &str = "cache-tag";
/// How long a cache may answer with a stale copy while it fetches a fresh one.
pub const STALE_WHILE_REVALIDATE: u32 = 300;
/// How long a cache may answer with a stale copy while the origin fails.
pub const STALE_IF_ERROR: u32 = 86_400;

/// Every content item and content list.
pub const CONTENT: &str = "content";
/// Every content list (`GET /content`, filtered or not, and `GET /tags`).
pub const CONTENT_LIST: &str = "content-list";
/// Every category answer.
pub const CATEGORIES: &str = "categories";
/// Every media answer.
pub const MEDIA: &str = "media";

/// `content:<id>`, `content-type:<type>`, `content`: one content item.
pub fn content_keys(id: &str, kind: &str) -> Vec<String> {
    vec![
        format!("content:{id}"),
        format!("content-type:{kind}"),
        CONTENT.into(),
    ]
}

/// `content-list`, `content`, and `content-type:<type>` for a list
/// filtered by one type.
pub fn content_list_keys(kind: Option<&str>) -> Vec<String> {
    let mut keys = vec![CONTENT_LIST.to_string(), CONTENT.into()];
    if let Some(kind) = kind {
        keys.push(format!("content-type:{kind}"));
    }
    keys
}

/// `categories`, and `category:<id>` for one category.
pub fn category_keys(id: Option<&str>) -> Vec<String> {
    let mut keys = vec![CATEGORIES.to_string()];
    if let Some(id) = id {
        keys.push(format!("category:{id}"));
    }
    keys
}

/// `media:<id>`, `media`: one media item, its file, renditions and transforms.
pub fn media_keys(id: &str) -> Vec<String> {
    vec![format!("media:{id}"), MEDIA.into()]
}

/// A key as both headers can carry it: visible ASCII without `,` or `"`
/// (anything else becomes `_`), at most 256 bytes.
pub fn clean_key(key: &str) -> String {
    key.chars()
        .take(256)
        .map(|c| {
            if c.is_ascii_graphic() && c != ',' && c != '"' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `public, max-age=<max_age>, stale-while-revalidate=300, stale-if-error=86400`.
pub fn public_cache_control(max_age: u32) -> String {
    format!(
        "public, max-age={max_age}, stale-while-revalidate={STALE_WHILE_REVALIDATE}, \
         stale-if-error={STALE_IF_ERROR}"
    )
}

/// The `Surrogate-Key` and `Cache-Tag` headers for `keys`, cleaned, empty
/// ones and repeats dropped; nothing when no key is left.
pub fn key_headers(keys: &[String]) -> Vec<(String, String)> {
    let mut clean: Vec<String> = Vec::with_capacity(keys.len());
    for key in keys.iter().map(|k| clean_key(k)) {
        if !key.is_empty() && !clean.contains(&key) {
            clean.push(key);
        }
    }
    if clean.is_empty() {
        return Vec::new();
    }
    vec![
        (SURROGATE_KEY.into(), clean.join(" ")),
        (CACHE_TAG.into(), clean.join(",")),
    ]
}

/// The headers of an answer a shared cache may keep: [`public_cache_control`]
/// and [`key_headers`].
pub fn shared_headers(max_age: u32, keys: &[String]) -> Vec<(String, String)> {
    let mut headers = vec![("cache-control".to_string(), public_cache_control(max_age))];
    headers.extend(key_headers(keys));
    headers
}

/// Marks `response` (a 200 or a 304 alike) as one a shared cache may keep
/// `max_age` seconds and serve stale, under `keys`; replaces any
/// `Cache-Control` it had.
pub fn shared(response: &mut Response, max_age: u32, keys: &[String]) {
    for (name, value) in shared_headers(max_age, keys) {
        response.set_header(name, value);
    }
}
