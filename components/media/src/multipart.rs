//! `multipart/form-data` (RFC 7578), streamed: the bytes of one file field
//! are handed on as they arrive, never held whole.

use folio_guest::http::Problem;

use crate::wire::{ByteSource, CHUNK, SourceError};

/// Headers of one part may not exceed this.
const MAX_PART_HEAD: usize = 16 << 10;

/// The boundary of a `multipart/form-data` content type.
pub fn boundary(content_type: &str) -> Option<String> {
    let mut params = content_type.split(';');
    let mime = params.next()?.trim();
    if !mime.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.find_map(|p| {
        let (name, value) = p.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| value.trim().trim_matches('"').to_string())
            .filter(|b| !b.is_empty() && b.len() <= 70)
    })
}

/// The contents of the form field `field`, read from a multipart body.
pub struct FilePart<S> {
    inner: S,
    /// `\r\n--boundary`: what ends every part.
    delimiter: Vec<u8>,
    buffer: Vec<u8>,
    inner_done: bool,
    part_done: bool,
    pub filename: Option<String>,
}

impl<S: ByteSource> FilePart<S> {
    /// Reads up to the start of field `field`'s contents; 422 naming the
    /// field when the body has none.
    pub fn open(inner: S, boundary: &str, field: &str) -> Result<FilePart<S>, SourceError> {
        let mut part = FilePart {
            inner,
            delimiter: format!("\r\n--{boundary}").into_bytes(),
            // The first delimiter may start the body without a preceding CRLF.
            buffer: b"\r\n".to_vec(),
            inner_done: false,
            part_done: false,
            filename: None,
        };
        loop {
            part.skip_to_delimiter()?;
            // After a delimiter: `--` closes the body, CRLF starts a part.
            part.fill(2)?;
            if part.buffer.starts_with(b"--") {
                return Err(Problem::invalid_field(
                    field,
                    "is required: the form has no such file field",
                )
                .into());
            }
            let head_end = loop {
                if let Some(i) = find(&part.buffer, b"\r\n\r\n") {
                    break i;
                }
                if part.buffer.len() > MAX_PART_HEAD || part.inner_done {
                    return Err(
                        Problem::bad_request("a multipart part has no end to its headers").into(),
                    );
                }
                part.fill(part.buffer.len() + 1)?;
            };
            let head = String::from_utf8_lossy(&part.buffer[..head_end]).into_owned();
            part.buffer.drain(..head_end + 4);
            let (name, filename) = disposition(&head);
            if name.as_deref() == Some(field) {
                part.filename = filename;
                return Ok(part);
            }
        }
    }

    /// Reads until the buffer holds at least `n` bytes or the body ends.
    fn fill(&mut self, n: usize) -> Result<(), SourceError> {
        while self.buffer.len() < n && !self.inner_done {
            match self.inner.next_chunk(CHUNK)? {
                Some(bytes) => self.buffer.extend_from_slice(&bytes),
                None => self.inner_done = true,
            }
        }
        Ok(())
    }

    /// Discards everything up to and including the next delimiter.
    fn skip_to_delimiter(&mut self) -> Result<(), SourceError> {
        loop {
            if let Some(i) = find(&self.buffer, &self.delimiter) {
                self.buffer.drain(..i + self.delimiter.len());
                return Ok(());
            }
            if self.inner_done {
                return Err(Problem::bad_request(
                    "the multipart body ends before its closing boundary",
                )
                .into());
            }
            let keep = self.delimiter.len() - 1;
            if self.buffer.len() > keep {
                self.buffer.drain(..self.buffer.len() - keep);
            }
            self.fill(self.buffer.len() + 1)?;
        }
    }
}

impl<S: ByteSource> ByteSource for FilePart<S> {
    fn next_chunk(&mut self, max: usize) -> Result<Option<Vec<u8>>, SourceError> {
        if self.part_done {
            return Ok(None);
        }
        loop {
            if let Some(i) = find(&self.buffer, &self.delimiter) {
                if i == 0 {
                    self.part_done = true;
                    return Ok(None);
                }
                let n = i.min(max);
                return Ok(Some(self.buffer.drain(..n).collect()));
            }
            // Bytes that cannot be the start of a delimiter are safe to hand on.
            let safe = self.buffer.len().saturating_sub(self.delimiter.len() - 1);
            if safe >= CHUNK.min(max) || (self.inner_done && safe > 0) {
                let n = safe.min(max);
                return Ok(Some(self.buffer.drain(..n).collect()));
            }
            if self.inner_done {
                return Err(Problem::bad_request(
                    "the multipart body ends before its closing boundary",
                )
                .into());
            }
            self.fill(self.buffer.len() + 1)?;
        }
    }
}

