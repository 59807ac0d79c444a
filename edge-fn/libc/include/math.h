#pragma once
/* The worker's C library (see edge-fn/libc/cc): the functions come from
 * Rust's compiler-builtins (libm). */
double pow(double, double);
double log(double);
double exp(double);
double sqrt(double);
double floor(double);
double fabs(double);
double log10(double);
float powf(float, float);
float logf(float);
float expf(float);
float sqrtf(float);
double ceil(double);
float ceilf(float);
typedef float float_t;
typedef double double_t;
double log2(double);
double log1p(double);
float log1pf(float);
float log2f(float);
double exp2(double);
double round(double);
float roundf(float);
double rint(double);
double trunc(double);
float fabsf(float);
float floorf(float);
double cos(double);
double sin(double);
double tanh(double);
double fmax(double, double);
double fmin(double, double);
float fmaxf(float, float);
float fminf(float, float);
double fmod(double, double);
double cbrt(double);
double atan(double);
double atan2(double, double);
double acos(double);
/* Not in compiler-builtins: rint rounds to nearest, ties to even, as lrint does. */
static inline long lrint(double x) { return (long)rint(x); }
static inline long lround(double x) { return (long)round(x); }
#define HUGE_VAL __builtin_huge_val()
#define INFINITY __builtin_inff()
#define NAN __builtin_nanf("")
#define isnan(x) __builtin_isnan(x)
#define isinf(x) __builtin_isinf(x)
