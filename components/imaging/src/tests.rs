use image::{GenericImageView, RgbImage, RgbaImage};

use crate::alloc_probe::largest_allocation_during;
use crate::test_images::{self, gradient_rgb, noisy_rgb, quadrants_rgb};
use crate::*;

const ONE_MIB: usize = 1 << 20;

fn decoded(bytes: &[u8]) -> image::DynamicImage {
    image::load_from_memory(bytes).expect("the output decodes")
}

fn upright_pixel(picture: &Picture, x: u32, y: u32) -> [u8; 4] {
    let rgba = picture.to_rgba8();
    let offset = ((y * picture.width() + x) * 4) as usize;
    rgba[offset..offset + 4].try_into().unwrap()
}

fn is_near(actual: [u8; 4], expected: [u8; 4]) -> bool {
    actual
        .iter()
        .zip(expected)
        .all(|(&actual, expected)| actual.abs_diff(expected) <= 24)
}

#[test]
fn inspect_reads_the_header_of_every_supported_format() {
    let image = gradient_rgb(96, 64);
    let cases = [
        (test_images::jpeg(&image, 85), "image/jpeg"),
        (test_images::png(&image), "image/png"),
        (test_images::webp_lossless(&image), "image/webp"),
        (test_images::gif(&image), "image/gif"),
    ];
    for (bytes, mime) in cases {
        let info = inspect(&bytes, &Limits::default()).unwrap();
        assert_eq!(
            info,
            ImageInfo {
                width: 96,
                height: 64,
                orientation: 1,
                mime
            }
        );
        let picture = decode(&bytes, &Limits::default()).unwrap();
        assert_eq!((picture.width(), picture.height()), (96, 64), "{mime}");
    }
}

#[test]
fn exif_orientation_six_is_read_by_inspect_and_applied_by_decode() {
    let stored = quadrants_rgb(60, 40);
    let jpeg = test_images::with_exif_orientation(&test_images::jpeg(&stored, 95), 6);

    let info = inspect(&jpeg, &Limits::default()).unwrap();
    assert_eq!((info.width, info.height, info.orientation), (60, 40, 6));
    assert_eq!(info.upright_dimensions(), (40, 60));

    let picture = decode(&jpeg, &Limits::default()).unwrap();
    assert_eq!((picture.width(), picture.height()), (40, 60));
    // Orientation 6 turns the stored image 90° clockwise: stored top-left (red) ends top-right,
    // stored bottom-left (blue) top-left.
    assert!(is_near(upright_pixel(&picture, 35, 5), [255, 0, 0, 255]));
    assert!(is_near(upright_pixel(&picture, 5, 5), [0, 0, 255, 255]));

    // Rendering orients the output the same way.
    let rendered = render(&picture, 20, 30, Fit::Fill, Format::Png).unwrap();
    assert_eq!((rendered.width, rendered.height), (20, 30));
    let output = decoded(&rendered.bytes).to_rgba8();
    assert!(is_near(output.get_pixel(17, 2).0, [255, 0, 0, 255]));
    assert!(is_near(output.get_pixel(2, 2).0, [0, 0, 255, 255]));
}

