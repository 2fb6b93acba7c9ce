//! Transcoding jobs: a `Transcoder` shared by the whole host (settings and
//! the slots that bound concurrent jobs) starts `Job`s, each a task that
//! copies the source out of the bucket into `<work_dir>/<job-id>/`, probes
//! it, runs ffmpeg per rendition, measures what it wrote and uploads it under
//! the output prefix. Outputs exist for the caller only once it has been told
//! `succeeded`: a failed, cancelled or abandoned job deletes what it uploaded.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use folio_blobs::{Bucket, MAX_CHUNK_BYTES, check_key};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;

use crate::error::TranscodeError;
use crate::measure::{self, Written};
use crate::presets;
use crate::probe::{Ffprobe, MediaInfo, SOURCE_FORMATS};
use crate::process::{self, Interrupt, ProcessLimits, RunError, StdoutUse};
use crate::runtime_config::TranscodeSettings;

pub const MAX_RENDITIONS: usize = 16;
pub const MAX_HLS_VARIANTS: usize = 8;
pub const MAX_NAME_BYTES: usize = 64;
pub const HEIGHTS: std::ops::RangeInclusive<u32> = 16..=4320;
pub const POSTER_WIDTHS: std::ops::RangeInclusive<u32> = 16..=7680;
pub const AUDIO_KBPS: std::ops::RangeInclusive<u32> = 16..=512;
/// Bytes moved per read or write between a bucket and the work directory.
const COPY_CHUNK_BYTES: usize = 1 << 20;
/// Work directories older than the timeout plus this belong to no running
/// job (a host that crashed left them) and are removed at start-up.
const STALE_MARGIN: Duration = Duration::from_secs(600);
/// Progress stays below 1 until the job has succeeded.
const MAX_RUNNING_PROGRESS: f32 = 0.99;

#[derive(Debug, Clone, PartialEq)]
pub enum RenditionKind {
    Mp4 {
        height: u32,
    },
    Hls {
        heights: Vec<u32>,
    },
    Poster {
        at_ms: u64,
        max_width: u32,
    },
    Audio {
        kbps: u32,
    },
    /// The streams copied into `container`, without the source's metadata.
    Remux {
        container: Container,
    },
}

/// What a remux writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    Mp4,
    Mov,
}

