//! Browsers' push subscriptions, and sending one push message: the payload
//! encrypted for the subscription (RFC 8291), the sender identified with
//! VAPID (RFC 8292), POSTed to the push service (RFC 8030).

use folio_guest::columns::text;
use folio_guest::http::Problem;
use folio_guest::util::{now_unix, random};
use folio_guest::{Connection, Value};
use spin_sdk::http::{Method, Request, Response};

use crate::config;
use crate::store::db_error;
use folio_auth::webpush::{self, SubscriptionKeys};

#[derive(Debug, Clone)]
pub struct Subscription {
    pub id: String,
    pub user_id: String,
    pub endpoint: String,
    pub p256dh: String,
    pub auth: String,
}

const COLUMNS: &str = "id, user_id, endpoint, p256dh, auth";

fn from_row(r: &[Value]) -> Subscription {
    Subscription {
        id: text(&r[0]),
        user_id: text(&r[1]),
        endpoint: text(&r[2]),
        p256dh: text(&r[3]),
        auth: text(&r[4]),
    }
}

pub const MAX_PER_USER: usize = 20;

pub fn of_users(db: &Connection, user_ids: &[String]) -> Result<Vec<Subscription>, Problem> {
    if user_ids.is_empty() {
        return Ok(Vec::new());
    }
    let (placeholders, params) = folio_guest::columns::text_in_list(user_ids);
    let rows = db
        .query(
            &format!(
                "SELECT {COLUMNS} FROM push_subscriptions WHERE user_id IN ({}) ORDER BY created_at",
                placeholders
            ),
            &params,
        )
        .map_err(db_error)?;
    Ok(rows.rows.iter().map(|r| from_row(r)).collect())
}

pub fn get(db: &Connection, id: &str) -> Result<Option<Subscription>, Problem> {
    let rows = db
        .query(
            &format!("SELECT {COLUMNS} FROM push_subscriptions WHERE id = $1"),
            &[Value::Text(id.into())],
        )
        .map_err(db_error)?;
    Ok(rows.rows.first().map(|r| from_row(r)))
}

pub fn remove(db: &Connection, id: &str) -> Result<(), Problem> {
    db.execute(
        "DELETE FROM push_subscriptions WHERE id = $1",
        &[Value::Text(id.into())],
    )
    .map_err(db_error)?;
    Ok(())
}

/// 422 unless `endpoint` is an https URL of a configured push service, so
/// a subscription cannot make the service POST to any address it names.
pub fn check_endpoint(endpoint: &str) -> Result<(), Problem> {
    let bad = |m: &str| Problem::invalid_field("endpoint", m.to_string());
    if endpoint.len() > 2048 {
        return Err(bad("is longer than 2048 characters"));
    }
    let origin = webpush::origin(endpoint).map_err(|e| bad(&e))?;
    let services = config::push_services();
    if services
        .iter()
        .any(|allowed| origin_matches(allowed, &origin))
    {
        Ok(())
    } else {
        Err(bad("is not the URL of a known push service"))
    }
}

/// `https://*.example.com` matches any subdomain of example.com; anything
/// else must equal the origin.
fn origin_matches(allowed: &str, origin: &str) -> bool {
    match allowed.split_once("://*.") {
        Some((scheme, domain)) => origin
            .strip_prefix(scheme)
            .and_then(|rest| rest.strip_prefix("://"))
            .is_some_and(|host| host.ends_with(&format!(".{domain}"))),
        None => allowed == origin,
    }
}

pub enum PushOutcome {
    Delivered(String),
    /// 404/410: the subscription is gone for good.
    Gone(String),
    /// The push service refused the message (4xx): retrying will not help.
    Refused(String),
    /// 429, 5xx or unreachable: a later try may pass.
    Retry(String),
}

/// Encrypts `payload` for `subscription` and POSTs it to its push service.
pub fn send(
    subscription: &Subscription,
    payload: &[u8],
    ttl_seconds: u32,
    urgent: bool,
) -> Result<PushOutcome, Problem> {
    let keys = SubscriptionKeys::parse(&subscription.p256dh, &subscription.auth)
        .map_err(|e| Problem::unavailable(format!("stored subscription keys: {e}")))?;
    let body = webpush::encrypt(payload, &keys, random(), random())
        .map_err(|e| Problem::unavailable(format!("push encryption: {e}")))?;
    let authorization = config::vapid_key()?
        .authorization(
            &subscription.endpoint,
            &config::vapid_subject(),
            now_unix() + 12 * 3600,
        )
        .map_err(|e| Problem::unavailable(format!("VAPID: {e}")))?;
    let request = Request::builder()
        .method(Method::Post)
        .uri(subscription.endpoint.as_str())
        .header("content-encoding", "aes128gcm")
        .header("content-type", "application/octet-stream")
        .header("ttl", ttl_seconds.to_string())
        .header("urgency", if urgent { "high" } else { "normal" })
        .header("authorization", authorization)
        // Push services want the length up front, not a chunked body.
        .header("content-length", body.len().to_string())
        .body(body)
        .build();
    let response: Response = match spin_sdk::http::run(spin_sdk::http::send(request)) {
        Ok(response) => response,
        Err(e) => return Ok(PushOutcome::Retry(format!("unreachable: {e}"))),
    };
    let status = *response.status();
    let said =
        String::from_utf8_lossy(&response.body()[..response.body().len().min(300)]).to_string();
    let summary = format!("{status} {said}").trim().to_string();
    Ok(match status {
        200..=299 => PushOutcome::Delivered(summary),
        404 | 410 => PushOutcome::Gone(summary),
        408 | 429 | 500..=599 => PushOutcome::Retry(summary),
        _ => PushOutcome::Refused(summary),
    })
}

#[cfg(test)]
mod tests {
    use super::origin_matches;

    #[test]
    fn wildcards_match_subdomains_only() {
        assert!(origin_matches(
            "https://*.push.services.mozilla.com",
            "https://updates.push.services.mozilla.com"
        ));
        assert!(!origin_matches(
            "https://*.push.services.mozilla.com",
            "https://push.services.mozilla.com.evil.test"
        ));
        assert!(!origin_matches(
            "https://*.push.services.mozilla.com",
            "http://updates.push.services.mozilla.com"
        ));
        assert!(origin_matches(
            "https://fcm.googleapis.com",
            "https://fcm.googleapis.com"
        ));
        assert!(!origin_matches(
            "https://fcm.googleapis.com",
            "https://fcm.googleapis.com:8443"
        ));
    }
}