#[test]
fn every_exif_orientation_decodes_to_the_same_upright_picture() {
    // Each stored image is the upright quadrant image transformed by the inverse of orientation n,
    // so decoding must give back the upright one every time.
    let upright = image::DynamicImage::ImageRgb8(quadrants_rgb(48, 32));
    let inverse_transforms: [fn(&image::DynamicImage) -> image::DynamicImage; 8] = [
        |image| image.clone(),
        |image| image.fliph(),
        |image| image.rotate180(),
        |image| image.flipv(),
        |image| image.rotate90().fliph(),
        |image| image.rotate270(),
        |image| image.rotate270().fliph(),
        |image| image.rotate90(),
    ];
    for (index, inverse) in inverse_transforms.iter().enumerate() {
        let orientation = index as u16 + 1;
        let stored = inverse(&upright).to_rgb8();
        let jpeg = test_images::with_exif_orientation(&test_images::jpeg(&stored, 95), orientation);
        let picture = decode(&jpeg, &Limits::default()).unwrap();
        assert_eq!(
            (picture.width(), picture.height()),
            (48, 32),
            "orientation {orientation}"
        );
        for (x, y, colour) in [
            (4, 4, [255, 0, 0, 255]),
            (44, 4, [0, 255, 0, 255]),
            (4, 28, [0, 0, 255, 255]),
            (44, 28, [255, 255, 255, 255]),
        ] {
            let actual = upright_pixel(&picture, x, y);
            assert!(
                is_near(actual, colour),
                "orientation {orientation} at ({x}, {y}): {actual:?}"
            );
        }
        let rendered = render(&picture, 24, 24, Fit::Cover, Format::Png).unwrap();
        let output = decoded(&rendered.bytes).to_rgba8();
        assert!(
            is_near(output.get_pixel(1, 1).0, [255, 0, 0, 255]),
            "orientation {orientation}"
        );
        assert!(
            is_near(output.get_pixel(22, 22).0, [255, 255, 255, 255]),
            "orientation {orientation}"
        );
    }
}

#[test]
fn a_png_bomb_is_refused_from_its_header_without_allocating_its_pixels() {
    let bomb = test_images::png_bomb(100_000, 100_000);
    assert!(bomb.len() < 100);

    let (inspected, largest) = largest_allocation_during(|| inspect(&bomb, &Limits::default()));
    assert!(
        matches!(inspected, Err(ImageError::TooLarge(_))),
        "{inspected:?}"
    );
    assert!(
        largest < ONE_MIB,
        "inspect allocated {largest} bytes at once"
    );

    let (decoded, largest) = largest_allocation_during(|| decode(&bomb, &Limits::default()));
    assert!(
        matches!(decoded, Err(ImageError::TooLarge(_))),
        "{decoded:?}"
    );
    assert!(
        largest < ONE_MIB,
        "decode allocated {largest} bytes at once"
    );
}

#[test]
fn jpeg_and_gif_headers_declaring_huge_images_are_refused() {
    // A real small JPEG whose frame header is patched to declare 65000×65000.
    let mut jpeg = test_images::jpeg(&gradient_rgb(16, 16), 80);
    let sof = jpeg
        .windows(2)
        .position(|marker| marker == [0xFF, 0xC0])
        .unwrap();
    jpeg[sof + 5..sof + 9].copy_from_slice(&[0xFD, 0xE8, 0xFD, 0xE8]);
    // A GIF declaring a 65535×65535 screen and image.
    let mut gif = b"GIF89a\xFF\xFF\xFF\xFF\x00\x00\x00".to_vec();
    gif.extend_from_slice(b",\x00\x00\x00\x00\xFF\xFF\xFF\xFF\x00\x02\x02\x44\x01\x00;");

    for bomb in [jpeg, gif] {
        let (inspected, largest) = largest_allocation_during(|| inspect(&bomb, &Limits::default()));
        assert!(
            matches!(inspected, Err(ImageError::TooLarge(_))),
            "{inspected:?}"
        );
        assert!(
            largest < ONE_MIB,
            "inspect allocated {largest} bytes at once"
        );
        let (decoded, largest) = largest_allocation_during(|| decode(&bomb, &Limits::default()));
        assert!(
            matches!(decoded, Err(ImageError::TooLarge(_))),
            "{decoded:?}"
        );
        assert!(
            largest < ONE_MIB,
            "decode allocated {largest} bytes at once"
        );
    }
}

#[test]
fn the_memory_limit_counts_the_decoders_working_set() {
    let jpeg = test_images::jpeg(&gradient_rgb(1000, 1000), 80);
    let limits = Limits {
        max_pixels: 40_000_000,
        max_alloc_bytes: 2 * 1024 * 1024,
    };
    // The header is within the pixel limit; three megabytes of RGB are not within two MiB.
    assert!(inspect(&jpeg, &limits).is_ok());
    let error = decode(&jpeg, &limits).unwrap_err();
    assert!(matches!(error, ImageError::TooLarge(_)), "{error:?}");
    assert!(error.to_string().contains("MiB"), "{error}");

    let small_pixel_limit = Limits {
        max_pixels: 999_999,
        ..Limits::default()
    };
    assert!(matches!(
        inspect(&jpeg, &small_pixel_limit),
        Err(ImageError::TooLarge(_))
    ));
}