impl Container {
    pub fn extension(self) -> &'static str {
        match self {
            Container::Mp4 => "mp4",
            Container::Mov => "mov",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Container::Mp4 => "video/mp4",
            Container::Mov => "video/quicktime",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rendition {
    /// 1-64 of `a-z`, `0-9`, `-`.
    pub name: String,
    pub kind: RenditionKind,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TranscodeRequest {
    pub source_key: String,
    /// Ends with `/`.
    pub output_prefix: String,
    pub renditions: Vec<Rendition>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    pub name: String,
    pub key: String,
    pub content_type: String,
    pub size: u64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_ms: Option<u64>,
    pub keys: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum JobState {
    /// Waiting for a slot (0) or running: the fraction done.
    Running(f32),
    Succeeded(Vec<Output>),
    Failed(TranscodeError),
}

/// How a job ended, for metrics: `outcome` is `succeeded`, an error kind
/// (`failed`, `timed-out`, `cancelled`, ...) or `abandoned`.
#[derive(Debug, Clone)]
pub struct JobReport {
    pub component: String,
    pub outcome: &'static str,
    pub elapsed: Duration,
}

pub type JobObserver = Arc<dyn Fn(&JobReport) + Send + Sync>;

/// The host's transcoding service: settings, the job slots, and who hears
/// about finished jobs. Cheap to clone.
#[derive(Clone)]
pub struct Transcoder {
    inner: Arc<TranscoderInner>,
}

struct TranscoderInner {
    settings: TranscodeSettings,
    slots: Arc<Semaphore>,
    observer: Option<JobObserver>,
}

impl Transcoder {
    pub fn new(settings: TranscodeSettings) -> Transcoder {
        Transcoder::with_observer(settings, None)
    }

    /// `observer` is told how every job ended (the host counts them).
    pub fn with_observer(settings: TranscodeSettings, observer: Option<JobObserver>) -> Transcoder {
        remove_stale_work_dirs(&settings.work_dir, settings.timeout + STALE_MARGIN);
        Transcoder {
            inner: Arc::new(TranscoderInner {
                slots: Arc::new(Semaphore::new(settings.max_concurrent_jobs)),
                settings,
                observer,
            }),
        }
    }

    pub fn settings(&self) -> &TranscodeSettings {
        &self.inner.settings
    }

    /// Whether ffmpeg and ffprobe can be run; the error says which is missing.
    pub fn check_programs(&self) -> Result<(PathBuf, PathBuf), TranscodeError> {
        let settings = &self.inner.settings;
        Ok((
            locate(&settings.ffmpeg, "ffmpeg")?,
            locate(&settings.ffprobe, "ffprobe")?,
        ))
    }

    fn limits(&self) -> ProcessLimits {
        ProcessLimits {
            memory_bytes: self.inner.settings.max_memory_bytes,
            cpu_secs: self.inner.settings.max_cpu_secs,
        }
    }

    fn ffprobe<'a>(&'a self, program: &'a Path, work_dir: &'a Path) -> Ffprobe<'a> {
        Ffprobe {
            program,
            limits: self.limits(),
            work_dir,
            timeout: self.inner.settings.timeout,
        }
    }

    /// ffprobe of object `key`, copied out of `bucket` first.
    pub async fn probe(&self, bucket: &Bucket, key: &str) -> Result<MediaInfo, TranscodeError> {
        check_key(key)?;
        let ffprobe = locate(&self.inner.settings.ffprobe, "ffprobe")?;
        let deadline = Instant::now() + self.inner.settings.timeout;
        let dir = WorkDir::create(
            &self.inner.settings.work_dir,
            &format!("probe-{}", new_id()),
        )
        .await?;
        // Nobody cancels a probe: the caller's instance ending drops this future.
        let (_never, mut interrupt) = watch::channel(None);
        let source = dir.path.join("source");
        download(bucket, key, &source, deadline, &mut interrupt).await?;
        let info = self
            .ffprobe(&ffprobe, &dir.path)
            .probe(
                &source,
                SOURCE_FORMATS,
                &format!("`{key}`"),
                deadline,
                &mut interrupt,
            )
            .await?;
        if info.video().is_none() && info.audio().is_none() {
            return Err(TranscodeError::InvalidMedia(format!(
                "`{key}` has no audio or video stream"
            )));
        }
        Ok(info)
    }

    /// Checks the request, then starts it in the background. `component`
    /// labels the job's metrics. Errors here are the request's own (bad
    /// argument, missing source, ffmpeg missing); everything else is the
    /// job's `failed` state.
    pub async fn start(
        &self,
        component: &str,
        bucket: &Bucket,
        request: TranscodeRequest,
    ) -> Result<Job, TranscodeError> {
        validate(&request)?;
        let (ffmpeg, ffprobe) = self.check_programs()?;
        if bucket.head(&request.source_key).await?.is_none() {
            return Err(TranscodeError::NotFound(request.source_key));
        }
        let id = new_id();
        let work_dir = self.inner.settings.work_dir.join(&id);
        let (interrupt, interrupt_rx) = watch::channel(None);
        let shared = Arc::new(JobShared {
            progress: AtomicU32::new(0f32.to_bits()),
            interrupt,
            finished: watch::Sender::new(false),
            bucket: bucket.clone(),
            runtime: tokio::runtime::Handle::current(),
            state: Mutex::new(JobInner::default()),
        });
        let context = JobContext {
            transcoder: self.clone(),
            shared: shared.clone(),
            id: id.clone(),
            component: component.to_string(),
            request,
            ffmpeg,
            ffprobe_program: ffprobe,
            work_dir: work_dir.clone(),
        };
        tokio::spawn(context.run(interrupt_rx));
        Ok(Job {
            id,
            work_dir,
            shared,
        })
    }
}

/// A running or finished transcode. Dropping it before `wait` reported
/// `succeeded` kills ffmpeg and deletes every output it uploaded.
pub struct Job {
    id: String,
    work_dir: PathBuf,
    shared: Arc<JobShared>,
}

pub(crate) struct JobShared {
    /// An `f32`'s bits; only ever raised.
    progress: AtomicU32,
    interrupt: watch::Sender<Option<Interrupt>>,
    /// Set once `state.result` is final.
    finished: watch::Sender<bool>,
    bucket: Bucket,
    /// Where `Drop` deletes outputs, as it cannot await.
    runtime: tokio::runtime::Handle,
    state: Mutex<JobInner>,
}

#[derive(Default)]
struct JobInner {
    result: Option<Result<Vec<Output>, TranscodeError>>,
    /// `wait` returned `succeeded`: the outputs are the caller's now.
    reported: bool,
    /// The `Job` was dropped: whoever comes last deletes the outputs.
    abandoned: bool,
    /// Keys uploaded so far, each complete.
    uploaded: Vec<String>,
}

impl Job {
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `<work_dir>/<id>`: exists while the job runs.
    pub fn work_dir(&self) -> &Path {
        &self.work_dir
    }

    /// Waits up to `timeout` for the job to end, then tells its state.
    /// Asking again after the end gives the same answer.
    pub async fn wait(&self, timeout: Duration) -> JobState {
        self.shared.wait(timeout).await
    }

    /// Kills ffmpeg; the job ends `failed(cancelled)`. No effect on a job
    /// that has already ended.
    pub fn cancel(&self) {
        self.shared.cancel();
    }

    pub(crate) fn handle(&self) -> JobHandle {
        self.shared.clone()
    }
}

/// What the WIT layer holds while it awaits, so the resource table is not borrowed.
pub(crate) type JobHandle = Arc<JobShared>;

impl JobShared {
    pub(crate) async fn wait(&self, timeout: Duration) -> JobState {
        let mut finished = self.finished.subscribe();
        let _ = tokio::time::timeout(timeout, finished.wait_for(|done| *done)).await;
        let mut state = self.state.lock().unwrap();
        match state.result.clone() {
            Some(Ok(outputs)) => {
                state.reported = true;
                JobState::Succeeded(outputs)
            }
            Some(Err(e)) => JobState::Failed(e),
            None => JobState::Running(f32::from_bits(self.progress.load(Ordering::Relaxed))),
        }
    }

    pub(crate) fn cancel(&self) {
        self.interrupt.send_if_modified(|current| {
            if current.is_none() {
                *current = Some(Interrupt::Cancelled);
                true
            } else {
                false
            }
        });
    }

    fn raise_progress(&self, fraction: f64) {
        let value = (fraction as f32).clamp(0.0, MAX_RUNNING_PROGRESS);
        let _ = self
            .progress
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                (value > f32::from_bits(bits)).then_some(value.to_bits())
            });
    }

