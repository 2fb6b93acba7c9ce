//! The service's copy of each content item: what feeds show, what payloads
//! carry, whom approvals are checked against.

use folio_guest::columns::{boolean, integer, optional_integer, optional_text, text};
use folio_guest::http::Problem;
use folio_guest::util::{now_ms, rfc3339};
use folio_guest::{Connection, Transaction, Value};
use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};

use crate::sources::ContentItem;
use crate::store::{db_error, json_list, parse_time};

#[derive(Clone, Debug)]
pub struct Item {
    pub id: String,
    pub version: i64,
    pub status: String,
    pub public: bool,
    pub kind: String,
    pub title: String,
    pub description: String,
    /// What anyone may read: a gated item's preview.
    pub body: String,
    pub required_tier: Option<String>,
    /// A gated item's whole body, for holders of its tier.
    pub paid_body: Option<String>,
    pub author_id: String,
    pub author_name: Option<String>,
    pub categories: Vec<String>,
    pub tags: Vec<String>,
    pub media_ids: Vec<String>,
    pub published_at: Option<i64>,
    pub updated_at: i64,
    pub fingerprint: String,
}

impl Item {
    pub fn from_source(c: &ContentItem, author_name: Option<String>) -> Item {
        let mut item = Item {
            id: c.id.clone(),
            version: c.version,
            status: c.status.clone(),
            public: c.is_public(),
            kind: c.kind.clone(),
            title: c.title.clone(),
            // Feeds and summaries need one: the body's first words stand in.
            description: match c.description.trim() {
                "" => summary_of(&c.text),
                given => given.to_string(),
            },
            body: c.body.clone(),
            required_tier: c.required_tier.clone(),
            paid_body: c.paid.as_ref().map(|paid| paid.body.clone()),
            author_id: c.author_id.clone(),
            author_name,
            categories: c.categories.clone(),
            tags: c.tags.clone(),
            media_ids: c.media_ids.clone(),
            published_at: c.published_at.as_deref().and_then(parse_time),
            updated_at: c
                .updated_at
                .as_deref()
                .and_then(parse_time)
                .unwrap_or_else(now_ms),
            fingerprint: String::new(),
        };
        item.fingerprint = item.content_fingerprint();
        item
    }

    /// What an edit changes; a status change alone keeps it, so approvals
    /// given in review still count once the item is published.
    fn content_fingerprint(&self) -> String {
        let mut fields = json!([
            self.kind,
            self.title,
            self.description,
            self.body,
            self.categories,
            self.tags,
            self.media_ids
        ]);
        // Only for gated items, so an open item's fingerprint (and the
        // approvals it keeps) is what it was before items could be gated.
        if let (Some(tier), Json::Array(fields)) = (&self.required_tier, &mut fields) {
            fields.push(json!([tier, self.paid_body]));
        }
        let digest = Sha256::digest(fields.to_string().as_bytes());
        digest[..16].iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn subject(&self) -> crate::channels::Subject<'_> {
        crate::channels::Subject {
            kind: &self.kind,
            categories: &self.categories,
            tags: &self.tags,
        }
    }

    pub fn url(&self) -> String {
        crate::config::item_url(&self.id, &self.kind)
    }

    /// The item in the shape a channel's `transform` rule asks for.
    pub fn payload(&self, transform: &str) -> Json {
        let mut data = json!({
            "id": self.id,
            "title": self.title,
            "url": self.url(),
            "version": self.version,
        });
        if transform == "link" {
            return data;
        }
        let extra = json!({
            "type": self.kind,
            "description": self.description,
            "authorId": self.author_id,
            "authorName": self.author_name,
            "categories": self.categories,
            "tags": self.tags,
            "publishedAt": self.published_at.map(rfc3339),
            "updatedAt": rfc3339(self.updated_at),
            "requiredTier": self.required_tier,
        });
        merge(&mut data, extra);
        // A gated item's body here is its preview: payloads go to other
        // systems, which cannot tell subscribers from other readers.
        if transform == "full" {
            merge(
                &mut data,
                json!({ "body": self.body, "mediaIds": self.media_ids }),
            );
        }
        data
    }
}

