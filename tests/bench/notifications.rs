//! The notification service's fan-out and event-to-inbox latency, on a real
//! host with a real SMTP server (aiosmtpd, STARTTLS and AUTH on loopback).
//!
//!     cargo build --release -p folio -p folio-tests --bin folio-notifications-bench
//!     "$CARGO_TARGET_DIR"/release/folio-notifications-bench [--followers 2000]
//!         [--samples 200] [--page-size 250] [--backends]
//!
//! 1. `--followers` accounts the service knows (`UserCreated` events through
//!    the events fixture; their welcome mails are sent and drained first),
//!    each following one author (through the API, with tokens signed by the
//!    host's key).
//! 2. Fan-out: one `ContentPublished` event by that author; in-app rate =
//!    followers / time from publishing the event to the fan-out's last page
//!    (each page one transaction: notifications, deliveries and their
//!    events); SMTP rate = followers / time until the SMTP server accepted
//!    every follower's mail (one delivery event, one instance and one SMTP
//!    transaction per mail, over a pool of connections).
//! 3. Event-to-inbox latency: one more account follows a second author and
//!    holds its live stream (SSE) open; `--samples` times, one
//!    `ContentPublished` event is published and the time until the stream
//!    delivers the notification is taken.
//!
//! Embedded (SQLite, the embedded log, an embedded key-value store) unless
//! `--backends` (Postgres, Redis and Kafka from FOLIO_TEST_POSTGRES_URL,
//! FOLIO_TEST_REDIS_URL, FOLIO_TEST_KAFKA_BROKERS). Prints numbers and
//! PASS/MISS against the targets; asserts nothing.

use std::time::{Duration, Instant};

use folio_tests::load::{ms, percentile};
use folio_tests::notifications::{
    NotificationsOptions, SmtpServer, start_notifications, synthetic_users,
};
use folio_tests::services::{Api, backends, unique};
use folio_tests::{Host, client, post_json};
use futures_util::StreamExt;
use serde_json::json;

const TARGET_IN_APP_PER_SECOND: f64 = 1000.0;
const TARGET_P99_MS: f64 = 500.0;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn publish(host: &Host, author: &str, title: &str) -> String {
    let content_id = folio_guest::util::new_id();
    let data = json!({"id": content_id, "title": title, "type": "article", "authorId": author,
                      "categories": [], "tags": [], "mediaIds": [], "publishedAt": null, "version": 2});
    let r = post_json(
        host,
        "/ev/emit",
        json!({"topic": "folio.content", "type": "folio.content.ContentPublished", "key": content_id, "data": data.to_string()}),
    )
    .await;
    assert_eq!(r.0, 200, "{:?}", r.1);
    content_id
}

