//! The transcoding adapter against real ffmpeg and ffprobe, on a bucket on
//! disk and (when `FOLIO_TEST_S3_*` is set, as `infra/test.sh` does from
//! `infra/s3.sh`) on a real S3 server. Media is generated at test time with
//! ffmpeg's `lavfi` sources and cached in the target's tmp directory.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use folio_blobs::{BlobBackendConfig, BlobConfig, Bucket, ComponentBuckets, Signer};
use folio_transcode::{
    Job, JobState, Output, Rendition, RenditionKind, TranscodeConfig, TranscodeError,
    TranscodeRequest, Transcoder,
};

// ---------- media made at test time ----------

fn fixtures_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("transcode-fixtures");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

static GENERATING: Mutex<()> = Mutex::new(());

/// `name` in the fixtures directory, made by ffmpeg with `args` (output last) if missing.
fn fixture(name: &str, args: &[&str]) -> PathBuf {
    let _one_at_a_time = GENERATING.lock().unwrap_or_else(|e| e.into_inner());
    let path = fixtures_dir().join(name);
    if !path.exists() {
        let partial = fixtures_dir().join(format!("partial-{name}"));
        let status = Command::new("ffmpeg")
            .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y"])
            .args(args)
            .arg(&partial)
            .status()
            .expect("ffmpeg is installed (infra/setup.sh)");
        assert!(status.success(), "generating {name}");
        std::fs::rename(&partial, &path).unwrap();
    }
    path
}

/// Test pattern and a 440 Hz tone, 1280x720 at 25 fps, H.264 + AAC in MP4
/// with the index at the end (so a truncated copy has none).
fn video(seconds: u32) -> PathBuf {
    let video = format!("testsrc=duration={seconds}:size=1280x720:rate=25");
    let audio = format!("sine=frequency=440:duration={seconds}");
    fixture(
        &format!("av-{seconds}s.mp4"),
        &[
            "-f",
            "lavfi",
            "-i",
            &video,
            "-f",
            "lavfi",
            "-i",
            &audio,
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
            "-f",
            "mp4",
        ],
    )
}

fn audio_only() -> PathBuf {
    fixture(
        "tone-3s.m4a",
        &[
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=3",
            "-c:a",
            "aac",
            "-f",
            "mp4",
        ],
    )
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

// ---------- buckets and the transcoder ----------

fn s3_backend() -> Option<BlobBackendConfig> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    Some(BlobBackendConfig::S3 {
        endpoint: Some(var("FOLIO_TEST_S3_ENDPOINT")?),
        region: Some(var("FOLIO_TEST_S3_REGION").unwrap_or_else(|| "garage".into())),
        bucket: var("FOLIO_TEST_S3_BUCKET")?,
        access_key_id: Some(var("FOLIO_TEST_S3_ACCESS_KEY_ID")?),
        secret_access_key: Some(var("FOLIO_TEST_S3_SECRET_ACCESS_KEY")?),
        prefix: Some("transcode-tests/".into()),
    })
}

struct Setup {
    _dir: tempfile::TempDir,
    bucket: Bucket,
    transcoder: Transcoder,
    work_dir: PathBuf,
}

async fn setup(backend: BlobBackendConfig, config: TranscodeConfig) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let component = format!("transcode-{nanos:x}");
    let signer = Signer::load_or_create(dir.path()).unwrap();
    let blobs = BlobConfig {
        buckets: [("media".to_string(), backend)].into(),
    };
    let bucket = ComponentBuckets::open(&component, &["media".into()], &blobs, dir.path(), &signer)
        .await
        .unwrap()
        .get("media")
        .unwrap()
        .clone();
    let work_dir = dir.path().join("work");
    let settings = TranscodeConfig {
        work_dir: Some(work_dir.clone()),
        ..config
    }
    .settings(dir.path())
    .unwrap();
    Setup {
        _dir: dir,
        bucket,
        transcoder: Transcoder::new(settings),
        work_dir,
    }
}

async fn disk() -> Setup {
    setup(
        BlobBackendConfig::Disk { path: None },
        TranscodeConfig::default(),
    )
    .await
}

