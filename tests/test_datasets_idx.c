/* test_datasets_idx.c — IDX reading: exact round trips (raw and gzip), every
 * kind of bad file gives SM_EINPUT with a message naming the file and what
 * was expected, and the real Fashion-MNIST files when they are installed. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "sm_common.h"
#include "sm_data.h"

enum { N = 5, ROWS = 3, COLS = 4 };
static const uint8_t LABELS[N] = {3, 0, 2, 3, 1};

static char tmpdir[64];

static uint8_t pixel(int i, int r, int c) { return (uint8_t)((i * 71 + r * 13 + c * 29) % 256); }

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* Write an IDX file: magic, dims, then payload, keeping only the first `keep`
 * bytes of the whole file when keep >= 0. Returns the path (static buffer per
 * name). */
static const char *write_idx(const char *name, int gzip, uint32_t magic, const uint32_t *dims,
                             int n_dims, const uint8_t *payload, size_t payload_len, long keep) {
    static char paths[16][256];
    static int next;
    char *path = paths[next++ % 16];
    snprintf(path, 256, "%s/%s", tmpdir, name);
    size_t len = 4 + 4 * (size_t)n_dims + payload_len;
    uint8_t *buf = malloc(len);
    put_be32(buf, magic);
    for (int i = 0; i < n_dims; i++) put_be32(buf + 4 + 4 * i, dims[i]);
    if (payload_len) memcpy(buf + 4 + 4 * n_dims, payload, payload_len);
    if (keep >= 0 && (size_t)keep < len) len = (size_t)keep;
    if (gzip) {
        gzFile gz = gzopen(path, "wb");
        assert_non_null(gz);
        assert_int_equal(gzwrite(gz, buf, (unsigned)len), (int)len);
        assert_int_equal(gzclose(gz), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(buf, 1, len, f), len);
        fclose(f);
    }
    free(buf);
    return path;
}

static uint8_t *image_payload(void) {
    uint8_t *p = malloc(N * ROWS * COLS);
    for (int i = 0; i < N; i++)
        for (int r = 0; r < ROWS; r++)
            for (int c = 0; c < COLS; c++) p[(i * ROWS + r) * COLS + c] = pixel(i, r, c);
    return p;
}

static const char *good_images(const char *name, int gzip) {
    uint32_t dims[3] = {N, ROWS, COLS};
    uint8_t *p = image_payload();
    const char *path = write_idx(name, gzip, 0x803, dims, 3, p, N * ROWS * COLS, -1);
    free(p);
    return path;
}

static const char *good_labels(const char *name, int gzip) {
    uint32_t n = N;
    return write_idx(name, gzip, 0x801, &n, 1, LABELS, N, -1);
}

static void assert_empty(const sm_dataset *d) {
    assert_int_equal(d->n, 0);
    assert_null(d->x);
    assert_null(d->y);
    assert_null(d->events);
}

/* the load fails with SM_EINPUT, leaves `d` empty and the message holds every word */
static void expect_input_error(const char *images, const char *labels, const char *w1,
                               const char *w2) {
    sm_dataset d;
    sm_error_clear();
    int rc = sm_idx_load(&d, images, labels, 0);
    print_message("message: %s\n", sm_errmsg());
    assert_int_equal(rc, SM_EINPUT);
    assert_empty(&d);
    assert_non_null(strstr(sm_errmsg(), w1));
    if (w2) assert_non_null(strstr(sm_errmsg(), w2));
    sm_dataset_free(&d);
}

static void check_round_trip(int gzip) {
    const char *images = good_images(gzip ? "rt-images.gz" : "rt-images.idx", gzip);
    const char *labels = good_labels(gzip ? "rt-labels.gz" : "rt-labels.idx", gzip);
    sm_dataset d;
    assert_int_equal(sm_idx_load(&d, images, labels, 0), SM_OK);
    assert_int_equal(d.n, N);
    assert_int_equal(d.c, 1);
    assert_int_equal(d.h, ROWS);
    assert_int_equal(d.w, COLS);
    assert_int_equal(d.T, 0);
    assert_null(d.events);
    assert_int_equal(d.n_classes, 4); /* 1 + max(LABELS) */
    for (int i = 0; i < N; i++) {
        assert_int_equal(d.y[i], LABELS[i]);
        for (int r = 0; r < ROWS; r++)
            for (int c = 0; c < COLS; c++)
                assert_true(sm_dataset_value(&d, i, r * COLS + c) == pixel(i, r, c) / 255.0f);
    }
    assert_null(d.x); /* kept as bytes: a quarter of the floats' memory */
    assert_non_null(d.bytes);
    float x[N * ROWS * COLS];
    int32_t y[N];
    assert_int_equal(sm_gather_batch(&d, NULL, 0, N, x, y), N); /* gathered as the floats they stand for */
    for (int i = 0; i < N * ROWS * COLS; i++) assert_true(x[i] == pixel(i / (ROWS * COLS), i / COLS % ROWS, i % COLS) / 255.0f);
    /* a split keeps bytes as bytes, every sample whole, in order */
    sm_dataset p1, p2;
    sm_dataset_split(&d, 0.5, 7, &p1, &p2);
    assert_int_equal(p1.n + p2.n, N);
    assert_non_null(p1.bytes);
    assert_null(p1.x);
    for (int part = 0; part < 2; part++) {
        const sm_dataset *q = part ? &p2 : &p1;
        int from = 0;
        for (int k = 0; k < q->n; k++, from++) {
            while (from < N && memcmp(q->bytes + (size_t)k * ROWS * COLS, d.bytes + (size_t)from * ROWS * COLS,
                                      ROWS * COLS))
                from++;
            assert_true(from < N);
            assert_int_equal(q->y[k], d.y[from]);
        }
    }
    sm_dataset_free(&p1), sm_dataset_free(&p2);
    sm_dataset_free(&d);
    assert_null(d.bytes);

    /* limit keeps the first samples */
    assert_int_equal(sm_idx_load(&d, images, labels, 2), SM_OK);
    assert_int_equal(d.n, 2);
    assert_int_equal(d.y[1], LABELS[1]);
    assert_int_equal(d.n_classes, 4); /* labels 3 and 0 */
    assert_true(sm_dataset_value(&d, 1, COLS + 1) == pixel(1, 1, 1) / 255.0f);
    sm_dataset_free(&d);
}

