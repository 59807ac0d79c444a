#pragma once
/* The worker's C library (see edge-fn/libc/cc): no files; diagnostics that
 * would go to stderr are dropped. */
#include <stddef.h>
typedef struct FILE FILE;
#define stderr ((FILE *)0)
#define fprintf(...) ((void)0)
#define printf(...) ((void)0)
