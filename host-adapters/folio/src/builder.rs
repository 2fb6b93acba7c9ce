//! `folio build`: runs each component's `[component.NAME.build]` command, as
//! `spin build` does, installing the wasm32-wasip2 target first when needed.

use std::collections::HashSet;
use std::process::Command;

use anyhow::{Context, bail};

use crate::manifest::App;

const WASM_TARGET: &str = "wasm32-wasip2";

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Which {
    All,
    /// Only components whose `source` file does not exist yet.
    Missing,
}

pub fn build(app: &App, which: Which) -> anyhow::Result<()> {
    let mut done = HashSet::new();
    for decl in app.components.values() {
        let Some(build) = &decl.build else { continue };
        if which == Which::Missing && decl.source.exists() {
            continue;
        }
        let workdir = match &build.workdir {
            Some(w) => app.root.join(w),
            None => app.root.clone(),
        };
        // Components that share one build command (a workspace build) build once.
        if done.insert((build.command.clone(), workdir.clone())) {
            if build.command.contains(WASM_TARGET) {
                ensure_wasm_target()?;
            }
            tracing::info!(component = %decl.id, command = %build.command, "building component");
            let status = Command::new("sh")
                .arg("-c")
                .arg(&build.command)
                .current_dir(&workdir)
                .stdout(std::io::stderr())
                .status()
                .with_context(|| {
                    format!("component `{}`: cannot run its build command", decl.id)
                })?;
            if !status.success() {
                bail!(
                    "component `{}`: build command `{}` failed ({status})",
                    decl.id,
                    build.command
                );
            }
        }
        if !decl.source.exists() {
            bail!(
                "component `{}`: its build finished but {} does not exist",
                decl.id,
                decl.source.display()
            );
        }
    }
    Ok(())
}

fn ensure_wasm_target() -> anyhow::Result<()> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("rustup is needed to install the wasm32-wasip2 target")?;
    if String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|l| l.trim() == WASM_TARGET)
    {
        return Ok(());
    }
    tracing::info!("installing the {WASM_TARGET} target with rustup");
    let status = Command::new("rustup")
        .args(["target", "add", WASM_TARGET])
        .stdout(std::io::stderr())
        .status()?;
    if !status.success() {
        bail!("`rustup target add {WASM_TARGET}` failed ({status})");
    }
    Ok(())
}
