#pragma once
/* The worker's C library (see edge-fn/libc/cc): the old name of <string.h>. */
#include <string.h>