static void test_idx_round_trip_raw(void **state) { check_round_trip(0); }
static void test_idx_round_trip_gzip(void **state) { check_round_trip(1); }

/* a gzip images file with raw labels: the two formats mix freely */
static void test_idx_mixed_formats(void **state) {
    sm_dataset d;
    assert_int_equal(sm_idx_load(&d, good_images("mix-images.gz", 1),
                                 good_labels("mix-labels.idx", 0), 0), SM_OK);
    assert_int_equal(d.n, N);
    sm_dataset_free(&d);
}

static void test_idx_truncated_images(void **state) {
    uint32_t dims[3] = {N, ROWS, COLS};
    uint8_t *p = image_payload();
    for (int gzip = 0; gzip <= 1; gzip++) {
        /* header intact, only 30 of the 60 pixel bytes */
        const char *images = write_idx(gzip ? "short-images.gz" : "short-images.idx", gzip, 0x803,
                                       dims, 3, p, N * ROWS * COLS, 16 + 30);
        expect_input_error(images, good_labels("labels-ok.idx", 0),
                           gzip ? "short-images.gz" : "short-images.idx", "truncated");
        expect_input_error(images, good_labels("labels-ok.idx", 0), "60 bytes", "holds 30");
        /* header itself cut short */
        images = write_idx("short-header.idx", gzip, 0x803, dims, 3, p, 0, 9);
        expect_input_error(images, good_labels("labels-ok.idx", 0), "short-header.idx",
                           "truncated");
        /* empty file */
        images = write_idx("empty.idx", gzip, 0x803, dims, 3, p, 0, 0);
        expect_input_error(images, good_labels("labels-ok.idx", 0), "empty.idx", "expected");
    }
    free(p);
}

