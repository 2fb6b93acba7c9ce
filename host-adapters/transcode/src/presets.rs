//! The ffmpeg command line of each rendition kind, and the HLS master
//! playlist. Pure functions: `jobs` decides what to run, this says how.

use std::ffi::OsString;
use std::fmt::Write;
use std::path::Path;
use std::time::Duration;

use crate::jobs::Container;
use crate::probe::SOURCE_FORMATS;

pub const X264_PRESET: &str = "veryfast";
pub const X264_CRF: &str = "23";
pub const AUDIO_BITRATE: &str = "128k";
pub const HLS_SEGMENT_SECS: u32 = 6;
/// Poster frames are JPEGs of this quality (`-q:v`, 2 best to 31 worst).
pub const JPEG_QUALITY: &str = "3";

fn args<const N: usize>(items: [&str; N]) -> impl Iterator<Item = OsString> {
    items.into_iter().map(OsString::from)
}

/// ffmpeg's path syntax: `file:` makes a `:` in the path harmless, and the
/// protocol whitelist then allows nothing but this.
fn file_url(path: &Path) -> OsString {
    let mut url = OsString::from("file:");
    url.push(path);
    url
}

/// Everything before the output options: quiet but informative stderr,
/// progress on stdout, and the source read only as a plain file of one of
/// `SOURCE_FORMATS`.
pub fn input_args(source: &Path, threads: u32, seek: Option<Duration>) -> Vec<OsString> {
    let threads = threads.to_string();
    let mut out: Vec<OsString> = args([
        "-nostdin",
        "-hide_banner",
        "-y",
        "-loglevel",
        "info",
        "-nostats",
        "-progress",
        "pipe:1",
        "-protocol_whitelist",
        "file",
        "-format_whitelist",
        SOURCE_FORMATS,
        "-threads",
        &threads,
    ])
    .collect();
    if let Some(at) = seek {
        out.extend(args(["-ss", &format!("{:.3}", at.as_secs_f64())]));
    }
    out.push("-i".into());
    out.push(file_url(source));
    // Source metadata can carry the uploader's location and device; outputs
    // get none of it. Output threads count for the encoders.
    out.extend(args([
        "-map_metadata",
        "-1",
        "-map_chapters",
        "-1",
        "-sn",
        "-dn",
        "-threads",
        &threads,
    ]));
    out
}

fn h264(height: u32) -> Vec<OsString> {
    args([
        "-map",
        "0:v:0",
        "-vf",
        &format!("scale=-2:{height}"),
        "-c:v",
        "libx264",
        "-preset",
        X264_PRESET,
        "-crf",
        X264_CRF,
        "-profile:v",
        "high",
        "-pix_fmt",
        "yuv420p",
    ])
    .collect()
}

fn aac(has_audio: bool) -> Vec<OsString> {
    if has_audio {
        args(["-map", "0:a:0", "-c:a", "aac", "-b:a", AUDIO_BITRATE]).collect()
    } else {
        args(["-an"]).collect()
    }
}

/// `mp4(h)`: H.264 + AAC in MP4 with the index up front.
pub fn mp4(source: &Path, out: &Path, height: u32, has_audio: bool, threads: u32) -> Vec<OsString> {
    let mut a = input_args(source, threads, None);
    a.extend(h264(height));
    a.extend(aac(has_audio));
    a.extend(args(["-movflags", "+faststart", "-f", "mp4"]));
    a.push(file_url(out));
    a
}

/// `remux(container)`: the first video and audio streams copied as they
/// are, no metadata (global or per stream), the index up front.
pub fn remux(source: &Path, out: &Path, container: Container, threads: u32) -> Vec<OsString> {
    let mut a = input_args(source, threads, None);
    a.extend(args([
        "-map",
        "0:v:0?",
        "-map",
        "0:a:0?",
        "-c",
        "copy",
        "-map_metadata:s:v",
        "-1",
        "-map_metadata:s:a",
        "-1",
        "-movflags",
        "+faststart",
        "-f",
        match container {
            Container::Mp4 => "mp4",
            Container::Mov => "mov",
        },
    ]));
    a.push(file_url(out));
    a
}

