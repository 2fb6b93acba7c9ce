//! Media type detection from a file's first bytes.

/// What a sniffed file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    Image,
    Video,
    Audio,
}

/// The type of a file as decided by [`sniff`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sniffed {
    pub mime: &'static str,
    pub kind: MediaKind,
    /// The usual file extension, without the dot.
    pub extension: &'static str,
}

impl Sniffed {
    const fn new(mime: &'static str, kind: MediaKind, extension: &'static str) -> Self {
        Self {
            mime,
            kind,
            extension,
        }
    }
}

pub(crate) const JPEG: Sniffed = Sniffed::new("image/jpeg", MediaKind::Image, "jpg");
pub(crate) const PNG: Sniffed = Sniffed::new("image/png", MediaKind::Image, "png");
pub(crate) const WEBP: Sniffed = Sniffed::new("image/webp", MediaKind::Image, "webp");
pub(crate) const GIF: Sniffed = Sniffed::new("image/gif", MediaKind::Image, "gif");

const MP4: Sniffed = Sniffed::new("video/mp4", MediaKind::Video, "mp4");
const M4V: Sniffed = Sniffed::new("video/x-m4v", MediaKind::Video, "m4v");
const QUICKTIME: Sniffed = Sniffed::new("video/quicktime", MediaKind::Video, "mov");
const WEBM: Sniffed = Sniffed::new("video/webm", MediaKind::Video, "webm");
const MATROSKA: Sniffed = Sniffed::new("video/x-matroska", MediaKind::Video, "mkv");
const AVI: Sniffed = Sniffed::new("video/x-msvideo", MediaKind::Video, "avi");
const OGG_VIDEO: Sniffed = Sniffed::new("video/ogg", MediaKind::Video, "ogv");

const MP3: Sniffed = Sniffed::new("audio/mpeg", MediaKind::Audio, "mp3");
const WAV: Sniffed = Sniffed::new("audio/wav", MediaKind::Audio, "wav");
const OGG_VORBIS: Sniffed = Sniffed::new("audio/ogg", MediaKind::Audio, "ogg");
const OGG_OPUS: Sniffed = Sniffed::new("audio/ogg", MediaKind::Audio, "opus");
const FLAC: Sniffed = Sniffed::new("audio/flac", MediaKind::Audio, "flac");
const M4A: Sniffed = Sniffed::new("audio/mp4", MediaKind::Audio, "m4a");
const AAC: Sniffed = Sniffed::new("audio/aac", MediaKind::Audio, "aac");

/// Decides a file's type from its first bytes (pass at least 64 when the file has them), never
/// from a file name or a client's `Content-Type`.
///
/// Images: JPEG, PNG, WebP, GIF. Video: MP4, M4V and QuickTime (by `ftyp` brand), WebM and
/// Matroska (by the EBML DocType), AVI, and Ogg carrying Theora. Audio: MP3 (an ID3v2 tag or an
/// MPEG-1/2 Layer III frame header), WAV, Ogg (Vorbis, Opus and FLAC-in-Ogg are all `audio/ogg`;
/// Opus gets the `opus` extension), FLAC, M4A (`ftyp` brand `M4A `, `M4B ` or `M4P `) and raw AAC
/// (ADTS). Anything else, including HEIF/AVIF images and other ISO-BMFF files with no MP4 brand,
/// is `None`.
pub fn sniff(head: &[u8]) -> Option<Sniffed> {
    if head.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Some(JPEG);
    }
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some(PNG);
    }
    if head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a") {
        return Some(GIF);
    }
    if head.len() >= 12 && head.starts_with(b"RIFF") {
        return match &head[8..12] {
            b"WEBP" => Some(WEBP),
            b"WAVE" => Some(WAV),
            b"AVI " => Some(AVI),
            _ => None,
        };
    }
    if head.len() >= 12 && &head[4..8] == b"ftyp" {
        return sniff_iso_media(head);
    }
    if head.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        return sniff_matroska(head);
    }
    if head.starts_with(b"OggS") {
        return Some(sniff_ogg(head));
    }
    if head.starts_with(b"fLaC") {
        return Some(FLAC);
    }
    if is_id3v2_tag(head) || is_mpeg_layer3_frame(head) {
        return Some(MP3);
    }
    if is_adts_frame(head) {
        return Some(AAC);
    }
    None
}

