//! Runs small JS programs with Node.js, for checks that need a real
//! WebAssembly engine (V8, as in workerd): the project's own Node.js (the
//! npm `node` package, `node_modules/node/bin/node`) when it has one, else
//! the machine's.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

/// Where `npm ci` puts a project's own Node.js, from its root.
pub const PROJECT_NODE: &str = "node_modules/node/bin/node";

/// The Node.js to run for a project at `root`, if one runs.
pub fn find(root: &Path) -> Option<PathBuf> {
    let project = root.join(PROJECT_NODE);
    let node = if project.exists() { project } else { PathBuf::from("node") };
    let runs = Command::new(&node).arg("--version").output().is_ok_and(|out| out.status.success());
    runs.then_some(node)
}

/// Runs `script` (an ES module read from stdin) with `args` under `node`;
/// returns its stdout.
pub fn run(node: &Path, script: &str, args: &[&std::ffi::OsStr]) -> Result<String> {
    let mut child = Command::new(node)
        .args(["--input-type=module", "-"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {}", node.display()))?;
    child.stdin.take().expect("stdin is piped").write_all(script.as_bytes())?;
    let output = child.wait_with_output()?;
    if !output.status.success() {
        bail!("{}", String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The Node.js this workspace's tests run checks with.
#[cfg(test)]
pub fn for_tests() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the pipeline is inside the workspace");
    find(root).expect("the tests need Node.js: run `npm ci` or install it")
}
