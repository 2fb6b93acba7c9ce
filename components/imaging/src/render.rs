//! Resizing a decoded picture into a box and encoding the result.

use fast_image_resize::images::{Image as ResizeImage, ImageRef};
use fast_image_resize::{FilterType, MulDiv, ResizeAlg, ResizeOptions, Resizer};
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::{DynamicImage, ExtendedColorType, ImageBuffer, ImageEncoder};

use crate::decode::{self, ImageError, Layout, Limits, Picture};

/// JPEG quality for rendered images.
pub const JPEG_QUALITY: u8 = 82;
/// Lossy WebP quality for rendered images. With this encoder, 90 gives about half the bytes of
/// the JPEG at [`JPEG_QUALITY`] at a somewhat lower fidelity (SSIM 0.94 against 0.97 on a test
/// illustration); 80 would give a third of the bytes at SSIM 0.92.
pub const WEBP_QUALITY: u8 = 90;
/// The box [`thumbnail`] fills.
pub const THUMBNAIL_EDGE: u32 = 320;

/// The largest width or height a WebP file can declare.
const WEBP_MAX_EDGE: u32 = 16383;

/// How a picture is fitted into a `width`×`height` box. None of them enlarges a picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// Fills the box exactly, cropping the middle of the picture to the box's aspect ratio. A
    /// picture smaller than the box keeps the largest crop of that aspect ratio at its size.
    Cover,
    /// The largest size that fits in the box, aspect ratio kept.
    Contain,
    /// Stretched to the box, aspect ratio ignored; an axis on which the picture is smaller than
    /// the box keeps the picture's length.
    Fill,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Baseline JPEG at [`JPEG_QUALITY`]; transparency is flattened onto white.
    Jpeg,
    /// Lossy WebP (VP8) at [`WEBP_QUALITY`], with a lossless alpha channel when the picture has
    /// one.
    Webp,
    /// PNG, alpha kept.
    Png,
}

