//! Folio's transcoding adapter: `folio:platform/transcode`. ffprobe and
//! ffmpeg run on the host as limited child processes (no shell, a timeout,
//! CPU, memory and priority limits, only plain files of known media formats
//! as input) on objects in the calling component's own buckets; media bytes
//! never pass through the guest.
//!
//! The domain API (`Transcoder`, `Job`) is plain async Rust; the WIT
//! implementation below only converts types.

mod error;
mod jobs;
mod measure;
pub mod presets;
pub mod probe;
pub mod process;
pub mod runtime_config;

use std::time::Duration;

use folio_blobs::ComponentBuckets;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

pub use error::TranscodeError;
pub use jobs::{
    Container, Job, JobObserver, JobReport, JobState, Output, Rendition, RenditionKind,
    TranscodeRequest, Transcoder, validate,
};
pub use probe::{MediaInfo, StreamInfo};
pub use runtime_config::{TranscodeConfig, TranscodeSettings};

/// Public for `folio adapters`, which makes the shim's calls on them; their
/// serde form is the wire format of those calls.
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "folio:platform/transcoding",
        imports: { default: async | trappable },
        additional_derives: [serde::Serialize, serde::Deserialize],
        with: {
            "folio:platform/transcode.job": crate::Job,
        },
        require_store_data_send: true,
    });
}

use bindings::folio::platform::transcode;

/// What one instance's transcode calls reach: its resource table, its
/// component's buckets, the host's transcoder, and the component's id (for metrics).
pub struct TranscodeView<'a> {
    /// Whether spin.toml grants the component transcoding (`transcode = true`).
    pub granted: bool,
    pub table: &'a mut ResourceTable,
    pub buckets: &'a ComponentBuckets,
    pub transcoder: &'a Transcoder,
    pub component: &'a str,
    /// The calling instance's W3C trace context, for the calls' spans.
    pub traceparent: &'a str,
}

/// Where a call into ffmpeg's adapter is made, for the host's tracing.
fn site<'a>(
    traceparent: &'a str,
    operation: &'static str,
    bucket: &'a str,
) -> folio_observe::Site<'a> {
    folio_observe::Site {
        traceparent,
        capability: "transcode",
        system: "ffmpeg",
        operation,
        target: Some(bucket),
        statement: None,
    }
}

struct TranscodeData;

impl HasData for TranscodeData {
    type Data<'a> = TranscodeView<'a>;
}

pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> TranscodeView<'_>,
) -> anyhow::Result<()> {
    transcode::add_to_linker::<T, TranscodeData>(linker, view)?;
    Ok(())
}

type Result<T, E = transcode::Error> = wasmtime::Result<std::result::Result<T, E>>;

impl From<TranscodeError> for transcode::Error {
    fn from(e: TranscodeError) -> Self {
        match e {
            TranscodeError::NoSuchBucket(m) => transcode::Error::NoSuchBucket(m),
            TranscodeError::NotFound(m) => transcode::Error::NotFound(m),
            TranscodeError::InvalidMedia(m) => transcode::Error::InvalidMedia(m),
            TranscodeError::InvalidArgument(m) => transcode::Error::InvalidArgument(m),
            TranscodeError::Failed(m) => transcode::Error::Failed(m),
            TranscodeError::TimedOut(m) => transcode::Error::TimedOut(m),
            TranscodeError::Cancelled => transcode::Error::Cancelled,
            TranscodeError::Unavailable(m) => transcode::Error::Unavailable(m),
        }
    }
}

fn media_info(info: MediaInfo) -> transcode::MediaInfo {
    transcode::MediaInfo {
        format: info.format,
        duration_ms: info.duration_ms,
        bit_rate: info.bit_rate,
        streams: info
            .streams
            .into_iter()
            .map(|s| transcode::StreamInfo {
                kind: s.kind,
                codec: s.codec,
                width: s.width,
                height: s.height,
                frame_rate: s.frame_rate,
                sample_rate: s.sample_rate,
                channels: s.channels,
            })
            .collect(),
    }
}