#[test]
fn truncated_jpegs_are_corrupt() {
    let jpeg = test_images::jpeg(&noisy_rgb(320, 240, 3), 90);
    for cut in [
        jpeg.len() / 4,
        jpeg.len() / 2,
        jpeg.len() * 9 / 10,
        jpeg.len() - 2,
        jpeg.len() - 1,
    ] {
        let result = decode(&jpeg[..cut], &Limits::default());
        assert!(
            matches!(result, Err(ImageError::Corrupt(_))),
            "cut at {cut} of {}: {result:?}",
            jpeg.len()
        );
    }
}

#[test]
fn truncated_pngs_gifs_and_webps_are_corrupt() {
    let image = noisy_rgb(160, 120, 5);
    for (bytes, name) in [
        (test_images::png(&image), "PNG"),
        (test_images::gif(&image), "GIF"),
        (test_images::webp_lossless(&image), "WebP"),
    ] {
        for cut in [bytes.len() / 3, bytes.len() / 2, bytes.len() * 9 / 10] {
            let result = decode(&bytes[..cut], &Limits::default());
            assert!(
                matches!(result, Err(ImageError::Corrupt(_))),
                "{name} cut at {cut} of {}: {result:?}",
                bytes.len()
            );
        }
    }
}

#[test]
fn garbage_after_a_jpeg_start_marker_is_corrupt() {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut bytes = vec![0xFF, 0xD8, 0xFF];
    bytes.extend((0..4096).map(|_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state as u8
    }));
    let result = decode(&bytes, &Limits::default());
    assert!(matches!(result, Err(ImageError::Corrupt(_))), "{result:?}");
    assert!(inspect(&bytes, &Limits::default()).is_err());
}

#[test]
fn files_that_are_not_images_are_unsupported() {
    let mp4 = b"\0\0\0\x18ftypmp42\0\0\0\0mp42isom\0\0\0\x08free".to_vec();
    for bytes in [
        &b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>"[..],
        b"",
        &mp4,
    ] {
        let error = decode(bytes, &Limits::default()).unwrap_err();
        assert!(matches!(error, ImageError::Unsupported(_)), "{error:?}");
    }
    let error = inspect(&mp4, &Limits::default()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "unsupported image: it is video/mp4, not an image"
    );
}

#[test]
fn an_animated_gif_decodes_to_its_first_frame() {
    let gif = test_images::animated_gif(32, 24);
    let picture = decode(&gif, &Limits::default()).unwrap();
    assert_eq!((picture.width(), picture.height()), (32, 24));
    assert!(is_near(upright_pixel(&picture, 10, 10), [255, 0, 0, 255]));
}

#[test]
fn sixteen_bit_pngs_are_decoded_to_eight_bits() {
    let image = image::ImageBuffer::<image::Rgb<u16>, _>::from_fn(40, 30, |x, y| {
        image::Rgb([x as u16 * 1600, y as u16 * 2000, 65535])
    });
    let mut png = Vec::new();
    image::DynamicImage::ImageRgb16(image)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let picture = decode(&png, &Limits::default()).unwrap();
    assert_eq!(upright_pixel(&picture, 0, 0), [0, 0, 255, 255]);
    let rendered = render(&picture, 20, 20, Fit::Contain, Format::Jpeg).unwrap();
    assert_eq!((rendered.width, rendered.height), (20, 15));
}

fn picture(width: u32, height: u32) -> Picture {
    decode(
        &test_images::png(&gradient_rgb(width, height)),
        &Limits::default(),
    )
    .unwrap()
}