impl Format {
    pub fn mime(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Webp => "image/webp",
            Self::Png => "image/png",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub mime: &'static str,
}

/// Resizes `picture` into a `width`×`height` box per `fit` (never enlarging it) and encodes it.
///
/// Downscaling is a Lanczos3 convolution over premultiplied alpha. An output so large that the
/// picture and the memory to render it would exceed the limit the picture was decoded under is
/// refused as [`ImageError::TooLarge`].
pub fn render(
    picture: &Picture,
    width: u32,
    height: u32,
    fit: Fit,
    format: Format,
) -> Result<Encoded, ImageError> {
    let mut encoded = render_each(picture, width, height, fit, &[format])?;
    Ok(encoded.pop().expect("one format, one result"))
}

/// [`render`] into several formats, resizing once: the results in the order of `formats`.
pub fn render_each(
    picture: &Picture,
    width: u32,
    height: u32,
    fit: Fit,
    formats: &[Format],
) -> Result<Vec<Encoded>, ImageError> {
    if width == 0 || height == 0 {
        return Err(ImageError::Unsupported(format!(
            "a {width}×{height} box has no room for a picture"
        )));
    }
    // Work in the stored orientation and orient only the small result. Cover crops the centre,
    // which rotations and flips leave in the centre, so planning with the box turned the same way
    // as the stored pixels gives the same picture.
    let (box_width, box_height) = if picture.swaps_axes() {
        (height, width)
    } else {
        (width, height)
    };
    let plan = ResizePlan::new(
        picture.stored_width,
        picture.stored_height,
        box_width,
        box_height,
        fit,
    );
    check_render_memory(picture, &plan, formats.len() > 1)?;
    let mut resized = Some(resize(picture, &plan)?);
    let mut results = Vec::with_capacity(formats.len());
    for (i, &format) in formats.iter().enumerate() {
        let pixels = if i + 1 == formats.len() {
            resized.take().expect("taken by the last format only")
        } else {
            resized.clone().expect("kept until the last format")
        };
        let (pixels, layout) = if format == Format::Jpeg {
            flatten_onto_white(pixels, picture.layout)
        } else {
            (unpremultiply(pixels, picture.layout)?, picture.layout)
        };
        let (pixels, out_width, out_height) =
            orient(pixels, layout, plan.out_width, plan.out_height, picture);
        let bytes = encode(&pixels, out_width, out_height, layout, format)?;
        results.push(Encoded {
            bytes,
            width: out_width,
            height: out_height,
            mime: format.mime(),
        });
    }
    Ok(results)
}

/// What the media service makes for a thumbnail: [`decode`](crate::decode) under `limits`, then
/// [`Fit::Cover`] into a [`THUMBNAIL_EDGE`]-pixel square, as JPEG.
pub fn thumbnail(bytes: &[u8], limits: &Limits) -> Result<Encoded, ImageError> {
    let picture = decode::decode(bytes, limits)?;
    render(
        &picture,
        THUMBNAIL_EDGE,
        THUMBNAIL_EDGE,
        Fit::Cover,
        Format::Jpeg,
    )
}

/// The source rectangle to read and the size to scale it to.
#[derive(Debug, Clone, Copy, PartialEq)]
struct ResizePlan {
    crop_left: f64,
    crop_top: f64,
    crop_width: f64,
    crop_height: f64,
    out_width: u32,
    out_height: u32,
}

impl ResizePlan {
    fn new(
        source_width: u32,
        source_height: u32,
        box_width: u32,
        box_height: u32,
        fit: Fit,
    ) -> Self {
        let (source_w, source_h) = (f64::from(source_width), f64::from(source_height));
        let (box_w, box_h) = (f64::from(box_width), f64::from(box_height));
        let whole_source = |out_width, out_height| Self {
            crop_left: 0.0,
            crop_top: 0.0,
            crop_width: source_w,
            crop_height: source_h,
            out_width,
            out_height,
        };
        match fit {
            Fit::Fill => whole_source(box_width.min(source_width), box_height.min(source_height)),
            Fit::Contain => {
                let scale = (box_w / source_w).min(box_h / source_h).min(1.0);
                whole_source(
                    scaled_length(source_w * scale, box_width),
                    scaled_length(source_h * scale, box_height),
                )
            }
            Fit::Cover => {
                let box_aspect = box_w / box_h;
                let crop_width = source_w.min(source_h * box_aspect);
                let crop_height = source_h.min(source_w / box_aspect);
                Self {
                    crop_left: (source_w - crop_width) / 2.0,
                    crop_top: (source_h - crop_height) / 2.0,
                    crop_width,
                    crop_height,
                    out_width: scaled_length(crop_width, box_width),
                    out_height: scaled_length(crop_height, box_height),
                }
            }
        }
    }
}

/// Refuses a render whose buffers, next to the picture's own, would pass its memory limit: the
/// resizer's intermediate (the source columns it reads × the output height, as it scales
/// vertically first), the output, about two more output-sized buffers for flattening or
/// orienting it and for the encoder, and a copy of the output when it is encoded twice or more.
fn check_render_memory(
    picture: &Picture,
    plan: &ResizePlan,
    kept_copy: bool,
) -> Result<(), ImageError> {
    let channels = picture.layout.resize_pixel_type().size() as u64;
    let output = u64::from(plan.out_width) * u64::from(plan.out_height) * channels;
    let intermediate = (plan.crop_width.ceil() as u64) * u64::from(plan.out_height) * channels;
    let buffers = if kept_copy { 4 } else { 3 };
    let needed = picture.pixels.len() as u64 + intermediate + buffers * output;
    if needed > picture.max_alloc_bytes {
        return Err(ImageError::TooLarge(format!(
            "rendering {}×{} needs about {} MiB with the picture, over the {} MiB limit",
            plan.out_width,
            plan.out_height,
            needed.div_ceil(1 << 20),
            picture.max_alloc_bytes >> 20
        )));
    }
    Ok(())
}

/// A length in whole pixels: at least one, at most the box's.
fn scaled_length(length: f64, box_length: u32) -> u32 {
    (length.round() as u32).clamp(1, box_length)
}

fn resize(picture: &Picture, plan: &ResizePlan) -> Result<Vec<u8>, ImageError> {
    let pixel_type = picture.layout.resize_pixel_type();
    let source = ImageRef::new(
        picture.stored_width,
        picture.stored_height,
        &picture.pixels,
        pixel_type,
    )
    .map_err(|error| ImageError::Unsupported(format!("resizing failed: {error}")))?;
    let mut destination = ResizeImage::new(plan.out_width, plan.out_height, pixel_type);
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3))
        .crop(
            plan.crop_left,
            plan.crop_top,
            plan.crop_width,
            plan.crop_height,
        )
        // The picture's alpha is premultiplied already.
        .use_alpha(false);
    Resizer::new()
        .resize(&source, &mut destination, &options)
        .map_err(|error| ImageError::Unsupported(format!("resizing failed: {error}")))?;
    Ok(destination.into_vec())
}

