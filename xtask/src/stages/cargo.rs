//! Stage 1: compile `edge-fn` for `wasm32-unknown-unknown` with cargo.
//!
//! The artifact's path is read from cargo's JSON messages rather than
//! guessed, so target-dir and profile settings are honoured.

use std::io::BufRead;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::settings::Settings;

pub const TARGET: &str = "wasm32-unknown-unknown";
const PACKAGE: &str = "edge-fn";

/// Builds the worker crate and returns the raw `.wasm` rustc produced.
pub fn run(settings: &Settings) -> Result<Vec<u8>> {
    let mut cmd = Command::new(&settings.cargo);
    cmd.current_dir(&settings.root)
        .args(["rustc", "--package", PACKAGE, "--lib", "--target", TARGET])
        .args(["--profile", settings.profile.cargo_profile()])
        .arg("--message-format=json-render-diagnostics")
        .stdout(Stdio::piped());
    if !settings.features.is_empty() {
        cmd.args(["--features", &settings.features.join(",")]);
    }
    if settings.quiet {
        cmd.arg("--quiet");
    }
    if settings.profile.optimizes() {
        // Keep the linker's relocations in the module: they tell the rewrite
        // stage which data is still used (`rewrite::data_gc`). Only the final
        // link of the worker crate sees this flag; dependencies build as usual.
        cmd.args(["--", "-C", "link-arg=--emit-relocs"]);
    }
    let mut child = cmd.spawn().with_context(|| format!("cannot run {}", settings.cargo.display()))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut wasm_path = None;
    for line in std::io::BufReader::new(stdout).lines() {
        if let Some(path) = wasm_artifact(&line?) {
            wasm_path = Some(path);
        }
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("cargo could not build `{PACKAGE}` for {TARGET} ({status}); see the errors above");
    }
    let Some(path) = wasm_path else {
        bail!("cargo built `{PACKAGE}` but reported no .wasm file; is its crate-type `cdylib`?");
    };
    std::fs::read(&path).with_context(|| format!("cannot read {path}"))
}

/// The `.wasm` file named by a `compiler-artifact` message for the worker crate.
fn wasm_artifact(line: &str) -> Option<String> {
    let message: serde_json::Value = serde_json::from_str(line).ok()?;
    if message["reason"] != "compiler-artifact" || message["target"]["name"] != PACKAGE.replace('-', "_") {
        return None;
    }
    message["filenames"].as_array()?.iter().filter_map(|f| f.as_str()).find(|f| f.ends_with(".wasm")).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::wasm_artifact;

    #[test]
    fn finds_the_wasm_among_the_artifacts() {
        let line = r#"{"reason":"compiler-artifact","target":{"name":"edge_fn"},"filenames":["/t/libedge_fn.rlib","/t/edge_fn.wasm"]}"#;
        assert_eq!(wasm_artifact(line).as_deref(), Some("/t/edge_fn.wasm"));
    }

    #[test]
    fn ignores_other_crates_and_messages() {
        let other = r#"{"reason":"compiler-artifact","target":{"name":"image"},"filenames":["/t/image.wasm"]}"#;
        assert_eq!(wasm_artifact(other), None);
        assert_eq!(wasm_artifact(r#"{"reason":"build-finished","success":true}"#), None);
        assert_eq!(wasm_artifact("not json"), None);
    }
}
