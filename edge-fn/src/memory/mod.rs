//! What the isolate may hold: the Wasm heap, capped at the memory budget
//! ([`heap`]); the budget shared by the requests in flight ([`admission`]);
//! and the small C library the C codecs are built against, whose `malloc`
//! is this heap ([`libc`]).
//!
//! May use `error` and `limits`.

pub mod admission;
pub mod heap;
// On the host the system's libc serves; only the sort is tested there.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod libc;
