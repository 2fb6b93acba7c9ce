//! Newsletter issues carry the item itself, as each recipient may read it:
//! the whole body to holders of a gated item's tier, its preview to
//! everyone else. The issue is fetched once from the content service's
//! index feed (its `index_readers` grant) and kept here, so a fan-out to
//! many readers neither carries the body in every step event nor stores it
//! per notification; which version a reader gets is decided when their mail
//! is rendered, from the tiers they hold then.

use folio_guest::columns::{optional_text, text};
use folio_guest::http::{Problem, chained_service, sign_chained_call};
use folio_guest::util::now_ms;
use folio_guest::{Connection, Value};
use serde::Deserialize;
use serde_json::{Value as Json, json};
use spin_sdk::http::{Request, Response};

use crate::store::db_error;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FeedItem {
    #[serde(default)]
    body: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    required_tier: Option<String>,
    #[serde(default)]
    paid: Option<Paid>,
    #[serde(default)]
    deleted: bool,
}

#[derive(Deserialize)]
struct Paid {
    #[serde(default)]
    body: String,
    #[serde(default)]
    text: String,
}

#[derive(Deserialize)]
struct Page {
    items: Vec<FeedItem>,
}

/// Fetches item `content_id` and keeps it as issue `source`; false when
/// the item is gone (deleted or purged), so there is nothing to send.
pub fn keep(db: &Connection, source: &str, content_id: &str) -> Result<bool, Problem> {
    let Some(item) = fetch(content_id)?.filter(|item| !item.deleted) else {
        return Ok(false);
    };
    let (paid_body, paid_text) = match item.paid {
        Some(paid) => (Value::Text(paid.body), Value::Text(paid.text)),
        None => (Value::Null, Value::Null),
    };
    db.execute(
        "INSERT INTO newsletter_issues (source, content_id, body, text, required_tier, \
         paid_body, paid_text, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (source) DO NOTHING",
        &[
            Value::Text(source.to_string()),
            Value::Text(content_id.to_string()),
            Value::Text(item.body),
            Value::Text(item.text),
            item.required_tier.map_or(Value::Null, Value::Text),
            paid_body,
            paid_text,
            Value::Integer(now_ms()),
        ],
    )
    .map_err(db_error)?;
    Ok(true)
}

/// Issue `source` as `account` may read it: `{body, text, preview}`
/// (`preview` true for a gated item whose tier the account lacks).
pub fn for_reader(db: &Connection, source: &str, account: &str) -> Result<Option<Json>, Problem> {
    let rows = db
        .query(
            "SELECT body, text, required_tier, paid_body, paid_text FROM newsletter_issues \
             WHERE source = $1",
            &[Value::Text(source.to_string())],
        )
        .map_err(db_error)?;
    let Some(row) = rows.rows.first() else {
        return Ok(None);
    };
    let tier = optional_text(&row[2]);
    let holds = match &tier {
        None => true,
        Some(tier) => folio_guest::entitlements::tiers_of(db, account)?.contains(tier),
    };
    let (body, text_body) = match (holds, optional_text(&row[3])) {
        (true, Some(paid_body)) => (paid_body, optional_text(&row[4]).unwrap_or_default()),
        _ => (text(&row[0]), text(&row[1])),
    };
    Ok(Some(json!({
        "body": body,
        "text": text_body,
        "preview": tier.is_some() && !holds,
    })))
}

fn fetch(content_id: &str) -> Result<Option<FeedItem>, Problem> {
    let content = chained_service("content_service", "content");
    let url = format!(
        "http://{content}.spin.internal/api/v1/content/index-feed?html=true&ids={content_id}"
    );
    let mut request = Request::get(url);
    request.header("accept", "application/json");
    sign_chained_call(&mut request, &content);
    let response: Response = spin_sdk::http::run(spin_sdk::http::send(request))
        .map_err(|e| Problem::unavailable(format!("the content feed could not be reached: {e}")))?;
    let status = *response.status();
    if !(200..300).contains(&status) {
        // A refusal here is a deployment missing its grant: worth retrying
        // once it is fixed, never worth sending the issue without its text.
        return Err(Problem::unavailable(format!(
            "the content feed answered {status}"
        )));
    }
    let page: Page = serde_json::from_slice(response.body()).map_err(|e| {
        Problem::unavailable(format!("the content feed's answer is malformed: {e}"))
    })?;
    Ok(page.items.into_iter().next())
}
