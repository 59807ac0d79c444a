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
