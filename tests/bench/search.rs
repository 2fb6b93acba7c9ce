//! Search side by side on one generated corpus: Folio's engine
//! (`folio-search-index`, tantivy) natively and through the host's search
//! component over HTTP, PostgreSQL full-text search, and SQLite FTS5.
//!
//!     cargo build --release -p folio -p folio-tests --bin folio-search-bench
//!     FOLIO_TEST_POSTGRES_URL="$(bash infra/postgres.sh)" \
//!     "$CARGO_TARGET_DIR"/release/folio-search-bench [--items 100000] [--rate 500]
//!         [--seconds 20] [--warmup 5] [--data-dir PATH] [--skip-postgres]
//!         [--publish-samples 50] [--connections 32] [--kafka]
//!
//! 1. A deterministic corpus of `--items` published articles (~2 KB of body
//!    each, words from a Zipf-distributed vocabulary of 5,000 made-up
//!    English-like words, seeded), and 300 queries of 1-3 words from the
//!    head, middle and tail of that vocabulary.
//! 2. Index build rate: Folio's engine through `begin_rebuild` /
//!    `rebuild_upsert` (1,000 documents a call) / `finish_rebuild`, written
//!    where the host serves it (`<data dir>/search/sbench-search/content`);
//!    Postgres (a `tsvector` generated column, rows inserted 1,000 at a
//!    time with UNNEST, then a GIN index: the time includes the index);
//!    SQLite FTS5 (`porter unicode61`, one transaction, 1,000 rows a
//!    statement; its `optimize` is timed separately).
//! 3. Query latency at a fixed rate, open loop (latency from each request's
//!    scheduled time; `folio_tests::load` over HTTP, the same schedule on
//!    this runtime for the in-process engines): top 20 by relevance and the
//!    total, for anonymous readers (published documents only) through
//!    `GET /api/v1/search?q=...&limit=20`, the same query on the engine
//!    in-process (160-character snippets included, as the component asks),
//!    Postgres (`websearch_to_tsquery`, `ts_rank_cd`, `count(*) OVER ()`)
//!    and SQLite (`MATCH` with `status : published` and the words, `bm25()`,
//!    a second statement for the count; the file memory-mapped).
//! 4. Publish-to-searchable: with the host running (users, content and search
//!    components, embedded SQLite and event log, or Kafka with `--kafka` and
//!    FOLIO_TEST_KAFKA_BROKERS), `--publish-samples` items
//!    with a word of their own are created and published through the content
//!    API as the bootstrap admin, and `GET /api/v1/search?q=<word>` is polled
//!    every 10 ms until the item is among the hits: the time from sending
//!    the publishing transition to the first search that finds it.
//!
//! Postgres is skipped (with a note) under `--skip-postgres` or when
//! FOLIO_TEST_POSTGRES_URL is unset; its tables go in schema
//! `folio_search_bench`, dropped first. Without `--data-dir` everything is in
//! a temporary directory; with it, the index and `bench-fts5.sqlite` there are
//! rebuilt on every run and the host's own state is kept. Components are
//! built by `folio_tests::build_fixtures` into `target/wasm32-wasip2/release`.
//! The test manifest leaves out spin.toml's rate limits on `/api/v1/search`
//! (1,200 per minute per address: the load comes from one address).
//! The engines do not mean the same by a query: Folio also matches the last
//! word as a prefix and forgives small typos (so it matches more), Postgres
//! and SQLite stem and match whole words; the mean totals are printed.
//! Targets (the `TARGET_*` constants) apply to Folio's rows only.
//! It prints numbers and PASS/MISS against the targets; it asserts nothing.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use folio_search_index::{Document, SearchIndex, SearchQuery, Sort, WriterSettings};
use folio_tests::load::{self, Plan, Report, ms, percentile};
use folio_tests::{BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD, Host, HostOptions};
use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, Connection, Executor, Row};

/// The users component's id (content is `{ID}-content`).
const ID: &str = "sbench";
/// The search component's id (`{ID}-search`, whose index feed
/// `folio_tests::services_manifest` opens): its index is
/// `<data dir>/search/{SEARCH}/content`.
const SEARCH: &str = "sbench-search";
const PG_SCHEMA: &str = "folio_search_bench";
const SEED: u64 = 0x5EA2_C4B3_0000_0001;
const VOCABULARY: usize = 5_000;
const QUERIES: usize = 300;
const BATCH: usize = 1_000;
const BODY_BYTES: usize = 2_000;
const LIMIT: u32 = 20;

/// Targets (Folio's own rows only; the others are for comparison).
const TARGET_BUILD_DOCS_PER_S: f64 = 5_000.0;
const TARGET_HTTP_P99_MS: f64 = 15.0;
const TARGET_LOCAL_P99_MS: f64 = 15.0;
const TARGET_SUGGEST_P99_MS: f64 = 10.0;
/// On the embedded log; twice that on Kafka.
const TARGET_PUBLISH_P95_MS: f64 = 1_000.0;