    fn record_upload(&self, key: String) {
        self.state.lock().unwrap().uploaded.push(key);
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        let orphaned = {
            let mut state = self.shared.state.lock().unwrap();
            state.abandoned = true;
            match &state.result {
                Some(Ok(_)) if !state.reported => std::mem::take(&mut state.uploaded),
                _ => Vec::new(),
            }
        };
        // A job still running sees this, kills ffmpeg and cleans up itself.
        self.shared
            .interrupt
            .send_replace(Some(Interrupt::Abandoned));
        if !orphaned.is_empty() {
            let bucket = self.shared.bucket.clone();
            self.shared
                .runtime
                .spawn(async move { delete_all(&bucket, &orphaned).await });
        }
    }
}

/// Everything one job's task needs.
struct JobContext {
    transcoder: Transcoder,
    shared: Arc<JobShared>,
    id: String,
    component: String,
    request: TranscodeRequest,
    ffmpeg: PathBuf,
    ffprobe_program: PathBuf,
    work_dir: PathBuf,
}

/// One rendition, decided from the request and the probed source.
struct Plan {
    name: String,
    kind: PlanKind,
}

enum PlanKind {
    Mp4 { height: u32, has_audio: bool },
    Hls { heights: Vec<u32>, has_audio: bool },
    Poster { at: Duration, max_width: u32 },
    Audio { kbps: u32 },
    Remux { container: Container },
}

/// One ffmpeg run's share of the whole job, for progress.
fn weight(kind: &PlanKind) -> f64 {
    match kind {
        PlanKind::Mp4 { .. } => 1.0,
        PlanKind::Hls { heights, .. } => heights.len() as f64,
        PlanKind::Poster { .. } => 0.05,
        PlanKind::Audio { .. } => 0.25,
        PlanKind::Remux { .. } => 0.05,
    }
}

/// A file of the work directory and the key it is uploaded under.
struct Upload {
    path: PathBuf,
    key: String,
    content_type: &'static str,
}

impl JobContext {
    async fn run(self, mut interrupt: watch::Receiver<Option<Interrupt>>) {
        let started = Instant::now();
        let result = self.transcode(&mut interrupt).await;
        let (to_delete, abandoned) = {
            let mut state = self.shared.state.lock().unwrap();
            if result.is_ok() && !state.abandoned {
                state.result = Some(result.clone());
                (Vec::new(), false)
            } else {
                (std::mem::take(&mut state.uploaded), state.abandoned)
            }
        };
        // Deleted before `failed` is published: a caller told `failed` finds nothing left.
        delete_all(&self.shared.bucket, &to_delete).await;
        let outcome = match &result {
            _ if abandoned => "abandoned",
            Ok(_) => "succeeded",
            Err(e) => e.kind(),
        };
        if let Err(e) = &result
            && !abandoned
        {
            tracing::info!(component = %self.component, job = %self.id, error = %e, "transcode job failed");
        }
        if let Some(observer) = &self.transcoder.inner.observer {
            observer(&JobReport {
                component: self.component.clone(),
                outcome,
                elapsed: started.elapsed(),
            });
        }
        if result.is_err() {
            self.shared.state.lock().unwrap().result = Some(result);
        }
        self.shared.finished.send_replace(true);
    }