/// ISO base media files (MP4 family): the `ftyp` box's major brand, then its compatible brands.
fn sniff_iso_media(head: &[u8]) -> Option<Sniffed> {
    let major = &head[8..12];
    if let Some(sniffed) = iso_brand(major) {
        return sniffed;
    }
    let box_size = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    // The compatible brands follow the major brand and the minor version.
    let compatible = head.get(16..box_size.min(head.len())).unwrap_or_default();
    let mut found = None;
    for brand in compatible.chunks_exact(4) {
        match iso_brand(brand) {
            // An image brand anywhere (HEIF/AVIF) means a still image, which we do not accept.
            Some(None) => return None,
            Some(Some(sniffed)) if found.is_none() => found = Some(sniffed),
            _ => {}
        }
    }
    found
}

/// `None` for a brand we know nothing about; `Some(None)` for a brand we know and refuse.
fn iso_brand(brand: &[u8]) -> Option<Option<Sniffed>> {
    let sniffed = match brand {
        b"M4A " | b"M4B " | b"M4P " => Some(M4A),
        b"M4V " | b"M4VH" | b"M4VP" => Some(M4V),
        b"qt  " => Some(QUICKTIME),
        b"isom" | b"iso2" | b"iso3" | b"iso4" | b"iso5" | b"iso6" | b"iso7" | b"iso8" | b"iso9"
        | b"mp41" | b"mp42" | b"mp71" | b"avc1" | b"dash" | b"mmp4" | b"MSNV" | b"XAVC"
        | b"f4v " => Some(MP4),
        b"heic" | b"heix" | b"heim" | b"heis" | b"hevc" | b"hevx" | b"mif1" | b"msf1" | b"avif"
        | b"avis" | b"crx " => None,
        _ => return None,
    };
    Some(sniffed)
}

/// Matroska and WebM share the EBML header; its DocType element says which one it is.
fn sniff_matroska(head: &[u8]) -> Option<Sniffed> {
    const DOC_TYPE_ID: u64 = 0x4282;
    let (header_size, mut position) = read_ebml_vint(head, 4, false)?;
    let header_end = (position as u64)
        .saturating_add(header_size)
        .min(head.len() as u64) as usize;
    while position < header_end {
        let (id, after_id) = read_ebml_vint(head, position, true)?;
        let (size, data_start) = read_ebml_vint(head, after_id, false)?;
        let data_end = data_start.checked_add(usize::try_from(size).ok()?)?;
        if id == DOC_TYPE_ID {
            let doc_type = head.get(data_start..data_end.min(head.len()))?;
            // DocType strings may be NUL-padded.
            let doc_type = doc_type.split(|&byte| byte == 0).next().unwrap_or_default();
            return match doc_type {
                b"webm" => Some(WEBM),
                b"matroska" => Some(MATROSKA),
                _ => None,
            };
        }
        position = data_end;
    }
    None
}

/// An EBML variable-length integer at `position`: its value and the position after it. Element
/// IDs keep their length-marker bit; sizes drop it.
fn read_ebml_vint(bytes: &[u8], position: usize, keep_marker: bool) -> Option<(u64, usize)> {
    let first = *bytes.get(position)?;
    if first == 0 {
        return None;
    }
    let length = first.leading_zeros() as usize + 1;
    let mut value = if keep_marker {
        u64::from(first)
    } else {
        u64::from(first & (0xFF >> length))
    };
    for &byte in bytes.get(position + 1..position + length)? {
        value = (value << 8) | u64::from(byte);
    }
    Some((value, position + length))
}

