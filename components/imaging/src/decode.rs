//! Reading image headers and decoding pixels under memory limits.

use std::fmt;
use std::io::Cursor;

use fast_image_resize::images::Image as ResizeImage;
use fast_image_resize::{MulDiv, PixelType};
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};

use crate::jpeg::{FrameLayout, JpegStructure};
use crate::sniff::{self, Sniffed};

/// How much an image may cost to decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Width × height, as the file declares them.
    pub max_pixels: u64,
    /// The decoder's estimated peak working memory: the decoded pixels plus what the format's
    /// decoder holds alongside them (the whole-image coefficients of a progressive JPEG, the
    /// copy of a JPEG file, GIF and WebP frame buffers, 16-bit to 8-bit conversion).
    pub max_alloc_bytes: u64,
}

impl Default for Limits {
    /// 40 megapixels and 192 MiB, which leaves room for the upload itself and the encoded output
    /// inside a component's 256 MiB memory.
    fn default() -> Self {
        Self {
            max_pixels: 40_000_000,
            max_alloc_bytes: 192 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageError {
    /// Not an image we handle: another media type, an unknown format, or a feature of a known
    /// format that the decoder or encoder lacks.
    Unsupported(String),
    /// Truncated or malformed.
    Corrupt(String),
    /// Over the pixel or memory limit.
    TooLarge(String),
}

impl fmt::Display for ImageError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unsupported(reason) => write!(formatter, "unsupported image: {reason}"),
            Self::Corrupt(reason) => write!(formatter, "corrupt image: {reason}"),
            Self::TooLarge(reason) => write!(formatter, "image too large: {reason}"),
        }
    }
}

impl std::error::Error for ImageError {}

impl ImageError {
    pub(crate) fn from_decoder(error: image::ImageError) -> Self {
        match error {
            image::ImageError::Limits(limit) => {
                Self::TooLarge(format!("the decoder refused it: {limit}"))
            }
            image::ImageError::Unsupported(unsupported) => {
                Self::Unsupported(unsupported.to_string())
            }
            image::ImageError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
                Self::Corrupt("it is truncated".into())
            }
            other => Self::Corrupt(other.to_string()),
        }
    }
}

/// What an image's header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageInfo {
    /// As stored, before the EXIF orientation is applied.
    pub width: u32,
    /// As stored, before the EXIF orientation is applied.
    pub height: u32,
    /// EXIF orientation, 1..=8; 1 when the file has none (or an unreadable one).
    pub orientation: u8,
    pub mime: &'static str,
}

impl ImageInfo {
    /// Width and height once the orientation is applied (orientations 5 to 8 swap them).
    pub fn upright_dimensions(&self) -> (u32, u32) {
        if self.orientation >= 5 {
            (self.height, self.width)
        } else {
            (self.width, self.height)
        }
    }
}

/// Reads the header only: dimensions and EXIF orientation. An image over `limits.max_pixels`
/// is refused here, before anything the size of its pixels is allocated.
pub fn inspect(bytes: &[u8], limits: &Limits) -> Result<ImageInfo, ImageError> {
    open(bytes, limits).map(|opened| opened.info)
}

/// Decodes the whole image under `limits` and orients it upright per its EXIF orientation.
///
/// A truncated or malformed file is [`ImageError::Corrupt`]; for JPEG that includes a file whose
/// marker structure stops before the end-of-image marker, which the decoder itself would accept
/// and fill with grey. A PNG or GIF cut only in its closing bytes (the IEND chunk, the trailer)
/// still has every pixel and is accepted. Animated GIF and WebP give their first frame.
pub fn decode(bytes: &[u8], limits: &Limits) -> Result<Picture, ImageError> {
    let opened = open(bytes, limits)?;
    let jpeg_layout = if opened.format == ImageFormat::Jpeg {
        let structure = JpegStructure::parse(bytes).map_err(ImageError::Corrupt)?;
        if !structure.has_scan() {
            return Err(ImageError::Corrupt(
                "it has no image data (no SOS segment)".into(),
            ));
        }
        structure.frame_layout(bytes)
    } else {
        None
    };
    let working_set = decode_working_set(&opened, bytes.len(), jpeg_layout.as_ref());
    if working_set > limits.max_alloc_bytes {
        return Err(ImageError::TooLarge(format!(
            "decoding it needs about {} MiB, over the {} MiB limit",
            working_set.div_ceil(1 << 20),
            limits.max_alloc_bytes >> 20
        )));
    }
    let orientation = opened.orientation;
    let image = DynamicImage::from_decoder(opened.decoder).map_err(ImageError::from_decoder)?;
    Ok(Picture::new(image, orientation, limits.max_alloc_bytes))
}

