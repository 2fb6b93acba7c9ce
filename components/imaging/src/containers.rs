//! Metadata out of PNG and WebP files, chunk by chunk: the image data and
//! everything that affects how it displays (colour profiles, gamma,
//! animation) are copied byte for byte; text, EXIF, XMP and timestamps go.

/// PNG chunks that carry metadata: text (often an author, a camera, a
/// place), EXIF (GPS included) and the last-modified time.
const PNG_METADATA: [&[u8; 4]; 5] = [b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"tIME"];
const PNG_SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";

/// The PNG without its metadata chunks; bytes after `IEND` are dropped.
pub fn strip_png(png: &[u8]) -> Result<Vec<u8>, String> {
    if !png.starts_with(PNG_SIGNATURE) {
        return Err("not a PNG".into());
    }
    let mut out = PNG_SIGNATURE.to_vec();
    let mut at = PNG_SIGNATURE.len();
    loop {
        let header = png
            .get(at..at + 8)
            .ok_or("the PNG ends inside a chunk header")?;
        let length = u32::from_be_bytes(header[..4].try_into().expect("4 bytes")) as usize;
        let kind: [u8; 4] = header[4..8].try_into().expect("4 bytes");
        let end = at
            .checked_add(12)
            .and_then(|n| n.checked_add(length))
            .filter(|end| *end <= png.len())
            .ok_or("a PNG chunk runs past the end of the file")?;
        if !PNG_METADATA.contains(&&kind) {
            out.extend_from_slice(&png[at..end]);
        }
        at = end;
        if &kind == b"IEND" {
            return Ok(out);
        }
    }
}

/// The WebP without its `EXIF` and `XMP ` chunks, the extended header's
/// flags for them cleared and the RIFF size recomputed.
pub fn strip_webp(webp: &[u8]) -> Result<Vec<u8>, String> {
    if webp.len() < 12 || &webp[..4] != b"RIFF" || &webp[8..12] != b"WEBP" {
        return Err("not a WebP".into());
    }
    let declared = u32::from_le_bytes(webp[4..8].try_into().expect("4 bytes")) as usize;
    let riff_end = declared
        .checked_add(8)
        .filter(|end| *end <= webp.len())
        .ok_or("the WebP is shorter than its RIFF header says")?;
    let mut body = b"WEBP".to_vec();
    let mut at = 12;
    while at < riff_end {
        let header = webp
            .get(at..at + 8)
            .ok_or("the WebP ends inside a chunk header")?;
        let fourcc: [u8; 4] = header[..4].try_into().expect("4 bytes");
        let size = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes")) as usize;
        let padded = size + (size & 1);
        let end = at
            .checked_add(8)
            .and_then(|n| n.checked_add(padded))
            .filter(|end| *end <= riff_end)
            .ok_or("a WebP chunk runs past the end of the file")?;
        match &fourcc {
            b"EXIF" | b"XMP " => {}
            b"VP8X" => {
                let mut chunk = webp[at..end].to_vec();
                if let Some(flags) = chunk.get_mut(8) {
                    // Bit 3: EXIF present; bit 2: XMP present.
                    *flags &= !0b0000_1100;
                }
                body.extend_from_slice(&chunk);
            }
            _ => body.extend_from_slice(&webp[at..end]),
        }
        at = end;
    }
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}
