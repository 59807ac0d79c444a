//! `cargo edge`: the pipeline's command line. Installed as a cargo
//! subcommand (`cargo install --locked --path cargo-edge`); cargo runs it
//! as `cargo-edge edge …`, and it runs as `cargo-edge …` too.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "edge") {
        args.remove(1);
    }
    let cli = cargo_edge::Cli::parse_from(args);
    match cargo_edge::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