#[test]
fn render_sizes_for_each_fit() {
    let cases = [
        // source, box, fit, expected output
        ((800, 600), (200, 200), Fit::Cover, (200, 200)),
        ((800, 600), (200, 200), Fit::Contain, (200, 150)),
        ((800, 600), (200, 200), Fit::Fill, (200, 200)),
        ((600, 800), (200, 200), Fit::Cover, (200, 200)),
        ((600, 800), (200, 200), Fit::Contain, (150, 200)),
        ((600, 800), (300, 100), Fit::Cover, (300, 100)),
        ((600, 800), (300, 100), Fit::Contain, (75, 100)),
        ((600, 800), (300, 100), Fit::Fill, (300, 100)),
        ((1000, 10), (100, 100), Fit::Contain, (100, 1)),
        // Smaller than the box: nothing is enlarged.
        ((120, 80), (320, 320), Fit::Cover, (80, 80)),
        ((120, 80), (320, 320), Fit::Contain, (120, 80)),
        ((120, 80), (320, 320), Fit::Fill, (120, 80)),
        ((120, 80), (320, 160), Fit::Cover, (120, 60)),
        ((120, 80), (100, 320), Fit::Fill, (100, 80)),
        ((120, 80), (100, 320), Fit::Cover, (25, 80)),
    ];
    for ((source_width, source_height), (box_width, box_height), fit, expected) in cases {
        let source = picture(source_width, source_height);
        let rendered = render(&source, box_width, box_height, fit, Format::Png).unwrap();
        let output = decoded(&rendered.bytes);
        assert_eq!(
            (rendered.width, rendered.height),
            expected,
            "{source_width}×{source_height} into {box_width}×{box_height} {fit:?}"
        );
        assert_eq!(output.dimensions(), expected);
    }
}

#[test]
fn cover_crops_the_centre() {
    // 300×100: left third red, middle green, right third blue. A square cover is the middle.
    let source = RgbImage::from_fn(300, 100, |x, _| match x / 100 {
        0 => image::Rgb([255, 0, 0]),
        1 => image::Rgb([0, 255, 0]),
        _ => image::Rgb([0, 0, 255]),
    });
    let picture = decode(&test_images::png(&source), &Limits::default()).unwrap();
    let rendered = render(&picture, 50, 50, Fit::Cover, Format::Png).unwrap();
    let output = decoded(&rendered.bytes).to_rgba8();
    for (x, y) in [(2, 2), (47, 47), (25, 25)] {
        assert!(
            is_near(output.get_pixel(x, y).0, [0, 255, 0, 255]),
            "({x}, {y})"
        );
    }
}

#[test]
fn every_output_format_decodes_back_at_the_reported_size() {
    let source = decode(
        &test_images::jpeg(&noisy_rgb(640, 480, 11), 90),
        &Limits::default(),
    )
    .unwrap();
    for (format, image_format) in [
        (Format::Jpeg, image::ImageFormat::Jpeg),
        (Format::Webp, image::ImageFormat::WebP),
        (Format::Png, image::ImageFormat::Png),
    ] {
        let rendered = render(&source, 300, 200, Fit::Contain, format).unwrap();
        assert_eq!((rendered.width, rendered.height), (267, 200));
        assert_eq!(rendered.mime, format.mime());
        assert_eq!(image::guess_format(&rendered.bytes).unwrap(), image_format);
        assert_eq!(
            decoded(&rendered.bytes).dimensions(),
            (267, 200),
            "{format:?}"
        );
        // The bytes are also accepted by our own pipeline.
        assert_eq!(
            inspect(&rendered.bytes, &Limits::default()).unwrap().mime,
            format.mime()
        );
    }
}

#[test]
fn webp_output_is_lossy_and_close_to_the_source() {
    let source = decode(
        &test_images::png(&gradient_rgb(256, 256)),
        &Limits::default(),
    )
    .unwrap();
    let rendered = render(&source, 256, 256, Fit::Contain, Format::Webp).unwrap();
    assert_eq!(&rendered.bytes[12..16], b"VP8 ", "a lossy VP8 bitstream");
    let output = decoded(&rendered.bytes).to_rgb8();
    let expected = gradient_rgb(256, 256);
    let total_error: u64 = output
        .as_raw()
        .iter()
        .zip(expected.as_raw())
        .map(|(&a, &b)| u64::from(a.abs_diff(b)))
        .sum();
    let mean_error = total_error as f64 / expected.as_raw().len() as f64;
    assert!(mean_error < 3.0, "mean error {mean_error}");
}

