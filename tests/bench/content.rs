//! The content service's read benchmark: with N published items seeded
//! through the bulk import (or, with `--seed api`, one create, review and
//! publish at a time), `GET /api/v1/content/{id}`,
//! `GET /api/v1/content?status=published&limit=20` and its pages (by
//! number and by cursor) at a fixed rate, on
//! embedded SQLite or on Postgres + Redis (+ Kafka), with latency counted
//! from each request's scheduled send time (`folio_tests::load`).
//!
//!     cargo build --release -p folio -p folio-tests --bin folio-content-bench
//!     "$CARGO_TARGET_DIR"/release/folio-content-bench [--backend sqlite|postgres]
//!         [--items 100000] [--rate 1000] [--seconds 20] [--warmup 5]
//!         [--connections 64] [--data-dir PATH] [--seed-concurrency 16]
//!         [--seed-seconds 900] [--body-bytes 2000] [--wasm-dir DIR] [--kafka]
//!         [--seed import|api]
//!
//! `--backend postgres` needs FOLIO_TEST_POSTGRES_URL and FOLIO_TEST_REDIS_URL
//! (`infra/postgres.sh`, `infra/redis.sh`). The event log stays embedded (in
//! the data dir) unless `--kafka` (FOLIO_TEST_KAFKA_BROKERS, `infra/kafka.sh`):
//! reads publish nothing, and seeding puts three events per item on the
//! shared `folio.content` topic, which every later test worker with a fresh
//! consumer group reads from the start.
//! With `--data-dir`, a second run on the same directory (and, on Postgres,
//! the same schemas) seeds only what is missing; without it every run starts
//! empty. It prints numbers and PASS/MISS against the targets; it asserts nothing.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use folio_tests::load::{self, Plan, Report, ms};
use folio_tests::services::{Backends, clear_redis};
use folio_tests::{BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD, Host, HostOptions};
use serde_json::{Value, json};
use tokio::sync::RwLock;

/// The component id; its schemas on Postgres are `folio_cbench*`.
const ID: &str = "cbench";
const KINDS: [&str; 4] = ["article", "video", "gallery", "podcast"];

