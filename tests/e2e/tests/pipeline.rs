//! The build pipeline's guarantees, checked by running `cargo xtask build`
//! as users do: deterministic output, and failures (over budget, unwritable
//! output, Ctrl-C during optimization) that exit non-zero with a message
//! naming the fix and leave the previous build intact.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Output, Stdio};
use std::time::{Duration, Instant};

use edge_fn_e2e::runner::{self, Case};
use edge_fn_e2e::{cases, ensure, workspace_root};

const CASES: &[Case<()>] = cases![
    two_clean_builds_are_byte_identical,
    over_budget_fails_and_keeps_the_previous_build,
    a_crate_that_is_not_a_worker_fails_and_keeps_the_previous_build,
    an_unwritable_output_directory_fails_cleanly,
    ctrl_c_during_optimization_keeps_the_previous_build,
];

fn main() -> ExitCode {
    if runner::run_all(&(), CASES) { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

fn xtask_build(out_dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(workspace_root()).args(["xtask", "build", "--out-dir"]).arg(out_dir).args(args);
    cmd
}

fn run(mut cmd: Command) -> Result<Output, String> {
    cmd.output().map_err(|e| format!("cannot run cargo: {e}"))
}

fn out_dir(name: &str) -> PathBuf {
    workspace_root().join("target/e2e/pipeline").join(name)
}

/// Every file under `dir`, by relative path.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    edge_fn_e2e::snapshot(dir, &[])
}

/// Builds into `name` and returns the snapshot of the result.
fn good_build(name: &str) -> Result<(PathBuf, BTreeMap<PathBuf, Vec<u8>>), String> {
    let dir = out_dir(name);
    let output = run(xtask_build(&dir, &["--quiet"]))?;
    ensure!(output.status.success(), "build failed: {}", String::from_utf8_lossy(&output.stderr));
    let files = snapshot(&dir);
    ensure!(files.keys().any(|p| p.ends_with("index_bg.wasm")), "no module in {}", dir.display());
    Ok((dir, files))
}

fn two_clean_builds_are_byte_identical(_: &()) -> Result<(), String> {
    let (_, first) = good_build("first")?;
    // Rebuild the worker crate from scratch, then run the whole pipeline again.
    let mut clean = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    clean.current_dir(workspace_root()).args([
        "clean",
        "--release",
        "--target",
        "wasm32-unknown-unknown",
        "-p",
        "edge-fn",
    ]);
    let cleaned = run(clean)?;
    ensure!(cleaned.status.success(), "cargo clean failed: {}", String::from_utf8_lossy(&cleaned.stderr));
    let (_, second) = good_build("second")?;
    ensure!(first.keys().eq(second.keys()), "different files: {:?} vs {:?}", first.keys(), second.keys());
    for (path, bytes) in &first {
        ensure!(second[path] == *bytes, "{} differs between the two builds", path.display());
    }
    Ok(())
}

fn over_budget_fails_and_keeps_the_previous_build(_: &()) -> Result<(), String> {
    let (dir, before) = good_build("budget")?;
    let output = run(xtask_build(&dir, &["--max-gzip-bytes", "1000"]))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(!output.status.success(), "an over-budget build succeeded");
    ensure!(stderr.contains("over the project's budget of 1000"), "no budget message: {stderr}");
    ensure!(stderr.contains("index_bg.wasm:"), "the biggest files are not listed: {stderr}");
    ensure!(snapshot(&dir) == before, "the previous build changed");
    Ok(())
}

fn a_crate_that_is_not_a_worker_fails_and_keeps_the_previous_build(_: &()) -> Result<(), String> {
    let (dir, before) = good_build("not-a-worker")?;
    for (package, expected) in [("xtask", "crate-type = [\"cdylib\"]"), ("no-such-crate", "worker crates: edge-fn")] {
        let output = run(xtask_build(&dir, &["-p", package]))?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        ensure!(!output.status.success(), "`-p {package}` succeeded");
        ensure!(stderr.contains(expected), "`-p {package}`: {stderr}");
    }
    ensure!(snapshot(&dir) == before, "the previous build changed");
    Ok(())
}

fn an_unwritable_output_directory_fails_cleanly(_: &()) -> Result<(), String> {
    // procfs refuses new directories, even to root.
    let output = run(xtask_build(Path::new("/proc/edge-fn/build"), &["--quiet"]))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(!output.status.success(), "writing into /proc succeeded");
    ensure!(stderr.contains("check its permissions") || stderr.contains("writable"), "no fix named: {stderr}");
    ensure!(!stderr.contains("panicked"), "xtask panicked: {stderr}");
    Ok(())
}

fn ctrl_c_during_optimization_keeps_the_previous_build(_: &()) -> Result<(), String> {
    let (dir, before) = good_build("interrupted")?;
    let mut cmd = xtask_build(&dir, &[]);
    let mut child =
        cmd.stderr(Stdio::piped()).stdout(Stdio::null()).process_group(0).spawn().map_err(|e| e.to_string())?;
    let group = child.id() as i32;
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let mut line = String::new();
    let start = Instant::now();
    // The optimizer starts right after the rewrite stage reports.
    while !seen.contains("Finished rewrite") {
        line.clear();
        if stderr.read_line(&mut line).map_err(|e| e.to_string())? == 0 || start.elapsed() > Duration::from_secs(600) {
            unsafe { libc::kill(-group, libc::SIGKILL) };
            return Err(format!("the build never reached the optimizer:\n{seen}"));
        }
        seen.push_str(&line);
    }
    // SAFETY: signals the process group this test started.
    unsafe { libc::kill(-group, libc::SIGINT) };
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).map_err(|e| e.to_string())?;
    let status = child.wait().map_err(|e| e.to_string())?;
    ensure!(!status.success(), "the interrupted build reported success:\n{seen}{rest}");
    ensure!(rest.contains("interrupted: the previous build output is unchanged"), "no message:\n{rest}");
    ensure!(snapshot(&dir) == before, "the previous build changed");
    let leftovers: Vec<_> = std::fs::read_dir(dir.parent().unwrap())
        .map_err(|e| e.to_string())?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("interrupted."))
        .collect();
    ensure!(leftovers.is_empty(), "staging left behind: {leftovers:?}");
    // And the previous build is still deployable.
    let dry_run = Command::new(edge_fn_e2e::node())
        .arg(workspace_root().join("node_modules/wrangler/bin/wrangler.js"))
        .args(["deploy", "--dry-run", "--outdir"])
        .arg(dir.parent().unwrap().join("dry-run"))
        .arg("--config")
        .arg(write_config(&dir)?)
        .env("WRANGLER_SEND_METRICS", "false")
        .output()
        .map_err(|e| e.to_string())?;
    let out = String::from_utf8_lossy(&dry_run.stdout);
    ensure!(
        dry_run.status.success() && out.contains("Total Upload"),
        "wrangler rejects the previous build: {out}{}",
        String::from_utf8_lossy(&dry_run.stderr)
    );
    Ok(())
}

fn write_config(build_dir: &Path) -> Result<PathBuf, String> {
    let path = build_dir.parent().unwrap().join("wrangler.json");
    edge_fn_e2e::worker::write_config(&workspace_root().join("wrangler.toml"), build_dir, &path)?;
    Ok(path)
}
