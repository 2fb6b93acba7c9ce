//! Content in its database: reading, writing with optimistic concurrency,
//! revisions, lists with filters and both paging styles, and the live items
//! counted per (status, type) in `content_counts`, kept in the transaction
//! of every write, so list totals are one indexed read.

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
    let rows = by_ids(db, COLUMNS, ids)?;
    Ok(rows.iter().map(|r| from_row(r)).collect())
}

/// Which of `ids` name an item (deleted ones included), reading ids only.
pub fn existing_ids(
    db: &Connection,
    ids: &[String],
) -> Result<std::collections::HashSet<String>, Problem> {
    Ok(by_ids(db, "id", ids)?.iter().map(|r| text(&r[0])).collect())
}

fn by_ids(db: &Connection, columns: &str, ids: &[String]) -> Result<Vec<Vec<Value>>, Problem> {
    let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let params: Vec<Value> = ids.iter().map(|id| Value::Text(id.clone())).collect();
    let rows = db
        .query(
            &format!(
                "SELECT {columns} FROM content WHERE id IN ({})",
                placeholders.join(", ")
            ),
            &params,
        )
        .map_err(db_error)?;
    Ok(rows.rows)
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
    count(tx, c, 1)?;
    write_links(tx, c, false)?;
    add_revision(tx, c, editor)
}

/// Adds `delta` to the count of `c`'s (status, type), if it is live.
fn count(tx: &Transaction, c: &Content, delta: i64) -> Result<(), Problem> {
    if c.deleted_at.is_some() {
        return Ok(());
    }
    tx.execute(
        "INSERT INTO content_counts (status, kind, n) VALUES ($1, $2, $3) \
         ON CONFLICT (status, kind) DO UPDATE SET n = content_counts.n + excluded.n",
        &[
            Value::Text(c.status.clone()),
            Value::Text(c.kind.clone()),
            Value::Integer(delta),
        ],
    )
    .map_err(db_error)?;
    Ok(())
}