struct Opened<D> {
    decoder: D,
    format: ImageFormat,
    orientation: Orientation,
    info: ImageInfo,
}

fn open<'a>(
    bytes: &'a [u8],
    limits: &Limits,
) -> Result<Opened<impl ImageDecoder + 'a>, ImageError> {
    let (format, mime) = image_format(bytes)?;
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut decoder_limits = image::Limits::default();
    decoder_limits.max_alloc = Some(limits.max_alloc_bytes);
    reader.limits(decoder_limits);
    let mut decoder = reader.into_decoder().map_err(ImageError::from_decoder)?;

    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err(ImageError::Corrupt(format!(
            "it declares a {width}×{height} image"
        )));
    }
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_pixels {
        return Err(ImageError::TooLarge(format!(
            "{width}×{height} is {:.1} megapixels, over the {:.1} megapixel limit",
            pixels as f64 / 1e6,
            limits.max_pixels as f64 / 1e6
        )));
    }
    // Broken EXIF does not make the pixels unusable; such an image is shown as stored.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    Ok(Opened {
        decoder,
        format,
        orientation,
        info: ImageInfo {
            width,
            height,
            orientation: orientation.to_exif(),
            mime,
        },
    })
}

fn image_format(bytes: &[u8]) -> Result<(ImageFormat, &'static str), ImageError> {
    let format = match sniff::sniff(bytes) {
        Some(sniff::JPEG) => ImageFormat::Jpeg,
        Some(sniff::PNG) => ImageFormat::Png,
        Some(sniff::WEBP) => ImageFormat::WebP,
        Some(sniff::GIF) => ImageFormat::Gif,
        Some(Sniffed { mime, .. }) => {
            return Err(ImageError::Unsupported(format!(
                "it is {mime}, not an image"
            )));
        }
        None => {
            return Err(ImageError::Unsupported(
                "it is not a JPEG, PNG, WebP or GIF image".into(),
            ));
        }
    };
    Ok((format, format.to_mime_type()))
}

/// Peak bytes held while decoding: see [`Limits::max_alloc_bytes`].
fn decode_working_set<D: ImageDecoder>(
    opened: &Opened<D>,
    file_len: usize,
    jpeg_layout: Option<&FrameLayout>,
) -> u64 {
    let decoded = opened.decoder.total_bytes();
    let color = opened.decoder.color_type();
    let pixels = u64::from(opened.info.width) * u64::from(opened.info.height);
    let eight_bit_copy = if color.bytes_per_pixel() > color.channel_count() {
        pixels * u64::from(color.channel_count())
    } else {
        0
    };
    let decoder_state = match opened.format {
        ImageFormat::Jpeg => {
            file_len as u64 + jpeg_layout.map_or(0, FrameLayout::progressive_coefficient_bytes)
        }
        // The frame is decoded into its own RGBA buffer, then composited onto the canvas.
        ImageFormat::Gif | ImageFormat::WebP => pixels * 4,
        _ => 0,
    };
    decoded + eight_bit_copy + decoder_state
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    Luma,
    LumaAlpha,
    Rgb,
    Rgba,
}

impl Layout {
    pub fn has_alpha(self) -> bool {
        matches!(self, Self::LumaAlpha | Self::Rgba)
    }

    pub fn resize_pixel_type(self) -> PixelType {
        match self {
            Self::Luma => PixelType::U8,
            Self::LumaAlpha => PixelType::U8x2,
            Self::Rgb => PixelType::U8x3,
            Self::Rgba => PixelType::U8x4,
        }
    }

    pub fn without_alpha(self) -> Self {
        match self {
            Self::LumaAlpha => Self::Luma,
            Self::Rgba => Self::Rgb,
            opaque => opaque,
        }
    }
}

/// A decoded image, upright: [`Picture::width`] and [`Picture::height`] are after the EXIF
/// orientation.
///
/// Internally the pixels stay as stored, 8 bits a channel, with alpha premultiplied: resizing
/// then needs no second full-size buffer for premultiplication or rotation, and the orientation
/// is applied to the small resized result instead.
pub struct Picture {
    pub(crate) pixels: Vec<u8>,
    pub(crate) stored_width: u32,
    pub(crate) stored_height: u32,
    pub(crate) layout: Layout,
    pub(crate) orientation: Orientation,
    /// The memory limit it was decoded under, which also bounds what rendering it may add.
    pub(crate) max_alloc_bytes: u64,
}

