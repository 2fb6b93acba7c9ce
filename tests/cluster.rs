//! Three `folio` hosts of one cluster, sharing Postgres (the component's
//! database), Kafka (tansu, the event log), Redis (key-value) and S3 (Garage,
//! a bucket), behind a round-robin TCP proxy as a load balancer would put
//! them. Under a steady load of transactional writes, each publishing an
//! event, and of key-value and object writes, one host is killed with
//! SIGKILL: no acknowledged write is lost, every event of one is handled,
//! none twice with different effects, the cron trigger still fires once per
//! tick, and the load's errors stop within seconds.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use folio_tests::media::{runtime_config as s3_bucket_config, s3_from_env};
use folio_tests::services::{backends, unique};
use folio_tests::{
    Host, HostOptions, events_manifest, fixture_rows, fixture_state_manifest, get_json, post_json,
    send_signal, ticks_run_once,
};
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

/// The JSON body of a 2xx answer (null when it has none); else why not.
async fn answer(sent: reqwest::Result<reqwest::Response>) -> Result<Value, String> {
    let response = sent.map_err(|e| e.to_string())?;
    let status = response.status();
    let body = response.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{status}: {body}"));
    }
    Ok(serde_json::from_str(&body).unwrap_or(Value::Null))
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
    // Key-value and object writes go through a second component.
    let state = format!("{component}-st");
    let state_manifest = fixture_state_manifest(&[(
        "/st",
        &state,
        "key_value_stores = [\"default\"]\nblob_buckets = [\"media\"]",
    )]);
    let state_part = &state_manifest[state_manifest.find("[[trigger.http]]").unwrap()..];
    let manifest = format!(
        "{named}\n[[trigger.cron]]\ncomponent = \"{component}\"\ncron_expression = \"*/1 * * * * *\"\n{state_part}"
    );
    backends.reset(std::slice::from_ref(&state)).await;
    let s3 = s3_from_env();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut hosts: Vec<Option<Host>> = dirs
        .iter()
        .enumerate()
        .map(|(n, dir)| {
            let config = dir.path().join("runtime.toml");
            std::fs::write(
                &config,
                format!(
                    "[rate_limits]\nexempt = [\"127.0.0.1\"]\n\n{}\n{}",
                    backends.runtime_config(),
                    s3_bucket_config(&s3)
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
    let state_url = format!("http://{front}/st");

    // Four writers, one write (one key, one event) at a time each, for 20 s.
    let started = Instant::now();
    let load_for = Duration::from_secs(20);
    let mut writers = Vec::new();
    for w in 0..4 {
        let url = write_url.clone();
        let state_url = state_url.clone();
        let topic = topic.clone();
        writers.push(tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap();
            let (mut acked, mut failed) = (Vec::new(), Vec::new());
            let (mut kv_acked, mut blobs_acked) = (Vec::new(), Vec::new());
            let mut i = 0;
            while started.elapsed() < load_for {
                let key = format!("w{w}-{i:05}");
                i += 1;
                let mut sent_at = started.elapsed();
                let sent = http
                    .post(&url)
                    .json(&json!({"keys": [key], "topic": topic}))
                    .send()
                    .await;
                match answer(sent).await {
                    Ok(_) => acked.push(key.clone()),
                    Err(e) => {
                        failed.push(((sent_at, started.elapsed()), format!("write {key}: {e}")))
                    }
                }
                sent_at = started.elapsed();
                let stored = http
                    .post(format!("{state_url}/kv"))
                    .json(&json!({"ops": [{"set": {"key": key, "value": key}}]}))
                    .send()
                    .await;
                match answer(stored).await {
                    Ok(body) if body["results"][0].get("ok").is_some() => {
                        kv_acked.push(key.clone())
                    }
                    Ok(body) => {
                        failed.push(((sent_at, started.elapsed()), format!("kv {key}: {body}")))
                    }
                    Err(e) => failed.push(((sent_at, started.elapsed()), format!("kv {key}: {e}"))),
                }
                sent_at = started.elapsed();
                let put = http
                    .put(format!("{state_url}/blobs/object?bucket=media&key={key}"))
                    .header("content-type", "text/plain")
                    .body(key.clone())
                    .send()
                    .await;
                match answer(put).await {
                    Ok(_) => blobs_acked.push(key),
                    Err(e) => {
                        failed.push(((sent_at, started.elapsed()), format!("object {key}: {e}")))
                    }
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            (acked, failed, kv_acked, blobs_acked)
        }));
    }
    tokio::time::sleep(Duration::from_secs(7)).await;
    let victim = hosts[1].take().unwrap();
    let killed_at = started.elapsed();
    send_signal(victim.pid(), "KILL");
    drop(victim);

    let (mut acked, mut failures) = (Vec::new(), Vec::new());
    let (mut kv_acked, mut blobs_acked) = (Vec::new(), Vec::new());
    for w in writers {
        let (a, f, k, b) = w.await.unwrap();
        acked.extend(a);
        failures.extend(f);
        kv_acked.extend(k);
        blobs_acked.extend(b);
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

    // Errors only for requests in flight at the kill or sent in the seconds
    // after it, none for any other. (One in flight when the host died may end
    // only at the client's 10 s timeout.)
    let window = Duration::from_secs(5);
    let late: Vec<_> = failures
        .iter()
        .filter(|((sent, done), _)| *done < killed_at || *sent > killed_at + window)
        .take(10)
        .collect();
    assert!(
        late.is_empty(),
        "failed writes outside {window:?} after the kill at {killed_at:?}, e.g. {late:?}"
    );

    // Every acknowledged write is there, and its event handled exactly once
    // in effect (a redelivery adds to `deliveries` of the same row).
    let writes: BTreeMap<String, String> = fixture_rows(survivor, "/ev/writes")
        .await
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
    // Every acknowledged key-value and object write is there too.
    for chunk in kv_acked.chunks(200) {
        let ops: Vec<Value> = chunk.iter().map(|k| json!({"get": k})).collect();
        let (status, answer) = post_json(survivor, "/st/kv", json!({"ops": ops})).await;
        assert_eq!(status, 200, "{answer}");
        for (key, got) in chunk.iter().zip(answer["results"].as_array().unwrap()) {
            assert_eq!(got["ok"], json!(key), "key-value write {key} lost: {got}");
        }
    }
    let mut objects = BTreeSet::new();
    let mut start_after = String::new();
    loop {
        let page = get_json(
            survivor,
            &format!("/st/blobs/list?bucket=media&limit=1000&start-after={start_after}"),
        )
        .await;
        let listed = page["objects"]
            .as_array()
            .unwrap_or_else(|| panic!("no objects: {page}"));
        objects.extend(
            listed
                .iter()
                .map(|o| o["key"].as_str().unwrap().to_string()),
        );
        match page["nextStartAfter"].as_str() {
            Some(next) => start_after = next.to_string(),
            None => break,
        }
    }
    let lost: Vec<_> = blobs_acked
        .iter()
        .filter(|k| !objects.contains(*k))
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged objects lost: {:?}",
        lost.len(),
        &lost[..lost.len().min(5)]
    );

    let acked_set: BTreeSet<String> = acked.iter().cloned().collect();
    let deadline = Instant::now() + Duration::from_secs(90);
    let (received, redelivered) = loop {
        let received = fixture_rows(survivor, "/ev/received").await;
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
    let ticks = ticks_run_once(survivor).await;
    assert!(
        ticks.len() >= 15,
        "{} ticks in {:?}",
        ticks.len(),
        started.elapsed()
    );
    eprintln!(
        "{} transactional, {} key-value and {} object writes acknowledged, {} failed (all within \
         {window:?} of the kill at {killed_at:?}); {received} events handled, {redelivered} \
         redeliveries; {} cron ticks, none twice",
        acked.len(),
        kv_acked.len(),
        blobs_acked.len(),
        failures.len(),
        ticks.len()
    );
    drop(hosts);
}
