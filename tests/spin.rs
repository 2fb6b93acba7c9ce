//! The services under a real Spin (built from source, see
//! docs/ARCHITECTURE.md "Running on Spin"): `folio export spin` composes the
//! same service components with the platform shim (and, for those with
//! event or cron triggers, with a delivery route), `folio adapters` serves
//! their databases, outboxes, stores, buckets, indexes and ffmpeg and
//! delivers their events and cron ticks to Spin, and Spin serves their
//! routes. The search and media suites run whole, as against `folio up`
//! (`folio_tests::search::search_flow`, `folio_tests::media_flows`); users,
//! content and billing run their core: sign-up to sign-out, the editorial
//! workflow with its events, a plan bought and paid with the ledger intact.
//! Attacks: the adapter service refuses callers without the component's
//! token, another component's name and handles of another session; the
//! delivery routes refuse anything but the service's delivery token; a
//! caller's name without its proof opens no chained-only route.
//! Skipped (and says so) where no `spin` binary is present.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use folio_adapter_protocol::{
    BLOBS_PATH, BUCKET_HEADER, CALL_PATH, COMPONENT_HEADER, KEY_HEADER, SESSION_HEADER, chain_key,
    component_token, delivery_token,
};
use folio_tests::media::MediaHost;
use folio_tests::media_flows::{audio_and_video, images, resumable};
use folio_tests::reqwest;
use folio_tests::services::{Api, PASSWORD, tokens, unique};
use folio_tests::{
    BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD, Host, client, folio_bin, repo_root,
    whole_app_manifest,
};
use serde_json::{Value, json};

const SECRET: &str = "a test secret for the adapter service, 32 bytes or more";

fn spin_binary() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("spin"))
            .find(|p| p.is_file())
    });
    let cached = std::env::var_os("HOME")
        .map(|home| PathBuf::from(home).join(".cache/folio/spin/bin/spin"))
        .filter(|p| p.is_file());
    on_path.or(cached)
}

async fn refresh_with(api: &Api<'_>, refresh_token: &str) -> folio_tests::services::Reply {
    api.post(
        "/api/v1/auth/refresh",
        None,
        json!({"refreshToken": refresh_token}),
    )
    .await
}

/// `NAME='value'` as `folio export spin` writes it for `. spin.env`.
fn shell_assignment(line: &str) -> Option<(String, String)> {
    let (name, quoted) = line.split_once('=')?;
    let value = quoted
        .strip_prefix('\'')?
        .strip_suffix('\'')?
        .replace(r"'\''", "'");
    Some((name.to_string(), value))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `folio adapters` for the whole app, and Spin serving the users component
/// composed with the shim.
struct SpinApp {
    adapters: Host,
    spin: Host,
    /// Where `folio adapters` keeps the app's state (databases, buckets).
    data_dir: PathBuf,
    _out: tempfile::TempDir,
}

/// The services Spin runs in these tests, and `folio adapters` serves.
/// Search evaluates its flags with the flags service: Spin traps a chained
/// call to a component it does not run, so flags runs too.
const EXPORTED: [&str; 6] = ["users", "content", "billing", "search", "flags", "media"];

fn start_spin_app(spin: &std::path::Path) -> SpinApp {
    let env = vec![
        ("FOLIO_ADAPTERS_SECRET".to_string(), SECRET.to_string()),
        (
            "FOLIO_VAR_BOOTSTRAP_ADMIN_EMAIL".to_string(),
            BOOTSTRAP_ADMIN_EMAIL.to_string(),
        ),
        (
            "FOLIO_VAR_BOOTSTRAP_ADMIN_PASSWORD".to_string(),
            BOOTSTRAP_ADMIN_PASSWORD.to_string(),
        ),
    ];
    let port = free_port();
    let spin_url = format!("http://127.0.0.1:{port}");
    // The suites make many accounts from 127.0.0.1, which is exempt; the
    // flood comes from 127.0.0.2.
    let runtime_config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        runtime_config.path(),
        "[rate_limits]\nexempt = [\"127.0.0.1\"]\n",
    )
    .unwrap();
    let runtime_config = runtime_config.into_temp_path().keep().unwrap();
    let mut line: Vec<String> = [
        "adapters",
        "--manifest",
        "{manifest_dir}/spin.toml",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        "{data_dir}",
        "--deliver-to",
        &spin_url,
        "--runtime-config",
        &runtime_config.display().to_string(),
    ]
    .map(String::from)
    .to_vec();
    for id in EXPORTED {
        line.extend(["--component-id".to_string(), id.to_string()]);
    }
    let adapters = Host::start_command_line(&whole_app_manifest(), &line, env.clone(), None);
    let manifest = adapters.manifest_path();
    let data_dir = manifest.parent().unwrap().join(".folio");

    let out = tempfile::tempdir().unwrap();
    let export = Command::new(folio_bin())
        .args(["export", "spin", "--manifest"])
        .arg(&manifest)
        .arg("--out")
        .arg(out.path())
        .args(["--adapters-url", &adapters.url("")])
        .args(EXPORTED.iter().flat_map(|id| ["--component-id", id]))
        .arg("--data-dir")
        .arg(&data_dir)
        .arg("--shim")
        .arg(repo_root().join("target/wasm32-wasip2/release/folio_spin_shim.wasm"))
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("folio export runs");
    let said = String::from_utf8_lossy(&export.stdout).to_string();
    assert!(
        export.status.success(),
        "export failed: {said}{}",
        String::from_utf8_lossy(&export.stderr)
    );
    assert!(
        said.contains("composed with the shim: billing, content, flags, media, search, users"),
        "{said}"
    );

    let spin_env = std::fs::read_to_string(out.path().join("spin.env")).unwrap();
    let log = std::fs::File::create(out.path().join("spin.log")).unwrap();
    let child = Command::new(spin)
        .args(["up", "--listen", &format!("127.0.0.1:{port}"), "-f"])
        .arg(out.path().join("spin.toml"))
        .envs(spin_env.lines().filter_map(shell_assignment))
        .current_dir(out.path())
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("spin starts");
    let spin = Host::adopt(child, format!("127.0.0.1:{port}"));
    SpinApp {
        adapters,
        spin,
        data_dir,
        _out: out,
    }
}

