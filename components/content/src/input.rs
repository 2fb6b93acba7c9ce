//! What clients send, checked field by field (a 422 names the field) and
//! made safe to store: HTML bodies are sanitized, plain-text fields may not
//! carry markup, and every field has a size limit.

use folio_guest::entitlements::valid_tier;
use folio_guest::http::{JsonBody, Problem};
use folio_guest::util::{is_uuid, parse_rfc3339_ms, rfc3339};
use serde_json::{Map, Value as Json};

use crate::model::{Draft, KINDS};

const MAX_TITLE_CHARS: usize = 200;
const MAX_DESCRIPTION_CHARS: usize = 2_000;
const MAX_BODY_BYTES: usize = 512 * 1024;
const MAX_TAGS: usize = 50;
const MAX_TAG_CHARS: usize = 50;
const MAX_CATEGORIES: usize = 20;
const MAX_MEDIA: usize = 100;
const MAX_METADATA_BYTES: usize = 64 * 1024;

pub const FIELDS: [&str; 10] = [
    "title",
    "description",
    "body",
    "type",
    "categories",
    "tags",
    "mediaIds",
    "metadata",
    "scheduledAt",
    "requiredTier",
];

/// A new item (POST) or a whole replacement (PUT): `title` and `type` are required.
pub fn full(body: &JsonBody) -> Result<Draft, Problem> {
    body.only(&FIELDS)?;
    let empty = Draft {
        title: String::new(),
        description: String::new(),
        body: String::new(),
        kind: String::new(),
        categories: Vec::new(),
        tags: Vec::new(),
        media_ids: Vec::new(),
        metadata: Map::new(),
        scheduled_at: None,
        required_tier: None,
    };
    if body.value("title").is_none() {
        return Err(Problem::invalid_field("title", "is required"));
    }
    if body.value("type").is_none() {
        return Err(Problem::invalid_field("type", "is required"));
    }
    merge(body, empty)
}

/// A partial change (PATCH): absent fields keep their value.
pub fn merge(body: &JsonBody, mut draft: Draft) -> Result<Draft, Problem> {
    body.only(&FIELDS)?;
    if let Some(v) = body.optional_str("title")? {
        draft.title = plain_text("title", v, 1, MAX_TITLE_CHARS)?;
    }
    if let Some(v) = body.optional_str("description")? {
        draft.description = plain_text("description", v, 0, MAX_DESCRIPTION_CHARS)?;
    }
    if let Some(v) = body.optional_str("body")? {
        if v.len() > MAX_BODY_BYTES {
            return Err(Problem::invalid_field(
                "body",
                format!("must be at most {MAX_BODY_BYTES} bytes"),
            ));
        }
        draft.body = sanitize_html(v);
    }
    if let Some(v) = body.optional_str("type")? {
        if !KINDS.contains(&v) {
            return Err(Problem::invalid_field(
                "type",
                format!("must be one of {}", KINDS.join(", ")),
            ));
        }
        draft.kind = v.to_string();
    }
    if let Some(v) = body.optional_str_list("tags")? {
        draft.tags = tags(&v)?;
    }
    if let Some(v) = body.optional_str_list("categories")? {
        draft.categories = ids("categories", &v, MAX_CATEGORIES)?;
    }
    if let Some(v) = body.optional_str_list("mediaIds")? {
        draft.media_ids = ids("mediaIds", &v, MAX_MEDIA)?;
    }
    match body.value("metadata") {
        None => {}
        Some(Json::Object(map)) => {
            if Json::Object(map.clone()).to_string().len() > MAX_METADATA_BYTES {
                return Err(Problem::invalid_field(
                    "metadata",
                    format!("must be at most {MAX_METADATA_BYTES} bytes of JSON"),
                ));
            }
            draft.metadata = map.clone();
        }
        Some(_) => return Err(Problem::invalid_field("metadata", "must be a JSON object")),
    }
    if body.has("requiredTier") {
        draft.required_tier = match body.value("requiredTier") {
            None | Some(Json::Null) => None,
            Some(Json::String(tier)) if valid_tier(tier) => Some(tier.clone()),
            _ => {
                return Err(Problem::invalid_field(
                    "requiredTier",
                    "must be null or a tier name: 1 to 32 of a-z, 0-9 and -",
                ));
            }
        };
    }
    if body.has("scheduledAt") {
        draft.scheduled_at = body
            .optional_str("scheduledAt")?
            .map(|v| time("scheduledAt", v))
            .transpose()?;
    }
    Ok(draft)
}