struct Args {
    items: usize,
    rate: f64,
    seconds: f64,
    warmup: f64,
    connections: usize,
    data_dir: Option<PathBuf>,
    skip_postgres: bool,
    publish_samples: usize,
    /// The host's event log on Kafka (FOLIO_TEST_KAFKA_BROKERS), not embedded.
    kafka: bool,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        items: 100_000,
        rate: 500.0,
        seconds: 20.0,
        warmup: 5.0,
        connections: 32,
        data_dir: None,
        skip_postgres: false,
        publish_samples: 50,
        kafka: false,
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
            "--items" => args.items = value()?.parse()?,
            "--rate" => args.rate = value()?.parse()?,
            "--seconds" => args.seconds = value()?.parse()?,
            "--warmup" => args.warmup = value()?.parse()?,
            "--connections" => args.connections = value()?.parse()?,
            "--data-dir" => args.data_dir = Some(value()?.into()),
            "--skip-postgres" => args.skip_postgres = true,
            "--publish-samples" => args.publish_samples = value()?.parse()?,
            "--kafka" => args.kafka = true,
            other => {
                anyhow::bail!("unknown argument {other} (see the top of tests/bench/search.rs)")
            }
        }
    }
    anyhow::ensure!(args.items > 0, "--items must be positive");
    anyhow::ensure!(args.rate > 0.0 && args.seconds > 0.0 && args.warmup >= 0.0);
    anyhow::ensure!(args.connections > 0, "--connections must be positive");
    Ok(args)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let temp = tempfile::tempdir()?;
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| temp.path().join("data"));
    std::fs::create_dir_all(&data_dir)?;
    let postgres_url = match (args.skip_postgres, std::env::var("FOLIO_TEST_POSTGRES_URL")) {
        (true, _) => {
            println!("note: Postgres skipped (--skip-postgres)");
            None
        }
        (false, Err(_)) => {
            println!(
                "note: Postgres skipped: FOLIO_TEST_POSTGRES_URL is unset (bash infra/postgres.sh)"
            );
            None
        }
        (false, Ok(url)) => Some(url),
    };

    // Components first, so no build runs during a measurement.
    // On Kafka the topics outlive runs: fresh consumer groups, so each run
    // reads them whole (the first search waits for the index to catch up).
    let group = match args.kafka {
        true => format!("{ID}-{}", folio_tests::services::unique()),
        false => ID.to_string(),
    };
    let manifest = manifest(&group)?;
    println!(
        "data dir {}; {} CPUs (the engines, the host and the load generator share them)",
        data_dir.display(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    // 1. The corpus and the queries.
    let started = Instant::now();
    let mut rng = Rng(SEED);
    let vocabulary = vocabulary(&mut rng, VOCABULARY);
    let zipf = Zipf::new(vocabulary.len(), 1.0);
    let articles: Vec<Article> = (0..args.items)
        .map(|i| article(i, &vocabulary, &zipf))
        .collect();
    let queries = Arc::new(query_set(&mut rng, &vocabulary, QUERIES));
    let body_bytes: usize = articles.iter().map(|a| a.body.len()).sum();
    println!(
        "corpus: {} articles, {:.0} B of body on average ({:.0} MiB in all), {} words of \
         vocabulary, {} queries; generated in {:.1} s",
        articles.len(),
        body_bytes as f64 / articles.len() as f64,
        body_bytes as f64 / (1 << 20) as f64,
        vocabulary.len(),
        queries.len(),
        started.elapsed().as_secs_f64()
    );
    println!(
        "sample queries: {}",
        queries
            .iter()
            .take(8)
            .map(|q| format!("{q:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    );

    // 2. Builds.
    let mut builds: Vec<BuildRow> = Vec::new();
    let index_dir = data_dir.join("search").join(SEARCH).join("content");
    println!("\nbuilding Folio's index in {} ...", index_dir.display());
    let (folio_index, row) = build_folio(&index_dir, &articles).await?;
    println!("  {}", row.line());
    builds.push(row);

    let postgres = match &postgres_url {
        Some(url) => {
            println!("building Postgres full-text search in schema {PG_SCHEMA} ...");
            let (pool, row) = build_postgres(url, &articles, args.connections).await?;
            println!("  {}", row.line());
            builds.push(row);
            Some(pool)
        }
        None => None,
    };

    let fts_path = data_dir.join("bench-fts5.sqlite");
    println!("building SQLite FTS5 in {} ...", fts_path.display());
    let (sqlite, row) = build_sqlite(&fts_path, &articles, args.connections).await?;
    println!("  {}", row.line());
    builds.push(row);
    let corpus_len = articles.len();
    drop(articles);

    // One pass over the queries, one at a time, per engine: what each finds.
    println!(
        "\none pass over the {} queries per engine ...",
        queries.len()
    );
    let mut passes: Vec<(&str, Pass)> = Vec::new();
    passes.push((
        "Folio engine, in-process",
        pass(&queries, |q| folio_search(folio_index.clone(), q)).await,
    ));
    if let Some(pool) = &postgres {
        passes.push((
            "PostgreSQL FTS",
            pass(&queries, |q| pg_search(pool.clone(), q)).await,
        ));
    }
    passes.push((
        "SQLite FTS5",
        pass(&queries, |q| sqlite_search(sqlite.clone(), q)).await,
    ));

    // 3. Query latency at a fixed rate.
    let plan = Plan {
        rate: args.rate,
        warmup: Duration::from_secs_f64(args.warmup),
        duration: Duration::from_secs_f64(args.seconds),
        connections: args.connections,
        timeout: Duration::from_secs(10),
        give_up: Duration::from_secs(2),
    };
    let mut rows: Vec<(String, Option<f64>, Report)> = Vec::new();

    println!("Folio engine in-process at {} req/s ...", args.rate);
    let (index, qs) = (folio_index.clone(), queries.clone());
    let report = run_local(&plan, move |i| {
        folio_search(index.clone(), qs[pick(i, qs.len())].clone())
    })
    .await?;
    rows.push((
        "Folio engine, in-process".into(),
        Some(TARGET_LOCAL_P99_MS),
        report,
    ));
    // The host takes the index's writer lock: close ours (the last handle)
    // first, and give its committer thread time to let go.
    drop(folio_index);
    tokio::time::sleep(Duration::from_millis(500)).await;

    println!("starting the host (users, content, search) ...");
    let mut host_args = Vec::new();
    if args.kafka {
        let brokers = std::env::var("FOLIO_TEST_KAFKA_BROKERS").map_err(|_| {
            anyhow::anyhow!("--kafka needs FOLIO_TEST_KAFKA_BROKERS (infra/kafka.sh)")
        })?;
        let config = data_dir.join("bench-runtime.toml");
        std::fs::write(
            &config,
            format!("[event_log]\ntype = \"kafka\"\nbrokers = \"{brokers}\"\n"),
        )?;
        host_args = vec!["--runtime-config".to_string(), config.display().to_string()];
    }
    let host = Arc::new(Host::start_with(
        &manifest,
        HostOptions {
            args: host_args,
            env: Vec::new(),
            data_dir: Some(data_dir.clone()),
        },
    ));
    let client = folio_tests::client();
    let base = format!("http://{}", host.addr);
    let first = http_search(client.clone(), base.clone(), queries[0].clone()).await?;
    println!("  serving at {base}; first search: total {first}");
    let http_pass = pass(&queries, |q| http_search(client.clone(), base.clone(), q)).await;
    let agree = http_pass
        .totals
        .iter()
        .zip(&passes[0].1.totals)
        .filter(|(a, b)| a == b)
        .count();
    passes.insert(0, ("Folio over HTTP (host)", http_pass));

    println!("Folio over HTTP at {} req/s ...", args.rate);
    let (b, qs) = (base.clone(), queries.clone());
    let report = load::run(&plan, move |c, i| {
        c.get(search_url(&b, &qs[pick(i, qs.len())]))
    })
    .await?;
    rows.insert(
        0,
        (
            "Folio over HTTP (host)".into(),
            Some(TARGET_HTTP_P99_MS),
            report,
        ),
    );

    println!("Folio suggestions over HTTP at {} req/s ...", args.rate);
    let (b, qs) = (base.clone(), queries.clone());
    let report = load::run(&plan, move |c, i| {
        c.get(suggest_url(&b, &qs[pick(i, qs.len())]))
    })
    .await?;
    rows.insert(
        1,
        (
            "Folio suggest over HTTP (host)".into(),
            Some(TARGET_SUGGEST_P99_MS),
            report,
        ),
    );

    if let Some(pool) = &postgres {
        println!("PostgreSQL at {} req/s ...", args.rate);
        let (pool, qs) = (pool.clone(), queries.clone());
        let report = run_local(&plan, move |i| {
            pg_search(pool.clone(), qs[pick(i, qs.len())].clone())
        })
        .await?;
        rows.push(("PostgreSQL FTS".into(), None, report));
    }

    println!("SQLite FTS5 at {} req/s ...", args.rate);
    let (pool, qs) = (sqlite.clone(), queries.clone());
    let report = run_local(&plan, move |i| {
        sqlite_search(pool.clone(), qs[pick(i, qs.len())].clone())
    })
    .await?;
    rows.push(("SQLite FTS5".into(), None, report));

    // 4. Publish to searchable.
    println!(
        "publishing {} items and searching for each ...",
        args.publish_samples
    );
    let publish = publish_to_searchable(&host, args.publish_samples).await?;

    // The report.
    println!(
        "\n## Search: {corpus_len} articles, {} queries, top {LIMIT}\n",
        queries.len()
    );
    println!("### Index build\n");
    println!("| engine | documents | seconds | docs/s | of which | target | result |");
    println!("| --- | ---: | ---: | ---: | --- | ---: | --- |");
    for b in &builds {
        let (target, result) = match b.target {
            Some(t) => (
                format!("≥ {t:.0} docs/s"),
                pass_miss(b.docs as f64 / b.seconds >= t),
            ),
            None => ("—".into(), "—"),
        };
        println!(
            "| {} | {} | {:.1} | {:.0} | {} | {target} | {result} |",
            b.engine,
            b.docs,
            b.seconds,
            b.docs as f64 / b.seconds,
            b.detail
        );
    }

    println!("\n### What each engine finds (one pass, one query at a time)\n");
    println!(
        "| engine | mean total | median total | queries with no match | errors | mean ms | max ms |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (name, p) in &passes {
        let mut sorted = p.totals.clone();
        sorted.sort_unstable();
        let mean = sorted.iter().sum::<u64>() as f64 / sorted.len().max(1) as f64;
        let median = sorted.get(sorted.len() / 2).copied().unwrap_or(0);
        println!(
            "| {name} | {mean:.0} | {median} | {} | {} | {:.2} | {:.2} |",
            p.totals.iter().filter(|&&t| t == 0).count(),
            p.errors.len(),
            p.elapsed.as_secs_f64() * 1000.0 / p.totals.len().max(1) as f64,
            ms(p.max),
        );
    }
    println!(
        "\nHTTP totals equal to the in-process engine's: {agree} of {} queries",
        queries.len()
    );
    for (name, p) in &passes {
        if let Some(e) = p.errors.first() {
            println!("errors in {name}: {e}");
        }
    }

    println!(
        "\n### Query latency: {} req/s for {} s after {} s of warm-up, {} in flight at most\n",
        args.rate, args.seconds, args.warmup, args.connections
    );
    println!(
        "| engine | target rate | achieved rate | p50 ms | p90 ms | p99 ms | max ms | errors / not sent | p99 target | result |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
    for (name, target, r) in &rows {
        let (target, result) = match target {
            Some(t) => (
                format!("< {t} ms"),
                pass_miss(ms(r.latency.p99) < *t && r.failures() == 0),
            ),
            None => ("—".into(), "—"),
        };
        println!(
            "| {name} | {:.0} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {} / {} | {target} | {result} |",
            r.target_rate,
            r.achieved_rate,
            ms(r.latency.p50),
            ms(r.latency.p90),
            ms(r.latency.p99),
            ms(r.latency.max),
            r.non_2xx + r.errors,
            r.abandoned,
        );
    }
    if rows.iter().any(|(_, _, r)| r.abandoned > 0) {
        println!(
            "\n\"not sent\": requests still waiting for a free slot {} s after their scheduled \
             time were dropped and count as failures, with that wait as their latency (so \
             those percentiles are lower bounds).",
            plan.give_up.as_secs()
        );
    }
    println!("\nthe generator itself (latencies above include this):\n");
    println!(
        "| engine | dispatch lag p50 ms | p99 ms | max ms | requests that waited for a slot | fell behind |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | --- |");
    for (name, _, r) in &rows {
        println!(
            "| {name} | {:.3} | {:.3} | {:.3} | {} | {} |",
            ms(r.dispatch_lag.p50),
            ms(r.dispatch_lag.p99),
            ms(r.dispatch_lag.max),
            r.waited_for_connection,
            if r.fell_behind() { "yes" } else { "no" }
        );
    }
    for (name, _, r) in &rows {
        if !r.error_samples.is_empty() {
            println!("failures in {name}: {:?}", r.error_samples);
        }
    }

    let (log, publish_target) = match args.kafka {
        true => ("Kafka", 2.0 * TARGET_PUBLISH_P95_MS),
        false => ("embedded log", TARGET_PUBLISH_P95_MS),
    };
    println!(
        "\n### Publish to searchable ({log}; from sending the `published` transition \
         to the first anonymous search that returns the item, polling every 10 ms)\n"
    );
    println!("| samples | found | p50 ms | p95 ms | max ms | p95 target | result |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | --- |");
    let mut sorted = publish.latencies.clone();
    sorted.sort_unstable();
    let p95 = percentile(&sorted, 95.0);
    let found_all = publish.missed == 0 && !sorted.is_empty();
    println!(
        "| {} | {} | {:.1} | {:.1} | {:.1} | < {publish_target} ms | {} |",
        publish.latencies.len() + publish.missed,
        publish.latencies.len(),
        ms(percentile(&sorted, 50.0)),
        ms(p95),
        ms(sorted.last().copied().unwrap_or_default()),
        pass_miss(found_all && ms(p95) < publish_target)
    );
    if publish.missed > 0 {
        println!(
            "{} items were not found within {} s",
            publish.missed,
            PUBLISH_TIMEOUT.as_secs()
        );
    }
    println!("\nhost RSS after the run: {} MiB", host.rss_bytes() >> 20);
    Ok(())
}

fn pass_miss(ok: bool) -> &'static str {
    if ok { "PASS" } else { "MISS" }
}

// ---------------------------------------------------------------- corpus

/// SplitMix64: small, seeded, good enough for a corpus.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn between(&mut self, low: usize, high: usize) -> usize {
        low + self.below(high - low + 1)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Request `i`'s query: the same sequence for every engine.
fn pick(i: u64, len: usize) -> usize {
    (Rng(i ^ 0xA5A5_5A5A).next() % len as u64) as usize
}

/// English stop words (Postgres's `english` dictionary drops them, so a
/// query of only these would match nothing there): kept out of the vocabulary.
const STOP_WORDS: &str = "about above after again against because been before being below \
    between both does doing down during each from further have having here hers herself himself \
    into itself just more most myself once only other ours ourselves over same should some such \
    than that their theirs them themselves then there these they this those through under until \
    very were what when where which while whom will with your yours yourself yourselves";

/// `n` distinct made-up words of 4-12 letters; the first is the most frequent.
fn vocabulary(rng: &mut Rng, n: usize) -> Vec<String> {
    const ONSETS: &[&str] = &[
        "b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z",
        "br", "cl", "cr", "dr", "fl", "gr", "pl", "pr", "sl", "sp", "st", "str", "tr", "ch", "sh",
        "th", "wh", "",
    ];
    const VOWELS: &[&str] = &[
        "a", "e", "i", "o", "u", "a", "e", "i", "o", "ai", "ea", "ee", "oo", "ou", "ie", "oa",
    ];
    const CODAS: &[&str] = &[
        "", "", "", "", "n", "r", "s", "t", "l", "m", "nd", "nt", "st", "ng", "ck", "rd", "sh",
        "th", "ll", "rt", "x",
    ];
    let mut seen = std::collections::HashSet::new();
    let mut words = Vec::with_capacity(n);
    while words.len() < n {
        let syllables = match rng.below(10) {
            0..=2 => 1,
            3..=7 => 2,
            _ => 3,
        };
        let mut word = String::new();
        for _ in 0..syllables {
            word.push_str(ONSETS[rng.below(ONSETS.len())]);
            word.push_str(VOWELS[rng.below(VOWELS.len())]);
            word.push_str(CODAS[rng.below(CODAS.len())]);
        }
        if (4..=12).contains(&word.len())
            && !STOP_WORDS.split_whitespace().any(|w| w == word)
            && seen.insert(word.clone())
        {
            words.push(word);
        }
    }
    words
}

/// Ranks drawn with probability proportional to 1 / (rank + 1)^s.
struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Zipf {
        let mut total = 0.0;
        let cumulative = (0..n)
            .map(|r| {
                total += 1.0 / ((r + 1) as f64).powf(s);
                total
            })
            .collect();
        Zipf { cumulative }
    }

    fn sample(&self, rng: &mut Rng) -> usize {
        let x = rng.unit() * self.cumulative.last().copied().unwrap_or(0.0);
        self.cumulative
            .partition_point(|&c| c < x)
            .min(self.cumulative.len() - 1)
    }
}

struct Article {
    id: String,
    title: String,
    body: String,
    kind: &'static str,
    categories: Vec<String>,
    tags: Vec<String>,
    author: String,
    /// Milliseconds since the epoch.
    published_at: i64,
}

const KINDS: [&str; 4] = ["article", "article", "video", "podcast"];
const CATEGORIES: [&str; 12] = [
    "news", "culture", "science", "sport", "travel", "food", "business", "tech", "health",
    "opinion", "music", "books",
];

fn uuid(rng: &mut Rng) -> String {
    let (a, b) = (rng.next(), rng.next());
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Article `i`, the same on every run (its own seed).
fn article(i: usize, vocabulary: &[String], zipf: &Zipf) -> Article {
    let mut rng = Rng(SEED ^ (i as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
    let word = |rng: &mut Rng| vocabulary[zipf.sample(rng)].as_str();
    let id = uuid(&mut rng);
    let title_words: Vec<&str> = (0..rng.between(4, 8)).map(|_| word(&mut rng)).collect();
    let title = capitalized(&title_words.join(" "));
    let mut body = String::with_capacity(BODY_BYTES + 200);
    let mut sentences = 0;
    while body.len() < BODY_BYTES {
        let words: Vec<&str> = (0..rng.between(6, 16)).map(|_| word(&mut rng)).collect();
        if !body.is_empty() {
            body.push_str(if sentences % 5 == 0 { "\n\n" } else { " " });
        }
        body.push_str(&capitalized(&words.join(" ")));
        body.push('.');
        sentences += 1;
    }
    let kind = KINDS[rng.below(KINDS.len())];
    let mut categories = vec![CATEGORIES[rng.below(CATEGORIES.len())].to_string()];
    if rng.below(2) == 0 {
        let other = CATEGORIES[rng.below(CATEGORIES.len())].to_string();
        if !categories.contains(&other) {
            categories.push(other);
        }
    }
    let mut tags = Vec::new();
    for _ in 0..rng.between(1, 3) {
        // Tags from the 500 most common words.
        let tag = vocabulary[rng.below(500)].clone();
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    let author = format!("00000000-0000-4000-8000-{:012x}", rng.below(200));
    // 2020-01-01 plus up to six years.
    let published_at = 1_577_836_800_000 + rng.below(6 * 365 * 86_400_000) as i64;
    Article {
        id,
        title,
        body,
        kind,
        categories,
        tags,
        author,
        published_at,
    }
}

/// 1-3 distinct words each, each from the head (100 most frequent), the
/// middle (to 1,000) or the tail of the vocabulary.
fn query_set(rng: &mut Rng, vocabulary: &[String], n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            let mut words: Vec<&str> = Vec::new();
            let count = rng.between(1, 3);
            while words.len() < count {
                let rank = match rng.below(3) {
                    0 => rng.below(100),
                    1 => rng.between(100, 999),
                    _ => rng.between(1_000, vocabulary.len() - 1),
                };
                let w = vocabulary[rank].as_str();
                if !words.contains(&w) {
                    words.push(w);
                }
            }
            words.join(" ")
        })
        .collect()
}

/// The document the search component's indexer makes of a content item.
fn document(a: &Article) -> Document {
    let mut keywords = vec![
        ("type".to_string(), a.kind.to_string()),
        ("status".to_string(), "published".to_string()),
        ("authorId".to_string(), a.author.clone()),
    ];
    keywords.extend(
        a.categories
            .iter()
            .map(|c| ("category".to_string(), c.clone())),
    );
    keywords.extend(a.tags.iter().map(|t| ("tag".to_string(), t.clone())));
    // An open item: what components/search/src/access.rs gives it.
    keywords.extend(["open", "whole"].map(|v| ("access".to_string(), v.to_string())));
    Document {
        id: a.id.clone(),
        version: 1,
        title: a.title.clone(),
        body: a.body.clone(),
        keywords,
        time: Some(a.published_at),
    }
}

// ---------------------------------------------------------------- builds

struct BuildRow {
    engine: &'static str,
    docs: u64,
    seconds: f64,
    detail: String,
    target: Option<f64>,
}

impl BuildRow {
    fn line(&self) -> String {
        format!(
            "{} documents in {:.1} s: {:.0} docs/s ({})",
            self.docs,
            self.seconds,
            self.docs as f64 / self.seconds,
            self.detail
        )
    }
}

fn search_error(e: folio_search_index::SearchError) -> anyhow::Error {
    anyhow::anyhow!("search index: {e:?}")
}

async fn build_folio(dir: &Path, articles: &[Article]) -> anyhow::Result<(SearchIndex, BuildRow)> {
    let settings = WriterSettings::default();
    let index = SearchIndex::open(dir, settings)?;
    let started = Instant::now();
    let rebuild = index.begin_rebuild().await.map_err(search_error)?;
    for chunk in articles.chunks(BATCH) {
        let docs = chunk.iter().map(document).collect();
        index
            .rebuild_upsert(&rebuild, docs)
            .await
            .map_err(search_error)?;
    }
    let upserted = started.elapsed();
    let docs = index.finish_rebuild(&rebuild).await.map_err(search_error)?;
    let seconds = started.elapsed().as_secs_f64();
    Ok((
        index,
        BuildRow {
            engine: "Folio engine (tantivy)",
            docs,
            seconds,
            detail: format!(
                "upserts {:.1} s + finish (commit, swap) {:.1} s; {} writer threads, {} MiB",
                upserted.as_secs_f64(),
                seconds - upserted.as_secs_f64(),
                settings.threads,
                settings.memory_bytes >> 20
            ),
            target: Some(TARGET_BUILD_DOCS_PER_S),
        },
    ))
}

async fn build_postgres(
    url: &str,
    articles: &[Article],
    connections: usize,
) -> anyhow::Result<(sqlx::PgPool, BuildRow)> {
    let mut admin = sqlx::PgConnection::connect(url).await?;
    admin
        .execute(AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"
        )))
        .await?;
    admin
        .execute(AssertSqlSafe(format!("CREATE SCHEMA {PG_SCHEMA}")))
        .await?;
    admin
        .execute(AssertSqlSafe(format!(
            "CREATE TABLE {PG_SCHEMA}.docs (
                id text PRIMARY KEY,
                title text NOT NULL,
                body text NOT NULL,
                status text NOT NULL,
                published_at bigint NOT NULL,
                tsv tsvector GENERATED ALWAYS AS (
                    setweight(to_tsvector('english', title), 'A') ||
                    setweight(to_tsvector('english', body), 'B')
                ) STORED
            )"
        )))
        .await?;
    let insert = format!(
        "INSERT INTO {PG_SCHEMA}.docs (id, title, body, status, published_at) \
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[])"
    );
    let started = Instant::now();
    for chunk in articles.chunks(BATCH) {
        let ids: Vec<&str> = chunk.iter().map(|a| a.id.as_str()).collect();
        let titles: Vec<&str> = chunk.iter().map(|a| a.title.as_str()).collect();
        let bodies: Vec<&str> = chunk.iter().map(|a| a.body.as_str()).collect();
        let statuses: Vec<&str> = vec!["published"; chunk.len()];
        let times: Vec<i64> = chunk.iter().map(|a| a.published_at).collect();
        sqlx::query(AssertSqlSafe(insert.clone()))
            .bind(ids)
            .bind(titles)
            .bind(bodies)
            .bind(statuses)
            .bind(times)
            .execute(&mut admin)
            .await?;
    }
    let inserted = started.elapsed().as_secs_f64();
    admin
        .execute(AssertSqlSafe(format!(
            "CREATE INDEX docs_tsv ON {PG_SCHEMA}.docs USING GIN (tsv)"
        )))
        .await?;
    let seconds = started.elapsed().as_secs_f64();
    admin
        .execute(AssertSqlSafe(format!("ANALYZE {PG_SCHEMA}.docs")))
        .await?;
    let docs: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT count(*) FROM {PG_SCHEMA}.docs"
    )))
    .fetch_one(&mut admin)
    .await?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(connections as u32)
        .connect(url)
        .await?;
    Ok((
        pool,
        BuildRow {
            engine: "PostgreSQL FTS (tsvector + GIN)",
            docs: docs as u64,
            seconds,
            detail: format!(
                "UNNEST inserts {inserted:.1} s + GIN index {:.1} s (ANALYZE after, untimed)",
                seconds - inserted
            ),
            target: None,
        },
    ))
}