async fn put(bucket: &Bucket, key: &str, body: &[u8]) {
    let mut upload = bucket.put(key, "application/octet-stream").await.unwrap();
    for chunk in body.chunks(1 << 20) {
        upload.write(chunk).await.unwrap();
    }
    upload.finish().await.unwrap();
}

async fn get(bucket: &Bucket, key: &str) -> Vec<u8> {
    let mut download = bucket.get(key, None).await.unwrap().expect(key);
    let mut all = Vec::new();
    loop {
        let chunk = download.read(1 << 20).await.unwrap();
        if chunk.is_empty() {
            return all;
        }
        all.extend_from_slice(&chunk);
    }
}

async fn keys_under(bucket: &Bucket, prefix: &str) -> Vec<String> {
    bucket
        .list(prefix, None, 1000)
        .await
        .unwrap()
        .objects
        .into_iter()
        .map(|o| o.key)
        .collect()
}

fn request(source: &str, prefix: &str, renditions: Vec<Rendition>) -> TranscodeRequest {
    TranscodeRequest {
        source_key: source.into(),
        output_prefix: prefix.into(),
        renditions,
    }
}

fn rendition(name: &str, kind: RenditionKind) -> Rendition {
    Rendition {
        name: name.into(),
        kind,
    }
}

/// Waits for the job's end, at most `limit`.
async fn finish(job: &Job, limit: Duration) -> JobState {
    let started = Instant::now();
    loop {
        let state = job.wait(Duration::from_millis(500)).await;
        if !matches!(state, JobState::Running(_)) {
            return state;
        }
        assert!(
            started.elapsed() < limit,
            "the job did not end in {limit:?}"
        );
    }
}

async fn succeeded(job: &Job) -> Vec<Output> {
    match finish(job, Duration::from_secs(300)).await {
        JobState::Succeeded(outputs) => outputs,
        other => panic!("expected success, got {other:?}"),
    }
}

async fn failed(job: &Job) -> TranscodeError {
    match finish(job, Duration::from_secs(300)).await {
        JobState::Failed(e) => e,
        other => panic!("expected failure, got {other:?}"),
    }
}

/// Waits until ffmpeg is running and has reported progress.
async fn until_encoding(job: &Job) {
    let started = Instant::now();
    loop {
        match job.wait(Duration::from_millis(100)).await {
            JobState::Running(p) if p > 0.0 => return,
            JobState::Running(_) => {}
            other => panic!("the job ended before encoding: {other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(120), "no progress");
    }
}

/// Processes whose command line mentions `dir` (ffmpeg and ffprobe of one job).
fn processes_using(dir: &Path) -> Vec<u32> {
    let needle = dir.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            String::from_utf8_lossy(&cmdline)
                .contains(&needle)
                .then_some(pid)
        })
        .collect()
}

/// Polls `check` for up to 10 s.
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < Duration::from_secs(10), "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn nothing_left(setup: &Setup, job: &Job, prefix: &str) {
    let work_dir = job.work_dir().to_path_buf();
    eventually("ffmpeg is gone", async || {
        processes_using(&work_dir).is_empty()
    })
    .await;
    eventually("the work dir is gone", async || !work_dir.exists()).await;
    eventually("no outputs are left", async || {
        keys_under(&setup.bucket, prefix).await.is_empty()
    })
    .await;
}

fn close(actual: Option<u64>, expected: u64) -> bool {
    actual.is_some_and(|ms| ms.abs_diff(expected) <= 100)
}

// ---------- the cases ----------

#[tokio::test]
async fn probe_reports_dimensions_duration_and_streams() {
    let s = disk().await;
    put(&s.bucket, "in/clip.mp4", &read(&video(3))).await;
    let info = s.transcoder.probe(&s.bucket, "in/clip.mp4").await.unwrap();
    assert!(info.format.contains("mp4"), "{}", info.format);
    assert!(close(info.duration_ms, 3000), "{:?}", info.duration_ms);
    assert!(info.bit_rate.is_some());
    let video = info.video().unwrap();
    assert_eq!(
        (video.codec.as_str(), video.width, video.height),
        ("h264", Some(1280), Some(720))
    );
    assert_eq!(video.frame_rate, Some(25.0));
    let audio = info.audio().unwrap();
    assert_eq!(audio.codec, "aac");
    assert_eq!(audio.sample_rate, Some(44100));
    assert_eq!(audio.channels, Some(1));

    assert_eq!(
        s.transcoder.probe(&s.bucket, "in/missing.mp4").await,
        Err(TranscodeError::NotFound("in/missing.mp4".into()))
    );
    assert!(matches!(
        s.transcoder.probe(&s.bucket, "../escape").await,
        Err(TranscodeError::InvalidArgument(_))
    ));
    let leftovers: Vec<_> = std::fs::read_dir(&s.work_dir).unwrap().collect();
    assert!(leftovers.is_empty(), "probe left {leftovers:?}");
}

