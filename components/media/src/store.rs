//! Media items and resumable uploads in the media database.

use folio_guest::columns::{boolean, integer, optional_integer, optional_text, real, text};
use folio_guest::http::Problem;
use folio_guest::util::now_rfc3339;
use folio_guest::{Connection, SqlError, Transaction, Value};

use crate::model::Media;

pub fn db_error(e: SqlError) -> Problem {
    e.into_problem("media")
}

pub fn open() -> Result<Connection, Problem> {
    Connection::open("default").map_err(db_error)
}

const COLUMNS: &str = "id, owner_id, kind, mime, filename, size, checksum, width, height, \
    duration_ms, orientation, status, progress, attempts, error, cancel_requested, renditions, \
    details, created_at, updated_at, original_key";

fn from_row(r: &[Value]) -> Media {
    Media {
        id: text(&r[0]),
        owner_id: text(&r[1]),
        kind: text(&r[2]),
        mime: text(&r[3]),
        filename: text(&r[4]),
        size: integer(&r[5]),
        checksum: text(&r[6]),
        width: optional_integer(&r[7]),
        height: optional_integer(&r[8]),
        duration_ms: optional_integer(&r[9]),
        orientation: optional_integer(&r[10]),
        status: text(&r[11]),
        progress: real(&r[12]),
        attempts: integer(&r[13]),
        error: optional_text(&r[14]),
        cancel_requested: boolean(&r[15]),
        renditions: serde_json::from_str(&text(&r[16])).unwrap_or_default(),
        details: serde_json::from_str(&text(&r[17])).unwrap_or_default(),
        created_at: text(&r[18]),
        updated_at: text(&r[19]),
        original_key: text(&r[20]),
    }
}

fn optional(v: Option<i64>) -> Value {
    v.map_or(Value::Null, Value::Integer)
}

pub fn insert(tx: &Transaction, m: &Media) -> Result<(), Problem> {
    tx.execute(
        &format!(
            "INSERT INTO media ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
             $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)"
        ),
        &[
            Value::Text(m.id.clone()),
            Value::Text(m.owner_id.clone()),
            Value::Text(m.kind.clone()),
            Value::Text(m.mime.clone()),
            Value::Text(m.filename.clone()),
            Value::Integer(m.size),
            Value::Text(m.checksum.clone()),
            optional(m.width),
            optional(m.height),
            optional(m.duration_ms),
            optional(m.orientation),
            Value::Text(m.status.clone()),
            Value::Real(m.progress),
            Value::Integer(m.attempts),
            m.error.clone().map_or(Value::Null, Value::Text),
            Value::Integer(i64::from(m.cancel_requested)),
            Value::Json(serde_json::to_string(&m.renditions).expect("renditions serialize")),
            Value::Json(m.details.to_string()),
            Value::Timestamp(m.created_at.clone()),
            Value::Timestamp(m.updated_at.clone()),
            Value::Text(m.original_key.clone()),
        ],
    )
    .map_err(db_error)?;
    Ok(())
}

/// Records that upload attempt `id` is writing `object_key` for item
/// `media_id`. If the row outlives the upload expiry, the process died
/// mid-way and the sweeper deletes the object.
pub fn begin_ingest(
    conn: &Connection,
    id: &str,
    media_id: &str,
    object_key: &str,
) -> Result<(), Problem> {
    conn.execute(
        "INSERT INTO ingests (id, media_id, object_key, started_at) VALUES ($1, $2, $3, $4)",
        &[
            Value::Text(id.to_string()),
            Value::Text(media_id.to_string()),
            Value::Text(object_key.to_string()),
            Value::Timestamp(now_rfc3339()),
        ],
    )
    .map_err(db_error)?;
    Ok(())
}

/// Ends an ingest in the commit that records its item; false when the
/// sweeper took it first (and deleted its object).
pub fn end_ingest(tx: &Transaction, id: &str) -> Result<bool, Problem> {
    let changed = tx
        .execute(
            "DELETE FROM ingests WHERE id = $1",
            &[Value::Text(id.to_string())],
        )
        .map_err(db_error)?;
    Ok(changed == 1)
}

