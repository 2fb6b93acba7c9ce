//! What the media tests and benchmark share: a host with the users and media
//! services on local disk or S3, a native view of the media bucket, and
//! media made at test time (images in code, audio and video by ffmpeg).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::services::{Api, unique};
use crate::{Host, HostOptions, services_manifest_recording, wasm};

/// An S3 server to bind the media bucket to (`eval "$(bash infra/s3.sh)"`).
#[derive(Clone)]
pub struct S3 {
    pub endpoint: String,
    pub bucket: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Keys of this run live below it, so runs never see each other.
    pub prefix: String,
}

pub fn s3_from_env() -> S3 {
    let var = |k: &str| {
        std::env::var(k)
            .unwrap_or_else(|_| panic!("{k} is not set: run `eval \"$(bash infra/s3.sh)\"` first"))
    };
    S3 {
        endpoint: var("FOLIO_TEST_S3_ENDPOINT"),
        bucket: var("FOLIO_TEST_S3_BUCKET"),
        access_key_id: var("FOLIO_TEST_S3_ACCESS_KEY_ID"),
        secret_access_key: var("FOLIO_TEST_S3_SECRET_ACCESS_KEY"),
        prefix: format!("media-{}/", unique()),
    }
}

/// Where a media test host keeps state; the default is all embedded (SQLite, disk).
#[derive(Clone, Default)]
pub struct MediaBackends {
    pub s3: Option<S3>,
    /// An admin URL (`infra/postgres.sh`): every component's database there.
    pub postgres: Option<String>,
}

pub struct MediaHost {
    pub host: Host,
    manifest: String,
    args: Vec<String>,
    /// The media component's id in the manifest.
    pub component: String,
    pub data_dir: PathBuf,
    pub s3: Option<S3>,
    /// Whether the app records `folio.media` events at `/ev/received`
    /// (the events fixture), for the flows to check what they carry.
    pub records_events: bool,
    _dir: tempfile::TempDir,
}

/// Users and media (as `{id}-media`, routes and workers as in spin.toml),
/// the events fixture recording `folio.media`; media variables set from `variables`.
pub fn start_media(
    id: &str,
    backends: MediaBackends,
    variables: &[(&str, &str)],
    args: &[&str],
) -> MediaHost {
    let s3 = backends.s3.clone();
    let component = format!("{id}-media");
    let group = format!("{id}-{}", unique());
    let mut manifest = services_manifest_recording(id, &group, false, &["folio.media"]);
    manifest.push_str(&media_component(&component, &group));
    for (name, value) in variables {
        manifest.push_str(&format!("{name} = \"{value}\"\n"));
    }
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let mut all_args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let mut config = s3.as_ref().map(runtime_config).unwrap_or_default();
    if let Some(url) = &backends.postgres {
        config.push_str(&format!(
            "\n[sqlite_database.default]\ntype = \"postgres\"\nurl = \"{url}\"\n"
        ));
    }
    if !config.is_empty() {
        let path = dir.path().join("runtime.toml");
        std::fs::write(&path, config).unwrap();
        all_args.extend(["--runtime-config".into(), path.display().to_string()]);
    }
    let host = Host::start_with(
        &manifest,
        HostOptions {
            args: all_args.clone(),
            env: Vec::new(),
            data_dir: Some(data_dir.clone()),
        },
    );
    MediaHost {
        host,
        manifest,
        args: all_args,
        component,
        data_dir,
        s3,
        records_events: true,
        _dir: dir,
    }
}

/// The media service as component `component` (routes, workers and cron as
/// in spin.toml, consumer groups named after `group`), ending with its
/// `[component.….variables]` table so more variables can follow.
pub fn media_component(component: &str, group: &str) -> String {
    format!(
        r#"
[[trigger.http]]
route = "/api/v1/media/..."
component = "{component}"

[[trigger.event]]
component = "{component}"
topics = ["folio.media.image-jobs", "folio.media"]
group = "{group}-media-images"

[[trigger.event]]
component = "{component}"
topics = ["folio.media.av-jobs"]
group = "{group}-media-transcodes"
max_attempts = 3
retry_backoff_ms = 1500
timeout_ms = 300000

[[trigger.event]]
component = "{component}"
topics = ["folio.content", "folio.billing"]
group = "{group}-media-access"

[[trigger.cron]]
component = "{component}"
cron_expression = "* * * * * *"

[component.{component}]
source = "{}"
sqlite_databases = ["default"]
[component.{component}.tool.folio]
blob_buckets = ["media"]
publishes = ["folio.media", "folio.media.*"]
transcode = true
[component.{component}.variables]
auth_public_keys = "{{{{ auth_public_keys }}}}"
auth_issuer = "{{{{ auth_issuer }}}}"
auth_audience = "{{{{ auth_audience }}}}"
"#,
        wasm("folio_media").display()
    )
}

/// `[blob_bucket.media]` on this S3 server, below `prefix`.
pub fn runtime_config(s3: &S3) -> String {
    format!(
        "[blob_bucket.media]\ntype = \"s3\"\nendpoint = \"{}\"\nregion = \"garage\"\nbucket = \"{}\"\n\
         access_key_id = \"{}\"\nsecret_access_key = \"{}\"\nprefix = \"{}\"\n",
        s3.endpoint, s3.bucket, s3.access_key_id, s3.secret_access_key, s3.prefix
    )
}

