#pragma once
/* The worker's C library (see edge-fn/libc/cc): assertions are compiled out. */
#define assert(x) ((void)0)