/// Ogg pages say nothing of the codec; the first packet of the first page does.
fn sniff_ogg(head: &[u8]) -> Sniffed {
    const PAGE_HEADER_LEN: usize = 27;
    let segment_count = head.get(26).copied().unwrap_or(0) as usize;
    let first_packet = head
        .get(PAGE_HEADER_LEN + segment_count..)
        .unwrap_or_default();
    if first_packet.starts_with(b"OpusHead") {
        OGG_OPUS
    } else if first_packet.starts_with(b"\x80theora") {
        OGG_VIDEO
    } else {
        OGG_VORBIS
    }
}

fn is_id3v2_tag(head: &[u8]) -> bool {
    // "ID3", major version 2..=4, a revision, flags, then a 28-bit size stored 7 bits a byte.
    head.len() >= 10
        && head.starts_with(b"ID3")
        && (2..=4).contains(&head[3])
        && head[4] != 0xFF
        && head[6..10].iter().all(|&byte| byte < 0x80)
}

/// An MPEG-1/2/2.5 Layer III frame header with no reserved or invalid field, which keeps
/// arbitrary binary starting with 0xFF from passing as MP3.
fn is_mpeg_layer3_frame(head: &[u8]) -> bool {
    let [0xFF, second, third, fourth, ..] = *head else {
        return false;
    };
    let frame_sync = second & 0xE0 == 0xE0;
    let version_valid = (second >> 3) & 0b11 != 0b01;
    let layer_three = (second >> 1) & 0b11 == 0b01;
    let bitrate_index = third >> 4;
    let bitrate_valid = bitrate_index != 0 && bitrate_index != 0b1111;
    let sample_rate_valid = (third >> 2) & 0b11 != 0b11;
    let emphasis_valid = fourth & 0b11 != 0b10;
    frame_sync
        && version_valid
        && layer_three
        && bitrate_valid
        && sample_rate_valid
        && emphasis_valid
}