pub fn forget_ingest(conn: &Connection, id: &str) -> Result<(), Problem> {
    conn.execute(
        "DELETE FROM ingests WHERE id = $1",
        &[Value::Text(id.to_string())],
    )
    .map_err(db_error)?;
    Ok(())
}

/// Ingests begun before `started_before`, oldest first: (id, object key).
pub fn abandoned_ingests(
    conn: &Connection,
    started_before: &str,
    limit: u32,
) -> Result<Vec<(String, String)>, Problem> {
    let rows = conn
        .query(
            "SELECT id, object_key FROM ingests WHERE started_at < $1 ORDER BY started_at LIMIT $2",
            &[
                Value::Timestamp(started_before.to_string()),
                Value::Integer(i64::from(limit)),
            ],
        )
        .map_err(db_error)?;
    Ok(rows
        .rows
        .iter()
        .map(|r| (text(&r[0]), text(&r[1])))
        .collect())
}

pub fn get(conn: &Connection, id: &str) -> Result<Option<Media>, Problem> {
    let rows = conn
        .query(
            &format!("SELECT {COLUMNS} FROM media WHERE id = $1"),
            &[Value::Text(id.to_string())],
        )
        .map_err(db_error)?;
    Ok(rows.rows.first().map(|r| from_row(r)))
}

/// The items among `ids` (at most a page of them; the caller bounds it).
pub fn get_many(conn: &Connection, ids: &[String]) -> Result<Vec<Media>, Problem> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let rows = conn
        .query(
            &format!(
                "SELECT {COLUMNS} FROM media WHERE id IN ({})",
                placeholders.join(", ")
            ),
            &ids.iter()
                .map(|id| Value::Text(id.clone()))
                .collect::<Vec<_>>(),
        )
        .map_err(db_error)?;
    Ok(rows.rows.iter().map(|r| from_row(r)).collect())
}

pub fn get_in(tx: &Transaction, id: &str) -> Result<Option<Media>, Problem> {
    let rows = tx
        .query(
            &format!("SELECT {COLUMNS} FROM media WHERE id = $1"),
            &[Value::Text(id.to_string())],
        )
        .map_err(db_error)?;
    Ok(rows.rows.first().map(|r| from_row(r)))
}

pub struct ListFilter {
    pub owner_id: Option<String>,
    pub kind: Option<String>,
    pub status: Option<String>,
    pub mime: Option<String>,
    /// Items created before this `(created_at, id)`, newest first.
    pub before: Option<(String, String)>,
    pub limit: u32,
}

/// Newest first; one more row than `limit` tells whether there is a next page.
pub fn list(conn: &Connection, f: &ListFilter) -> Result<Vec<Media>, Problem> {
    let mut clauses = Vec::new();
    let mut params = Vec::new();
    let bind = |clause: &str, value: Value, params: &mut Vec<Value>| {
        params.push(value);
        clause.replace('?', &format!("${}", params.len()))
    };
    for (column, value) in [
        ("owner_id", &f.owner_id),
        ("kind", &f.kind),
        ("status", &f.status),
        ("mime", &f.mime),
    ] {
        if let Some(v) = value {
            clauses.push(bind(
                &format!("{column} = ?"),
                Value::Text(v.clone()),
                &mut params,
            ));
        }
    }
    if let Some((created_at, id)) = &f.before {
        let a = bind("?", Value::Timestamp(created_at.clone()), &mut params);
        let b = bind("?", Value::Text(id.clone()), &mut params);
        clauses.push(format!(
            "(created_at < {a} OR (created_at = {a} AND id < {b}))"
        ));
    }
    let filter = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    params.push(Value::Integer(i64::from(f.limit) + 1));
    let rows = conn
        .query(
            &format!(
                "SELECT {COLUMNS} FROM media {filter} ORDER BY created_at DESC, id DESC LIMIT ${}",
                params.len()
            ),
            &params,
        )
        .map_err(db_error)?;
    Ok(rows.rows.iter().map(|r| from_row(r)).collect())
}

