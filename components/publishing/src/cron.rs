//! Every second: announces distributions that became due (an embargo or a
//! retry delay ended, a channel was turned back on) and those whose
//! worker's lease ran out (its host died mid-delivery).

use folio_guest::columns::text;
use folio_guest::http::Problem;
use folio_guest::util::now_ms;
use folio_guest::{Connection, Value};

use crate::distributions;
use crate::store::db_error;

const PER_RUN: i64 = 1000;

pub fn run(db: &Connection) -> Result<usize, Problem> {
    let now = now_ms();
    let tx = db.begin().map_err(db_error)?;
    // Two queries, each answered from `distributions_due` (status, time),
    // rather than one whose OR would read the whole table every second.
    let due = tx
        .query(
            "SELECT d.id, d.content_id FROM distributions d \
             JOIN channels c ON c.id = d.channel_id AND c.status = 'active' \
             WHERE d.status IN ('pending', 'retrying') AND d.next_attempt_at <= $1 \
             AND (d.announced_at IS NULL OR d.announced_at < $2) \
             ORDER BY d.next_attempt_at LIMIT $3",
            &[
                Value::Integer(now),
                // An announcement not taken up within a lease is made again.
                Value::Integer(now - crate::config::lease_ms()),
                Value::Integer(PER_RUN),
            ],
        )
        .map_err(db_error)?;
    let orphaned = tx
        .query(
            "SELECT d.id, d.content_id FROM distributions d \
             JOIN channels c ON c.id = d.channel_id AND c.status = 'active' \
             WHERE d.status = 'delivering' AND d.lease_until < $1 \
             AND (d.announced_at IS NULL OR d.announced_at < d.lease_until) LIMIT $2",
            &[Value::Integer(now), Value::Integer(PER_RUN)],
        )
        .map_err(db_error)?;
    let mut rows: Vec<(String, String)> = due
        .rows
        .iter()
        .chain(&orphaned.rows)
        .map(|r| (text(&r[1]), text(&r[0])))
        .collect();
    rows.sort();
    let announced = rows.len();
    let mut batch: Vec<String> = Vec::new();
    let mut key = String::new();
    for (content_id, id) in rows {
        if content_id != key && !batch.is_empty() {
            distributions::announce(&tx, &batch, &key)?;
            batch.clear();
        }
        key = content_id;
        batch.push(id);
    }
    distributions::announce(&tx, &batch, &key)?;
    tx.commit().map_err(db_error)?;
    Ok(announced)
}
