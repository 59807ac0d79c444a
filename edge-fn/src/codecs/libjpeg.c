/* libjpeg's decompressor behind calls that return instead of exiting, and
 * its compressor behind one.
 *
 * libjpeg reports an error by calling the error manager's error_exit, which
 * must not return. Each entry point below sets a jump target first, and the
 * error manager formats the library's message and jumps back to it, so
 * every call returns a status; on the worker this is setjmp/longjmp on Wasm
 * exception handling (edge-fn/libc/setjmp.c). Warnings about corrupt data
 * are errors too: the library would go on and paint the rest grey. */
#include <setjmp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "jpeglib.h"
#include "jerror.h"

struct edge_jpeg {
    struct jpeg_decompress_struct cinfo;
    struct jpeg_error_mgr err;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
};

static void fail(j_common_ptr cinfo) {
    struct edge_jpeg *d = cinfo->client_data;
    cinfo->err->format_message(cinfo, d->message);
    longjmp(d->jump, 1);
}

static void message(j_common_ptr cinfo, int level) {
    if (level < 0) fail(cinfo);
}

struct edge_jpeg *edge_jpeg_new(void) {
    struct edge_jpeg *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->cinfo.err = jpeg_std_error(&d->err);
    d->err.error_exit = fail;
    d->err.emit_message = message;
    d->cinfo.client_data = d;
    if (setjmp(d->jump)) {
        free(d);
        return NULL;
    }
    jpeg_create_decompress(&d->cinfo);
    return d;
}

const char *edge_jpeg_message(const struct edge_jpeg *d) { return d->message; }

/* Reads from `size` bytes at `data`: the header, with the frame's size, its
 * colour space (`JCS_*`) and whether it is progressive. 0, or -1 with a
 * message. */
int edge_jpeg_header(struct edge_jpeg *d, const unsigned char *data, size_t size, unsigned *width,
                     unsigned *height, int *color_space, int *progressive) {
    if (setjmp(d->jump)) return -1;
    jpeg_mem_src(&d->cinfo, data, (unsigned long)size);
    jpeg_read_header(&d->cinfo, TRUE);
    *width = d->cinfo.image_width;
    *height = d->cinfo.image_height;
    *color_space = d->cinfo.jpeg_color_space;
    *progressive = d->cinfo.progressive_mode;
    return 0;
}

/* Starts decoding at 1/`denominator` (1, 2, 4 or 8) of the frame's size, to
 * 4 bytes a pixel: RGBA, or CMYK for CMYK and YCCK sources (`cmyk`), as the
 * file stores it (Adobe's are inverted). 0, or -1 with a message. */
int edge_jpeg_start(struct edge_jpeg *d, unsigned denominator, int cmyk, unsigned *width, unsigned *height) {
    if (setjmp(d->jump)) return -1;
    d->cinfo.scale_num = 1;
    d->cinfo.scale_denom = denominator;
    d->cinfo.dct_method = JDCT_ISLOW;
    d->cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_EXT_RGBA;
    jpeg_start_decompress(&d->cinfo);
    *width = d->cinfo.output_width;
    *height = d->cinfo.output_height;
    return 0;
}

/* Decodes the next rows, at most `rows` of 4 × width bytes, into `out`: how
 * many, or -1 with a message. */
int edge_jpeg_rows(struct edge_jpeg *d, unsigned char *out, unsigned rows) {
    if (setjmp(d->jump)) return -1;
    size_t stride = (size_t)d->cinfo.output_width * 4;
    JSAMPROW pointers[16];
    unsigned done = 0;
    while (done < rows && d->cinfo.output_scanline < d->cinfo.output_height) {
        unsigned n = rows - done < 16 ? rows - done : 16;
        for (unsigned i = 0; i < n; i++) pointers[i] = out + (size_t)(done + i) * stride;
        done += jpeg_read_scanlines(&d->cinfo, pointers, n);
    }
    return (int)done;
}

void edge_jpeg_free(struct edge_jpeg *d) {
    if (!d) return;
    if (setjmp(d->jump) == 0) jpeg_destroy_decompress(&d->cinfo);
    free(d);
}

/* Whether the last error was an allocation the heap refused. */
int edge_jpeg_out_of_memory(const struct edge_jpeg *d) { return d->err.msg_code == JERR_OUT_OF_MEMORY; }

/* Compression. */

/* How hard the compressor works (codecs/mozjpeg.rs says what each costs). */
enum edge_jpeg_effort {
    /* Baseline, the standard Huffman tables: one pass, one MCU of coefficients. */
    EDGE_JPEG_FAST = 0,
    /* Baseline, trellis-quantized, Huffman tables made for the image. */
    EDGE_JPEG_BASELINE = 1,
    /* Progressive (SPECTRAL_SCANS), trellis-quantized, tables made for the
     * image: mozjpeg's defaults less its scan search and DC trellis. */
    EDGE_JPEG_PROGRESSIVE = 2,
};

/* The progressive scans: spectral selection only (each coefficient sent
 * once), the DC of all three components first, then luma's first five AC
 * coefficients, the rest of luma, and each chroma's AC. mozjpeg's own
 * script for YCbCr (jpeg_simple_progression) refines the AC in two passes
 * of successive approximation, for the same bytes at equal quality in
 * 16-20% more time (codecs/mozjpeg.rs has the measurements). */
static const jpeg_scan_info SPECTRAL_SCANS[] = {
    {3, {0, 1, 2}, 0, 0, 0, 0}, {1, {0}, 1, 5, 0, 0}, {1, {0}, 6, 63, 0, 0}, {1, {1}, 1, 63, 0, 0}, {1, {2}, 1, 63, 0, 0},
};

