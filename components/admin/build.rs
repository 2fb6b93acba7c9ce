//! Embeds `web/dist` (built by `infra/admin-web.sh`: Vite's output, the API
//! reference and the landing page, each compressible file next to its `.gz`
//! and `.br`) as a table of assets sorted by path.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("web/dist");
    println!("cargo:rerun-if-changed={}", dist.display());
    if !dist.join("admin/index.html").is_file() {
        panic!(
            "{} has no built web app: run `bash infra/admin-web.sh` (folio build does)",
            dist.display()
        );
    }
    let mut files = Vec::new();
    walk(&dist, &mut files);
    files.sort();
    let mut table = String::from("pub static ASSETS: &[Asset] = &[\n");
    for file in &files {
        let name = file.to_str().unwrap();
        if name.ends_with(".gz") || name.ends_with(".br") {
            continue;
        }
        let relative = file.strip_prefix(&dist).unwrap().to_str().unwrap();
        let bytes = std::fs::read(file).unwrap();
        let variant = |suffix: &str| {
            let path = PathBuf::from(format!("{name}.{suffix}"));
            if path.is_file() {
                format!("Some(include_bytes!({:?}))", path.to_str().unwrap())
            } else {
                "None".to_string()
            }
        };
        writeln!(
            table,
            "    Asset {{ path: {relative:?}, identity: include_bytes!({name:?}), gzip: {}, brotli: {}, etag: \"\\\"{:016x}\\\"\" }},",
            variant("gz"),
            variant("br"),
            fnv1a(&bytes),
        )
        .unwrap();
        println!("cargo:rerun-if-changed={name}");
    }
    table.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("assets.rs");
    std::fs::write(out, table).unwrap();
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(&path, files);
        } else {
            files.push(path);
        }
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}