fn request(r: transcode::TranscodeRequest) -> TranscodeRequest {
    TranscodeRequest {
        source_key: r.source_key,
        output_prefix: r.output_prefix,
        renditions: r
            .renditions
            .into_iter()
            .map(|r| Rendition {
                name: r.name,
                kind: match r.kind {
                    transcode::RenditionKind::Mp4(height) => RenditionKind::Mp4 { height },
                    transcode::RenditionKind::Hls(heights) => RenditionKind::Hls { heights },
                    transcode::RenditionKind::Poster(p) => RenditionKind::Poster {
                        at_ms: p.at_ms,
                        max_width: p.max_width,
                    },
                    transcode::RenditionKind::Audio(kbps) => RenditionKind::Audio { kbps },
                    transcode::RenditionKind::Remux(container) => RenditionKind::Remux {
                        container: match container {
                            transcode::Container::Mp4 => Container::Mp4,
                            transcode::Container::Mov => Container::Mov,
                        },
                    },
                },
            })
            .collect(),
    }
}

fn output(o: Output) -> transcode::Output {
    transcode::Output {
        name: o.name,
        key: o.key,
        content_type: o.content_type,
        size: o.size,
        width: o.width,
        height: o.height,
        duration_ms: o.duration_ms,
        keys: o.keys,
    }
}

fn not_granted() -> transcode::Error {
    transcode::Error::NotAllowed(
        "transcoding is not granted to this component ([component.NAME.tool.folio] transcode = true)"
            .into(),
    )
}

impl transcode::Host for TranscodeView<'_> {
    async fn probe(&mut self, bucket: String, key: String) -> Result<transcode::MediaInfo> {
        if !self.granted {
            return Ok(Err(not_granted()));
        }
        let Some(opened) = self.buckets.get(&bucket) else {
            return Ok(Err(transcode::Error::NoSuchBucket(bucket)));
        };
        let probe = self.transcoder.probe(opened, &key);
        Ok(
            folio_observe::observed(site(self.traceparent, "probe", &bucket), probe)
                .await
                .map(media_info)
                .map_err(Into::into),
        )
    }
}

impl transcode::HostJob for TranscodeView<'_> {
    async fn start(&mut self, r: transcode::TranscodeRequest) -> Result<Resource<Job>> {
        if !self.granted {
            return Ok(Err(not_granted()));
        }
        let Some(opened) = self.buckets.get(&r.bucket) else {
            return Ok(Err(transcode::Error::NoSuchBucket(r.bucket)));
        };
        let name = r.bucket.clone();
        let start = self.transcoder.start(self.component, opened, request(r));
        match folio_observe::observed(site(self.traceparent, "start", &name), start).await {
            Ok(job) => Ok(Ok(self.table.push(job)?)),
            Err(e) => Ok(Err(e.into())),
        }
    }

    async fn wait(
        &mut self,
        job: Resource<Job>,
        timeout_ms: u32,
    ) -> wasmtime::Result<transcode::JobState> {
        let handle = self.table.get(&job)?.handle();
        Ok(
            match handle.wait(Duration::from_millis(timeout_ms.into())).await {
                JobState::Running(progress) => transcode::JobState::Running(progress),
                JobState::Succeeded(outputs) => {
                    transcode::JobState::Succeeded(outputs.into_iter().map(output).collect())
                }
                JobState::Failed(e) => transcode::JobState::Failed(e.into()),
            },
        )
    }

    async fn cancel(&mut self, job: Resource<Job>) -> wasmtime::Result<()> {
        self.table.get(&job)?.cancel();
        Ok(())
    }

    /// Dropping a job that has not reported `succeeded` kills ffmpeg and
    /// deletes its outputs (see `Job`'s `Drop`).
    async fn drop(&mut self, job: Resource<Job>) -> wasmtime::Result<()> {
        self.table.delete(job)?;
        Ok(())
    }
}
