#pragma once
/* The worker's C library (see edge-fn/libc/cc). */
#include <stdint.h>