    async fn transcode(
        &self,
        interrupt: &mut watch::Receiver<Option<Interrupt>>,
    ) -> Result<Vec<Output>, TranscodeError> {
        let slots = self.transcoder.inner.slots.clone();
        let _slot = tokio::select! {
            slot = slots.acquire_owned() => slot.map_err(|_| TranscodeError::Unavailable("the transcoder is shutting down".into()))?,
            why = process::interrupted(interrupt) => return Err(interrupt_error(why)),
        };
        let settings = &self.transcoder.inner.settings;
        let deadline = Instant::now() + settings.timeout;
        let dir = WorkDir::create(&settings.work_dir, &self.id).await?;
        let source = dir.path.join("source");
        download(
            &self.shared.bucket,
            &self.request.source_key,
            &source,
            deadline,
            interrupt,
        )
        .await?;
        let info = self
            .ffprobe()
            .probe(
                &source,
                SOURCE_FORMATS,
                &format!("`{}`", self.request.source_key),
                deadline,
                interrupt,
            )
            .await?;
        let plans = plan(&self.request.renditions, &info)?;
        let mut progress = Progress {
            shared: &self.shared,
            total: plans
                .iter()
                .map(|p| weight(&p.kind))
                .sum::<f64>()
                .max(f64::EPSILON),
            done: 0.0,
            media: info.duration_ms.map(Duration::from_millis),
        };
        let out_dir = dir.path.join("out");
        tokio::fs::create_dir_all(&out_dir).await?;
        let mut outputs = Vec::new();
        for plan in &plans {
            let (output, uploads) = self
                .render(plan, &source, &out_dir, &mut progress, deadline, interrupt)
                .await?;
            let mut output = output;
            for upload in uploads {
                output.size += self.upload(&upload, deadline, interrupt).await?;
                let _ = tokio::fs::remove_file(&upload.path).await;
                output.keys.push(upload.key);
            }
            outputs.push(output);
        }
        // A cancel that came during the last upload still wins.
        if let Some(why) = *interrupt.borrow() {
            return Err(interrupt_error(why));
        }
        drop(dir);
        Ok(outputs)
    }

