//! The backend-neutral face of a database: values, rows, errors, and the
//! dispatch to SQLite or PostgreSQL.

use crate::limits::*;
use crate::{PendingEvent, postgres, sqlite};

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
    Boolean(bool),
    Json(String),
    Timestamp(String),
}

#[derive(Debug, Default, PartialEq)]
pub struct Rows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SqlError {
    InvalidStatement(String),
    ConstraintViolation(String),
    TooLarge(String),
    Unavailable(String),
    /// The sandbox refused the statement: it would reach past the component's own database.
    NotAllowed(String),
}

impl std::fmt::Display for SqlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SqlError::InvalidStatement(m) => write!(f, "invalid statement: {m}"),
            SqlError::ConstraintViolation(m) => write!(f, "constraint violation: {m}"),
            SqlError::TooLarge(m) => write!(f, "too large: {m}"),
            SqlError::Unavailable(m) => write!(f, "database unavailable: {m}"),
            SqlError::NotAllowed(m) => write!(f, "not allowed: {m}"),
        }
    }
}

impl std::error::Error for SqlError {}

impl From<sqlx::Error> for SqlError {
    fn from(e: sqlx::Error) -> SqlError {
        use sqlx::error::ErrorKind;
        match &e {
            sqlx::Error::Database(db) => match db.kind() {
                ErrorKind::UniqueViolation
                | ErrorKind::ForeignKeyViolation
                | ErrorKind::NotNullViolation
                | ErrorKind::CheckViolation => {
                    SqlError::ConstraintViolation(db.message().to_string())
                }
                _ if db.code().as_deref() == Some(SQLITE_AUTH) => {
                    SqlError::NotAllowed(db.message().to_string())
                }
                _ if is_transient(db.code().as_deref()) => {
                    SqlError::Unavailable(db.message().to_string())
                }
                _ => SqlError::InvalidStatement(db.message().to_string()),
            },
            sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::Decode(_)
            | sqlx::Error::Encode(_)
            | sqlx::Error::TypeNotFound { .. }
            | sqlx::Error::ColumnIndexOutOfBounds { .. }
            | sqlx::Error::ColumnNotFound(_) => SqlError::InvalidStatement(e.to_string()),
            _ => SqlError::Unavailable(e.to_string()),
        }
    }
}

/// SQLite's result code for a statement its authorizer refused (SQLSTATEs
/// have five characters, so no Postgres error has it).
const SQLITE_AUTH: &str = "23";

/// SQLSTATEs (Postgres) and result codes (SQLite) that a retry may cure.
fn is_transient(code: Option<&str>) -> bool {
    matches!(
        code,
        Some("5" | "6" | "40001" | "40P01" | "53300" | "57P01" | "57P02" | "57P03")
    ) || code.is_some_and(|c| c.starts_with("08"))
}

#[derive(Clone)]
pub enum Database {
    Sqlite(sqlite::Db),
    Postgres(postgres::Db),
}

pub enum Tx {
    /// Holds the database's writer lock until it ends (see `sqlite::Db`).
    Sqlite(
        sqlx::Transaction<'static, sqlx::Sqlite>,
        tokio::sync::OwnedMutexGuard<()>,
    ),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

fn check_input(statement: &str, params: &[Value]) -> Result<(), SqlError> {
    if statement.len() > MAX_STATEMENT_BYTES {
        return Err(SqlError::TooLarge(format!(
            "statement is {} bytes; the limit is {MAX_STATEMENT_BYTES}",
            statement.len()
        )));
    }
    if params.len() > MAX_PARAMS {
        return Err(SqlError::TooLarge(format!(
            "{} parameters; the limit is {MAX_PARAMS}",
            params.len()
        )));
    }
    Ok(())
}

/// Reads a result set, decoding each row with `decode`, within the limits.
pub(crate) async fn collect_rows<'e, DB, E>(
    query: sqlx::query::Query<'static, DB, <DB as sqlx::Database>::Arguments>,
    executor: E,
    decode: fn(&DB::Row) -> Result<Vec<Value>, SqlError>,
) -> Result<Rows, SqlError>
where
    DB: sqlx::Database,
    E: sqlx::Executor<'e, Database = DB>,
    <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
{
    use futures_util::TryStreamExt;
    use sqlx::{Column, Row};

    let mut stream = query.fetch(executor);
    let mut rows = Rows::default();
    let mut budget = RowBudget::new();
    while let Some(row) = stream.try_next().await? {
        if rows.columns.is_empty() {
            rows.columns = row.columns().iter().map(|c| c.name().to_string()).collect();
        }
        let values = decode(&row)?;
        budget.admit(rows.rows.len(), &values)?;
        rows.rows.push(values);
    }
    Ok(rows)
}

/// Bounds a result set while it is read, so no query can exhaust the host.
struct RowBudget {
    bytes: usize,
}

impl RowBudget {
    fn new() -> Self {
        RowBudget { bytes: 0 }
    }

    fn admit(&mut self, rows: usize, row: &[Value]) -> Result<(), SqlError> {
        if rows >= MAX_RESULT_ROWS {
            return Err(SqlError::TooLarge(format!(
                "more than {MAX_RESULT_ROWS} rows; page with LIMIT/OFFSET or a cursor"
            )));
        }
        self.bytes += row.iter().map(value_size).sum::<usize>();
        if self.bytes > MAX_RESULT_BYTES {
            return Err(SqlError::TooLarge(format!(
                "result is over {MAX_RESULT_BYTES} bytes"
            )));
        }
        Ok(())
    }
}