/// Moves an item to `processing` for a new attempt; false when it is gone.
pub fn start_attempt(conn: &Connection, id: &str) -> Result<bool, Problem> {
    let changed = conn
        .execute(
            "UPDATE media SET status = 'processing', progress = 0, attempts = attempts + 1, \
             error = NULL, updated_at = $2 WHERE id = $1",
            &[Value::Text(id.to_string()), Value::Timestamp(now_rfc3339())],
        )
        .map_err(db_error)?;
    Ok(changed == 1)
}

pub fn set_progress(conn: &Connection, id: &str, progress: f64) -> Result<(), Problem> {
    conn.execute(
        "UPDATE media SET progress = $2 WHERE id = $1 AND status = 'processing'",
        &[Value::Text(id.to_string()), Value::Real(progress)],
    )
    .map_err(db_error)?;
    Ok(())
}

pub fn fail(conn: &Connection, id: &str, error: &str) -> Result<(), Problem> {
    conn.execute(
        "UPDATE media SET status = 'failed', error = $2, updated_at = $3 WHERE id = $1",
        &[
            Value::Text(id.to_string()),
            Value::Text(error.to_string()),
            Value::Timestamp(now_rfc3339()),
        ],
    )
    .map_err(db_error)?;
    Ok(())
}

pub fn request_cancel(conn: &Connection, id: &str) -> Result<bool, Problem> {
    let changed = conn
        .execute(
            "UPDATE media SET cancel_requested = 1, updated_at = $2 \
             WHERE id = $1 AND status IN ('uploaded', 'processing')",
            &[Value::Text(id.to_string()), Value::Timestamp(now_rfc3339())],
        )
        .map_err(db_error)?;
    Ok(changed == 1)
}

pub fn cancel_requested(conn: &Connection, id: &str) -> Result<bool, Problem> {
    let rows = conn
        .query(
            "SELECT cancel_requested FROM media WHERE id = $1",
            &[Value::Text(id.to_string())],
        )
        .map_err(db_error)?;
    Ok(rows.rows.first().is_some_and(|r| boolean(&r[0])))
}

/// Writes the outcome of processing; false when the item was deleted meanwhile.
pub fn finish(tx: &Transaction, m: &Media) -> Result<bool, Problem> {
    let changed = tx
        .execute(
            "UPDATE media SET status = 'ready', progress = 1, error = NULL, renditions = $2, \
             size = $3, width = $4, height = $5, duration_ms = $6, details = $7, updated_at = $8, \
             original_key = $9 WHERE id = $1",
            &[
                Value::Text(m.id.clone()),
                Value::Json(serde_json::to_string(&m.renditions).expect("renditions serialize")),
                Value::Integer(m.size),
                optional(m.width),
                optional(m.height),
                optional(m.duration_ms),
                Value::Json(m.details.to_string()),
                Value::Timestamp(now_rfc3339()),
                Value::Text(m.original_key.clone()),
            ],
        )
        .map_err(db_error)?;
    Ok(changed == 1)
}

/// Deletes the item's row and keeps its id from being used again.
pub fn delete(tx: &Transaction, id: &str) -> Result<bool, Problem> {
    let changed = tx
        .execute(
            "DELETE FROM media WHERE id = $1",
            &[Value::Text(id.to_string())],
        )
        .map_err(db_error)?;
    if changed == 1 {
        tx.execute(
            "INSERT INTO deleted_media (id, deleted_at) VALUES ($1, $2)",
            &[Value::Text(id.to_string()), Value::Timestamp(now_rfc3339())],
        )
        .map_err(db_error)?;
    }
    Ok(changed == 1)
}

pub fn was_deleted(tx: &Transaction, id: &str) -> Result<bool, Problem> {
    let rows = tx
        .query(
            "SELECT 1 FROM deleted_media WHERE id = $1",
            &[Value::Text(id.to_string())],
        )
        .map_err(db_error)?;
    Ok(!rows.rows.is_empty())
}