fn summary_of(text: &str) -> String {
    const MAX: usize = 280;
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.chars().count() <= MAX {
        return text;
    }
    let cut: String = text.chars().take(MAX).collect();
    let cut = cut.rsplit_once(' ').map_or(cut.as_str(), |(head, _)| head);
    format!("{cut}…")
}

fn merge(into: &mut Json, from: Json) {
    if let (Some(into), Json::Object(from)) = (into.as_object_mut(), from) {
        into.extend(from);
    }
}

const COLUMNS: &str = "id, version, status, public, kind, title, description, body, author_id, \
    author_name, categories, tags, media_ids, published_at, updated_at, fingerprint, \
    required_tier, paid_body";

pub fn from_row(r: &[Value]) -> Item {
    Item {
        id: text(&r[0]),
        version: integer(&r[1]),
        status: text(&r[2]),
        public: boolean(&r[3]),
        kind: text(&r[4]),
        title: text(&r[5]),
        description: text(&r[6]),
        body: text(&r[7]),
        author_id: text(&r[8]),
        author_name: optional_text(&r[9]),
        categories: json_list(&text(&r[10])),
        tags: json_list(&text(&r[11])),
        media_ids: json_list(&text(&r[12])),
        published_at: optional_integer(&r[13]),
        updated_at: integer(&r[14]),
        fingerprint: text(&r[15]),
        required_tier: optional_text(&r[16]),
        paid_body: optional_text(&r[17]),
    }
}

pub fn columns(prefix: &str) -> String {
    COLUMNS
        .split(", ")
        .map(|c| format!("{prefix}{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn get(db: &Connection, id: &str) -> Result<Option<Item>, Problem> {
    let rows = db
        .query(
            &format!("SELECT {COLUMNS} FROM items WHERE id = $1"),
            &[Value::Text(id.to_string())],
        )
        .map_err(db_error)?;
    Ok(rows.rows.first().map(|r| from_row(r)))
}

pub fn get_in(tx: &Transaction, id: &str) -> Result<Option<Item>, Problem> {
    let rows = tx
        .query(
            &format!("SELECT {COLUMNS} FROM items WHERE id = $1"),
            &[Value::Text(id.to_string())],
        )
        .map_err(db_error)?;
    Ok(rows.rows.first().map(|r| from_row(r)))
}

pub fn save(tx: &Transaction, item: &Item) -> Result<(), Problem> {
    let list = |v: &[String]| Value::Text(serde_json::to_string(v).expect("strings serialize"));
    let optional = |v: &Option<String>| v.clone().map_or(Value::Null, Value::Text);
    let params = [
        Value::Text(item.id.clone()),
        Value::Integer(item.version),
        Value::Text(item.status.clone()),
        Value::Boolean(item.public),
        Value::Text(item.kind.clone()),
        Value::Text(item.title.clone()),
        Value::Text(item.description.clone()),
        Value::Text(item.body.clone()),
        Value::Text(item.author_id.clone()),
        item.author_name
            .clone()
            .map(Value::Text)
            .unwrap_or(Value::Null),
        list(&item.categories),
        list(&item.tags),
        list(&item.media_ids),
        item.published_at.map(Value::Integer).unwrap_or(Value::Null),
        Value::Integer(item.updated_at),
        Value::Text(item.fingerprint.clone()),
        optional(&item.required_tier),
        optional(&item.paid_body),
    ];
    tx.execute(
        &format!(
            "INSERT INTO items ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, \
             $12, $13, $14, $15, $16, $17, $18) ON CONFLICT (id) DO UPDATE SET version = $2, \
             status = $3, public = $4, kind = $5, title = $6, description = $7, body = $8, \
             author_id = $9, author_name = COALESCE($10, items.author_name), categories = $11, \
             tags = $12, media_ids = $13, published_at = $14, updated_at = $15, \
             fingerprint = $16, required_tier = $17, paid_body = $18"
        ),
        &params,
    )
    .map_err(db_error)?;
    Ok(())
}

pub fn delete(tx: &Transaction, id: &str) -> Result<(), Problem> {
    for sql in [
        "DELETE FROM items WHERE id = $1",
        "DELETE FROM channel_entries WHERE content_id = $1",
    ] {
        tx.execute(sql, &[Value::Text(id.to_string())])
            .map_err(db_error)?;
    }
    Ok(())
}
