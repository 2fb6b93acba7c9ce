//! The media benchmark:
//! - a thumbnail of a 12-megapixel JPEG (decode, cover-crop to 320×320,
//!   JPEG) inside the media component, timed by the component itself
//!   (`server-timing` of an uncached transform), against the same
//!   `folio-imaging` code run natively;
//! - a 1 GiB upload streamed through the component into storage (disk, and
//!   S3 when `FOLIO_TEST_S3_*` is set), with the host's peak memory.
//!
//!     cargo run --release -p folio-tests --bin folio-media-bench -- [--runs 7] [--upload-mib 1024]
//!
//! `--upload-mib 0` skips the uploads.
//!
//! It prints numbers; it asserts nothing.

use std::io::Cursor;
use std::time::{Duration, Instant};

use folio_imaging::{Fit, Format, Limits};
use folio_tests::media::{MediaBackends, MediaHost, S3, ffmpeg, start_media};
use folio_tests::services::Api;
use folio_tests::{BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD, client};
use image::RgbImage;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str, default: u64| -> u64 {
        args.windows(2)
            .find(|w| w[0] == name)
            .and_then(|w| w[1].parse().ok())
            .unwrap_or(default)
    };
    let runs = flag("--runs", 7) as usize;
    let upload_mib = flag("--upload-mib", 1024);

    let jpeg = twelve_megapixels();
    println!("12-megapixel JPEG: 4000×3000, {} bytes", jpeg.len());
    let native = native_thumbnails(&jpeg, runs);
    let wasm = wasm_thumbnails(&jpeg, runs).await?;
    println!(
        "thumbnail 320×320 cover JPEG, median of {runs}: native {:.1} ms, in Wasm {:.1} ms ({:.2}× native)",
        native,
        wasm,
        wasm / native
    );

    if upload_mib == 0 {
        return Ok(());
    }
    let s3 = std::env::var("FOLIO_TEST_S3_ENDPOINT")
        .is_ok()
        .then(folio_tests::media::s3_from_env);
    upload_throughput("disk", None, upload_mib).await?;
    if let Some(s3) = s3 {
        upload_throughput("s3", Some(s3), upload_mib).await?;
    } else {
        println!("upload to S3: skipped (FOLIO_TEST_S3_* not set; eval \"$(bash infra/s3.sh)\")");
    }
    Ok(())
}

/// A photo-like 4000×3000 image: gradients with per-pixel noise, so the
/// JPEG carries realistic detail (quality 90).
fn twelve_megapixels() -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let image = RgbImage::from_fn(4000, 3000, |x, y| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let noise = (state & 0x1f) as u32;
        image::Rgb([
            ((x * 200 / 4000) + noise) as u8,
            ((y * 200 / 3000) + noise) as u8,
            (((x + y) * 100 / 7000) + noise * 2) as u8,
        ])
    });
    let mut out = Cursor::new(Vec::new());
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(&image)
        .unwrap();
    out.into_inner()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// What the transform route does for `?w=320&h=320&fit=cover&fmt=jpeg`.
fn native_thumbnails(jpeg: &[u8], runs: usize) -> f64 {
    let limits = Limits::default();
    let once = || {
        let picture = folio_imaging::decode(jpeg, &limits).unwrap();
        folio_imaging::render(&picture, 320, 320, Fit::Cover, Format::Jpeg).unwrap()
    };
    once();
    let times: Vec<f64> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            once();
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    println!("native: {times:.1?} ms");
    median(times)
}

async fn admin(mh: &MediaHost) -> String {
    Api { host: &mh.host }
        .login(BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD)
        .await
        .0
}

/// Each run is a fresh upload, so each transform is computed, not cached.
async fn wasm_thumbnails(jpeg: &[u8], runs: usize) -> anyhow::Result<f64> {
    let mh = start_media("media-bench", MediaBackends::default(), &[], &[]);
    let token = admin(&mh).await;
    let mut times = Vec::new();
    for _ in 0..=runs {
        let id = folio_guest::util::new_id();
        let r = client()
            .put(mh.host.url(&format!("/api/v1/media/{id}?filename=big.jpg")))
            .bearer_auth(&token)
            .body(jpeg.to_vec())
            .send()
            .await?;
        anyhow::ensure!(r.status() == 201, "upload: {}", r.status());
        mh.wait_ready(&id, &token, Duration::from_secs(120)).await;
        let r = client()
            .get(mh.host.url(&format!(
                "/api/v1/media/{id}/content?w=320&h=320&fit=cover&fmt=jpeg"
            )))
            .send()
            .await?;
        let timing = r
            .headers()
            .get("server-timing")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("transform;dur="))
            .and_then(|v| v.parse::<f64>().ok())
            .ok_or_else(|| anyhow::anyhow!("no server-timing on the transform"))?;
        times.push(timing);
    }
    // The first run warms the compiled component's code paths.
    times.remove(0);
    println!("in Wasm: {times:.1?} ms");
    Ok(median(times))
}

/// A valid MP4 of `mib` MiB: a short faststart clip followed by a `free`
/// box (which players and ffprobe skip), produced as a stream of chunks.
fn big_mp4(
    mib: u64,
) -> (
    u64,
    impl futures_util::Stream<Item = std::io::Result<Vec<u8>>>,
) {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip.mp4");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=duration=1:size=320x240:rate=25",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-movflags",
        "+faststart",
        clip.to_str().unwrap(),
    ]);
    let head = std::fs::read(&clip).unwrap();
    let total = mib << 20;
    let filler = total - head.len() as u64;
    let mut free_header = (filler as u32).to_be_bytes().to_vec();
    free_header.extend_from_slice(b"free");
    let chunk = 1 << 20;
    let mut remaining = filler - 8;
    // Popped from the end: the clip, then the box header, then the zeros.
    let mut pieces = vec![free_header, head];
    let stream = futures_util::stream::iter(std::iter::from_fn(move || {
        if let Some(piece) = pieces.pop() {
            return Some(Ok(piece));
        }
        if remaining == 0 {
            return None;
        }
        let n = remaining.min(chunk);
        remaining -= n;
        Some(Ok(vec![0u8; n as usize]))
    }));
    (total, stream)
}

async fn upload_throughput(backend: &str, s3: Option<S3>, mib: u64) -> anyhow::Result<()> {
    let max = (mib + 64) << 20;
    let mh = start_media(
        &format!("media-upload-{backend}"),
        MediaBackends { s3, postgres: None },
        &[("media_max_upload_bytes", &max.to_string())],
        &[
            "--max-body-bytes",
            &max.to_string(),
            "--request-timeout-ms",
            "900000",
        ],
    );
    let token = admin(&mh).await;
    let rss_before = mh.host.rss_bytes();
    let (total, stream) = big_mp4(mib);
    let id = folio_guest::util::new_id();
    let started = Instant::now();
    let r = client()
        .put(mh.host.url(&format!("/api/v1/media/{id}?filename=big.mp4")))
        .bearer_auth(&token)
        .header("content-length", total.to_string())
        .body(reqwest::Body::wrap_stream(stream))
        .timeout(Duration::from_secs(900))
        .send()
        .await?;
    let elapsed = started.elapsed().as_secs_f64();
    let status = r.status();
    let body = r.text().await?;
    anyhow::ensure!(status == 201, "upload: {status} {body}");
    let peak = peak_rss(mh.host.pid());
    println!(
        "upload {mib} MiB to {backend}: {elapsed:.1} s, {:.0} MiB/s; host RSS {} MiB before, peak {} MiB",
        mib as f64 / elapsed,
        rss_before >> 20,
        peak >> 20
    );
    Ok(())
}

fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}