struct Args {
    backend: String,
    items: usize,
    rate: f64,
    seconds: f64,
    warmup: f64,
    connections: usize,
    data_dir: Option<PathBuf>,
    seed_concurrency: usize,
    seed_seconds: u64,
    body_bytes: usize,
    wasm_dir: Option<PathBuf>,
    kafka: bool,
    seed_by_import: bool,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        backend: "sqlite".into(),
        items: 100_000,
        rate: 1000.0,
        seconds: 20.0,
        warmup: 5.0,
        connections: 64,
        data_dir: None,
        seed_concurrency: 16,
        seed_seconds: 900,
        body_bytes: 2000,
        wasm_dir: None,
        kafka: false,
        seed_by_import: true,
    };
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let mut it = raw.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--backend" => args.backend = value()?,
            "--items" => args.items = value()?.parse()?,
            "--rate" => args.rate = value()?.parse()?,
            "--seconds" => args.seconds = value()?.parse()?,
            "--warmup" => args.warmup = value()?.parse()?,
            "--connections" => args.connections = value()?.parse()?,
            "--data-dir" => args.data_dir = Some(value()?.into()),
            "--seed-concurrency" => args.seed_concurrency = value()?.parse()?,
            "--seed-seconds" => args.seed_seconds = value()?.parse()?,
            "--body-bytes" => args.body_bytes = value()?.parse()?,
            "--wasm-dir" => args.wasm_dir = Some(value()?.into()),
            "--kafka" => args.kafka = true,
            "--seed" => {
                args.seed_by_import = match value()?.as_str() {
                    "import" => true,
                    "api" => false,
                    other => anyhow::bail!("--seed is import or api, not {other}"),
                }
            }
            other => {
                anyhow::bail!("unknown argument {other} (see the top of tests/bench/content.rs)")
            }
        }
    }
    anyhow::ensure!(
        matches!(args.backend.as_str(), "sqlite" | "postgres"),
        "--backend is sqlite or postgres"
    );
    anyhow::ensure!(args.items > 0 && args.seed_concurrency > 0 && args.connections > 0);
    Ok(args)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let temp = tempfile::tempdir()?;
    let reuse = args.data_dir.is_some();
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| temp.path().join("data"));
    std::fs::create_dir_all(&data_dir)?;

    let backends = if args.backend == "postgres" {
        let var = |name: &str| {
            std::env::var(name).map_err(|_| anyhow::anyhow!("--backend postgres needs {name}"))
        };
        Some(Backends {
            postgres: var("FOLIO_TEST_POSTGRES_URL")?,
            redis: var("FOLIO_TEST_REDIS_URL")?,
            kafka: if args.kafka {
                var("FOLIO_TEST_KAFKA_BROKERS")?
            } else {
                String::new()
            },
        })
    } else {
        None
    };
    let mut runtime_config = None;
    if let Some(b) = &backends {
        let mut config = format!(
            "[sqlite_database.default]\ntype = \"postgres\"\nurl = \"{}\"\n\n\
             [key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\n",
            b.postgres, b.redis
        );
        if !b.kafka.is_empty() {
            config.push_str(&format!(
                "\n[event_log]\ntype = \"kafka\"\nbrokers = \"{}\"\n",
                b.kafka
            ));
        }
        let components = [
            ID.to_string(),
            format!("{ID}-events"),
            format!("{ID}-content"),
        ];
        if !reuse {
            let schemas: Vec<String> = components
                .iter()
                .map(|c| format!("folio_{}", c.replace('-', "_")))
                .collect();
            let schemas: Vec<&str> = schemas.iter().map(String::as_str).collect();
            folio_tests::drop_schemas(&b.postgres, &schemas).await;
            for c in &components {
                clear_redis(&b.redis, c).await;
            }
        }
        let path = temp.path().join("runtime.toml");
        std::fs::write(&path, config)?;
        runtime_config = Some(path);
    }
    let event_log = match &backends {
        Some(b) if !b.kafka.is_empty() => "Kafka",
        _ => "embedded",
    };
    let backend_name = match &backends {
        None => "SQLite".to_string(),
        Some(_) => format!("Postgres + Redis, {event_log} log"),
    };
    println!("backend: {backend_name}; data dir {}", data_dir.display());
    if let Some(dir) = &args.wasm_dir {
        println!("components from {}", dir.display());
    }

    let host = Host::start_with(
        &manifest(args.wasm_dir.as_deref())?,
        HostOptions {
            args: runtime_config
                .iter()
                .flat_map(|p| ["--runtime-config".to_string(), p.display().to_string()])
                .collect(),
            env: Vec::new(),
            data_dir: Some(data_dir.clone()),
        },
    );
    let host = Arc::new(host);

    // Seed, or find what an earlier run seeded.
    let client = folio_tests::client();
    let existing = published_total(&client, &host).await?;
    let mut ids = if existing > 0 {
        let started = Instant::now();
        let ids = collect_ids(&client, &host).await?;
        println!(
            "found {} published items ({} ids listed in {:.1} s)",
            existing,
            ids.len(),
            started.elapsed().as_secs_f64()
        );
        ids
    } else {
        Vec::new()
    };
    if ids.len() < args.items {
        let wanted = args.items - ids.len();
        let seeded = if args.seed_by_import {
            seed_by_import(&host, &args, ids.len(), wanted).await?
        } else {
            seed(&host, &args, ids.len(), wanted).await?
        };
        ids.extend(seeded);
    }
    let total = published_total(&client, &host).await?;
    println!("published items now: {total}");
    anyhow::ensure!(!ids.is_empty(), "nothing to read");

    // Sanity: one of each, so a broken route is not measured as "fast".
    let item = client
        .get(host.url(&format!("/api/v1/content/{}", ids[0])))
        .send()
        .await?;
    anyhow::ensure!(item.status() == 200, "GET item: {}", item.status());
    let list: Value = client
        .get(host.url("/api/v1/content?status=published&limit=20"))
        .send()
        .await?
        .json()
        .await?;
    anyhow::ensure!(
        list["items"].as_array().map(Vec::len) == Some(20.min(total)),
        "list: {list}"
    );
    let list_bytes = list.to_string().len();
    let item_bytes = item.bytes().await?.len();
    println!("response sizes: item {item_bytes} B, list of 20 {list_bytes} B\n");

    let plan = Plan {
        rate: args.rate,
        warmup: Duration::from_secs_f64(args.warmup),
        duration: Duration::from_secs_f64(args.seconds),
        connections: args.connections,
        timeout: Duration::from_secs(10),
        give_up: Duration::from_secs(2),
    };
    let base = format!("http://{}", host.addr);
    let ids = Arc::new(ids);
    let mut rows = Vec::new();

    let (b, ids2) = (base.clone(), ids.clone());
    let report = load::run(&plan, move |c, i| {
        let id = &ids2[(mix(i) % ids2.len() as u64) as usize];
        c.get(format!("{b}/api/v1/content/{id}"))
    })
    .await?;
    rows.push(("GET /api/v1/content/{random id}", 10.0, report));

    let b = base.clone();
    let report = load::run(&plan, move |c, _| {
        c.get(format!("{b}/api/v1/content?status=published&limit=20"))
    })
    .await?;
    rows.push((
        "GET /api/v1/content?status=published&limit=20",
        20.0,
        report,
    ));

    let b = base.clone();
    let report = load::run(&plan, move |c, i| {
        let page = mix(i) % 50 + 1;
        c.get(format!(
            "{b}/api/v1/content?status=published&limit=20&page={page}"
        ))
    })
    .await?;
    rows.push((
        "GET /api/v1/content?status=published&limit=20&page={1..50}",
        20.0,
        report,
    ));

    // The same 50 pages reached by keyset cursors, as clients walk them.
    let mut cursors = Vec::new();
    let mut url = "/api/v1/content?status=published&limit=20".to_string();
    while cursors.len() < 50 {
        let page: Value = client.get(host.url(&url)).send().await?.json().await?;
        let Some(next) = page["pagination"]["nextCursor"].as_str() else {
            break;
        };
        cursors.push(next.to_string());
        url = format!("/api/v1/content?status=published&limit=20&cursor={next}");
    }
    if !cursors.is_empty() {
        let (b, cursors) = (base.clone(), Arc::new(cursors));
        let report = load::run(&plan, move |c, i| {
            let cursor = &cursors[(mix(i) % cursors.len() as u64) as usize];
            c.get(format!(
                "{b}/api/v1/content?status=published&limit=20&cursor={cursor}"
            ))
        })
        .await?;
        rows.push((
            "GET /api/v1/content?status=published&limit=20&cursor={page 2..51}",
            20.0,
            report,
        ));
    }

    println!(
        "\n{} published items, {} s at each rate after {} s of warm-up, {} connections at most\n",
        total, args.seconds, args.warmup, args.connections
    );
    println!(
        "| backend | scenario | target rate | achieved rate | p50 ms | p90 ms | p99 ms | max ms | non-2xx / errors / not sent | p99 target | result |"
    );
    println!("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
    let mut gave_up = false;
    for (name, target, r) in &rows {
        let pass = ms(r.latency.p99) < *target && r.failures() == 0;
        println!(
            "| {backend_name} | `{name}` | {:.0} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {} / {} / {} | < {target} ms | {} |",
            r.target_rate,
            r.achieved_rate,
            ms(r.latency.p50),
            ms(r.latency.p90),
            ms(r.latency.p99),
            ms(r.latency.max),
            r.non_2xx,
            r.errors,
            r.abandoned,
            if pass { "PASS" } else { "MISS" }
        );
        gave_up |= r.abandoned > 0;
    }
    if gave_up {
        println!(
            "\n\"not sent\": requests still waiting for a connection {} s after their scheduled \
             time were dropped and count as failures, with that wait as their latency (so \
             those percentiles are lower bounds).",
            plan.give_up.as_secs()
        );
    }
    println!("\nthe generator itself (latencies above include this):\n");
    println!(
        "| scenario | dispatch lag p50 ms | p99 ms | max ms | requests that waited for a connection | fell behind |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | --- |");
    for (name, _, r) in &rows {
        generator_row(name, r);
    }
    for (name, _, r) in &rows {
        if !r.error_samples.is_empty() {
            println!("failures in {name}: {:?}", r.error_samples);
        }
    }
    println!("\nhost RSS after the run: {} MiB", host.rss_bytes() >> 20);
    Ok(())
}

