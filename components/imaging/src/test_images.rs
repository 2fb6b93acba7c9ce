//! Images made in code for the tests, and hand-built files the encoders cannot produce.

use image::codecs::gif::GifEncoder;
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::{ExtendedColorType, ImageEncoder, RgbImage, RgbaImage};

/// A smooth two-axis colour gradient.
pub fn gradient_rgb(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        let red = (x * 255 / width.max(2).saturating_sub(1).max(1)) as u8;
        let green = (y * 255 / height.max(2).saturating_sub(1).max(1)) as u8;
        image::Rgb([red, green, 128u8.wrapping_add(red / 2)])
    })
}

/// A gradient with deterministic noise, so JPEG has real entropy-coded data to chew on.
pub fn noisy_rgb(width: u32, height: u32, seed: u64) -> RgbImage {
    let mut state = seed | 1;
    let mut gradient = gradient_rgb(width, height);
    for pixel in gradient.pixels_mut() {
        for channel in &mut pixel.0 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *channel = channel
                .saturating_add((state % 48) as u8)
                .saturating_sub(24);
        }
    }
    gradient
}

/// An image whose quadrants have distinct colours, to tell rotations and flips apart.
pub fn quadrants_rgb(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| {
        match (x < width / 2, y < height / 2) {
            (true, true) => image::Rgb([255, 0, 0]),
            (false, true) => image::Rgb([0, 255, 0]),
            (true, false) => image::Rgb([0, 0, 255]),
            (false, false) => image::Rgb([255, 255, 255]),
        }
    })
}

pub fn jpeg(image: &RgbImage, quality: u8) -> Vec<u8> {
    let mut bytes = Vec::new();
    JpegEncoder::new_with_quality(&mut bytes, quality)
        .write_image(
            image,
            image.width(),
            image.height(),
            ExtendedColorType::Rgb8,
        )
        .unwrap();
    bytes
}

pub fn png(image: &RgbImage) -> Vec<u8> {
    let mut bytes = Vec::new();
    PngEncoder::new(&mut bytes)
        .write_image(
            image,
            image.width(),
            image.height(),
            ExtendedColorType::Rgb8,
        )
        .unwrap();
    bytes
}

pub fn png_rgba(image: &RgbaImage) -> Vec<u8> {
    let mut bytes = Vec::new();
    PngEncoder::new(&mut bytes)
        .write_image(
            image,
            image.width(),
            image.height(),
            ExtendedColorType::Rgba8,
        )
        .unwrap();
    bytes
}

pub fn webp_lossless(image: &RgbImage) -> Vec<u8> {
    let mut bytes = Vec::new();
    WebPEncoder::new_lossless(&mut bytes)
        .write_image(
            image,
            image.width(),
            image.height(),
            ExtendedColorType::Rgb8,
        )
        .unwrap();
    bytes
}

pub fn gif(image: &RgbImage) -> Vec<u8> {
    let rgba = image::DynamicImage::ImageRgb8(image.clone()).into_rgba8();
    let mut bytes = Vec::new();
    GifEncoder::new(&mut bytes)
        .encode(&rgba, rgba.width(), rgba.height(), ExtendedColorType::Rgba8)
        .unwrap();
    bytes
}

/// A two-frame animated GIF: a red first frame, a blue second one.
pub fn animated_gif(width: u32, height: u32) -> Vec<u8> {
    let frame = |colour: [u8; 4]| {
        image::Frame::new(RgbaImage::from_pixel(width, height, image::Rgba(colour)))
    };
    let mut bytes = Vec::new();
    {
        let mut encoder = GifEncoder::new(&mut bytes);
        encoder
            .encode_frames([frame([255, 0, 0, 255]), frame([0, 0, 255, 255])])
            .unwrap();
    }
    bytes
}

/// `jpeg` with an APP1 EXIF segment holding only an orientation tag, right after SOI.
pub fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut exif = b"Exif\0\0".to_vec();
    exif.extend_from_slice(b"MM\0\x2A\0\0\0\x08"); // big-endian TIFF header, IFD0 at offset 8
    exif.extend_from_slice(&1u16.to_be_bytes()); // one entry
    exif.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
    exif.extend_from_slice(&3u16.to_be_bytes()); // SHORT
    exif.extend_from_slice(&1u32.to_be_bytes()); // one value
    exif.extend_from_slice(&orientation.to_be_bytes());
    exif.extend_from_slice(&[0, 0]); // the value field's padding
    exif.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    with_segment_after_soi(jpeg, 0xE1, &exif)
}

/// `jpeg` with one more marker segment right after SOI.
pub fn with_segment_after_soi(jpeg: &[u8], marker: u8, payload: &[u8]) -> Vec<u8> {
    let mut bytes = jpeg[..2].to_vec();
    bytes.extend_from_slice(&[0xFF, marker]);
    bytes.extend_from_slice(&(payload.len() as u16 + 2).to_be_bytes());
    bytes.extend_from_slice(payload);
    bytes.extend_from_slice(&jpeg[2..]);
    bytes
}

/// A PNG a few hundred bytes long whose header declares `width`×`height` RGBA pixels: a
/// decompression bomb for any decoder that trusts the header.
pub fn png_bomb(width: u32, height: u32) -> Vec<u8> {
    let mut header = Vec::new();
    header.extend_from_slice(&width.to_be_bytes());
    header.extend_from_slice(&height.to_be_bytes());
    header.extend_from_slice(&[8, 6, 0, 0, 0]); // 8-bit RGBA, deflate, no filter, no interlace
    // A zlib stream of one empty stored block: valid, and far too short for the declared size.
    let image_data = [
        0x78, 0x01, 0x01, 0x00, 0x00, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x01,
    ];
    let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
    push_png_chunk(&mut bytes, b"IHDR", &header);
    push_png_chunk(&mut bytes, b"IDAT", &image_data);
    push_png_chunk(&mut bytes, b"IEND", &[]);
    bytes
}

fn push_png_chunk(bytes: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    bytes.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let crc_start = bytes.len();
    bytes.extend_from_slice(kind);
    bytes.extend_from_slice(data);
    let crc = crc32(&bytes[crc_start..]);
    bytes.extend_from_slice(&crc.to_be_bytes());
}

/// CRC-32 (ISO-HDLC), as PNG chunks use.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn crc32_matches_the_check_value() {
    assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
}
