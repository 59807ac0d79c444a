//! Runs small JS programs with the machine's Node.js, for checks that need a
//! real WebAssembly engine (V8, as in workerd).

use std::io::Write;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

/// Runs `script` (an ES module read from stdin) with `args`; returns its stdout.
pub fn run(script: &str, args: &[&std::ffi::OsStr]) -> Result<String> {
    let mut child = Command::new("node")
        .args(["--input-type=module", "-"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run `node`; install Node.js 20 or newer (https://nodejs.org)")?;
    child.stdin.take().expect("stdin is piped").write_all(script.as_bytes())?;
    let output = child.wait_with_output()?;
    if !output.status.success() {
        bail!("{}", String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
