//! The production backend: a PostgreSQL schema per component database, owned
//! by a login role per component that holds no rights anywhere else, so one
//! component can never read another's tables.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sha2::{Digest, Sha256};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgConnectOptions, PgPoolOptions, PgRow, PgTypeInfo};
use sqlx::{AssertSqlSafe, Column, Executor, PgPool, Postgres, Row, TypeInfo, ValueRef};

use crate::backend::{Rows, SqlError, Value, collect_rows, parse_timestamp, valid_json};

#[derive(Clone)]
pub struct Db {
    pub pool: PgPool,
}

/// `folio_<component>` for the `default` database, `folio_<component>__<database>` otherwise.
fn schema_name(component: &str, database: &str) -> String {
    let base = format!("folio_{}", ident(component));
    if database == "default" {
        base
    } else {
        format!("{base}__{}", ident(database))
    }
}

fn ident(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

pub async fn open(
    admin_url: &str,
    component: &str,
    database: &str,
    max_connections: u32,
) -> anyhow::Result<Db> {
    let admin_options = PgConnectOptions::from_str(admin_url).context("invalid postgres url")?;
    let role = format!("folio_{}", ident(component));
    let schema = schema_name(component, database);
    // Derived, not random: every host of a cluster computes the same password.
    let password = hex::encode(Sha256::digest(format!("{admin_url}\0{role}").as_bytes()));

    let admin = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(admin_options.clone())
        .await
        .context("cannot connect as the admin user")?;
    let setup = format!(
        r#"DO $$ BEGIN
             IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN
               CREATE ROLE "{role}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
             END IF;
           END $$;
           ALTER ROLE "{role}" WITH LOGIN PASSWORD '{password}';
           CREATE SCHEMA IF NOT EXISTS "{schema}" AUTHORIZATION "{role}";
           REVOKE ALL ON SCHEMA "{schema}" FROM PUBLIC;"#
    );
    let mut attempt = 0;
    loop {
        // Two hosts starting together may race to create the role; the loser retries.
        match sqlx::raw_sql(AssertSqlSafe(setup.clone()))
            .execute(&admin)
            .await
        {
            Ok(_) => break,
            Err(e) if attempt < 3 => {
                attempt += 1;
                tracing::warn!("postgres setup for {role} failed, retrying: {e}");
                tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
            }
            Err(e) => return Err(e).context("cannot create the component's role and schema"),
        }
    }
    admin.close().await;

    let options = admin_options
        .username(&role)
        .password(&password)
        .options([("search_path", schema.as_str())]);
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .test_before_acquire(true)
        .connect_with(options)
        .await
        .with_context(|| format!("cannot connect as role {role}"))?;
    Ok(Db { pool })
}

/// A NULL parameter whose type Postgres infers from the statement, so it
/// fits any column.
struct UntypedNull;

impl sqlx::Type<Postgres> for UntypedNull {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(sqlx::postgres::types::Oid(0))
    }
}

impl sqlx::Encode<'_, Postgres> for UntypedNull {
    fn encode_by_ref(&self, _buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        Ok(IsNull::Yes)
    }
}

type Query = sqlx::query::Query<'static, Postgres, <Postgres as sqlx::Database>::Arguments>;

fn build(statement: &str, params: Vec<Value>) -> Result<Query, SqlError> {
    // sqlx caches a prepared statement per connection by its text alone, with
    // the parameter types of its first use. A NULL's type is inferred from
    // the statement (say int4), so a later run binding an int8 there would
    // fail; statements with a NULL are prepared afresh instead.
    let has_null = params.iter().any(|p| matches!(p, Value::Null));
    let mut query = sqlx::query(AssertSqlSafe(statement.to_string())).persistent(!has_null);
    for param in params {
        query = match param {
            Value::Null => query.bind(UntypedNull),
            Value::Integer(i) => query.bind(i),
            Value::Real(r) => query.bind(r),
            Value::Text(t) => query.bind(t),
            Value::Blob(b) => query.bind(b),
            Value::Boolean(b) => query.bind(b),
            Value::Json(j) => {
                let value: serde_json::Value = serde_json::from_str(&valid_json(j)?)
                    .map_err(|e| SqlError::InvalidStatement(e.to_string()))?;
                query.bind(sqlx::types::Json(value))
            }
            Value::Timestamp(t) => query.bind(parse_timestamp(&t)?),
        };
    }
    Ok(query)
}

pub async fn query<'e, E>(
    executor: E,
    statement: &str,
    params: Vec<Value>,
) -> Result<Rows, SqlError>
where
    E: Executor<'e, Database = Postgres>,
{
    collect_rows(build(statement, params)?, executor, decode).await
}

pub async fn execute<'e, E>(
    executor: E,
    statement: &str,
    params: Vec<Value>,
) -> Result<u64, SqlError>
where
    E: Executor<'e, Database = Postgres>,
{
    Ok(build(statement, params)?
        .execute(executor)
        .await?
        .rows_affected())
}

fn decode(row: &PgRow) -> Result<Vec<Value>, SqlError> {
    use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
    let mut values = Vec::with_capacity(row.len());
    for (i, column) in row.columns().iter().enumerate() {
        if row.try_get_raw(i)?.is_null() {
            values.push(Value::Null);
            continue;
        }
        let value = match column.type_info().name() {
            "INT2" => Value::Integer(row.try_get::<i16, _>(i)?.into()),
            "INT4" => Value::Integer(row.try_get::<i32, _>(i)?.into()),
            "INT8" => Value::Integer(row.try_get(i)?),
            "FLOAT4" => Value::Real(row.try_get::<f32, _>(i)?.into()),
            "FLOAT8" => Value::Real(row.try_get(i)?),
            "BOOL" => Value::Boolean(row.try_get(i)?),
            "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "CHAR" => Value::Text(row.try_get(i)?),
            "UUID" => Value::Text(row.try_get::<uuid::Uuid, _>(i)?.to_string()),
            "BYTEA" => Value::Blob(row.try_get(i)?),
            "JSON" | "JSONB" => Value::Json(row.try_get::<serde_json::Value, _>(i)?.to_string()),
            "TIMESTAMPTZ" => Value::Timestamp(
                row.try_get::<DateTime<Utc>, _>(i)?
                    .to_rfc3339_opts(SecondsFormat::Micros, true),
            ),
            "TIMESTAMP" => Value::Timestamp(
                row.try_get::<NaiveDateTime, _>(i)?
                    .and_utc()
                    .to_rfc3339_opts(SecondsFormat::Micros, true),
            ),
            "DATE" => Value::Text(row.try_get::<NaiveDate, _>(i)?.to_string()),
            "VOID" => Value::Null,
            other => {
                return Err(SqlError::InvalidStatement(format!(
                    "column `{}` has type {other}, which the interface does not carry; cast it (e.g. `::text` or `::float8`)",
                    column.name()
                )));
            }
        };
        values.push(value);
    }
    Ok(values)
}