impl MediaHost {
    /// The media service as another process serves it (Spin, with `folio
    /// adapters` keeping its buckets under `data_dir`), on local disk and
    /// without the events fixture; it cannot be restarted from here.
    pub fn adopt(host: Host, component: &str, data_dir: PathBuf) -> MediaHost {
        MediaHost {
            host,
            manifest: String::new(),
            args: Vec::new(),
            component: component.to_string(),
            data_dir,
            s3: None,
            records_events: false,
            _dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn api(&self) -> Api<'_> {
        Api { host: &self.host }
    }

    /// Stops the host and starts it again on the same state with the
    /// manifest `edit` makes.
    pub fn restart_with_manifest(&mut self, edit: impl Fn(&str) -> String) {
        self.manifest = edit(&self.manifest);
        self.kill_and_restart();
    }

    /// A crash: SIGKILL, then the same host starts again on the same state.
    pub fn kill_and_restart(&mut self) {
        self.host.signal("KILL");
        self.host.wait_exit(Duration::from_secs(10));
        self.host = Host::start_with(
            &self.manifest,
            HostOptions {
                args: self.args.clone(),
                env: Vec::new(),
                data_dir: Some(self.data_dir.clone()),
            },
        );
    }

    /// The keys below `prefix` in the component's media bucket: on S3
    /// through the adapter, on disk from the files (opening a disk bucket
    /// clears its temporary files, which would break the host's uploads).
    pub async fn stored_keys(&self, prefix: &str) -> Vec<String> {
        let Some(s3) = &self.s3 else {
            let objects = self
                .data_dir
                .join("blobs")
                .join(&self.component)
                .join("media")
                .join("objects");
            let mut keys = Vec::new();
            disk_keys(&objects, &objects, &mut keys);
            keys.retain(|k| k.starts_with(prefix));
            keys.sort();
            return keys;
        };
        let mut config = folio_blobs::BlobConfig::default();
        let binding: folio_blobs::BlobBackendConfig = toml_binding(&runtime_config(s3));
        config.buckets.insert("media".into(), binding);
        let signer = folio_blobs::Signer::load_or_create(&self.data_dir).unwrap();
        let buckets = folio_blobs::ComponentBuckets::open(
            &self.component,
            &["media".to_string()],
            &config,
            &self.data_dir,
            &signer,
        )
        .await
        .unwrap();
        let bucket = buckets.get("media").unwrap();
        let mut keys = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = bucket.list(prefix, after.as_deref(), 1000).await.unwrap();
            keys.extend(page.objects.into_iter().map(|o| o.key));
            match page.next_start_after {
                Some(next) => after = Some(next),
                None => return keys,
            }
        }
    }

    /// Polls the item until `done` holds for it (30 s for images, more for transcodes).
    pub async fn wait_for(
        &self,
        id: &str,
        token: &str,
        timeout: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let r = self
                .api()
                .get(&format!("/api/v1/media/{id}"), Some(token))
                .await;
            if r.status == 200 && done(&r.body) {
                return r.body;
            }
            assert!(
                Instant::now() < deadline,
                "media {id} did not get there in {timeout:?}: {} {:?}",
                r.status,
                r.body
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn wait_ready(&self, id: &str, token: &str, timeout: Duration) -> Value {
        self.wait_for(id, token, timeout, |m| {
            assert_ne!(m["status"], "failed", "processing failed: {m:?}");
            m["status"] == "ready"
        })
        .await
    }
}

/// Every file below `dir`, as a key relative to `root`; files that vanish
/// while walking are skipped.
fn disk_keys(root: &Path, dir: &Path, keys: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => disk_keys(root, &path, keys),
            Ok(t) if t.is_file() => keys.push(
                path.strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            ),
            _ => {}
        }
    }
}

fn toml_binding(runtime_config: &str) -> folio_blobs::BlobBackendConfig {
    #[derive(serde::Deserialize)]
    struct Config {
        blob_bucket: std::collections::BTreeMap<String, folio_blobs::BlobBackendConfig>,
    }
    let config: Config = toml::from_str(runtime_config).unwrap();
    config.blob_bucket["media"].clone()
}

/// Runs ffmpeg (from `infra/setup.sh`) with `args`, quietly, failing loudly.
pub fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg runs (infra/setup.sh installs it)");
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A `seconds`-long H.264/AAC MP4 of ffmpeg's test pattern and a tone, with
/// the index at the end (as cameras write it), so a truncated copy is unreadable.
pub fn test_video(dir: &Path, name: &str, seconds: u32, size: &str) -> PathBuf {
    let path = dir.join(name);
    let duration = seconds.to_string();
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &format!("testsrc=duration={duration}:size={size}:rate=25"),
        "-f",
        "lavfi",
        "-i",
        &format!("sine=frequency=440:duration={duration}"),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-shortest",
        path.to_str().unwrap(),
    ]);
    path
}

pub fn test_audio(dir: &Path, name: &str, seconds: u32) -> PathBuf {
    let path = dir.join(name);
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &format!("sine=frequency=330:duration={seconds}"),
        path.to_str().unwrap(),
    ]);
    path
}

/// ffprobe's width, height and duration (ms) of a file.
pub fn probe(path: &Path) -> (Option<u64>, Option<u64>, u64) {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success(), "ffprobe {}", path.display());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let video = v["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["codec_type"] == "video");
    let duration = v["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse::<f64>().ok())
        .map_or(0, |d| (d * 1000.0).round() as u64);
    (
        video.and_then(|s| s["width"].as_u64()),
        video.and_then(|s| s["height"].as_u64()),
        duration,
    )
}

/// Pids of the ffmpeg processes working under `dir` (a host's data directory).
pub fn ffmpeg_pids_under(dir: &Path) -> Vec<u32> {
    let needle = dir.display().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                return false;
            };
            let args: Vec<String> = cmdline
                .split(|&b| b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            args.first().is_some_and(|a| a.ends_with("ffmpeg"))
                && args.iter().any(|a| a.contains(&needle))
        })
        .collect()
}