async fn build_sqlite(
    path: &Path,
    articles: &[Article],
    connections: usize,
) -> anyhow::Result<(sqlx::SqlitePool, BuildRow)> {
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(file));
    }
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
        // Connections share the file's pages (as tantivy's mmap does)
        // rather than each filling a page cache of its own.
        .pragma("mmap_size", "1073741824");
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(connections as u32)
        .connect_with(options)
        .await?;
    pool.execute(
        "CREATE VIRTUAL TABLE docs USING fts5(title, body, status, id UNINDEXED, \
         tokenize = 'porter unicode61')",
    )
    .await?;
    let started = Instant::now();
    let mut tx = pool.begin().await?;
    for chunk in articles.chunks(BATCH) {
        let rows = vec!["(?, ?, 'published', ?)"; chunk.len()].join(", ");
        let sql = format!("INSERT INTO docs (title, body, status, id) VALUES {rows}");
        let mut insert = sqlx::query(AssertSqlSafe(sql));
        for a in chunk {
            insert = insert
                .bind(a.title.as_str())
                .bind(a.body.as_str())
                .bind(a.id.as_str());
        }
        insert.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    let seconds = started.elapsed().as_secs_f64();
    let optimize = Instant::now();
    pool.execute("INSERT INTO docs (docs) VALUES ('optimize')")
        .await?;
    let optimized = optimize.elapsed().as_secs_f64();
    let docs: i64 = sqlx::query_scalar("SELECT count(*) FROM docs")
        .fetch_one(&pool)
        .await?;
    Ok((
        pool,
        BuildRow {
            engine: "SQLite FTS5 (porter unicode61)",
            docs: docs as u64,
            seconds,
            detail: format!("one transaction; then `optimize` {optimized:.1} s, untimed"),
            target: None,
        },
    ))
}