struct edge_jpeg_encoder {
    struct jpeg_compress_struct cinfo;
    struct jpeg_error_mgr err;
    struct jpeg_destination_mgr dest;
    jmp_buf jump;
    unsigned char *out;
    size_t capacity;
    int full;
    char *message;
};

static void fail_compress(j_common_ptr cinfo) {
    struct edge_jpeg_encoder *e = cinfo->client_data;
    cinfo->err->format_message(cinfo, e->message);
    longjmp(e->jump, 1);
}

static void message_compress(j_common_ptr cinfo, int level) {
    if (level < 0) fail_compress(cinfo);
}

static void init_destination(j_compress_ptr cinfo) {
    struct edge_jpeg_encoder *e = cinfo->client_data;
    cinfo->dest->next_output_byte = e->out;
    cinfo->dest->free_in_buffer = e->capacity;
}

static boolean empty_output_buffer(j_compress_ptr cinfo) {
    struct edge_jpeg_encoder *e = cinfo->client_data;
    e->full = 1;
    ERREXIT(cinfo, JERR_BUFFER_SIZE);
    return FALSE;
}

static void term_destination(j_compress_ptr cinfo) { (void)cinfo; }

static const unsigned char EXIF_HEADER[6] = {'E', 'x', 'i', 'f', 0, 0};

/* Encodes `height` rows of `width` RGBA pixels (alpha ignored), `stride`
 * bytes apart, at `quality` (1-100) with `effort`, into the `capacity` bytes
 * at `out`, with `exif` (TIFF bytes, at most 65,527) as an APP1 segment when
 * given. The bytes written; or -1 with the library's message in `message`
 * (JMSG_LENGTH_MAX bytes), `*status` 1 when `out` was too small and 2 when the
 * heap refused an allocation. */
long edge_jpeg_encode(const unsigned char *rgba, unsigned width, unsigned height, size_t stride, int quality,
                      int effort, const unsigned char *exif, size_t exif_size, unsigned char *out, size_t capacity,
                      char *message, int *status) {
    struct edge_jpeg_encoder *e = calloc(1, sizeof *e);
    if (!e) {
        *status = 2;
        return -1;
    }
    e->out = out;
    e->capacity = capacity;
    e->message = message;
    e->cinfo.err = jpeg_std_error(&e->err);
    e->err.error_exit = fail_compress;
    e->err.emit_message = message_compress;
    e->cinfo.client_data = e;
    e->dest.init_destination = init_destination;
    e->dest.empty_output_buffer = empty_output_buffer;
    e->dest.term_destination = term_destination;
    volatile long written = -1;
    *status = 0;
    if (setjmp(e->jump)) {
        *status = e->full ? 1 : e->err.msg_code == JERR_OUT_OF_MEMORY ? 2 : 0;
        goto done;
    }
    jpeg_create_compress(&e->cinfo);
    e->cinfo.dest = &e->dest;
    if (effort == EDGE_JPEG_FAST) jpeg_c_set_int_param(&e->cinfo, JINT_COMPRESS_PROFILE, JCP_FASTEST);
    e->cinfo.image_width = width;
    e->cinfo.image_height = height;
    e->cinfo.input_components = 4;
    e->cinfo.in_color_space = JCS_EXT_RGBA;
    jpeg_set_defaults(&e->cinfo);
    if (effort == EDGE_JPEG_PROGRESSIVE) {
        jpeg_c_set_bool_param(&e->cinfo, JBOOLEAN_OPTIMIZE_SCANS, FALSE);
        e->cinfo.scan_info = SPECTRAL_SCANS;
        e->cinfo.num_scans = sizeof SPECTRAL_SCANS / sizeof SPECTRAL_SCANS[0];
    } else {
        e->cinfo.scan_info = NULL;
        e->cinfo.num_scans = 0;
    }
    jpeg_set_quality(&e->cinfo, quality, TRUE);
    /* Trellis on the DC coefficients too: about 15% of the encoding time for
     * 0.2% of the bytes (codecs/mozjpeg.rs). */
    if (effort != EDGE_JPEG_FAST) jpeg_c_set_bool_param(&e->cinfo, JBOOLEAN_TRELLIS_QUANT_DC, FALSE);
    jpeg_start_compress(&e->cinfo, TRUE);
    if (exif) {
        jpeg_write_m_header(&e->cinfo, JPEG_APP0 + 1, (unsigned)(sizeof EXIF_HEADER + exif_size));
        for (size_t i = 0; i < sizeof EXIF_HEADER; i++) jpeg_write_m_byte(&e->cinfo, EXIF_HEADER[i]);
        for (size_t i = 0; i < exif_size; i++) jpeg_write_m_byte(&e->cinfo, exif[i]);
    }
    while (e->cinfo.next_scanline < height) {
        JSAMPROW rows[16];
        unsigned n = height - e->cinfo.next_scanline < 16 ? height - e->cinfo.next_scanline : 16;
        for (unsigned i = 0; i < n; i++) rows[i] = (JSAMPROW)(rgba + (size_t)(e->cinfo.next_scanline + i) * stride);
        jpeg_write_scanlines(&e->cinfo, rows, n);
    }
    jpeg_finish_compress(&e->cinfo);
    written = (long)(capacity - e->dest.free_in_buffer);
done:
    if (setjmp(e->jump) == 0) jpeg_destroy_compress(&e->cinfo);
    free(e);
    return written;
}
