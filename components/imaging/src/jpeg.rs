//! The JPEG marker structure: walking segments to find truncation and frame layout, and removing
//! metadata segments without re-encoding.

use std::ops::Range;

const SOI: u8 = 0xD8;
const EOI: u8 = 0xD9;
const SOS: u8 = 0xDA;
const TEM: u8 = 0x01;
const APP1: u8 = 0xE1;
const APP13: u8 = 0xED;

/// One marker and the bytes it spans: for SOS, the scan header and the entropy-coded data after
/// it; for markers with no length (SOI, EOI, RSTn), just the two marker bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Segment {
    marker: u8,
    span: Range<usize>,
}

/// A JPEG whose marker structure runs from SOI to EOI without a gap.
#[derive(Debug)]
pub(crate) struct JpegStructure {
    segments: Vec<Segment>,
    /// Where the EOI marker ends; bytes after it are not part of the image.
    end: usize,
}

/// What the frame header (SOFn) says about the decoder's working memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FrameLayout {
    pub width: u32,
    pub height: u32,
    pub progressive: bool,
    /// Horizontal and vertical sampling factors per component.
    pub sampling: Vec<(u8, u8)>,
}

impl FrameLayout {
    /// Bytes a progressive decode holds for the whole image's DCT coefficients (one `i16` per
    /// sample, each component padded to whole MCUs) before it can produce any pixel.
    pub fn progressive_coefficient_bytes(&self) -> u64 {
        if !self.progressive {
            return 0;
        }
        let max_horizontal = self
            .sampling
            .iter()
            .map(|&(h, _)| h)
            .max()
            .unwrap_or(1)
            .max(1);
        let max_vertical = self
            .sampling
            .iter()
            .map(|&(_, v)| v)
            .max()
            .unwrap_or(1)
            .max(1);
        let mcu_width = 8 * u64::from(max_horizontal);
        let mcu_height = 8 * u64::from(max_vertical);
        let padded_width = u64::from(self.width).div_ceil(mcu_width) * mcu_width;
        let padded_height = u64::from(self.height).div_ceil(mcu_height) * mcu_height;
        self.sampling
            .iter()
            .map(|&(h, v)| {
                let component_samples = padded_width * u64::from(h) / u64::from(max_horizontal)
                    * padded_height
                    * u64::from(v)
                    / u64::from(max_vertical);
                component_samples * 2
            })
            .sum()
    }
}

impl JpegStructure {
    /// Walks every marker from SOI to EOI. A file that ends before EOI — inside a segment or
    /// inside entropy-coded data — or has anything but a marker where one must be is an error
    /// describing where.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        if !bytes.starts_with(&[0xFF, SOI]) {
            return Err("it does not start with a JPEG SOI marker".into());
        }
        let mut segments = vec![Segment {
            marker: SOI,
            span: 0..2,
        }];
        let mut position = 2;
        loop {
            let start = position;
            if bytes.get(position) != Some(&0xFF) {
                return Err(match bytes.get(position) {
                    None => format!(
                        "it is truncated: it ends at byte {position} before the end-of-image marker"
                    ),
                    Some(byte) => {
                        format!("byte {position} is 0x{byte:02X} where a marker must start")
                    }
                });
            }
            // Any number of 0xFF fill bytes may precede a marker.
            while bytes.get(position) == Some(&0xFF) {
                position += 1;
            }
            let Some(&marker) = bytes.get(position) else {
                return Err("it is truncated inside a marker".into());
            };
            position += 1;
            match marker {
                EOI => {
                    segments.push(Segment {
                        marker,
                        span: start..position,
                    });
                    return Ok(Self {
                        segments,
                        end: position,
                    });
                }
                SOI => return Err(format!("a second start-of-image marker at byte {start}")),
                0x00 => return Err(format!("a stray 0xFF00 at byte {start} outside a scan")),
                TEM | 0xD0..=0xD7 => {}
                _ => {
                    let length = bytes
                        .get(position..position + 2)
                        .map(|length| usize::from(u16::from_be_bytes([length[0], length[1]])))
                        .ok_or_else(|| {
                            format!("it is truncated in the 0x{marker:02X} segment at byte {start}")
                        })?;
                    if length < 2 {
                        return Err(format!(
                            "the 0x{marker:02X} segment at byte {start} has an impossible length {length}"
                        ));
                    }
                    position += length;
                    if position > bytes.len() {
                        return Err(format!(
                            "it is truncated: the 0x{marker:02X} segment at byte {start} runs past the end"
                        ));
                    }
                    if marker == SOS {
                        position = end_of_entropy_coded_data(bytes, position)?;
                    }
                }
            }
            segments.push(Segment {
                marker,
                span: start..position,
            });
        }
    }

    /// The first frame header (SOF0..SOF15 except DHT, JPG and DAC).
    pub fn frame_layout(&self, bytes: &[u8]) -> Option<FrameLayout> {
        let frame = self
            .segments
            .iter()
            .find(|segment| is_start_of_frame(segment.marker))?;
        let header = bytes.get(frame.span.start..frame.span.end)?;
        let body = header.get(4..)?; // after the marker and the length
        let (&[_precision, h1, h0, w1, w0, component_count], components) =
            body.split_first_chunk::<6>()?;
        let sampling = components
            .chunks_exact(3)
            .take(usize::from(component_count))
            .map(|component| (component[1] >> 4, component[1] & 0x0F))
            .collect();
        Some(FrameLayout {
            width: u32::from(u16::from_be_bytes([w1, w0])),
            height: u32::from(u16::from_be_bytes([h1, h0])),
            progressive: matches!(frame.marker, 0xC2 | 0xC6 | 0xCA | 0xCE),
            sampling,
        })
    }

    pub fn has_scan(&self) -> bool {
        self.segments.iter().any(|segment| segment.marker == SOS)
    }

    /// The file without APP1 and APP13 segments and without anything after EOI.
    pub fn without_metadata(&self, bytes: &[u8]) -> Vec<u8> {
        let mut stripped = Vec::with_capacity(self.end);
        for segment in &self.segments {
            if segment.marker != APP1 && segment.marker != APP13 {
                stripped.extend_from_slice(&bytes[segment.span.clone()]);
            }
        }
        stripped
    }
}