/// An RFC 3339 UTC time (`2026-12-01T09:00:00Z`), normalized to milliseconds.
pub fn time(field: &str, raw: &str) -> Result<String, Problem> {
    match parse_rfc3339_ms(raw) {
        Some(ms) if raw.ends_with('Z') && rfc3339_roundtrips(raw, ms) => Ok(rfc3339(ms)),
        _ => Err(Problem::invalid_field(
            field,
            "must be an RFC 3339 UTC time such as 2026-12-01T09:00:00Z",
        )),
    }
}

/// Rejects dates like February 30th that the arithmetic would roll over.
fn rfc3339_roundtrips(raw: &str, ms: i64) -> bool {
    rfc3339(ms).get(..19) == raw.get(..19)
}

/// Plain text: no control characters and nothing that looks like markup, so
/// a client that forgets to escape it cannot be made to run a script.
fn plain_text(field: &str, raw: &str, min: usize, max: usize) -> Result<String, Problem> {
    let text = raw.trim();
    let chars = text.chars().count();
    if chars < min {
        return Err(Problem::invalid_field(field, "must not be empty"));
    }
    if chars > max {
        return Err(Problem::invalid_field(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(Problem::invalid_field(
            field,
            "must not contain control characters",
        ));
    }
    if looks_like_markup(text) {
        return Err(Problem::invalid_field(
            field,
            "is plain text: it must not contain HTML tags",
        ));
    }
    Ok(text.to_string())
}

fn looks_like_markup(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes
        .windows(2)
        .any(|w| w[0] == b'<' && (w[1].is_ascii_alphabetic() || matches!(w[1], b'/' | b'!' | b'?')))
}

/// The body's HTML with everything that could run (scripts, event handlers,
/// `javascript:` URLs, styles, frames) removed.
pub fn sanitize_html(raw: &str) -> String {
    ammonia::Builder::default()
        .link_rel(Some("noopener noreferrer nofollow"))
        .clean(raw)
        .to_string()
}

fn tags(raw: &[String]) -> Result<Vec<String>, Problem> {
    let mut out: Vec<String> = Vec::new();
    for tag in raw {
        let tag = tag.trim().to_lowercase();
        let valid = !tag.is_empty()
            && tag.chars().count() <= MAX_TAG_CHARS
            && tag
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' ' | '.'));
        if !valid {
            return Err(Problem::invalid_field(
                "tags",
                format!("each tag is 1-{MAX_TAG_CHARS} letters, digits, spaces, `-`, `_` or `.`"),
            ));
        }
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    if out.len() > MAX_TAGS {
        return Err(Problem::invalid_field(
            "tags",
            format!("at most {MAX_TAGS} tags"),
        ));
    }
    Ok(out)
}

fn ids(field: &str, raw: &[String], max: usize) -> Result<Vec<String>, Problem> {
    if raw.len() > max {
        return Err(Problem::invalid_field(field, format!("at most {max} ids")));
    }
    let mut out: Vec<String> = Vec::new();
    for id in raw {
        let id = id.trim().to_lowercase();
        if !is_uuid(&id) {
            return Err(Problem::invalid_field(field, "each id must be a UUID"));
        }
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_and_handlers_are_removed() {
        for payload in [
            "<script>alert(1)</script><p>ok</p>",
            "<img src=x onerror=alert(1)><p>ok</p>",
            "<a href=\"javascript:alert(1)\">ok</a>",
            "<iframe src=\"https://evil.example\"></iframe><p>ok</p>",
            "<svg><script>alert(1)</script></svg><p>ok</p>",
            "<p style=\"background:url(javascript:alert(1))\">ok</p>",
        ] {
            let clean = sanitize_html(payload).to_lowercase();
            for bad in ["<script", "onerror", "javascript:", "<iframe", "style="] {
                assert!(!clean.contains(bad), "{payload} -> {clean}");
            }
            assert!(clean.contains("ok"), "{payload} -> {clean}");
        }
        assert_eq!(
            sanitize_html("<p>Hello <b>world</b></p>"),
            "<p>Hello <b>world</b></p>"
        );
    }

    #[test]
    fn plain_text_refuses_markup_but_not_comparisons() {
        assert!(plain_text("title", "A < B and C > D", 1, 200).is_ok());
        assert!(plain_text("title", "<script>x</script>", 1, 200).is_err());
        assert!(plain_text("title", "hi <img src=x>", 1, 200).is_err());
        assert!(plain_text("title", "   ", 1, 200).is_err());
    }

    #[test]
    fn times_are_utc_rfc3339() {
        assert_eq!(
            time("t", "2026-12-01T09:00:00Z").unwrap(),
            "2026-12-01T09:00:00.000Z"
        );
        assert!(time("t", "2026-02-30T09:00:00Z").is_err());
        assert!(time("t", "2026-12-01T09:00:00+02:00").is_err());
        assert!(time("t", "tomorrow").is_err());
    }
}
