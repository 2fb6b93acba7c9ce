//! The host benchmark: the same hello component served by `folio up`, by
//! `wasmtime serve`, and a native hyper server, each loaded by `wrk` on
//! loopback in one run; plus cold start, warm start and instantiation time.
//!
//!     cargo run --release -p folio-tests --bin folio-bench -- [--seconds 10] [--connections 32]
//!
//! It prints numbers; it asserts nothing.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use folio_tests::wrk::{LoadResult, which};
use folio_tests::{folio_bin, repo_root, wasm};

struct Options {
    seconds: u32,
    connections: u32,
    threads: u32,
    starts: usize,
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("native-server") {
        return native_server(args[1].parse()?);
    }
    let mut options = Options {
        seconds: 10,
        connections: 32,
        threads: 2,
        starts: 5,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || -> anyhow::Result<u32> {
            Ok(it
                .next()
                .ok_or_else(|| anyhow::anyhow!("{arg} needs a value"))?
                .parse()?)
        };
        match arg.as_str() {
            "--seconds" => options.seconds = value()?,
            "--connections" => options.connections = value()?,
            "--threads" => options.threads = value()?,
            "--starts" => options.starts = value()? as usize,
            other => anyhow::bail!("unknown argument {other}"),
        }
    }

    let wrk = folio_tests::wrk::find()?;
    let hello = wasm("folio_hello");
    if !hello.exists() {
        let status = Command::new("cargo")
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-wasip2",
                "-p",
                "folio-hello",
                "--target-dir",
                "target",
            ])
            .current_dir(repo_root())
            .status()?;
        anyhow::ensure!(status.success(), "building folio-hello failed");
    }
    let dir = tempfile::tempdir()?;
    let manifest = dir.path().join("spin.toml");
    std::fs::write(
        &manifest,
        format!(
            "spin_manifest_version = 2\n[application]\nname = \"bench\"\n[[trigger.http]]\nroute = \"/...\"\ncomponent = \"hello\"\n[component.hello]\nsource = \"{}\"\n",
            hello.display()
        ),
    )?;

    println!("# Folio host benchmark");
    println!(
        "load: wrk -t{} -c{} -d{}s --latency, loopback, after a 2 s warm-up; machine: {} cores",
        options.threads,
        options.connections,
        options.seconds,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );

    // Start-up: cold (empty compile cache) then warm (cache filled).
    let data_dir = dir.path().join("data");
    let cold = time_to_first_200(|port| folio_command(&manifest, &data_dir, port))?;
    let mut warm: Vec<Duration> = (0..options.starts)
        .map(|_| time_to_first_200(|port| folio_command(&manifest, &data_dir, port)))
        .collect::<anyhow::Result<_>>()?;
    warm.sort();
    println!("\n## Start-up (spawn to first 200)");
    println!("cold (empty compile cache): {:.1} ms", ms(cold));
    println!(
        "warm (compile cache):       {:.1} ms median of {} (min {:.1}, max {:.1})",
        ms(warm[warm.len() / 2]),
        warm.len(),
        ms(warm[0]),
        ms(warm[warm.len() - 1])
    );

    println!("\n## Throughput and latency (GET / → \"Hello, Folio!\")");
    println!("| server | requests/s | p50 ms | p99 ms | errors |");
    println!("| --- | ---: | ---: | ---: | --- |");

    let port = free_port();
    let mut folio = folio_command(&manifest, &data_dir, port).spawn()?;
    wait_ready(port, Duration::from_secs(60))?;
    let folio_result = load(&wrk, port, &options)?;
    let metrics = http_get(port, "/_folio/metrics")?;
    stop(&mut folio);
    print_row("folio up", &folio_result);

    let wasmtime_result = match find_wasmtime() {
        Some(wasmtime) => {
            let port = free_port();
            let mut child = Command::new(&wasmtime)
                .args([
                    "serve",
                    "-S",
                    "cli=y",
                    "--addr",
                    &format!("127.0.0.1:{port}"),
                ])
                .arg(&hello)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?;
            wait_ready(port, Duration::from_secs(120))?;
            let result = load(&wrk, port, &options)?;
            stop(&mut child);
            print_row(&format!("wasmtime serve ({})", version(&wasmtime)), &result);
            Some(result)
        }
        None => {
            println!(
                "| wasmtime serve | not installed: cargo install wasmtime-cli --version 48.0.8 --locked | | | |"
            );
            None
        }
    };

    let port = free_port();
    let mut native = Command::new(std::env::current_exe()?)
        .args(["native-server", &format!("127.0.0.1:{port}")])
        .spawn()?;
    wait_ready(port, Duration::from_secs(10))?;
    let native_result = load(&wrk, port, &options)?;
    stop(&mut native);
    print_row("native hyper", &native_result);

    println!("\n## Ratios (requests/s)");
    if let Some(w) = &wasmtime_result {
        println!(
            "folio / wasmtime serve: {:.2}x (target >= 1.0x)",
            folio_result.requests_per_sec / w.requests_per_sec
        );
    }
    println!(
        "folio / native:         {:.2}x (target >= 0.5x)",
        folio_result.requests_per_sec / native_result.requests_per_sec
    );

    println!("\n## Per-request instantiation (folio's own histogram over the load run)");
    let name = "folio_instantiation_duration_seconds";
    for q in [0.5, 0.99] {
        match histogram_quantile(&metrics, name, q) {
            Some(v) => println!("p{:.0}: {:.1} µs", q * 100.0, v * 1e6),
            None => println!("p{:.0}: no samples", q * 100.0),
        }
    }
    Ok(())
}

