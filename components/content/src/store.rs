//! Content in its database: reading, writing with optimistic concurrency,
//! revisions, lists with filters and both paging styles.

use folio_guest::http::Problem;
use folio_guest::util::now_rfc3339;
use folio_guest::{Connection, SqlError, Transaction, Value};
use serde_json::{Map, Value as Json};

use crate::model::Content;

pub fn db_error(e: SqlError) -> Problem {
    e.into_problem("content")
}

pub fn open() -> Result<Connection, Problem> {
    Connection::open("default").map_err(db_error)
}

pub use folio_guest::columns::{integer, optional_text, text};

fn json_list(v: &Value) -> Vec<String> {
    serde_json::from_str(&text(v)).unwrap_or_default()
}

fn json_object(v: &Value) -> Map<String, Json> {
    serde_json::from_str(&text(v)).unwrap_or_default()
}

pub const COLUMNS: &str = "id, title, description, body, status, kind, categories, tags, media_ids, \
    metadata, author_id, published_at, scheduled_at, created_at, updated_at, version, deleted_at, \
    required_tier";

pub fn from_row(r: &[Value]) -> Content {
    Content {
        id: text(&r[0]),
        title: text(&r[1]),
        description: text(&r[2]),
        body: text(&r[3]),
        status: text(&r[4]),
        kind: text(&r[5]),
        categories: json_list(&r[6]),
        tags: json_list(&r[7]),
        media_ids: json_list(&r[8]),
        metadata: json_object(&r[9]),
        author_id: text(&r[10]),
        published_at: optional_text(&r[11]),
        scheduled_at: optional_text(&r[12]),
        created_at: text(&r[13]),
        updated_at: text(&r[14]),
        version: integer(&r[15]),
        deleted_at: optional_text(&r[16]),
        required_tier: optional_text(&r[17]),
    }
}

fn timestamp(v: &Option<String>) -> Value {
    v.clone().map(Value::Timestamp).unwrap_or(Value::Null)
}

fn list_json(items: &[String]) -> Value {
    Value::Json(serde_json::to_string(items).expect("lists serialize"))
}

/// The key titles sort and match by: lowercased.
pub fn title_key(title: &str) -> String {
    title.to_lowercase()
}

pub fn get(db: &Connection, id: &str) -> Result<Option<Content>, Problem> {
    let rows = db
        .query(
            &format!("SELECT {COLUMNS} FROM content WHERE id = $1"),
            &[Value::Text(id.to_string())],
        )
        .map_err(db_error)?;
    Ok(rows.rows.first().map(|r| from_row(r)))
}

fn row_values(c: &Content) -> Vec<Value> {
    vec![
        Value::Text(c.id.clone()),
        Value::Text(c.title.clone()),
        Value::Text(title_key(&c.title)),
        Value::Text(c.description.clone()),
        Value::Text(c.body.clone()),
        Value::Text(c.status.clone()),
        Value::Text(c.kind.clone()),
        list_json(&c.categories),
        list_json(&c.tags),
        list_json(&c.media_ids),
        Value::Json(Json::Object(c.metadata.clone()).to_string()),
        Value::Text(c.author_id.clone()),
        timestamp(&c.published_at),
        timestamp(&c.scheduled_at),
        Value::Timestamp(c.created_at.clone()),
        Value::Timestamp(c.updated_at.clone()),
        Value::Integer(c.version),
        timestamp(&c.deleted_at),
        c.required_tier.clone().map_or(Value::Null, Value::Text),
    ]
}

/// Items by id (purged ones are absent), deleted ones included.
pub fn get_many(db: &Connection, ids: &[String]) -> Result<Vec<Content>, Problem> {
    let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let params: Vec<Value> = ids.iter().map(|id| Value::Text(id.clone())).collect();
    let rows = db
        .query(
            &format!(
                "SELECT {COLUMNS} FROM content WHERE id IN ({})",
                placeholders.join(", ")
            ),
            &params,
        )
        .map_err(db_error)?;
    Ok(rows.rows.iter().map(|r| from_row(r)).collect())
}

/// Every item after id `after`, in id order, and how many there are in all.
pub fn feed_page(db: &Connection, after: &str, limit: i64) -> Result<(Vec<Content>, i64), Problem> {
    let rows = db
        .query(
            &format!("SELECT {COLUMNS} FROM content WHERE id > $1 ORDER BY id LIMIT $2"),
            &[Value::Text(after.to_string()), Value::Integer(limit)],
        )
        .map_err(db_error)?;
    let total = db
        .query("SELECT COUNT(*) FROM content", &[])
        .map_err(db_error)?;
    let total = total.rows.first().map(|r| integer(&r[0])).unwrap_or(0);
    Ok((rows.rows.iter().map(|r| from_row(r)).collect(), total))
}

