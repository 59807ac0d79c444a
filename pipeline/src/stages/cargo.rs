//! Stage 1: compile the worker crate for `wasm32-unknown-unknown` with cargo.
//!
//! Cargo is pointed at the crate's own manifest (`--manifest-path`), never
//! at its name, which a dependency may share, and runs from the workspace
//! root so the project's `.cargo/config.toml` applies. The artifact's path
//! is read from cargo's JSON messages (the `cdylib` of the crate's package
//! id) rather than guessed, so target-dir and profile settings are honoured.

use std::io::BufRead;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::settings::Settings;

pub const TARGET: &str = "wasm32-unknown-unknown";

/// Builds the worker crate and returns the raw `.wasm` rustc produced.
pub fn run(settings: &Settings) -> Result<Vec<u8>> {
    let worker = &settings.project.worker;
    let package = &worker.name;
    let mut cmd = Command::new(&settings.cargo);
    cmd.current_dir(settings.root())
        .arg("rustc")
        .arg("--manifest-path")
        .arg(&worker.manifest)
        .args(["--lib", "--target", TARGET, "--profile", &settings.cargo_profile])
        .arg("--message-format=json-render-diagnostics")
        // As worker-build sets it: wasm-bindgen's macros then build async
        // exports on `js_sys::futures`. A proc-macro reads it, so cargo does
        // not track it: it must be set on every build or none.
        .env("WASM_BINDGEN_USE_JS_SYS", "1")
        .stdout(Stdio::piped());
    if !settings.features.is_empty() {
        cmd.args(["--features", &settings.features.join(",")]);
    }
    if settings.no_default_features {
        cmd.arg("--no-default-features");
    }
    if settings.quiet {
        cmd.arg("--quiet");
    }
    if settings.optimizes() {
        // Keep the linker's relocations in the module: they tell the rewrite
        // stage which data is still used (`rewrite::data_gc`). Only the final
        // link of the worker crate sees this flag; dependencies build as usual.
        cmd.args(["--", "-C", "link-arg=--emit-relocs"]);
    }
    let mut child = cmd.spawn().with_context(|| format!("cannot run {}", settings.cargo.display()))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut wasm_path = None;
    for line in std::io::BufReader::new(stdout).lines() {
        if let Some(path) = wasm_artifact(&line?, &worker.id) {
            wasm_path = Some(path);
        }
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("cargo could not build `{package}` for {TARGET} ({status}); see the errors above");
    }
    let Some(path) = wasm_path else {
        bail!("cargo built `{package}` but reported no .wasm file; is its crate-type `cdylib`?");
    };
    std::fs::read(&path).with_context(|| format!("cannot read {path}"))
}

/// The `.wasm` file named by a `compiler-artifact` message for the
/// `cdylib` of the package `package_id`.
fn wasm_artifact(line: &str, package_id: &str) -> Option<String> {
    let message: serde_json::Value = serde_json::from_str(line).ok()?;
    let cdylib = message["target"]["kind"].as_array()?.iter().any(|k| k == "cdylib");
    if message["reason"] != "compiler-artifact" || message["package_id"] != package_id || !cdylib {
        return None;
    }
    message["filenames"].as_array()?.iter().filter_map(|f| f.as_str()).find(|f| f.ends_with(".wasm")).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::wasm_artifact;

    const ID: &str = "path+file:///w/edge-fn#0.1.0";

    #[test]
    fn finds_the_wasm_of_the_packages_cdylib() {
        let line = r#"{"reason":"compiler-artifact","package_id":"path+file:///w/edge-fn#0.1.0","target":{"name":"edge_fn","kind":["cdylib","rlib"]},"filenames":["/t/libedge_fn.rlib","/t/edge_fn.wasm"]}"#;
        assert_eq!(wasm_artifact(line, ID).as_deref(), Some("/t/edge_fn.wasm"));
    }

    #[test]
    fn ignores_other_packages_targets_and_messages() {
        let other = r#"{"reason":"compiler-artifact","package_id":"registry+https://x#image@0.25.10","target":{"name":"image","kind":["lib"]},"filenames":["/t/image.wasm"]}"#;
        assert_eq!(wasm_artifact(other, ID), None);
        let same_name = r#"{"reason":"compiler-artifact","package_id":"path+file:///w/other#0.1.0","target":{"name":"edge_fn","kind":["cdylib"]},"filenames":["/t/edge_fn.wasm"]}"#;
        assert_eq!(wasm_artifact(same_name, ID), None, "matched by package id, not by name");
        let bin = r#"{"reason":"compiler-artifact","package_id":"path+file:///w/edge-fn#0.1.0","target":{"name":"tool","kind":["bin"]},"filenames":["/t/tool.wasm"]}"#;
        assert_eq!(wasm_artifact(bin, ID), None);
        assert_eq!(wasm_artifact(r#"{"reason":"build-finished","success":true}"#, ID), None);
        assert_eq!(wasm_artifact("not json", ID), None);
    }
}
