//! Compiled components on disk, keyed by the wasm's hash, the Wasmtime
//! version and the engine's configuration, so a restart does not recompile.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use anyhow::Context;
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// Kept in step with the `=48.0.8` pin in Cargo.toml.
pub const WASMTIME_VERSION: &str = "48.0.8";

#[derive(Clone)]
pub struct CompileCache {
    dir: Option<PathBuf>,
}

impl CompileCache {
    pub fn new(dir: PathBuf) -> CompileCache {
        CompileCache { dir: Some(dir) }
    }

    pub fn disabled() -> CompileCache {
        CompileCache { dir: None }
    }

    pub fn load(&self, engine: &Engine, wasm_path: &Path) -> anyhow::Result<Component> {
        let wasm = std::fs::read(wasm_path).with_context(|| {
            format!(
                "cannot read {} (run `folio build`, or check `source`)",
                wasm_path.display()
            )
        })?;
        let Some(dir) = &self.dir else {
            return compile(engine, &wasm);
        };
        let entry = dir.join(format!("{}.cwasm", cache_key(engine, &wasm)));
        if entry.exists() {
            // SAFETY: the file was written by `Component::serialize` from this
            // same engine configuration (the key covers it) into a directory the
            // host owns; a file that fails the checks is recompiled below.
            match unsafe { Component::deserialize_file(engine, &entry) } {
                Ok(component) => {
                    tracing::info!(source = %wasm_path.display(), cached = true, "component loaded");
                    return Ok(component);
                }
                Err(e) => tracing::warn!(path = %entry.display(), "recompiling: {e}"),
            }
        }
        let started = std::time::Instant::now();
        let component = compile(engine, &wasm)?;
        tracing::info!(
            source = %wasm_path.display(),
            cached = false,
            compileMs = started.elapsed().as_secs_f64() * 1000.0,
            "component loaded"
        );
        if let Err(e) = store(&entry, &component) {
            tracing::warn!(path = %entry.display(), "compile cache not written: {e:#}");
        }
        Ok(component)
    }
}

fn compile(engine: &Engine, wasm: &[u8]) -> anyhow::Result<Component> {
    Component::new(engine, wasm)
        .map_err(anyhow::Error::from)
        .context("not a valid Wasm component")
}

fn store(entry: &Path, component: &Component) -> anyhow::Result<()> {
    let dir = entry.parent().context("cache entry has no directory")?;
    std::fs::create_dir_all(dir)?;
    let bytes = component.serialize().map_err(anyhow::Error::from)?;
    let tmp = entry.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, entry)?;
    Ok(())
}

fn cache_key(engine: &Engine, wasm: &[u8]) -> String {
    let mut engine_hasher = std::collections::hash_map::DefaultHasher::new();
    engine
        .precompile_compatibility_hash()
        .hash(&mut engine_hasher);
    let wasm_hash = hex::encode(Sha256::digest(wasm));
    format!(
        "{}-wasmtime{}-{:016x}",
        &wasm_hash[..32],
        WASMTIME_VERSION,
        engine_hasher.finish()
    )
}
