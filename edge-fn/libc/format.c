/* snprintf and vsnprintf for the worker's C code: libjpeg and libaom format
 * their error messages with them (integers in decimal or hex, with a width
 * and zero padding; characters; strings). Other conversions are copied as
 * written. Named edge_snprintf and edge_vsnprintf so that the host's tests
 * can call them beside the host's own; the wasm32 build, which has no
 * other, exports them as snprintf and vsnprintf. */
#include <stdarg.h>
#include <stddef.h>

struct out {
    char *buffer;
    size_t size;
    size_t length;
};

static void put(struct out *out, char c) {
    if (out->length + 1 < out->size) out->buffer[out->length] = c;
    out->length++;
}

static void number(struct out *out, unsigned long value, int negative, unsigned base, int width, char pad) {
    char digits[24];
    int n = 0;
    do {
        digits[n++] = "0123456789abcdef"[value % base];
        value /= base;
    } while (value);
    if (negative) {
        if (pad == '0') put(out, '-');
        width--;
    }
    for (int i = n; i < width; i++) put(out, pad);
    if (negative && pad != '0') put(out, '-');
    while (n) put(out, digits[--n]);
}

int edge_vsnprintf(char *buffer, size_t size, const char *format, va_list args) {
    struct out out = {buffer, size, 0};
    for (const char *p = format; *p; p++) {
        if (*p != '%') {
            put(&out, *p);
            continue;
        }
        const char *start = p++;
        char pad = ' ';
        if (*p == '0') {
            pad = '0';
            p++;
        }
        int width = 0;
        while (*p >= '0' && *p <= '9') width = width * 10 + (*p++ - '0');
        int is_long = 0;
        while (*p == 'l') {
            is_long = 1;
            p++;
        }
        switch (*p) {
        case 'd': {
            long v = is_long ? va_arg(args, long) : va_arg(args, int);
            number(&out, v < 0 ? 0UL - (unsigned long)v : (unsigned long)v, v < 0, 10, width, pad);
            break;
        }
        case 'u':
        case 'x': {
            unsigned long v = is_long ? va_arg(args, unsigned long) : va_arg(args, unsigned);
            number(&out, v, 0, *p == 'u' ? 10 : 16, width, pad);
            break;
        }
        case 'c':
            put(&out, (char)va_arg(args, int));
            break;
        case 's':
            for (const char *s = va_arg(args, const char *); s && *s; s++) put(&out, *s);
            break;
        case '%':
            put(&out, '%');
            break;
        default:
            for (const char *q = start; q <= p && *q; q++) put(&out, *q);
            if (!*p) p--;
        }
    }
    if (size) buffer[out.length < size ? out.length : size - 1] = '\0';
    return (int)out.length;
}

int edge_snprintf(char *buffer, size_t size, const char *format, ...) {
    va_list args;
    va_start(args, format);
    int length = edge_vsnprintf(buffer, size, format, args);
    va_end(args);
    return length;
}

#ifdef __wasm__
int snprintf(char *buffer, size_t size, const char *format, ...) __attribute__((alias("edge_snprintf")));
int vsnprintf(char *buffer, size_t size, const char *format, va_list args) __attribute__((alias("edge_vsnprintf")));
#endif
