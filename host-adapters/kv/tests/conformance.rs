//! The key-value contract, run against every backend: the embedded store and
//! a real Redis (`FOLIO_TEST_REDIS_URL`, which `infra/test.sh` sets from
//! `infra/redis.sh`).

use std::time::Duration;

use folio_kv::{ComponentStores, KvBackendConfig, KvConfig, KvError, MAX_VALUE_BYTES, Store};

fn redis_url() -> String {
    std::env::var("FOLIO_TEST_REDIS_URL")
        .expect("FOLIO_TEST_REDIS_URL is not set: run `bash infra/redis.sh` and export its URL")
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{nanos:x}")
}

async fn open(component: &str, backend: &KvBackendConfig, dir: &std::path::Path) -> Store {
    let config = KvConfig {
        stores: [("default".to_string(), backend.clone())].into(),
    };
    ComponentStores::open(component, &["default".to_string()], &config, dir)
        .await
        .unwrap()
        .get("default")
        .unwrap()
        .clone()
}

async fn conformance(backend: KvBackendConfig) {
    let dir = tempfile::tempdir().unwrap();
    let component = unique("kv");
    let store = open(&component, &backend, dir.path()).await;

    assert_eq!(store.get("missing").await.unwrap(), None);
    store.set("a", b"1", None).await.unwrap();
    store
        .set("../etc/passwd", b"just a key", None)
        .await
        .unwrap();
    assert_eq!(store.get("a").await.unwrap(), Some(b"1".to_vec()));
    assert!(store.exists("a").await.unwrap());
    assert_eq!(
        store.get("../etc/passwd").await.unwrap(),
        Some(b"just a key".to_vec())
    );
    store.delete("a").await.unwrap();
    assert!(!store.exists("a").await.unwrap());

    // Counters are decimal text, as Redis INCRBY keeps them.
    assert_eq!(store.increment("hits", 5).await.unwrap(), 5);
    assert_eq!(store.increment("hits", -2).await.unwrap(), 3);
    assert_eq!(store.get("hits").await.unwrap(), Some(b"3".to_vec()));
    store.set("word", b"abc", None).await.unwrap();
    assert!(matches!(
        store.increment("word", 1).await.unwrap_err(),
        KvError::Invalid(_)
    ));

    // Expiry.
    store
        .set("short", b"x", Some(Duration::from_millis(1000)))
        .await
        .unwrap();
    assert!(store.exists("short").await.unwrap());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!store.exists("short").await.unwrap());

    // Compare-and-swap.
    assert!(store.compare_and_swap("cas", None, b"v1").await.unwrap());
    assert!(!store.compare_and_swap("cas", None, b"v2").await.unwrap());
    assert!(
        store
            .compare_and_swap("cas", Some(b"v1"), b"v2")
            .await
            .unwrap()
    );
    assert_eq!(store.get("cas").await.unwrap(), Some(b"v2".to_vec()));

    // Listing pages through every key and nothing else.
    for i in 0..1500 {
        store.set(&format!("k{i:05}"), b"", None).await.unwrap();
    }
    let mut listed = Vec::new();
    let mut cursor = None;
    loop {
        let (keys, next) = store.list_keys(cursor).await.unwrap();
        listed.extend(keys);
        if next.is_none() {
            break;
        }
        cursor = next;
    }
    listed.sort();
    listed.dedup();
    assert_eq!(listed.iter().filter(|k| k.starts_with('k')).count(), 1500);
    assert!(listed.contains(&"hits".to_string()));

    // Bad input is a typed error.
    assert!(matches!(
        store.get("").await.unwrap_err(),
        KvError::Invalid(_)
    ));
    assert!(matches!(
        store.set(&"k".repeat(2000), b"", None).await.unwrap_err(),
        KvError::Invalid(_)
    ));
    let too_big = vec![0u8; MAX_VALUE_BYTES + 1];
    assert!(matches!(
        store.set("big", &too_big, None).await.unwrap_err(),
        KvError::Invalid(_)
    ));

    // Another component's `default` store is another store.
    let other = open(&unique("kv-other"), &backend, dir.path()).await;
    assert_eq!(other.get("hits").await.unwrap(), None);
    assert_eq!(other.list_keys(None).await.unwrap().0, Vec::<String>::new());
}

#[tokio::test]
async fn embedded_conformance() {
    conformance(KvBackendConfig::Sqlite { path: None }).await;
}

#[tokio::test]
async fn redis_conformance() {
    conformance(KvBackendConfig::Redis { url: redis_url() }).await;
}

#[tokio::test]
async fn embedded_store_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let backend = KvBackendConfig::Sqlite { path: None };
    open("durable", &backend, dir.path())
        .await
        .set("k", b"v", None)
        .await
        .unwrap();
    let reopened = open("durable", &backend, dir.path()).await;
    assert_eq!(reopened.get("k").await.unwrap(), Some(b"v".to_vec()));
}
