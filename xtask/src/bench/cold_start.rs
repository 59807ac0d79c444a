//! Cold start: compile + instantiate of our module and of worker-build's, each
//! in a fresh Node.js process (V8 reuses compiled modules within a process),
//! interleaved. Two modes: V8's default lazy compilation, as workerd runs it,
//! and eager compilation of every function (`--no-wasm-lazy-compilation`),
//! the upper bound.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use super::stats;

const SCRIPT: &str = include_str!("js/cold-start.mjs");

/// The modes: name and extra V8 flags.
const MODES: [(&str, &[&str]); 2] = [("lazy (V8 default)", &[]), ("eager", &["--no-wasm-lazy-compilation"])];

/// Medians in milliseconds, per mode, for `ours` and `theirs`.
pub fn run(node: &Path, scratch: &Path, ours: &Path, theirs: &Path, runs: usize) -> Result<Value> {
    let script = scratch.join("cold-start.mjs");
    std::fs::write(&script, SCRIPT)?;
    let mut results = Vec::new();
    for (mode, flags) in MODES {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            a.push(once(node, flags, &script, ours)?);
            b.push(once(node, flags, &script, theirs)?);
        }
        let (ours_ms, theirs_ms) = (stats::median_f64(&a), stats::median_f64(&b));
        results.push(json!({
            "mode": mode,
            "ours_median_ms": ours_ms,
            "worker_build_median_ms": theirs_ms,
            "ours_over_worker_build": ours_ms / theirs_ms,
            "ours_ms": a,
            "worker_build_ms": b,
        }));
    }
    Ok(json!({ "runs": runs, "modes": results }))
}

fn once(node: &Path, flags: &[&str], script: &Path, wasm: &Path) -> Result<f64> {
    let out = Command::new(node)
        .args(flags)
        .arg(script)
        .arg(wasm)
        .output()
        .with_context(|| format!("cannot run {}", node.display()))?;
    if !out.status.success() {
        bail!("compiling {} failed:\n{}", wasm.display(), String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim().parse().with_context(|| format!("unexpected output from the cold-start script: {text}"))
}