fn folio_command(manifest: &Path, data_dir: &Path, port: u16) -> Command {
    let mut cmd = Command::new(folio_bin());
    cmd.arg("up")
        .arg("--manifest")
        .arg(manifest)
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

fn time_to_first_200(make: impl Fn(u16) -> Command) -> anyhow::Result<Duration> {
    let port = free_port();
    let started = Instant::now();
    let mut child = make(port).spawn()?;
    let result = wait_ready(port, Duration::from_secs(120)).map(|_| started.elapsed());
    stop(&mut child);
    result
}

fn wait_ready(port: u16, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Ok(response) = http_get(port, "/")
            && response.starts_with("HTTP/1.1 200")
        {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    anyhow::bail!("server on port {port} not ready after {timeout:?}")
}

fn http_get(port: u16, path: &str) -> anyhow::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

fn load(wrk: &Path, port: u16, options: &Options) -> anyhow::Result<LoadResult> {
    let url = format!("http://127.0.0.1:{port}/");
    let run = |seconds: u32| {
        Command::new(wrk)
            .args([
                &format!("-t{}", options.threads),
                &format!("-c{}", options.connections),
                &format!("-d{seconds}s"),
                "--latency",
                &url,
            ])
            .output()
    };
    run(2)?;
    let output = run(options.seconds)?;
    anyhow::ensure!(output.status.success(), "wrk failed");
    folio_tests::wrk::parse(&String::from_utf8_lossy(&output.stdout))
}

/// Prometheus' histogram_quantile over every series of `name`, summed.
fn histogram_quantile(metrics: &str, name: &str, q: f64) -> Option<f64> {
    let mut buckets: Vec<(f64, f64)> = Vec::new();
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix(&format!("{name}_bucket{{")) else {
            continue;
        };
        let le_start = rest.find("le=\"")? + 4;
        let le_end = le_start + rest[le_start..].find('"')?;
        let le = &rest[le_start..le_end];
        let count: f64 = rest.rsplit(' ').next()?.parse().ok()?;
        let bound = if le == "+Inf" {
            f64::INFINITY
        } else {
            le.parse().ok()?
        };
        match buckets.iter_mut().find(|(b, _)| *b == bound) {
            Some((_, c)) => *c += count,
            None => buckets.push((bound, count)),
        }
    }
    buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
    let total = buckets.last()?.1;
    if total == 0.0 {
        return None;
    }
    let rank = q * total;
    let mut previous = (0.0, 0.0);
    for &(bound, count) in &buckets {
        if count >= rank {
            if bound.is_infinite() {
                return Some(previous.0);
            }
            let within = (rank - previous.1) / (count - previous.1).max(1.0);
            return Some(previous.0 + (bound - previous.0) * within);
        }
        previous = (bound, count);
    }
    None
}

fn print_row(name: &str, r: &LoadResult) {
    println!(
        "| {name} | {:.0} | {:.2} | {:.2} | {} |",
        r.requests_per_sec, r.p50_ms, r.p99_ms, r.errors
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn find_wasmtime() -> Option<PathBuf> {
    which("wasmtime").or_else(|| {
        let p = PathBuf::from(std::env::var_os("HOME")?).join(".cargo/bin/wasmtime");
        p.is_file().then_some(p)
    })
}

fn version(bin: &Path) -> String {
    Command::new(bin)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// The native baseline: hyper answering the same bytes the hello component does.
fn native_server(addr: SocketAddr) -> anyhow::Result<()> {
    use hyper::server::conn::http1;
    use hyper_util::rt::TokioIo;

    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|_req| async {
                    Ok::<_, std::convert::Infallible>(
                        hyper::Response::builder()
                            .header("content-type", "text/plain")
                            .body(http_body_util::Full::new(bytes::Bytes::from_static(
                                b"Hello, Folio!\n",
                            )))
                            .unwrap(),
                    )
                });
                let _ = http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}