    /// Runs ffmpeg for one rendition and measures what it wrote. Returns the
    /// output (without sizes and keys yet) and the files to upload, in order.
    async fn render(
        &self,
        plan: &Plan,
        source: &Path,
        out_dir: &Path,
        progress: &mut Progress<'_>,
        deadline: Instant,
        interrupt: &mut watch::Receiver<Option<Interrupt>>,
    ) -> Result<(Output, Vec<Upload>), TranscodeError> {
        let threads = self.transcoder.inner.settings.threads;
        let prefix = &self.request.output_prefix;
        let name = &plan.name;
        let single = |extension: &str, content_type: &'static str| {
            let file = format!("{name}.{extension}");
            (
                out_dir.join(&file),
                Upload {
                    path: out_dir.join(&file),
                    key: format!("{prefix}{file}"),
                    content_type,
                },
            )
        };
        match &plan.kind {
            PlanKind::Mp4 { height, has_audio } => {
                let (path, upload) = single("mp4", "video/mp4");
                let args = presets::mp4(source, &path, *height, *has_audio, threads);
                self.encode(&args, 1.0, progress, deadline, interrupt)
                    .await?;
                let m =
                    measure::read_back(&self.ffprobe(), &path, Written::Mp4, deadline, interrupt)
                        .await?;
                Ok((output(name, &upload, m.size, m.duration_ms), vec![upload]))
            }
            PlanKind::Audio { kbps } => {
                let (path, upload) = single("m4a", "audio/mp4");
                let args = presets::audio(source, &path, *kbps, threads);
                self.encode(&args, 0.25, progress, deadline, interrupt)
                    .await?;
                let m =
                    measure::read_back(&self.ffprobe(), &path, Written::Mp4, deadline, interrupt)
                        .await?;
                Ok((output(name, &upload, None, m.duration_ms), vec![upload]))
            }
            PlanKind::Remux { container } => {
                let (path, upload) = single(container.extension(), container.content_type());
                let args = presets::remux(source, &path, *container, threads);
                self.encode(&args, 0.05, progress, deadline, interrupt)
                    .await?;
                let m =
                    measure::read_back(&self.ffprobe(), &path, Written::Mp4, deadline, interrupt)
                        .await?;
                Ok((output(name, &upload, m.size, m.duration_ms), vec![upload]))
            }
            PlanKind::Poster { at, max_width } => {
                let (path, upload) = single("jpg", "image/jpeg");
                let args = presets::poster(source, &path, *at, *max_width, threads);
                self.encode(&args, 0.05, progress, deadline, interrupt)
                    .await?;
                let m =
                    measure::read_back(&self.ffprobe(), &path, Written::Jpeg, deadline, interrupt)
                        .await?;
                Ok((output(name, &upload, m.size, None), vec![upload]))
            }
            PlanKind::Hls { heights, has_audio } => {
                let dir = out_dir.join(name);
                tokio::fs::create_dir_all(&dir).await?;
                let mut variants = Vec::new();
                let mut uploads = Vec::new();
                let mut longest_ms = 0;
                for height in heights {
                    let args = presets::hls_variant(source, &dir, *height, *has_audio, threads);
                    self.encode(&args, 1.0, progress, deadline, interrupt)
                        .await?;
                    let (variant, files, duration_ms) = self
                        .measure_variant(&dir, *height, *has_audio, deadline, interrupt)
                        .await?;
                    longest_ms = longest_ms.max(duration_ms);
                    variants.push(variant);
                    uploads.extend(files.into_iter().map(|(file, content_type)| Upload {
                        path: dir.join(&file),
                        key: format!("{prefix}{name}/{file}"),
                        content_type,
                    }));
                }
                let master = dir.join("master.m3u8");
                tokio::fs::write(&master, presets::master_playlist(&variants)).await?;
                let master = Upload {
                    path: master,
                    key: format!("{prefix}{name}/master.m3u8"),
                    content_type: "application/vnd.apple.mpegurl",
                };
                let largest = variants.iter().max_by_key(|v| v.height);
                let output = output(
                    name,
                    &master,
                    largest.map(|v| (v.width, v.height)),
                    Some(longest_ms),
                );
                // The master goes last: a reader who finds it finds everything it names.
                uploads.push(master);
                Ok((output, uploads))
            }
        }
    }

    /// One ffmpeg run worth `weight` of the job's progress.
    async fn encode(
        &self,
        args: &[std::ffi::OsString],
        weight: f64,
        progress: &mut Progress<'_>,
        deadline: Instant,
        interrupt: &mut watch::Receiver<Option<Interrupt>>,
    ) -> Result<(), TranscodeError> {
        let settings = &self.transcoder.inner.settings;
        let (shared, done, total, media) = (
            progress.shared,
            progress.done,
            progress.total,
            progress.media,
        );
        let mut report = |out_time: Duration| {
            if let Some(media) = media.filter(|m| !m.is_zero()) {
                let part = (out_time.as_secs_f64() / media.as_secs_f64()).min(1.0);
                shared.raise_progress((done + part * weight) / total);
            }
        };
        process::run(
            &self.ffmpeg,
            args,
            self.transcoder.limits(),
            deadline,
            interrupt,
            StdoutUse::Progress(&mut report),
            &self.work_dir,
        )
        .await
        .map_err(|e| run_error("ffmpeg", e, self.transcoder.limits(), settings.timeout))?;
        progress.done += weight;
        shared.raise_progress(progress.done / total);
        Ok(())
    }

    /// ffprobe as this job runs it, in its work directory.
    fn ffprobe(&self) -> Ffprobe<'_> {
        self.transcoder
            .ffprobe(&self.ffprobe_program, &self.work_dir)
    }

    /// A variant ffmpeg wrote: its master playlist entry, its files (segments
    /// first, then the playlist) and its duration in ms.
    async fn measure_variant(
        &self,
        dir: &Path,
        height: u32,
        has_audio: bool,
        deadline: Instant,
        interrupt: &mut watch::Receiver<Option<Interrupt>>,
    ) -> Result<(presets::VariantSummary, Vec<(String, &'static str)>, u64), TranscodeError> {
        let playlist = presets::variant_playlist(height);
        let text = tokio::fs::read_to_string(dir.join(&playlist)).await?;
        let segments = presets::playlist_segments(&text);
        let Some((first, _)) = segments.first() else {
            return Err(TranscodeError::Failed(format!(
                "ffmpeg wrote no segments for the {height}p variant"
            )));
        };
        let mut total_bytes = 0u64;
        let mut total_secs = 0f64;
        let mut peak = 0f64;
        let mut files = Vec::new();
        for (file, secs) in &segments {
            if file.contains('/') || file.starts_with('.') {
                return Err(TranscodeError::Failed(format!(
                    "ffmpeg's playlist names an unexpected segment `{file}`"
                )));
            }
            let bytes = tokio::fs::metadata(dir.join(file)).await?.len();
            total_bytes += bytes;
            total_secs += secs;
            if *secs > 0.0 {
                peak = peak.max(bytes as f64 * 8.0 / secs);
            }
            files.push((file.clone(), "video/mp2t"));
        }
        files.push((playlist.clone(), "application/vnd.apple.mpegurl"));
        // HLS segments need ffprobe: the master playlist names the H.264 profile and level.
        let info =
            measure::probe_output(&self.ffprobe(), &dir.join(first), deadline, interrupt).await?;
        let video = info.video().ok_or_else(|| {
            TranscodeError::Failed(format!("the {height}p variant has no video stream"))
        })?;
        let (width, measured_height) = video.display_size().unwrap_or((0, height));
        let mut codecs = presets::avc1_codec(video.profile.as_deref(), video.level);
        if has_audio {
            codecs.push_str(",mp4a.40.2");
        }
        let average = if total_secs > 0.0 {
            total_bytes as f64 * 8.0 / total_secs
        } else {
            0.0
        };
        Ok((
            presets::VariantSummary {
                playlist,
                width,
                height: measured_height,
                peak_bits_per_sec: peak.max(average).ceil() as u64,
                average_bits_per_sec: average.ceil() as u64,
                codecs,
                frame_rate: video.frame_rate,
            },
            files,
            (total_secs * 1000.0).round() as u64,
        ))
    }

    /// Streams one file into the bucket; returns its size. Records the key
    /// as soon as the object exists, so a later failure can delete it.
    async fn upload(
        &self,
        upload: &Upload,
        deadline: Instant,
        interrupt: &mut watch::Receiver<Option<Interrupt>>,
    ) -> Result<u64, TranscodeError> {
        let mut file = tokio::fs::File::open(&upload.path).await?;
        let mut sink = self
            .shared
            .bucket
            .put(&upload.key, upload.content_type)
            .await?;
        let mut buffer = vec![0u8; COPY_CHUNK_BYTES.min(MAX_CHUNK_BYTES)];
        loop {
            let n = file.read(&mut buffer).await?;
            if n == 0 {
                break;
            }
            tokio::select! {
                written = sink.write(&buffer[..n]) => written?,
                _ = tokio::time::sleep_until(deadline) => return Err(self.timed_out("uploading the outputs")),
                why = process::interrupted(interrupt) => return Err(interrupt_error(why)),
            }
        }
        // Not raced against the interrupt: a finish cut in half could leave an
        // object this job never recorded.
        let meta = sink.finish().await?;
        self.shared.record_upload(upload.key.clone());
        Ok(meta.size)
    }

    fn timed_out(&self, doing: &str) -> TranscodeError {
        TranscodeError::TimedOut(timeout_message(
            self.transcoder.inner.settings.timeout,
            doing,
        ))
    }
}

