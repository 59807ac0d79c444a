//! Runs small JS programs with Node.js, for checks that need a real
//! WebAssembly engine (V8, as in workerd): the project's own Node.js (from
//! npm, the one wrangler runs on) once `npm ci` has installed it, else the
//! machine's.

use std::io::Write;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

/// Runs `script` (an ES module read from stdin) with `args`; returns its stdout.
pub fn run(script: &str, args: &[&std::ffi::OsStr]) -> Result<String> {
    let mut child = Command::new(binary())
        .args(["--input-type=module", "-"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run `node`; install Node.js 20 or newer (https://nodejs.org), or run `npm ci`")?;
    child.stdin.take().expect("stdin is piped").write_all(script.as_bytes())?;
    let output = child.wait_with_output()?;
    if !output.status.success() {
        bail!("{}", String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The project's Node.js, `node_modules/node/bin/node` (the `node` package
/// of package.json, which wrangler needs: 22.12 or newer), when installed;
/// else `node` from the PATH.
pub fn binary() -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask is inside the workspace");
    let project = root.join(PROJECT_NODE);
    if project.exists() { project } else { "node".into() }
}

/// Where `npm ci` puts the project's Node.js, from the workspace root.
pub const PROJECT_NODE: &str = "node_modules/node/bin/node";