async fn follow_all(host: &Host, tokens: &[String], author: &str) {
    futures_util::stream::iter(tokens.iter().map(|token| async move {
        let api = Api { host };
        let r = api
            .post(
                "/api/v1/users/me/follows",
                Some(token),
                json!({"kind": "author", "id": author}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
    }))
    .buffer_unordered(16)
    .collect::<Vec<_>>()
    .await;
}

async fn wait(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < timeout, "{what} took over {timeout:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let followers = arg("--followers", 2000);
    let samples = arg("--samples", 200);
    let page_size = arg("--page-size", 250);
    let with_backends = std::env::args().any(|a| a == "--backends");
    let smtp = SmtpServer::start();
    let dir = tempfile::tempdir().unwrap();
    let id = format!("nbench{}", unique());
    let b = with_backends.then(backends);
    if let Some(b) = &b {
        b.reset(&[
            id.clone(),
            format!("{id}-events"),
            format!("{id}-content"),
            format!("{id}-notifications"),
        ])
        .await;
    }
    let host = start_notifications(
        &id,
        &id,
        dir.path(),
        &NotificationsOptions {
            fanout_page_size: page_size as u32,
            runtime_config: format!(
                "[rate_limits]\nexempt = [\"127.0.0.1\"]\n{}",
                smtp.runtime_config()
            ),
            backends: b.as_ref(),
            ..Default::default()
        },
    );
    println!(
        "notifications bench: {followers} followers, {samples} latency samples, pages of {page_size}, {}",
        if with_backends {
            "Postgres + Redis + Kafka"
        } else {
            "SQLite + embedded log and key-value store"
        }
    );

    let users = synthetic_users(&host, &id, dir.path(), followers + 1).await;
    wait("the welcome mails", Duration::from_secs(600), || {
        smtp.count_containing("Subject: Welcome") > followers
    })
    .await;
    let (listener, fans) = users.split_last().unwrap();
    let fan_tokens: Vec<String> = fans.iter().map(|(_, t)| t.clone()).collect();
    let author = folio_guest::util::new_id();
    follow_all(&host, &fan_tokens, &author).await;

    // Fan-out.
    let title = format!("Fan-out bench {}", unique());
    let started = Instant::now();
    let content_id = publish(&host, &author, &title).await;
    let done_line = format!("fan-out content-published:{content_id}:");
    wait("the fan-out", Duration::from_secs(600), || {
        host.logs()
            .iter()
            .any(|l| l.contains(&done_line) && l.contains(", done"))
    })
    .await;
    let in_app = started.elapsed();
    wait("the mails", Duration::from_secs(900), || {
        smtp.count_containing(&title) >= followers
    })
    .await;
    let mailed = started.elapsed();
    let in_app_rate = followers as f64 / in_app.as_secs_f64();
    let mail_rate = followers as f64 / mailed.as_secs_f64();
    println!(
        "fan-out to in-app: {followers} in {:.0} ms = {in_app_rate:.0} notifications/s (target >= {TARGET_IN_APP_PER_SECOND:.0}) {}",
        in_app.as_secs_f64() * 1000.0,
        if in_app_rate >= TARGET_IN_APP_PER_SECOND {
            "PASS"
        } else {
            "MISS"
        }
    );
    println!(
        "fan-out to SMTP: {followers} mails accepted in {:.0} ms = {mail_rate:.0} mails/s",
        mailed.as_secs_f64() * 1000.0
    );

    // Event-to-inbox latency, on a live stream.
    let second_author = folio_guest::util::new_id();
    follow_all(&host, std::slice::from_ref(&listener.1), &second_author).await;
    let api = Api { host: &host };
    let ticket = api
        .post(
            "/api/v1/notifications/stream-tickets",
            Some(&listener.1),
            json!({}),
        )
        .await;
    let ticket = ticket.body["ticket"].as_str().unwrap().to_string();
    let mut latencies = Vec::with_capacity(samples);
    let mut stream = None;
    let mut buffer = String::new();
    for i in 0..samples {
        if stream.is_none() {
            let response = client()
                .get(host.url(&format!("/api/v1/notifications/stream?ticket={ticket}")))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            stream = Some(response.bytes_stream());
            buffer.clear();
            // Let the stream take its starting point before publishing.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let title = format!("latency sample {i}");
        let sent = Instant::now();
        publish(&host, &second_author, &title).await;
        loop {
            match tokio::time::timeout(Duration::from_secs(10), stream.as_mut().unwrap().next())
                .await
            {
                Ok(Some(Ok(chunk))) => {
                    buffer.push_str(&String::from_utf8_lossy(&chunk));
                    if buffer.contains(&title) {
                        latencies.push(sent.elapsed());
                        buffer.clear();
                        break;
                    }
                }
                // The stream ended (its time was up): reopen it, resuming.
                _ => {
                    stream = None;
                    break;
                }
            }
        }
    }
    latencies.sort();
    let p99 = percentile(&latencies, 0.99);
    println!(
        "event to live inbox: {} samples, p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms (target p99 < {TARGET_P99_MS:.0} ms) {}",
        latencies.len(),
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.95)),
        ms(p99),
        ms(*latencies.last().unwrap_or(&Duration::ZERO)),
        if ms(p99) < TARGET_P99_MS {
            "PASS"
        } else {
            "MISS"
        }
    );
}
