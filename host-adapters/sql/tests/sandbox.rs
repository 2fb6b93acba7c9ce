//! A component's SQLite connection reaches its own database file and nothing
//! else: what would escape it is refused as `NotAllowed`, what stays inside works.

use std::collections::BTreeMap;
use std::path::Path;

use folio_sql::{
    BackendConfig, ComponentDatabases, Database, Migration, SqlConfig, SqlError, Value,
};

async fn open(component: &str, dir: &Path, migrations: Vec<Migration>) -> anyhow::Result<Database> {
    let config = SqlConfig {
        databases: BTreeMap::from([("default".to_string(), BackendConfig::Sqlite { path: None })]),
    };
    let dbs = ComponentDatabases::open(
        component,
        &["default".to_string()],
        &config,
        dir,
        &BTreeMap::from([("default".to_string(), migrations)]),
    )
    .await?;
    Ok(dbs.get("default").unwrap().db.clone())
}

fn table(name: &str, statements: &str) -> Migration {
    Migration {
        version: 1,
        name: name.into(),
        statements: statements.into(),
    }
}

#[track_caller]
fn assert_refused<T: std::fmt::Debug>(result: Result<T, SqlError>, naming: &str) {
    match result {
        Err(SqlError::NotAllowed(message)) => {
            assert!(
                message.contains(naming),
                "`{message}` does not name {naming}"
            );
            assert!(!message.contains('\n'), "`{message}` is not one line");
        }
        other => panic!("expected NotAllowed naming {naming}, got {other:?}"),
    }
}

#[tokio::test]
async fn a_component_cannot_reach_outside_its_sqlite_database() {
    let dir = tempfile::tempdir().unwrap();
    let a = open(
        "a",
        dir.path(),
        vec![table(
            "t",
            "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)",
        )],
    )
    .await
    .unwrap();
    let _b = open(
        "b",
        dir.path(),
        vec![table(
            "secrets",
            "CREATE TABLE secrets (v TEXT); INSERT INTO secrets VALUES ('b-only')",
        )],
    )
    .await
    .unwrap();
    let b_file = dir.path().join("sqlite/b.default.db");
    assert!(b_file.exists());
    let created = dir.path().join("created.db");
    let copy = dir.path().join("copy.db");

    let attach_b = format!("ATTACH DATABASE '{}' AS other", b_file.display());
    assert_refused(a.execute(&attach_b, vec![]).await, "ATTACH");
    assert_refused(a.query(&attach_b, vec![]).await, "ATTACH");
    let attach_bound = a
        .execute(
            "ATTACH DATABASE $1 AS other",
            vec![Value::Text(b_file.display().to_string())],
        )
        .await;
    assert_refused(attach_bound, "ATTACH");
    assert!(
        a.query("SELECT v FROM other.secrets", vec![])
            .await
            .is_err()
    );
    let attach_new = format!("ATTACH '{}' AS fresh", created.display());
    assert_refused(a.execute(&attach_new, vec![]).await, "ATTACH");
    assert!(!created.exists(), "ATTACH created a file");
    assert_refused(a.execute("DETACH DATABASE other", vec![]).await, "DETACH");

    let vacuum_into = format!("VACUUM INTO '{}'", copy.display());
    assert_refused(a.execute(&vacuum_into, vec![]).await, "VACUUM INTO");
    assert!(!copy.exists(), "VACUUM INTO wrote a file");

    assert_refused(
        a.query("SELECT load_extension('/tmp/evil.so')", vec![])
            .await,
        "load_extension",
    );
    assert_refused(
        a.query("SELECT fts3_tokenizer('simple')", vec![]).await,
        "fts3_tokenizer",
    );
    for (pragma, naming) in [
        ("PRAGMA writable_schema = ON", "writable_schema"),
        ("PRAGMA journal_mode = OFF", "journal_mode"),
        ("PRAGMA journal_mode = DELETE", "journal_mode"),
        ("PRAGMA foreign_keys = OFF", "foreign_keys"),
        ("pragma Foreign_Keys(0)", "Foreign_Keys"),
        ("PRAGMA main.synchronous = OFF", "synchronous"),
        ("PRAGMA user_version = 7", "user_version"),
        ("PRAGMA database_list", "database_list"),
        ("SELECT * FROM pragma_optimize(-1)", "optimize"),
    ] {
        assert_refused(a.query(pragma, vec![]).await, naming);
    }
    let foreign_keys = a.query("PRAGMA foreign_keys", vec![]).await.unwrap();
    assert_eq!(foreign_keys.rows, vec![vec![Value::Integer(1)]]);
    let journal = a
        .query("SELECT journal_mode FROM pragma_journal_mode", vec![])
        .await;
    assert_refused(journal, "journal_mode");

    // What stays inside the database works as before.
    a.execute("INSERT INTO t (id, v) VALUES (1, 'one')", vec![])
        .await
        .unwrap();
    let columns = a.query("PRAGMA table_info(t)", vec![]).await.unwrap();
    let names: Vec<&Value> = columns.rows.iter().map(|row| &row[1]).collect();
    assert_eq!(names, [&Value::Text("id".into()), &Value::Text("v".into())]);
    let columns = a
        .query(
            "SELECT name FROM pragma_table_info('t') ORDER BY cid",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(columns.rows.len(), 2);
    a.query("PRAGMA index_list(t)", vec![]).await.unwrap();
    a.query("PRAGMA user_version", vec![]).await.unwrap();
    a.query("PRAGMA quick_check", vec![]).await.unwrap();
    a.execute("VACUUM", vec![]).await.unwrap();
    let rows = a.query("SELECT v FROM t", vec![]).await.unwrap();
    assert_eq!(rows.rows, vec![vec![Value::Text("one".into())]]);
}

#[tokio::test]
async fn a_transaction_is_sandboxed_the_same_way() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(
        "tx",
        dir.path(),
        vec![table("t", "CREATE TABLE t (id INTEGER PRIMARY KEY)")],
    )
    .await
    .unwrap();
    let elsewhere = dir.path().join("elsewhere.db");
    let mut tx = db.begin().await.unwrap();
    tx.execute("INSERT INTO t (id) VALUES (1)", vec![])
        .await
        .unwrap();
    let attach = format!("ATTACH '{}' AS x", elsewhere.display());
    assert_refused(tx.execute(&attach, vec![]).await, "ATTACH");
    assert_refused(
        tx.query("PRAGMA writable_schema = 1", vec![]).await,
        "writable_schema",
    );
    assert_refused(
        tx.query("SELECT load_extension('x')", vec![]).await,
        "load_extension",
    );
    assert_refused(
        tx.script("CREATE TABLE u (x); PRAGMA foreign_keys = OFF")
            .await,
        "foreign_keys",
    );
    tx.execute("INSERT INTO t (id) VALUES (2)", vec![])
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(!elsewhere.exists());
    let rows = db
        .query("SELECT id FROM t ORDER BY id", vec![])
        .await
        .unwrap();
    assert_eq!(
        rows.rows,
        vec![vec![Value::Integer(1)], vec![Value::Integer(2)]]
    );
}

#[tokio::test]
async fn a_component_migration_is_sandboxed_too() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside.db");
    let escape = table(
        "escape",
        &format!("ATTACH '{}' AS outside", outside.display()),
    );
    let Err(err) = open("migrating", dir.path(), vec![escape]).await else {
        panic!("a migration attached another file");
    };
    assert!(format!("{err:#}").contains("ATTACH"), "{err:#}");
    assert!(!outside.exists());
}