/// `name` and `filename` of a part's `Content-Disposition`.
fn disposition(head: &str) -> (Option<String>, Option<String>) {
    let Some(line) = head.split("\r\n").find(|l| {
        l.split_once(':')
            .is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case("content-disposition"))
    }) else {
        return (None, None);
    };
    let value = line.split_once(':').map_or("", |(_, v)| v);
    let mut name = None;
    let mut filename = None;
    for param in value.split(';').skip(1) {
        if let Some((k, v)) = param.split_once('=') {
            let v = v.trim().trim_matches('"').to_string();
            match k.trim().to_ascii_lowercase().as_str() {
                "name" => name = Some(v),
                "filename" => filename = Some(v),
                _ => {}
            }
        }
    }
    (name, filename)
}

/// The first occurrence of `needle` in `haystack`. Scans for the needle's
/// first byte, so a CRLF-led delimiter is found in about one pass.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let mut start = 0;
    while let Some(offset) = haystack[start..].iter().position(|&b| b == needle[0]) {
        let i = start + offset;
        if haystack[i..].starts_with(needle) {
            return Some(i);
        }
        start = i + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body delivered in chunks of a fixed size.
    struct Chunks(Vec<u8>, usize);

    impl ByteSource for Chunks {
        fn next_chunk(&mut self, _max: usize) -> Result<Option<Vec<u8>>, SourceError> {
            if self.0.is_empty() {
                return Ok(None);
            }
            let n = self.1.min(self.0.len());
            Ok(Some(self.0.drain(..n).collect()))
        }
    }

    fn body(file: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(
            b"--XyZ\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nhello\r\n",
        );
        b.extend_from_slice(b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a b.png\"\r\nContent-Type: image/png\r\n\r\n");
        b.extend_from_slice(file);
        b.extend_from_slice(b"\r\n--XyZ--\r\n");
        b
    }

    fn read_all(mut part: impl ByteSource) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(chunk) = part.next_chunk(CHUNK).ok().flatten() {
            out.extend_from_slice(&chunk);
        }
        out
    }

    #[test]
    fn reads_the_file_field_whatever_the_chunking() {
        // Contents that look like the start of a delimiter must pass through.
        let file: Vec<u8> = b"\r\n--Xy\r\n-\r\r\n--XyY"
            .iter()
            .copied()
            .chain((0..5000u32).map(|i| (i % 251) as u8))
            .collect();
        for chunk in [1, 2, 3, 7, 64, 1000, 1 << 20] {
            let part = FilePart::open(Chunks(body(&file), chunk), "XyZ", "file")
                .ok()
                .expect("the field is found");
            assert_eq!(part.filename.as_deref(), Some("a b.png"));
            assert!(read_all(part) == file, "chunk size {chunk}");
        }
    }

    #[test]
    fn a_missing_field_names_it() {
        let err = FilePart::open(Chunks(body(b"x"), 10), "XyZ", "upload")
            .err()
            .expect("no such field");
        let problem = err.into_problem();
        assert_eq!(problem.status, 422);
        assert_eq!(problem.errors[0].field, "upload");
    }

    #[test]
    fn a_body_cut_short_is_refused() {
        let mut cut = body(b"0123456789");
        cut.truncate(cut.len() - 12);
        let part = FilePart::open(Chunks(cut, 5), "XyZ", "file").ok().unwrap();
        let mut part = part;
        let mut result = Ok(Some(Vec::new()));
        while let Ok(Some(_)) = result {
            result = part.next_chunk(CHUNK);
        }
        assert!(matches!(result, Err(SourceError::Refused(p)) if p.status == 400));
    }

    #[test]
    fn boundaries_are_parsed() {
        assert_eq!(
            boundary("multipart/form-data; boundary=\"ab cd\"").as_deref(),
            Some("ab cd")
        );
        assert_eq!(
            boundary("multipart/form-data;boundary=x").as_deref(),
            Some("x")
        );
        assert_eq!(boundary("application/json"), None);
        assert_eq!(boundary("multipart/form-data"), None);
    }
}
