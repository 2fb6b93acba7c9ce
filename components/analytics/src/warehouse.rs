//! The warehouse: raw events as Parquet files in the `warehouse` bucket,
//! `events/date=YYYY-MM-DD/part-<first>-<last>.parquet`, which DuckDB,
//! ClickHouse, Spark or Trino read straight from disk or S3.
//!
//! Rows are first claimed for a named file in one transaction, then the
//! file is written from exactly the claimed rows; a crash between the two
//! leaves the file pending, and the next run writes the same file again.

use std::sync::Arc;

use folio_guest::blobs::{Bucket, Upload};
use folio_guest::columns::{integer, optional_integer, optional_text, text};
use folio_guest::http::Problem;
use folio_guest::util::now_ms;
use folio_guest::{Connection, Value};
use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

use crate::config;
use crate::store::{date, db_error};

pub const BUCKET: &str = "warehouse";
const ROWS_PER_RUN: i64 = 50_000;
const FILES_PER_RUN: i64 = 16;

const SCHEMA: &str = "message event {
    REQUIRED INT64 at (TIMESTAMP(MILLIS,true));
    REQUIRED BYTE_ARRAY name (UTF8);
    OPTIONAL BYTE_ARRAY host (UTF8);
    OPTIONAL BYTE_ARRAY path (UTF8);
    OPTIONAL BYTE_ARRAY referrer (UTF8);
    OPTIONAL BYTE_ARRAY content_id (UTF8);
    OPTIONAL BYTE_ARRAY content_type (UTF8);
    OPTIONAL BYTE_ARRAY category (UTF8);
    OPTIONAL BYTE_ARRAY device (UTF8);
    OPTIONAL BYTE_ARRAY utm_source (UTF8);
    OPTIONAL BYTE_ARRAY utm_medium (UTF8);
    OPTIONAL BYTE_ARRAY utm_campaign (UTF8);
    OPTIONAL BYTE_ARRAY visitor (UTF8);
    OPTIONAL BYTE_ARRAY user_id (UTF8);
    OPTIONAL BYTE_ARRAY subject (UTF8);
    OPTIONAL INT64 seconds;
    OPTIONAL INT64 depth;
    OPTIONAL BYTE_ARRAY props (JSON);
}";
const COLUMNS: &str = "occurred_at, name, host, path, referrer, content_id, content_type, category, device, \
    utm_source, utm_medium, utm_campaign, visitor, user_id, subject, seconds, depth, props";
const INTEGER_COLUMNS: [usize; 3] = [0, 15, 16];

/// Claims due rows for files and writes every pending file. Returns the
/// number of files written.
pub fn export(db: &Connection) -> Result<usize, Problem> {
    claim(db)?;
    let pending = db
        .query(
            "SELECT name FROM warehouse_files WHERE state = 'pending' ORDER BY name LIMIT $1",
            &[Value::Integer(FILES_PER_RUN)],
        )
        .map_err(db_error)?;
    let bucket = Bucket::open(BUCKET).map_err(storage_error)?;
    let mut written = 0;
    for r in &pending.rows {
        write(db, &bucket, &text(&r[0]))?;
        written += 1;
    }
    Ok(written)
}