/// Composites premultiplied pixels onto white: `colour + (255 - alpha)`.
fn flatten_onto_white(pixels: Vec<u8>, layout: Layout) -> (Vec<u8>, Layout) {
    if !layout.has_alpha() {
        return (pixels, layout);
    }
    let channels = layout.resize_pixel_type().size();
    let mut flattened = Vec::with_capacity(pixels.len() / channels * (channels - 1));
    for pixel in pixels.chunks_exact(channels) {
        let (alpha, colour) = pixel
            .split_last()
            .expect("a pixel with alpha has two channels or more");
        // Lanczos ringing can leave a colour above its alpha; saturate rather than wrap.
        flattened.extend(
            colour
                .iter()
                .map(|&channel| channel.saturating_add(255 - alpha)),
        );
    }
    (flattened, layout.without_alpha())
}

fn unpremultiply(mut pixels: Vec<u8>, layout: Layout) -> Result<Vec<u8>, ImageError> {
    if layout.has_alpha() {
        let pixel_count = (pixels.len() / layout.resize_pixel_type().size()) as u32;
        let mut view =
            ResizeImage::from_slice_u8(pixel_count, 1, &mut pixels, layout.resize_pixel_type())
                .map_err(|error| ImageError::Unsupported(format!("resizing failed: {error}")))?;
        MulDiv::default()
            .divide_alpha_inplace(&mut view)
            .map_err(|error| ImageError::Unsupported(format!("resizing failed: {error}")))?;
    }
    Ok(pixels)
}

fn orient(
    pixels: Vec<u8>,
    layout: Layout,
    width: u32,
    height: u32,
    picture: &Picture,
) -> (Vec<u8>, u32, u32) {
    if picture.orientation == image::metadata::Orientation::NoTransforms {
        return (pixels, width, height);
    }
    const FITS: &str = "the buffer holds exactly width × height pixels of this layout";
    let mut image = match layout {
        Layout::Luma => {
            DynamicImage::ImageLuma8(ImageBuffer::from_raw(width, height, pixels).expect(FITS))
        }
        Layout::LumaAlpha => {
            DynamicImage::ImageLumaA8(ImageBuffer::from_raw(width, height, pixels).expect(FITS))
        }
        Layout::Rgb => {
            DynamicImage::ImageRgb8(ImageBuffer::from_raw(width, height, pixels).expect(FITS))
        }
        Layout::Rgba => {
            DynamicImage::ImageRgba8(ImageBuffer::from_raw(width, height, pixels).expect(FITS))
        }
    };
    image.apply_orientation(picture.orientation);
    let (width, height) = (image.width(), image.height());
    (image.into_bytes(), width, height)
}

fn encode(
    pixels: &[u8],
    width: u32,
    height: u32,
    layout: Layout,
    format: Format,
) -> Result<Vec<u8>, ImageError> {
    let mut bytes = Vec::new();
    let color = match layout {
        Layout::Luma => ExtendedColorType::L8,
        Layout::LumaAlpha => ExtendedColorType::La8,
        Layout::Rgb => ExtendedColorType::Rgb8,
        Layout::Rgba => ExtendedColorType::Rgba8,
    };
    let encoder_error = |error: &dyn std::fmt::Display| {
        ImageError::Unsupported(format!(
            "encoding a {width}×{height} {}: {error}",
            format.mime()
        ))
    };
    match format {
        Format::Jpeg => JpegEncoder::new_with_quality(&mut bytes, JPEG_QUALITY)
            .write_image(pixels, width, height, color)
            .map_err(|error| encoder_error(&error))?,
        Format::Png => PngEncoder::new(&mut bytes)
            .write_image(pixels, width, height, color)
            .map_err(|error| encoder_error(&error))?,
        Format::Webp => {
            if width > WEBP_MAX_EDGE || height > WEBP_MAX_EDGE {
                return Err(ImageError::Unsupported(format!(
                    "WebP allows at most {WEBP_MAX_EDGE} pixels a side, not {width}×{height}"
                )));
            }
            let color = match layout {
                Layout::Luma => webp_lossy::ColorType::L8,
                Layout::LumaAlpha => webp_lossy::ColorType::La8,
                Layout::Rgb => webp_lossy::ColorType::Rgb8,
                Layout::Rgba => webp_lossy::ColorType::Rgba8,
            };
            let mut params = webp_lossy::EncoderParams::default();
            params.use_lossy = true;
            params.lossy_quality = WEBP_QUALITY;
            let mut encoder = webp_lossy::WebPEncoder::new(&mut bytes);
            encoder.set_params(params);
            encoder
                .encode(pixels, width, height, color)
                .map_err(|error| encoder_error(&error))?;
        }
    }
    Ok(bytes)
}
