//! Compiles the worker's own C: the shim that makes libjpeg's errors return
//! (`src/codecs/libjpeg.c`) and, for wasm32, the parts of the C library the
//! C code needs that are C (`libc/setjmp.c`, `libc/format.c`,
//! `libc/stdlib.c`, `libc/file.c`; the rest is Rust, in
//! `src/memory/libc.rs`). The C library's headers come with the compiler
//! cargo is given for wasm32 (`libc/cc`, see `.cargo/config.toml`); libaom,
//! built by CMake, uses them too (`libc/wasm32.cmake`).

use std::env;

fn main() {
    let mut build = cc::Build::new();
    let include = env::var_os("DEP_JPEG_INCLUDE").expect("mozjpeg-sys gives its headers' folders");
    for dir in env::split_paths(&include) {
        build.include(dir);
    }
    build.file("src/codecs/libjpeg.c").file("libc/format.c");
    if env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        // setjmp and longjmp on Wasm exception handling (libc/setjmp.c).
        // The string, number and (failing) file functions libaom links.
        build.file("libc/stdlib.c").file("libc/file.c");
        build.file("libc/setjmp.c").flag("-mllvm").flag("-wasm-enable-sjlj").flag("-mexception-handling");
    }
    build.compile("edge_fn_c");
    for path in ["src/codecs/libjpeg.c", "libc"] {
        println!("cargo:rerun-if-changed={path}");
    }
}
