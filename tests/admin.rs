//! The admin component over HTTP (what it serves, how it caches and
//! compresses, what it refuses), and the admin web app's main flows in
//! headless Chromium against the whole application (`spin.toml`).

use std::process::Command;

use folio_tests::{BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD, Host, HostOptions, repo_root};
use reqwest::StatusCode;

fn start_whole_app() -> Host {
    Host::start_with(
        &folio_tests::whole_app_manifest(),
        HostOptions {
            env: vec![
                (
                    "FOLIO_VAR_BOOTSTRAP_ADMIN_EMAIL".into(),
                    BOOTSTRAP_ADMIN_EMAIL.into(),
                ),
                (
                    "FOLIO_VAR_BOOTSTRAP_ADMIN_PASSWORD".into(),
                    BOOTSTRAP_ADMIN_PASSWORD.into(),
                ),
            ],
            ..HostOptions::default()
        },
    )
}

fn plain_client() -> reqwest::Client {
    // reqwest is built without decompression here: the test reads the
    // encodings themselves.
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The path of the app's entry script, read from its page.
async fn entry_script(host: &Host) -> String {
    let page = plain_client()
        .get(host.url("/admin/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let start = page.find("/admin/assets/index-").expect("an entry script");
    let end = start + page[start..].find('"').unwrap();
    page[start..end].to_string()
}

#[tokio::test]
async fn pages_assets_caching_and_refusals() {
    let host = start_whole_app();
    let client = plain_client();
    let get = |path: &str, headers: &[(&str, &str)]| {
        let mut request = client.get(host.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send()
    };

    // The landing page, the app at any of its screens, the API reference.
    for (path, needle) in [
        ("/", "href=\"/admin/\""),
        ("/admin/", "<div id=\"app\">"),
        (
            "/admin/content/0b9e3b7c-8d51-4a4e-9a44-2f3e4c5d6e7f",
            "<div id=\"app\">",
        ),
        ("/admin/users", "<div id=\"app\">"),
        ("/docs/", "swagger-ui-bundle-"),
    ] {
        let response = get(path, &[]).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let headers = response.headers().clone();
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert_eq!(headers["cache-control"], "no-cache", "{path}");
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
        assert_eq!(headers["x-frame-options"], "DENY");
        let body = response.text().await.unwrap();
        assert!(body.contains(needle), "{path} lacks {needle}");
        // Nothing from a CDN: every script and stylesheet is this host's.
        for attribute in ["src=\"http", "href=\"http", "src=\"//", "href=\"//"] {
            assert!(!body.contains(attribute), "{path} loads from elsewhere");
        }
    }
    for (from, to) in [("/admin", "/admin/"), ("/docs", "/docs/")] {
        let response = get(from, &[]).await.unwrap();
        assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT);
        assert_eq!(response.headers()["location"], to);
    }

    // A fingerprinted script: cached for a year, in the best encoding offered.
    let script = entry_script(&host).await;
    let identity = get(&script, &[("accept-encoding", "identity")])
        .await
        .unwrap();
    assert_eq!(identity.status(), StatusCode::OK);
    assert_eq!(
        identity.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(
        identity.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(identity.headers().get("content-encoding").is_none());
    let etag = identity.headers()["etag"].to_str().unwrap().to_string();
    let plain = identity.bytes().await.unwrap();
    for (accept, encoding) in [
        ("gzip, deflate, br, zstd", "br"),
        ("gzip", "gzip"),
        ("br;q=0, gzip;q=0.8", "gzip"),
    ] {
        let response = get(&script, &[("accept-encoding", accept)]).await.unwrap();
        assert_eq!(response.headers()["content-encoding"], encoding, "{accept}");
        assert_eq!(response.headers()["vary"], "accept-encoding");
        let compressed = response.bytes().await.unwrap();
        assert!(compressed.len() < plain.len() / 2, "{encoding}");
        let mut decoded = Vec::new();
        if encoding == "br" {
            brotli_decompress(&compressed, &mut decoded);
        } else {
            use std::io::Read;
            flate2::read::GzDecoder::new(&compressed[..])
                .read_to_end(&mut decoded)
                .unwrap();
        }
        assert_eq!(decoded, plain, "{encoding} decodes to the script");
    }
    let revalidated = get(&script, &[("if-none-match", &etag)]).await.unwrap();
    assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);
    assert!(revalidated.bytes().await.unwrap().is_empty());
    let head = client.head(host.url(&script)).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert!(head.bytes().await.unwrap().is_empty());

    // Refusals: missing files, escapes, other methods; never the app's page.
    for path in [
        "/admin/assets/index-00000000.js",
        "/admin/favicon.png",
        "/admin/../spin.toml",
        "/admin/%2e%2e/spin.toml",
        "/docs/assets/nothing.js",
        "/site/anything",
    ] {
        let response = get(path, &[]).await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{path}"
        );
    }
    for method in [
        reqwest::Method::POST,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
    ] {
        let response = client
            .request(method.clone(), host.url("/admin/"))
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method}"
        );
        assert_eq!(response.headers()["allow"], "GET, HEAD");
    }
}

/// Node's brotli (the admin build needs Node anyway; no Rust brotli crate here).
fn brotli_decompress(input: &[u8], output: &mut Vec<u8>) {
    use std::io::Write;
    let mut node = Command::new("node")
        .args([
            "-e",
            "process.stdout.write(require('zlib').brotliDecompressSync(require('fs').readFileSync(0)))",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("node runs");
    node.stdin.take().unwrap().write_all(input).unwrap();
    let done = node.wait_with_output().unwrap();
    assert!(done.status.success());
    output.extend(done.stdout);
}

/// Sign-in with MFA, a draft made with the keyboard alone, autosave and a
/// provoked conflict, an image uploaded and picked, an upload resumed after a
/// reload, a video played from its HLS rendition, review and publication,
/// distribution, the calendar (published and scheduled), revisions, search, a chart with data and an experiment's
/// intervals, users, channels and the delivery log, a flag's rollout, a
/// template's live preview, a plan, the own account, sign-out; an axe-core scan of each screen
/// (no serious or critical violations) and no unexpected console error.
/// Screenshots land in `target/admin-screenshots/`.
#[tokio::test]
async fn main_flows_in_a_real_browser() {
    let host = start_whole_app();
    let chromium = Command::new("bash")
        .arg("infra/browser.sh")
        .current_dir(repo_root())
        .output()
        .expect("bash runs");
    assert!(chromium.status.success(), "installing chromium failed");
    let chromium = String::from_utf8(chromium.stdout)
        .unwrap()
        .trim()
        .to_string();
    let screenshots = repo_root().join("target/admin-screenshots");
    let _ = std::fs::remove_dir_all(&screenshots);
    let web = repo_root().join("components/admin/web");
    let run = tokio::process::Command::new("node")
        .arg("e2e/flows.mjs")
        .current_dir(&web)
        .env("FOLIO_URL", host.url(""))
        .env("FOLIO_ADMIN_EMAIL", BOOTSTRAP_ADMIN_EMAIL)
        .env("FOLIO_ADMIN_PASSWORD", BOOTSTRAP_ADMIN_PASSWORD)
        .env("CHROMIUM", &chromium)
        .env("SCREENSHOTS", &screenshots)
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(300), run)
        .await
        .expect("the browser flows finish within 5 minutes")
        .expect("node runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "browser flows failed:\n{stderr}\n{stdout}\nscreenshots in {}",
        screenshots.display()
    );
    eprintln!("{stdout}");
    for screen in [
        "landing",
        "docs",
        "sign-in",
        "dashboard",
        "conflict",
        "media",
        "editor",
        "revisions",
        "search",
        "content-list",
        "users",
        "publishing",
        "flags",
        "templates",
        "billing",
        "subscriptions",
        "video",
        "account",
        "calendar",
        "mobile",
    ] {
        assert!(
            screenshots.join(format!("{screen}.png")).is_file(),
            "no screenshot of {screen}"
        );
    }
}
