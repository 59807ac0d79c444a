#pragma once
/* The worker's C library (see edge-fn/libc/cc): setjmp and longjmp on Wasm
 * exception handling. Code that calls them is compiled with
 * `-mllvm -wasm-enable-sjlj`, which turns setjmp into calls to the runtime
 * in edge-fn/libc/setjmp.c and longjmp into a throw it catches. */
typedef struct {
    void *runtime[6]; /* the first words are the runtime's (setjmp.c) */
} jmp_buf[1];
int setjmp(jmp_buf env) __attribute__((returns_twice));
_Noreturn void longjmp(jmp_buf env, int value);