fn generator_row(name: &str, r: &Report) {
    println!(
        "| `{name}` | {:.3} | {:.3} | {:.3} | {} | {} |",
        ms(r.dispatch_lag.p50),
        ms(r.dispatch_lag.p99),
        ms(r.dispatch_lag.max),
        r.waited_for_connection,
        if r.fell_behind() { "yes" } else { "no" }
    );
}

/// The users and content services as in tests/support, with fixed consumer
/// groups (so the content component's cache repair resumes where the last
/// run on the same data stopped), without the fixture
/// worker's `[[trigger.event]]`: it would handle every seeded event (three
/// per item) in the background, and again from the start of the log on each
/// run with its fresh consumer group, and compete with the reads measured.
/// With `wasm_dir`, every component comes from there instead of this
/// checkout's `target/` (to measure another build, e.g. an earlier commit's),
/// and event triggers naming a component built without an event handler
/// are left out too (an older build than the manifest helper expects).
fn manifest(wasm_dir: Option<&std::path::Path>) -> anyhow::Result<String> {
    let mut manifest = folio_tests::services_manifest(ID, ID, true);
    if let Some(dir) = wasm_dir {
        let ours = folio_tests::repo_root().join("target/wasm32-wasip2/release");
        manifest = manifest.replace(&ours.display().to_string(), &dir.display().to_string());
    }
    let fixture = format!("{ID}-events");
    let mut from = 0;
    while let Some(at) = manifest[from..].find("[[trigger.event]]") {
        let start = from + at;
        let end = manifest[start..]
            .find("\n\n")
            .map_or(manifest.len(), |n| start + n + 2);
        let component = manifest[start..end]
            .lines()
            .find_map(|l| l.strip_prefix("component = "))
            .map(|c| c.trim_matches('"').to_string())
            .unwrap_or_default();
        let drop = component == fixture || !exports_event_handler(&manifest, &component)?;
        if drop {
            println!("left out the [[trigger.event]] of {component}");
            manifest.replace_range(start..end, "");
        } else {
            from = end;
        }
    }
    Ok(manifest)
}

