//! Bulk import: NDJSON, one item per line, as `POST /content` takes it plus
//! `id`, `status`, `authorId`, `createdAt` and `publishedAt`. Every line is
//! checked before anything is written, so a bad line (named by its number)
//! writes nothing. Items are then written 500 to a transaction, each with
//! its first revision, its counts and a `ContentImported` event, and the
//! job row records how far it got. An item without an `id` gets one derived
//! from the upload and its line, so sending the same upload again skips
//! what is already there instead of duplicating it.

use folio_guest::http::{JsonBody, Problem};
use folio_guest::util::{is_uuid, now_rfc3339, uuid_from_hash};
use folio_guest::{Connection, Value};
use serde_json::{Map, Value as Json, json};
use sha2::{Digest, Sha256};

use crate::events::{self, summary};
use crate::model::{Content, STATUSES};
use crate::store::{self, db_error};
use crate::{categories, input};

/// Items written per transaction.
const BATCH: usize = 500;
/// The longest line taken (an item's body is at most 1 MiB of HTML).
pub const MAX_LINE_BYTES: usize = 2 << 20;

/// The fields a line may carry besides those of `POST /content`.
const IMPORT_FIELDS: [&str; 5] = ["id", "status", "authorId", "createdAt", "publishedAt"];

pub struct Outcome {
    pub job: String,
    pub lines: usize,
    pub created: usize,
    pub skipped: usize,
}

/// Checks every line of `upload`, then writes the items as `admin`.
pub fn run(db: &Connection, upload: &[u8], admin: &str) -> Result<Outcome, Problem> {
    let upload_hash: [u8; 32] = Sha256::digest(upload).into();
    let now = now_rfc3339();
    let mut items = Vec::new();
    let mut lines_of = std::collections::HashMap::new();
    for (index, line) in upload.split(|b| *b == b'\n').enumerate() {
        let number = index + 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let item = parse_line(line, &upload_hash, number, admin, &now)
            .map_err(|p| p.with_extension("line", json!(number)))?;
        if let Some(first) = lines_of.insert(item.id.clone(), number) {
            return Err(
                Problem::invalid_field("id", format!("repeats the id of line {first}"))
                    .with_extension("line", json!(number)),
            );
        }
        items.push(item);
    }
    let mut wanted: Vec<String> = items.iter().flat_map(|c| c.categories.clone()).collect();
    wanted.sort();
    wanted.dedup();
    let missing = categories::missing(db, &wanted)?;
    if let Some(category) = missing.first() {
        let line = items
            .iter()
            .position(|c| c.categories.contains(category))
            .map(|i| i + 1);
        return Err(
            Problem::invalid_field("categories", format!("no such category: {category}"))
                .with_extension("line", json!(line)),
        );
    }

    let job = folio_guest::util::new_id();
    db.execute(
        "INSERT INTO content_imports (id, created_by, lines, created, skipped, state, created_at, updated_at) \
         VALUES ($1, $2, $3, 0, 0, 'running', $4, $4)",
        &[
            Value::Text(job.clone()),
            Value::Text(admin.to_string()),
            Value::Integer(items.len() as i64),
            Value::Timestamp(now.clone()),
        ],
    )
    .map_err(db_error)?;
    let (mut created, mut skipped) = (0, 0);
    for batch in items.chunks(BATCH) {
        let ids: Vec<String> = batch.iter().map(|c| c.id.clone()).collect();
        let present = store::existing_ids(db, &ids)?;
        let tx = db.begin().map_err(db_error)?;
        for item in batch.iter().filter(|c| !present.contains(&c.id)) {
            store::insert(&tx, item, &item.author_id)?;
            let mut data = summary(item);
            data["imported"] = json!(job);
            events::publish(&tx, "ContentImported", &item.id, data)?;
        }
        created += batch.len() - present.len();
        skipped += present.len();
        tx.execute(
            "UPDATE content_imports SET created = $2, skipped = $3, updated_at = $4 WHERE id = $1",
            &[
                Value::Text(job.clone()),
                Value::Integer(created as i64),
                Value::Integer(skipped as i64),
                Value::Timestamp(now_rfc3339()),
            ],
        )
        .map_err(db_error)?;
        tx.commit().map_err(db_error)?;
        // Imported items are announced to the list cache per batch, not by
        // their events (a hundred thousand of them would empty it as often).
        if batch
            .iter()
            .any(|c| c.status == "published" && !present.contains(&c.id))
        {
            crate::cache::lists_changed();
        }
    }
    db.execute(
        "UPDATE content_imports SET state = 'done', updated_at = $2 WHERE id = $1",
        &[Value::Text(job.clone()), Value::Timestamp(now_rfc3339())],
    )
    .map_err(db_error)?;
    Ok(Outcome {
        job,
        lines: items.len(),
        created,
        skipped,
    })
}

