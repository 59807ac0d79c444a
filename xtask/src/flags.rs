//! Command-line flags, parsed here without I/O. `build` and `size` take
//! `cargo edge`'s own flags.

use cargo_edge::{BuildFlags, SizeFlags};
use clap::{Args, Parser, Subcommand};

/// Build, test and measure this repository's workers (edge-fn, the example).
///
/// `build` and `size` are `cargo edge build` and `cargo edge size`: the build
/// runs offline and in-process (cargo, then wasm-bindgen, walrus, wasm-opt
/// and validation as libraries), with nothing downloaded.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version)]
pub struct Xtask {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// `cargo edge build`, without installing it: edge-fn from the root,
    /// else the current folder's crate, or `-p`.
    Build(BuildFlags),
    /// `cargo edge size`: where the module's bytes are.
    Size(SizeFlags),
    /// Measure against the peers, side by side in one run: upload size
    /// (wrangler's dry run) and build time against workers-rs' worker-build;
    /// cold start (compile + instantiate) of both modules; resize speed and
    /// memory in local workerd against photon, with sharp (libvips) on the
    /// host as the native reference.
    ///
    /// Installs the peers from crates.io and npm into target/bench/ the first
    /// time (several minutes); writes target/bench/results.json.
    Bench(BenchArgs),
    /// Run every test: unit tests on the host, then the built worker in local
    /// workerd (through the project's pinned wrangler), checked over HTTP.
    ///
    /// Installs what a fresh checkout lacks first: the wasm32 target and the
    /// npm packages (`npm ci`).
    Test(TestArgs),
    /// Drive the built worker in local workerd with concurrent clients for a
    /// fixed time: a mix of sizes, formats and invalid requests, and with
    /// `--hostile` requests built to get around the worker's bounds.
    ///
    /// Builds the release worker into target/load/build first. Reports p50
    /// and p99 latency per kind of request, throughput and the worker's Wasm
    /// memory high-water mark; writes target/load/results.json. Fails on any
    /// unexpected status (a 5xx for valid input among them), any connection
    /// error, or Wasm memory past `--max-memory-mib`. Not part of `cargo
    /// xtask test`.
    Load(LoadArgs),
    /// Show where the worker's time goes, function by function: builds it
    /// with function names kept (`--profiling`), runs it in local
    /// workerd, and samples V8's CPU profiler (through wrangler's inspector)
    /// while the 12 MP photo-like JPEG is resized `--runs` times.
    ///
    /// Prints self time per crate and per function, in ms a request; writes
    /// target/profile/worker.cpuprofile for Chrome DevTools. Not part of
    /// `cargo xtask test`.
    Profile(ProfileArgs),
}

#[derive(Debug, Args)]
pub struct ProfileArgs {
    /// Requests profiled (after two warm-ups).
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub runs: u64,
    /// The request's path and query; the body is the 12 MP JPEG.
    #[arg(long, value_name = "PATH", default_value = "/?w=800&f=jpeg&q=80")]
    pub query: String,
    /// How many crates and functions to list.
    #[arg(long, value_name = "N", default_value_t = 25)]
    pub top: usize,
    /// Print only errors, warnings and results.
    #[arg(long, short)]
    pub quiet: bool,
}

/// A section of `cargo xtask bench`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Section {
    /// Upload, build time and cold start against worker-build, per worker.
    Workers,
    /// Resize speed, options and memory against photon and sharp.
    Resize,
    /// Quality per byte against sharp.
    Quality,
    /// Large sources of every format to 1024 px, beside sharp.
    Reach,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// The sections to run, comma-separated.
    #[arg(long, value_name = "LIST", value_delimiter = ',', default_value = "workers,resize,quality,reach")]
    pub sections: Vec<Section>,
    /// Timed runs of each build command (interleaved; the median is reported).
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub runs: usize,
    /// Timed requests per resize case and worker, after two warm-ups.
    #[arg(long, value_name = "N", default_value_t = 30)]
    pub resize_runs: usize,
    /// Requests per photo, width and format in the quality section (the
    /// encode time reported is their median).
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub quality_runs: usize,
    /// Timed requests per source in the reach section (each carries megabytes).
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub reach_runs: usize,
    /// Fresh processes per module and mode in the cold-start section.
    #[arg(long, value_name = "N", default_value_t = 11)]
    pub cold_runs: usize,
    /// Print only errors, warnings and results.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Concurrent clients, each with one request in flight.
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub clients: u64,
    /// How long the clients keep sending, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub duration: u64,
    /// Stop after this many requests even if time remains.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub max_requests: u64,
    /// Fail when the worker's Wasm memory grows past this (MiB). The
    /// isolate has 128 MB for everything; the default, 64, leaves half of it
    /// to JavaScript; with `--hostile` it is the worker's memory budget
    /// (`MEMORY_BUDGET_MIB`, 96), which admission must hold.
    #[arg(long, value_name = "MIB")]
    pub max_memory_mib: Option<u64>,
    /// Mix hostile requests in with the normal ones, each built to get
    /// around one bound: a 1000-scan progressive JPEG, an ICC profile that
    /// inflates to 47 MiB, a 16-bit 4000² PNG asked for at full size, a header declaring 50000²,
    /// an output side left free, 19 MiB bodies and a body that stalls. Fails
    /// if any normal request does not get its status.
    #[arg(long)]
    pub hostile: bool,
    /// Print only errors, warnings and results.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Print only errors, warnings and test results.
    #[arg(long, short)]
    pub quiet: bool,
    /// Passed on to `cargo test` (after `--`), e.g. a test name filter.
    #[arg(last = true, value_name = "CARGO_TEST_ARGS")]
    pub cargo_test_args: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn flags_are_consistent() {
        Xtask::command().debug_assert();
    }

    #[test]
    fn build_takes_cargo_edges_flags() {
        let flags = Xtask::try_parse_from(["cargo xtask", "build", "--profiling", "-p", "example-worker"]).unwrap();
        let Command::Build(build) = flags.command else { panic!("not build") };
        assert_eq!(build.options().profile, edge_pipeline::Profile::Profiling);
        assert!(Xtask::try_parse_from(["cargo xtask", "build", "--profile", "fast"]).is_err());
    }
}
