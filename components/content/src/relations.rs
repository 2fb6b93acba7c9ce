//! Typed links between items: `related`, `series` (the target is the
//! series this item belongs to), `translationOf` and `partOf`. A link is
//! stored once, from its source; the target sees it as incoming.

use folio_guest::http::Problem;
use folio_guest::util::now_rfc3339;
use folio_guest::{Connection, Transaction, Value};

use crate::model::Content;
use crate::store::{self, db_error, text};

pub const KINDS: [&str; 4] = ["related", "series", "translationOf", "partOf"];

pub enum Direction {
    Outgoing,
    Incoming,
}

pub struct Relation {
    pub kind: String,
    pub direction: Direction,
    pub other: Content,
    pub created_at: String,
}

/// Adds the link; false if it was already there.
pub fn add(tx: &Transaction, from: &str, kind: &str, to: &str) -> Result<bool, Problem> {
    let existing = tx
        .query(
            "SELECT 1 FROM content_relations WHERE from_id = $1 AND kind = $2 AND to_id = $3",
            &link(from, kind, to),
        )
        .map_err(db_error)?;
    if !existing.rows.is_empty() {
        return Ok(false);
    }
    let mut values = link(from, kind, to);
    values.push(Value::Timestamp(now_rfc3339()));
    tx.execute(
        "INSERT INTO content_relations (from_id, kind, to_id, created_at) VALUES ($1, $2, $3, $4)",
        &values,
    )
    .map_err(db_error)?;
    Ok(true)
}

/// Removes the link; false if there was none.
pub fn remove(tx: &Transaction, from: &str, kind: &str, to: &str) -> Result<bool, Problem> {
    let removed = tx
        .execute(
            "DELETE FROM content_relations WHERE from_id = $1 AND kind = $2 AND to_id = $3",
            &link(from, kind, to),
        )
        .map_err(db_error)?;
    Ok(removed > 0)
}

fn link(from: &str, kind: &str, to: &str) -> Vec<Value> {
    vec![
        Value::Text(from.to_string()),
        Value::Text(kind.to_string()),
        Value::Text(to.to_string()),
    ]
}

/// The item's links in both directions (or of one `kind`), with the item at
/// the other end, oldest first.
pub fn of(db: &Connection, id: &str, kind: Option<&str>) -> Result<Vec<Relation>, Problem> {
    let columns = store::COLUMNS
        .split(", ")
        .map(|c| format!("c.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let kind_filter = if kind.is_some() {
        " AND r.kind = $2"
    } else {
        ""
    };
    let mut params = vec![Value::Text(id.to_string())];
    if let Some(kind) = kind {
        params.push(Value::Text(kind.to_string()));
    }
    let mut relations = Vec::new();
    for (direction, near, far) in [
        (Direction::Outgoing, "from_id", "to_id"),
        (Direction::Incoming, "to_id", "from_id"),
    ] {
        let rows = db
            .query(
                &format!(
                    "SELECT r.kind, r.created_at, {columns} FROM content_relations r \
                     JOIN content c ON c.id = r.{far} \
                     WHERE r.{near} = $1{kind_filter} ORDER BY r.created_at, r.kind, c.id"
                ),
                &params,
            )
            .map_err(db_error)?;
        for row in &rows.rows {
            relations.push(Relation {
                kind: text(&row[0]),
                direction: match direction {
                    Direction::Outgoing => Direction::Outgoing,
                    Direction::Incoming => Direction::Incoming,
                },
                created_at: text(&row[1]),
                other: store::from_row(&row[2..]),
            });
        }
    }
    Ok(relations)
}
