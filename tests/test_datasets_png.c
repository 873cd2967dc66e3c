/* test_datasets_png.c — PNG folders: PNGs of every colour type written with
 * libpng into temporary class folders and read back value by value; sorted
 * order; resizing against hand-computed bilinear values; corrupt, truncated
 * and misnamed files, and malformed folders, give SM_EINPUT naming the file. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sm_common.h"
#include "sm_data.h"

static char tmpdir[64];

/* tmpdir/rel, in one of a few rotating static buffers */
static const char *at(const char *rel) {
    static char paths[8][512];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 512, "%s/%s", tmpdir, rel);
    return p;
}

static void make_dir(const char *rel) { assert_int_equal(mkdir(at(rel), 0755), 0); }

static void write_text(const char *rel, const char *text) {
    FILE *f = fopen(at(rel), "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Write a PNG with libpng: rows packed as PNG stores them (16-bit samples
 * big-endian, low bit depths packed MSB first). palette may be NULL. */
static void write_png(const char *rel, int w, int h, int color_type, int depth,
                      const uint8_t *data, const png_color *palette, int n_palette) {
    FILE *f = fopen(at(rel), "wb");
    assert_non_null(f);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) fail_msg("libpng failed writing %s", rel);
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, color_type, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (palette) png_set_PLTE(png, info, palette, n_palette);
    png_write_info(png, info);
    size_t row_bytes = png_get_rowbytes(png, info);
    for (int y = 0; y < h; y++) png_write_row(png, data + (size_t)y * row_bytes);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(f);
}

/* 2x3 test images */
static const uint8_t GRAY_A[6] = {0, 10, 20, 128, 254, 255};
static const uint8_t GRAY_B[6] = {255, 1, 2, 3, 4, 5};
static const uint8_t RGB_M[18] = {255, 0, 0, 0, 255, 0, 0, 0, 255,
                                  10, 20, 30, 200, 100, 50, 255, 255, 255};
static const uint8_t RGBA_Z[24] = {255, 0, 0, 0,   0, 255, 0, 77, 0, 0, 255, 200,
                                   10, 20, 30, 1,  200, 100, 50, 255, 255, 255, 255, 9};
static const uint8_t GRAY16_KK[6] = {0, 17, 128, 200, 254, 255}; /* stored as KK*257 */

static double luma(const uint8_t *rgb) {
    return (0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]) / 255.0;
}

