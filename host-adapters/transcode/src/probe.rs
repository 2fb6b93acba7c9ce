//! ffprobe: what a file holds, from `-print_format json -show_format -show_streams`.

use std::ffi::OsString;
use std::path::Path;

use serde::Deserialize;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::error::TranscodeError;
use crate::process::{self, Interrupt, ProcessLimits, RunError, StdoutUse};

/// The demuxers an uploaded source may be read with. Anything else (HLS and
/// DASH playlists, `concat` lists, image sequences, `tty`...) is refused, so an
/// upload cannot make ffmpeg open other files. Multi-name demuxers match on
/// any of their names (`mov,mp4,m4a,3gp,3g2,mj2`, `matroska,webm`).
pub const SOURCE_FORMATS: &str =
    "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,mp3,wav,ogg,flac,aac,avi,mpegts";
/// What the host itself writes and measures afterwards: the source formats
/// plus JPEG stills.
pub const OUTPUT_FORMATS: &str =
    "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,mp3,wav,ogg,flac,aac,avi,mpegts,image2,jpeg_pipe";

#[derive(Debug, Clone, PartialEq)]
pub struct MediaInfo {
    /// ffprobe's `format_name`.
    pub format: String,
    pub duration_ms: Option<u64>,
    pub bit_rate: Option<u64>,
    pub streams: Vec<StreamInfo>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StreamInfo {
    /// `video`, `audio`, `subtitle`, `data` or `attachment`.
    pub kind: String,
    pub codec: String,
    /// As stored; see `display_size` for what a player shows.
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub frame_rate: Option<f64>,
    pub sample_rate: Option<u32>,
    pub channels: Option<u32>,
    /// e.g. `High`, `LC`.
    pub profile: Option<String>,
    /// H.264's `level_idc`, e.g. 31 for 3.1.
    pub level: Option<i64>,
    /// Clockwise display rotation in degrees (0, 90, 180, 270), from the
    /// display matrix or the old `rotate` tag.
    pub rotation: u32,
}

impl StreamInfo {
    /// Width and height as shown, after rotation (ffmpeg rotates when transcoding).
    pub fn display_size(&self) -> Option<(u32, u32)> {
        let (w, h) = (self.width?, self.height?);
        Some(if self.rotation % 180 == 90 {
            (h, w)
        } else {
            (w, h)
        })
    }
}

impl MediaInfo {
    pub fn first(&self, kind: &str) -> Option<&StreamInfo> {
        self.streams.iter().find(|s| s.kind == kind)
    }

    /// The first video stream that is a real picture sequence, not cover art.
    pub fn video(&self) -> Option<&StreamInfo> {
        self.first("video")
    }

    pub fn audio(&self) -> Option<&StreamInfo> {
        self.first("audio")
    }
}

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    format: Option<RawFormat>,
    #[serde(default)]
    streams: Vec<RawStream>,
}

#[derive(Deserialize)]
struct RawFormat {
    #[serde(default)]
    format_name: String,
    duration: Option<String>,
    bit_rate: Option<String>,
}

#[derive(Deserialize)]
struct RawStream {
    #[serde(default)]
    codec_type: String,
    #[serde(default)]
    codec_name: String,
    width: Option<u32>,
    height: Option<u32>,
    avg_frame_rate: Option<String>,
    sample_rate: Option<String>,
    channels: Option<u32>,
    profile: Option<String>,
    level: Option<i64>,
    duration: Option<String>,
    #[serde(default)]
    disposition: RawDisposition,
    #[serde(default)]
    tags: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    side_data_list: Vec<serde_json::Value>,
}

#[derive(Deserialize, Default)]
struct RawDisposition {
    #[serde(default)]
    attached_pic: u8,
}

/// ffprobe's JSON as `MediaInfo`; `None` when there is nothing to read.
pub fn parse(json: &[u8]) -> Option<MediaInfo> {
    let raw: Raw = serde_json::from_slice(json).ok()?;
    let format = raw.format?;
    let stream_duration = raw
        .streams
        .iter()
        .filter_map(|s| seconds_to_ms(s.duration.as_deref()?))
        .max();
    let streams = raw
        .streams
        .into_iter()
        // Cover art in MP3s and M4As shows up as a one-frame video stream.
        .filter(|s| s.disposition.attached_pic == 0)
        .map(|s| StreamInfo {
            rotation: rotation(&s),
            kind: s.codec_type,
            codec: s.codec_name,
            width: s.width.filter(|w| *w > 0),
            height: s.height.filter(|h| *h > 0),
            frame_rate: s.avg_frame_rate.as_deref().and_then(fraction),
            sample_rate: s.sample_rate.and_then(|r| r.parse().ok()),
            channels: s.channels,
            profile: s.profile,
            level: s.level,
        })
        .collect();
    Some(MediaInfo {
        format: format.format_name,
        duration_ms: format
            .duration
            .as_deref()
            .and_then(seconds_to_ms)
            .or(stream_duration),
        bit_rate: format.bit_rate.and_then(|b| b.parse().ok()),
        streams,
    })
}