/// Whether `component`'s wasm (its `source` in `manifest`) exports
/// `folio:platform/event-handler` (export names are plain strings in a component).
fn exports_event_handler(manifest: &str, component: &str) -> anyhow::Result<bool> {
    let table = format!("[component.{component}]\nsource = \"");
    let Some(at) = manifest.find(&table) else {
        return Ok(true);
    };
    let rest = &manifest[at + table.len()..];
    let source = &rest[..rest.find('"').unwrap_or(rest.len())];
    let wasm = std::fs::read(source)?;
    let name = b"folio:platform/event-handler";
    Ok(wasm.windows(name.len()).any(|w| w == name))
}

/// Published items an anonymous caller sees.
async fn published_total(client: &reqwest::Client, host: &Host) -> anyhow::Result<usize> {
    let r: Value = client
        .get(host.url("/api/v1/content?limit=1"))
        .send()
        .await?
        .json()
        .await?;
    r["pagination"]["total"]
        .as_u64()
        .map(|n| n as usize)
        .ok_or_else(|| anyhow::anyhow!("no total in {r}"))
}

/// Every published item's id, by cursor paging.
async fn collect_ids(client: &reqwest::Client, host: &Host) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    let mut url = "/api/v1/content?limit=100&fields=id".to_string();
    loop {
        let r: Value = client.get(host.url(&url)).send().await?.json().await?;
        let items = r["items"]
            .as_array()
            .ok_or_else(|| anyhow::anyhow!("no items in {r}"))?;
        ids.extend(
            items
                .iter()
                .filter_map(|i| i["id"].as_str().map(str::to_string)),
        );
        match r["pagination"]["nextCursor"].as_str() {
            Some(cursor) => url = format!("/api/v1/content?limit=100&fields=id&cursor={cursor}"),
            None => return Ok(ids),
        }
    }
}