/// Replaces `old`'s row with `c` if it is still at `old`'s version; false
/// if another write got there first.
pub fn replace(
    tx: &Transaction,
    old: &Content,
    c: &Content,
    editor: &str,
) -> Result<bool, Problem> {
    let mut params = row_values(c);
    params.push(Value::Integer(old.version));
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
    let counted = |c: &Content| (c.status.clone(), c.kind.clone(), c.deleted_at.is_none());
    if counted(old) != counted(c) {
        count(tx, old, -1)?;
        count(tx, c, 1)?;
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
pub fn purge(tx: &Transaction, c: &Content) -> Result<(), Problem> {
    count(tx, c, -1)?;
    let id = [Value::Text(c.id.clone())];
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

/// Keyset paging: a position in the list, the sort value and id of an
/// item already seen, and which side of it the page is on.
pub struct Position {
    pub value: String,
    pub id: String,
    pub before: bool,
}

/// How a list's total is counted.
#[derive(Clone, Copy, PartialEq)]
pub enum Totals {
    /// None (a page reached by a cursor).
    Skip,
    /// From `content_counts` when only status and type filter the list,
    /// else counted up to `COUNT_CAP` matches.
    Cheap,
    /// Every match counted (`total=exact`).
    Exact,
}

/// Past this many matches a cheap total stops counting and says so.
pub const COUNT_CAP: i64 = 10_000;

pub struct ListQuery {
    conditions: Vec<String>,
    params: Vec<Value>,
    pub order: Order,
    pub limit: u32,
    pub page: u32,
    pub position: Option<Position>,
    pub totals: Totals,
    /// The statuses and types the list is filtered by, while nothing else
    /// filters it (then `content_counts` answers its total); `None` once
    /// another filter is added.
    counted_by: Option<(Vec<String>, Vec<String>)>,
}

impl ListQuery {
    /// Live items in `order`, 20 a page, with a cheap total.
    pub fn new(order: Order) -> ListQuery {
        ListQuery {
            conditions: vec!["deleted_at IS NULL".into()],
            params: Vec::new(),
            order,
            limit: 20,
            page: 1,
            position: None,
            totals: Totals::Cheap,
            counted_by: Some((Vec::new(), Vec::new())),
        }
    }

    /// Adds a filter (`$?` is its parameter); totals are then counted rows.
    pub fn condition(&mut self, sql_with_placeholder: &str, value: Value) {
        self.counted_by = None;
        self.bind(sql_with_placeholder, value);
    }

    /// Adds a filter without a parameter; totals are then counted rows.
    pub fn plain_condition(&mut self, sql: &str) {
        self.counted_by = None;
        self.conditions.push(sql.into());
    }

    pub fn status(&mut self, status: &str) {
        if let Some((statuses, _)) = &mut self.counted_by {
            statuses.push(status.into());
        }
        self.bind("status = $?", Value::Text(status.into()));
    }

    pub fn kind(&mut self, kind: &str) {
        if let Some((_, kinds)) = &mut self.counted_by {
            kinds.push(kind.into());
        }
        self.bind("kind = $?", Value::Text(kind.into()));
    }

    fn bind(&mut self, sql_with_placeholder: &str, value: Value) {
        self.params.push(value);
        let n = self.params.len();
        self.conditions
            .push(sql_with_placeholder.replace("$?", &format!("${n}")));
    }
}

pub struct Page {
    pub items: Vec<Content>,
    /// The number of matches, and whether it is exact (a cheap count stops
    /// at `COUNT_CAP`); none for pages reached by a cursor.
    pub total: Option<(i64, bool)>,
    /// Whether items follow the page (for a page before a position, items
    /// precede it).
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
    let total = match q.totals {
        Totals::Skip => None,
        Totals::Cheap => Some(cheap_total(db, &q)?),
        Totals::Exact => {
            let filter = where_clause(&q.conditions);
            let sql = format!("SELECT COUNT(*) FROM content {filter}");
            Some((single_integer(db, &sql, &q.params)?, true))
        }
    };
    // A keyset page seeks to its position; a numbered page skips rows.
    let offset = match q.position {
        Some(_) => 0,
        None => i64::from(q.page.saturating_sub(1)) * i64::from(q.limit),
    };
    // A page before a position walks the order backwards, then turns round.
    let backwards = q.position.as_ref().is_some_and(|p| p.before);
    let descending = q.order.descending != backwards;
    let direction = if descending { "DESC" } else { "ASC" };
    if let Some(Position { value, id, .. }) = q.position.take() {
        let op = if descending { "<" } else { ">" };
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
    if backwards {
        items.reverse();
    }
    Ok(Page {
        items,
        total,
        has_more,
    })
}

/// From `content_counts` when only statuses and types filter the list;
/// else the matches counted, stopping past `COUNT_CAP`.
fn cheap_total(db: &Connection, q: &ListQuery) -> Result<(i64, bool), Problem> {
    if let Some((statuses, kinds)) = &q.counted_by {
        let mut conditions = Vec::new();
        let mut params = Vec::new();
        for (column, values) in [("status", statuses), ("kind", kinds)] {
            for value in values {
                params.push(Value::Text(value.clone()));
                conditions.push(format!("{column} = ${}", params.len()));
            }
        }
        let sql = format!(
            "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM content_counts {}",
            where_clause(&conditions)
        );
        return Ok((single_integer(db, &sql, &params)?, true));
    }
    let filter = where_clause(&q.conditions);
    let sql = format!(
        "SELECT COUNT(*) FROM (SELECT 1 FROM content {filter} LIMIT {}) AS capped",
        COUNT_CAP + 1
    );
    let n = single_integer(db, &sql, &q.params)?;
    Ok((n.min(COUNT_CAP), n <= COUNT_CAP))
}

fn single_integer(db: &Connection, sql: &str, params: &[Value]) -> Result<i64, Problem> {
    let rows = db.query(sql, params).map_err(db_error)?;
    Ok(rows.rows.first().map(|r| integer(&r[0])).unwrap_or(0))
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
