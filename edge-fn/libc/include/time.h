#pragma once
/* The worker's C library (see edge-fn/libc/cc): no clock (libaom includes
 * this header for timing code the worker's build leaves out). */
#include <stddef.h>