/// `"25/1"` → 25.0; `"0/0"` (unknown) → none.
fn fraction(text: &str) -> Option<f64> {
    let (n, d) = text.split_once('/')?;
    let (n, d): (f64, f64) = (n.parse().ok()?, d.parse().ok()?);
    (n > 0.0 && d > 0.0).then(|| n / d)
}

fn seconds_to_ms(text: &str) -> Option<u64> {
    let secs: f64 = text.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| (secs * 1000.0).round() as u64)
}

fn rotation(stream: &RawStream) -> u32 {
    let from_matrix = stream
        .side_data_list
        .iter()
        .find_map(|d| d.get("rotation")?.as_f64());
    let from_tag = stream
        .tags
        .get("rotate")
        .and_then(|r| r.parse::<f64>().ok());
    let degrees = from_matrix.or(from_tag).unwrap_or(0.0).round() as i64;
    degrees.rem_euclid(360) as u32
}

/// How ffprobe runs: the program, its limits, the directory it runs in, and
/// the timeout a kill at the deadline is reported against.
#[derive(Clone, Copy)]
pub struct Ffprobe<'a> {
    pub program: &'a Path,
    pub limits: ProcessLimits,
    pub work_dir: &'a Path,
    pub timeout: std::time::Duration,
}

impl Ffprobe<'_> {
    /// Runs ffprobe on `file` (named `what` in errors), reading it only with
    /// `formats`. A file ffprobe cannot read is `invalid-media` with its
    /// stderr tail.
    pub async fn probe(
        &self,
        file: &Path,
        formats: &str,
        what: &str,
        deadline: Instant,
        interrupt: &mut watch::Receiver<Option<Interrupt>>,
    ) -> Result<MediaInfo, TranscodeError> {
        let Ffprobe {
            program,
            limits,
            work_dir,
            timeout,
        } = *self;
        let mut input = OsString::from("file:");
        input.push(file);
        let args: Vec<OsString> = [
            "-v",
            "error",
            "-protocol_whitelist",
            "file",
            "-format_whitelist",
            formats,
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
            "-i",
        ]
        .into_iter()
        .map(OsString::from)
        .chain([input])
        .collect();
        let finished = process::run(
            program,
            &args,
            limits,
            deadline,
            interrupt,
            StdoutUse::Collect,
            work_dir,
        )
        .await
        .map_err(|e| match e {
            RunError::Exited {
                status,
                stderr_tail,
            } if status.code().is_some() => TranscodeError::InvalidMedia(format!(
                "ffprobe cannot read {what} as media: {}",
                if stderr_tail.is_empty() {
                    "no error given".to_string()
                } else {
                    stderr_tail
                }
            )),
            other => crate::jobs::run_error("ffprobe", other, limits, timeout),
        })?;
        parse(&finished.stdout).ok_or_else(|| {
            TranscodeError::InvalidMedia(format!("ffprobe found no media format in {what}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_ffprobe_json() {
        let json = br#"{
            "streams": [
                {"codec_type": "video", "codec_name": "h264", "width": 1920, "height": 1080,
                 "avg_frame_rate": "30000/1001", "profile": "High", "level": 40,
                 "side_data_list": [{"side_data_type": "Display Matrix", "rotation": -90}]},
                {"codec_type": "audio", "codec_name": "aac", "sample_rate": "48000",
                 "channels": 2, "avg_frame_rate": "0/0"},
                {"codec_type": "video", "codec_name": "mjpeg", "width": 300, "height": 300,
                 "disposition": {"attached_pic": 1}}
            ],
            "format": {"format_name": "mov,mp4,m4a,3gp,3g2,mj2", "duration": "12.345678", "bit_rate": "5000000"}
        }"#;
        let info = parse(json).unwrap();
        assert_eq!(info.duration_ms, Some(12346));
        assert_eq!(info.bit_rate, Some(5_000_000));
        assert_eq!(info.streams.len(), 2);
        let video = info.video().unwrap();
        assert!((video.frame_rate.unwrap() - 29.97).abs() < 0.01);
        assert_eq!(video.rotation, 270);
        assert_eq!(video.display_size(), Some((1080, 1920)));
        let audio = info.audio().unwrap();
        assert_eq!(audio.sample_rate, Some(48000));
        assert_eq!(audio.frame_rate, None);
        assert!(parse(b"{}").is_none());
        assert!(parse(b"not json").is_none());
    }
}
