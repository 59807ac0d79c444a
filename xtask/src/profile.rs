//! `cargo xtask profile`: where the worker's time goes, function by function.
//! Builds it with function names kept (`--profile profiling`) into
//! target/profile/build, then hands it to the `cpu-profile` binary of the
//! end-to-end harness (`tests/src/cpu_profile.rs`), which runs it in local
//! workerd and records V8's sampling profiler over the inspector protocol.

use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::flags::{PipelineFlags, Profile, ProfileArgs};
use crate::progress::Progress;
use crate::settings::Settings;
use crate::{build, setup};

/// Where the profiled worker is built (relative to the workspace root).
const BUILD_DIR: &str = "target/profile/build";

pub fn run(args: &ProfileArgs) -> Result<()> {
    let pipeline = PipelineFlags {
        profile: Profile::Profiling,
        out_dir: Some(BUILD_DIR.into()),
        quiet: args.quiet,
        ..PipelineFlags::default()
    };
    let settings = Settings::new(pipeline)?;
    let progress = Progress::new(settings.quiet);
    setup::ensure_npm_packages(&settings.root, &progress)?;
    build::run(&settings)?;
    let out = settings.root.join("target/profile/worker.cpuprofile");
    progress.status("Profiling", &format!("{} requests to {}", args.runs, args.query));
    let status = Command::new(&settings.cargo)
        .current_dir(&settings.root)
        .args(["run", "--quiet", "--package", "edge-fn-e2e", "--bin", "cpu-profile", "--"])
        .arg("--build")
        .arg(&settings.out_dir)
        .args(["--runs", &args.runs.to_string(), "--top", &args.top.to_string(), "--query", &args.query])
        .arg("--out")
        .arg(&out)
        .status()
        .with_context(|| format!("cannot run {}", settings.cargo.display()))?;
    if !status.success() {
        bail!("profiling failed ({status}); the lines above say why");
    }
    Ok(())
}
