//! Guest stdout/stderr as log lines: `GuestOutput::pair(component, request_id, trace_id, span_id)` gives the two streams for `WasiCtxBuilder::stdout` and `stderr`.
//!
//! Each complete line a guest writes becomes one `folio::guest` event (stdout
//! at info, stderr at warn) carrying the instance's service, request and trace
//! ids. Lines are cut at `MAX_LINE_BYTES` and an instance's output at
//! `MAX_INSTANCE_BYTES`, so a guest cannot flood the log; writes always
//! succeed at once, whatever is dropped, so a guest's prints never fail.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Longer lines are cut to this many bytes and marked `truncated`.
pub const MAX_LINE_BYTES: usize = 8 << 10;
/// What one instance may write to stdout and stderr together; the rest is dropped.
pub const MAX_INSTANCE_BYTES: usize = 1 << 20;
/// How much a guest may hand over per write; any amount is taken at once.
const WRITE_PERMIT: usize = 64 << 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestStream {
    Stdout,
    Stderr,
}

impl GuestStream {
    fn name(self) -> &'static str {
        match self {
            GuestStream::Stdout => "stdout",
            GuestStream::Stderr => "stderr",
        }
    }
}

/// One of an instance's two output streams. Clones (one per stream handle the
/// guest opens) share the instance's buffers; the last one dropped logs any
/// unterminated last lines.
#[derive(Clone)]
pub struct GuestOutput {
    stream: GuestStream,
    instance: Arc<Mutex<InstanceOutput>>,
}

impl GuestOutput {
    /// The (stdout, stderr) streams of one instance of `component`.
    pub fn pair(
        component: &str,
        request_id: &str,
        trace_id: &str,
        span_id: &str,
    ) -> (GuestOutput, GuestOutput) {
        let instance = Arc::new(Mutex::new(InstanceOutput {
            ids: InstanceIds {
                service: component.to_string(),
                request_id: request_id.to_string(),
                trace_id: trace_id.to_string(),
                span_id: span_id.to_string(),
            },
            lines: OutputLines::default(),
        }));
        let stream = |stream| GuestOutput {
            stream,
            instance: instance.clone(),
        };
        (stream(GuestStream::Stdout), stream(GuestStream::Stderr))
    }

    fn write_bytes(&self, bytes: &[u8]) {
        let mut instance = self.instance.lock().unwrap_or_else(PoisonError::into_inner);
        let InstanceOutput { ids, lines } = &mut *instance;
        lines.write(self.stream, bytes, &mut |piece| ids.log(piece));
    }
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for GuestOutput {
    async fn ready(&mut self) {}
}

impl OutputStream for GuestOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.write_bytes(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_PERMIT)
    }
}

