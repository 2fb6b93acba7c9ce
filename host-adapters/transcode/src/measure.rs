//! Reading back what the job's own ffmpeg just wrote: the dimensions and
//! duration an output reports. An MP4 or M4A with the index up front (as
//! `presets` make them) and a JPEG are read from their headers in-process;
//! anything else, and any header these readers do not expect (an index after
//! the media, a fragmented or rotated file, sizes they cannot find), goes to
//! ffprobe as before. ffprobe's answer for these files is the same (the tests
//! compare them), but running it costs ~50 ms per output, nearly all of it
//! the dynamic linking of ffprobe's ~200 shared libraries: half of a job's
//! fixed overhead on a short clip. What ffprobe did beyond the header (decode
//! the first packets) is not repeated; ffmpeg's exit status already says
//! whether the encode succeeded. HLS segments still go to ffprobe: their
//! H.264 profile and level are read from the stream itself.
//!
//! The files are written by ffmpeg from an untrusted source, so the readers
//! are bounded: a fixed number of leading boxes or markers, a capped `moov`
//! read into memory, every offset checked, no recursion beyond the box
//! paths they follow.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::error::TranscodeError;
use crate::probe::{self, Ffprobe, OUTPUT_FORMATS};
use crate::process::Interrupt;

/// What a job reports of one output it wrote.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Measured {
    /// Of the first video stream, as shown.
    pub size: Option<(u32, u32)>,
    pub duration_ms: Option<u64>,
}

/// The container ffmpeg was told to write.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Written {
    /// `-f mp4 -movflags +faststart` (video or audio only).
    Mp4,
    /// `-c:v mjpeg -f image2`.
    Jpeg,
}

/// A larger `moov` is left to ffprobe.
const MAX_MOOV_BYTES: u64 = 32 << 20;
/// Top-level boxes looked at before `moov` (`ftyp`, `free`, ...).
const MAX_LEADING_BOXES: usize = 8;
/// The SOF marker of ffmpeg's JPEGs comes within their first few hundred bytes.
const MAX_JPEG_HEADER_BYTES: u64 = 64 << 10;
/// `tkhd`'s matrix when the picture is shown as stored.
const IDENTITY_MATRIX: [u32; 9] = [0x1_0000, 0, 0, 0, 0x1_0000, 0, 0, 0, 0x4000_0000];

/// Measures `file`, which ffmpeg wrote as `written`: from its header when it
/// has the expected layout, else by ffprobe. Output ffprobe cannot read is
/// ffmpeg's failure (`failed`), not the source's.
pub(crate) async fn read_back(
    ffprobe: &Ffprobe<'_>,
    file: &Path,
    written: Written,
    deadline: Instant,
    interrupt: &mut watch::Receiver<Option<Interrupt>>,
) -> Result<Measured, TranscodeError> {
    let path = file.to_path_buf();
    let quick = tokio::task::spawn_blocking(move || match written {
        Written::Mp4 => mp4(&path),
        Written::Jpeg => jpeg(&path),
    })
    .await
    .ok()
    .flatten();
    if let Some(measured) = quick {
        return Ok(measured);
    }
    let info = probe_output(ffprobe, file, deadline, interrupt).await?;
    Ok(Measured {
        size: info.video().and_then(|v| v.display_size()),
        duration_ms: info.duration_ms,
    })
}

/// ffprobe of a file ffmpeg wrote, its errors as ffmpeg's failure.
pub(crate) async fn probe_output(
    ffprobe: &Ffprobe<'_>,
    file: &Path,
    deadline: Instant,
    interrupt: &mut watch::Receiver<Option<Interrupt>>,
) -> Result<probe::MediaInfo, TranscodeError> {
    let what = file
        .strip_prefix(ffprobe.work_dir)
        .unwrap_or(file)
        .display()
        .to_string();
    ffprobe
        .probe(file, OUTPUT_FORMATS, &what, deadline, interrupt)
        .await
        // ffmpeg said it succeeded; output it cannot read back is ffmpeg's failure.
        .map_err(|e| match e {
            TranscodeError::InvalidMedia(m) => TranscodeError::Failed(m),
            other => other,
        })
}

