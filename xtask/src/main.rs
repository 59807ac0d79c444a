//! `cargo xtask`: builds, tests and measures the edge-fn worker.
//!
//! Run through the alias in `.cargo/config.toml`, so nothing needs
//! installing. Each subcommand lives in its own file; the build pipeline's
//! stages live in `stages/`, one file each.

mod bench;
mod build;
mod flags;
mod interrupt;
mod load;
mod node;
mod package;
mod profile;
mod progress;
mod report;
mod settings;
mod setup;
mod size;
mod stages;
mod test;
mod wasm_features;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let flags = flags::Xtask::parse();
    interrupt::install();
    match run(flags) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(flags: flags::Xtask) -> anyhow::Result<()> {
    match flags.command {
        flags::Command::Build(args) => {
            let settings = settings::Settings::new(args.pipeline)?;
            let report = build::run(&settings)?;
            report::publish(&report, &settings)
        }
        flags::Command::Size(args) => {
            let settings = settings::Settings::new(args.pipeline.clone())?;
            size::run(&settings, &args)
        }
        flags::Command::Bench(args) => {
            let settings = settings::Settings::new(flags::PipelineFlags { quiet: args.quiet, ..Default::default() })?;
            bench::run(&settings, &args)
        }
        flags::Command::Load(args) => {
            let pipeline =
                flags::PipelineFlags { quiet: args.quiet, out_dir: Some(load::BUILD_DIR.into()), ..Default::default() };
            load::run(&settings::Settings::new(pipeline)?, &args)
        }
        flags::Command::Profile(args) => profile::run(&args),
        flags::Command::Test(args) => {
            let settings = settings::Settings::new(flags::PipelineFlags { quiet: args.quiet, ..Default::default() })?;
            test::run(&settings, &args.cargo_test_args)
        }
    }
}