/* a gzip stream cut in the middle (not just a short payload) */
static void test_idx_truncated_gzip_stream(void **state) {
    const char *images = good_images("cut-stream.gz", 1);
    FILE *f = fopen(images, "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    assert_int_equal(truncate(images, size / 2), 0);
    sm_dataset d;
    int rc = sm_idx_load(&d, images, good_labels("labels-ok.idx", 0), 0);
    print_message("message: %s\n", sm_errmsg());
    assert_int_equal(rc, SM_EINPUT);
    assert_non_null(strstr(sm_errmsg(), "cut-stream.gz"));
    assert_empty(&d);
}

static void test_idx_truncated_labels(void **state) {
    uint32_t n = N;
    for (int gzip = 0; gzip <= 1; gzip++) {
        const char *labels = write_idx("short-labels.idx", gzip, 0x801, &n, 1, LABELS, N, 8 + 3);
        expect_input_error(good_images("images-ok.idx", 0), labels, "short-labels.idx",
                           "truncated");
        expect_input_error(good_images("images-ok.idx", 0), labels, "5 labels", "holds 3");
    }
}

static void test_idx_bad_magic(void **state) {
    uint32_t dims[3] = {N, ROWS, COLS};
    uint8_t *p = image_payload();
    const char *images = write_idx("magic-images.idx", 0, 0x802, dims, 3, p, N * ROWS * COLS, -1);
    expect_input_error(images, good_labels("labels-ok.idx", 0), "magic-images.idx", "magic");
    expect_input_error(images, good_labels("labels-ok.idx", 0), "0x00000803", NULL);
    uint32_t n = N;
    const char *labels = write_idx("magic-labels.idx", 1, 0x12345678, &n, 1, LABELS, N, -1);
    expect_input_error(good_images("images-ok.idx", 0), labels, "magic-labels.idx", "0x00000801");
    /* files given in the wrong order */
    expect_input_error(good_labels("labels-ok.idx", 0), good_images("images-ok.idx", 0),
                       "labels-ok.idx", "swapped");
    free(p);
}

static void test_idx_count_mismatch(void **state) {
    uint32_t n = N - 1;
    const char *labels = write_idx("four-labels.idx", 0, 0x801, &n, 1, LABELS, N - 1, -1);
    expect_input_error(good_images("images-ok.idx", 0), labels, "four-labels.idx", "mismatch");
    expect_input_error(good_images("images-ok.idx", 0), labels, "expected 5", NULL);
}

static void test_idx_absurd_header(void **state) {
    /* 2^31 images of 28x28: must be refused before any allocation */
    uint32_t dims[3] = {0x80000000u, 28, 28};
    const char *images = write_idx("huge.idx", 0, 0x803, dims, 3, NULL, 0, -1);
    expect_input_error(images, good_labels("labels-ok.idx", 0), "huge.idx", "expected at most");
    /* rows*cols*n overflowing 32 and 64-bit-ish products */
    uint32_t dims2[3] = {0xffffffffu, 0xffffffffu, 0xffffffffu};
    images = write_idx("overflow.idx", 0, 0x803, dims2, 3, NULL, 0, -1);
    expect_input_error(images, good_labels("labels-ok.idx", 0), "overflow.idx", "expected");
    uint32_t dims3[3] = {N, 0, COLS};
    images = write_idx("zero.idx", 0, 0x803, dims3, 3, NULL, 0, -1);
    expect_input_error(images, good_labels("labels-ok.idx", 0), "zero.idx", "non-zero");
}

static void test_idx_missing_file(void **state) {
    char path[256];
    snprintf(path, sizeof path, "%s/no-such-images.gz", tmpdir);
    expect_input_error(path, good_labels("labels-ok.idx", 0), path, strerror(ENOENT));
    snprintf(path, sizeof path, "%s/no-such-labels.gz", tmpdir);
    expect_input_error(good_images("images-ok.idx", 0), path, path, strerror(ENOENT));
}

static void check_fashion(const char *images, const char *labels, int n) {
    if (access(images, R_OK) != 0 || access(labels, R_OK) != 0) {
        print_message("Fashion-MNIST not installed at %s: skipped\n", images);
        skip();
    }
    sm_dataset d;
    assert_int_equal(sm_idx_load(&d, images, labels, 0), SM_OK);
    assert_int_equal(d.n, n);
    assert_int_equal(d.c, 1);
    assert_int_equal(d.h, 28);
    assert_int_equal(d.w, 28);
    assert_int_equal(d.n_classes, 10);
    int hist[10] = {0};
    for (int i = 0; i < d.n; i++) {
        assert_in_range(d.y[i], 0, 9);
        hist[d.y[i]]++;
    }
    for (int k = 0; k < 10; k++) assert_int_equal(hist[k], n / 10);
    float lo = 1, hi = 0;
    double sum = 0;
    for (size_t i = 0; i < (size_t)d.n * 784; i++) {
        float v = sm_dataset_value(&d, (int)(i / 784), (int)(i % 784));
        assert_true(v >= 0.0f && v <= 1.0f);
        /* every value is k/255 for an integer k */
        float k = v * 255.0f;
        assert_true(fabsf(k - nearbyintf(k)) < 1e-3f);
        lo = v < lo ? v : lo, hi = v > hi ? v : hi, sum += v;
    }
    assert_true(lo == 0.0f);
    assert_true(hi == 1.0f);
    double mean = sum / ((double)d.n * 784);
    print_message("mean pixel %.4f\n", mean);
    assert_true(mean > 0.1 && mean < 0.6); /* mostly dark background, not blank, not noise */
    sm_dataset_free(&d);
}

static void test_idx_fashion_mnist_train(void **state) {
    check_fashion("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz",
                  "/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz", 60000);
}

static void test_idx_fashion_mnist_test(void **state) {
    check_fashion("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz",
                  "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz", 10000);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    return remove(path);
}

static int setup(void **state) {
    strcpy(tmpdir, "/tmp/sm_test_idx_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
    return nftw(tmpdir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idx_round_trip_raw),
        cmocka_unit_test(test_idx_round_trip_gzip),
        cmocka_unit_test(test_idx_mixed_formats),
        cmocka_unit_test(test_idx_truncated_images),
        cmocka_unit_test(test_idx_truncated_gzip_stream),
        cmocka_unit_test(test_idx_truncated_labels),
        cmocka_unit_test(test_idx_bad_magic),
        cmocka_unit_test(test_idx_count_mismatch),
        cmocka_unit_test(test_idx_absurd_header),
        cmocka_unit_test(test_idx_missing_file),
        cmocka_unit_test(test_idx_fashion_mnist_train),
        cmocka_unit_test(test_idx_fashion_mnist_test),
    };
    return cmocka_run_group_tests_name("datasets_idx", tests, setup, teardown);
}
