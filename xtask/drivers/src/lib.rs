//! The drivers behind `cargo xtask bench`, `load` and `profile`, run as
//! binaries of this crate (`src/bin/`): each starts the built worker in local
//! workerd (the e2e harness), drives it, and writes its figures as JSON for
//! xtask to report.
//!
//! - [`resize_bench`]: resize speed, options and memory against photon, with
//!   sharp on the host as the native reference;
//! - [`quality_bench`]: quality per byte against sharp (SSIMULACRA2);
//! - [`load`]: concurrent clients, a normal and a hostile mix;
//! - [`reach_bench`]: large sources of every format, answered or refused;
//! - [`cpu_profile`]: V8's sampling profiler over wrangler's inspector.

pub mod cpu_profile;
pub mod load;
pub mod quality_bench;
pub mod reach_bench;
pub mod resize_bench;

pub use edge_fn_e2e::{fixtures, worker};

use std::path::PathBuf;

/// The value after `name` among the arguments, for the harness's binaries,
/// which `cargo xtask` runs with every argument given.
pub fn arg_value<'a>(args: &'a [String], name: &str) -> Result<&'a str, String> {
    let at = args.iter().position(|a| a == name).ok_or(format!("missing {name}; run it through `cargo xtask`"))?;
    args.get(at + 1).map(String::as_str).ok_or(format!("{name} needs a value"))
}

/// The arguments `cargo xtask` passes the harness's binaries.
pub struct Args(Vec<String>);

impl Args {
    /// This process's arguments.
    pub fn from_env() -> Args {
        Args(std::env::args().skip(1).collect())
    }

    /// The value after `name`.
    pub fn value(&self, name: &str) -> Result<&str, String> {
        arg_value(&self.0, name)
    }

    /// The value after `name`, as a path.
    pub fn path(&self, name: &str) -> Result<PathBuf, String> {
        self.value(name).map(PathBuf::from)
    }

    /// The value after `name`, as a whole number.
    pub fn number(&self, name: &str) -> Result<usize, String> {
        self.value(name)?.parse().map_err(|_| format!("{name} must be a whole number"))
    }

    /// The directory after `name`, created if missing.
    pub fn scratch(&self, name: &str) -> Result<PathBuf, String> {
        let dir = self.path(name)?;
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        Ok(dir)
    }
}

/// A binary's exit: its error, if any, printed.
pub fn exit(result: Result<(), String>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The `p`th percentile of `samples` by nearest rank; `None` when empty.
pub fn percentile<T: Copy + PartialOrd>(samples: &[T], p: usize) -> Option<T> {
    let mut sorted = samples.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

#[cfg(test)]
mod tests {
    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<u32> = (1..=100).rev().collect();
        assert_eq!((super::percentile(&v, 50), super::percentile(&v, 99)), (Some(50), Some(99)));
        assert_eq!(super::percentile(&[7], 99), Some(7));
        assert_eq!(super::percentile::<f64>(&[], 50), None);
    }
}
