//! A small test runner for `harness = false` suites that share one running
//! worker: runs each case, catches panics, prints libtest-style lines, and
//! honours a name filter given on the command line.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

/// One named check against a shared context.
pub struct Case<C> {
    pub name: &'static str,
    pub run: fn(&C) -> Result<(), String>,
}

/// The name filter: the first argument that is not a flag (as with libtest).
pub fn filter() -> Option<String> {
    std::env::args().skip(1).find(|a| !a.starts_with('-'))
}

/// Whether any case matches the filter.
pub fn any_selected<C>(cases: &[Case<C>]) -> bool {
    let filter = filter();
    cases.iter().any(|c| filter.as_deref().is_none_or(|f| c.name.contains(f)))
}

/// A suite's `main`: when any case is selected, sets up the context
/// (`what` names the suite in a setup failure), runs the cases, and on a
/// failure prints `log` of the context (the worker's log).
pub fn main<C>(
    what: &str,
    cases: &[Case<C>],
    setup: impl FnOnce() -> Result<C, String>,
    log: impl Fn(&C) -> String,
) -> std::process::ExitCode {
    use std::process::ExitCode;
    if !any_selected(cases) {
        return ExitCode::SUCCESS;
    }
    let ctx = match setup() {
        Ok(ctx) => ctx,
        Err(message) => {
            eprintln!("{what} setup failed: {message}");
            return ExitCode::FAILURE;
        }
    };
    if run_all(&ctx, cases) {
        ExitCode::SUCCESS
    } else {
        eprintln!("---- wrangler log ----\n{}", log(&ctx));
        ExitCode::FAILURE
    }
}

/// Runs the selected cases; returns whether all passed.
pub fn run_all<C>(ctx: &C, cases: &[Case<C>]) -> bool {
    let filter = filter();
    let selected: Vec<_> = cases.iter().filter(|c| filter.as_deref().is_none_or(|f| c.name.contains(f))).collect();
    println!("\nrunning {} tests", selected.len());
    let start = Instant::now();
    let mut failures = Vec::new();
    for case in &selected {
        let result =
            catch_unwind(AssertUnwindSafe(|| (case.run)(ctx))).unwrap_or_else(|panic| Err(panic_message(&panic)));
        match result {
            Ok(()) => println!("test {} ... ok", case.name),
            Err(message) => {
                println!("test {} ... FAILED", case.name);
                failures.push((case.name, message));
            }
        }
    }
    for (name, message) in &failures {
        println!("\n---- {name} ----\n{message}");
    }
    let passed = selected.len() - failures.len();
    println!(
        "\ntest result: {}. {passed} passed; {} failed; finished in {:.2}s\n",
        if failures.is_empty() { "ok" } else { "FAILED" },
        failures.len(),
        start.elapsed().as_secs_f64()
    );
    failures.is_empty()
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panicked".into())
}

/// The cases named by these functions, each named after its function.
#[macro_export]
macro_rules! cases {
    ($($case:ident),* $(,)?) => {
        &[$($crate::runner::Case { name: stringify!($case), run: $case }),*]
    };
}

/// Fails with `message` unless `cond` holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($message:tt)+) => {
        if !$cond {
            return Err(format!($($message)+));
        }
    };
}
