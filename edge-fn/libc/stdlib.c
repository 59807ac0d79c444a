/* String and number functions of the worker's C library that libaom's
 * encoder links (option parsing, its film-grain seed): plain C, as the C
 * standard defines them. Compiled for wasm32 only; the host has its own. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

int strcmp(const char *a, const char *b) {
    while (*a && *a == *b) a++, b++;
    return (unsigned char)*a - (unsigned char)*b;
}

int strncmp(const char *a, const char *b, size_t n) {
    for (; n; n--, a++, b++) {
        if (*a != *b || !*a) return (unsigned char)*a - (unsigned char)*b;
    }
    return 0;
}

static int digit(char c, int base) {
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'z' ? c - 'a' + 10 : c >= 'A' && c <= 'Z' ? c - 'A' + 10 : 99;
    return d < base ? d : -1;
}

/* Reads an optionally signed integer in `base` (0: decimal, 0x hex or 0
 * octal, as C says), saturating at ULONG_MAX; `*negative` gets the sign. */
static unsigned long parse(const char *s, char **end, int base, int *negative) {
    const char *p = s;
    while (*p == ' ' || (*p >= '\t' && *p <= '\r')) p++;
    *negative = *p == '-';
    if (*p == '-' || *p == '+') p++;
    if ((base == 0 || base == 16) && p[0] == '0' && (p[1] == 'x' || p[1] == 'X') && digit(p[2], 16) >= 0) {
        p += 2;
        base = 16;
    } else if (base == 0) {
        base = *p == '0' ? 8 : 10;
    }
    unsigned long value = 0;
    int any = 0, d;
    while ((d = digit(*p, base)) >= 0) {
        value = value > (~0UL - (unsigned long)d) / (unsigned long)base ? ~0UL : value * (unsigned long)base + (unsigned long)d;
        p++;
        any = 1;
    }
    if (end) *end = (char *)(any ? p : s);
    return value;
}

unsigned long strtoul(const char *s, char **end, int base) {
    int negative;
    unsigned long value = parse(s, end, base, &negative);
    return negative ? 0UL - value : value;
}

long strtol(const char *s, char **end, int base) {
    int negative;
    unsigned long value = parse(s, end, base, &negative);
    const unsigned long max = ~0UL >> 1;
    if (negative) return value > max ? -(long)max - 1 : -(long)value;
    return value > max ? (long)max : (long)value;
}

/* The C standard's example generator: deterministic, as the worker wants
 * its output to be. */
static unsigned long next = 1;

int rand(void) {
    next = next * 1103515245 + 12345;
    return (int)((next / 65536) % 32768);
}