static int setup(void **state) {
    strcpy(tmpdir, "/tmp/sm_test_png_XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;

    /* main folder: classes created out of order, junk that must be skipped */
    make_dir("main");
    make_dir("main/zebra");
    make_dir("main/apple");
    make_dir("main/mango");
    make_dir("main/.hidden");
    write_text("main/README.txt", "not a class");
    write_text("main/apple/notes.txt", "not an image");
    write_png("main/apple/b.png", 3, 2, PNG_COLOR_TYPE_GRAY, 8, GRAY_B, NULL, 0);
    write_png("main/apple/a.png", 3, 2, PNG_COLOR_TYPE_GRAY, 8, GRAY_A, NULL, 0);
    write_png("main/mango/m.png", 3, 2, PNG_COLOR_TYPE_RGB, 8, RGB_M, NULL, 0);
    write_png("main/zebra/z.png", 3, 2, PNG_COLOR_TYPE_RGB_ALPHA, 8, RGBA_Z, NULL, 0);
    uint8_t g16[12];
    for (int i = 0; i < 6; i++) g16[2 * i] = g16[2 * i + 1] = GRAY16_KK[i]; /* KK*257 = 0xKKKK */
    write_png("main/zebra/y.png", 3, 2, PNG_COLOR_TYPE_GRAY, 16, g16, NULL, 0);
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    return remove(path);
}

static int teardown(void **state) { return nftw(tmpdir, remove_entry, 8, FTW_DEPTH | FTW_PHYS); }

static void expect_input_error(const char *root, int c, int h, int w, int resize,
                               const char *w1, const char *w2) {
    sm_dataset d;
    sm_error_clear();
    int rc = sm_png_folder_load(&d, root, c, h, w, resize, 0);
    print_message("message: %s\n", sm_errmsg());
    assert_int_equal(rc, SM_EINPUT);
    assert_int_equal(d.n, 0);
    assert_null(d.x);
    assert_null(d.y);
    assert_non_null(strstr(sm_errmsg(), w1));
    if (w2) assert_non_null(strstr(sm_errmsg(), w2));
}

static void test_png_gray(void **state) {
    sm_dataset d;
    assert_int_equal(sm_png_folder_load(&d, at("main"), 1, 2, 3, 0, 0), SM_OK);
    /* sorted: apple/a, apple/b, mango/m, zebra/y, zebra/z */
    assert_int_equal(d.n, 5);
    assert_int_equal(d.c, 1);
    assert_int_equal(d.h, 2);
    assert_int_equal(d.w, 3);
    assert_int_equal(d.T, 0);
    assert_int_equal(d.n_classes, 3);
    const int32_t labels[5] = {0, 0, 1, 2, 2};
    for (int i = 0; i < 5; i++) assert_int_equal(d.y[i], labels[i]);
    for (int p = 0; p < 6; p++) {
        assert_true(d.x[0 * 6 + p] == GRAY_A[p] / 255.0f);
        assert_true(d.x[1 * 6 + p] == GRAY_B[p] / 255.0f);
        assert_float_equal(d.x[2 * 6 + p], luma(RGB_M + 3 * p), 1e-6);
        assert_true(d.x[3 * 6 + p] == GRAY16_KK[p] / 255.0f);
        assert_float_equal(d.x[4 * 6 + p], luma(RGBA_Z + 4 * p), 1e-6); /* alpha ignored */
    }
    sm_dataset_free(&d);
}

static void test_png_rgb(void **state) {
    sm_dataset d;
    assert_int_equal(sm_png_folder_load(&d, at("main"), 3, 2, 3, 0, 0), SM_OK);
    assert_int_equal(d.n, 5);
    assert_int_equal(d.c, 3);
    for (int ch = 0; ch < 3; ch++)
        for (int p = 0; p < 6; p++) {
            /* (C, H, W) order: plane ch, then pixel p */
            assert_true(d.x[0 * 18 + ch * 6 + p] == GRAY_A[p] / 255.0f); /* gray replicated */
            assert_true(d.x[2 * 18 + ch * 6 + p] == RGB_M[3 * p + ch] / 255.0f);
            assert_true(d.x[4 * 18 + ch * 6 + p] == RGBA_Z[4 * p + ch] / 255.0f);
        }
    sm_dataset_free(&d);
}

static void test_png_limit_round_robin(void **state) {
    sm_dataset d;
    assert_int_equal(sm_png_folder_load(&d, at("main"), 1, 2, 3, 0, 3), SM_OK);
    assert_int_equal(d.n, 3); /* apple/a, mango/m, zebra/y */
    for (int k = 0; k < 3; k++) assert_int_equal(d.y[k], k);
    assert_true(d.x[0] == GRAY_A[0] / 255.0f);
    assert_true(d.x[2 * 6 + 1] == GRAY16_KK[1] / 255.0f);
    sm_dataset_free(&d);
    assert_int_equal(sm_png_folder_load(&d, at("main"), 1, 2, 3, 0, 4), SM_OK);
    assert_int_equal(d.n, 4); /* apple/a, apple/b, mango/m, zebra/y */
    assert_int_equal(d.y[1], 0);
    assert_true(d.x[6] == GRAY_B[0] / 255.0f);
    sm_dataset_free(&d);
}

static void test_png_palette_and_low_bit_depth(void **state) {
    make_dir("pal");
    make_dir("pal/c0");
    const png_color palette[4] = {{0, 0, 0}, {255, 0, 0}, {0, 0, 255}, {90, 120, 150}};
    /* 4x1 at 2 bits per index: indices 0,1,2,3 packed MSB first = 0b00011011 */
    const uint8_t indices[1] = {0x1B};
    write_png("pal/c0/p.png", 4, 1, PNG_COLOR_TYPE_PALETTE, 2, indices, palette, 4);
    /* 4x1 1-bit gray: 1,0,1,1 = 0b1011xxxx */
    const uint8_t bits[1] = {0xB0};
    write_png("pal/c0/q.png", 4, 1, PNG_COLOR_TYPE_GRAY, 1, bits, NULL, 0);
    sm_dataset d;
    assert_int_equal(sm_png_folder_load(&d, at("pal"), 3, 1, 4, 0, 0), SM_OK);
    assert_int_equal(d.n, 2);
    assert_int_equal(d.n_classes, 1);
    for (int p = 0; p < 4; p++) {
        assert_true(d.x[0 * 4 + p] == palette[p].red / 255.0f);
        assert_true(d.x[1 * 4 + p] == palette[p].green / 255.0f);
        assert_true(d.x[2 * 4 + p] == palette[p].blue / 255.0f);
    }
    const float q[4] = {1, 0, 1, 1};
    for (int ch = 0; ch < 3; ch++)
        for (int p = 0; p < 4; p++) assert_true(d.x[12 + ch * 4 + p] == q[p]);
    sm_dataset_free(&d);
}

static void test_png_size_mismatch_and_resize(void **state) {
    make_dir("big");
    make_dir("big/only");
    uint8_t px[16];
    for (int i = 0; i < 16; i++) px[i] = (uint8_t)(i * 16);
    write_png("big/only/big.png", 4, 4, PNG_COLOR_TYPE_GRAY, 8, px, NULL, 0);
    expect_input_error(at("big"), 1, 2, 2, 0, "big.png", "4x4");
    expect_input_error(at("big"), 1, 2, 2, 0, "expected 2x2", NULL);

    /* halving with half-pixel centres samples at 0.5 and 2.5: the mean of each 2x2 block */
    sm_dataset d;
    assert_int_equal(sm_png_folder_load(&d, at("big"), 1, 2, 2, 1, 0), SM_OK);
    assert_int_equal(d.n, 1);
    for (int oy = 0; oy < 2; oy++)
        for (int ox = 0; ox < 2; ox++) {
            int y = 2 * oy, x = 2 * ox;
            double mean = (px[y * 4 + x] + px[y * 4 + x + 1] + px[(y + 1) * 4 + x] +
                           px[(y + 1) * 4 + x + 1]) / 4.0 / 255.0;
            assert_float_equal(d.x[oy * 2 + ox], mean, 1e-6);
        }
    sm_dataset_free(&d);

    /* doubling a row [0, 255] samples at -0.25 (clamped to 0), 0.25, 0.75, 1.25 (to 1) */
    make_dir("row");
    make_dir("row/only");
    const uint8_t row[2] = {0, 255};
    write_png("row/only/r.png", 2, 1, PNG_COLOR_TYPE_GRAY, 8, row, NULL, 0);
    assert_int_equal(sm_png_folder_load(&d, at("row"), 1, 2, 4, 1, 0), SM_OK);
    const float want[4] = {0.0f, 0.25f, 0.75f, 1.0f};
    for (int y = 0; y < 2; y++)
        for (int x = 0; x < 4; x++) assert_float_equal(d.x[y * 4 + x], want[x], 1e-6);
    sm_dataset_free(&d);
}

static void test_png_corrupt(void **state) {
    /* a valid signature followed by garbage */
    make_dir("bad");
    make_dir("bad/a");
    write_png("bad/a/good.png", 3, 2, PNG_COLOR_TYPE_GRAY, 8, GRAY_A, NULL, 0);
    FILE *f = fopen(at("bad/a/zgarbage.png"), "wb");
    const uint8_t sig[8] = {137, 80, 78, 71, 13, 10, 26, 10};
    fwrite(sig, 1, 8, f);
    for (int i = 0; i < 300; i++) fputc((i * 37 + 11) & 255, f);
    fclose(f);
    expect_input_error(at("bad"), 1, 2, 3, 0, "zgarbage.png", "corrupt");

    /* a valid PNG cut in the middle of its image data */
    make_dir("cut");
    make_dir("cut/a");
    uint8_t noise[64 * 64 * 3];
    uint32_t s = 12345;
    for (size_t i = 0; i < sizeof noise; i++) s = s * 1664525u + 1013904223u, noise[i] = s >> 24;
    write_png("cut/a/cut.png", 64, 64, PNG_COLOR_TYPE_RGB, 8, noise, NULL, 0);
    struct stat st;
    assert_int_equal(stat(at("cut/a/cut.png"), &st), 0);
    assert_int_equal(truncate(at("cut/a/cut.png"), st.st_size / 2), 0);
    expect_input_error(at("cut"), 3, 64, 64, 0, "cut.png", "corrupt");
    expect_input_error(at("cut"), 3, 64, 64, 0, "cut.png", "truncated");

    /* a text file named .png */
    make_dir("text");
    make_dir("text/a");
    write_text("text/a/t.png", "hello");
    expect_input_error(at("text"), 1, 2, 3, 0, "t.png", "not a PNG");
}

static void test_png_bad_folders(void **state) {
    make_dir("noclasses");
    write_text("noclasses/x.png", "a file, not a class folder");
    expect_input_error(at("noclasses"), 1, 2, 3, 0, "noclasses", "no class folders");

    make_dir("emptyclass");
    make_dir("emptyclass/a");
    make_dir("emptyclass/b");
    write_png("emptyclass/a/x.png", 3, 2, PNG_COLOR_TYPE_GRAY, 8, GRAY_A, NULL, 0);
    write_text("emptyclass/b/readme.txt", "no images here");
    expect_input_error(at("emptyclass"), 1, 2, 3, 0, "emptyclass/b", "empty class folder");

    expect_input_error(at("does-not-exist"), 1, 2, 3, 0, "does-not-exist", strerror(ENOENT));
    expect_input_error(at("main"), 2, 2, 3, 0, "main", "1 or 3");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_png_gray),
        cmocka_unit_test(test_png_rgb),
        cmocka_unit_test(test_png_limit_round_robin),
        cmocka_unit_test(test_png_palette_and_low_bit_depth),
        cmocka_unit_test(test_png_size_mismatch_and_resize),
        cmocka_unit_test(test_png_corrupt),
        cmocka_unit_test(test_png_bad_folders),
    };
    return cmocka_run_group_tests_name("datasets_png", tests, setup, teardown);
}