/// One variant of an HLS ladder: `<dir>/<height>p.m3u8` and its segments
/// `<dir>/<height>p_00000.ts`..., keyframes every segment so variants switch cleanly.
pub fn hls_variant(
    source: &Path,
    dir: &Path,
    height: u32,
    has_audio: bool,
    threads: u32,
) -> Vec<OsString> {
    let max_kbps = max_bitrate_kbps(height);
    let mut a = input_args(source, threads, None);
    a.extend(h264(height));
    a.extend(args([
        "-maxrate",
        &format!("{max_kbps}k"),
        "-bufsize",
        &format!("{}k", max_kbps * 2),
        "-force_key_frames",
        &format!("expr:gte(t,n_forced*{HLS_SEGMENT_SECS})"),
    ]));
    a.extend(aac(has_audio));
    if has_audio {
        a.extend(args(["-ac", "2"]));
    }
    // A `%` in the directory would be read as part of the segment pattern.
    let mut segment_pattern = dir.to_string_lossy().replace('%', "%%");
    segment_pattern.push_str(&format!("/{height}p_%05d.ts"));
    a.extend(args([
        "-f",
        "hls",
        "-hls_time",
        &HLS_SEGMENT_SECS.to_string(),
        "-hls_playlist_type",
        "vod",
        "-hls_segment_type",
        "mpegts",
        "-hls_flags",
        "independent_segments",
        "-hls_segment_filename",
    ]));
    let mut pattern = OsString::from("file:");
    pattern.push(segment_pattern);
    a.push(pattern);
    a.push(file_url(&dir.join(variant_playlist(height))));
    a
}

pub fn variant_playlist(height: u32) -> String {
    format!("{height}p.m3u8")
}

/// `poster{at-ms, max-width}`: one JPEG frame at `at`, scaled down (never up).
pub fn poster(
    source: &Path,
    out: &Path,
    at: Duration,
    max_width: u32,
    threads: u32,
) -> Vec<OsString> {
    let mut a = input_args(source, threads, Some(at));
    a.extend(args([
        "-map",
        "0:v:0",
        "-an",
        "-frames:v",
        "1",
        "-vf",
        &format!("scale=w='min(iw,{max_width})':h=-2"),
        "-c:v",
        "mjpeg",
        "-q:v",
        JPEG_QUALITY,
        "-update",
        "1",
        "-f",
        "image2",
    ]));
    a.push(file_url(out));
    a
}

/// `audio(kbps)`: AAC in M4A, no picture.
pub fn audio(source: &Path, out: &Path, kbps: u32, threads: u32) -> Vec<OsString> {
    let mut a = input_args(source, threads, None);
    a.extend(args([
        "-vn",
        "-map",
        "0:a:0",
        "-c:a",
        "aac",
        "-b:a",
        &format!("{kbps}k"),
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
    ]));
    a.push(file_url(out));
    a
}

/// The height an output gets: as asked, but never above the source, and
/// even (H.264 in 4:2:0 needs even dimensions).
pub fn target_height(requested: u32, source_height: u32) -> u32 {
    (requested.min(source_height) & !1).max(2)
}

/// The ladder's heights: those above the source dropped (at least the
/// smallest kept, at the source's height if it too is above), ascending, no repeats.
pub fn hls_heights(requested: &[u32], source_height: u32) -> Vec<u32> {
    let mut heights: Vec<u32> = requested
        .iter()
        .filter(|h| **h <= source_height)
        .map(|h| target_height(*h, source_height))
        .collect();
    if heights.is_empty()
        && let Some(smallest) = requested.iter().min()
    {
        heights.push(target_height(*smallest, source_height));
    }
    heights.sort_unstable();
    heights.dedup();
    heights
}