fn value_size(v: &Value) -> usize {
    match v {
        Value::Text(s) | Value::Json(s) | Value::Timestamp(s) => s.len(),
        Value::Blob(b) => b.len(),
        _ => 8,
    }
}

impl Database {
    pub async fn query(&self, statement: &str, params: Vec<Value>) -> Result<Rows, SqlError> {
        check_input(statement, &params)?;
        match self {
            Database::Sqlite(db) => {
                let mut conn = db.pool.acquire().await?;
                sqlite::query(&mut conn, statement, params).await
            }
            Database::Postgres(db) => postgres::query(&db.pool, statement, params).await,
        }
    }

    pub async fn execute(&self, statement: &str, params: Vec<Value>) -> Result<u64, SqlError> {
        check_input(statement, &params)?;
        match self {
            Database::Sqlite(db) => {
                let _writer = db.writer.lock().await;
                let mut conn = db.pool.acquire().await?;
                sqlite::execute(&mut conn, statement, params).await
            }
            Database::Postgres(db) => postgres::execute(&db.pool, statement, params).await,
        }
    }

    pub async fn begin(&self) -> Result<Tx, SqlError> {
        Ok(match self {
            Database::Sqlite(db) => {
                let writer = db.writer.clone().lock_owned().await;
                Tx::Sqlite(db.pool.begin().await?, writer)
            }
            Database::Postgres(db) => Tx::Postgres(db.pool.begin().await?),
        })
    }
}

impl Tx {
    pub fn dialect(&self) -> crate::Dialect {
        match self {
            Tx::Sqlite(..) => crate::Dialect::Sqlite,
            Tx::Postgres(_) => crate::Dialect::Postgres,
        }
    }

    pub async fn query(&mut self, statement: &str, params: Vec<Value>) -> Result<Rows, SqlError> {
        check_input(statement, &params)?;
        match self {
            Tx::Sqlite(tx, _) => sqlite::query(tx, statement, params).await,
            Tx::Postgres(tx) => postgres::query(&mut **tx, statement, params).await,
        }
    }

    pub async fn execute(&mut self, statement: &str, params: Vec<Value>) -> Result<u64, SqlError> {
        check_input(statement, &params)?;
        match self {
            Tx::Sqlite(tx, _) => sqlite::execute(tx, statement, params).await,
            Tx::Postgres(tx) => postgres::execute(&mut **tx, statement, params).await,
        }
    }

    pub async fn script(&mut self, script: &str) -> Result<(), SqlError> {
        match self {
            Tx::Sqlite(tx, _) => sqlite::script(tx, script).await,
            Tx::Postgres(tx) => {
                let sql = sqlx::raw_sql(sqlx::AssertSqlSafe(script.to_string()));
                sql.execute(&mut **tx).await?;
                Ok(())
            }
        }
    }

    pub async fn commit(self) -> Result<(), SqlError> {
        match self {
            Tx::Sqlite(tx, _) => tx.commit().await?,
            Tx::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }

    pub async fn rollback(self) -> Result<(), SqlError> {
        match self {
            Tx::Sqlite(tx, _) => tx.rollback().await?,
            Tx::Postgres(tx) => tx.rollback().await?,
        }
        Ok(())
    }

    /// Writes `events` to the outbox, many rows per statement.
    pub(crate) async fn insert_outbox(&mut self, events: &[PendingEvent]) -> Result<(), SqlError> {
        const COLUMNS: usize = 10;
        const ROWS_PER_STATEMENT: usize = 500;
        let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        for chunk in events.chunks(ROWS_PER_STATEMENT) {
            let mut statement = String::from(
                "INSERT INTO _folio_outbox (id, topic, key, type, source, subject, time, datacontenttype, data, traceparent) VALUES ",
            );
            let mut params = Vec::with_capacity(chunk.len() * COLUMNS);
            for (row, pending) in chunk.iter().enumerate() {
                let event = &pending.event;
                if row > 0 {
                    statement.push(',');
                }
                let first = row * COLUMNS + 1;
                let placeholders: Vec<String> =
                    (first..first + COLUMNS).map(|n| format!("${n}")).collect();
                statement.push_str(&format!("({})", placeholders.join(", ")));
                params.extend([
                    Value::Text(pending.id.clone()),
                    Value::Text(event.topic.clone()),
                    Value::Text(event.key.clone()),
                    Value::Text(event.event_type.clone()),
                    Value::Text(pending.source.clone()),
                    event.subject.clone().map_or(Value::Null, Value::Text),
                    Value::Text(time.clone()),
                    Value::Text(event.datacontenttype.clone()),
                    Value::Blob(event.data.clone()),
                    pending.traceparent.clone().map_or(Value::Null, Value::Text),
                ]);
            }
            self.execute(&statement, params).await?;
        }
        Ok(())
    }
}

pub(crate) fn valid_json(text: String) -> Result<String, SqlError> {
    match serde_json::from_str::<serde::de::IgnoredAny>(&text) {
        Ok(_) => Ok(text),
        Err(e) => Err(SqlError::InvalidStatement(format!(
            "json parameter is not JSON: {e}"
        ))),
    }
}

pub(crate) fn parse_timestamp(text: &str) -> Result<chrono::DateTime<chrono::Utc>, SqlError> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| {
            SqlError::InvalidStatement(format!("timestamp parameter `{text}` is not RFC 3339: {e}"))
        })
}

/// Timestamps stored as text sort and compare correctly only in one zone and format.
pub(crate) fn utc_rfc3339(text: &str) -> Result<String, SqlError> {
    Ok(parse_timestamp(text)?.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
}