/// An MP4/M4A that starts with `ftyp` and has its `moov` before any `mdat`:
/// the first video track's stored size (as ffprobe reports it, from the
/// sample description) and the movie's duration (`mvhd`, as ffprobe's
/// format duration).
pub(crate) fn mp4(path: &Path) -> Option<Measured> {
    let mut file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    let mut at = 0;
    for index in 0..MAX_LEADING_BOXES {
        let (kind, header, size) = file_box(&mut file, at, len)?;
        match (index, &kind) {
            (0, b"ftyp") => {}
            (0, _) => return None,
            (_, b"moov") => {
                let body = size - header;
                if body > MAX_MOOV_BYTES {
                    return None;
                }
                let mut moov = vec![0; body as usize];
                file.seek(SeekFrom::Start(at + header)).ok()?;
                file.read_exact(&mut moov).ok()?;
                return read_moov(&moov);
            }
            (_, b"mdat") => return None,
            _ => {}
        }
        at += size;
    }
    None
}

/// The box at `at`: its type, header length and whole size, within `len`.
fn file_box(file: &mut std::fs::File, at: u64, len: u64) -> Option<([u8; 4], u64, u64)> {
    let mut head = [0u8; 16];
    file.seek(SeekFrom::Start(at)).ok()?;
    let available = (len.checked_sub(at)?).min(16) as usize;
    file.read_exact(&mut head[..available]).ok()?;
    let (kind, header, size) = box_header(&head[..available], len - at)?;
    Some((kind, header as u64, size))
}

/// Parses a box header from `data`; `room` is how many bytes the box may
/// span (a size of 0 means "to the end"). Returns type, header length, size.
fn box_header(data: &[u8], room: u64) -> Option<([u8; 4], usize, u64)> {
    let size32 = u32::from_be_bytes(data.get(0..4)?.try_into().ok()?);
    let kind: [u8; 4] = data.get(4..8)?.try_into().ok()?;
    let (header, size) = match size32 {
        0 => (8, room),
        1 => (16, u64::from_be_bytes(data.get(8..16)?.try_into().ok()?)),
        n => (8, n as u64),
    };
    (size >= header as u64 && size <= room).then_some((kind, header, size))
}

/// The child boxes of a box body; `None` if they do not tile it exactly.
fn children(mut data: &[u8]) -> Option<Vec<([u8; 4], &[u8])>> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let (kind, header, size) = box_header(data, data.len() as u64)?;
        out.push((kind, &data[header..size as usize]));
        data = &data[size as usize..];
    }
    Some(out)
}

fn child<'a>(data: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    children(data)?
        .into_iter()
        .find(|(k, _)| k == kind)
        .map(|(_, body)| body)
}

fn be32(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

fn be64(data: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(data.get(at..at + 8)?.try_into().ok()?))
}

fn be16(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(data.get(at..at + 2)?.try_into().ok()?))
}

fn read_moov(moov: &[u8]) -> Option<Measured> {
    let mut duration_ms = None;
    let mut size = None;
    for (kind, body) in children(moov)? {
        match &kind {
            b"mvhd" => duration_ms = Some(mvhd_duration_ms(body)?),
            // Fragmented: the index is spread over the file.
            b"mvex" => return None,
            b"trak" => {
                if let Some(video) = read_trak(body)?
                    && size.is_none()
                {
                    size = Some(video);
                }
            }
            _ => {}
        }
    }
    Some(Measured {
        size,
        duration_ms: Some(duration_ms?),
    })
}

