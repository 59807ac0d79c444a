/* The file functions of the worker's C library: a Worker has no file
 * system. libaom's encoder links them for options the worker never sets
 * (film-grain tables, partition logs); they fail as C says a missing file
 * does. Compiled for wasm32 only. */
#include <stdio.h>

FILE *fopen(const char *path, const char *mode) {
    (void)path, (void)mode;
    return NULL;
}

int fclose(FILE *f) { return (void)f, EOF; }
int feof(FILE *f) { return (void)f, 1; }
int fseek(FILE *f, long offset, int whence) { return (void)f, (void)offset, (void)whence, -1; }
int fscanf(FILE *f, const char *format, ...) { return (void)f, (void)format, EOF; }
int fputc(int c, FILE *f) { return (void)c, (void)f, EOF; }
size_t fread(void *p, size_t size, size_t n, FILE *f) { return (void)p, (void)size, (void)n, (void)f, 0; }
size_t fwrite(const void *p, size_t size, size_t n, FILE *f) { return (void)p, (void)size, (void)n, (void)f, 0; }