/// Unexported rows become due when the oldest has waited the flush interval
/// or a full run's worth is waiting.
fn claim(db: &Connection) -> Result<(), Problem> {
    let rows = db
        .query(
            "SELECT seq, occurred_at FROM events WHERE export_file IS NULL ORDER BY seq LIMIT $1",
            &[Value::Integer(ROWS_PER_RUN)],
        )
        .map_err(db_error)?;
    if rows.rows.is_empty() {
        return Ok(());
    }
    let oldest = rows.rows.iter().map(|r| integer(&r[1])).min().unwrap_or(0);
    let due = rows.rows.len() as i64 >= ROWS_PER_RUN
        || oldest <= now_ms() - config::warehouse_flush_secs() * 1000;
    if !due {
        return Ok(());
    }
    let mut days: std::collections::BTreeMap<i64, (i64, i64)> = Default::default();
    for r in &rows.rows {
        let (seq, day) = (integer(&r[0]), integer(&r[1]).div_euclid(86_400_000));
        let span = days.entry(day).or_insert((seq, seq));
        span.0 = span.0.min(seq);
        span.1 = span.1.max(seq);
    }
    let tx = db.begin().map_err(db_error)?;
    for (day, (first, last)) in days {
        let day_date = date(day * 86_400);
        let name = format!("events/date={day_date}/part-{first:012}-{last:012}.parquet");
        let claimed = tx
            .execute(
                "UPDATE events SET export_file = $1 WHERE export_file IS NULL AND seq >= $2 AND seq <= $3 \
                 AND occurred_at >= $4 AND occurred_at < $5",
                &[
                    Value::Text(name.clone()),
                    Value::Integer(first),
                    Value::Integer(last),
                    Value::Integer(day * 86_400_000),
                    Value::Integer((day + 1) * 86_400_000),
                ],
            )
            .map_err(db_error)?;
        if claimed > 0 {
            tx.execute(
                "INSERT INTO warehouse_files (name, day, state, rows, bytes, created_at) \
                 VALUES ($1, $2, 'pending', $3, 0, $4) ON CONFLICT (name) DO NOTHING",
                &[
                    Value::Text(name),
                    Value::Text(day_date),
                    Value::Integer(claimed as i64),
                    Value::Integer(now_ms()),
                ],
            )
            .map_err(db_error)?;
        }
    }
    tx.commit().map_err(db_error)
}

fn write(db: &Connection, bucket: &Bucket, name: &str) -> Result<(), Problem> {
    let rows = db
        .query(
            &format!("SELECT {COLUMNS} FROM events WHERE export_file = $1 ORDER BY seq"),
            &[Value::Text(name.into())],
        )
        .map_err(db_error)?;
    let bytes = encode(&rows.rows)
        .map_err(|e| Problem::new(500, "Internal error", format!("parquet: {e}")))?;
    let upload = bucket
        .put(name, "application/vnd.apache.parquet")
        .map_err(storage_error)?;
    for chunk in bytes.chunks(4 << 20) {
        upload.write(chunk).map_err(storage_error)?;
    }
    Upload::finish(upload).map_err(storage_error)?;
    db.execute(
        "UPDATE warehouse_files SET state = 'written', rows = $2, bytes = $3 WHERE name = $1",
        &[
            Value::Text(name.into()),
            Value::Integer(rows.rows.len() as i64),
            Value::Integer(bytes.len() as i64),
        ],
    )
    .map_err(db_error)?;
    Ok(())
}

/// One row group, Snappy-compressed columns.
pub fn encode(rows: &[Vec<Value>]) -> Result<Vec<u8>, parquet::errors::ParquetError> {
    let schema = Arc::new(parse_message_type(SCHEMA)?);
    let properties = Arc::new(
        WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build(),
    );
    let mut out = Vec::new();
    let mut writer = SerializedFileWriter::new(&mut out, schema, properties)?;
    let mut group = writer.next_row_group()?;
    let mut index = 0;
    while let Some(mut column) = group.next_column()? {
        let required = index < 2;
        let levels: Vec<i16> = rows
            .iter()
            .map(|r| i16::from(!matches!(r[index], Value::Null)))
            .collect();
        let levels = (!required).then_some(levels.as_slice());
        if INTEGER_COLUMNS.contains(&index) {
            let values: Vec<i64> = rows
                .iter()
                .filter_map(|r| optional_integer(&r[index]))
                .collect();
            column
                .typed::<Int64Type>()
                .write_batch(&values, levels, None)?;
        } else {
            let values: Vec<ByteArray> = rows
                .iter()
                .filter_map(|r| optional_text(&r[index]))
                .map(|s| ByteArray::from(s.into_bytes()))
                .collect();
            column
                .typed::<ByteArrayType>()
                .write_batch(&values, levels, None)?;
        }
        column.close()?;
        index += 1;
    }
    group.close()?;
    writer.close()?;
    Ok(out)
}

fn storage_error(e: folio_guest::blobs::Error) -> Problem {
    Problem::unavailable(format!("the warehouse bucket: {}", e.kind()))
}

/// Raw rows past the retention window, once their file is written.
pub fn prune(db: &Connection) -> Result<u64, Problem> {
    db.execute(
        "DELETE FROM events WHERE occurred_at < $1 AND export_file IN (SELECT name FROM warehouse_files WHERE state = 'written')",
        &[Value::Integer(now_ms() - config::raw_retention_secs() * 1000)],
    )
    .map_err(db_error)
}