impl fmt::Debug for Picture {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Picture")
            .field("width", &self.width())
            .field("height", &self.height())
            .field("layout", &self.layout)
            .field("orientation", &self.orientation)
            .finish_non_exhaustive()
    }
}

impl Picture {
    fn new(image: DynamicImage, orientation: Orientation, max_alloc_bytes: u64) -> Self {
        let (stored_width, stored_height) = (image.width(), image.height());
        let (mut pixels, layout) = match image {
            DynamicImage::ImageLuma8(buffer) => (buffer.into_raw(), Layout::Luma),
            DynamicImage::ImageLumaA8(buffer) => (buffer.into_raw(), Layout::LumaAlpha),
            DynamicImage::ImageRgb8(buffer) => (buffer.into_raw(), Layout::Rgb),
            DynamicImage::ImageRgba8(buffer) => (buffer.into_raw(), Layout::Rgba),
            DynamicImage::ImageLuma16(_) => (image.to_luma8().into_raw(), Layout::Luma),
            DynamicImage::ImageLumaA16(_) => (image.to_luma_alpha8().into_raw(), Layout::LumaAlpha),
            DynamicImage::ImageRgb16(_) | DynamicImage::ImageRgb32F(_) => {
                (image.to_rgb8().into_raw(), Layout::Rgb)
            }
            _ => (image.to_rgba8().into_raw(), Layout::Rgba),
        };
        if layout.has_alpha() {
            let mut view = ResizeImage::from_slice_u8(
                stored_width,
                stored_height,
                &mut pixels,
                layout.resize_pixel_type(),
            )
            .expect("the buffer holds exactly width × height pixels of this layout");
            MulDiv::default()
                .multiply_alpha_inplace(&mut view)
                .expect("alpha premultiplication supports every layout with alpha");
        }
        Self {
            pixels,
            stored_width,
            stored_height,
            layout,
            orientation,
            max_alloc_bytes,
        }
    }

    pub fn width(&self) -> u32 {
        if self.swaps_axes() {
            self.stored_height
        } else {
            self.stored_width
        }
    }

    pub fn height(&self) -> u32 {
        if self.swaps_axes() {
            self.stored_width
        } else {
            self.stored_height
        }
    }

    pub fn has_alpha(&self) -> bool {
        self.layout.has_alpha()
    }

    /// The upright pixels as RGBA, 8 bits a channel, row by row, alpha not premultiplied (so a
    /// partly transparent pixel's colour is exact only to the rounding of premultiplication).
    pub fn to_rgba8(&self) -> Vec<u8> {
        let mut rgba = Vec::with_capacity(self.pixels.len() / self.channel_count() * 4);
        let channels = self.channel_count();
        for pixel in self.pixels.chunks_exact(channels) {
            let [red, green, blue, alpha] = match *pixel {
                [luma] => [luma, luma, luma, 255],
                [luma, alpha] => [luma, luma, luma, alpha],
                [red, green, blue] => [red, green, blue, 255],
                [red, green, blue, alpha] => [red, green, blue, alpha],
                _ => unreachable!("a pixel has one to four channels"),
            };
            let unpremultiply =
                |channel: u8| match alpha {
                    0 => 0,
                    255 => channel,
                    _ => ((u32::from(channel) * 255 + u32::from(alpha) / 2) / u32::from(alpha))
                        .min(255) as u8,
                };
            rgba.extend_from_slice(&[
                unpremultiply(red),
                unpremultiply(green),
                unpremultiply(blue),
                alpha,
            ]);
        }
        let stored = image::RgbaImage::from_raw(self.stored_width, self.stored_height, rgba)
            .expect("four bytes for every stored pixel");
        let mut upright = DynamicImage::ImageRgba8(stored);
        upright.apply_orientation(self.orientation);
        upright.into_rgba8().into_raw()
    }

    fn channel_count(&self) -> usize {
        self.layout.resize_pixel_type().size()
    }

    pub(crate) fn swaps_axes(&self) -> bool {
        swaps_axes(self.orientation)
    }
}

pub(crate) fn swaps_axes(orientation: Orientation) -> bool {
    matches!(
        orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    )
}
