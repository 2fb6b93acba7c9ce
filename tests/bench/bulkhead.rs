//! A stuck component next to a healthy one: the healthy component's
//! latency under `wrk`, alone, then while clients keep the stuck one busy —
//! blocked in a host call (`/stuck/slow`) or spinning the CPU
//! (`/stuck/loop`) until the deadline — with and without its bulkhead
//! (`[component.stuck.tool.folio] max_concurrency`). On two cores a guest
//! that spins takes a core whatever the slots, so that bulkhead is 1.
//!
//!     cargo run --release -p folio-tests --bin folio-bulkhead-bench -- [--seconds 10] [--loopers 16]
//!
//! It prints numbers; it asserts nothing.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use folio_tests::wrk::LoadResult;
use folio_tests::{build_fixtures, folio_bin, wasm};

const MAX_INSTANCES: u32 = 8;
const REQUEST_TIMEOUT_MS: u32 = 1000;

fn main() -> anyhow::Result<()> {
    let mut seconds = 10u32;
    let mut loopers = 16usize;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let value = it
            .next()
            .ok_or_else(|| anyhow::anyhow!("{arg} needs a value"))?;
        match arg.as_str() {
            "--seconds" => seconds = value.parse()?,
            "--loopers" => loopers = value.parse()?,
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    let wrk = folio_tests::wrk::find()?;
    build_fixtures();
    let hello = wasm("folio_hello");
    anyhow::ensure!(
        hello.exists(),
        "{} is missing: cargo build --release --target wasm32-wasip2 -p folio-hello --target-dir target",
        hello.display()
    );

    println!("# Bulkhead benchmark");
    println!(
        "folio up --max-instances {MAX_INSTANCES} --request-timeout-ms {REQUEST_TIMEOUT_MS}; \
         wrk -t2 -c8 -d{seconds}s --latency on GET /hello; {loopers} clients calling the stuck component"
    );
    println!("\n| scenario | requests/s | p50 ms | p99 ms | errors |");
    println!("| --- | ---: | ---: | ---: | --- |");
    for (name, bulkhead, stuck_path) in [
        ("hello alone", Some(2), None),
        (
            "blocked in a host call, bulkhead 2",
            Some(2),
            Some("/stuck/slow?ms=5000"),
        ),
        (
            "blocked in a host call, no bulkhead",
            None,
            Some("/stuck/slow?ms=5000"),
        ),
        ("spinning the CPU, bulkhead 1", Some(1), Some("/stuck/loop")),
        ("spinning the CPU, no bulkhead", None, Some("/stuck/loop")),
    ] {
        let dir = tempfile::tempdir()?;
        let manifest = dir.path().join("spin.toml");
        std::fs::write(&manifest, manifest_text(&hello, bulkhead))?;
        let port = free_port();
        let mut host = start(&manifest, &dir.path().join("data"), port)?;
        let stop = Arc::new(AtomicBool::new(false));
        let looping: Vec<_> = stuck_path
            .into_iter()
            .flat_map(|path| std::iter::repeat_n(path, loopers))
            .map(|path| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let _ = get(port, path);
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(500));
        let result = load(&wrk, port, seconds);
        stop.store(true, Ordering::Relaxed);
        for thread in looping {
            let _ = thread.join();
        }
        stop_child(&mut host);
        match result {
            Ok(result) => row(name, &result),
            // wrk reports no latency when not one request was answered.
            Err(_) => println!("| {name} | 0 | — | — | no request answered during the run |"),
        }
    }
    Ok(())
}

fn manifest_text(hello: &Path, bulkhead: Option<u32>) -> String {
    let folio = bulkhead
        .map(|n| format!("[component.stuck.tool.folio]\nmax_concurrency = {n}\n"))
        .unwrap_or_default();
    format!(
        "spin_manifest_version = 2\n[application]\nname = \"bulkhead-bench\"\n\
         [[trigger.http]]\nroute = \"/hello\"\ncomponent = \"hello\"\n\
         [[trigger.http]]\nroute = \"/stuck/...\"\ncomponent = \"stuck\"\n\
         [component.hello]\nsource = \"{}\"\n[component.stuck]\nsource = \"{}\"\n{folio}",
        hello.display(),
        wasm("folio_fixtures").display()
    )
}

fn start(manifest: &Path, data_dir: &Path, port: u16) -> anyhow::Result<Child> {
    let child = Command::new(folio_bin())
        .args(["up", "--manifest"])
        .arg(manifest)
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--max-instances", &MAX_INSTANCES.to_string()])
        .args(["--request-timeout-ms", &REQUEST_TIMEOUT_MS.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if get(port, "/hello").is_ok_and(|r| r.starts_with("HTTP/1.1 200")) {
            return Ok(child);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    anyhow::bail!("folio did not answer on port {port}")
}

fn get(port: u16, path: &str) -> anyhow::Result<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

fn load(wrk: &Path, port: u16, seconds: u32) -> anyhow::Result<LoadResult> {
    let url = format!("http://127.0.0.1:{port}/hello");
    let args = |d: u32| vec!["-t2".into(), "-c8".into(), format!("-d{d}s"), url.clone()];
    let _warm_up = folio_tests::wrk::run(wrk, &args(1));
    folio_tests::wrk::run(wrk, &args(seconds))
}

fn row(name: &str, r: &LoadResult) {
    println!(
        "| {name} | {:.0} | {:.2} | {:.2} | {} |",
        r.requests_per_sec, r.p50_ms, r.p99_ms, r.errors
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

fn stop_child(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}
