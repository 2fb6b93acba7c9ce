//! The embedded backend: one SQLite file per component and database, in WAL
//! mode, so a killed host loses no committed transaction. Every connection
//! is confined to its file (see `sandbox`).

mod sandbox;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Column, Row, Sqlite, SqliteConnection, SqlitePool, TypeInfo, ValueRef};

use tokio::sync::Mutex;

use crate::backend::{Rows, SqlError, Value, collect_rows};
use crate::statement::to_sqlite_placeholders;

/// SQLite allows one writer at a time and makes the others poll with
/// sleeps of up to 100 ms. Writers of this process queue on `writer`
/// instead, so the next one starts the moment the last one finishes.
#[derive(Clone)]
pub struct Db {
    pub pool: SqlitePool,
    pub writer: Arc<Mutex<()>>,
}

pub async fn open(path: &Path) -> anyhow::Result<Db> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5));
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(5))
        .after_connect(|conn, _| Box::pin(sandbox::confine(conn)))
        .connect_with(options)
        .await?;
    Ok(Db {
        pool,
        writer: Arc::default(),
    })
}

type Query = sqlx::query::Query<'static, Sqlite, <Sqlite as sqlx::Database>::Arguments>;

fn build(statement: &str, params: Vec<Value>) -> Result<Query, SqlError> {
    let mut query = sqlx::query(AssertSqlSafe(to_sqlite_placeholders(statement)));
    for param in params {
        query = match param {
            Value::Null => query.bind(None::<i64>),
            Value::Integer(i) => query.bind(i),
            Value::Real(r) => query.bind(r),
            Value::Text(t) => query.bind(t),
            Value::Blob(b) => query.bind(b),
            Value::Boolean(b) => query.bind(b),
            Value::Json(j) => query.bind(crate::backend::valid_json(j)?),
            Value::Timestamp(t) => query.bind(crate::backend::utc_rfc3339(&t)?),
        };
    }
    Ok(query)
}

pub async fn query(
    conn: &mut SqliteConnection,
    statement: &str,
    params: Vec<Value>,
) -> Result<Rows, SqlError> {
    let rows = collect_rows(build(statement, params)?, &mut *conn, decode).await;
    explain_refusal(conn, rows).await
}

pub async fn execute(
    conn: &mut SqliteConnection,
    statement: &str,
    params: Vec<Value>,
) -> Result<u64, SqlError> {
    let done = build(statement, params)?.execute(&mut *conn).await;
    let changed = done
        .map(|done| done.rows_affected())
        .map_err(SqlError::from);
    explain_refusal(conn, changed).await
}

/// Runs statements separated by `;`, without parameters.
pub async fn script(conn: &mut SqliteConnection, script: &str) -> Result<(), SqlError> {
    let done = sqlx::raw_sql(AssertSqlSafe(script.to_string()))
        .execute(&mut *conn)
        .await;
    explain_refusal(conn, done.map(|_| ()).map_err(SqlError::from)).await
}

/// Reports a statement the sandbox refused as `NotAllowed`, with the
/// sandbox's reason: SQLite says only "not authorized", and for a refused
/// function it does not even return SQLITE_AUTH.
async fn explain_refusal<T>(
    conn: &mut SqliteConnection,
    result: Result<T, SqlError>,
) -> Result<T, SqlError> {
    let Err(error) = result else {
        return result;
    };
    match sandbox::take_refusal(conn).await {
        Some(reason) => Err(SqlError::NotAllowed(reason)),
        None => Err(error),
    }
}

fn decode(row: &SqliteRow) -> Result<Vec<Value>, SqlError> {
    let mut values = Vec::with_capacity(row.len());
    for (i, column) in row.columns().iter().enumerate() {
        let raw = row.try_get_raw(i)?;
        if raw.is_null() {
            values.push(Value::Null);
            continue;
        }
        let declared = column.type_info().name().to_string();
        let stored = raw.type_info().name().to_string();
        let value = match (declared.as_str(), stored.as_str()) {
            ("BOOLEAN", "INTEGER") => Value::Boolean(row.try_get::<i64, _>(i)? != 0),
            ("DATETIME", "TEXT") => Value::Timestamp(row.try_get(i)?),
            (_, "INTEGER") => Value::Integer(row.try_get(i)?),
            (_, "REAL") => Value::Real(row.try_get(i)?),
            (_, "BLOB") => Value::Blob(row.try_get(i)?),
            _ => Value::Text(row.try_get(i)?),
        };
        values.push(value);
    }
    Ok(values)
}
