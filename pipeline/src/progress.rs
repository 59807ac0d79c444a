//! Progress on stderr: one line per finished stage, and while a long stage
//! runs on a terminal, a spinner with its name and elapsed time.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// Prints progress unless quiet.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    quiet: bool,
    tty: bool,
}

impl Progress {
    pub fn new(quiet: bool) -> Self {
        Progress { quiet, tty: std::io::stderr().is_terminal() }
    }

    /// A status line, cargo-style: a right-aligned verb, then the message.
    pub fn status(&self, verb: &str, message: &str) {
        if !self.quiet {
            eprintln!("{verb:>12} {message}");
        }
    }

    /// A note about the settings; printed unless quiet.
    pub fn note(&self, message: &str) {
        if !self.quiet {
            eprintln!("{:>12} {message}", "note:");
        }
    }

    /// A warning; printed even when quiet.
    pub fn warn(&self, message: &str) {
        eprintln!("{:>12} {message}", "warning:");
    }

    /// Runs `work`, showing a spinner named `name` on a terminal meanwhile.
    pub fn spin<T>(&self, name: &str, work: impl FnOnce() -> T) -> T {
        if self.quiet || !self.tty {
            return work();
        }
        let done = Arc::new(AtomicBool::new(false));
        let spinner = {
            let done = Arc::clone(&done);
            let name = name.to_owned();
            thread::spawn(move || {
                let start = Instant::now();
                let frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
                let mut i = 0;
                while !done.load(Ordering::Relaxed) {
                    let elapsed = start.elapsed().as_secs_f64();
                    eprint!("\r{:>12} {name} {elapsed:.1}s ", frames[i % frames.len()]);
                    let _ = std::io::stderr().flush();
                    i += 1;
                    thread::sleep(Duration::from_millis(100));
                }
                eprint!("\r\x1b[2K");
            })
        };
        let result = work();
        done.store(true, Ordering::Relaxed);
        let _ = spinner.join();
        result
    }
}
