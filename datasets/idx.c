/* idx.c — IDX files (the MNIST / Fashion-MNIST layout), gzip-compressed or raw.
 *
 * Layout (all integers big-endian):
 *   images: magic 0x00000803, n, rows, cols, then n*rows*cols unsigned bytes
 *   labels: magic 0x00000801, n, then n unsigned bytes
 *
 * zlib's gzread() reads gzip and plain files alike, so one code path serves
 * both. Every size from a header is checked (non-zero, product below 2^31
 * bytes) before anything is allocated, and a short payload is reported as a
 * truncation naming the file, what its header promised and what it holds.
 */
#define _GNU_SOURCE
#include "sm_data.h"
#include "sm_common.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define IDX_MAGIC_IMAGES 0x00000803u
#define IDX_MAGIC_LABELS 0x00000801u
#define IDX_MAX_BYTES (1ull << 31) /* larger payloads are taken as a corrupt header */

/* Open a gzip-or-raw file for reading. Returns SM_OK and *gz, or SM_EINPUT
 * naming the path and the system's reason. */
static int idx_open(gzFile *gz, const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return sm_error("%s: cannot open: %s", path, strerror(errno));
    *gz = gzdopen(fd, "rb");
    if (!*gz) {
        close(fd);
        return sm_fail("%s: cannot start reading (out of memory in zlib)", path);
    }
    return SM_OK;
}

/* Read up to len bytes; *got receives how many arrived before end of file (a
 * truncated gzip stream also counts as end of file). Returns SM_OK, SM_EFAIL on
 * a system read error, SM_EINPUT on a corrupt gzip stream. */
static int idx_read(gzFile gz, const char *path, uint8_t *buf, size_t len, size_t *got) {
    *got = 0;
    while (*got < len) {
        size_t want = len - *got;
        if (want > (1u << 30)) want = 1u << 30;
        int r = gzread(gz, buf + *got, (unsigned)want);
        if (r < 0) {
            int code;
            const char *why = gzerror(gz, &code);
            if (code == Z_ERRNO) return sm_fail("%s: read error: %s", path, strerror(errno));
            if (code == Z_BUF_ERROR) return SM_OK; /* gzip stream ends early: a truncation */
            return sm_error("%s: corrupt gzip data (%s)", path, why);
        }
        if (r == 0) {
            int code;
            const char *why = gzerror(gz, &code);
            if (code == Z_DATA_ERROR) return sm_error("%s: corrupt gzip data (%s)", path, why);
            return SM_OK;
        }
        *got += (size_t)r;
    }
    return SM_OK;
}

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Read `count` big-endian uint32 header words after checking the magic.
 * Returns SM_OK or SM_EINPUT naming the file and what was expected. */
static int idx_header(gzFile gz, const char *path, uint32_t magic, const char *what,
                      uint32_t *dims, int count) {
    uint8_t head[16];
    size_t want = 4 * (size_t)(count + 1), got;
    int rc = idx_read(gz, path, head, want, &got);
    if (rc) return rc;
    if (got < 4)
        return sm_error("%s: too short for an IDX header (%zu bytes), expected %s magic 0x%08x",
                        path, got, what, magic);
    uint32_t m = be32(head);
    if (m != magic)
        return sm_error("%s: bad magic 0x%08x, expected 0x%08x (IDX %s)%s", path, m, magic, what,
                        m == (magic ^ IDX_MAGIC_IMAGES ^ IDX_MAGIC_LABELS)
                            ? "; images and labels files swapped?" : "");
    if (got < want)
        return sm_error("%s: truncated: IDX %s header needs %zu bytes, file holds %zu", path, what,
                        want, got);
    for (int i = 0; i < count; i++) dims[i] = be32(head + 4 + 4 * i);
    return SM_OK;
}

/* Reads the images file: checks header, reads the first `keep` images (keep
 * <= n from the header) as bytes into a new buffer (*pixels, caller frees).
 * Returns SM_OK or an error with *pixels NULL. */
