//! The component's variables, each read where it is needed.

use folio_guest::http::Problem;
use folio_guest::util::b64url_decode;
use spin_sdk::variables;

use folio_auth::webpush::VapidKey;

fn var(name: &str) -> Option<String> {
    variables::get(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

pub fn platform_name() -> String {
    var("platform_name").unwrap_or_else(|| "Folio".into())
}

/// `public_url` + `path`: where links in messages point.
pub fn link(path: &str) -> String {
    let base = var("public_url").unwrap_or_else(|| "http://127.0.0.1:3000".into());
    format!("{}{path}", base.trim_end_matches('/'))
}

fn key32(name: &str) -> Result<[u8; 32], Problem> {
    let text = var(name).ok_or_else(|| {
        Problem::unavailable(format!(
            "the notification service is not configured: {name} is unset"
        ))
    })?;
    b64url_decode(text.trim_end_matches('='))
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or_else(|| {
            Problem::unavailable(format!(
                "the notification service is not configured: {name} must be 32 bytes in base64url"
            ))
        })
}

/// The X25519 secret that opens reset tokens sealed by the users service.
pub fn reset_delivery_private_key() -> Result<[u8; 32], Problem> {
    key32("reset_delivery_private_key")
}

/// Signs one-click unsubscribe links.
pub fn link_secret() -> Result<[u8; 32], Problem> {
    key32("notification_link_secret")
}

pub fn vapid_key() -> Result<VapidKey, Problem> {
    let d = key32("vapid_private_key")?;
    VapidKey::from_private(&d).map_err(|e| Problem::unavailable(format!("vapid_private_key: {e}")))
}

/// Who push services contact about this sender (`mailto:` or `https:`).
pub fn vapid_subject() -> String {
    var("vapid_subject").unwrap_or_else(|| "mailto:admin@localhost".into())
}

/// Origins a push subscription's endpoint may have: the browsers' push
/// services (`https://*.push.services.mozilla.com` matches any subdomain).
/// The same hosts are the component's `allowed_outbound_hosts`.
pub fn push_services() -> Vec<String> {
    var("push_services")
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Locales templates may be written in.
pub fn locales() -> Vec<String> {
    var("notification_locales")
        .unwrap_or_else(|| "en".into())
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// How long one live stream stays open before the client reconnects (it
/// holds an instance all that time, so it stays under the request timeout).
pub fn stream_seconds() -> u64 {
    var("stream_seconds")
        .and_then(|s| s.parse().ok())
        .unwrap_or(25)
        .clamp(1, 300)
}

/// Users told per fan-out step (one transaction each).
pub fn fanout_page_size() -> usize {
    var("fanout_page_size")
        .and_then(|s| s.parse().ok())
        .unwrap_or(250)
        .clamp(10, 1000)
}