/// Where a poster frame is taken: `at_ms` moved back inside the media, so
/// seeking lands before the last frame rather than past the end.
pub fn poster_time(at_ms: u64, duration_ms: Option<u64>, frame_rate: Option<f64>) -> Duration {
    let Some(duration_ms) = duration_ms else {
        return Duration::from_millis(at_ms);
    };
    let frame_ms = frame_rate
        .filter(|r| *r > 0.0)
        .map(|r| (1000.0 / r).ceil() as u64)
        .unwrap_or(40);
    let latest = duration_ms.saturating_sub(2 * frame_ms);
    Duration::from_millis(at_ms.min(latest))
}

/// The peak bit rate a variant is held to, the usual ladder for H.264.
pub fn max_bitrate_kbps(height: u32) -> u32 {
    match height {
        0..=240 => 400,
        241..=360 => 800,
        361..=480 => 1400,
        481..=720 => 2800,
        721..=1080 => 5000,
        1081..=1440 => 8000,
        _ => 14000,
    }
}

/// A variant as written, for the master playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct VariantSummary {
    pub playlist: String,
    pub width: u32,
    pub height: u32,
    pub peak_bits_per_sec: u64,
    pub average_bits_per_sec: u64,
    /// RFC 6381 codecs, e.g. `avc1.64001f,mp4a.40.2`.
    pub codecs: String,
    pub frame_rate: Option<f64>,
}

pub fn master_playlist(variants: &[VariantSummary]) -> String {
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    for v in variants {
        let _ = write!(
            out,
            "#EXT-X-STREAM-INF:BANDWIDTH={},AVERAGE-BANDWIDTH={},RESOLUTION={}x{},CODECS=\"{}\"",
            v.peak_bits_per_sec, v.average_bits_per_sec, v.width, v.height, v.codecs
        );
        if let Some(rate) = v.frame_rate {
            let _ = write!(out, ",FRAME-RATE={rate:.3}");
        }
        let _ = writeln!(out, "\n{}", v.playlist);
    }
    out
}

/// RFC 6381 `avc1.PPCCLL` from ffprobe's profile name and level.
pub fn avc1_codec(profile: Option<&str>, level: Option<i64>) -> String {
    let (profile_idc, constraints) = match profile.unwrap_or("High") {
        "Constrained Baseline" => (0x42, 0xe0),
        "Baseline" => (0x42, 0x00),
        "Main" => (0x4d, 0x40),
        "High 10" => (0x6e, 0x00),
        _ => (0x64, 0x00),
    };
    let level = level.filter(|l| (1..=255).contains(l)).unwrap_or(0x28);
    format!("avc1.{profile_idc:02x}{constraints:02x}{level:02x}")
}