#[test]
fn transparency_is_kept_in_png_and_webp_and_flattened_onto_white_in_jpeg() {
    // Left half transparent, right half opaque red.
    let source = RgbaImage::from_fn(64, 32, |x, _| {
        if x < 32 {
            image::Rgba([0, 0, 0, 0])
        } else {
            image::Rgba([255, 0, 0, 255])
        }
    });
    let picture = decode(&test_images::png_rgba(&source), &Limits::default()).unwrap();
    assert!(picture.has_alpha());

    let png = decoded(
        &render(&picture, 32, 16, Fit::Fill, Format::Png)
            .unwrap()
            .bytes,
    )
    .to_rgba8();
    assert_eq!(png.get_pixel(2, 8).0[3], 0);
    assert_eq!(png.get_pixel(29, 8).0, [255, 0, 0, 255]);

    let webp = decoded(
        &render(&picture, 32, 16, Fit::Fill, Format::Webp)
            .unwrap()
            .bytes,
    )
    .to_rgba8();
    assert_eq!(webp.get_pixel(2, 8).0[3], 0);
    assert!(is_near(webp.get_pixel(29, 8).0, [255, 0, 0, 255]));

    let jpeg = decoded(
        &render(&picture, 32, 16, Fit::Fill, Format::Jpeg)
            .unwrap()
            .bytes,
    )
    .to_rgba8();
    assert!(is_near(jpeg.get_pixel(2, 8).0, [255, 255, 255, 255]));
    assert!(is_near(jpeg.get_pixel(29, 8).0, [255, 0, 0, 255]));
}

#[test]
fn a_render_that_would_pass_the_memory_limit_is_refused() {
    let limits = Limits {
        max_pixels: 40_000_000,
        max_alloc_bytes: 4 * 1024 * 1024,
    };
    // 1.44 MB of pixels: decodable under 4 MiB, but a full-size render needs as much again and more.
    let picture = decode(&test_images::png(&gradient_rgb(800, 600)), &limits).unwrap();
    let error = render(&picture, 800, 600, Fit::Contain, Format::Png).unwrap_err();
    assert!(matches!(error, ImageError::TooLarge(_)), "{error:?}");
    assert!(render(&picture, 320, 320, Fit::Cover, Format::Png).is_ok());
}

#[test]
fn an_empty_box_is_refused() {
    let error = render(&picture(10, 10), 0, 10, Fit::Cover, Format::Jpeg).unwrap_err();
    assert!(matches!(error, ImageError::Unsupported(_)));
}

#[test]
fn thumbnail_is_a_cover_square_jpeg() {
    let photo = test_images::jpeg(&noisy_rgb(1200, 800, 13), 90);
    let thumbnail = thumbnail(&photo, &Limits::default()).unwrap();
    assert_eq!(
        (thumbnail.width, thumbnail.height),
        (THUMBNAIL_EDGE, THUMBNAIL_EDGE)
    );
    assert_eq!(thumbnail.mime, "image/jpeg");
    assert_eq!(decoded(&thumbnail.bytes).dimensions(), (320, 320));
}

fn segment_markers(jpeg: &[u8]) -> Vec<u8> {
    // Markers up to the first scan, which is where metadata lives.
    let mut markers = Vec::new();
    let mut position = 2;
    while jpeg[position] == 0xFF && jpeg[position + 1] != 0xDA {
        markers.push(jpeg[position + 1]);
        let length = u16::from_be_bytes([jpeg[position + 2], jpeg[position + 3]]) as usize;
        position += 2 + length;
    }
    markers
}