/// Every rendition kind from one 3 s 720p source.
async fn renditions(s: Setup) {
    put(&s.bucket, "in/clip.mp4", &read(&video(3))).await;
    let job = s
        .transcoder
        .start(
            "test",
            &s.bucket,
            request(
                "in/clip.mp4",
                "out/clip/",
                vec![
                    rendition("sd", RenditionKind::Mp4 { height: 360 }),
                    rendition("hd", RenditionKind::Mp4 { height: 720 }),
                    rendition("big", RenditionKind::Mp4 { height: 1080 }),
                    rendition(
                        "stream",
                        RenditionKind::Hls {
                            heights: vec![360, 720, 1080],
                        },
                    ),
                    rendition(
                        "poster",
                        RenditionKind::Poster {
                            at_ms: 1000,
                            max_width: 320,
                        },
                    ),
                    rendition("sound", RenditionKind::Audio { kbps: 96 }),
                ],
            ),
        )
        .await
        .unwrap();
    let outputs = succeeded(&job).await;
    let by_name = |name: &str| outputs.iter().find(|o| o.name == name).unwrap().clone();

    for (name, width, height) in [("sd", 640, 360), ("hd", 1280, 720), ("big", 1280, 720)] {
        let o = by_name(name);
        assert_eq!(o.key, format!("out/clip/{name}.mp4"));
        assert_eq!(o.content_type, "video/mp4");
        assert_eq!((o.width, o.height), (Some(width), Some(height)), "{name}");
        assert!(close(o.duration_ms, 3000), "{name}: {:?}", o.duration_ms);
        assert_eq!(o.keys, vec![o.key.clone()]);
        let bytes = get(&s.bucket, &o.key).await;
        assert_eq!(o.size, bytes.len() as u64);
        let at = |atom: &[u8]| bytes.windows(4).position(|w| w == atom).unwrap();
        assert!(at(b"moov") < at(b"mdat"), "{name} is not faststart");
        assert_eq!(
            s.bucket.head(&o.key).await.unwrap().unwrap().content_type,
            "video/mp4"
        );
    }

    let hls = by_name("stream");
    assert_eq!(hls.key, "out/clip/stream/master.m3u8");
    assert_eq!(hls.content_type, "application/vnd.apple.mpegurl");
    assert_eq!((hls.width, hls.height), (Some(1280), Some(720)));
    assert!(close(hls.duration_ms, 3000), "{:?}", hls.duration_ms);
    assert_eq!(hls.keys.last().unwrap(), &hls.key, "the master goes last");
    let master = String::from_utf8(get(&s.bucket, &hls.key).await).unwrap();
    assert!(master.starts_with("#EXTM3U\n"), "{master}");
    assert!(
        master.contains("RESOLUTION=640x360,CODECS=\"avc1.64"),
        "{master}"
    );
    assert!(master.contains("RESOLUTION=1280x720,"), "{master}");
    assert!(master.contains("mp4a.40.2"), "{master}");
    assert!(
        !master.contains("1080"),
        "the 1080p variant is above the source: {master}"
    );
    assert_eq!(master.matches("#EXT-X-STREAM-INF:BANDWIDTH=").count(), 2);
    for variant in ["360p.m3u8", "720p.m3u8"] {
        assert!(master.contains(&format!("\n{variant}\n")), "{master}");
        let text =
            String::from_utf8(get(&s.bucket, &format!("out/clip/stream/{variant}")).await).unwrap();
        assert!(text.contains("#EXT-X-PLAYLIST-TYPE:VOD") && text.contains("#EXT-X-ENDLIST"));
        for line in text.lines().filter(|l| l.ends_with(".ts")) {
            assert!(
                hls.keys.contains(&format!("out/clip/stream/{line}")),
                "{line}"
            );
        }
    }
    let mut stored = keys_under(&s.bucket, "out/clip/stream/").await;
    let mut reported = hls.keys.clone();
    stored.sort();
    reported.sort();
    assert_eq!(stored, reported);
    let mut total = 0;
    for key in &hls.keys {
        total += s.bucket.head(key).await.unwrap().unwrap().size;
    }
    assert_eq!(hls.size, total);

    let poster = by_name("poster");
    assert_eq!(poster.key, "out/clip/poster.jpg");
    assert_eq!(poster.content_type, "image/jpeg");
    assert_eq!((poster.width, poster.height), (Some(320), Some(180)));
    let jpeg = get(&s.bucket, &poster.key).await;
    assert_eq!(&jpeg[..3], &[0xff, 0xd8, 0xff], "a JPEG");
    assert_eq!(poster.size, jpeg.len() as u64);

    let sound = by_name("sound");
    assert_eq!(sound.key, "out/clip/sound.m4a");
    assert_eq!(sound.content_type, "audio/mp4");
    assert_eq!((sound.width, sound.height), (None, None));
    assert!(close(sound.duration_ms, 3000), "{:?}", sound.duration_ms);

    // Repeatable after the end; the work directory is gone.
    assert_eq!(
        job.wait(Duration::ZERO).await,
        JobState::Succeeded(outputs.clone())
    );
    assert!(!job.work_dir().exists());
    // Reported, so the outputs outlive the job.
    drop(job);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(s.bucket.head("out/clip/sd.mp4").await.unwrap().is_some());
}

