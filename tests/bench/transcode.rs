//! What the transcoding adapter adds to ffmpeg: the same 720p H.264/AAC MP4
//! made by a `folio-transcode` job (source read from a bucket on disk,
//! limits, progress parsing, output probed and stored back) and by running
//! the identical ffmpeg command directly, alternating, on an idle host.
//!
//!     cargo run --release -p folio-tests --bin folio-transcode-bench -- [--runs 5] [--seconds 20]
//!
//! It prints numbers; it asserts nothing.

use std::time::{Duration, Instant};

use folio_tests::media::test_video;
use folio_transcode::{
    JobState, Rendition, RenditionKind, TranscodeConfig, TranscodeRequest, Transcoder,
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str, default: u32| -> u32 {
        args.windows(2)
            .find(|w| w[0] == name)
            .and_then(|w| w[1].parse().ok())
            .unwrap_or(default)
    };
    let runs = flag("--runs", 5);
    let seconds = flag("--seconds", 20);

    let dir = tempfile::tempdir()?;
    let source = test_video(dir.path(), "source.mp4", seconds, "1920x1080");
    let data_dir = dir.path().join("data");
    let signer = folio_blobs::Signer::load_or_create(&data_dir)?;
    let buckets = folio_blobs::ComponentBuckets::open(
        "bench",
        &["media".to_string()],
        &folio_blobs::BlobConfig::default(),
        &data_dir,
        &signer,
    )
    .await?;
    let bucket = buckets.get("media").expect("the bucket");
    let mut upload = bucket.put("source", "video/mp4").await?;
    for chunk in std::fs::read(&source)?.chunks(4 << 20) {
        upload.write(chunk).await?;
    }
    upload.finish().await?;
    let settings = TranscodeConfig::default().settings(&data_dir)?;
    let threads = settings.threads;
    let transcoder = Transcoder::new(settings);
    println!(
        "source: {seconds} s of 1920×1080 testsrc + tone, {} bytes; rendition: mp4 720p, {threads} ffmpeg threads",
        std::fs::metadata(&source)?.len()
    );

    let mut adapter = Vec::new();
    let mut direct = Vec::new();
    for run in 0..=runs {
        let started = Instant::now();
        let job = transcoder
            .start(
                "bench",
                bucket,
                TranscodeRequest {
                    source_key: "source".into(),
                    output_prefix: format!("out/{run}/"),
                    renditions: vec![Rendition {
                        name: "720p".into(),
                        kind: RenditionKind::Mp4 { height: 720 },
                    }],
                },
            )
            .await?;
        loop {
            match job.wait(Duration::from_secs(1)).await {
                JobState::Running(_) => continue,
                JobState::Succeeded(_) => break,
                JobState::Failed(e) => anyhow::bail!("the job failed: {e:?}"),
            }
        }
        let through_adapter = started.elapsed().as_secs_f64();

        let out = dir.path().join(format!("direct-{run}.mp4"));
        let started = Instant::now();
        let status = std::process::Command::new("ffmpeg")
            .args(folio_transcode::presets::mp4(
                &source, &out, 720, true, threads,
            ))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()?;
        anyhow::ensure!(status.success(), "ffmpeg directly: {status}");
        let directly = started.elapsed().as_secs_f64();
        // The first pair warms the page cache and ffmpeg's libraries.
        if run > 0 {
            adapter.push(through_adapter);
            direct.push(directly);
        }
        println!("run {run}: adapter {through_adapter:.2} s, ffmpeg directly {directly:.2} s");
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (a, d) = (median(adapter), median(direct));
    println!(
        "median of {runs}: adapter {a:.2} s, ffmpeg directly {d:.2} s, overhead {:+.1}%",
        (a / d - 1.0) * 100.0
    );
    Ok(())
}
