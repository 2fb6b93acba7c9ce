//! The SQL interface driven from a real guest (`components/fixture-state`),
//! through the host, on embedded SQLite and on PostgreSQL.

use folio_tests::{
    Host, drop_schemas, fixture_state_manifest, post_json, start_with_runtime_config,
};
use serde_json::json;

fn manifest() -> String {
    fixture_state_manifest(&[
        ("/a", "notes-a", r#"sqlite_databases = ["default"]"#),
        ("/b", "notes-b", r#"sqlite_databases = ["default"]"#),
        ("/none", "no-db", ""),
    ])
}

/// A host on embedded SQLite, or on Postgres when `postgres_url` is given.
fn host(postgres_url: Option<&str>) -> (Host, tempfile::TempDir) {
    let config = postgres_url
        .map(|url| format!("[sqlite_database.default]\ntype = \"postgres\"\nurl = \"{url}\"\n"));
    start_with_runtime_config(&manifest(), config.as_deref())
}

async fn guest_conformance(host: &Host) {
    // The component's migrations ran at start-up: its table exists.
    let (status, body) = post_json(
        host,
        "/a/execute",
        json!({
            "statement": "INSERT INTO notes (id, title, body, meta, pinned, score, created) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            "params": [
                {"integer": 1}, {"text": "first"}, {"blob": [1, 2, 255]},
                {"json": "{\"tags\":[\"x\"]}"}, {"boolean": true}, {"real": 0.5},
                {"timestamp": "2026-03-04T05:06:07Z"}
            ]
        }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["changed"], 1);

    let (status, body) = post_json(
        host,
        "/a/query",
        json!({"statement": "SELECT id, title, body, pinned, score, created FROM notes WHERE title = $1", "params": [{"text": "first"}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["columns"],
        json!(["id", "title", "body", "pinned", "score", "created"])
    );
    assert_eq!(
        body["rows"][0],
        json!([
            {"integer": 1}, {"text": "first"}, {"blob": [1, 2, 255]}, {"boolean": true},
            {"real": 0.5}, {"timestamp": "2026-03-04T05:06:07.000000Z"}
        ])
    );

    // Typed errors, never a host failure.
    let (status, body) = post_json(host, "/a/query", json!({"statement": "SELEKT 1"})).await;
    assert_eq!(
        (status, body["error"]["kind"].as_str()),
        (400, Some("invalid-statement"))
    );
    let (status, body) = post_json(
        host,
        "/a/execute",
        json!({"statement": "INSERT INTO notes (id, title) VALUES (2, 'first')"}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["kind"].as_str()),
        (400, Some("constraint-violation"))
    );
    let (status, body) = post_json(
        host,
        "/a/query",
        json!({"database": "other", "statement": "SELECT 1"}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["kind"].as_str()),
        (400, Some("no-such-database"))
    );
    let (status, body) = post_json(host, "/none/query", json!({"statement": "SELECT 1"})).await;
    assert_eq!(
        (status, body["error"]["kind"].as_str()),
        (400, Some("no-such-database"))
    );

    // A transaction's data commits or rolls back; a finished transaction
    // refuses further use. (Whether its events reach the log is tests/events.rs.)
    let (status, body) = post_json(
        host,
        "/a/transaction",
        json!({"commit": true, "steps": [
            {"execute": {"statement": "INSERT INTO notes (id, title) VALUES (10, 'kept')"}},
            {"publish": {"topic": "notes", "key": "10", "data": "{\"id\":10}"}}
        ]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["afterFinish"], "transaction-closed");
    assert_eq!(body["events"].as_array().map(Vec::len), Some(1), "{body}");
    let (status, _) = post_json(
        host,
        "/a/transaction",
        json!({"commit": false, "steps": [
            {"execute": {"statement": "INSERT INTO notes (id, title) VALUES (11, 'discarded')"}},
            {"publish": {"topic": "notes", "key": "11", "data": "{\"id\":11}"}}
        ]}),
    )
    .await;
    assert_eq!(status, 200);
    let (_, body) = post_json(
        host,
        "/a/query",
        json!({"statement": "SELECT id FROM notes WHERE id >= 10"}),
    )
    .await;
    assert_eq!(body["rows"], json!([[{"integer": 10}]]));

    // Another component's database is another database.
    let (status, body) = post_json(
        host,
        "/b/query",
        json!({"statement": "SELECT count(*) FROM notes"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rows"], json!([[{"integer": 0}]]));
}

#[tokio::test]
async fn sqlite_through_a_guest() {
    let (host, _dir) = host(None);
    guest_conformance(&host).await;
}

#[tokio::test]
async fn postgres_through_a_guest() {
    let url = std::env::var("FOLIO_TEST_POSTGRES_URL").expect(
        "FOLIO_TEST_POSTGRES_URL is not set: run `bash infra/postgres.sh` and export its URL",
    );
    // Component names map to Postgres roles and schemas, shared by every run
    // against this server: start each run from an empty schema.
    drop_schemas(&url, &["folio_notes_a", "folio_notes_b"]).await;
    let (host, _dir) = host(Some(&url));
    guest_conformance(&host).await;
}

/// Component A's guest reaches its own SQLite file and nothing else: not
/// B's file beside it, not a new file, not the connection's settings.
#[tokio::test]
async fn a_guest_cannot_reach_outside_its_sqlite_database() {
    let (host, dir) = host(None);
    let (status, body) = post_json(
        &host,
        "/b/execute",
        json!({"statement": "INSERT INTO notes (id, title) VALUES (1, 'b-secret')"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let b_file = dir.path().join("data/sqlite/notes-b.default.db");
    assert!(b_file.exists(), "{} is missing", b_file.display());
    let copy = dir.path().join("copy.db");
    let attach = format!("ATTACH DATABASE '{}' AS b", b_file.display());
    let vacuum_into = format!("VACUUM INTO '{}'", copy.display());

    for (route, statement) in [
        ("/a/execute", attach.as_str()),
        ("/a/query", attach.as_str()),
        ("/a/execute", "DETACH DATABASE b"),
        ("/a/execute", vacuum_into.as_str()),
        ("/a/query", "SELECT load_extension('/tmp/evil.so')"),
        ("/a/execute", "PRAGMA writable_schema = ON"),
        ("/a/execute", "PRAGMA journal_mode = OFF"),
        ("/a/query", "PRAGMA foreign_keys = OFF"),
    ] {
        let (status, body) = post_json(&host, route, json!({"statement": statement})).await;
        assert_eq!(
            (status, body["error"]["kind"].as_str()),
            (400, Some("not-allowed")),
            "`{statement}`: {body}"
        );
    }
    let (status, body) = post_json(
        &host,
        "/a/transaction",
        json!({"commit": true, "steps": [
            {"execute": {"statement": "INSERT INTO notes (id, title) VALUES (1, 'a-own')"}},
            {"execute": {"statement": attach}}
        ]}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["kind"].as_str()),
        (400, Some("not-allowed")),
        "{body}"
    );
    assert!(!copy.exists(), "VACUUM INTO wrote a file");

    // Nothing of B's came through, and B's note is still B's alone.
    let (status, body) = post_json(
        &host,
        "/a/query",
        json!({"statement": "SELECT title FROM b.notes"}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["kind"].as_str()),
        (400, Some("invalid-statement")),
        "{body}"
    );
    let (_, body) = post_json(
        &host,
        "/a/query",
        json!({"statement": "SELECT title FROM notes"}),
    )
    .await;
    assert_eq!(body["rows"], json!([]), "{body}");
    let (_, body) = post_json(
        &host,
        "/b/query",
        json!({"statement": "SELECT title FROM notes"}),
    )
    .await;
    assert_eq!(body["rows"], json!([[{"text": "b-secret"}]]), "{body}");

    // Inside its own database the guest keeps schema reads and VACUUM.
    let (status, body) = post_json(
        &host,
        "/a/query",
        json!({"statement": "PRAGMA table_info(notes)"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["rows"][1][1], json!({"text": "title"}), "{body}");
    let (status, body) = post_json(&host, "/a/execute", json!({"statement": "VACUUM"})).await;
    assert_eq!(status, 200, "{body}");
}
