//! Postgres restarted under a running host: the host recovers without a
//! restart of its own. A test binary of its own, because it stops the shared
//! server that other tests use.

use std::process::Command;
use std::time::{Duration, Instant};

use folio_tests::{client, fixture_state_manifest, start_with_runtime_config};
use serde_json::{Value, json};

fn postgres(action: &str) {
    let status = Command::new("bash")
        .arg(folio_tests::repo_root().join("infra/postgres.sh"))
        .arg(action)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "infra/postgres.sh {action} failed");
}

#[tokio::test]
async fn the_host_reconnects_after_postgres_restarts() {
    let url = std::env::var("FOLIO_TEST_POSTGRES_URL").expect(
        "FOLIO_TEST_POSTGRES_URL is not set: run `bash infra/postgres.sh` and export its URL",
    );
    let manifest =
        fixture_state_manifest(&[("/r", "restart-probe", r#"sqlite_databases = ["default"]"#)]);
    let config = format!("[sqlite_database.default]\ntype = \"postgres\"\nurl = \"{url}\"\n");
    let (host, _dir) = start_with_runtime_config(&manifest, Some(&config));
    let insert = |id: i64| {
        let url = host.url("/r/execute");
        async move {
            let response = client()
                .post(url)
                .json(&json!({
                    "statement": "INSERT INTO notes (id, title) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
                    "params": [{"integer": id}, {"text": format!("restart {id}")}]
                }))
                .send()
                .await
                .unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap_or_default(),
            )
        }
    };
    assert_eq!(insert(1).await.0, 200);

    postgres("stop");
    let (status, body) = insert(2).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["error"]["kind"], "unavailable",
        "a lost database is a typed, retryable error: {body}"
    );
    postgres("start");

    // Pooled connections died with the server; the host must open new ones by itself.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = insert(3).await;
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the host did not recover: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let response = client()
        .post(host.url("/r/query"))
        .json(&json!({"statement": "SELECT id FROM notes WHERE id IN (1, 2, 3) ORDER BY id"}))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["rows"], json!([[{"integer": 1}], [{"integer": 3}]]));
    drop(host);
    sql_cleanup(&url).await;
}

async fn sql_cleanup(url: &str) {
    use sqlx::{Connection, Executor};
    let mut admin = sqlx::PgConnection::connect(url).await.unwrap();
    admin
        .execute("DROP SCHEMA IF EXISTS folio_restart_probe CASCADE")
        .await
        .unwrap();
}
