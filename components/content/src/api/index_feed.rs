//! `GET /api/v1/content/index-feed`: every item, drafts and deleted ones
//! included, with its body as plain text, for the search service's index;
//! with `html=true` also the sanitized HTML body (the publishing service's
//! feeds and payloads), and with `id` and `revision` one past version (its
//! preview links).
//! Only a chained call from a component named in the `index_readers`
//! variable gets an answer (the host sets `folio-calling-component` on
//! chained calls and strips it from outside requests); to anyone else the
//! route does not exist.

use folio_guest::http::{Problem, chained_from, json, query_pairs};
use serde_json::{Value as Json, json};
use spin_sdk::http::{Request, Response};

use crate::model::Content;
use crate::store;

const MAX_PAGE: i64 = 1000;

pub fn get(request: &Request) -> Result<Response, Problem> {
    if !chained_from(request, "index_readers") {
        return Err(Problem::not_found("no such content"));
    }
    let query = query_pairs(request);
    let db = store::open()?;
    let html = query.iter().any(|(k, v)| k == "html" && v == "true");
    let entry = |c: &Content| entry(c, html);
    if let Some((_, n)) = query.iter().find(|(k, _)| k == "revision") {
        let id = query
            .iter()
            .find(|(k, _)| k == "id")
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| Problem::invalid_field("id", "is required with revision"))?;
        let n = n
            .parse::<i64>()
            .map_err(|_| Problem::invalid_field("revision", "must be a number"))?;
        let snapshot = store::revision(&db, id, n)?
            .and_then(|r| r.snapshot)
            .ok_or_else(|| Problem::not_found("no such revision"))?;
        return Ok(json(200, &json!({ "items": [entry(&snapshot)] })));
    }
    if query.iter().any(|(k, _)| k == "ids") {
        let ids_only: Vec<(String, String)> =
            query.iter().filter(|(k, _)| k != "html").cloned().collect();
        let ids = folio_guest::http::batch_ids(&ids_only, "content", 100)?;
        let items = store::get_many(&db, &ids)?;
        let items: Vec<Json> = items.iter().map(entry).collect();
        return Ok(json(200, &json!({ "items": items })));
    }
    let mut after = String::new();
    let mut limit = 500;
    for (name, value) in &query {
        match name.as_str() {
            "after" => after = value.clone(),
            "html" => {}
            "limit" => {
                limit = value
                    .parse::<i64>()
                    .ok()
                    .filter(|n| (1..=MAX_PAGE).contains(n))
                    .ok_or_else(|| Problem::invalid_field("limit", "must be 1 to 1000"))?;
            }
            other => {
                return Err(Problem::invalid_field(
                    other,
                    "is not a known query parameter",
                ));
            }
        }
    }
    let (items, total) = store::feed_page(&db, &after, limit)?;
    let next = match items.len() as i64 == limit {
        true => items.last().map(|c| c.id.clone()),
        false => None,
    };
    let items: Vec<Json> = items.iter().map(entry).collect();
    Ok(json(
        200,
        &json!({ "items": items, "total": total, "next": next }),
    ))
}

/// An item as the index, feeds, payloads and newsletters take it. `text`
/// and `body` are what anyone may see: a gated item's (`requiredTier`)
/// preview. Its whole text is under `paid`, for the readers to show only to
/// holders of the tier, so a reader that ignores `paid` shows the preview.
fn entry(c: &Content, html: bool) -> Json {
    let public_body = match c.required_tier {
        Some(_) => folio_guest::entitlements::first_paragraph(&c.body),
        None => c.body.as_str(),
    };
    let mut entry = json!({
        "id": c.id,
        "version": c.version,
        "title": c.title,
        "description": c.description,
        "text": plain_text(public_body),
        "requiredTier": c.required_tier,
        "status": c.status,
        "type": c.kind,
        "authorId": c.author_id,
        "categories": c.categories,
        "tags": c.tags,
        "publishedAt": c.published_at,
        "deleted": c.deleted_at.is_some(),
    });
    if c.required_tier.is_some() {
        entry["paid"] = json!({ "text": plain_text(&c.body) });
    }
    if html {
        entry["body"] = json!(public_body);
        entry["mediaIds"] = json!(c.media_ids);
        entry["updatedAt"] = json!(c.updated_at);
        if c.required_tier.is_some() {
            entry["paid"]["body"] = json!(c.body);
        }
    }
    entry
}

/// The words of a (sanitized) HTML body: tags dropped, block ends as line
/// breaks, the common entities decoded.
pub fn plain_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(start) = rest.find(['<', '&']) {
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        if rest.starts_with('<') {
            let end = rest.find('>').map_or(rest.len(), |i| i + 1);
            let tag = rest[1..end.saturating_sub(1).max(1)].trim_start_matches('/');
            let name: String = tag
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect::<String>()
                .to_ascii_lowercase();
            let block = matches!(
                name.as_str(),
                "p" | "br"
                    | "div"
                    | "li"
                    | "ul"
                    | "ol"
                    | "h1"
                    | "h2"
                    | "h3"
                    | "h4"
                    | "h5"
                    | "h6"
                    | "blockquote"
                    | "pre"
                    | "tr"
                    | "table"
                    | "figure"
                    | "figcaption"
                    | "hr"
            );
            out.push(if block { '\n' } else { ' ' });
            rest = &rest[end..];
        } else {
            let end = rest[..rest.len().min(12)].find(';');
            let decoded = end.and_then(|e| decode_entity(&rest[1..e]));
            match (end, decoded) {
                (Some(e), Some(c)) => {
                    out.push(c);
                    rest = &rest[e + 1..];
                }
                _ => {
                    out.push('&');
                    rest = &rest[1..];
                }
            }
        }
    }
    out.push_str(rest);
    let lines: Vec<String> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect();
    lines.join("\n")
}

fn decode_entity(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" | "#39" => Some('\''),
        "nbsp" => Some(' '),
        _ => {
            let code = name.strip_prefix('#')?;
            let n = match code.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => code.parse().ok()?,
            };
            char::from_u32(n)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::plain_text;

    #[test]
    fn keeps_the_words_of_html() {
        assert_eq!(
            plain_text(
                "<h2>Title</h2><p>Fish &amp; chips, <em>hot</em>&nbsp;now.</p><p>2 &lt; 3 &#x263A;</p>"
            ),
            "Title\nFish & chips, hot now.\n2 < 3 \u{263A}"
        );
        assert_eq!(plain_text("a & b &bogus; c"), "a & b &bogus; c");
    }
}