struct Admin {
    token: RwLock<String>,
}

impl Admin {
    async fn login(host: &Host) -> anyhow::Result<String> {
        let r: Value = folio_tests::client()
            .post(host.url("/api/v1/auth/login"))
            .json(&json!({"email": BOOTSTRAP_ADMIN_EMAIL, "password": BOOTSTRAP_ADMIN_PASSWORD}))
            .send()
            .await?
            .json()
            .await?;
        r["accessToken"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow::anyhow!("admin login: {r}"))
    }

    /// Signs in again when `stale` is still the current token (it expired).
    async fn refresh(&self, host: &Host, stale: &str) -> anyhow::Result<()> {
        let mut token = self.token.write().await;
        if *token == stale {
            *token = Admin::login(host).await?;
        }
        Ok(())
    }
}

/// Creates `count` items and publishes each (create, then `review`, then
/// `published`: create takes no status), from `seed_concurrency` clients.
/// Items are numbered from `first` so titles stay distinct across resumed runs.
async fn seed(
    host: &Arc<Host>,
    args: &Args,
    first: usize,
    count: usize,
) -> anyhow::Result<Vec<String>> {
    let admin = Arc::new(Admin {
        token: RwLock::new(Admin::login(host).await?),
    });
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seed_seconds);
    let body = body_text(args.body_bytes);
    println!(
        "seeding {count} items with {} clients (3 requests each; at most {} s)...",
        args.seed_concurrency, args.seed_seconds
    );
    let progress = {
        let done = done.clone();
        tokio::spawn(async move {
            let mut last = 0;
            loop {
                tokio::time::sleep(Duration::from_secs(10)).await;
                let now = done.load(Ordering::Relaxed);
                println!(
                    "  {now} items after {:.0} s ({:.0} items/s over the last 10 s)",
                    started.elapsed().as_secs_f64(),
                    (now - last) as f64 / 10.0
                );
                last = now;
            }
        })
    };
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..args.seed_concurrency {
        let (host, admin, next, done, body) = (
            host.clone(),
            admin.clone(),
            next.clone(),
            done.clone(),
            body.clone(),
        );
        workers.spawn(async move {
            let client = folio_tests::client();
            let mut ids = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count || Instant::now() > deadline {
                    return Ok::<_, anyhow::Error>(ids);
                }
                let n = first + i;
                let item = json!({
                    "title": format!("Benchmark item {n}"),
                    "description": format!("Item {n} of the content read benchmark, seeded through the API."),
                    "body": body,
                    "type": KINDS[n % KINDS.len()],
                    "tags": ["bench", format!("t{}", n % 100)],
                    "metadata": {"n": n},
                });
                let created = send(&client, &host, &admin, "/api/v1/content", &item, 201).await?;
                let id = created["id"]
                    .as_str()
                    .ok_or_else(|| anyhow::anyhow!("no id in {created}"))?
                    .to_string();
                let path = format!("/api/v1/content/{id}/transitions");
                send(&client, &host, &admin, &path, &json!({"to": "review"}), 200).await?;
                send(&client, &host, &admin, &path, &json!({"to": "published"}), 200).await?;
                ids.push(id);
                done.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    let mut ids = Vec::with_capacity(count);
    while let Some(result) = workers.join_next().await {
        ids.extend(result??);
    }
    progress.abort();
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "seeded {} items in {:.1} s: {:.0} items/s ({:.0} requests/s){}",
        ids.len(),
        elapsed,
        ids.len() as f64 / elapsed,
        3.0 * ids.len() as f64 / elapsed,
        if ids.len() < count {
            " — stopped at --seed-seconds; rerun with the same --data-dir to continue"
        } else {
            ""
        }
    );
    Ok(ids)
}

/// The id of benchmark item `n`: fixed, so a rerun's import skips it.
fn bench_id(n: usize) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

/// Seeds `count` published items from item `first` on through
/// `POST /api/v1/content/import`, `IMPORT_LINES` to a request.
async fn seed_by_import(
    host: &Arc<Host>,
    args: &Args,
    first: usize,
    count: usize,
) -> anyhow::Result<Vec<String>> {
    const IMPORT_LINES: usize = 4000;
    let token = Admin::login(host).await?;
    let client = folio_tests::client();
    let body = body_text(args.body_bytes);
    let started = Instant::now();
    println!("importing {count} items, {IMPORT_LINES} to a request...");
    let mut ids = Vec::with_capacity(count);
    for chunk_start in (first..first + count).step_by(IMPORT_LINES) {
        let chunk_end = (chunk_start + IMPORT_LINES).min(first + count);
        let mut upload = String::new();
        for n in chunk_start..chunk_end {
            let item = json!({
                "id": bench_id(n),
                "title": format!("Benchmark item {n}"),
                "description": format!("Item {n} of the content read benchmark, imported."),
                "body": body,
                "type": KINDS[n % KINDS.len()],
                "tags": ["bench", format!("t{}", n % 100)],
                "metadata": {"n": n},
                "status": "published",
            });
            upload.push_str(&item.to_string());
            upload.push('\n');
            ids.push(bench_id(n));
        }
        let response = client
            .post(host.url("/api/v1/content/import"))
            .bearer_auth(&token)
            .header("content-type", "application/x-ndjson")
            .body(upload)
            .send()
            .await?;
        let status = response.status();
        let outcome: Value = response.json().await?;
        anyhow::ensure!(status == 200, "import: {status} {outcome}");
        println!(
            "  {} items after {:.1} s",
            chunk_end - first,
            started.elapsed().as_secs_f64()
        );
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "imported {} items in {elapsed:.1} s: {:.0} items/s",
        ids.len(),
        ids.len() as f64 / elapsed
    );
    Ok(ids)
}

/// POSTs `body` as the admin, expecting `expected`; signs in again on a 401
/// and retries a few times on 429/5xx or a connection error.
async fn send(
    client: &reqwest::Client,
    host: &Host,
    admin: &Admin,
    path: &str,
    body: &Value,
    expected: u16,
) -> anyhow::Result<Value> {
    let mut last = String::new();
    for attempt in 0..5u32 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
        }
        let token = admin.token.read().await.clone();
        let response = match client
            .post(host.url(path))
            .bearer_auth(&token)
            .json(body)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => {
                last = e.to_string();
                continue;
            }
        };
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        if status == expected {
            return Ok(serde_json::from_str(&text)?);
        }
        last = format!("{status} {text}");
        match status {
            401 => admin.refresh(host, &token).await?,
            429 | 500..=599 => {}
            _ => break,
        }
    }
    anyhow::bail!("POST {path}: {last}")
}

/// About `bytes` of article HTML.
fn body_text(bytes: usize) -> String {
    let paragraph = "<p>Folio serves content from WebAssembly components; this paragraph \
        is filler of a realistic shape, with <b>some</b> markup and a \
        <a href=\"https://example.com/\">link</a> for the sanitizer to keep.</p>";
    let mut body = String::new();
    while body.len() + paragraph.len() <= bytes.max(paragraph.len()) {
        body.push_str(paragraph);
    }
    body
}

/// SplitMix64: a well-spread pseudo-random number for request `i`, so every
/// run reads the same sequence of ids and pages.
fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