#[tokio::test]
async fn renditions_on_disk() {
    renditions(disk().await).await;
}

#[tokio::test]
async fn renditions_on_s3() {
    let Some(backend) = s3_backend() else {
        eprintln!("FOLIO_TEST_S3_* is not set: S3 case skipped");
        return;
    };
    renditions(setup(backend, TranscodeConfig::default()).await).await;
}

#[tokio::test]
async fn an_audio_only_source_makes_audio_but_no_video() {
    let s = disk().await;
    put(&s.bucket, "in/tone.m4a", &read(&audio_only())).await;
    let info = s.transcoder.probe(&s.bucket, "in/tone.m4a").await.unwrap();
    assert!(info.video().is_none() && info.audio().is_some());
    let job = s
        .transcoder
        .start(
            "test",
            &s.bucket,
            request(
                "in/tone.m4a",
                "out/tone/",
                vec![rendition("voice", RenditionKind::Audio { kbps: 64 })],
            ),
        )
        .await
        .unwrap();
    let outputs = succeeded(&job).await;
    assert_eq!(outputs[0].key, "out/tone/voice.m4a");
    assert!(
        close(outputs[0].duration_ms, 3000),
        "{:?}",
        outputs[0].duration_ms
    );
    assert_eq!(outputs[0].width, None);

    let job = s
        .transcoder
        .start(
            "test",
            &s.bucket,
            request(
                "in/tone.m4a",
                "out/tone-video/",
                vec![rendition("hd", RenditionKind::Mp4 { height: 720 })],
            ),
        )
        .await
        .unwrap();
    let error = failed(&job).await;
    assert!(
        matches!(&error, TranscodeError::InvalidArgument(m) if m.contains("video stream")),
        "{error:?}"
    );
}

