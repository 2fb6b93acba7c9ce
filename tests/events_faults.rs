//! The broker goes away while a component keeps committing: the outbox
//! holds the events and the relay delivers every one once it is back.

use std::collections::BTreeSet;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use folio_tests::{Host, HostOptions, client, events_manifest};
use serde_json::json;

/// A private tansu broker, so stopping it disturbs no other test.
struct Broker {
    child: Child,
    address: String,
}

impl Broker {
    fn start() -> Broker {
        let tansu = std::env::var("FOLIO_TEST_TANSU").unwrap_or_else(|_| "tansu".into());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let address = format!("127.0.0.1:{port}");
        let child = Command::new(&tansu)
            .args(["broker", "--listener-url", &format!("tcp://{address}")])
            .args(["--advertised-listener-url", &format!("tcp://{address}")])
            .args(["--storage-engine", "memory://tansu/"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run `{tansu}` (set FOLIO_TEST_TANSU or run infra/kafka.sh): {e}")
            });
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(&address).is_err() {
            assert!(
                Instant::now() < deadline,
                "tansu did not listen on {address}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Broker { child, address }
    }

    fn signal(&self, signal: &str) {
        folio_tests::send_signal(self.child.id(), signal);
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn received_keys(host: &Host) -> BTreeSet<String> {
    let body = folio_tests::get_json(host, "/ev/received").await;
    body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[3].as_str().unwrap().to_string())
        .collect()
}

/// 1,000 transactional writes; the broker is stopped (SIGSTOP: it answers
/// nothing, keeps its data) for 5 s in the middle, then resumed. Every event
/// arrives, none is missing.
#[tokio::test]
async fn broker_outage_during_writes_loses_no_event() {
    let broker = Broker::start();
    let topic = "outage";
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("runtime.toml");
    std::fs::write(
        &config,
        format!(
            "[event_log]\ntype = \"kafka\"\nbrokers = \"{}\"\n",
            broker.address
        ),
    )
    .unwrap();
    let host = Host::start_with(
        &events_manifest(topic),
        HostOptions {
            args: vec!["--runtime-config".into(), config.display().to_string()],
            data_dir: Some(dir.path().join("data")),
            ..Default::default()
        },
    );

    let total = 1000;
    let url = host.url("/ev/write");
    let (acked_tx, mut acked_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut writers = Vec::new();
    for w in 0..8 {
        let url = url.clone();
        let acked = acked_tx.clone();
        writers.push(tokio::spawn(async move {
            for i in (w..total).step_by(8) {
                let key = format!("k{i:04}");
                let response = client()
                    .post(&url)
                    .json(&json!({"keys": [key], "topic": topic}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
                acked.send(key).unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }
    drop(acked_tx);

    // Stop the broker once a quarter of the writes are in and events flow.
    for _ in 0..total / 4 {
        acked_rx.recv().await.unwrap();
    }
    let flowing = Instant::now() + Duration::from_secs(30);
    while received_keys(&host).await.len() < 20 {
        assert!(
            Instant::now() < flowing,
            "no events were delivered before the outage"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let delivered_before = received_keys(&host).await.len();
    broker.signal("STOP");
    let stopped_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let delivered_by_resume = received_keys(&host).await.len();
    broker.signal("CONT");
    let outage = stopped_at.elapsed();
    for w in writers {
        w.await.unwrap();
    }

    let expected: BTreeSet<String> = (0..total).map(|i| format!("k{i:04}")).collect();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let got = received_keys(&host).await;
        if got == expected {
            break;
        }
        assert!(
            got.is_subset(&expected),
            "unexpected events: {:?}",
            got.difference(&expected).take(5).collect::<Vec<_>>()
        );
        if Instant::now() > deadline {
            panic!(
                "{} of {total} events missing, e.g. {:?}",
                expected.difference(&got).count(),
                expected.difference(&got).take(5).collect::<Vec<_>>()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "all {total} events delivered; broker stopped for {outage:?} after {delivered_before} deliveries ({delivered_by_resume} by its resume)"
    );
}