/// Inserts a new item with its first revision.
pub fn insert(tx: &Transaction, c: &Content, editor: &str) -> Result<(), Problem> {
    tx.execute(
        "INSERT INTO content (id, title, title_key, description, body, status, kind, categories, \
         tags, media_ids, metadata, author_id, published_at, scheduled_at, created_at, updated_at, \
         version, deleted_at, required_tier) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, \
         $12, $13, $14, $15, $16, $17, $18, $19)",
        &row_values(c),
    )
    .map_err(db_error)?;
    write_links(tx, c, false)?;
    add_revision(tx, c, editor)
}

/// Replaces the item's row if it is still at `expected_version`; false if
/// another write got there first.
pub fn replace(
    tx: &Transaction,
    c: &Content,
    expected_version: i64,
    editor: &str,
) -> Result<bool, Problem> {
    let mut params = row_values(c);
    params.push(Value::Integer(expected_version));
    let changed = tx
        .execute(
            "UPDATE content SET title = $2, title_key = $3, description = $4, body = $5, \
             status = $6, kind = $7, categories = $8, tags = $9, media_ids = $10, metadata = $11, \
             author_id = $12, published_at = $13, scheduled_at = $14, created_at = $15, \
             updated_at = $16, version = $17, deleted_at = $18, required_tier = $19 \
             WHERE id = $1 AND version = $20",
            &params,
        )
        .map_err(db_error)?;
    if changed != 1 {
        return Ok(false);
    }
    write_links(tx, c, true)?;
    add_revision(tx, c, editor)?;
    Ok(true)
}

fn write_links(tx: &Transaction, c: &Content, replace: bool) -> Result<(), Problem> {
    let id = Value::Text(c.id.clone());
    if replace {
        for statement in [
            "DELETE FROM content_tags WHERE content_id = $1",
            "DELETE FROM content_categories WHERE content_id = $1",
        ] {
            tx.execute(statement, std::slice::from_ref(&id))
                .map_err(db_error)?;
        }
    }
    for tag in &c.tags {
        tx.execute(
            "INSERT INTO content_tags (content_id, tag) VALUES ($1, $2)",
            &[id.clone(), Value::Text(tag.clone())],
        )
        .map_err(db_error)?;
    }
    for category in &c.categories {
        tx.execute(
            "INSERT INTO content_categories (content_id, category_id) VALUES ($1, $2)",
            &[id.clone(), Value::Text(category.clone())],
        )
        .map_err(db_error)?;
    }
    Ok(())
}

fn add_revision(tx: &Transaction, c: &Content, editor: &str) -> Result<(), Problem> {
    tx.execute(
        "INSERT INTO content_revisions (content_id, revision, author_id, created_at, snapshot) \
         VALUES ($1, $2, $3, $4, $5)",
        &[
            Value::Text(c.id.clone()),
            Value::Integer(c.version),
            Value::Text(editor.to_string()),
            Value::Timestamp(now_rfc3339()),
            Value::Json(serde_json::to_string(c).expect("content serializes")),
        ],
    )
    .map_err(db_error)?;
    Ok(())
}

/// Deletes the item and everything hanging off it (an admin's purge).
pub fn purge(tx: &Transaction, id: &str) -> Result<(), Problem> {
    let id = [Value::Text(id.to_string())];
    for statement in [
        "DELETE FROM content_tags WHERE content_id = $1",
        "DELETE FROM content_categories WHERE content_id = $1",
        "DELETE FROM content_revisions WHERE content_id = $1",
        "DELETE FROM content_relations WHERE from_id = $1 OR to_id = $1",
        "DELETE FROM content WHERE id = $1",
    ] {
        tx.execute(statement, &id).map_err(db_error)?;
    }
    Ok(())
}

pub struct Revision {
    pub revision: i64,
    pub author_id: String,
    pub created_at: String,
    pub snapshot: Option<Content>,
}

pub fn revisions(db: &Connection, id: &str) -> Result<Vec<Revision>, Problem> {
    let rows = db
        .query(
            "SELECT revision, author_id, created_at FROM content_revisions WHERE content_id = $1 \
             ORDER BY revision DESC",
            &[Value::Text(id.to_string())],
        )
        .map_err(db_error)?;
    Ok(rows
        .rows
        .iter()
        .map(|r| Revision {
            revision: integer(&r[0]),
            author_id: text(&r[1]),
            created_at: text(&r[2]),
            snapshot: None,
        })
        .collect())
}

