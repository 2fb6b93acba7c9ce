//! The users service benchmark: sign-ins per second (bound by Argon2id, run
//! by the host's hashing pool), an unrelated route's latency while sign-ins
//! flood the host, what a rate-limit policy costs a request, token
//! verification natively, and what verifying a bearer token adds to a
//! request through the host.
//!
//!     cargo run --release -p folio-tests --bin folio-users-bench -- [--seconds 10]
//!
//! It prints numbers; it asserts nothing.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use folio_auth::jwt::{Claims, SigningKey, Verifier, jwks_json};
use folio_auth::password;
use folio_tests::wrk::{self, LoadResult};
use folio_tests::{Host, HostOptions, meta_openapi_component, users_manifest};
use serde_json::{Value, json};

const PASSWORD: &str = "a long and quiet river 42";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut seconds = 10u32;
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, value] = args.as_slice()
        && flag == "--seconds"
    {
        seconds = value.parse()?;
    }
    let wrk = wrk::find()?;
    native();

    let dir = tempfile::tempdir()?;
    let mut manifest = users_manifest("users-bench", "users-bench");
    manifest.push_str(&meta_openapi_component(
        "users-bench-meta",
        "/api/v1/meta",
        &[("users-bench", "/api/v1/openapi/users.json")],
    ));
    let host = Host::start_with(
        &manifest,
        HostOptions {
            data_dir: Some(dir.path().join("data")),
            // Throttling would answer the failed sign-ins below with 429s.
            env: vec![
                (
                    "FOLIO_VAR_LOGIN_MAX_FAILURES_PER_ADDRESS".into(),
                    "1000000".into(),
                ),
                ("FOLIO_VAR_LOGIN_MAX_FAILURES".into(), "1000000".into()),
            ],
            ..Default::default()
        },
    );
    let client = folio_tests::client();
    let email = "bench@example.com";
    let registered = client
        .post(host.url("/api/v1/auth/register"))
        .json(&json!({"email": email, "password": PASSWORD, "firstName": "Bench", "lastName": "Mark"}))
        .send()
        .await?;
    anyhow::ensure!(
        registered.status() == 202,
        "register: {}",
        registered.status()
    );
    let login: Value = client
        .post(host.url("/api/v1/auth/login"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await?
        .json()
        .await?;
    let token = login["accessToken"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no token: {login}"))?
        .to_string();

    let script = dir.path().join("login.lua");
    std::fs::write(
        &script,
        format!(
            "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.body = '{}'\n",
            json!({"email": email, "password": PASSWORD})
        ),
    )?;
    let duration = format!("-d{seconds}s");
    println!("| load | requests/s | p50 ms | p99 ms | errors |");
    println!("| --- | --- | --- | --- | --- |");
    let login = wrk::run(
        &wrk,
        &[
            "-t2".into(),
            "-c4".into(),
            duration.clone(),
            "-s".into(),
            script.display().to_string(),
            host.url("/api/v1/auth/login"),
        ],
    )?;
    row("POST /auth/login, 4 connections", &login);

    // An unrelated route (another component) alone, then while 8 connections
    // sign in as fast as they can.
    let meta = host.url("/api/v1/meta");
    let meta_alone = wrk::run(
        &wrk,
        &["-t1".into(), "-c1".into(), duration.clone(), meta.clone()],
    )?;
    row("GET /api/v1/meta alone, 1 connection", &meta_alone);
    let flood_args: Vec<String> = vec![
        "-t2".into(),
        "-c8".into(),
        format!("-d{}s", seconds + 2),
        "-s".into(),
        script.display().to_string(),
        host.url("/api/v1/auth/login"),
    ];
    let flood = {
        let wrk = wrk.clone();
        std::thread::spawn(move || wrk::run(&wrk, &flood_args))
    };
    std::thread::sleep(Duration::from_secs(1));
    let meta_flooded = wrk::run(
        &wrk,
        &["-t1".into(), "-c1".into(), duration.clone(), meta.clone()],
    )?;
    let flood = flood.join().expect("wrk thread")?;
    row(
        "GET /api/v1/meta during the sign-in flood, 1 connection",
        &meta_flooded,
    );
    row("POST /auth/login, the flood itself, 8 connections", &flood);
    rate_limit_cost(&wrk, &duration)?;
    // Unknown emails must cost what wrong passwords cost (no enumeration by timing).
    let failing = |body: Value| -> anyhow::Result<LoadResult> {
        let script = dir.path().join("failing.lua");
        std::fs::write(
            &script,
            format!(
                "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.body = '{body}'\n"
            ),
        )?;
        wrk::run(
            &wrk,
            &[
                "-t1".into(),
                "-c1".into(),
                duration.clone(),
                "-s".into(),
                script.display().to_string(),
                host.url("/api/v1/auth/login"),
            ],
        )
    };
    for round in 1..=2 {
        let wrong_password =
            failing(json!({"email": email, "password": "not the password at all"}))?;
        row(
            &format!("POST /auth/login, wrong password (401), 1 connection, round {round}"),
            &wrong_password,
        );
        let unknown = failing(json!({"email": "nobody@example.com", "password": PASSWORD}))?;
        row(
            &format!("POST /auth/login, unknown email (401), 1 connection, round {round}"),
            &unknown,
        );
    }

    // One connection, so the medians measure latency rather than queueing.
    let session = host.url("/api/v1/auth/session");
    let one = |extra: Vec<String>| -> anyhow::Result<LoadResult> {
        let mut args = vec!["-t1".to_string(), "-c1".into(), duration.clone()];
        args.extend(extra);
        args.push(session.clone());
        wrk::run(&wrk, &args)
    };
    one(vec!["-d2s".into()])?;
    // Alternating pairs, since single-connection medians drift by ~0.1 ms
    // between runs on this machine.
    let mut added_us = Vec::new();
    for round in 1..=3 {
        let anonymous = one(Vec::new())?;
        row(
            &format!("GET /auth/session without a token (401), 1 connection, round {round}"),
            &anonymous,
        );
        let authorized = one(vec!["-H".into(), format!("Authorization: Bearer {token}")])?;
        row(
            &format!("GET /auth/session with a valid token (200), 1 connection, round {round}"),
            &authorized,
        );
        added_us.push((authorized.p50_ms - anonymous.p50_ms) * 1000.0);
    }
    added_us.sort_by(f64::total_cmp);
    println!(
        "\na valid token adds {:.0} µs at the median (median of 3 rounds; each: {:?})\n",
        added_us[1],
        added_us.iter().map(|v| v.round()).collect::<Vec<_>>()
    );
    let many = |extra: Vec<String>| -> anyhow::Result<LoadResult> {
        let mut args = vec!["-t2".to_string(), "-c16".into(), duration.clone()];
        args.extend(extra);
        args.push(session.clone());
        wrk::run(&wrk, &args)
    };
    row(
        "GET /auth/session with a valid token, 16 connections",
        &many(vec!["-H".into(), format!("Authorization: Bearer {token}")])?,
    );
    drop(host);
    Ok(())
}

/// The same route on two hosts, one with a rate-limit policy on it that
/// never refuses: what counting a request costs.
fn rate_limit_cost(wrk: &std::path::Path, duration: &str) -> anyhow::Result<()> {
    let hello = folio_tests::wasm("folio_hello");
    let manifest = |policy: &str| {
        format!(
            "spin_manifest_version = 2\n[application]\nname = \"rate-bench\"\n\n\
             [[trigger.http]]\nroute = \"/hello\"\ncomponent = \"hello\"\n\n\
             [component.hello]\nsource = \"{}\"\n{policy}",
            hello.display()
        )
    };
    let policy = "[[component.hello.tool.folio.rate_limits]]\nname = \"bench\"\nroutes = [\"/hello\"]\n\
                  key = \"address\"\nlimit = 1000000000\nwindow_secs = 1\n";
    let plain = Host::start(&manifest(""));
    let limited = Host::start(&manifest(policy));
    let mut added_us = Vec::new();
    for round in 1..=3 {
        for (name, host) in [("no policy", &plain), ("a policy", &limited)] {
            let one = wrk::run(
                wrk,
                &[
                    "-t1".into(),
                    "-c1".into(),
                    duration.into(),
                    host.url("/hello"),
                ],
            )?;
            row(
                &format!("GET /hello, {name}, 1 connection, round {round}"),
                &one,
            );
            added_us.push(one.p50_ms * 1000.0);
        }
    }
    let deltas: Vec<f64> = added_us.chunks(2).map(|p| p[1] - p[0]).collect();
    let mut sorted = deltas.clone();
    sorted.sort_by(f64::total_cmp);
    println!(
        "\na rate-limit policy adds {:.0} µs at the median (median of 3 rounds; each: {:?})\n",
        sorted[1],
        deltas.iter().map(|v| v.round()).collect::<Vec<_>>()
    );
    for (name, host) in [("no policy", &plain), ("a policy", &limited)] {
        let many = wrk::run(
            wrk,
            &[
                "-t2".into(),
                "-c16".into(),
                duration.into(),
                host.url("/hello"),
            ],
        )?;
        row(&format!("GET /hello, {name}, 16 connections"), &many);
    }
    Ok(())
}

fn row(name: &str, r: &LoadResult) {
    println!(
        "| {name} | {:.0} | {:.3} | {:.3} | {} |",
        r.requests_per_sec, r.p50_ms, r.p99_ms, r.errors
    );
}

/// The same library code natively, for scale.
fn native() {
    let key = SigningKey::from_seed(&[42; 32]);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let claims = Claims {
        iss: "http://folio.test".into(),
        sub: "bench".into(),
        aud: "folio".into(),
        exp: now + 900,
        iat: now,
        nbf: now,
        jti: "j".into(),
        role: "consumer".into(),
        sid: None,
        scope: None,
        client_id: None,
    };
    let token = key.sign(&claims);
    let jwks = jwks_json([key.public_key()]);
    let n = 20_000;
    let started = Instant::now();
    for _ in 0..n {
        let verifier = Verifier::from_jwks(&jwks, "http://folio.test", "folio").unwrap();
        std::hint::black_box(verifier.verify(&token, now).unwrap());
    }
    let per_verify = started.elapsed() / n;
    let hashes = 10;
    let started = Instant::now();
    for i in 0..hashes {
        std::hint::black_box(password::hash(PASSWORD, [i as u8; 16]));
    }
    let per_hash = started.elapsed() / hashes;
    println!(
        "native: JWKS parse + verify {} µs ({:.0}/s on one core); Argon2id hash {:.1} ms\n",
        per_verify.as_micros(),
        1.0 / per_verify.as_secs_f64(),
        ms(per_hash)
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