/// A resumable upload in progress.
#[derive(Debug, Clone)]
pub struct PendingUpload {
    pub id: String,
    pub owner_id: String,
    pub length: i64,
    pub received: i64,
    /// The stored parts, in order; their sizes add up to `received`.
    pub part_keys: Vec<String>,
    pub filename: String,
    pub media_id: Option<String>,
    pub expires_at: String,
}

const UPLOAD_COLUMNS: &str =
    "id, owner_id, length, received, part_keys, filename, media_id, expires_at";

fn upload_from_row(r: &[Value]) -> PendingUpload {
    PendingUpload {
        id: text(&r[0]),
        owner_id: text(&r[1]),
        length: integer(&r[2]),
        received: integer(&r[3]),
        part_keys: serde_json::from_str(&text(&r[4])).unwrap_or_default(),
        filename: text(&r[5]),
        media_id: optional_text(&r[6]),
        expires_at: text(&r[7]),
    }
}

pub fn insert_upload(conn: &Connection, u: &PendingUpload) -> Result<(), Problem> {
    conn.execute(
        &format!(
            "INSERT INTO uploads ({UPLOAD_COLUMNS}, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ),
        &[
            Value::Text(u.id.clone()),
            Value::Text(u.owner_id.clone()),
            Value::Integer(u.length),
            Value::Integer(u.received),
            Value::Json(serde_json::to_string(&u.part_keys).expect("keys serialize")),
            Value::Text(u.filename.clone()),
            u.media_id.clone().map_or(Value::Null, Value::Text),
            Value::Timestamp(u.expires_at.clone()),
            Value::Timestamp(now_rfc3339()),
        ],
    )
    .map_err(db_error)?;
    Ok(())
}

pub fn get_upload(conn: &Connection, id: &str) -> Result<Option<PendingUpload>, Problem> {
    let rows = conn
        .query(
            &format!("SELECT {UPLOAD_COLUMNS} FROM uploads WHERE id = $1"),
            &[Value::Text(id.to_string())],
        )
        .map_err(db_error)?;
    Ok(rows.rows.first().map(|r| upload_from_row(r)))
}

/// Records `part` as appended to `upload`, moving its offset to `to`;
/// false when another request moved the offset first (the caller then
/// discards its part).
pub fn advance_upload(
    conn: &Connection,
    upload: &PendingUpload,
    part: &str,
    to: i64,
) -> Result<bool, Problem> {
    let mut keys = upload.part_keys.clone();
    keys.push(part.to_string());
    let changed = conn
        .execute(
            "UPDATE uploads SET received = $3, part_keys = $4 WHERE id = $1 AND received = $2",
            &[
                Value::Text(upload.id.clone()),
                Value::Integer(upload.received),
                Value::Integer(to),
                Value::Json(serde_json::to_string(&keys).expect("keys serialize")),
            ],
        )
        .map_err(db_error)?;
    Ok(changed == 1)
}

pub fn complete_upload(tx: &Transaction, id: &str, media_id: &str) -> Result<(), Problem> {
    tx.execute(
        "UPDATE uploads SET media_id = $2 WHERE id = $1",
        &[
            Value::Text(id.to_string()),
            Value::Text(media_id.to_string()),
        ],
    )
    .map_err(db_error)?;
    Ok(())
}

pub fn delete_upload(conn: &Connection, id: &str) -> Result<(), Problem> {
    conn.execute(
        "DELETE FROM uploads WHERE id = $1",
        &[Value::Text(id.to_string())],
    )
    .map_err(db_error)?;
    Ok(())
}

/// Uploads whose time ran out, oldest first.
pub fn expired_uploads(conn: &Connection, limit: u32) -> Result<Vec<PendingUpload>, Problem> {
    let rows = conn
        .query(
            &format!(
                "SELECT {UPLOAD_COLUMNS} FROM uploads WHERE expires_at < $1 ORDER BY expires_at LIMIT $2"
            ),
            &[
                Value::Timestamp(now_rfc3339()),
                Value::Integer(i64::from(limit)),
            ],
        )
        .map_err(db_error)?;
    Ok(rows.rows.iter().map(|r| upload_from_row(r)).collect())
}