struct Progress<'a> {
    shared: &'a JobShared,
    total: f64,
    /// Weight of the ffmpeg runs already finished.
    done: f64,
    media: Option<Duration>,
}

fn output(name: &str, main: &Upload, size: Option<(u32, u32)>, duration_ms: Option<u64>) -> Output {
    Output {
        name: name.to_string(),
        key: main.key.clone(),
        content_type: main.content_type.to_string(),
        size: 0,
        width: size.map(|s| s.0),
        height: size.map(|s| s.1),
        duration_ms,
        keys: Vec::new(),
    }
}

/// Decides every rendition against the probed source, or says why one cannot be made.
fn plan(renditions: &[Rendition], info: &MediaInfo) -> Result<Vec<Plan>, TranscodeError> {
    let video_size = info.video().and_then(|v| v.display_size());
    let has_audio = info.audio().is_some();
    if video_size.is_none() && !has_audio {
        return Err(TranscodeError::InvalidMedia(
            "the source has no audio or video stream".into(),
        ));
    }
    let needs = |name: &str, kind: &str, what: &str| {
        TranscodeError::InvalidArgument(format!(
            "rendition `{name}` ({kind}) needs {what}; the source has none"
        ))
    };
    renditions
        .iter()
        .map(|r| {
            let name = &r.name;
            let kind = match &r.kind {
                RenditionKind::Mp4 { height } => {
                    let (_, source_height) =
                        video_size.ok_or_else(|| needs(name, "mp4", "a video stream"))?;
                    PlanKind::Mp4 {
                        height: presets::target_height(*height, source_height),
                        has_audio,
                    }
                }
                RenditionKind::Hls { heights } => {
                    let (_, source_height) =
                        video_size.ok_or_else(|| needs(name, "hls", "a video stream"))?;
                    PlanKind::Hls {
                        heights: presets::hls_heights(heights, source_height),
                        has_audio,
                    }
                }
                RenditionKind::Poster { at_ms, max_width } => {
                    if video_size.is_none() {
                        return Err(needs(name, "poster", "a video stream"));
                    }
                    PlanKind::Poster {
                        at: presets::poster_time(
                            *at_ms,
                            info.duration_ms,
                            info.video().and_then(|v| v.frame_rate),
                        ),
                        max_width: *max_width,
                    }
                }
                RenditionKind::Audio { kbps } => {
                    if !has_audio {
                        return Err(needs(name, "audio", "an audio stream"));
                    }
                    PlanKind::Audio { kbps: *kbps }
                }
                RenditionKind::Remux { container } => {
                    if video_size.is_none() && !has_audio {
                        return Err(needs(name, "remux", "a video or audio stream"));
                    }
                    PlanKind::Remux {
                        container: *container,
                    }
                }
            };
            Ok(Plan {
                name: name.clone(),
                kind,
            })
        })
        .collect()
}

