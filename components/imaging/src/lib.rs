//! Media handling for Folio's media component: deciding an upload's type from its bytes
//! ([`sniff`]), reading image headers ([`inspect`]), decoding under memory limits ([`decode`]),
//! resizing and encoding ([`render`], [`thumbnail`]) and removing metadata from JPEGs
//! ([`strip_metadata`]).
//!
//! Pure Rust with no I/O and no threads, so it builds both natively and for `wasm32-wasip2`,
//! where it runs once per upload inside a component limited to 256 MiB; [`Limits::default`] is
//! sized for that.
//!
//! Decoding uses the `image` crate (JPEG via zune-jpeg, PNG, WebP, GIF); resizing uses
//! `fast_image_resize`, which has SIMD code for x86-64 and for wasm32 (simd128, which Wasmtime
//! enables by default). WebP output is lossy (VP8) from `vaam-image-webp`, a fork of
//! `image-webp` that publishes upstream's not yet released lossy encoder. It is slower than
//! libwebp (about 0.3 s natively for a 1280×960 rendition) and, at [`WEBP_QUALITY`], trades some
//! fidelity for half the JPEG's bytes.

#![cfg_attr(not(test), forbid(unsafe_code))]

mod containers;
mod decode;
mod jpeg;
mod render;
mod sniff;

#[cfg(test)]
mod alloc_probe;
#[cfg(test)]
mod test_images;
#[cfg(test)]
mod tests;

pub use decode::{ImageError, ImageInfo, Limits, Picture, decode, inspect};
pub use render::{
    Encoded, Fit, Format, JPEG_QUALITY, THUMBNAIL_EDGE, WEBP_QUALITY, render, render_each,
    thumbnail,
};
pub use sniff::{MediaKind, Sniffed, sniff};

/// The image without its metadata. A JPEG loses its APP1 (EXIF, XMP) and APP13 (IPTC/Photoshop) segments; every other
/// segment (the ICC profile in APP2 included) and the compressed image data are copied byte for
/// byte. Bytes after the end-of-image marker are dropped too: phones append preview images there
/// that carry their own EXIF.
///
/// The EXIF orientation goes with APP1, so a rotated photo displays as stored afterwards; read
/// it first with [`inspect`] if it matters.
///
/// A PNG loses its text chunks (`tEXt`, `zTXt`, `iTXt`), `eXIf` and `tIME`; a WebP its `EXIF`
/// and `XMP ` chunks (and their flags in `VP8X`); colour profiles and image data stay as they
/// were.
///
/// Other input is returned unchanged; a JPEG, PNG or WebP whose structure is broken or
/// truncated is [`ImageError::Corrupt`].
pub fn strip_metadata(image: &[u8]) -> Result<Vec<u8>, ImageError> {
    match sniff(image) {
        Some(sniff::JPEG) => {
            let structure = jpeg::JpegStructure::parse(image).map_err(ImageError::Corrupt)?;
            Ok(structure.without_metadata(image))
        }
        Some(sniff::PNG) => containers::strip_png(image).map_err(ImageError::Corrupt),
        Some(sniff::WEBP) => containers::strip_webp(image).map_err(ImageError::Corrupt),
        _ => Ok(image.to_vec()),
    }
}