#[tokio::test]
async fn corrupt_and_truncated_sources_are_invalid_media() {
    let s = disk().await;
    let whole = read(&video(3));
    put(&s.bucket, "in/truncated.mp4", &whole[..whole.len() / 2]).await;
    let garbage: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    put(&s.bucket, "in/garbage.mp4", &garbage).await;
    put(&s.bucket, "in/text.mp4", b"just some words, not a video\n").await;
    for key in ["in/truncated.mp4", "in/garbage.mp4", "in/text.mp4"] {
        let probed = s.transcoder.probe(&s.bucket, key).await;
        assert!(
            matches!(&probed, Err(TranscodeError::InvalidMedia(m)) if !m.contains(&s.work_dir.display().to_string())),
            "{key}: {probed:?}"
        );
        let job = s
            .transcoder
            .start(
                "test",
                &s.bucket,
                request(
                    key,
                    "out/bad/",
                    vec![rendition("sd", RenditionKind::Mp4 { height: 360 })],
                ),
            )
            .await
            .unwrap();
        let error = failed(&job).await;
        assert!(
            matches!(error, TranscodeError::InvalidMedia(_)),
            "{key}: {error:?}"
        );
        assert!(keys_under(&s.bucket, "out/bad/").await.is_empty());
    }
    // Checked before anything runs.
    assert_eq!(
        s.transcoder
            .start(
                "test",
                &s.bucket,
                request(
                    "in/none.mp4",
                    "out/x/",
                    vec![rendition("sd", RenditionKind::Mp4 { height: 360 })]
                ),
            )
            .await
            .err(),
        Some(TranscodeError::NotFound("in/none.mp4".into()))
    );
    assert!(matches!(
        s.transcoder
            .start(
                "test",
                &s.bucket,
                request("in/truncated.mp4", "out/x", vec![])
            )
            .await
            .err(),
        Some(TranscodeError::InvalidArgument(_))
    ));
}

/// An uploaded HLS playlist naming a file on the host must not make ffprobe
/// or ffmpeg read that file.
#[tokio::test]
async fn a_playlist_naming_a_local_file_is_refused() {
    let s = disk().await;
    let local = video(3);
    let playlist = format!(
        "#EXTM3U\n#EXT-X-TARGETDURATION:3\n#EXTINF:3.0,\n{}\n#EXT-X-ENDLIST\n",
        local.display()
    );
    // Without the format whitelist ffprobe would follow it: the case is real.
    let unguarded = fixtures_dir().join("unguarded.m3u8");
    std::fs::write(&unguarded, &playlist).unwrap();
    let followed = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-protocol_whitelist",
            "file",
            "-show_streams",
        ])
        .arg(&unguarded)
        .output()
        .unwrap();
    assert!(
        followed.status.success() && String::from_utf8_lossy(&followed.stdout).contains("h264"),
        "ffprobe should read the file the playlist names when not restricted"
    );

    put(&s.bucket, "in/evil.m3u8", playlist.as_bytes()).await;
    let probed = s.transcoder.probe(&s.bucket, "in/evil.m3u8").await;
    assert!(
        matches!(&probed, Err(TranscodeError::InvalidMedia(m)) if m.contains("whitelist")),
        "{probed:?}"
    );
    let job = s
        .transcoder
        .start(
            "test",
            &s.bucket,
            request(
                "in/evil.m3u8",
                "out/evil/",
                vec![rendition("sd", RenditionKind::Mp4 { height: 360 })],
            ),
        )
        .await
        .unwrap();
    let error = failed(&job).await;
    assert!(
        matches!(error, TranscodeError::InvalidMedia(_)),
        "{error:?}"
    );
    assert!(keys_under(&s.bucket, "out/").await.is_empty());
}