#[test]
fn strip_metadata_removes_exif_and_iptc_and_keeps_everything_else() {
    let original = test_images::jpeg(&noisy_rgb(200, 150, 17), 88);
    let icc = b"ICC_PROFILE\0\x01\x01not a real profile";
    let iptc = b"Photoshop 3.0\08BIM\x04\x04\0\0\0\0\0\x00";
    let with_metadata = test_images::with_exif_orientation(
        &test_images::with_segment_after_soi(
            &test_images::with_segment_after_soi(&original, 0xE2, icc),
            0xED,
            iptc,
        ),
        6,
    );
    assert_eq!(
        inspect(&with_metadata, &Limits::default())
            .unwrap()
            .orientation,
        6
    );
    let markers = segment_markers(&with_metadata);
    assert!(markers.contains(&0xE1) && markers.contains(&0xED) && markers.contains(&0xE2));

    let stripped = strip_metadata(&with_metadata).unwrap();
    let markers = segment_markers(&stripped);
    assert!(
        !markers.contains(&0xE1) && !markers.contains(&0xED),
        "{markers:02X?}"
    );
    assert!(markers.contains(&0xE2), "the ICC profile is kept");
    // Only the two segments went; the rest is byte-identical.
    assert_eq!(
        test_images::with_segment_after_soi(&original, 0xE2, icc),
        stripped
    );

    assert_eq!(
        inspect(&stripped, &Limits::default()).unwrap().orientation,
        1
    );
    let before = image::load_from_memory(&with_metadata).unwrap().to_rgb8();
    let after = image::load_from_memory(&stripped).unwrap().to_rgb8();
    assert_eq!(before, after, "pixel-identical");
    assert!(decode(&stripped, &Limits::default()).is_ok());
}

#[test]
fn strip_metadata_drops_what_follows_the_end_of_image() {
    let original = test_images::jpeg(&gradient_rgb(32, 32), 80);
    let mut with_trailer = original.clone();
    with_trailer.extend_from_slice(&test_images::with_exif_orientation(&original, 3));
    assert_eq!(strip_metadata(&with_trailer).unwrap(), original);
}

#[test]
fn strip_metadata_passes_other_formats_through_and_refuses_broken_jpegs() {
    let png = test_images::png(&gradient_rgb(16, 16));
    assert_eq!(strip_metadata(&png).unwrap(), png);
    assert_eq!(strip_metadata(b"plain text").unwrap(), b"plain text");

    let jpeg = test_images::jpeg(&gradient_rgb(64, 64), 80);
    let truncated = &jpeg[..jpeg.len() / 2];
    assert!(matches!(
        strip_metadata(truncated),
        Err(ImageError::Corrupt(_))
    ));
    let mut overlong_segment = jpeg.clone();
    // Make the first segment after SOI claim to run past the end of the file.
    overlong_segment[4..6].copy_from_slice(&[0xFF, 0xF0]);
    assert!(matches!(
        strip_metadata(&overlong_segment),
        Err(ImageError::Corrupt(_))
    ));
}

#[test]
fn errors_read_as_sentences() {
    assert_eq!(
        ImageError::TooLarge("it is big".into()).to_string(),
        "image too large: it is big"
    );
    let error = inspect(&test_images::png_bomb(100_000, 100_000), &Limits::default()).unwrap_err();
    assert_eq!(
        error.to_string(),
        "image too large: 100000×100000 is 10000.0 megapixels, over the 40.0 megapixel limit"
    );
}

#[test]
fn render_each_gives_what_separate_renders_give() {
    let stored = quadrants_rgb(300, 200);
    let oriented = test_images::with_exif_orientation(&test_images::jpeg(&stored, 90), 6);
    let translucent = RgbaImage::from_fn(120, 90, |x, y| {
        image::Rgba([(x * 2) as u8, (y * 2) as u8, 90, ((x + y) % 256) as u8])
    });
    let formats = [Format::Jpeg, Format::Webp, Format::Png];
    for bytes in [oriented, test_images::png_rgba(&translucent)] {
        let picture = decode(&bytes, &Limits::default()).unwrap();
        for fit in [Fit::Cover, Fit::Contain] {
            let together = render_each(&picture, 64, 48, fit, &formats).unwrap();
            let apart: Vec<Encoded> = formats
                .iter()
                .map(|&format| render(&picture, 64, 48, fit, format).unwrap())
                .collect();
            assert!(together == apart, "{fit:?}");
        }
    }
}

