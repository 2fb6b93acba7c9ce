//! Times `folio_imaging::thumbnail` on a 12-megapixel photo-like JPEG.
//!
//! ```text
//! cargo run --release --example thumbnail_bench -p folio-imaging -- [--input PATH] [--iterations N] [--write PATH] [--renditions]
//! ```
//!
//! `--renditions` also times what the media worker makes of a decoded image (four sizes, each
//! as JPEG and WebP): one resize per encoding, then one resize per size (`render_each`).
//!
//! Without `--input` it makes a 4000×3000 JPEG (quality 90) from gradients, soft shapes and
//! sensor-like noise; `--write PATH` saves that input so the Wasm side can time the same bytes.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use image::codecs::jpeg::JpegEncoder;
use image::{ExtendedColorType, ImageEncoder, RgbImage};

const WIDTH: u32 = 4000;
const HEIGHT: u32 = 3000;
const DEFAULT_ITERATIONS: usize = 20;

struct Options {
    input: Option<String>,
    iterations: usize,
    write: Option<String>,
    renditions: bool,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        input: None,
        iterations: DEFAULT_ITERATIONS,
        write: None,
        renditions: false,
    };
    let mut arguments = std::env::args().skip(1);
    while let Some(argument) = arguments.next() {
        let mut value = || {
            arguments
                .next()
                .ok_or_else(|| format!("{argument} needs a value"))
        };
        match argument.as_str() {
            "--input" => options.input = Some(value()?),
            "--write" => options.write = Some(value()?),
            "--renditions" => options.renditions = true,
            "--iterations" => {
                options.iterations = value()?
                    .parse()
                    .map_err(|error| format!("--iterations: {error}"))?;
                if options.iterations == 0 {
                    return Err("--iterations must be at least 1".into());
                }
            }
            other => {
                return Err(format!(
                    "unknown argument {other}; use [--input PATH] [--iterations N] [--write PATH] [--renditions]"
                ));
            }
        }
    }
    Ok(options)
}

/// xorshift64: deterministic noise without a dependency.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Roughly Gaussian, mean 0, standard deviation about `spread / 2`.
    fn sample(&mut self, spread: i32) -> i32 {
        let bits = self.next();
        let sum: i32 = (0..4)
            .map(|lane| ((bits >> (lane * 16)) & 0xFF) as i32)
            .sum();
        (sum - 510) * spread / 256
    }
}

/// Sky-to-ground gradients, a few soft discs and stripes for edges, and per-pixel noise, which
/// gives JPEG about the entropy of a real photo.
fn photo_like_image() -> RgbImage {
    let mut noise = Noise(0x9E37_79B9_7F4A_7C15);
    let discs = [
        (900.0, 1100.0, 520.0, [210.0, 90.0, 60.0]),
        (2600.0, 1700.0, 700.0, [60.0, 150.0, 80.0]),
        (3300.0, 600.0, 300.0, [240.0, 220.0, 120.0]),
    ];
    RgbImage::from_fn(WIDTH, HEIGHT, |x, y| {
        let (fx, fy) = (x as f32, y as f32);
        let vertical = fy / HEIGHT as f32;
        let mut colour = [
            70.0 + 120.0 * vertical,
            110.0 + 60.0 * (fx / WIDTH as f32),
            200.0 - 140.0 * vertical,
        ];
        for (cx, cy, radius, disc_colour) in discs {
            let distance = ((fx - cx).powi(2) + (fy - cy).powi(2)).sqrt();
            let weight = (1.0 - (distance - radius) / 40.0).clamp(0.0, 1.0);
            for channel in 0..3 {
                colour[channel] += (disc_colour[channel] - colour[channel]) * weight;
            }
        }
        let texture = 14.0 * ((fx / 9.0).sin() * (fy / 13.0).cos());
        let grain = noise.sample(18);
        image::Rgb(colour.map(|channel| (channel + texture + grain as f32).clamp(0.0, 255.0) as u8))
    })
}

fn generated_jpeg() -> Vec<u8> {
    let image = photo_like_image();
    let mut bytes = Vec::new();
    JpegEncoder::new_with_quality(&mut bytes, 90)
        .write_image(&image, WIDTH, HEIGHT, ExtendedColorType::Rgb8)
        .expect("encoding to memory does not fail");
    bytes
}

fn milliseconds(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn main() -> ExitCode {
    let options = match parse_options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("thumbnail_bench: {message}");
            return ExitCode::from(2);
        }
    };
    let input = match &options.input {
        Some(path) => match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(error) => {
                eprintln!("thumbnail_bench: reading {path}: {error}");
                return ExitCode::FAILURE;
            }
        },
        None => generated_jpeg(),
    };
    if let Some(path) = &options.write {
        if let Err(error) = std::fs::write(path, &input) {
            eprintln!("thumbnail_bench: writing {path}: {error}");
            return ExitCode::FAILURE;
        }
        println!("wrote {path}");
    }

    let limits = folio_imaging::Limits::default();
    let info = match folio_imaging::inspect(&input, &limits) {
        Ok(info) => info,
        Err(error) => {
            eprintln!("thumbnail_bench: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "input: {}×{} {}, {:.2} MB",
        info.width,
        info.height,
        info.mime,
        input.len() as f64 / 1e6
    );

    let warm_up = match folio_imaging::thumbnail(&input, &limits) {
        Ok(thumbnail) => thumbnail,
        Err(error) => {
            eprintln!("thumbnail_bench: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "output: {}×{} {}, {} bytes",
        warm_up.width,
        warm_up.height,
        warm_up.mime,
        warm_up.bytes.len()
    );

    report(
        "thumbnail",
        time(options.iterations, || {
            folio_imaging::thumbnail(&input, &limits).expect("it worked once")
        }),
    );
    if options.renditions {
        use folio_imaging::{Fit, Format};
        let picture = folio_imaging::decode(&input, &limits).expect("it decoded once");
        let sizes = [
            (160, 160, Fit::Cover),
            (320, 320, Fit::Contain),
            (800, 800, Fit::Contain),
            (1600, 1600, Fit::Contain),
        ];
        let formats = [Format::Jpeg, Format::Webp];
        report(
            "8 renditions, a resize per encoding",
            time(options.iterations, || {
                for (width, height, fit) in sizes {
                    for format in formats {
                        std::hint::black_box(
                            folio_imaging::render(&picture, width, height, fit, format).unwrap(),
                        );
                    }
                }
            }),
        );
        report(
            "8 renditions, a resize per size",
            time(options.iterations, || {
                for (width, height, fit) in sizes {
                    std::hint::black_box(
                        folio_imaging::render_each(&picture, width, height, fit, &formats).unwrap(),
                    );
                }
            }),
        );
    }
    ExitCode::SUCCESS
}

fn time<T>(iterations: usize, mut work: impl FnMut() -> T) -> Vec<Duration> {
    let mut timings: Vec<Duration> = (0..iterations)
        .map(|_| {
            let started = Instant::now();
            std::hint::black_box(work());
            started.elapsed()
        })
        .collect();
    timings.sort();
    timings
}

fn report(what: &str, timings: Vec<Duration>) {
    let median = timings[timings.len() / 2];
    let p90 = timings[(timings.len() * 9 / 10).min(timings.len() - 1)];
    println!(
        "{what} ×{}: median {:.1} ms, min {:.1} ms, p90 {:.1} ms",
        timings.len(),
        milliseconds(median),
        milliseconds(timings[0]),
        milliseconds(p90)
    );
}
