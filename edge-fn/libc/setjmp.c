/* setjmp and longjmp for the worker's C code, on Wasm exception handling.
 *
 * clang (LLVM 19 and newer) with `-mllvm -wasm-enable-sjlj` lowers them to
 * this runtime: setjmp records in the jmp_buf which invocation of which
 * function set it, and the label to resume at there; longjmp throws the C
 * longjmp tag (tag 1) with the jmp_buf and the value, and the handler in each
 * function that called setjmp asks __wasm_setjmp_test whether the jump is
 * its own, resuming at the label if so and rethrowing if not. Unwinding
 * passes through every frame in between, C or Rust, without running
 * anything: the C code jumps only out of itself (libjpeg's error exit), so
 * no Rust frame is ever between a setjmp and its longjmp. */
#include <stdint.h>

/* What the handler reads from the thrown pointer. */
struct jump {
    void *env;
    int value;
};

/* The start of a jmp_buf (include/setjmp.h leaves it room). */
struct target {
    void *invocation;
    uint32_t label;
    struct jump jump;
};

_Static_assert(sizeof(struct target) <= 6 * sizeof(void *), "jmp_buf is too small");

void __wasm_setjmp(void *env, uint32_t label, void *invocation) {
    struct target *target = env;
    target->invocation = invocation;
    target->label = label;
}

uint32_t __wasm_setjmp_test(void *env, void *invocation) {
    struct target *target = env;
    return target->invocation == invocation ? target->label : 0;
}

void __wasm_longjmp(void *env, int value) {
    struct target *target = env;
    target->jump.env = env;
    target->jump.value = value == 0 ? 1 : value;
    __builtin_wasm_throw(1, &target->jump);
}