/// Waits until Spin answers (it compiles the composed component first).
async fn until_serving(app: &SpinApp) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(r) = client().get(app.spin.url("/api/v1/users/me")).send().await
            && r.status() == 401
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "Spin did not serve the users routes; its log:\n{}",
            std::fs::read_to_string(app._out.path().join("spin.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The app under Spin, serving; `None` (and a note) where no Spin is here.
async fn spin_app() -> Option<SpinApp> {
    let Some(spin) = spin_binary() else {
        eprintln!("no spin binary (PATH or ~/.cache/folio/spin/bin/spin): skipped");
        return None;
    };
    let started = Instant::now();
    let app = start_spin_app(&spin);
    until_serving(&app).await;
    eprintln!(
        "{} serves the composed components after {:.1} s",
        spin.display(),
        started.elapsed().as_secs_f64()
    );
    Some(app)
}

async fn users(app: &SpinApp) {
    let api = Api { host: &app.spin };
    let run = unique();

    // Sign-up and sign-in: Argon2id in the shim, the account in the
    // adapter service's database (with its outbox event), the session in
    // its key-value store.
    let email = format!("spin.{run}@example.com");
    let me = api.register(&email, "Spinner").await;
    assert_eq!(me["email"], json!(email));
    let r = api
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": email, "password": PASSWORD}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let (access, refresh) = tokens(&r);
    let r = api.get("/api/v1/users/me", Some(&access)).await;
    assert_eq!(
        (r.status, &r.body["email"]),
        (200, &json!(email)),
        "{:?}",
        r.body
    );

    // Refresh tokens are single-use: the session's generation lives in the
    // key-value store behind the shim.
    let r = refresh_with(&api, &refresh).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let (_, rotated) = tokens(&r);
    let r = refresh_with(&api, &refresh).await;
    assert_eq!(r.status, 401, "a spent refresh token: {:?}", r.body);

    // Wrong passwords and forged tokens are refused as under `folio up`.
    let r = api
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": email, "password": "not the password at all"}),
        )
        .await;
    assert_eq!(r.status, 401, "{:?}", r.body);
    let forged = format!("{}x", access);
    assert_eq!(api.get("/api/v1/users/me", Some(&forged)).await.status, 401);

    // The bootstrap admin, created on first sign-in, sees the new account.
    let (admin, _) = api
        .login(BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD)
        .await;
    let r = api
        .get(
            &format!("/api/v1/users?email={}", email.replace('@', "%40")),
            Some(&admin),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["items"][0]["email"], json!(email), "{:?}", r.body);
    let r = api.get("/api/v1/users", Some(&access)).await;
    assert_eq!(r.status, 403, "a consumer lists no one: {:?}", r.body);

    // Reusing a spent refresh token revoked its whole family, the rotated
    // one too.
    let r = refresh_with(&api, &rotated).await;
    assert_eq!(r.status, 401, "a revoked family: {:?}", r.body);

    // Sign-out ends the session: its refresh token no longer works.
    let (_, refresh) = api.login(&email, PASSWORD).await;
    let r = api
        .post(
            "/api/v1/auth/logout",
            None,
            json!({"refreshToken": refresh}),
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let r = refresh_with(&api, &refresh).await;
    assert_eq!(r.status, 401, "after sign-out: {:?}", r.body);

    attack_the_adapter_service(&app.adapters).await;
}

async fn content(app: &SpinApp) {
    let api = Api { host: &app.spin };
    let run = unique();
    let (admin, _) = api
        .login(BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD)
        .await;
    let (cora, _) = api.user_with_role(&admin, "cora", "creator", &run).await;
    let (carl, _) = api.user_with_role(&admin, "carl", "consumer", &run).await;

    let title = format!("Under Spin {run}");
    let item = json!({
        "title": title,
        "body": "<p>Hello</p><script>alert(1)</script>",
        "type": "article",
        "tags": ["Spin"],
    });
    assert_eq!(
        api.post("/api/v1/content", Some(&carl), item.clone())
            .await
            .status,
        403
    );
    let created = api.post("/api/v1/content", Some(&cora), item).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    let body = created.body["body"].as_str().unwrap();
    assert!(
        body.contains("<p>Hello</p>") && !body.contains("script"),
        "{body}"
    );
    let path = format!("/api/v1/content/{id}");
    assert_eq!(api.get(&path, None).await.status, 404, "a draft is private");

    // Conditional writes: a stale ETag loses.
    let read = api.get(&path, Some(&cora)).await;
    assert_eq!(read.status, 200, "{:?}", read.body);
    let etag = read.headers["etag"].to_str().unwrap().to_string();
    let patch = |etag: Option<String>, title: String| {
        let mut request = client()
            .patch(app.spin.url(&path))
            .bearer_auth(&cora)
            .json(&json!({"title": title}));
        if let Some(etag) = etag {
            request = request.header("if-match", etag);
        }
        request.send()
    };
    let r = patch(None, format!("{title} again")).await.unwrap();
    assert_eq!(r.status(), 428);
    let r = patch(Some(etag.clone()), format!("{title}, edited"))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = patch(Some(etag), format!("{title}, lost")).await.unwrap();
    assert_eq!(r.status(), 412);

    // The workflow by role, then the public read.
    let transition = |token: String, to: &'static str| {
        let api = &api;
        let path = path.clone();
        async move {
            api.post(
                &format!("{path}/transitions"),
                Some(&token),
                json!({"to": to}),
            )
            .await
        }
    };
    assert_eq!(transition(cora.clone(), "review").await.status, 200);
    assert_eq!(transition(cora.clone(), "published").await.status, 403);
    let r = transition(admin.clone(), "published").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let public = api.get(&path, None).await;
    assert_eq!(
        (public.status, public.body["title"].clone()),
        (200, json!(format!("{title}, edited")))
    );

    // Its events went through the outbox in content's database (written in
    // the same transactions as the item, through the shim), and the adapter
    // service's relay appended them to the event log.
    let log = app
        .adapters
        .manifest_path()
        .parent()
        .unwrap()
        .join(".folio/events/log.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", log.display()))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let types: Vec<String> = sqlx::query_scalar(
            "SELECT type FROM events WHERE topic = 'folio.content' AND subject = ? ORDER BY pos",
        )
        .bind(&id)
        .fetch_all(&pool)
        .await
        .unwrap();
        if types.contains(&"folio.content.ContentPublished".to_string()) {
            assert_eq!(
                types.first().map(String::as_str),
                Some("folio.content.ContentCreated"),
                "{types:?}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "events of {id} in the log: {types:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn billing(app: &SpinApp) {
    let api = Api { host: &app.spin };
    let run = unique();
    let (admin, _) = api
        .login(BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD)
        .await;
    let (reader, reader_id) = api.user_with_role(&admin, "rea", "consumer", &run).await;

    let plan = json!({"name": format!("Plus {run}"), "tiers": ["plus"],
        "prices": [{"interval": "month", "currency": "EUR", "amount": 700}]});
    assert_eq!(
        api.post("/api/v1/billing/plans", Some(&reader), plan.clone())
            .await
            .status,
        403
    );
    let r = api.post("/api/v1/billing/plans", Some(&admin), plan).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let plan_id = r.body["id"].clone();
    let r = api
        .post(
            "/api/v1/billing/subscriptions",
            Some(&reader),
            json!({"planId": plan_id}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["subscription"]["status"], "incomplete");
    let invoice = r.body["invoice"]["id"].as_str().unwrap().to_string();
    let tiers = api
        .get("/api/v1/billing/entitlements/me", Some(&reader))
        .await;
    assert_eq!(tiers.body["tiers"], json!([]), "{:?}", tiers.body);

    // Paid by bank transfer: the subscription is active and grants its tier.
    let mark = format!("/api/v1/billing/invoices/{invoice}/mark-paid");
    assert_eq!(api.post(&mark, Some(&reader), json!({})).await.status, 403);
    let r = api.post(&mark, Some(&admin), json!({})).await;
    assert_eq!(
        (r.status, &r.body["status"]),
        (200, &json!("paid")),
        "{:?}",
        r.body
    );
    assert_eq!(api.post(&mark, Some(&admin), json!({})).await.status, 409);
    let tiers = api
        .get("/api/v1/billing/entitlements/me", Some(&reader))
        .await;
    assert_eq!(tiers.body["tiers"], json!(["plus"]), "{:?}", tiers.body);
    let listed = api
        .get(
            &format!("/api/v1/billing/subscriptions?account={reader_id}"),
            Some(&admin),
        )
        .await;
    assert_eq!(
        listed.body["items"][0]["status"], "active",
        "{:?}",
        listed.body
    );

    // Every change went into the account's hash chain, which still checks.
    let ledger = api.get("/api/v1/billing/ledger", Some(&reader)).await;
    assert!(
        ledger.body["items"]
            .as_array()
            .is_some_and(|e| e.len() >= 3),
        "{:?}",
        ledger.body
    );
    let verified = api.get("/api/v1/billing/ledger/verify", Some(&admin)).await;
    assert_eq!(verified.body["valid"], true, "{:?}", verified.body);
}

async fn search(app: &SpinApp) {
    // Content's events reach search's worker as CloudEvents over HTTP from
    // `folio adapters`; the worker reads the content feed by a chained call
    // that proves its name, and writes the index in the adapter service.
    folio_tests::search::search_flow(&app.spin).await;
    scheduled_content_publishes_on_the_cron_tick(app).await;
    attack_the_delivery_routes(app).await;
}

/// One app for every suite: Spin compiles each composed component at
/// start (media's takes a minute on two cores), so the suites share a
/// start, in an order where none counts what another made (search's facets
/// count every published article).
#[tokio::test(flavor = "multi_thread")]
async fn the_services_under_a_real_spin() {
    let Some(app) = spin_app().await else {
        return;
    };
    search(&app).await;
    a_sign_in_flood_is_refused_before_the_service(&app).await;
    users(&app).await;
    content(&app).await;
    billing(&app).await;
    let SpinApp {
        adapters,
        spin,
        data_dir,
        _out,
    } = app;
    // Uploads stream through the shim into the adapter service's bucket,
    // image jobs reach media's worker as CloudEvents, transcodes run ffmpeg
    // in the adapter service, and delivery streams the bytes back.
    let mh = MediaHost::adopt(spin, "media", data_dir);
    images(&mh, false).await;
    audio_and_video(&mh).await;
    resumable(&mh).await;
    drop(adapters);
}

/// The users service's `sign-in` policy (30 per minute per address), which
/// `folio up`'s gateway applies, applied under Spin by the gateway composed
/// in front of users: from another address, the attempts past 30 (and what
/// the window refilled meanwhile) are refused with the host's 429 and never
/// reach the service.
async fn a_sign_in_flood_is_refused_before_the_service(app: &SpinApp) {
    let elsewhere = folio_tests::reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let mut passed = 0;
    let mut refused = None;
    let began = Instant::now();
    for _ in 0..40 {
        let r = elsewhere
            .post(app.spin.url("/api/v1/auth/login"))
            .json(&json!({"email": "nobody@example.com", "password": "not the password 1"}))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let retry_after = r.headers().get("retry-after").cloned();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        let by_policy = body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("rate limit `sign-in`"));
        if status == 429 && by_policy {
            assert!(retry_after.is_some(), "{body:?}");
            refused = Some(body);
            break;
        }
        passed += 1;
    }
    // The window refills one attempt every 2 s while the flood goes on.
    let refilled = began.elapsed().as_secs() / 2;
    assert!(
        (30..=30 + refilled + 1).contains(&passed),
        "{passed} passed in {:?}, then refused: {refused:?}",
        began.elapsed()
    );
    assert!(refused.is_some(), "never refused");
    // The exempt address still signs in.
    let api = Api { host: &app.spin };
    api.login(BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD)
        .await;
}

/// Content's cron trigger, run by `folio adapters` and sent to the
/// `content-cron` route: an item scheduled two seconds ahead publishes itself.
async fn scheduled_content_publishes_on_the_cron_tick(app: &SpinApp) {
    let api = Api { host: &app.spin };
    let (admin, _) = api
        .login(BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD)
        .await;
    let now_ms = folio_guest::util::now_ms();
    let due = folio_guest::util::rfc3339(now_ms - now_ms % 1000 + 2_000);
    let r = api
        .post(
            "/api/v1/content",
            Some(&admin),
            json!({"title": "Due on a tick", "type": "article", "scheduledAt": due}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    for (to, status) in [("review", 200), ("published", 202)] {
        let r = api
            .post(
                &format!("/api/v1/content/{id}/transitions"),
                Some(&admin),
                json!({ "to": to }),
            )
            .await;
        assert_eq!(r.status, status, "{to}: {:?}", r.body);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = api.get(&format!("/api/v1/content/{id}"), None).await;
        if r.status == 200 {
            assert_eq!(r.body["status"], "published", "{:?}", r.body);
            break;
        }
        assert!(Instant::now() < deadline, "never published: {:?}", r.body);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The delivery routes and chained-only routes as an outsider reaches them
/// on the Spin app: without the service's delivery token nothing is
/// delivered, and a caller's name without its proof opens nothing.
async fn attack_the_delivery_routes(app: &SpinApp) {
    let deliver = |path: &str, token: Option<String>| {
        let mut request = client()
            .post(app.spin.url(path))
            .header("ce-specversion", "1.0")
            .header("ce-id", "forged-1")
            .header("ce-source", "/attacker")
            .header("ce-type", "folio.content.deleted")
            .header("ce-subject", "x")
            .header("folio-topic", "folio.content")
            .header("folio-attempt", "1")
            .header("content-type", "application/json")
            .body(r#"{"id":"x"}"#);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let secret = SECRET.as_bytes();
    for (path, token, why) in [
        ("/_folio/deliver/search/events", None, "no token"),
        (
            "/_folio/deliver/search/events",
            Some("0".repeat(64)),
            "a guessed token",
        ),
        (
            "/_folio/deliver/search/events",
            Some(component_token(secret, "search")),
            "search's own call token",
        ),
        (
            "/_folio/deliver/search/events",
            Some(delivery_token(secret, "content")),
            "content's delivery token",
        ),
        (
            "/_folio/deliver/search/events",
            Some(delivery_token(
                b"another secret, also 32 bytes long",
                "search",
            )),
            "a token under another secret",
        ),
        ("/_folio/deliver/content/cron", None, "no token"),
        (
            "/_folio/deliver/content/cron",
            Some(delivery_token(secret, "search")),
            "search's delivery token",
        ),
    ] {
        let r = deliver(path, token).await.unwrap();
        assert_eq!(r.status(), 401, "{path} with {why}");
    }
    // The right token, a malformed event: refused before the handler.
    let r = client()
        .post(app.spin.url("/_folio/deliver/search/events"))
        .bearer_auth(delivery_token(secret, "search"))
        .header("ce-specversion", "1.0")
        .header("folio-topic", "folio.content")
        .header("folio-attempt", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("ce-id"));
    let r = client()
        .get(app.spin.url("/_folio/deliver/search/events"))
        .bearer_auth(delivery_token(secret, "search"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);

    // Spin passes any header through: a caller's name alone, or with a
    // forged proof, does not open the content feed (drafts, paid bodies).
    // Nor does a key another component holds: flags holds search's key for
    // flags, not for content, and no component holds search's key for
    // content but search and content.
    let feed = |caller: &'static str, proof: Option<String>| {
        let mut request = client()
            .get(app.spin.url("/api/v1/content/index-feed?limit=10"))
            .header("folio-calling-component", caller);
        if let Some(proof) = proof {
            request = request.header("folio-calling-proof", proof);
        }
        request.send()
    };
    for (caller, proof, why) in [
        ("search", None, "no proof"),
        ("search", Some("0".repeat(64)), "a guessed proof"),
        (
            "search",
            Some(component_token(secret, "search")),
            "search's adapter token",
        ),
        (
            "search",
            Some(chain_key(secret, "search", "flags")),
            "search's key for flags",
        ),
        (
            "search",
            Some(chain_key(secret, "content", "search")),
            "content's key for search",
        ),
        (
            "notifications",
            Some(chain_key(secret, "search", "content")),
            "search's key, another name",
        ),
        (
            "search",
            Some(chain_key(
                b"another secret, also 32 bytes long",
                "search",
                "content",
            )),
            "a key under another secret",
        ),
    ] {
        let r = feed(caller, proof).await.unwrap();
        assert_eq!(r.status(), 404, "{caller} with {why}");
    }
    // The key search holds for content opens it: the refusals above are the
    // proof's doing.
    let r = feed("search", Some(chain_key(secret, "search", "content")))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// The adapter service as an attacker on the network sees it.
async fn attack_the_adapter_service(adapters: &Host) {
    let session = "0123456789abcdef0123456789abcdef";
    let call = |component: &str, token: &str, session: &str, body: Value| {
        client()
            .post(adapters.url(CALL_PATH))
            .header(COMPONENT_HEADER, component)
            .header(SESSION_HEADER, session)
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let users = component_token(SECRET.as_bytes(), "users");
    // Calls as the users component, answered 200 with the WIT result.
    let as_users = |session: &'static str, body: Value| {
        let users = users.clone();
        let call = &call;
        async move {
            let r = call("users", &users, session, body.clone()).await.unwrap();
            assert_eq!(r.status(), 200, "{body}");
            r.json::<Value>().await.unwrap()
        }
    };
    let open = json!({"call": "sql-open", "database": "default"});

    // No token, a guessed one, another component's name with users' token.
    for (component, token) in [
        ("users", "".to_string()),
        ("users", "0".repeat(64)),
        (
            "users",
            component_token(b"another secret, 32 bytes or longer", "users"),
        ),
        ("content", users.clone()),
    ] {
        let r = call(component, &token, session, open.clone())
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{component} with {token:?}");
    }
    // A component the app does not have, with a token for that name.
    let ghost = component_token(SECRET.as_bytes(), "ghost");
    let r = call("ghost", &ghost, session, open.clone()).await.unwrap();
    assert_eq!(r.status(), 403);

    // Object bytes stream beside the calls, behind the same token check, and
    // reach only the buckets a component is granted: users has none, and
    // media's is not users'. A refused upload writes nothing.
    let media = component_token(SECRET.as_bytes(), "media");
    let object = |method: reqwest::Method, component: &str, token: &str| {
        client()
            .request(method, adapters.url(BLOBS_PATH))
            .header(COMPONENT_HEADER, component)
            .header(SESSION_HEADER, session)
            .header(BUCKET_HEADER, "media")
            .header(KEY_HEADER, "media/planted/original")
            .bearer_auth(token)
            .body("planted")
            .send()
    };
    for (component, token) in [("media", ""), ("media", users.as_str())] {
        let r = object(reqwest::Method::GET, component, token)
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{component} with {token:?}");
    }
    for method in [reqwest::Method::GET, reqwest::Method::PUT] {
        let r = object(method.clone(), "users", &users).await.unwrap();
        assert_eq!(r.status(), 422, "{method} as users");
        let error: Value = r.json().await.unwrap();
        assert!(error.get("NoSuchBucket").is_some(), "{method}: {error}");
    }
    let r = object(reqwest::Method::GET, "media", &media).await.unwrap();
    assert_eq!(r.status(), 404, "nothing was planted");

    // Users reaches its own database and store, and only those its
    // manifest grants; its grants hold here too (no ATTACH of another file).
    assert_eq!(as_users(session, open.clone()).await, json!({"ok": null}));
    for body in [
        json!({"call": "sql-open", "database": "other"}),
        json!({"call": "sql-query", "database": "other", "statement": "SELECT 1", "params": []}),
    ] {
        let r = as_users(session, body).await;
        assert_eq!(r["err"]["error"], "no-such-database", "{r}");
    }
    let r = as_users(
        session,
        json!({"call": "kv-get", "store": "sessions-of-another", "key": "x"}),
    )
    .await;
    assert_eq!(r["err"]["error"], "no-such-store", "{r}");
    let r = as_users(
        session,
        json!({"call": "sql-execute", "database": "default",
               "statement": "ATTACH DATABASE '/tmp/x.db' AS x", "params": []}),
    )
    .await;
    assert_eq!(r["err"]["error"], "not-allowed", "{r}");

    // Transactions and CAS handles live in their session: another session
    // cannot name them, and one kind cannot stand for another.
    let transaction =
        as_users(session, json!({"call": "sql-begin", "database": "default"})).await["ok"].clone();
    let cas = as_users(
        session,
        json!({"call": "kv-cas-new", "store": "default", "key": "k"}),
    )
    .await["ok"]
        .clone();
    let query = |transaction: &Value| {
        json!({"call": "tx-query", "transaction": transaction,
               "statement": "SELECT 1", "params": []})
    };
    let other = "fedcba9876543210fedcba9876543210";
    let r = call("users", &users, other, query(&transaction))
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "a handle of another session");
    let r = call("users", &users, session, query(&cas)).await.unwrap();
    assert_eq!(r.status(), 400, "a CAS handle used as a transaction");
    let r = as_users(session, query(&transaction)).await;
    assert!(r["ok"]["rows"].is_array(), "the session's own handle: {r}");
    for close in [
        json!({"call": "tx-close", "transaction": transaction}),
        json!({"call": "kv-cas-close", "cas": cas}),
    ] {
        assert_eq!(as_users(session, close).await, json!({"ok": null}));
    }
    let r = call("users", &users, session, query(&transaction))
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "the session ended with its last handle");

    // An instance that trapped never closes its transaction: when its
    // session goes idle the service rolls it back, and SQLite's write lock
    // is free again.
    let create = |transaction: &Value| {
        json!({"call": "tx-execute", "transaction": transaction,
               "statement": "CREATE TABLE abandoned_write (x INTEGER)", "params": []})
    };
    let abandoned = "11111111111111111111111111111111";
    let transaction = as_users(
        abandoned,
        json!({"call": "sql-begin", "database": "default"}),
    )
    .await["ok"]
        .clone();
    let r = as_users(abandoned, create(&transaction)).await;
    assert!(r["ok"].is_u64(), "{r}");
    tokio::time::sleep(Duration::from_secs(18)).await;
    let r = call("users", &users, abandoned, create(&transaction))
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "the abandoned session is gone");
    let later = "22222222222222222222222222222222";
    let transaction =
        as_users(later, json!({"call": "sql-begin", "database": "default"})).await["ok"].clone();
    let r = as_users(later, create(&transaction)).await;
    assert!(r["ok"].is_u64(), "rolled back, and the lock released: {r}");
    let r = as_users(
        later,
        json!({"call": "tx-rollback", "transaction": transaction}),
    )
    .await;
    assert_eq!(r, json!({"ok": null}));

    // Malformed sessions and bodies.
    let r = call("users", &users, "short", open.clone()).await.unwrap();
    assert_eq!(r.status(), 400);
    let r = call(
        "users",
        &users,
        session,
        json!({"call": "sql-drop-everything"}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
}
