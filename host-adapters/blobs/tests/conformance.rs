//! The object-storage contract, run against every backend: local disk and a
//! real S3 server (`FOLIO_TEST_S3_*`, which `infra/test.sh` sets from
//! `infra/s3.sh`, a loopback Garage).

use folio_blobs::{
    BlobBackendConfig, BlobConfig, BlobError, Bucket, ByteRange, ComponentBuckets, MAX_CHUNK_BYTES,
    PART_BYTES, Signer,
};

fn s3_backend() -> BlobBackendConfig {
    let var = |k: &str| {
        std::env::var(k).unwrap_or_else(|_| {
            panic!("{k} is not set: run `bash infra/s3.sh` and export what it prints")
        })
    };
    BlobBackendConfig::S3 {
        endpoint: Some(var("FOLIO_TEST_S3_ENDPOINT")),
        region: Some("garage".into()),
        bucket: var("FOLIO_TEST_S3_BUCKET"),
        access_key_id: Some(var("FOLIO_TEST_S3_ACCESS_KEY_ID")),
        secret_access_key: Some(var("FOLIO_TEST_S3_SECRET_ACCESS_KEY")),
        prefix: Some("conformance/".into()),
    }
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{nanos:x}")
}

async fn open(component: &str, backend: &BlobBackendConfig, dir: &std::path::Path) -> Bucket {
    let config = BlobConfig {
        buckets: [("media".to_string(), backend.clone())].into(),
    };
    let signer = Signer::load_or_create(dir).unwrap();
    signer.set_base_url("http://127.0.0.1:9");
    ComponentBuckets::open(component, &["media".to_string()], &config, dir, &signer)
        .await
        .unwrap()
        .get("media")
        .unwrap()
        .clone()
}

async fn put(bucket: &Bucket, key: &str, content_type: &str, body: &[u8]) {
    let mut upload = bucket.put(key, content_type).await.unwrap();
    for chunk in body.chunks(1 << 20) {
        upload.write(chunk).await.unwrap();
    }
    let meta = upload.finish().await.unwrap();
    assert_eq!(meta.size, body.len() as u64);
}

async fn read_all(bucket: &Bucket, key: &str, range: Option<ByteRange>) -> Option<Vec<u8>> {
    let mut download = bucket.get(key, range).await.unwrap()?;
    let mut all = Vec::new();
    loop {
        let chunk = download.read(100_000).await.unwrap();
        if chunk.is_empty() {
            return Some(all);
        }
        assert!(chunk.len() <= 100_000);
        all.extend_from_slice(&chunk);
    }
}

/// Deterministic bytes that are not all the same.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