/// Everything about a request that can be checked before it runs.
pub fn validate(request: &TranscodeRequest) -> Result<(), TranscodeError> {
    let invalid = |m: String| Err(TranscodeError::InvalidArgument(m));
    check_key(&request.source_key)?;
    let prefix = &request.output_prefix;
    let Some(dirs) = prefix.strip_suffix('/') else {
        return invalid(format!("output-prefix must end with `/`: {prefix:?}"));
    };
    check_key(dirs).map_err(|e| {
        TranscodeError::InvalidArgument(format!(
            "output-prefix {prefix:?} is not a key prefix: {e}"
        ))
    })?;
    if request.renditions.is_empty() || request.renditions.len() > MAX_RENDITIONS {
        return invalid(format!("a request has 1 to {MAX_RENDITIONS} renditions"));
    }
    let mut names = std::collections::BTreeSet::new();
    for r in &request.renditions {
        let name = &r.name;
        let well_formed = (1..=MAX_NAME_BYTES).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !well_formed {
            return invalid(format!(
                "rendition name {name:?} must be 1-{MAX_NAME_BYTES} of `a-z`, `0-9`, `-`"
            ));
        }
        if !names.insert(name.as_str()) {
            return invalid(format!("two renditions are named `{name}`"));
        }
        let in_range = |what: &str, value: u32, range: &std::ops::RangeInclusive<u32>| {
            if range.contains(&value) {
                Ok(())
            } else {
                Err(TranscodeError::InvalidArgument(format!(
                    "rendition `{name}`: {what} {value} is outside {}..={}",
                    range.start(),
                    range.end()
                )))
            }
        };
        // The longest key a rendition writes.
        let longest = match &r.kind {
            RenditionKind::Mp4 { height } => {
                in_range("height", *height, &HEIGHTS)?;
                format!("{prefix}{name}.mp4")
            }
            RenditionKind::Hls { heights } => {
                if heights.is_empty() || heights.len() > MAX_HLS_VARIANTS {
                    return invalid(format!(
                        "rendition `{name}`: an HLS ladder has 1 to {MAX_HLS_VARIANTS} heights"
                    ));
                }
                for height in heights {
                    in_range("height", *height, &HEIGHTS)?;
                }
                format!("{prefix}{name}/{}p_00000.ts", HEIGHTS.end())
            }
            RenditionKind::Poster { max_width, .. } => {
                in_range("max-width", *max_width, &POSTER_WIDTHS)?;
                format!("{prefix}{name}.jpg")
            }
            RenditionKind::Audio { kbps } => {
                in_range("kbit/s", *kbps, &AUDIO_KBPS)?;
                format!("{prefix}{name}.m4a")
            }
            RenditionKind::Remux { container } => {
                format!("{prefix}{name}.{}", container.extension())
            }
        };
        check_key(&longest)?;
    }
    Ok(())
}

/// A `RunError` of ffmpeg or ffprobe as the job's error.
pub(crate) fn run_error(
    program: &str,
    error: RunError,
    limits: ProcessLimits,
    timeout: Duration,
) -> TranscodeError {
    match error {
        RunError::Spawn(e) => TranscodeError::Unavailable(format!("cannot run {program}: {e}")),
        RunError::Exited {
            status,
            stderr_tail,
        } => TranscodeError::Failed(process::describe_exit(
            program,
            status,
            &stderr_tail,
            limits.cpu_secs,
        )),
        RunError::TimedOut { stderr_tail } => {
            let message = timeout_message(timeout, &format!("running {program}"));
            TranscodeError::TimedOut(if stderr_tail.is_empty() {
                message
            } else {
                format!("{message}: {stderr_tail}")
            })
        }
        RunError::Interrupted(why) => interrupt_error(why),
    }
}

fn timeout_message(timeout: Duration, doing: &str) -> String {
    format!(
        "the job ran past the transcode timeout of {} s while {doing}, and was stopped",
        timeout.as_secs()
    )
}

/// Abandoned jobs report nothing to anyone, so `cancelled` serves both.
fn interrupt_error(_why: Interrupt) -> TranscodeError {
    TranscodeError::Cancelled
}

/// Copies object `key` into `path`.
async fn download(
    bucket: &Bucket,
    key: &str,
    path: &Path,
    deadline: Instant,
    interrupt: &mut watch::Receiver<Option<Interrupt>>,
) -> Result<(), TranscodeError> {
    let Some(mut source) = bucket.get(key, None).await? else {
        return Err(TranscodeError::NotFound(key.to_string()));
    };
    let mut file = tokio::fs::File::create(path).await?;
    loop {
        let chunk = tokio::select! {
            chunk = source.read(COPY_CHUNK_BYTES) => chunk?,
            _ = tokio::time::sleep_until(deadline) => return Err(timed_out_copying()),
            why = process::interrupted(interrupt) => return Err(interrupt_error(why)),
        };
        if chunk.is_empty() {
            break;
        }
        file.write_all(&chunk).await?;
    }
    file.flush().await?;
    Ok(())
}