impl AsyncWrite for GuestOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.write_bytes(bytes);
        Poll::Ready(Ok(bytes.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

struct InstanceOutput {
    ids: InstanceIds,
    lines: OutputLines,
}

impl Drop for InstanceOutput {
    fn drop(&mut self) {
        let InstanceOutput { ids, lines } = self;
        lines.finish(&mut |piece| ids.log(piece));
    }
}

struct InstanceIds {
    service: String,
    request_id: String,
    trace_id: String,
    span_id: String,
}

impl InstanceIds {
    fn log(&self, piece: Piece) {
        let InstanceIds {
            service,
            request_id,
            trace_id,
            span_id,
        } = self;
        match piece {
            Piece::Line {
                stream: GuestStream::Stdout,
                text,
                truncated,
            } => {
                tracing::info!(target: "folio::guest", service = %service, requestId = %request_id,
                    traceId = %trace_id, spanId = %span_id, stream = "stdout",
                    truncated = truncated.then_some(true), "{text}");
            }
            Piece::Line {
                stream: GuestStream::Stderr,
                text,
                truncated,
            } => {
                tracing::warn!(target: "folio::guest", service = %service, requestId = %request_id,
                    traceId = %trace_id, spanId = %span_id, stream = "stderr",
                    truncated = truncated.then_some(true), "{text}");
            }
            Piece::OutputCapped { stream } => {
                tracing::warn!(target: "folio::guest", service = %service, requestId = %request_id,
                    traceId = %trace_id, spanId = %span_id, stream = stream.name(),
                    limitBytes = MAX_INSTANCE_BYTES, "guest output truncated");
            }
        }
    }
}

/// What an instance's output becomes.
#[derive(Debug, PartialEq, Eq)]
enum Piece {
    Line {
        stream: GuestStream,
        text: String,
        truncated: bool,
    },
    /// The instance went over `MAX_INSTANCE_BYTES` writing to `stream`; all it
    /// writes after this is dropped.
    OutputCapped { stream: GuestStream },
}

/// Both streams' unfinished lines and the instance's output budget.
struct OutputLines {
    stdout: LineSplitter,
    stderr: LineSplitter,
    bytes_left: usize,
    capped: bool,
}

impl Default for OutputLines {
    fn default() -> Self {
        OutputLines {
            stdout: LineSplitter::default(),
            stderr: LineSplitter::default(),
            bytes_left: MAX_INSTANCE_BYTES,
            capped: false,
        }
    }
}

impl OutputLines {
    fn write(&mut self, stream: GuestStream, bytes: &[u8], emit: &mut dyn FnMut(Piece)) {
        if self.capped {
            return;
        }
        let taken = bytes.len().min(self.bytes_left);
        self.bytes_left -= taken;
        let splitter = self.splitter(stream);
        splitter.push(&bytes[..taken], &mut |line| emit(line.on(stream)));
        if taken < bytes.len() {
            // The line the budget ran out in is logged as far as it got, cut.
            splitter.cut_short();
            splitter.finish(&mut |line| emit(line.on(stream)));
            emit(Piece::OutputCapped { stream });
            self.capped = true;
        }
    }

    fn finish(&mut self, emit: &mut dyn FnMut(Piece)) {
        for stream in [GuestStream::Stdout, GuestStream::Stderr] {
            self.splitter(stream)
                .finish(&mut |line| emit(line.on(stream)));
        }
    }

    fn splitter(&mut self, stream: GuestStream) -> &mut LineSplitter {
        match stream {
            GuestStream::Stdout => &mut self.stdout,
            GuestStream::Stderr => &mut self.stderr,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
struct Line {
    text: String,
    truncated: bool,
}

impl Line {
    fn on(self, stream: GuestStream) -> Piece {
        Piece::Line {
            stream,
            text: self.text,
            truncated: self.truncated,
        }
    }
}

/// Cuts one stream's bytes into lines of at most `MAX_LINE_BYTES`.
#[derive(Default)]
struct LineSplitter {
    unfinished: Vec<u8>,
    cut: bool,
}

impl LineSplitter {
    fn push(&mut self, mut bytes: &[u8], emit: &mut dyn FnMut(Line)) {
        while let Some(end) = bytes.iter().position(|&b| b == b'\n') {
            self.append(&bytes[..end]);
            self.end_line(emit);
            bytes = &bytes[end + 1..];
        }
        self.append(bytes);
    }

    /// Logs what is left of an unterminated last line.
    fn finish(&mut self, emit: &mut dyn FnMut(Line)) {
        if !self.unfinished.is_empty() {
            self.end_line(emit);
        }
    }

    fn cut_short(&mut self) {
        self.cut = true;
    }

    fn append(&mut self, bytes: &[u8]) {
        let room = MAX_LINE_BYTES - self.unfinished.len();
        if bytes.len() > room {
            self.cut = true;
        }
        self.unfinished
            .extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn end_line(&mut self, emit: &mut dyn FnMut(Line)) {
        let mut bytes = std::mem::take(&mut self.unfinished);
        let truncated = std::mem::take(&mut self.cut);
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        if truncated {
            drop_split_char(&mut bytes);
        }
        // A blank line tells a log reader nothing.
        if bytes.iter().all(u8::is_ascii_whitespace) && !truncated {
            return;
        }
        emit(Line {
            text: String::from_utf8_lossy(&bytes).into_owned(),
            truncated,
        });
    }
}

/// Drops a UTF-8 sequence that a cut left incomplete at the end of `bytes`.
fn drop_split_char(bytes: &mut Vec<u8>) {
    if let Err(error) = std::str::from_utf8(bytes)
        && error.error_len().is_none()
    {
        bytes.truncate(error.valid_up_to());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logging::{LogFormat, capture_lines};

    fn split(chunks: &[&[u8]]) -> Vec<Line> {
        let mut splitter = LineSplitter::default();
        let mut lines = Vec::new();
        for chunk in chunks {
            splitter.push(chunk, &mut |line| lines.push(line));
        }
        splitter.finish(&mut |line| lines.push(line));
        lines
    }

    fn whole(text: &str) -> Line {
        Line {
            text: text.into(),
            truncated: false,
        }
    }

    #[test]
    fn lines_are_split_on_newlines_across_writes() {
        assert_eq!(
            split(&[b"one\ntw", b"o\r\n", b"\n", b"thr", b"ee\nfour"]),
            [whole("one"), whole("two"), whole("three"), whole("four")]
        );
    }

    #[test]
    fn a_long_line_is_cut_at_8_kib_and_marked() {
        let long = "é".repeat(MAX_LINE_BYTES);
        let lines = split(&[long.as_bytes(), b"\nnext\n"]);
        assert_eq!(lines.len(), 2);
        assert!(lines[0].truncated);
        // A two-byte character the cut split is dropped whole.
        assert_eq!(lines[0].text, "é".repeat(MAX_LINE_BYTES / 2));
        assert_eq!(lines[1], whole("next"));
    }

    #[test]
    fn an_instance_is_capped_at_1_mib_across_both_streams() {
        let mut output = OutputLines::default();
        let mut pieces = Vec::new();
        let line = [b'x'; 1023];
        let mut write = |output: &mut OutputLines, stream, bytes: &[u8]| {
            output.write(stream, bytes, &mut |piece| pieces.push(piece));
        };
        for _ in 0..512 {
            write(&mut output, GuestStream::Stdout, &line);
            write(&mut output, GuestStream::Stdout, b"\n");
            write(&mut output, GuestStream::Stderr, &line);
            write(&mut output, GuestStream::Stderr, b"\n");
        }
        write(&mut output, GuestStream::Stderr, b"over the cap\n");
        write(&mut output, GuestStream::Stdout, b"dropped\n");
        output.finish(&mut |piece| pieces.push(piece));

        assert_eq!(pieces.len(), 1024 + 1);
        assert!(pieces[..1024].iter().all(|piece| matches!(
            piece,
            Piece::Line { text, truncated: false, .. } if text.len() == 1023
        )));
        assert_eq!(
            pieces[1024],
            Piece::OutputCapped {
                stream: GuestStream::Stderr
            }
        );
    }

    #[test]
    fn the_line_the_cap_falls_in_is_logged_cut() {
        let mut output = OutputLines::default();
        let mut pieces = Vec::new();
        let almost = vec![b'y'; MAX_INSTANCE_BYTES - 4];
        output.write(GuestStream::Stdout, &almost, &mut |_| {});
        output.write(GuestStream::Stdout, b"\nabcdef\n", &mut |piece| {
            pieces.push(piece)
        });
        assert_eq!(
            pieces,
            [
                Piece::Line {
                    stream: GuestStream::Stdout,
                    text: "y".repeat(MAX_LINE_BYTES),
                    truncated: true
                },
                Piece::Line {
                    stream: GuestStream::Stdout,
                    text: "abc".into(),
                    truncated: true
                },
                Piece::OutputCapped {
                    stream: GuestStream::Stdout
                },
            ]
        );
    }

    fn json_lines(emit: impl FnOnce()) -> Vec<serde_json::Value> {
        capture_lines(LogFormat::Json, emit)
            .iter()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    #[test]
    fn lines_are_logged_with_the_instance_ids_and_the_rest_when_the_instance_ends() {
        let lines = json_lines(|| {
            let (mut stdout, stderr) = GuestOutput::pair("fixtures", "req-1", "trace-1", "span-1");
            // The guest may open a stream more than once; all share the buffers.
            let mut stderr_again = stderr.p2_stream();
            stdout.write(Bytes::from_static(b"hello\nhal")).unwrap();
            stderr_again.write(Bytes::from_static(b"oops\n")).unwrap();
            stdout.write(Bytes::from_static(b"f a line")).unwrap();
            // "half a line" is logged when the last handle goes.
            drop((stdout, stderr));
            drop(stderr_again);
        });
        let summary: Vec<_> = lines
            .iter()
            .map(|line| {
                (
                    line["level"].as_str().unwrap(),
                    line["data"]["stream"].as_str().unwrap(),
                    line["message"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("info", "stdout", "hello"),
                ("warn", "stderr", "oops"),
                ("info", "stdout", "half a line"),
            ]
        );
        for line in &lines {
            assert_eq!(line["service"], "fixtures");
            assert_eq!(line["requestId"], "req-1");
            assert_eq!(line["traceId"], "trace-1");
            assert_eq!(line["spanId"], "span-1");
            assert!(line["data"].get("truncated").is_none());
        }
    }

    #[test]
    fn a_cut_line_and_the_cap_are_logged_as_such() {
        let lines = json_lines(|| {
            let (mut stdout, _stderr) = GuestOutput::pair("fixtures", "req-2", "t", "s");
            let chunk = Bytes::from(vec![b'z'; WRITE_PERMIT]);
            for _ in 0..(MAX_INSTANCE_BYTES / WRITE_PERMIT + 1) {
                stdout.write(chunk.clone()).unwrap();
            }
        });
        let messages: Vec<_> = lines.iter().map(|l| &l["message"]).collect();
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert_eq!(lines[0]["data"]["truncated"], true);
        assert_eq!(lines[0]["message"].as_str().unwrap().len(), MAX_LINE_BYTES);
        assert_eq!(lines[1]["message"], "guest output truncated");
        assert_eq!(lines[1]["level"], "warn");
        assert_eq!(lines[1]["data"]["limitBytes"], MAX_INSTANCE_BYTES);
    }
}
