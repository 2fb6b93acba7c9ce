//! The SQL adapter's contract, run against every backend: embedded SQLite and
//! a real PostgreSQL (`FOLIO_TEST_POSTGRES_URL`, which `infra/test.sh` sets
//! from `infra/postgres.sh`).

use std::collections::BTreeMap;

use folio_sql::{
    BackendConfig, ComponentDatabases, Database, Migration, OutboxEvent, PendingEvent, SqlConfig,
    SqlError, Value, check_event,
};

fn postgres_url() -> String {
    std::env::var("FOLIO_TEST_POSTGRES_URL").expect(
        "FOLIO_TEST_POSTGRES_URL is not set: run `bash infra/postgres.sh` and export its URL",
    )
}

fn config(backend: &BackendConfig) -> SqlConfig {
    SqlConfig {
        databases: BTreeMap::from([("default".to_string(), backend.clone())]),
    }
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid_like())
}

fn uuid_like() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{:x}{:x}", nanos, std::process::id())
}

fn items_migration(dialect: folio_sql::Dialect) -> Migration {
    let (ts, blob, json, boolean) = match dialect {
        folio_sql::Dialect::Sqlite => ("TIMESTAMP", "BLOB", "TEXT", "BOOLEAN"),
        folio_sql::Dialect::Postgres => ("TIMESTAMPTZ", "BYTEA", "JSONB", "BOOLEAN"),
    };
    Migration {
        version: 1,
        name: "items".into(),
        statements: format!(
            "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, score DOUBLE PRECISION, \
             data {blob}, meta {json}, active {boolean}, at {ts}); \
             CREATE INDEX items_name ON items (name);"
        ),
    }
}

async fn open(
    component: &str,
    backend: &BackendConfig,
    dir: &std::path::Path,
    migrations: Vec<Migration>,
) -> anyhow::Result<Database> {
    let dbs = ComponentDatabases::open(
        component,
        &["default".to_string()],
        &config(backend),
        dir,
        &BTreeMap::from([("default".to_string(), migrations)]),
    )
    .await?;
    Ok(dbs.get("default").unwrap().db.clone())
}