pub fn revision(db: &Connection, id: &str, n: i64) -> Result<Option<Revision>, Problem> {
    let rows = db
        .query(
            "SELECT revision, author_id, created_at, snapshot FROM content_revisions \
             WHERE content_id = $1 AND revision = $2",
            &[Value::Text(id.to_string()), Value::Integer(n)],
        )
        .map_err(db_error)?;
    Ok(rows.rows.first().map(|r| Revision {
        revision: integer(&r[0]),
        author_id: text(&r[1]),
        created_at: text(&r[2]),
        snapshot: serde_json::from_str(&text(&r[3])).ok(),
    }))
}

/// How a list is ordered: a column and a direction.
#[derive(Clone, Copy)]
pub struct Order {
    pub column: &'static str,
    /// Whether the column holds timestamps (cursor values bind as such).
    pub timestamp: bool,
    pub descending: bool,
}

pub struct ListQuery {
    pub conditions: Vec<String>,
    pub params: Vec<Value>,
    pub order: Order,
    pub limit: u32,
    pub page: u32,
    /// Keyset paging: the sort value and id of the last item already seen.
    pub after: Option<(String, String)>,
}

impl ListQuery {
    pub fn condition(&mut self, sql_with_placeholder: &str, value: Value) {
        self.params.push(value);
        let n = self.params.len();
        self.conditions
            .push(sql_with_placeholder.replace("$?", &format!("${n}")));
    }
}

pub struct Page {
    pub items: Vec<Content>,
    /// Only for page-number paging: keyset pages do not count.
    pub total: Option<i64>,
    pub has_more: bool,
}

/// The value of the order column for `c`, as a cursor carries it.
pub fn order_value(order: &Order, c: &Content) -> String {
    match order.column {
        "created_at" => c.created_at.clone(),
        "updated_at" => c.updated_at.clone(),
        "published_at" => c.published_at.clone().unwrap_or_default(),
        _ => title_key(&c.title),
    }
}

pub fn list(db: &Connection, mut q: ListQuery) -> Result<Page, Problem> {
    let column = q.order.column;
    let total = if q.after.is_none() {
        let filter = where_clause(&q.conditions);
        let rows = db
            .query(&format!("SELECT COUNT(*) FROM content {filter}"), &q.params)
            .map_err(db_error)?;
        Some(rows.rows.first().map(|r| integer(&r[0])).unwrap_or(0))
    } else {
        None
    };
    let direction = if q.order.descending { "DESC" } else { "ASC" };
    if let Some((value, id)) = q.after.take() {
        let op = if q.order.descending { "<" } else { ">" };
        let value = if q.order.timestamp {
            Value::Timestamp(value)
        } else {
            Value::Text(value)
        };
        q.params.push(value);
        q.params.push(Value::Text(id));
        let (a, b) = (q.params.len() - 1, q.params.len());
        q.conditions
            .push(format!("({column}, id) {op} (${a}, ${b})"));
    }
    let filter = where_clause(&q.conditions);
    let offset = if total.is_some() {
        i64::from(q.page.saturating_sub(1)) * i64::from(q.limit)
    } else {
        0
    };
    let rows = db
        .query(
            &format!(
                "SELECT {COLUMNS} FROM content {filter} ORDER BY {column} {direction}, id {direction} \
                 LIMIT {} OFFSET {offset}",
                q.limit + 1
            ),
            &q.params,
        )
        .map_err(db_error)?;
    let mut items: Vec<Content> = rows.rows.iter().map(|r| from_row(r)).collect();
    let has_more = items.len() > q.limit as usize;
    items.truncate(q.limit as usize);
    Ok(Page {
        items,
        total,
        has_more,
    })
}

fn where_clause(conditions: &[String]) -> String {
    if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    }
}

/// Published, live items per tag, most used first.
pub fn tag_counts(db: &Connection, limit: u32) -> Result<Vec<(String, i64)>, Problem> {
    let rows = db
        .query(
            &format!(
                "SELECT t.tag, COUNT(*) FROM content_tags t JOIN content c ON c.id = t.content_id \
                 WHERE c.status = 'published' AND c.deleted_at IS NULL \
                 GROUP BY t.tag ORDER BY COUNT(*) DESC, t.tag LIMIT {limit}"
            ),
            &[],
        )
        .map_err(db_error)?;
    Ok(rows
        .rows
        .iter()
        .map(|r| (text(&r[0]), integer(&r[1])))
        .collect())
}