/// `mvhd`'s duration in ms, rounded as ffprobe's format duration is (to µs, then to ms).
fn mvhd_duration_ms(mvhd: &[u8]) -> Option<u64> {
    let (timescale, duration) = match mvhd.first()? {
        0 => (be32(mvhd, 12)?, be32(mvhd, 16)? as u64),
        1 => (be32(mvhd, 20)?, be64(mvhd, 24)?),
        _ => return None,
    };
    let unknown = duration == u32::MAX as u64 || duration == u64::MAX;
    if timescale == 0 || unknown {
        return None;
    }
    let timescale = timescale as u128;
    let micros = (duration as u128 * 1_000_000 + timescale / 2) / timescale;
    u64::try_from((micros + 500) / 1000).ok()
}

/// A track: `Some(Some(size))` for video, `Some(None)` for anything else,
/// `None` when it is not laid out as expected (the file goes to ffprobe).
fn read_trak(trak: &[u8]) -> Option<Option<(u32, u32)>> {
    let tkhd = child(trak, b"tkhd")?;
    let matrix_at = match tkhd.first()? {
        0 => 4 + 20 + 8 + 8,
        1 => 4 + 32 + 8 + 8,
        _ => return None,
    };
    for (i, expected) in IDENTITY_MATRIX.iter().enumerate() {
        // A rotated or mirrored picture: ffprobe says how it is shown.
        if be32(tkhd, matrix_at + 4 * i)? != *expected {
            return None;
        }
    }
    let mdia = child(trak, b"mdia")?;
    let handler = child(mdia, b"hdlr")?.get(8..12)?;
    if handler != b"vide" {
        return Some(None);
    }
    let stbl = child(child(mdia, b"minf")?, b"stbl")?;
    let stsd = child(stbl, b"stsd")?;
    // version and flags, entry count, then the first sample entry: its box
    // header, 6 reserved bytes, the data reference index, 16 bytes of
    // pre-defined and reserved fields, width and height.
    if be32(stsd, 4)? == 0 {
        return None;
    }
    let entry = stsd.get(8..)?;
    let (_, header, _) = box_header(entry, entry.len() as u64)?;
    let at = header + 6 + 2 + 16;
    let (width, height) = (be16(entry, at)? as u32, be16(entry, at + 2)? as u32);
    if width == 0 || height == 0 {
        return None;
    }
    Some(Some((width, height)))
}

/// A JPEG: the size in its start-of-frame segment.
pub(crate) fn jpeg(path: &Path) -> Option<Measured> {
    let mut data = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(MAX_JPEG_HEADER_BYTES)
        .read_to_end(&mut data)
        .ok()?;
    read_jpeg(&data).map(|size| Measured {
        size: Some(size),
        duration_ms: None,
    })
}

