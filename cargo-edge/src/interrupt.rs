//! Ctrl-C: stop at once with a message saying the previous build is intact.
//!
//! binaryen runs in-process and cannot be cancelled cooperatively, so the
//! handler exits the process directly. That is safe for the output: nothing
//! is written to it until the emit stage, which replaces it in one atomic
//! rename, so at any instant the output directory holds a complete build.

const MESSAGE: &[u8] = b"\ninterrupted: the previous build output is unchanged\n";

extern "C" fn on_interrupt(_: libc::c_int) {
    // Only async-signal-safe calls here: write(2) and _exit(2).
    unsafe {
        libc::write(libc::STDERR_FILENO, MESSAGE.as_ptr().cast(), MESSAGE.len());
        libc::_exit(130);
    }
}

/// Installs the Ctrl-C (SIGINT) and SIGTERM handler.
pub fn install() {
    let handler = on_interrupt as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only calls async-signal-safe functions.
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
}