/// An ADTS header (raw AAC): 12 sync bits, layer 0, and a sampling-frequency index in range.
fn is_adts_frame(head: &[u8]) -> bool {
    let [0xFF, second, third, ..] = *head else {
        return false;
    };
    let sync_and_layer = second & 0xF6 == 0xF0;
    let sampling_index = (third >> 2) & 0x0F;
    sync_and_layer && sampling_index < 13
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_images;

    fn padded(head: &[u8]) -> Vec<u8> {
        let mut bytes = head.to_vec();
        bytes.resize(64.max(head.len()), 0);
        bytes
    }

    fn ftyp(major: &[u8; 4], compatible: &[&[u8; 4]]) -> Vec<u8> {
        let size = 16 + 4 * compatible.len() as u32;
        let mut bytes = size.to_be_bytes().to_vec();
        bytes.extend_from_slice(b"ftyp");
        bytes.extend_from_slice(major);
        bytes.extend_from_slice(&[0, 0, 2, 0]);
        for brand in compatible {
            bytes.extend_from_slice(*brand);
        }
        bytes.extend_from_slice(&[0, 0, 0, 8, b'f', b'r', b'e', b'e']);
        padded(&bytes)
    }

    fn ebml(doc_type: &[u8]) -> Vec<u8> {
        let mut body = vec![
            0x42, 0x86, 0x81, 0x01, // EBMLVersion 1
            0x42, 0xF7, 0x81, 0x01, // EBMLReadVersion 1
            0x42, 0xF2, 0x81, 0x04, // EBMLMaxIDLength 4
            0x42, 0xF3, 0x81, 0x08, // EBMLMaxSizeLength 8
            0x42, 0x82, // DocType
        ];
        body.push(0x80 | doc_type.len() as u8);
        body.extend_from_slice(doc_type);
        body.extend_from_slice(&[0x42, 0x87, 0x81, 0x04, 0x42, 0x85, 0x81, 0x02]);
        let mut bytes = vec![0x1A, 0x45, 0xDF, 0xA3, 0x80 | body.len() as u8];
        bytes.extend_from_slice(&body);
        bytes.extend_from_slice(&[0x18, 0x53, 0x80, 0x67, 0x01, 0, 0, 0, 0, 0, 0x10, 0]);
        padded(&bytes)
    }

    fn riff(form: &[u8; 4], first_chunk: &[u8; 4]) -> Vec<u8> {
        let mut bytes = b"RIFF".to_vec();
        bytes.extend_from_slice(&1000u32.to_le_bytes());
        bytes.extend_from_slice(form);
        bytes.extend_from_slice(first_chunk);
        bytes.extend_from_slice(&16u32.to_le_bytes());
        padded(&bytes)
    }

    fn ogg(first_packet: &[u8]) -> Vec<u8> {
        let mut bytes = b"OggS\0\x02".to_vec();
        bytes.extend_from_slice(&[0; 8]); // granule position
        bytes.extend_from_slice(&[0x11, 0x22, 0x33, 0x44]); // serial number
        bytes.extend_from_slice(&[0; 4]); // page sequence
        bytes.extend_from_slice(&[0; 4]); // checksum
        bytes.push(1); // one segment
        bytes.push(first_packet.len() as u8);
        bytes.extend_from_slice(first_packet);
        padded(&bytes)
    }

    /// Mime type, kind and extension, for compact expectations.
    type Found = Option<(&'static str, MediaKind, &'static str)>;

    fn sniffed(head: &[u8]) -> Found {
        sniff(head).map(|found| (found.mime, found.kind, found.extension))
    }

    #[test]
    fn images_from_real_encodings() {
        let image = test_images::gradient_rgb(48, 32);
        assert_eq!(sniff(&test_images::jpeg(&image, 90)), Some(JPEG));
        assert_eq!(sniff(&test_images::png(&image)), Some(PNG));
        assert_eq!(sniff(&test_images::webp_lossless(&image)), Some(WEBP));
        assert_eq!(sniff(&test_images::gif(&image)), Some(GIF));
    }

    #[test]
    fn a_png_named_or_labelled_as_something_else_is_still_png() {
        // The caller passes only bytes; a PNG uploaded as "photo.jpg" with image/jpeg is a PNG.
        let png = test_images::png(&test_images::gradient_rgb(8, 8));
        let found = sniff(&png[..64]).unwrap();
        assert_eq!((found.mime, found.extension), ("image/png", "png"));
    }

    #[test]
    fn iso_media_by_brand() {
        use MediaKind::*;
        let mp4 = Some(("video/mp4", Video, "mp4"));
        let check = |major: &[u8; 4], compatible: &[&[u8; 4]], expected: Found| {
            let found = sniffed(&ftyp(major, compatible));
            assert_eq!(found, expected, "major brand {major:?}");
        };
        check(b"isom", &[b"isom", b"iso2", b"avc1", b"mp41"], mp4);
        check(b"mp42", &[b"mp42", b"isom"], mp4);
        check(
            b"M4V ",
            &[b"M4V ", b"M4A ", b"mp42"],
            Some(("video/x-m4v", Video, "m4v")),
        );
        check(b"qt  ", &[b"qt  "], Some(("video/quicktime", Video, "mov")));
        check(
            b"M4A ",
            &[b"M4A ", b"mp42", b"isom"],
            Some(("audio/mp4", Audio, "m4a")),
        );
        // An unknown major brand falls back to the compatible brands.
        check(b"xyz1", &[b"xyz1", b"isom"], mp4);
        // HEIF and AVIF stills are not accepted, whatever else they list.
        check(b"heic", &[b"mif1", b"heic"], None);
        check(b"avif", &[b"avif", b"mif1", b"miaf"], None);
        check(b"mif1", &[b"mif1", b"isom"], None);
        check(b"xyz1", &[b"isom", b"avif"], None);
    }

    #[test]
    fn matroska_family_by_doc_type() {
        assert_eq!(
            sniffed(&ebml(b"webm")),
            Some(("video/webm", MediaKind::Video, "webm"))
        );
        assert_eq!(
            sniffed(&ebml(b"matroska")),
            Some(("video/x-matroska", MediaKind::Video, "mkv"))
        );
        assert_eq!(sniffed(&ebml(b"webm\0\0")).unwrap().1, MediaKind::Video);
        assert_eq!(sniff(&ebml(b"other")), None);
    }

    #[test]
    fn riff_forms() {
        assert_eq!(
            sniffed(&riff(b"AVI ", b"LIST")),
            Some(("video/x-msvideo", MediaKind::Video, "avi"))
        );
        assert_eq!(
            sniffed(&riff(b"WAVE", b"fmt ")),
            Some(("audio/wav", MediaKind::Audio, "wav"))
        );
        assert_eq!(sniff(&riff(b"WEBP", b"VP8 ")), Some(WEBP));
        assert_eq!(sniff(&riff(b"CDXA", b"fmt ")), None);
    }

    #[test]
    fn ogg_by_first_packet() {
        let opus = ogg(b"OpusHead\x01\x02\x38\x01\x80\xbb\0\0\0\0\0");
        let vorbis = ogg(b"\x01vorbis\0\0\0\0\x02\x44\xac\0\0");
        let theora = ogg(b"\x80theora\x03\x02\x01");
        assert_eq!(
            sniffed(&opus),
            Some(("audio/ogg", MediaKind::Audio, "opus"))
        );
        assert_eq!(
            sniffed(&vorbis),
            Some(("audio/ogg", MediaKind::Audio, "ogg"))
        );
        assert_eq!(
            sniffed(&theora),
            Some(("video/ogg", MediaKind::Video, "ogv"))
        );
    }

    #[test]
    fn other_audio() {
        use MediaKind::Audio;
        let id3 = padded(b"ID3\x04\x00\x00\x00\x00\x01\x7fTIT2");
        // MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, no CRC.
        let mpeg_frame = padded(&[0xFF, 0xFB, 0x90, 0x64]);
        // MPEG-2 Layer III, 64 kbit/s, 22.05 kHz.
        let mpeg2_frame = padded(&[0xFF, 0xF3, 0x80, 0xC4]);
        let flac = padded(b"fLaC\x00\x00\x00\x22\x10\x00\x10\x00");
        let adts = padded(&[0xFF, 0xF1, 0x50, 0x80, 0x02, 0x1F, 0xFC]);
        assert_eq!(sniffed(&id3), Some(("audio/mpeg", Audio, "mp3")));
        assert_eq!(sniffed(&mpeg_frame), Some(("audio/mpeg", Audio, "mp3")));
        assert_eq!(sniffed(&mpeg2_frame), Some(("audio/mpeg", Audio, "mp3")));
        assert_eq!(sniffed(&flac), Some(("audio/flac", Audio, "flac")));
        assert_eq!(sniffed(&adts), Some(("audio/aac", Audio, "aac")));
    }

    #[test]
    fn near_misses_of_mpeg_frames_are_not_audio() {
        // Reserved MPEG version, free-format bitrate, reserved sample rate, reserved emphasis.
        for header in [
            [0xFF, 0xEB, 0x90, 0x64],
            [0xFF, 0xFB, 0x00, 0x64],
            [0xFF, 0xFB, 0x9C, 0x64],
            [0xFF, 0xFB, 0x90, 0x66],
        ] {
            assert_eq!(sniff(&padded(&header)), None, "{header:02X?}");
        }
    }

    #[test]
    fn text_archives_and_empty_input_are_nothing() {
        let zip = padded(b"PK\x03\x04\x14\x00\x00\x00\x08\x00");
        let svg =
            b"<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"10\"/>";
        let html = b"<!DOCTYPE html><html><head><title>x</title></head><body></body></html>";
        let pdf = padded(b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n");
        for head in [
            &b""[..],
            b"hello, world",
            &[0xFF],
            &[0xFF, 0xD8],
            b"RIFF",
            svg,
            html,
            &zip,
            &pdf,
            &[0u8; 64],
        ] {
            assert_eq!(sniff(head), None, "{:?}", String::from_utf8_lossy(head));
        }
    }
}
