//! Writing to `wasi:io` output streams, for handlers that stream their response bodies.

use wasi::io::streams::{OutputStream, StreamError};

/// Writes all of `bytes`, waiting whenever the stream can take no more.
pub fn write_all(stream: &OutputStream, mut bytes: &[u8]) -> Result<(), StreamError> {
    while !bytes.is_empty() {
        let permitted = stream.check_write()? as usize;
        if permitted == 0 {
            stream.subscribe().block();
            continue;
        }
        let n = permitted.min(bytes.len());
        stream.write(&bytes[..n])?;
        bytes = &bytes[n..];
    }
    Ok(())
}