static int idx_read_images(const char *path, int limit, uint8_t **pixels, uint32_t *n_out,
                           uint32_t *keep_out, uint32_t *rows_out, uint32_t *cols_out) {
    gzFile gz;
    *pixels = NULL;
    int rc = idx_open(&gz, path);
    if (rc) return rc;
    uint32_t dims[3];
    rc = idx_header(gz, path, IDX_MAGIC_IMAGES, "images", dims, 3);
    if (rc) goto done;
    uint32_t n = dims[0], rows = dims[1], cols = dims[2];
    if (n == 0 || rows == 0 || cols == 0) {
        rc = sm_error("%s: header says %u images of %ux%u, expected non-zero sizes", path, n, rows,
                      cols);
        goto done;
    }
    uint64_t image_bytes = (uint64_t)rows * cols; /* < 2^64: no overflow */
    if (image_bytes > IDX_MAX_BYTES || n > IDX_MAX_BYTES / image_bytes || n > INT_MAX) {
        rc = sm_error("%s: header promises %u images of %ux%u (%.0f bytes), expected at most "
                      "2^31 bytes: not an IDX images file?", path, n, rows, cols,
                      (double)n * rows * cols);
        goto done;
    }
    uint64_t total = n * image_bytes;
    uint32_t keep = (limit > 0 && (uint32_t)limit < n) ? (uint32_t)limit : n;
    size_t bytes = (size_t)keep * rows * cols, got = 0;
    /* the header may promise far more than the file holds: grow the buffer with
     * the data actually read (from 16 MiB, doubling) instead of trusting it */
    size_t cap = bytes < ((size_t)16 << 20) ? bytes : (size_t)16 << 20;
    *pixels = sm_xmalloc(cap);
    for (;;) {
        size_t step;
        rc = idx_read(gz, path, *pixels + got, cap - got, &step);
        got += step;
        if (rc || got < cap || cap == bytes) break;
        cap = cap > bytes / 2 ? bytes : 2 * cap;
        *pixels = sm_xrealloc(*pixels, cap);
    }
    if (!rc && got < bytes)
        rc = sm_error("%s: truncated: header promises %u images of %ux%u (%llu bytes), file holds "
                      "%zu", path, n, rows, cols, (unsigned long long)total, got);
    *n_out = n, *keep_out = keep, *rows_out = rows, *cols_out = cols;
done:
    gzclose(gz);
    if (rc) free(*pixels), *pixels = NULL;
    return rc;
}

/* Reads the labels file and checks that it describes `n_images` samples.
 * Returns the first `keep` labels in a new buffer (*labels, caller frees). */
static int idx_read_labels(const char *path, const char *images_path, uint32_t n_images,
                           uint32_t keep, uint8_t **labels) {
    gzFile gz;
    *labels = NULL;
    int rc = idx_open(&gz, path);
    if (rc) return rc;
    uint32_t n;
    rc = idx_header(gz, path, IDX_MAGIC_LABELS, "labels", &n, 1);
    if (rc) goto done;
    if (n != n_images) {
        rc = sm_error("%s: count mismatch: header holds %u labels, expected %u to match the "
                      "images in %s", path, n, n_images, images_path);
        goto done;
    }
    size_t got;
    *labels = sm_xmalloc(keep);
    rc = idx_read(gz, path, *labels, keep, &got);
    if (!rc && got < keep)
        rc = sm_error("%s: truncated: header promises %u labels (%u bytes), file holds %zu", path,
                      n, n, got);
done:
    gzclose(gz);
    if (rc) free(*labels), *labels = NULL;
    return rc;
}

/* sm_idx_load: see sm_data.h. With limit > 0 only the first `limit` samples
 * are read, so truncation past them goes unnoticed. On error *out is zeroed. */
int sm_idx_load(sm_dataset *out, const char *images_path, const char *labels_path, int limit) {
    memset(out, 0, sizeof *out);
    uint8_t *pixels, *labels;
    uint32_t n, keep, rows, cols;
    int rc = idx_read_images(images_path, limit, &pixels, &n, &keep, &rows, &cols);
    if (rc) return rc;
    rc = idx_read_labels(labels_path, images_path, n, keep, &labels);
    if (rc) {
        free(pixels);
        return rc;
    }

    out->n = (int)keep;
    out->c = 1, out->h = (int)rows, out->w = (int)cols;
    out->T = 0;
    out->bytes = pixels; /* kept as read: 8-bit pixels, divided by 255 when a batch is gathered */
    pixels = NULL;
    out->y = sm_xmalloc((size_t)keep * sizeof(int32_t));
    int max_label = 0;
    for (uint32_t i = 0; i < keep; i++) {
        out->y[i] = labels[i];
        if (labels[i] > max_label) max_label = labels[i];
    }
    out->n_classes = max_label + 1;
    free(pixels);
    free(labels);
    return SM_OK;
}