/// A chunk as PNG frames it (the CRC is not checked by the stripper, and
/// only the stripped file is decoded).
fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut chunk = (data.len() as u32).to_be_bytes().to_vec();
    chunk.extend_from_slice(kind);
    chunk.extend_from_slice(data);
    chunk.extend_from_slice(&[0; 4]);
    chunk
}

#[test]
fn strip_metadata_takes_text_exif_and_time_out_of_pngs() {
    let original = test_images::png(&noisy_rgb(40, 30, 5));
    // After the signature and IHDR (8 + 25 bytes).
    let (head, rest) = original.split_at(33);
    let mut with_metadata = head.to_vec();
    with_metadata.extend(png_chunk(b"iCCP", b"profile\0\0kept"));
    with_metadata.extend(png_chunk(b"tEXt", b"Author\0Ada at 51.5N 0.1W"));
    with_metadata.extend(png_chunk(b"eXIf", b"MM\0*GPS secret"));
    with_metadata.extend(png_chunk(b"tIME", &[7, 234, 12, 5, 9, 0, 0]));
    with_metadata.extend_from_slice(rest);
    with_metadata.extend_from_slice(b"trailing bytes");
    let stripped = strip_metadata(&with_metadata).unwrap();
    let text = String::from_utf8_lossy(&stripped);
    assert!(!text.contains("Ada") && !text.contains("GPS") && !text.contains("tIME"));
    assert!(!text.contains("trailing"));
    let mut expected = head.to_vec();
    expected.extend(png_chunk(b"iCCP", b"profile\0\0kept"));
    expected.extend_from_slice(rest);
    assert_eq!(stripped, expected, "only the metadata chunks went");
    assert!(strip_metadata(&with_metadata[..with_metadata.len() / 2]).is_err());
}

#[test]
fn strip_metadata_takes_exif_and_xmp_out_of_webps() {
    let image = noisy_rgb(24, 20, 9);
    let simple = test_images::webp_lossless(&image);
    let vp8l = &simple[12..];
    let mut body = b"WEBP".to_vec();
    let mut vp8x = b"VP8X".to_vec();
    vp8x.extend_from_slice(&10u32.to_le_bytes());
    vp8x.extend_from_slice(&[0b0000_1100, 0, 0, 0]);
    vp8x.extend_from_slice(&(23u32.to_le_bytes()[..3]));
    vp8x.extend_from_slice(&(19u32.to_le_bytes()[..3]));
    body.extend_from_slice(&vp8x);
    body.extend_from_slice(vp8l);
    for (fourcc, data) in [
        (b"EXIF", &b"MM\0*GPS secret"[..]),
        (b"XMP ", &b"<x:xmpmeta>Ada</x:xmpmeta>"[..]),
    ] {
        body.extend_from_slice(fourcc);
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(data);
        if data.len() % 2 == 1 {
            body.push(0);
        }
    }
    let mut with_metadata = b"RIFF".to_vec();
    with_metadata.extend_from_slice(&(body.len() as u32).to_le_bytes());
    with_metadata.extend_from_slice(&body);

    let stripped = strip_metadata(&with_metadata).unwrap();
    let text = String::from_utf8_lossy(&stripped);
    assert!(!text.contains("GPS") && !text.contains("Ada"), "{text:?}");
    assert_eq!(stripped[20], 0, "the EXIF and XMP flags are cleared");
    assert_eq!(
        u32::from_le_bytes(stripped[4..8].try_into().unwrap()) as usize,
        stripped.len() - 8
    );
    let decoded = image::load_from_memory(&stripped).unwrap().to_rgb8();
    assert_eq!(decoded, image, "pixel-identical");
    assert!(strip_metadata(&with_metadata[..30]).is_err());
}