/// The segments of a media playlist ffmpeg wrote: (file name, seconds).
pub fn playlist_segments(text: &str) -> Vec<(String, f64)> {
    let mut segments = Vec::new();
    let mut pending: Option<f64> = None;
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("#EXTINF:") {
            pending = rest.split(',').next().and_then(|d| d.parse().ok());
        } else if !line.is_empty() && !line.starts_with('#') {
            segments.push((line.to_string(), pending.take().unwrap_or(0.0)));
        }
    }
    segments
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[OsString]) -> Vec<String> {
        args.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn heights_never_go_up_and_stay_even() {
        assert_eq!(target_height(720, 1080), 720);
        assert_eq!(target_height(1080, 720), 720);
        assert_eq!(target_height(1080, 481), 480);
        assert_eq!(target_height(361, 1080), 360);
        assert_eq!(hls_heights(&[1080, 360, 720, 360], 720), vec![360, 720]);
        assert_eq!(hls_heights(&[1080, 720], 480), vec![480]);
        assert_eq!(hls_heights(&[], 480), Vec::<u32>::new());
    }

    #[test]
    fn poster_times_stay_inside_the_media() {
        assert_eq!(
            poster_time(1000, Some(3000), Some(25.0)),
            Duration::from_millis(1000)
        );
        assert_eq!(
            poster_time(60_000, Some(3000), Some(25.0)),
            Duration::from_millis(2920)
        );
        assert_eq!(poster_time(500, Some(10), None), Duration::ZERO);
        assert_eq!(poster_time(500, None, None), Duration::from_millis(500));
    }

    #[test]
    fn mp4_arguments() {
        let a = strings(&mp4(
            Path::new("/w/source"),
            Path::new("/w/out/x.mp4"),
            360,
            true,
            2,
        ));
        let line = a.join(" ");
        assert!(line.starts_with("-nostdin -hide_banner -y "), "{line}");
        assert!(line.contains(&format!(
            "-protocol_whitelist file -format_whitelist {SOURCE_FORMATS}"
        )));
        assert!(line.contains("-i file:/w/source"));
        assert!(line.contains("-vf scale=-2:360 -c:v libx264 -preset veryfast -crf 23"));
        assert!(line.contains("-c:a aac -b:a 128k"));
        assert!(
            line.ends_with("-movflags +faststart -f mp4 file:/w/out/x.mp4"),
            "{line}"
        );
        let silent = strings(&mp4(Path::new("/s"), Path::new("/o"), 360, false, 2)).join(" ");
        assert!(silent.contains("-an") && !silent.contains("-c:a"));
    }

    #[test]
    fn remux_copies_streams_and_drops_every_metadata() {
        let line = strings(&remux(
            Path::new("/w/source"),
            Path::new("/w/out/x.mov"),
            Container::Mov,
            2,
        ))
        .join(" ");
        assert!(line.contains("-map_metadata -1 -map_chapters -1"), "{line}");
        assert!(
            line.contains(
                "-map 0:v:0? -map 0:a:0? -c copy -map_metadata:s:v -1 -map_metadata:s:a -1"
            ),
            "{line}"
        );
        assert!(
            line.ends_with("-movflags +faststart -f mov file:/w/out/x.mov"),
            "{line}"
        );
    }

    #[test]
    fn hls_segment_pattern_escapes_percent_signs_in_the_directory() {
        let a = strings(&hls_variant(
            Path::new("/s"),
            Path::new("/w/50%/v"),
            720,
            true,
            2,
        ));
        assert!(
            a.contains(&"file:/w/50%%/v/720p_%05d.ts".to_string()),
            "{a:?}"
        );
        assert_eq!(a.last().unwrap(), "file:/w/50%/v/720p.m3u8");
        let line = a.join(" ");
        assert!(line.contains("-hls_time 6 -hls_playlist_type vod"));
        assert!(line.contains("-maxrate 2800k -bufsize 5600k"));
    }

    #[test]
    fn master_playlist_lists_every_variant() {
        let text = master_playlist(&[VariantSummary {
            playlist: "360p.m3u8".into(),
            width: 640,
            height: 360,
            peak_bits_per_sec: 900_000,
            average_bits_per_sec: 700_000,
            codecs: avc1_codec(Some("High"), Some(30)),
            frame_rate: Some(25.0),
        }]);
        assert_eq!(
            text,
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n\
             #EXT-X-STREAM-INF:BANDWIDTH=900000,AVERAGE-BANDWIDTH=700000,RESOLUTION=640x360,\
             CODECS=\"avc1.64001e\",FRAME-RATE=25.000\n360p.m3u8\n"
        );
        assert_eq!(
            avc1_codec(Some("Constrained Baseline"), Some(31)),
            "avc1.42e01f"
        );
    }

    #[test]
    fn reads_media_playlists() {
        let text = "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:6.000000,\n360p_00000.ts\n#EXTINF:1.5,\n360p_00001.ts\n#EXT-X-ENDLIST\n";
        assert_eq!(
            playlist_segments(text),
            vec![("360p_00000.ts".into(), 6.0), ("360p_00001.ts".into(), 1.5)]
        );
    }
}
