//! What billing costs, on a real host (users, content and billing; SQLite and
//! the embedded event log), the client on the same machine.
//!
//!     cargo build --release -p folio -p folio-tests --bin folio-billing-bench
//!     "$CARGO_TARGET_DIR"/release/folio-billing-bench [--requests 2000] [--usage 100000] [--renewals 100000]
//!
//! 1. Entitlement check: a subscriber reads an open article and a gated one
//!    (whose tier the subscription grants) alternately, one request at a
//!    time; the difference of the medians is what the check adds (one read
//!    of the content service's own `entitlements` table).
//! 2. Usage: `--usage` events in batches of 1,000, 4 requests at a time.
//! 3. Renewals: `--renewals` subscriptions whose period has just ended
//!    (written straight into the billing database), renewed by the cron,
//!    each with its ledger entries, its event and an invoice with the next
//!    gapless number: the time from their period's end to none left.
//!
//! Prints the numbers; asserts only that every answer was the expected one.

use std::time::{Duration, Instant};

use folio_tests::billing::start_with_content;
use folio_tests::load::{ms, percentile};
use folio_tests::services::{Api, unique};
use folio_tests::{BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD};
use futures_util::StreamExt;
use serde_json::{Value, json};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A UUID-shaped id from `n` (the bench's own accounts and subscriptions).
fn uuid(prefix: u32, n: usize) -> String {
    format!("{prefix:08x}-0000-4000-8000-{n:012x}")
}

#[tokio::main]
async fn main() {
    let requests = arg("--requests", 2000);
    let usage_events = arg("--usage", 100_000);
    let renewals = arg("--renewals", 100_000);
    let data = tempfile::tempdir().unwrap();
    let run = unique();
    let id = format!("bb{run}");
    let host = start_with_content(&id, data.path()).await;
    let api = Api { host: &host };
    let (admin, _) = api
        .login(BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD)
        .await;
    let (author, _) = api.user_with_role(&admin, "ada", "creator", &run).await;
    let (reader, _) = api.user_with_role(&admin, "rui", "consumer", &run).await;
    let plan = api
        .post(
            "/api/v1/billing/plans",
            Some(&admin),
            json!({"name": "Members", "trialDays": 30, "tiers": ["members"],
                   "prices": [{"interval": "month", "currency": "EUR", "amount": 500}],
                   "meters": [{"key": "api-calls", "aggregation": "sum", "unitAmounts": {"EUR": 1}}]}),
        )
        .await;
    assert_eq!(plan.status, 201, "{:?}", plan.body);
    let plan_id = plan.body["id"].as_str().unwrap().to_string();
    let r = api
        .post(
            "/api/v1/billing/subscriptions",
            Some(&reader),
            json!({"planId": plan_id}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);

    // 1. The entitlement check.
    let body = format!(
        "<p>{}</p><p>{}</p>",
        "words ".repeat(200),
        "more ".repeat(400)
    );
    let mut paths = Vec::new();
    for tier in [Value::Null, json!("members")] {
        let r = api
            .post(
                "/api/v1/content",
                Some(&author),
                json!({"title": "Bench", "type": "article", "body": body, "requiredTier": tier}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        let path = format!("/api/v1/content/{}", r.body["id"].as_str().unwrap());
        for to in ["review", "published"] {
            let r = api
                .post(
                    &format!("{path}/transitions"),
                    Some(&admin),
                    json!({"to": to}),
                )
                .await;
            assert_eq!(r.status, 200, "{:?}", r.body);
        }
        paths.push(path);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while api.get(&paths[1], Some(&reader)).await.body["preview"] == json!(true) {
        assert!(Instant::now() < deadline, "the entitlement never arrived");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut open = Vec::with_capacity(requests);
    let mut gated = Vec::with_capacity(requests);
    for i in 0..requests * 2 {
        let (path, into) = if i % 2 == 0 {
            (&paths[0], &mut open)
        } else {
            (&paths[1], &mut gated)
        };
        let started = Instant::now();
        let r = api.get(path, Some(&reader)).await;
        into.push(started.elapsed());
        assert_eq!(r.status, 200);
        assert!(r.body["preview"].is_null(), "{:?}", r.body);
    }
    open.sort();
    gated.sort();
    let added_us =
        (percentile(&gated, 50.0).as_secs_f64() - percentile(&open, 50.0).as_secs_f64()) * 1e6;
    println!(
        "entitlement check: open article p50 {:.2} ms p99 {:.2} ms, gated (subscriber) p50 {:.2} ms p99 {:.2} ms \
         over {requests} each: {added_us:.0} µs added at the median [{} target < 100 µs]",
        ms(percentile(&open, 50.0)),
        ms(percentile(&open, 99.0)),
        ms(percentile(&gated, 50.0)),
        ms(percentile(&gated, 99.0)),
        if added_us < 100.0 { "PASS" } else { "MISS" },
    );

    // 2. Usage.
    let batches = usage_events.div_ceil(1000);
    let started = Instant::now();
    let accepted: Vec<i64> = futures_util::stream::iter(0..batches)
        .map(|b| {
            let api = &api;
            let admin = &admin;
            let run = &run;
            async move {
                let events: Vec<Value> = (0..1000)
                    .map(|i| {
                        json!({"transactionId": format!("{run}-{b}-{i}"),
                               "account": uuid(1, (b * 1000 + i) % 500),
                               "meter": "api-calls", "quantity": 1 + i % 7})
                    })
                    .collect();
                let r = api
                    .post(
                        "/api/v1/billing/usage",
                        Some(admin),
                        json!({ "events": events }),
                    )
                    .await;
                assert_eq!(r.status, 200, "{:?}", r.body);
                r.body["accepted"].as_i64().unwrap()
            }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let total: i64 = accepted.iter().sum();
    let per_second = total as f64 / elapsed.as_secs_f64();
    println!(
        "usage: {total} events in batches of 1000, 4 at a time, in {:.1} s: {per_second:.0} events/s \
         [{} target ≥ 5000/s]",
        elapsed.as_secs_f64(),
        if per_second >= 5000.0 { "PASS" } else { "MISS" },
    );

    // 3. Renewals.
    let db = data.path().join(format!("sqlite/{id}-billing.default.db"));
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    let now = now_ms();
    let mut tx = pool.begin().await.unwrap();
    for n in 0..renewals {
        sqlx::query(
            "INSERT INTO subscriptions (id, account, plan_id, billing_interval, currency, amount, provider, \
             status, period_start, period_end, trial_end, cancel_at_period_end, ended_at, created_at, \
             updated_at, credit) VALUES (?, ?, ?, 'month', 'EUR', 500, 'manual', 'active', ?, ?, NULL, 0, \
             NULL, ?, ?, 0)",
        )
        .bind(uuid(2, n))
        .bind(uuid(3, n))
        .bind(&plan_id)
        .bind(now - 30 * 86_400_000)
        .bind(now + 3_600_000)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let ended = now_ms();
    sqlx::query("UPDATE subscriptions SET period_end = ? WHERE account LIKE '00000003-%'")
        .bind(ended)
        .execute(&pool)
        .await
        .unwrap();
    let started = Instant::now();
    let limit = Duration::from_secs(1800);
    loop {
        let (left,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM subscriptions WHERE account LIKE '00000003-%' AND period_end <= ?",
        )
        .bind(ended)
        .fetch_one(&pool)
        .await
        .unwrap();
        if left == 0 {
            break;
        }
        assert!(
            started.elapsed() < limit,
            "{left} still due after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let elapsed = started.elapsed();
    let (invoices,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM invoices WHERE account LIKE '00000003-%'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(invoices as usize, renewals);
    println!(
        "renewals: {renewals} subscriptions renewed (ledger entries, events, gapless invoices) in {:.1} s: \
         {:.0}/s",
        elapsed.as_secs_f64(),
        renewals as f64 / elapsed.as_secs_f64()
    );
    pool.close().await;
}
