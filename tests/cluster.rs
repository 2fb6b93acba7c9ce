//! Three `folio` hosts of one cluster, sharing Postgres (the component's
//! database) and Kafka (tansu, the event log), behind a round-robin TCP
//! proxy as a load balancer would put them. Under a steady load of
//! transactional writes, each publishing an event, one host is killed with
//! SIGKILL: no acknowledged write is lost, every event of one is handled,
//! none twice with different effects, the cron trigger still fires once per
//! tick, and the load's errors stop within seconds.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use folio_tests::services::{backends, unique};
use folio_tests::{Host, HostOptions, events_manifest, get_json, send_signal};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};

/// A round-robin TCP proxy: each connection goes to the next backend that
/// accepts it (a refused connection tries the next one, as a balancer's
/// passive health check would).
async fn proxy(backends: Vec<String>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let next = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                continue;
            };
            let backends = backends.clone();
            let start = next.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                for i in 0..backends.len() {
                    let backend = &backends[(start + i) % backends.len()];
                    if let Ok(mut outbound) = TcpStream::connect(backend).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        return;
                    }
                }
            });
        }
    });
    address
}

fn rows(body: &Value) -> Vec<Vec<Value>> {
    body["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("no rows: {body}"))
        .iter()
        .map(|r| r.as_array().unwrap().clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_a_host_under_load_loses_nothing() {
    let backends = backends();
    let run = unique();
    let component = format!("cl{}", &run[run.len() - 8..]);
    let topic = format!("cluster-{run}");
    backends.reset(std::slice::from_ref(&component)).await;
    let named = events_manifest(&topic)
        .replace(
            "component = \"events\"",
            &format!("component = \"{component}\""),
        )
        .replace("[component.events", &format!("[component.{component}"));
    let manifest = format!(
        "{named}\n[[trigger.cron]]\ncomponent = \"{component}\"\ncron_expression = \"*/1 * * * * *\"\n"
    );
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut hosts: Vec<Option<Host>> = dirs
        .iter()
        .enumerate()
        .map(|(n, dir)| {
            let config = dir.path().join("runtime.toml");
            std::fs::write(
                &config,
                format!(
                    "[rate_limits]\nexempt = [\"127.0.0.1\"]\n\n{}\n[event_log]\ntype = \"kafka\"\nbrokers = \"{}\"\n",
                    backends.postgres_config(),
                    backends.kafka
                ),
            )
            .unwrap();
            Some(Host::start_with(
                &manifest,
                HostOptions {
                    args: vec!["--runtime-config".into(), config.display().to_string()],
                    data_dir: Some(dir.path().join("data")),
                    env: vec![("FOLIO_HOST_ID".into(), format!("cluster-host-{n}"))],
                },
            ))
        })
        .collect();
    let addresses: Vec<String> = hosts
        .iter()
        .map(|h| h.as_ref().unwrap().addr.clone())
        .collect();
    let front = proxy(addresses).await;
    let write_url = format!("http://{front}/ev/write");

    // Four writers, one write (one key, one event) at a time each, for 20 s.
    let started = Instant::now();
    let load_for = Duration::from_secs(20);
    let mut writers = Vec::new();
    for w in 0..4 {
        let url = write_url.clone();
        let topic = topic.clone();
        writers.push(tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap();
            let (mut acked, mut failed) = (Vec::new(), Vec::new());
            let mut i = 0;
            while started.elapsed() < load_for {
                let key = format!("w{w}-{i:05}");
                i += 1;
                let sent = http
                    .post(&url)
                    .json(&json!({"keys": [key], "topic": topic}))
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status() == 200 => acked.push(key),
                    _ => failed.push(started.elapsed()),
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            (acked, failed)
        }));
    }
    tokio::time::sleep(Duration::from_secs(7)).await;
    let victim = hosts[1].take().unwrap();
    let killed_at = started.elapsed();
    send_signal(victim.pid(), "KILL");
    drop(victim);

    let (mut acked, mut failures) = (Vec::new(), Vec::new());
    for w in writers {
        let (a, f) = w.await.unwrap();
        acked.extend(a);
        failures.extend(f);
    }
    // Kubernetes replaces a killed pod: so does the test, once the load is
    // over. (tansu leaves a member that died without leaving in its group,
    // its partitions unread, until another member joins; Apache Kafka
    // evicts it after `session.timeout.ms`.)
    let replacement = tempfile::tempdir().unwrap();
    std::fs::copy(
        dirs[1].path().join("runtime.toml"),
        replacement.path().join("runtime.toml"),
    )
    .unwrap();
    hosts[1] = Some(Host::start_with(
        &manifest,
        HostOptions {
            args: vec![
                "--runtime-config".into(),
                replacement
                    .path()
                    .join("runtime.toml")
                    .display()
                    .to_string(),
            ],
            data_dir: Some(replacement.path().join("data")),
            env: vec![("FOLIO_HOST_ID".into(), "cluster-host-1b".into())],
        },
    ));
    let survivor = hosts[0].as_ref().unwrap();
    assert!(
        acked.len() > 200,
        "only {} writes acknowledged",
        acked.len()
    );

    // Errors only in the seconds after the kill, none after.
    let window = Duration::from_secs(5);
    let late: Vec<_> = failures
        .iter()
        .filter(|t| **t < killed_at || **t > killed_at + window)
        .collect();
    assert!(
        late.is_empty(),
        "{} failed writes outside {window:?} after the kill at {killed_at:?}: {late:?}",
        late.len()
    );

    // Every acknowledged write is there, and its event handled exactly once
    // in effect (a redelivery adds to `deliveries` of the same row).
    let writes: BTreeMap<String, String> = rows(&get_json(survivor, "/ev/writes").await)
        .into_iter()
        .map(|r| (r[0].as_str().unwrap().into(), r[1].as_str().unwrap().into()))
        .collect();
    let missing: Vec<_> = acked.iter().filter(|k| !writes.contains_key(*k)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged writes lost: {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    let acked_set: BTreeSet<String> = acked.iter().cloned().collect();
    let deadline = Instant::now() + Duration::from_secs(90);
    let (received, redelivered) = loop {
        let received = rows(&get_json(survivor, "/ev/received").await);
        let mut by_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut redelivered = 0;
        for r in &received {
            by_key
                .entry(r[3].as_str().unwrap().into())
                .or_default()
                .push(r[0].as_str().unwrap().into());
            redelivered += r[6].as_i64().unwrap_or(1) - 1;
        }
        for (key, ids) in &by_key {
            assert_eq!(
                ids.len(),
                1,
                "key {key} handled as {} events: {ids:?}",
                ids.len()
            );
            assert_eq!(
                writes.get(key),
                Some(&ids[0]),
                "key {key}: not its write's event"
            );
        }
        let have: BTreeSet<String> = by_key.keys().cloned().collect();
        if acked_set.is_subset(&have) {
            break (have.len(), redelivered);
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} acknowledged events never handled, e.g. {:?}",
            acked_set.difference(&have).count(),
            acked_set.len(),
            acked_set.difference(&have).take(5).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };

    // The cron trigger fired once per tick on the cluster, before and after.
    let ticks: Vec<i64> = rows(&get_json(survivor, "/ev/ticks").await)
        .iter()
        .map(|r| r[0].as_i64().unwrap())
        .collect();
    let distinct: BTreeSet<i64> = ticks.iter().copied().collect();
    assert_eq!(distinct.len(), ticks.len(), "a tick ran twice: {ticks:?}");
    assert!(
        ticks.len() >= 15,
        "{} ticks in {:?}",
        ticks.len(),
        started.elapsed()
    );
    eprintln!(
        "{} writes acknowledged, {} failed (all within {window:?} of the kill at {killed_at:?}); \
         {received} events handled, {redelivered} redeliveries; {} cron ticks, none twice",
        acked.len(),
        failures.len(),
        ticks.len()
    );
    drop(hosts);
}
