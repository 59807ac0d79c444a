#pragma once
/* The worker's C library (see edge-fn/libc/cc): allocation goes to the
 * worker's heap (edge-fn/src/memory/libc.rs); exit traps (libjpeg's default
 * error exit, which the worker replaces, is its only caller). */
#include <stddef.h>
void *malloc(size_t);
void *calloc(size_t, size_t);
void *realloc(void *, size_t);
void free(void *);
void qsort(void *, size_t, size_t, int (*)(const void *, const void *));
_Noreturn void exit(int);
static inline int abs(int x) { return x < 0 ? -x : x; }
static inline long long llabs(long long x) { return x < 0 ? -x : x; }
static inline long labs(long x) { return x < 0 ? -x : x; }
long strtol(const char *, char **, int);
unsigned long strtoul(const char *, char **, int);
int rand(void);
