//! `cargo xtask`: builds, tests and measures this repository's workers.
//!
//! Run through the alias in `.cargo/config.toml`, so nothing needs
//! installing. `build` and `size` are `cargo edge`'s own (the `cargo-edge`
//! crate over the `edge-pipeline` engine); the other subcommands are this
//! repository's tasks, each in its own file.

mod bench;
mod flags;
mod layers;
mod load;
mod profile;
mod repo;
mod setup;
mod test;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let flags = flags::Xtask::parse();
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
        flags::Command::Build(build) => repo::Repo::new(build.quiet).build(&build).map(drop),
        flags::Command::Size(size) => {
            setup::check_c_toolchain()?;
            cargo_edge::size(&size)
        }
        flags::Command::Bench(args) => bench::run(&repo::Repo::new(args.quiet), &args),
        flags::Command::Load(args) => load::run(&repo::Repo::new(args.quiet), &args),
        flags::Command::Profile(args) => profile::run(&repo::Repo::new(args.quiet), &args),
        flags::Command::Test(args) => test::run(&repo::Repo::new(args.quiet), &args.cargo_test_args),
    }
}
