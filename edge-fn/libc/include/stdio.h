#pragma once
/* The worker's C library (see edge-fn/libc/cc): no files; diagnostics that
 * would go to stderr are dropped; snprintf formats integers, characters and
 * strings (edge-fn/libc/format.c). The file functions are declared for code
 * that is compiled but never linked in (libjpeg's stdio source and
 * destination). */
#include <stddef.h>
typedef struct FILE FILE;
#define stderr ((FILE *)0)
#define stdin ((FILE *)0)
#define stdout ((FILE *)0)
#define EOF (-1)
#define fprintf(...) ((void)0)
#define printf(...) ((void)0)
int snprintf(char *buffer, size_t size, const char *format, ...);
size_t fread(void *, size_t, size_t, FILE *);
size_t fwrite(const void *, size_t, size_t, FILE *);
int fflush(FILE *);
int ferror(FILE *);
#include <stdarg.h>
int vsnprintf(char *buffer, size_t size, const char *format, va_list args);
#define SEEK_SET 0
#define SEEK_CUR 1
#define SEEK_END 2
FILE *fopen(const char *, const char *);
int fclose(FILE *);
int feof(FILE *);
int fseek(FILE *, long, int);
int fscanf(FILE *, const char *, ...);
int fputc(int, FILE *);