async fn conformance(backend: BackendConfig) {
    let dir = tempfile::tempdir().unwrap();
    let component = unique("conf");
    let migration = items_migration(backend.dialect());
    let db = open(&component, &backend, dir.path(), vec![migration.clone()])
        .await
        .unwrap();

    // Typed values round-trip; `$2` may come before `$1`.
    let inserted = db
        .execute(
            "INSERT INTO items (id, name, score, data, meta, active, at) VALUES ($2, $1, $3, $4, $5, $6, $7)",
            vec![
                Value::Text("first".into()),
                Value::Integer(1),
                Value::Real(2.5),
                Value::Blob(vec![0, 159, 146, 150]),
                Value::Json(r#"{"tags":["a","b"]}"#.into()),
                Value::Boolean(true),
                Value::Timestamp("2026-01-02T03:04:05+01:00".into()),
            ],
        )
        .await
        .unwrap();
    assert_eq!(inserted, 1);
    let rows = db
        .query("SELECT id, name, score, data, meta, active, at, NULL AS absent FROM items WHERE id = $1", vec![Value::Integer(1)])
        .await
        .unwrap();
    assert_eq!(
        rows.columns,
        [
            "id", "name", "score", "data", "meta", "active", "at", "absent"
        ]
    );
    let row = &rows.rows[0];
    assert_eq!(row[0], Value::Integer(1));
    assert_eq!(row[1], Value::Text("first".into()));
    assert_eq!(row[2], Value::Real(2.5));
    assert_eq!(row[3], Value::Blob(vec![0, 159, 146, 150]));
    match &row[4] {
        Value::Json(j) | Value::Text(j) => {
            let v: serde_json::Value = serde_json::from_str(j).unwrap();
            assert_eq!(v["tags"][1], "b");
        }
        other => panic!("meta came back as {other:?}"),
    }
    assert_eq!(row[5], Value::Boolean(true));
    assert_eq!(
        row[6],
        Value::Timestamp("2026-01-02T02:04:05.000000Z".into())
    );
    assert_eq!(row[7], Value::Null);

    // NULL binds into any column type.
    db.execute(
        "INSERT INTO items (id, name, score, data, meta, active, at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        vec![
            Value::Integer(2),
            Value::Text("second".into()),
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
        ],
    )
    .await
    .unwrap();

    // One statement, bound with NULL and then with a value, on one
    // connection: the NULL's inferred type must not stick to the statement.
    let mut tx = db.begin().await.unwrap();
    for score in [Value::Null, Value::Real(1.5), Value::Null] {
        for id in [
            Value::Null,
            Value::Integer(2),
            Value::Null,
            Value::Integer(2),
        ] {
            let changed = tx
                .execute(
                    "UPDATE items SET id = COALESCE($1, id), score = $2 WHERE name = 'second'",
                    vec![id.clone(), score.clone()],
                )
                .await
                .unwrap();
            assert_eq!(changed, 1);
        }
    }
    tx.rollback().await.unwrap();

    // Errors are typed.
    let dup = db
        .execute(
            "INSERT INTO items (id, name) VALUES ($1, $2)",
            vec![Value::Integer(3), Value::Text("first".into())],
        )
        .await
        .unwrap_err();
    assert!(matches!(dup, SqlError::ConstraintViolation(_)), "{dup:?}");
    let bad = db.query("SELEC nonsense", vec![]).await.unwrap_err();
    assert!(matches!(bad, SqlError::InvalidStatement(_)), "{bad:?}");
    let missing = db
        .query("SELECT * FROM no_such_table", vec![])
        .await
        .unwrap_err();
    assert!(
        matches!(missing, SqlError::InvalidStatement(_)),
        "{missing:?}"
    );
    let huge = "SELECT 1 --".to_string() + &"x".repeat(2 << 20);
    assert!(matches!(
        db.query(&huge, vec![]).await.unwrap_err(),
        SqlError::TooLarge(_)
    ));
    let bad_json = db
        .execute(
            "UPDATE items SET meta = $1 WHERE id = 1",
            vec![Value::Json("{not json".into())],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(bad_json, SqlError::InvalidStatement(_)),
        "{bad_json:?}"
    );
    let bad_time = db
        .execute(
            "UPDATE items SET at = $1 WHERE id = 1",
            vec![Value::Timestamp("yesterday".into())],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(bad_time, SqlError::InvalidStatement(_)),
        "{bad_time:?}"
    );
    let series = match backend.dialect() {
        folio_sql::Dialect::Sqlite => {
            "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 20000) SELECT x FROM n"
        }
        folio_sql::Dialect::Postgres => "SELECT generate_series(1, 20000)",
    };
    assert!(matches!(
        db.query(series, vec![]).await.unwrap_err(),
        SqlError::TooLarge(_)
    ));

    // Transactions: commit keeps, rollback and drop discard; the outbox row
    // commits or vanishes with the data.
    let mut tx = db.begin().await.unwrap();
    tx.execute(
        "INSERT INTO items (id, name) VALUES (10, 'committed')",
        vec![],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let mut tx = db.begin().await.unwrap();
    tx.execute(
        "INSERT INTO items (id, name) VALUES (11, 'rolled-back')",
        vec![],
    )
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    {
        let mut tx = db.begin().await.unwrap();
        tx.execute(
            "INSERT INTO items (id, name) VALUES (12, 'dropped')",
            vec![],
        )
        .await
        .unwrap();
    }
    let event = |subject: &str| OutboxEvent {
        topic: "items".into(),
        event_type: "folio.test.item-created".into(),
        key: subject.into(),
        subject: Some(subject.into()),
        datacontenttype: "application/json".into(),
        data: br#"{"ok":true}"#.to_vec(),
    };
    let mut tx = db.begin().await.unwrap();
    tx.execute(
        "INSERT INTO items (id, name) VALUES (13, 'with-event')",
        vec![],
    )
    .await
    .unwrap();
    let kept = "0190c0de-0000-7000-8000-000000000013".to_string();
    tx.commit_with_outbox(&[PendingEvent {
        id: kept.clone(),
        source: "/folio/test".into(),
        traceparent: None,
        event: event("13"),
    }])
    .await
    .unwrap();
    let mut tx = db.begin().await.unwrap();
    tx.execute(
        "INSERT INTO items (id, name) VALUES (14, 'event-rolled-back')",
        vec![],
    )
    .await
    .unwrap();
    drop(tx); // rolled back: an event published in it was never written
    let bad_topic = OutboxEvent {
        topic: "no spaces/allowed".into(),
        ..event("x")
    };
    assert!(matches!(
        check_event(&bad_topic).unwrap_err(),
        SqlError::InvalidStatement(_)
    ));
    let too_big = OutboxEvent {
        data: vec![0; 2 << 20],
        ..event("x")
    };
    assert!(matches!(
        check_event(&too_big).unwrap_err(),
        SqlError::TooLarge(_)
    ));
    let outbox = db
        .query(
            "SELECT id, topic, subject, data FROM _folio_outbox ORDER BY seq",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        outbox.rows,
        vec![vec![
            Value::Text(kept),
            Value::Text("items".into()),
            Value::Text("13".into()),
            Value::Blob(br#"{"ok":true}"#.to_vec()),
        ]]
    );
    db.execute("DELETE FROM items WHERE id = 13", vec![])
        .await
        .unwrap();

    let names = db
        .query("SELECT name FROM items WHERE id >= 10 ORDER BY id", vec![])
        .await
        .unwrap();
    assert_eq!(names.rows, vec![vec![Value::Text("committed".into())]]);

    // Migrations are applied once: reopening does not re-run them, a new one runs,
    // and a failing one leaves nothing behind.
    let again = open(&component, &backend, dir.path(), vec![migration.clone()])
        .await
        .unwrap();
    assert_eq!(
        again
            .query("SELECT count(*) AS n FROM items", vec![])
            .await
            .unwrap()
            .rows[0][0],
        Value::Integer(3)
    );
    let second = Migration {
        version: 2,
        name: "tags".into(),
        statements: "CREATE TABLE tags (name TEXT PRIMARY KEY)".into(),
    };
    open(
        &component,
        &backend,
        dir.path(),
        vec![migration.clone(), second.clone()],
    )
    .await
    .unwrap();
    let broken = Migration {
        version: 3,
        name: "broken".into(),
        statements: "CREATE TABLE half_done (x INTEGER); CREATE TABLE oops (".into(),
    };
    let Err(err) = open(
        &component,
        &backend,
        dir.path(),
        vec![migration, second, broken],
    )
    .await
    else {
        panic!("a broken migration was accepted");
    };
    assert!(
        format!("{err:#}").contains("migration 3 (broken) failed"),
        "{err:#}"
    );
    let half = db
        .query("SELECT * FROM half_done", vec![])
        .await
        .unwrap_err();
    assert!(
        matches!(half, SqlError::InvalidStatement(_)),
        "a failed migration left a table behind"
    );
    let versions = db
        .query(
            "SELECT version FROM _folio_migrations ORDER BY version",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        versions.rows,
        vec![vec![Value::Integer(1)], vec![Value::Integer(2)]]
    );
}

#[tokio::test]
async fn sqlite_conformance() {
    conformance(BackendConfig::Sqlite { path: None }).await;
}

#[tokio::test]
async fn postgres_conformance() {
    conformance(BackendConfig::Postgres {
        url: postgres_url(),
        max_connections: 4,
    })
    .await;
}

#[tokio::test]
async fn postgres_components_cannot_read_each_other() {
    let backend = BackendConfig::Postgres {
        url: postgres_url(),
        max_connections: 2,
    };
    let dir = tempfile::tempdir().unwrap();
    let a_name = unique("iso-a");
    let b_name = unique("iso-b");
    let secret = Migration {
        version: 1,
        name: "secret".into(),
        statements: "CREATE TABLE secrets (v TEXT); INSERT INTO secrets VALUES ('b-only')".into(),
    };
    let a = open(&a_name, &backend, dir.path(), vec![]).await.unwrap();
    let _b = open(&b_name, &backend, dir.path(), vec![secret])
        .await
        .unwrap();
    let b_schema = format!("folio_{}", b_name.replace('-', "_"));
    for statement in [
        format!("SELECT * FROM \"{b_schema}\".secrets"),
        format!("SET search_path TO \"{b_schema}\""),
    ] {
        let result = async {
            a.execute(&statement, vec![]).await?;
            a.query("SELECT * FROM secrets", vec![]).await
        }
        .await;
        assert!(
            result.is_err(),
            "component A read B's table with `{statement}`: {result:?}"
        );
    }
    let role_escape = a
        .execute(
            &format!("SET ROLE \"folio_{}\"", b_name.replace('-', "_")),
            vec![],
        )
        .await;
    assert!(role_escape.is_err(), "component A assumed B's role");
}

#[tokio::test]
async fn sqlite_components_get_separate_files() {
    let backend = BackendConfig::Sqlite { path: None };
    let dir = tempfile::tempdir().unwrap();
    let secret = Migration {
        version: 1,
        name: "secret".into(),
        statements: "CREATE TABLE secrets (v TEXT)".into(),
    };
    let a = open("a", &backend, dir.path(), vec![]).await.unwrap();
    let _b = open("b", &backend, dir.path(), vec![secret]).await.unwrap();
    assert!(a.query("SELECT * FROM secrets", vec![]).await.is_err());
}

/// A database made before events carried a `traceparent` gains the column.
#[tokio::test]
async fn sqlite_outbox_from_before_traceparent_is_upgraded() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let mut old = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(
        "CREATE TABLE _folio_outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
             topic TEXT NOT NULL, key TEXT NOT NULL, type TEXT NOT NULL, source TEXT NOT NULL,
             subject TEXT, time TEXT NOT NULL, datacontenttype TEXT NOT NULL, data BLOB NOT NULL)",
    )
    .execute(&mut old)
    .await
    .unwrap();
    old.close().await.unwrap();

    let backend = BackendConfig::Sqlite { path: Some(path) };
    let db = open("upgraded", &backend, dir.path(), vec![])
        .await
        .unwrap();
    let tx = db.begin().await.unwrap();
    tx.commit_with_outbox(&[PendingEvent {
        id: "e1".into(),
        source: "/folio/upgraded".into(),
        traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
        event: OutboxEvent {
            topic: "t".into(),
            event_type: "folio.test.upgraded".into(),
            key: "k".into(),
            subject: None,
            datacontenttype: "text/plain".into(),
            data: b"x".to_vec(),
        },
    }])
    .await
    .unwrap();
    let rows = db
        .query("SELECT id, traceparent FROM _folio_outbox", vec![])
        .await
        .unwrap();
    assert_eq!(
        rows.rows,
        vec![vec![
            Value::Text("e1".into()),
            Value::Text("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into())
        ]]
    );
}
