# CMake toolchain for wasm32-unknown-unknown (set in .cargo/config.toml for
# the crates cargo builds with CMake: libaom, through libaom-sys). The
# compiler and archiver are this folder's `cc` and `ar`, with the worker's
# small C library; libaom is built for a generic CPU (its C code; clang
# vectorizes loops for SIMD128), single-threaded (a Worker has one thread),
# encoder only, 8-bit, with its error exits (setjmp/longjmp) on Wasm
# exception handling, as libjpeg's are (setjmp.c). libaom-sys does not
# rebuild when this file changes: after editing it, run
# `cargo clean -p libaom-sys --release --target wasm32-unknown-unknown`.
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR wasm32)
set(CMAKE_C_COMPILER "${CMAKE_CURRENT_LIST_DIR}/cc")
# libaom enables C++ too (for code this build leaves out); clang checks it.
set(CMAKE_CXX_COMPILER "${CMAKE_CURRENT_LIST_DIR}/cc")
set(CMAKE_AR "${CMAKE_CURRENT_LIST_DIR}/ar" CACHE FILEPATH "")
# No executables for this target: compiler checks build static libraries.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)

set(AOM_TARGET_CPU generic)
set(AOM_EXTRA_C_FLAGS "-mllvm -wasm-enable-sjlj -mexception-handling" CACHE STRING "")
set(CONFIG_RUNTIME_CPU_DETECT 0 CACHE STRING "")
set(CONFIG_MULTITHREAD 0 CACHE STRING "")
set(CONFIG_AV1_DECODER 0 CACHE STRING "")
set(CONFIG_AV1_HIGHBITDEPTH 0 CACHE STRING "")
set(CONFIG_WEBM_IO 0 CACHE STRING "")
set(CONFIG_LIBYUV 0 CACHE STRING "")
set(CONFIG_DENOISE 0 CACHE STRING "")

# libaom's one C++ library, its real-time rate control for applications
# (aom_av1_rc, not part of libaom.a), needs a C++ library this target does
# not have: aom.cmake leaves it out of the build.
set(CMAKE_PROJECT_AOM_INCLUDE "${CMAKE_CURRENT_LIST_DIR}/aom.cmake")
# Optimized for size, as mozjpeg is (Cargo.toml): measured on four
# photographs to 800 px, the same bytes, about 5% more encoding time than
# -O3, and 283 KB less upload gzip (1,484,294 -> 1,200,886 bytes with the
# quantization matrices out too: the worker never enables them).
set(CMAKE_C_FLAGS_RELEASE "-Os -DNDEBUG" CACHE STRING "")
set(CONFIG_QUANT_MATRIX 0 CACHE STRING "")