#[tokio::test]
async fn a_job_past_the_timeout_is_killed_and_timed_out() {
    let s = setup(
        BlobBackendConfig::Disk { path: None },
        TranscodeConfig {
            timeout_secs: Some(2),
            // The default (twice the timeout) could end ffmpeg by SIGXCPU first.
            max_cpu_secs: Some(600),
            ..Default::default()
        },
    )
    .await;
    put(&s.bucket, "in/long.mp4", &read(&video(30))).await;
    let started = Instant::now();
    let job = s
        .transcoder
        .start(
            "test",
            &s.bucket,
            request(
                "in/long.mp4",
                "out/long/",
                vec![
                    rendition(
                        "poster",
                        RenditionKind::Poster {
                            at_ms: 0,
                            max_width: 160,
                        },
                    ),
                    rendition("hd", RenditionKind::Mp4 { height: 720 }),
                ],
            ),
        )
        .await
        .unwrap();
    let error = failed(&job).await;
    assert!(
        matches!(&error, TranscodeError::TimedOut(m) if m.contains("2 s")),
        "{error:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    nothing_left(&s, &job, "out/long/").await;
}

#[tokio::test]
async fn cancel_kills_ffmpeg_and_ends_cancelled() {
    let s = disk().await;
    put(&s.bucket, "in/long.mp4", &read(&video(30))).await;
    let job = s
        .transcoder
        .start(
            "test",
            &s.bucket,
            request(
                "in/long.mp4",
                "out/cancelled/",
                vec![rendition("hd", RenditionKind::Mp4 { height: 720 })],
            ),
        )
        .await
        .unwrap();
    until_encoding(&job).await;
    let work_dir = job.work_dir().to_path_buf();
    eventually("ffmpeg is running", async || {
        !processes_using(&work_dir).is_empty()
    })
    .await;
    job.cancel();
    assert_eq!(failed(&job).await, TranscodeError::Cancelled);
    assert_eq!(
        job.wait(Duration::ZERO).await,
        JobState::Failed(TranscodeError::Cancelled)
    );
    nothing_left(&s, &job, "out/cancelled/").await;
}

#[tokio::test]
async fn ffmpeg_killed_from_outside_fails_with_the_signal_and_stderr() {
    let s = disk().await;
    put(&s.bucket, "in/long.mp4", &read(&video(30))).await;
    let job = s
        .transcoder
        .start(
            "test",
            &s.bucket,
            request(
                "in/long.mp4",
                "out/killed/",
                vec![rendition("hd", RenditionKind::Mp4 { height: 720 })],
            ),
        )
        .await
        .unwrap();
    until_encoding(&job).await;
    let pids = processes_using(job.work_dir());
    assert_eq!(pids.len(), 1, "one ffmpeg: {pids:?}");
    let status = Command::new("kill")
        .args(["-9", &pids[0].to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let error = failed(&job).await;
    let TranscodeError::Failed(message) = &error else {
        panic!("{error:?}");
    };
    assert!(
        message.starts_with("ffmpeg was killed by signal 9: "),
        "{message}"
    );
    // The tail of what ffmpeg printed so far, e.g. its input and stream mapping.
    assert!(
        message.contains("Stream") || message.contains("Input"),
        "{message}"
    );
    assert!(
        !message.contains(&s.work_dir.display().to_string()),
        "{message}"
    );
    nothing_left(&s, &job, "out/killed/").await;
}

#[tokio::test]
async fn dropping_a_job_kills_ffmpeg_and_deletes_its_outputs_on_disk() {
    dropping_a_job_kills_ffmpeg_and_deletes_its_outputs(disk().await).await;
}

#[tokio::test]
async fn dropping_a_job_kills_ffmpeg_and_deletes_its_outputs_on_s3() {
    let Some(backend) = s3_backend() else {
        eprintln!("FOLIO_TEST_S3_* is not set: S3 case skipped");
        return;
    };
    dropping_a_job_kills_ffmpeg_and_deletes_its_outputs(
        setup(backend, TranscodeConfig::default()).await,
    )
    .await;
}

async fn dropping_a_job_kills_ffmpeg_and_deletes_its_outputs(s: Setup) {
    put(&s.bucket, "in/long.mp4", &read(&video(30))).await;
    // The poster is uploaded first; the job is dropped during the MP4.
    let job = s
        .transcoder
        .start(
            "test",
            &s.bucket,
            request(
                "in/long.mp4",
                "out/dropped/",
                vec![
                    rendition(
                        "poster",
                        RenditionKind::Poster {
                            at_ms: 0,
                            max_width: 160,
                        },
                    ),
                    rendition("hd", RenditionKind::Mp4 { height: 720 }),
                ],
            ),
        )
        .await
        .unwrap();
    let bucket = s.bucket.clone();
    eventually("the poster is uploaded", async || {
        bucket
            .head("out/dropped/poster.jpg")
            .await
            .unwrap()
            .is_some()
    })
    .await;
    let work_dir = job.work_dir().to_path_buf();
    eventually("ffmpeg is encoding the MP4", async || {
        !processes_using(&work_dir).is_empty()
    })
    .await;
    drop(job);
    eventually("ffmpeg is gone", async || {
        processes_using(&work_dir).is_empty()
    })
    .await;
    eventually("the work dir is gone", async || !work_dir.exists()).await;
    eventually("the poster is deleted", async || {
        keys_under(&bucket, "out/dropped/").await.is_empty()
    })
    .await;

    // A job that succeeded but was never reported to anyone leaves nothing either.
    let job = s
        .transcoder
        .start(
            "test",
            &s.bucket,
            request(
                "in/long.mp4",
                "out/unreported/",
                vec![rendition(
                    "poster",
                    RenditionKind::Poster {
                        at_ms: 0,
                        max_width: 160,
                    },
                )],
            ),
        )
        .await
        .unwrap();
    eventually("the poster is uploaded", async || {
        bucket
            .head("out/unreported/poster.jpg")
            .await
            .unwrap()
            .is_some()
    })
    .await;
    let dir = job.work_dir().to_path_buf();
    eventually("the job is over", async || !dir.exists()).await;
    drop(job);
    eventually("the unreported poster is deleted", async || {
        keys_under(&bucket, "out/unreported/").await.is_empty()
    })
    .await;
}

#[tokio::test]
async fn progress_rises_from_zero_to_one_and_jobs_queue_for_a_slot() {
    let s = disk().await;
    put(&s.bucket, "in/long.mp4", &read(&video(30))).await;
    let first = s
        .transcoder
        .start(
            "test",
            &s.bucket,
            request(
                "in/long.mp4",
                "out/progress/",
                vec![
                    rendition("small", RenditionKind::Mp4 { height: 240 }),
                    rendition("sound", RenditionKind::Audio { kbps: 64 }),
                ],
            ),
        )
        .await
        .unwrap();
    // One slot (the default): the second job waits at 0 while the first runs.
    let second = s
        .transcoder
        .start(
            "test",
            &s.bucket,
            request(
                "in/long.mp4",
                "out/queued/",
                vec![rendition(
                    "poster",
                    RenditionKind::Poster {
                        at_ms: 0,
                        max_width: 160,
                    },
                )],
            ),
        )
        .await
        .unwrap();
    let mut seen = Vec::new();
    let outputs = loop {
        match first.wait(Duration::from_millis(200)).await {
            JobState::Running(p) => {
                assert!((0.0..=1.0).contains(&p), "{p}");
                if let Some(last) = seen.last() {
                    assert!(p >= *last, "progress went back: {seen:?} then {p}");
                }
                seen.push(p);
                assert_eq!(second.wait(Duration::ZERO).await, JobState::Running(0.0));
            }
            JobState::Succeeded(outputs) => break outputs,
            JobState::Failed(e) => panic!("{e:?}"),
        }
    };
    let between: Vec<_> = seen.iter().filter(|p| **p > 0.0 && **p < 1.0).collect();
    let distinct = between.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(distinct >= 2, "too few progress steps: {seen:?}");
    assert_eq!(outputs.len(), 2);
    assert!(
        close(outputs[0].duration_ms, 30_000),
        "{:?}",
        outputs[0].duration_ms
    );
    assert_eq!(outputs[0].height, Some(240));
    assert!(matches!(succeeded(&second).await.as_slice(), [o] if o.width == Some(160)));
}

#[tokio::test]
async fn a_missing_ffmpeg_is_unavailable() {
    let s = setup(
        BlobBackendConfig::Disk { path: None },
        TranscodeConfig {
            ffmpeg: Some("/nonexistent/ffmpeg".into()),
            ..Default::default()
        },
    )
    .await;
    put(&s.bucket, "in/clip.mp4", &read(&video(3))).await;
    let error = s
        .transcoder
        .start(
            "test",
            &s.bucket,
            request(
                "in/clip.mp4",
                "out/",
                vec![rendition("sd", RenditionKind::Mp4 { height: 360 })],
            ),
        )
        .await
        .err()
        .unwrap();
    assert!(
        matches!(&error, TranscodeError::Unavailable(m) if m.starts_with("ffmpeg not found")),
        "{error:?}"
    );
    // ffprobe is still there, so probing works.
    assert!(s.transcoder.probe(&s.bucket, "in/clip.mp4").await.is_ok());
}