fn is_start_of_frame(marker: u8) -> bool {
    matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC)
}

/// Scans entropy-coded data from `position` to the next marker that is not a restart marker,
/// skipping stuffed 0xFF00 bytes. Returns where that marker's 0xFF run begins.
fn end_of_entropy_coded_data(bytes: &[u8], mut position: usize) -> Result<usize, String> {
    loop {
        let Some(offset) = bytes[position..].iter().position(|&byte| byte == 0xFF) else {
            return Err("it is truncated inside the compressed image data".into());
        };
        let marker_start = position + offset;
        let mut after_fill = marker_start;
        while bytes.get(after_fill) == Some(&0xFF) {
            after_fill += 1;
        }
        match bytes.get(after_fill) {
            None => return Err("it is truncated inside the compressed image data".into()),
            Some(0x00 | 0xD0..=0xD7) => position = after_fill + 1,
            Some(_) => return Ok(marker_start),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_images;

    #[test]
    fn walks_a_real_jpeg_from_soi_to_eoi() {
        let jpeg = test_images::jpeg(&test_images::gradient_rgb(64, 40), 85);
        let structure = JpegStructure::parse(&jpeg).unwrap();
        assert!(structure.has_scan());
        assert_eq!(structure.end, jpeg.len());
        let layout = structure.frame_layout(&jpeg).unwrap();
        assert_eq!((layout.width, layout.height), (64, 40));
        assert!(!layout.progressive);
        assert_eq!(layout.progressive_coefficient_bytes(), 0);
    }

    #[test]
    fn every_truncation_of_a_jpeg_is_detected() {
        let jpeg = test_images::jpeg(&test_images::noisy_rgb(40, 24, 7), 90);
        for length in 0..jpeg.len() {
            assert!(
                JpegStructure::parse(&jpeg[..length]).is_err(),
                "a JPEG cut to {length} of {} bytes passed",
                jpeg.len()
            );
        }
    }

    #[test]
    fn progressive_coefficient_memory_follows_subsampling() {
        let layout = FrameLayout {
            width: 4000,
            height: 3000,
            progressive: true,
            sampling: vec![(2, 2), (1, 1), (1, 1)],
        };
        // 4:2:0: a full-size luma plane and two quarter-size chroma planes, two bytes a sample.
        assert_eq!(
            layout.progressive_coefficient_bytes(),
            4000 * 3008 * 3 / 2 * 2
        );
    }
}