// ---------------------------------------------------------------- queries

/// What the search component asks of the index for an anonymous
/// `GET /api/v1/search?q=...&limit=20`.
fn folio_query(text: &str) -> SearchQuery {
    SearchQuery {
        text: text.trim().to_string(),
        filters: vec![
            vec![("status".into(), "published".into())],
            vec![("access".into(), "open".into())],
        ],
        sort: Sort::Relevance,
        offset: 0,
        limit: LIMIT,
        facet_limit: 20,
        snippet_chars: 160,
        ..SearchQuery::default()
    }
}

/// Each engine's search: the total it found.
async fn folio_search(index: SearchIndex, text: String) -> anyhow::Result<u64> {
    let results = index
        .search(folio_query(&text))
        .await
        .map_err(search_error)?;
    Ok(results.total)
}

async fn pg_search(pool: sqlx::PgPool, text: String) -> anyhow::Result<u64> {
    let sql = format!(
        "SELECT id, title, ts_rank_cd(tsv, q) AS rank, count(*) OVER () AS total \
         FROM {PG_SCHEMA}.docs, websearch_to_tsquery('english', $1) AS q \
         WHERE tsv @@ q AND status = 'published' \
         ORDER BY rank DESC LIMIT {LIMIT}"
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(text)
        .fetch_all(&pool)
        .await?;
    Ok(match rows.first() {
        Some(row) => row.try_get::<i64, _>("total")? as u64,
        None => 0,
    })
}

/// Published documents (the status column, through the index) with every
/// word, each quoted (no FTS5 syntax).
fn fts5_match(text: &str) -> String {
    let mut expr = "status : published".to_string();
    for word in text.split_whitespace() {
        expr.push_str(&format!(" \"{}\"", word.replace('"', "")));
    }
    expr
}

async fn sqlite_search(pool: sqlx::SqlitePool, text: String) -> anyhow::Result<u64> {
    let expr = fts5_match(&text);
    let mut conn = pool.acquire().await?;
    let rows = sqlx::query(
        "SELECT id, title, bm25(docs, 3.0, 1.0, 0.0) AS rank FROM docs \
         WHERE docs MATCH ?1 ORDER BY rank LIMIT 20",
    )
    .bind(&expr)
    .fetch_all(&mut *conn)
    .await?;
    let total: i64 = if rows.len() < LIMIT as usize {
        rows.len() as i64
    } else {
        sqlx::query_scalar("SELECT count(*) FROM docs WHERE docs MATCH ?1")
            .bind(&expr)
            .fetch_one(&mut *conn)
            .await?
    };
    Ok(total as u64)
}

fn search_url(base: &str, text: &str) -> String {
    // Queries are lowercase letters and spaces.
    format!(
        "{base}/api/v1/search?q={}&limit={LIMIT}",
        text.replace(' ', "%20")
    )
}

/// Suggestions for the first word's first four letters, as typed.
fn suggest_url(base: &str, text: &str) -> String {
    let first = text.split(' ').next().unwrap_or(text);
    let typed: String = first.chars().take(4).collect();
    format!("{base}/api/v1/search/suggest?q={typed}")
}

async fn http_search(client: reqwest::Client, base: String, text: String) -> anyhow::Result<u64> {
    let response = client.get(search_url(&base, &text)).send().await?;
    let status = response.status();
    let body: Value = response.json().await?;
    anyhow::ensure!(status == 200, "search {text:?}: {status} {body}");
    body["total"]
        .as_u64()
        .ok_or_else(|| anyhow::anyhow!("no total in {body}"))
}

struct Pass {
    totals: Vec<u64>,
    errors: Vec<String>,
    elapsed: Duration,
    max: Duration,
}

/// Every query once, one at a time.
async fn pass<F, Fut>(queries: &[String], search: F) -> Pass
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = anyhow::Result<u64>>,
{
    let started = Instant::now();
    let mut out = Pass {
        totals: Vec::with_capacity(queries.len()),
        errors: Vec::new(),
        elapsed: Duration::ZERO,
        max: Duration::ZERO,
    };
    for q in queries {
        let one = Instant::now();
        match search(q.clone()).await {
            Ok(total) => out.totals.push(total),
            Err(e) => {
                out.totals.push(0);
                out.errors.push(format!("{q:?}: {e:#}"));
            }
        }
        out.max = out.max.max(one.elapsed());
    }
    out.elapsed = started.elapsed();
    out
}

// ---------------------------------------------------------------- open loop in-process

/// `folio_tests::load`'s open-loop schedule for a call on this runtime.
async fn run_local<F, Fut, T>(plan: &Plan, call: F) -> anyhow::Result<Report>
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<T>> + Send + 'static,
    T: Send + 'static,
{
    load::run_calls(plan, move |i| {
        let work = call(i);
        async move { work.await.map(|_| 200).map_err(|e| format!("{e:#}")) }
    })
    .await
}

// ---------------------------------------------------------------- the host

/// The users and content services as tests/support has them, and the
/// search component as `folio_tests::search::search_component` wires it (as
/// in spin.toml, without its rate limits), reading content's index feed;
/// its index `content` is at `<data dir>/search/{SEARCH}/content`. The events
/// fixture's worker is left out (it would record every content event).
fn manifest(group: &str) -> anyhow::Result<String> {
    folio_tests::build_fixtures();
    let mut manifest = folio_tests::services_manifest(ID, group, true);
    let fixture = format!("component = \"{ID}-events\"\ntopics");
    if let Some(at) = manifest.find(&fixture) {
        let start = manifest[..at]
            .rfind("[[trigger.event]]")
            .ok_or_else(|| anyhow::anyhow!("a trigger without its table"))?;
        let end = manifest[start..]
            .find("\n\n")
            .map_or(manifest.len(), |n| start + n + 2);
        manifest.replace_range(start..end, "");
    }
    manifest.push_str(&folio_tests::search::search_component(ID, group));
    Ok(manifest)
}

// ---------------------------------------------------------------- publish to searchable

const PUBLISH_TIMEOUT: Duration = Duration::from_secs(15);

struct Publish {
    latencies: Vec<Duration>,
    missed: usize,
}

async fn login(client: &reqwest::Client, host: &Host) -> anyhow::Result<String> {
    let r: Value = client
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

async fn post(
    client: &reqwest::Client,
    host: &Host,
    token: &str,
    path: &str,
    body: &Value,
    expected: u16,
) -> anyhow::Result<Value> {
    let response = client
        .post(host.url(path))
        .bearer_auth(token)
        .json(body)
        .send()
        .await?;
    let status = response.status().as_u16();
    let text = response.text().await?;
    anyhow::ensure!(status == expected, "POST {path}: {status} {text}");
    Ok(serde_json::from_str(&text)?)
}

/// A word no article has: ten random letters.
fn probe_word(rng: &mut Rng) -> String {
    (0..10)
        .map(|_| (b'a' + rng.below(26) as u8) as char)
        .collect()
}

async fn publish_to_searchable(host: &Host, samples: usize) -> anyhow::Result<Publish> {
    let client = folio_tests::client();
    let token = login(&client, host).await?;
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos() as u64;
    let mut rng = Rng(nanos);
    let mut out = Publish {
        latencies: Vec::new(),
        missed: 0,
    };
    for n in 0..samples {
        let word = probe_word(&mut rng);
        let item = json!({
            "title": format!("Publish probe {word}"),
            "description": format!("Probe {n} of the search benchmark."),
            "body": format!("<p>This probe carries the word {word} and nothing else of note.</p>"),
            "type": "article",
            "tags": ["bench"],
        });
        let created = post(&client, host, &token, "/api/v1/content", &item, 201).await?;
        let id = created["id"]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("no id in {created}"))?
            .to_string();
        let path = format!("/api/v1/content/{id}/transitions");
        post(&client, host, &token, &path, &json!({"to": "review"}), 200).await?;
        let sent = Instant::now();
        post(
            &client,
            host,
            &token,
            &path,
            &json!({"to": "published"}),
            200,
        )
        .await?;
        let url = search_url(&format!("http://{}", host.addr), &word);
        let found = loop {
            let page: Value = client.get(&url).send().await?.json().await?;
            let hit = page["items"]
                .as_array()
                .is_some_and(|items| items.iter().any(|i| i["id"] == id.as_str()));
            if hit {
                break Some(sent.elapsed());
            }
            if sent.elapsed() > PUBLISH_TIMEOUT {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        match found {
            Some(latency) => out.latencies.push(latency),
            None => out.missed += 1,
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(out)
}
