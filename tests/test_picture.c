/* test_picture.c — the PNG pictures (placement/picture.c): each function writes
 * a PNG that libpng reads back as 8-bit RGB of a sensible size, and its pixels
 * show what they should: the most and least loaded cores differ in colour (and
 * the most loaded is the brighter, as on the viridis scale; a NaN core is grey),
 * heatmap cells of different traffic differ, every curve has its own colour.
 * Errors: unwritable paths give SM_EFAIL naming the file and leave no temporary
 * file; bad arguments give SM_EINPUT.
 *
 * The pictures' layout is not assumed: large regions of one colour (a core's
 * square, a heatmap cell) are found by counting pixels per colour, and placed
 * by their centroid.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <dirent.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "sm_common.h"
#include "sm_picture.h"

static char tmpdir[256];

static int make_tmpdir(void **st) {
    (void)st;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sm_test_picture.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **st) {
    (void)st;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *in_tmp(const char *name) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    return path;
}

/* The entries of tmpdir (not . and ..). */
static int count_entries(void) {
    DIR *d = opendir(tmpdir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

typedef struct {
    int w, h;
    uint8_t *px; /* [h][w][3] */
} image;

/* Read a PNG with libpng; it must be 8-bit RGB without alpha. */
static image read_png(const char *path) {
    image im = {0, 0, NULL};
    FILE *fp = fopen(path, "rb");
    if (!fp) fail_msg("cannot open %s", path);
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) fail_msg("libpng cannot read %s", path);
    png_init_io(png, fp);
    png_read_info(png, info);
    assert_int_equal(png_get_color_type(png, info), PNG_COLOR_TYPE_RGB);
    assert_int_equal(png_get_bit_depth(png, info), 8);
    im.w = (int)png_get_image_width(png, info);
    im.h = (int)png_get_image_height(png, info);
    im.px = malloc((size_t)im.w * im.h * 3);
    for (int y = 0; y < im.h; y++) png_read_row(png, im.px + (size_t)y * im.w * 3, NULL);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    fclose(fp);
    return im;
}

/* A colour and where its pixels are. */
typedef struct { uint32_t rgb; long count; double cx, cy; } region;

static int by_count(const void *a, const void *b) {
    const region *p = a, *q = b;
    return (q->count > p->count) - (q->count < p->count);
}

static int grey_like(uint32_t c) {
    int r = c >> 16, g = (c >> 8) & 255, b = c & 255;
    int hi = r > g ? (r > b ? r : b) : (g > b ? g : b), lo = r < g ? (r < b ? r : b) : (g < b ? g : b);
    return hi - lo < 12; /* white, black, greys of text, frames and grid */
}

/* The k most frequent colours that are not white, black or grey, with the
 * centroid of their pixels; returns how many were found. */
static int top_colours(const image *im, region *out, int k) {
    enum { SLOTS = 1 << 17 }; /* open addressing on the colour; more colours than slots are ignored */
    region *r = calloc(SLOTS, sizeof *r);
    int used = 0;
    for (int y = 0; y < im->h; y++)
        for (int x = 0; x < im->w; x++) {
            const uint8_t *p = im->px + ((size_t)y * im->w + x) * 3;
            uint32_t c = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
            if (grey_like(c)) continue;
            uint32_t i = (c * 2654435761u) & (SLOTS - 1);
            while (r[i].count && r[i].rgb != c) i = (i + 1) & (SLOTS - 1);
            if (!r[i].count) {
                if (used == SLOTS / 2) continue;
                used++, r[i].rgb = c;
            }
            r[i].count++, r[i].cx += x, r[i].cy += y;
        }
    qsort(r, SLOTS, sizeof *r, by_count);
    int m = 0;
    for (; m < k && r[m].count; m++) {
        out[m] = r[m];
        out[m].cx /= r[m].count, out[m].cy /= r[m].count;
    }
    free(r);
    return m;
}

static double luminance(uint32_t c) {
    return 0.299 * (c >> 16) + 0.587 * ((c >> 8) & 255) + 0.114 * (c & 255);
}

/* Regions sorted as the cores of a w-wide grid: by row (y), then column (x). */
static int by_position(const void *a, const void *b) {
    const region *p = a, *q = b;
    if (fabs(p->cy - q->cy) > 20) return p->cy < q->cy ? -1 : 1;
    return (p->cx > q->cx) - (p->cx < q->cx);
}

static void test_mesh(void **st) {
    (void)st;
    sm_mesh m = sm_mesh_default();
    m.mesh_w = 2, m.mesh_h = 2, m.core_memory = 1e6;
    const double compute[4] = {0.1, 3.0, 1.0, 2.0}; /* core 0 least, core 1 most */
    const double memory[4] = {2e5, 9e5, 1.2e6, 0};  /* core 2 over */
    int64_t loads[16] = {0};
    loads[4 * 0 + SM_LINK_E] = 5000, loads[4 * 1 + SM_LINK_W] = 100, loads[4 * 0 + SM_LINK_S] = 2500;
    const char *path = in_tmp("mesh.png");
    assert_int_equal(sm_picture_mesh(path, &m, compute, "s", memory, loads, "a 2x2 mesh"), SM_OK);
    image im = read_png(path);
    assert_true(im.w >= 600 && im.w <= 1600 && im.h >= 400 && im.h <= 1600);
    region r[4];
    assert_int_equal(top_colours(&im, r, 4), 4); /* the four squares: the largest areas */
    for (int i = 0; i < 4; i++) assert_true(r[i].count > 5000);
    qsort(r, 4, sizeof *r, by_position);
    if (r[1].rgb == r[0].rgb) fail_msg("most and least loaded cores have the same colour %06x", r[0].rgb);
    assert_true(luminance(r[1].rgb) > luminance(r[0].rgb));
    /* the order of the scale: 0.1 < 1 < 2 < 3 */
    assert_true(luminance(r[0].rgb) < luminance(r[2].rgb));
    assert_true(luminance(r[2].rgb) < luminance(r[3].rgb));
    assert_true(luminance(r[3].rgb) < luminance(r[1].rgb));
    free(im.px);

    /* NaN = no data: that core is grey, the other three keep their colours */
    const double some[4] = {0.1, NAN, 1.0, 2.0}, mem_some[4] = {1e5, NAN, 1e5, 1e5};
    assert_int_equal(sm_picture_mesh(path, &m, some, "s", mem_some, loads, "a core without data"), SM_OK);
    im = read_png(path);
    int k = top_colours(&im, r, 4), large = 0;
    for (int i = 0; i < k; i++) large += r[i].count > 5000;
    assert_int_equal(large, 3);
    free(im.px);

    /* large meshes stay around a thousand pixels; optional arrays may be NULL */
    m.mesh_w = 20, m.mesh_h = 20;
    double big[400];
    for (int c = 0; c < 400; c++) big[c] = c;
    assert_int_equal(sm_picture_mesh(path, &m, big, "s", NULL, NULL, NULL), SM_OK);
    im = read_png(path);
    assert_true(im.w >= 800 && im.w <= 1600 && im.h >= 800 && im.h <= 1600);
    free(im.px);
    m.mesh_w = 7, m.mesh_h = 1;
    assert_int_equal(sm_picture_mesh(path, &m, NULL, NULL, NULL, NULL, "no data"), SM_OK);
    assert_int_equal(count_entries(), 1); /* rewritten in place, no temporary left */
}

static void test_heatmap(void **st) {
    (void)st;
    const double matrix[9] = {0, 10, 0, 1e6, 0, 0, 0, 0, 0};
    const char *path = in_tmp("heat.png");
    assert_int_equal(sm_picture_heatmap(path, matrix, 3, "traffic"), SM_OK);
    image im = read_png(path);
    assert_true(im.w >= 400 && im.h >= 400);
    region r[2];
    assert_int_equal(top_colours(&im, r, 2), 2);
    assert_true(r[0].count > 1000 && r[1].count > 1000); /* two cells, not a legend's slivers */
    qsort(r, 2, sizeof *r, by_position);  /* (0,1) above (1,0) */
    assert_true(r[0].rgb != r[1].rgb);
    assert_true(luminance(r[1].rgb) > luminance(r[0].rgb)); /* 1e6 brighter than 10 */
    assert_true(r[1].cx < r[0].cx);                        /* column 0 left of column 1 */
    free(im.px);

    /* n = 400: cells of two pixels, ticks every so often */
    const int n = 400;
    double *big = calloc((size_t)n * n, sizeof(double));
    for (int i = 0; i < n; i++) big[(size_t)i * n + (i + 1) % n] = 1 + i;
    assert_int_equal(sm_picture_heatmap(path, big, n, "400 ranks"), SM_OK);
    im = read_png(path);
    assert_true(im.w >= 800 && im.w <= 1600 && im.h >= 800 && im.h <= 1600);
    free(im.px);
    /* all zero: one legend entry, still a picture */
    memset(big, 0, sizeof(double) * n * n);
    assert_int_equal(sm_picture_heatmap(path, big, 5, NULL), SM_OK);
    free(big);
}

static void test_curves(void **st) {
    (void)st;
    sm_place_point a[4] = {{1, 4.0}, {10, 3.0}, {100, 2.5}, {5000, 1.2}};
    sm_place_point b[3] = {{1, 1e6 + 4}, {50, 3.5}, {2000, 2.0}}; /* infeasible start: log y */
    sm_place_point c[1] = {{1, 3.2}};
    sm_place_trace tr[4] = {{a, 4, 4}, {b, 3, 3}, {c, 1, 1}, {NULL, 0, 0}};
    const char *names[4] = {"sa", "ga", "scotch", "empty"};
    const char *path = in_tmp("curves.png");
    assert_int_equal(sm_picture_curves(path, 4, names, tr, "cost against evaluations"), SM_OK);
    image im = read_png(path);
    assert_true(im.w >= 800 && im.h >= 500);
    region r[8];
    int k = top_colours(&im, r, 8), distinct = 0;
    for (int i = 0; i < k; i++) distinct += r[i].count >= 40; /* a line and a legend swatch */
    assert_true(distinct >= 3);
    free(im.px);
    assert_int_equal(sm_picture_curves(path, 2, names, tr, NULL), SM_OK); /* linear y */
}

static void test_errors(void **st) {
    (void)st;
    sm_mesh m = sm_mesh_default();
    m.mesh_w = 2, m.mesh_h = 2;
    double v[4] = {1, 2, 3, 4};
    sm_place_point pt[1] = {{1, 1.0}};
    sm_place_trace tr[1] = {{pt, 1, 1}};
    const char *names[1] = {"sa"};

    /* a directory that does not exist */
    char path[600];
    snprintf(path, sizeof path, "%s/no/such/dir/a.png", tmpdir);
    assert_int_equal(sm_picture_mesh(path, &m, v, "s", v, NULL, "x"), SM_EFAIL);
    assert_non_null(strstr(sm_errmsg(), path));
    assert_int_equal(sm_picture_heatmap(path, v, 2, "x"), SM_EFAIL);
    assert_int_equal(sm_picture_curves(path, 1, names, tr, "x"), SM_EFAIL);
    /* the target is a directory: the temporary file is written, the rename fails */
    const char *dir = in_tmp("taken.png");
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(sm_picture_mesh(dir, &m, v, "s", v, NULL, "x"), SM_EFAIL);
    assert_non_null(strstr(sm_errmsg(), "taken.png"));
    assert_int_equal(sm_picture_heatmap(dir, v, 2, "x"), SM_EFAIL);
    assert_int_equal(sm_picture_curves(dir, 1, names, tr, "x"), SM_EFAIL);
    assert_int_equal(count_entries(), 1); /* only the directory: no temporary left behind */

    /* bad arguments */
    const char *ok = in_tmp("ok.png");
    assert_int_equal(sm_picture_heatmap(ok, v, 0, "x"), SM_EINPUT);
    assert_int_equal(sm_picture_heatmap(ok, v, -3, "x"), SM_EINPUT);
    assert_int_equal(sm_picture_heatmap(ok, NULL, 2, "x"), SM_EINPUT);
    double bad[4] = {1, -2, 3, 4};
    assert_int_equal(sm_picture_heatmap(ok, bad, 2, "x"), SM_EINPUT);
    assert_int_equal(sm_picture_mesh(ok, &m, bad, "s", NULL, NULL, "x"), SM_EINPUT);
    bad[1] = INFINITY; /* NaN is allowed there: "no data" */
    assert_int_equal(sm_picture_mesh(ok, &m, NULL, NULL, bad, NULL, "x"), SM_EINPUT);
    bad[1] = NAN;
    assert_int_equal(sm_picture_heatmap(ok, bad, 2, "x"), SM_EINPUT);
    int64_t loads[16] = {0};
    loads[3] = -1;
    assert_int_equal(sm_picture_mesh(ok, &m, NULL, NULL, NULL, loads, "x"), SM_EINPUT);
    assert_int_equal(sm_picture_mesh(ok, NULL, v, "s", NULL, NULL, "x"), SM_EINPUT);
    m.mesh_w = 0;
    assert_int_equal(sm_picture_mesh(ok, &m, v, "s", NULL, NULL, "x"), SM_EINPUT);
    assert_int_equal(sm_picture_curves(ok, 0, names, tr, "x"), SM_EINPUT);
    assert_int_equal(sm_picture_curves(ok, 1, NULL, tr, "x"), SM_EINPUT);
    assert_int_equal(sm_picture_curves(ok, 1, names, NULL, "x"), SM_EINPUT);
    pt[0].cost = INFINITY;
    assert_int_equal(sm_picture_curves(ok, 1, names, tr, "x"), SM_EINPUT);
    assert_int_equal(count_entries(), 1); /* nothing written on bad input */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_mesh, make_tmpdir, remove_tmpdir),
        cmocka_unit_test_setup_teardown(test_heatmap, make_tmpdir, remove_tmpdir),
        cmocka_unit_test_setup_teardown(test_curves, make_tmpdir, remove_tmpdir),
        cmocka_unit_test_setup_teardown(test_errors, make_tmpdir, remove_tmpdir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
