//! SQL through `folio:platform/sql` from a guest vs the same sqlx calls made
//! natively, on embedded SQLite and (when `FOLIO_TEST_POSTGRES_URL` is set) Postgres.
//!
//!     cargo run --release -p folio-tests --bin folio-sql-bench -- [N]
//!
//! Both sides run N sequential point reads (by primary key, over 10,000 rows)
//! and N single-row inserts (autocommit). It prints numbers; it asserts nothing.

use std::time::Instant;

use folio_tests::{Host, HostOptions, client, wasm};
use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, Connection, Executor};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: i64 = std::env::args()
        .nth(1)
        .map(|v| v.parse())
        .transpose()?
        .unwrap_or(20_000);
    folio_tests::build_fixtures();
    println!("# SQL interface overhead ({n} sequential operations each)");
    println!(
        "| backend | operation | through the interface (ops/s) | native sqlx (ops/s) | interface / native time |"
    );
    println!("| --- | --- | ---: | ---: | ---: |");
    run("sqlite", None, n).await?;
    if let Ok(url) = std::env::var("FOLIO_TEST_POSTGRES_URL") {
        run("postgres", Some(url), n).await?;
    } else {
        println!(
            "| postgres | skipped: set FOLIO_TEST_POSTGRES_URL (bash infra/postgres.sh) | | | |"
        );
    }
    Ok(())
}

async fn run(backend: &str, postgres: Option<String>, n: i64) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let component = format!("bench-{}", std::process::id());
    let manifest = format!(
        "spin_manifest_version = 2\n[application]\nname = \"sql-bench\"\n[[trigger.http]]\nroute = \"/n/...\"\ncomponent = \"{component}\"\n[component.{component}]\nsource = \"{}\"\nsqlite_databases = [\"default\"]\n",
        wasm("folio_fixture_state").display()
    );
    // One request runs all N operations; give it room.
    let mut args = vec!["--request-timeout-ms".to_string(), "600000".to_string()];
    if let Some(url) = &postgres {
        let config = dir.path().join("runtime.toml");
        std::fs::write(
            &config,
            format!("[sqlite_database.default]\ntype = \"postgres\"\nurl = \"{url}\"\n"),
        )?;
        args.extend(["--runtime-config".into(), config.display().to_string()]);
    }
    let data_dir = dir.path().join("data");
    let host = Host::start_with(
        &manifest,
        HostOptions {
            args,
            data_dir: Some(data_dir.clone()),
            env: Vec::new(),
        },
    );
    let seed = match postgres {
        None => {
            "INSERT INTO notes (id, title) WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < 10000) SELECT x, 'note ' || x FROM s"
        }
        Some(_) => {
            "INSERT INTO notes (id, title) SELECT x, 'note ' || x FROM generate_series(1, 10000) x"
        }
    };
    post(&host, "/n/execute", json!({ "statement": seed })).await?;

    let mut guest = Vec::new();
    for op in ["read", "insert"] {
        let body = post(&host, "/n/bench", json!({ "op": op, "n": n })).await?;
        guest.push(body["seconds"].as_f64().unwrap());
    }
    drop(host);

    let native = match &postgres {
        None => {
            let path = data_dir.join(format!("sqlite/{component}.default.db"));
            let options = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(path)
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sqlx::sqlite::SqliteSynchronous::Normal);
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(8)
                .connect_with(options)
                .await?;
            native_loop(&pool, n, "?1", "?2").await?
        }
        Some(url) => {
            let schema = format!("folio_{}", component.replace('-', "_"));
            let options: sqlx::postgres::PgConnectOptions = url.parse()?;
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(5)
                .connect_with(options.options([("search_path", schema.as_str())]))
                .await?;
            let result = native_loop(&pool, n, "$1", "$2").await?;
            let mut admin = sqlx::PgConnection::connect(url).await?;
            admin
                .execute(AssertSqlSafe(format!("DROP SCHEMA \"{schema}\" CASCADE")))
                .await?;
            result
        }
    };
    for (i, op) in ["point read", "insert"].iter().enumerate() {
        println!(
            "| {backend} | {op} | {:.0} | {:.0} | {:.2}x |",
            n as f64 / guest[i],
            n as f64 / native[i],
            guest[i] / native[i]
        );
    }
    Ok(())
}

async fn native_loop<DB>(
    pool: &sqlx::Pool<DB>,
    n: i64,
    p1: &str,
    p2: &str,
) -> anyhow::Result<[f64; 2]>
where
    DB: sqlx::Database,
    for<'c> &'c sqlx::Pool<DB>: sqlx::Executor<'c, Database = DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
{
    let read = format!("SELECT id, title FROM notes WHERE id = {p1}");
    let started = Instant::now();
    for i in 0..n {
        let row = sqlx::query(AssertSqlSafe(read.clone()))
            .bind(i % 10_000 + 1)
            .fetch_optional(pool)
            .await?;
        std::hint::black_box(row);
    }
    let reads = started.elapsed().as_secs_f64();
    let insert = format!("INSERT INTO bench_inserts (note, at) VALUES ({p1}, {p2})");
    let started = Instant::now();
    for i in 0..n {
        sqlx::query(AssertSqlSafe(insert.clone()))
            .bind(i)
            .bind("native".to_string())
            .execute(pool)
            .await?;
    }
    Ok([reads, started.elapsed().as_secs_f64()])
}

async fn post(host: &Host, path: &str, body: Value) -> anyhow::Result<Value> {
    let response = client().post(host.url(path)).json(&body).send().await?;
    let status = response.status();
    let body: Value = response.json().await?;
    anyhow::ensure!(status == 200, "{path}: {status} {body}");
    Ok(body)
}
