//! The command line over the pipeline (`edge-pipeline`): flags parsed here
//! without I/O ([`flags`]), turned into the pipeline's `Options` once, and a
//! function per subcommand. This repository's `cargo xtask build` and
//! `size` take the same flags and call the same functions.

pub mod flags;
pub mod interrupt;

use anyhow::{Context, Result};
use edge_pipeline::init::{self, InitOptions};
use edge_pipeline::{Progress, Report, Settings, report, size};

pub use flags::{BuildFlags, Cli, Command, InitFlags, SizeFlags};

/// Runs one `cargo edge` command.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Build(flags) => build(&flags).map(drop),
        Command::Size(flags) => size(&flags),
        Command::Init(flags) => init(&flags),
    }
}

/// `cargo edge build`: builds, then prints the report (a Ctrl-C meanwhile
/// stops at once and leaves the previous output as it was).
pub fn build(flags: &BuildFlags) -> Result<Report> {
    interrupt::install();
    let settings = Settings::new(flags.options())?;
    let report = edge_pipeline::build::run(&settings)?;
    report::publish(&report, &settings)?;
    Ok(report)
}

/// `cargo edge size`: builds, then shows where the bytes are.
pub fn size(flags: &SizeFlags) -> Result<()> {
    interrupt::install();
    let settings = Settings::new(flags.build.options())?;
    size::run(&settings, &flags.options())
}

/// `cargo edge init`: prints every change switching the project takes, and
/// makes them unless `--dry-run`.
pub fn init(flags: &InitFlags) -> Result<()> {
    let cargo = std::env::var_os("CARGO").map_or_else(|| "cargo".into(), std::path::PathBuf::from);
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let options = InitOptions { manifest_path: flags.manifest_path.clone(), package: flags.package.clone() };
    let plan = init::plan(&cargo, &cwd, &options)?;
    let progress = Progress::new(flags.quiet);
    if plan.is_empty() {
        progress.status("Unchanged", &format!("{} already builds with `cargo edge build`", plan.config.display()));
        return Ok(());
    }
    let verb = if flags.dry_run { "Would change" } else { "Changing" };
    for change in &plan.changes {
        // Printed even when quiet: the changes are the command's output.
        println!("{verb:>12} {change}");
    }
    if flags.dry_run {
        progress.status("Dry run", "nothing was written");
        return Ok(());
    }
    init::apply(&cargo, &plan)?;
    progress.status(
        "Switched",
        &format!(
            "{}: `npx wrangler dev` and `npx wrangler deploy` now build with `cargo edge build`",
            plan.config.display()
        ),
    );
    Ok(())
}