fn timed_out_copying() -> TranscodeError {
    TranscodeError::TimedOut(
        "the transcode timeout passed while copying the source out of the bucket".into(),
    )
}

async fn delete_all(bucket: &Bucket, keys: &[String]) {
    for key in keys {
        if let Err(e) = bucket.delete(key).await {
            tracing::warn!(key = %key, error = %e, "cannot delete a transcode output; it is left behind");
        }
    }
}

/// A job's or probe's directory, removed when dropped (also when the task is
/// aborted at shutdown).
struct WorkDir {
    path: PathBuf,
}

impl WorkDir {
    async fn create(root: &Path, name: &str) -> Result<WorkDir, TranscodeError> {
        let path = root.join(name);
        tokio::fs::create_dir_all(&path).await?;
        Ok(WorkDir { path })
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn new_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

fn looks_like_ours(name: &str) -> bool {
    let id = name.strip_prefix("probe-").unwrap_or(name);
    id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

fn remove_stale_work_dirs(root: &Path, older_than: Duration) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .is_some_and(|age| age > older_than);
        let name = entry.file_name();
        if stale && name.to_str().is_some_and(looks_like_ours) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// `program` as configured: a path, or a name looked up on PATH.
fn locate(program: &Path, what: &str) -> Result<PathBuf, TranscodeError> {
    let runnable = |p: &Path| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    let found = if program.components().count() > 1 {
        runnable(program)
            .then(|| std::path::absolute(program).ok())
            .flatten()
    } else {
        std::env::var_os("PATH").and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(program))
                .find(|p| runnable(p))
        })
    };
    found.ok_or_else(|| {
        TranscodeError::Unavailable(format!(
            "{what} not found: `{}` is not an executable file{}; install ffmpeg or set `{what}` in [transcode] of the runtime config",
            program.display(),
            if program.components().count() > 1 { "" } else { " on PATH" }
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(renditions: Vec<Rendition>) -> TranscodeRequest {
        TranscodeRequest {
            source_key: "uploads/a.mp4".into(),
            output_prefix: "renditions/a/".into(),
            renditions,
        }
    }

    fn mp4(name: &str, height: u32) -> Rendition {
        Rendition {
            name: name.into(),
            kind: RenditionKind::Mp4 { height },
        }
    }

    #[test]
    fn validates_names_sizes_and_prefixes() {
        assert_eq!(validate(&request(vec![mp4("web-720", 720)])), Ok(()));
        let bad = [
            request(vec![]),
            request(vec![mp4("Web", 720)]),
            request(vec![mp4("a.b", 720)]),
            request(vec![mp4("", 720)]),
            request(vec![mp4(&"a".repeat(65), 720)]),
            request(vec![mp4("a", 720), mp4("a", 360)]),
            request(vec![mp4("a", 0)]),
            request(vec![mp4("a", 10_000)]),
            request(vec![Rendition {
                name: "h".into(),
                kind: RenditionKind::Hls { heights: vec![] },
            }]),
            request(vec![Rendition {
                name: "p".into(),
                kind: RenditionKind::Poster {
                    at_ms: 0,
                    max_width: 0,
                },
            }]),
            TranscodeRequest {
                output_prefix: "no-slash".into(),
                ..request(vec![mp4("a", 720)])
            },
            TranscodeRequest {
                output_prefix: "../up/".into(),
                ..request(vec![mp4("a", 720)])
            },
            TranscodeRequest {
                output_prefix: "/".into(),
                ..request(vec![mp4("a", 720)])
            },
            TranscodeRequest {
                source_key: "a//b".into(),
                ..request(vec![mp4("a", 720)])
            },
        ];
        for r in bad {
            assert!(
                matches!(validate(&r), Err(TranscodeError::InvalidArgument(_))),
                "{r:?}"
            );
        }
    }

    #[test]
    fn missing_programs_are_unavailable() {
        let err = locate(Path::new("no-such-ffmpeg-here"), "ffmpeg").unwrap_err();
        assert!(
            matches!(&err, TranscodeError::Unavailable(m) if m.starts_with("ffmpeg not found")),
            "{err:?}"
        );
        assert!(locate(Path::new("/nonexistent/ffmpeg"), "ffmpeg").is_err());
        assert!(locate(Path::new("sh"), "sh").is_ok());
    }

    #[test]
    fn only_our_directories_are_swept() {
        assert!(looks_like_ours("0123456789abcdef"));
        assert!(looks_like_ours("probe-0123456789abcdef"));
        assert!(!looks_like_ours("important"));
        assert!(!looks_like_ours("0123456789abcdef0"));
    }
}