async fn conformance(backend: BlobBackendConfig) {
    let dir = tempfile::tempdir().unwrap();
    let component = unique("blobs");
    let bucket = open(&component, &backend, dir.path()).await;

    assert_eq!(bucket.head("missing").await.unwrap(), None);
    assert!(bucket.get("missing", None).await.unwrap().is_none());
    bucket.delete("missing").await.unwrap();

    // Put, head, get, replace.
    put(&bucket, "docs/a.txt", "text/plain", b"hello").await;
    let meta = bucket.head("docs/a.txt").await.unwrap().unwrap();
    assert_eq!(meta.size, 5);
    assert_eq!(meta.content_type, "text/plain");
    assert!(!meta.etag.is_empty());
    assert!(meta.last_modified.ends_with('Z'), "{}", meta.last_modified);
    assert_eq!(
        read_all(&bucket, "docs/a.txt", None).await.unwrap(),
        b"hello"
    );
    put(&bucket, "docs/a.txt", "", b"replaced").await;
    let replaced = bucket.head("docs/a.txt").await.unwrap().unwrap();
    assert_eq!(replaced.content_type, "application/octet-stream");
    assert_ne!(replaced.etag, meta.etag);
    put(&bucket, "empty", "text/plain", b"").await;
    assert_eq!(read_all(&bucket, "empty", None).await.unwrap(), b"");

    // Multi-part sized objects, and ranges.
    let big = pattern(PART_BYTES * 2 + 12345);
    put(&bucket, "big.bin", "application/octet-stream", &big).await;
    assert_eq!(read_all(&bucket, "big.bin", None).await.unwrap(), big);
    let download = bucket.get("big.bin", None).await.unwrap().unwrap();
    assert_eq!(download.meta().size, big.len() as u64);
    let range = ByteRange {
        offset: 100,
        length: Some(1000),
    };
    assert_eq!(
        read_all(&bucket, "big.bin", Some(range)).await.unwrap(),
        &big[100..1100]
    );
    let tail = ByteRange {
        offset: big.len() as u64 - 10,
        length: None,
    };
    assert_eq!(
        read_all(&bucket, "big.bin", Some(tail)).await.unwrap(),
        &big[big.len() - 10..]
    );
    let past = ByteRange {
        offset: big.len() as u64 + 5,
        length: None,
    };
    assert!(matches!(
        bucket.get("big.bin", Some(past)).await.err().unwrap(),
        BlobError::InvalidArgument(_)
    ));

    // A dropped upload leaves nothing, and an unfinished one is invisible.
    let mut upload = bucket.put("dropped.bin", "x/y").await.unwrap();
    for chunk in pattern(PART_BYTES + 1).chunks(1 << 20) {
        upload.write(chunk).await.unwrap();
    }
    assert_eq!(bucket.head("dropped.bin").await.unwrap(), None);
    drop(upload);
    assert_eq!(bucket.head("dropped.bin").await.unwrap(), None);
    // Replacing is atomic: until finish, readers see the old object.
    let mut upload = bucket.put("docs/a.txt", "text/plain").await.unwrap();
    upload.write(b"new").await.unwrap();
    assert_eq!(
        read_all(&bucket, "docs/a.txt", None).await.unwrap(),
        b"replaced"
    );
    drop(upload);
    assert_eq!(
        read_all(&bucket, "docs/a.txt", None).await.unwrap(),
        b"replaced"
    );
    if let BlobBackendConfig::Disk { .. } = backend {
        let tmp = dir
            .path()
            .join("blobs")
            .join(&component)
            .join("media")
            .join("tmp");
        assert_eq!(
            std::fs::read_dir(tmp).unwrap().count(),
            0,
            "staged files left behind"
        );
    }

    // Listing: by prefix, in key order, paged.
    for i in 0..25 {
        put(&bucket, &format!("list/k{i:03}"), "text/plain", b"x").await;
    }
    put(&bucket, "listing-other", "text/plain", b"x").await;
    let mut keys = Vec::new();
    let mut after = None;
    loop {
        let page = bucket.list("list/", after.as_deref(), 10).await.unwrap();
        assert!(page.objects.len() <= 10);
        keys.extend(page.objects.iter().map(|o| o.key.clone()));
        match page.next_start_after {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let expected: Vec<String> = (0..25).map(|i| format!("list/k{i:03}")).collect();
    assert_eq!(keys, expected);
    let all = bucket.list("", None, 1000).await.unwrap();
    let all_keys: Vec<&str> = all.objects.iter().map(|o| o.key.as_str()).collect();
    assert!(all_keys.contains(&"big.bin") && all_keys.contains(&"listing-other"));
    assert!(all_keys.windows(2).all(|w| w[0] < w[1]), "{all_keys:?}");
    let big_summary = all.objects.iter().find(|o| o.key == "big.bin").unwrap();
    assert_eq!(big_summary.size, big.len() as u64);
    let partial = bucket.list("list/k01", None, 1000).await.unwrap();
    assert_eq!(partial.objects.len(), 10);

    // Delete.
    bucket.delete("docs/a.txt").await.unwrap();
    assert_eq!(bucket.head("docs/a.txt").await.unwrap(), None);

    // Bad input is a typed error.
    for key in [
        "",
        "../escape",
        "a/../../b",
        "/abs",
        "a//b",
        "a\\b",
        "a\0b",
        "trailing/",
    ] {
        assert!(
            matches!(
                bucket.put(key, "text/plain").await.err().unwrap(),
                BlobError::InvalidKey(_)
            ),
            "{key:?}"
        );
        assert!(matches!(
            bucket.head(key).await.unwrap_err(),
            BlobError::InvalidKey(_)
        ));
    }
    assert!(matches!(
        bucket.head(&"k".repeat(2000)).await.unwrap_err(),
        BlobError::InvalidKey(_)
    ));
    let mut upload = bucket.put("chunky", "text/plain").await.unwrap();
    assert!(matches!(
        upload
            .write(&vec![0; MAX_CHUNK_BYTES + 1])
            .await
            .unwrap_err(),
        BlobError::TooLarge(_)
    ));
    drop(upload);
    assert!(matches!(
        bucket.list("", None, 0).await.unwrap_err(),
        BlobError::InvalidArgument(_)
    ));
    assert!(matches!(
        bucket.presign_get("big.bin", 0).await.unwrap_err(),
        BlobError::InvalidArgument(_)
    ));
    let url = bucket.presign_get("big.bin", 60).await.unwrap();
    assert!(url.starts_with("http"), "{url}");

    // Another component's `media` bucket is another bucket.
    let other = open(&unique("blobs-other"), &backend, dir.path()).await;
    assert_eq!(other.head("big.bin").await.unwrap(), None);
    assert_eq!(other.list("", None, 1000).await.unwrap().objects, vec![]);
}

#[tokio::test]
async fn disk_conformance() {
    conformance(BlobBackendConfig::Disk { path: None }).await;
}

#[tokio::test]
async fn s3_conformance() {
    conformance(s3_backend()).await;
}

#[tokio::test]
async fn disk_keys_cannot_escape_and_objects_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let backend = BlobBackendConfig::Disk { path: None };
    let bucket = open("durable", &backend, dir.path()).await;
    put(&bucket, "a/b", "text/plain", b"kept").await;
    // On disk, an object and a "directory" cannot share a name.
    assert!(matches!(
        bucket
            .put("a", "text/plain")
            .await
            .unwrap()
            .finish()
            .await
            .unwrap_err(),
        BlobError::InvalidKey(_)
    ));
    // A key can never name a file outside the bucket, even one that exists.
    std::fs::write(dir.path().join("secret"), "no").unwrap();
    for key in ["../secret", "../../secret", "../../../../secret"] {
        assert!(bucket.get(key, None).await.is_err());
    }
    let reopened = open("durable", &backend, dir.path()).await;
    assert_eq!(read_all(&reopened, "a/b", None).await.unwrap(), b"kept");
    assert_eq!(
        reopened.head("a/b").await.unwrap().unwrap().content_type,
        "text/plain"
    );
}