fn read_jpeg(data: &[u8]) -> Option<(u32, u32)> {
    if data.get(0..2)? != [0xff, 0xd8] {
        return None;
    }
    let mut at = 2;
    loop {
        if *data.get(at)? != 0xff {
            return None;
        }
        // Any number of 0xff fill bytes may come before a marker.
        while *data.get(at + 1)? == 0xff {
            at += 1;
        }
        let marker = *data.get(at + 1)?;
        at += 2;
        match marker {
            // Standalone markers: no length.
            0x01 | 0xd0..=0xd7 => continue,
            // Start of scan or end of image before any frame header.
            0xd9 | 0xda => return None,
            // Start of frame (not DHT, JPG, DAC): length, precision, height, width.
            0xc0..=0xcf if !matches!(marker, 0xc4 | 0xc8 | 0xcc) => {
                let height = be16(data, at + 3)? as u32;
                let width = be16(data, at + 5)? as u32;
                return (width > 0 && height > 0).then_some((width, height));
            }
            _ => at += be16(data, at)? as usize,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut out = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(body);
        out
    }

    fn mvhd_v0(timescale: u32, duration: u32) -> Vec<u8> {
        let mut body = vec![0u8; 100];
        body[12..16].copy_from_slice(&timescale.to_be_bytes());
        body[16..20].copy_from_slice(&duration.to_be_bytes());
        boxed(b"mvhd", &body)
    }

    fn trak(handler: &[u8; 4], matrix: [u32; 9], width: u16, height: u16) -> Vec<u8> {
        let mut tkhd = vec![0u8; 84];
        for (i, v) in matrix.iter().enumerate() {
            tkhd[40 + 4 * i..44 + 4 * i].copy_from_slice(&v.to_be_bytes());
        }
        let mut hdlr = vec![0u8; 24];
        hdlr[8..12].copy_from_slice(handler);
        let mut entry = vec![0u8; 78];
        entry[24..26].copy_from_slice(&width.to_be_bytes());
        entry[26..28].copy_from_slice(&height.to_be_bytes());
        let mut stsd = vec![0, 0, 0, 0, 0, 0, 0, 1];
        stsd.extend(boxed(b"avc1", &entry));
        let stbl = boxed(b"stbl", &boxed(b"stsd", &stsd));
        let minf = boxed(b"minf", &stbl);
        let mut mdia = boxed(b"hdlr", &hdlr);
        mdia.extend(minf);
        let mut body = boxed(b"tkhd", &tkhd);
        body.extend(boxed(b"mdia", &mdia));
        boxed(b"trak", &body)
    }

    fn file(parts: &[Vec<u8>]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        for p in parts {
            std::io::Write::write_all(&mut f, p).unwrap();
        }
        f
    }

    #[test]
    fn reads_a_faststart_mp4() {
        let mut moov = mvhd_v0(1000, 20_016);
        moov.extend(trak(b"soun", IDENTITY_MATRIX, 0, 0));
        moov.extend(trak(b"vide", IDENTITY_MATRIX, 1280, 720));
        moov.extend(trak(b"vide", IDENTITY_MATRIX, 640, 360));
        let f = file(&[
            boxed(b"ftyp", b"isom"),
            boxed(b"moov", &moov),
            boxed(b"free", b""),
            boxed(b"mdat", &[0; 64]),
        ]);
        assert_eq!(
            mp4(f.path()),
            Some(Measured {
                size: Some((1280, 720)),
                duration_ms: Some(20_016)
            })
        );

        // Audio only; a timescale that needs rounding as ffprobe does.
        let mut moov = mvhd_v0(44_100, 132_301);
        moov.extend(trak(b"soun", IDENTITY_MATRIX, 0, 0));
        let f = file(&[boxed(b"ftyp", b"M4A "), boxed(b"moov", &moov)]);
        assert_eq!(
            mp4(f.path()),
            Some(Measured {
                size: None,
                duration_ms: Some(3000)
            })
        );
    }

    #[test]
    fn anything_unexpected_is_left_to_ffprobe() {
        let good_moov = || {
            let mut moov = mvhd_v0(1000, 3000);
            moov.extend(trak(b"vide", IDENTITY_MATRIX, 320, 240));
            moov
        };
        let rotated = {
            let mut moov = mvhd_v0(1000, 3000);
            let quarter = [0, 0x1_0000, 0, 0xffff_0000, 0, 0, 0, 0, 0x4000_0000];
            moov.extend(trak(b"vide", quarter, 320, 240));
            moov
        };
        let unknown_duration = {
            let mut moov = mvhd_v0(1000, u32::MAX);
            moov.extend(trak(b"vide", IDENTITY_MATRIX, 320, 240));
            moov
        };
        let no_size = {
            let mut moov = mvhd_v0(1000, 3000);
            moov.extend(trak(b"vide", IDENTITY_MATRIX, 0, 240));
            moov
        };
        let fragmented = {
            let mut moov = good_moov();
            moov.extend(boxed(b"mvex", b""));
            moov
        };
        let mut truncated = boxed(b"moov", &good_moov());
        truncated.truncate(truncated.len() - 10);
        let mut overlong = good_moov();
        overlong.extend(&[0, 0, 1, 0, b'f', b'r', b'e', b'e']);
        let cases: Vec<(&str, Vec<Vec<u8>>)> = vec![
            ("empty", vec![]),
            ("not mp4", vec![b"RIFF\0\0\0\0WAVE".to_vec()]),
            ("no ftyp", vec![boxed(b"moov", &good_moov())]),
            (
                "index at the end",
                vec![
                    boxed(b"ftyp", b"isom"),
                    boxed(b"mdat", &[0; 16]),
                    boxed(b"moov", &good_moov()),
                ],
            ),
            (
                "rotated",
                vec![boxed(b"ftyp", b"isom"), boxed(b"moov", &rotated)],
            ),
            (
                "unknown duration",
                vec![boxed(b"ftyp", b"isom"), boxed(b"moov", &unknown_duration)],
            ),
            (
                "no size",
                vec![boxed(b"ftyp", b"isom"), boxed(b"moov", &no_size)],
            ),
            (
                "fragmented",
                vec![boxed(b"ftyp", b"isom"), boxed(b"moov", &fragmented)],
            ),
            ("truncated", vec![boxed(b"ftyp", b"isom"), truncated]),
            (
                "a child past its parent",
                vec![boxed(b"ftyp", b"isom"), boxed(b"moov", &overlong)],
            ),
            (
                "too many leading boxes",
                std::iter::once(boxed(b"ftyp", b"isom"))
                    .chain((0..MAX_LEADING_BOXES).map(|_| boxed(b"free", b"")))
                    .chain([boxed(b"moov", &good_moov())])
                    .collect(),
            ),
        ];
        for (what, parts) in cases {
            assert_eq!(mp4(file(&parts).path()), None, "{what}");
        }
        let f = file(&[boxed(b"ftyp", b"isom"), boxed(b"moov", &good_moov())]);
        assert!(mp4(f.path()).is_some());
    }

    #[test]
    fn reads_a_jpeg_frame_header() {
        let mut jpeg = vec![0xff, 0xd8, 0xff, 0xe0, 0, 4, 1, 2, 0xff, 0xff];
        jpeg.extend([0xc0, 0, 17, 8, 0, 180, 1, 64, 3]);
        assert_eq!(read_jpeg(&jpeg), Some((320, 180)));
        assert_eq!(read_jpeg(&jpeg[..jpeg.len() - 4]), None);
        assert_eq!(read_jpeg(&[0xff, 0xd8, 0xff, 0xda, 0, 2]), None);
        assert_eq!(read_jpeg(b"\x89PNG"), None);
        assert_eq!(
            read_jpeg(&[0xff, 0xd8, 0xff, 0xc0, 0, 17, 8, 0, 0, 1, 64]),
            None
        );
    }

    // ---------- against ffprobe, on what ffmpeg writes ----------

    fn program(name: &str) -> std::path::PathBuf {
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
            .unwrap_or_else(|| panic!("{name} is installed (infra/setup.sh)"))
    }

    fn ffmpeg(args: &[std::ffi::OsString]) {
        // The presets' own `-loglevel info` wins: keep stderr for a failure only.
        let out = std::process::Command::new(program("ffmpeg"))
            .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ffmpeg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn lavfi_source(out: &Path, video: &str, extra: &[&str]) {
        let mut args: Vec<std::ffi::OsString> = [
            "-f",
            "lavfi",
            "-i",
            video,
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=2",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
        ]
        .into_iter()
        .chain(extra.iter().copied())
        .map(Into::into)
        .collect();
        args.push(out.into());
        ffmpeg(&args);
    }

    /// `read_back` with the machine's ffprobe and a minute for everything.
    async fn read_back_here(
        file: &Path,
        written: Written,
        work_dir: &Path,
    ) -> Result<Measured, TranscodeError> {
        let ffprobe = Ffprobe {
            program: &program("ffprobe"),
            limits: crate::process::ProcessLimits {
                memory_bytes: 2 << 30,
                cpu_secs: 60,
            },
            work_dir,
            timeout: std::time::Duration::from_secs(60),
        };
        let deadline = Instant::now() + ffprobe.timeout;
        read_back(
            &ffprobe,
            file,
            written,
            deadline,
            &mut watch::channel(None).1,
        )
        .await
    }

    async fn by_ffprobe(file: &Path, work_dir: &Path) -> Result<Measured, TranscodeError> {
        // Not a layout the readers know: always ffprobe.
        read_back_here(file, Written::Jpeg, work_dir).await
    }

    /// The readers agree with ffprobe on every kind of file the presets
    /// write, from plain, rotated and anamorphic sources.
    #[tokio::test]
    async fn the_readers_agree_with_ffprobe() {
        use crate::presets;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let plain = d.join("plain.mp4");
        lavfi_source(&plain, "testsrc=duration=2:size=320x240:rate=25", &[]);
        let rotated = d.join("rotated.mp4");
        lavfi_source(
            &rotated,
            "testsrc=duration=2:size=320x240:rate=30",
            &["-metadata:s:v:0", "rotate=90"],
        );
        let anamorphic = d.join("anamorphic.mp4");
        lavfi_source(
            &anamorphic,
            "testsrc=duration=2:size=320x240:rate=25,setsar=4/3",
            &[],
        );
        let mut outputs = Vec::new();
        for (i, source) in [&plain, &rotated, &anamorphic].into_iter().enumerate() {
            let out = |ext: &str| d.join(format!("out-{i}-{ext}"));
            let (av, video, audio, poster) = (
                out("av.mp4"),
                out("video.mp4"),
                out("audio.m4a"),
                out("poster.jpg"),
            );
            ffmpeg(&presets::mp4(source, &av, 180, true, 1));
            ffmpeg(&presets::mp4(source, &video, 120, false, 1));
            ffmpeg(&presets::audio(source, &audio, 64, 1));
            ffmpeg(&presets::poster(
                source,
                &poster,
                std::time::Duration::from_millis(500),
                100,
                1,
            ));
            outputs.extend([
                (av, Written::Mp4),
                (video, Written::Mp4),
                (audio, Written::Mp4),
                (poster, Written::Jpeg),
            ]);
        }
        for (file, written) in outputs {
            let quick = match written {
                Written::Mp4 => mp4(&file),
                Written::Jpeg => jpeg(&file),
            };
            let expected = by_ffprobe(&file, d).await.unwrap();
            assert_eq!(quick, Some(expected), "{}", file.display());
            if written == Written::Mp4 {
                assert!(expected.duration_ms.is_some(), "{}", file.display());
            }
            assert!(
                expected.size.is_some() || file.extension().unwrap() == "m4a",
                "{}",
                file.display()
            );
        }
    }

    /// What the readers do not know goes to ffprobe; what ffprobe cannot
    /// read either is ffmpeg's failure.
    #[tokio::test]
    async fn the_rest_is_left_to_ffprobe() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let source = d.join("source.mp4");
        lavfi_source(&source, "testsrc=duration=2:size=320x240:rate=25", &[]);
        let mkv = d.join("out.mkv");
        ffmpeg(&[
            "-i".into(),
            source.clone().into(),
            "-c".into(),
            "copy".into(),
            mkv.clone().into(),
        ]);
        assert_eq!(mp4(&mkv), None);
        let run =
            |file: std::path::PathBuf| async move { read_back_here(&file, Written::Mp4, d).await };
        let measured = run(mkv.clone()).await.unwrap();
        assert_eq!(measured, by_ffprobe(&mkv, d).await.unwrap());
        assert_eq!(measured.size, Some((320, 240)));
        assert!(
            measured
                .duration_ms
                .is_some_and(|ms| ms.abs_diff(2000) <= 100)
        );

        let garbage = d.join("garbage.mp4");
        std::fs::write(&garbage, b"not media at all").unwrap();
        let err = run(garbage).await.unwrap_err();
        assert!(
            matches!(&err, TranscodeError::Failed(m) if m.contains("garbage.mp4")),
            "{err:?}"
        );
    }
}