fn parse_line(
    line: &[u8],
    upload_hash: &[u8; 32],
    number: usize,
    admin: &str,
    now: &str,
) -> Result<Content, Problem> {
    if line.len() > MAX_LINE_BYTES {
        return Err(Problem::new(
            413,
            "Line too long",
            format!("a line may hold at most {MAX_LINE_BYTES} bytes"),
        ));
    }
    let mut object: Map<String, Json> = match serde_json::from_slice(line) {
        Ok(Json::Object(object)) => object,
        _ => return Err(Problem::bad_request("each line must be a JSON object")),
    };
    let extra: Map<String, Json> = IMPORT_FIELDS
        .iter()
        .filter_map(|f| Some((f.to_string(), object.remove(*f)?)))
        .collect();
    let extra = JsonBody::from_object(extra);
    let draft = input::full(&JsonBody::from_object(object))?;

    let id = match extra.optional_str("id")? {
        Some(id) if is_uuid(id) => id.to_lowercase(),
        Some(_) => return Err(Problem::invalid_field("id", "must be a UUID")),
        None => {
            let mut hash = Sha256::new();
            hash.update(upload_hash);
            hash.update(number.to_be_bytes());
            let digest: [u8; 32] = hash.finalize().into();
            uuid_from_hash(digest[..16].try_into().expect("16 bytes"))
        }
    };
    let status = extra.optional_str("status")?.unwrap_or("draft");
    if !STATUSES.contains(&status) {
        return Err(Problem::invalid_field(
            "status",
            format!("must be one of {}", STATUSES.join(", ")),
        ));
    }
    let author_id = match extra.optional_str("authorId")? {
        Some(author) if is_uuid(author) => author.to_lowercase(),
        Some(_) => return Err(Problem::invalid_field("authorId", "must be a user id")),
        None => admin.to_string(),
    };
    let time = |field: &str| -> Result<Option<String>, Problem> {
        extra
            .optional_str(field)?
            .map(|raw| input::time(field, raw))
            .transpose()
    };
    let created_at = time("createdAt")?.unwrap_or_else(|| now.to_string());
    let published_at = match (time("publishedAt")?, status) {
        (Some(at), _) => Some(at),
        (None, "published" | "archived") => Some(created_at.clone()),
        (None, _) => None,
    };
    Ok(Content {
        id,
        title: draft.title,
        description: draft.description,
        body: draft.body,
        status: status.to_string(),
        kind: draft.kind,
        categories: draft.categories,
        tags: draft.tags,
        media_ids: draft.media_ids,
        author_id,
        metadata: draft.metadata,
        published_at,
        scheduled_at: None,
        created_at: created_at.clone(),
        updated_at: created_at,
        version: 1,
        deleted_at: None,
        required_tier: draft.required_tier,
    })
}

/// A job as `GET /content/imports/{id}` shows it.
pub fn job(db: &Connection, id: &str) -> Result<Option<Json>, Problem> {
    let rows = db
        .query(
            "SELECT id, created_by, lines, created, skipped, state, created_at, updated_at \
             FROM content_imports WHERE id = $1",
            &[Value::Text(id.to_string())],
        )
        .map_err(db_error)?;
    Ok(rows.rows.first().map(|r| {
        json!({
            "id": store::text(&r[0]),
            "createdBy": store::text(&r[1]),
            "lines": store::integer(&r[2]),
            "created": store::integer(&r[3]),
            "skipped": store::integer(&r[4]),
            "state": store::text(&r[5]),
            "createdAt": store::text(&r[6]),
            "updatedAt": store::text(&r[7]),
        })
    }))
}
