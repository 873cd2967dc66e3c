/* test_datasets_shd.c — SHD-layout HDF5 spike files written with the HDF5 C
 * API, binned and compared bit by bit against a hand computation; missing
 * datasets, bad units and non-HDF5 files give SM_EINPUT naming the problem. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sm_common.h"
#include "sm_data.h"

static char tmpdir[64];

static const char *at(const char *name) {
    static char paths[8][512];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    return p;
}

/* The file: 3 samples, T = 4 steps over [0, 1) s, 5 units.
 * Step of time s = floor(s * 4): 0.24 -> 0, 0.25 -> 1, 0.5 -> 2, 0.99 -> 3;
 * 1.0, 1.5 and -0.1 lie outside [0, 1) and are dropped. */
enum { NS = 3, T = 4, UNITS = 5 };
static const double TIMES0[] = {0.0, 0.24, 0.25, 0.5, 0.99, 1.0, 1.5, -0.1};
static const uint16_t UNITS0[] = {0, 1, 2, 3, 4, 0, 1, 2};
static const double TIMES1[] = {0.1, 0.2, 0.75};
static const uint16_t UNITS1[] = {3, 3, 0}; /* two spikes of unit 3 in step 0: one bit */
static const int LABELS[NS] = {2, 0, 1};
/* expected[sample][t][u], by hand from the comment above */
static const uint8_t EXPECTED[NS][T][UNITS] = {
    {{1, 1, 0, 0, 0}, {0, 0, 1, 0, 0}, {0, 0, 0, 1, 0}, {0, 0, 0, 0, 1}},
    {{0, 0, 0, 1, 0}, {0, 0, 0, 0, 0}, {0, 0, 0, 0, 0}, {1, 0, 0, 0, 0}},
    {{0}}, /* sample 2 has no spikes */
};

typedef struct {
    int write_times, write_units, write_labels;
    hid_t time_type;  /* H5T_IEEE_F32LE or F64LE */
    hid_t label_type; /* any integer type */
    int bad_unit;     /* write unit UNITS (out of range) into sample 1 */
    int short_units;  /* sample 0 gets one unit fewer than times */
} shd_spec;

/* Write the 3-sample SHD file of the comment above. */
static void write_shd(const char *path, shd_spec spec) {
    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(file >= 0);
    hid_t group = H5Gcreate2(file, "/spikes", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t n = NS;
    hid_t space = H5Screate_simple(1, &n, NULL);

    float t0f[8], t1f[3];
    for (int i = 0; i < 8; i++) t0f[i] = (float)TIMES0[i];
    for (int i = 0; i < 3; i++) t1f[i] = (float)TIMES1[i];
    int f32 = H5Tequal(spec.time_type, H5T_IEEE_F32LE) > 0;
    uint16_t u1[3];
    memcpy(u1, UNITS1, sizeof u1);
    if (spec.bad_unit) u1[2] = UNITS;

    hvl_t times[NS] = {{8, f32 ? (void *)t0f : (void *)TIMES0},
                       {3, f32 ? (void *)t1f : (void *)TIMES1},
                       {0, NULL}};
    hvl_t units[NS] = {{spec.short_units ? 7 : 8, (void *)UNITS0}, {3, u1}, {0, NULL}};
    if (spec.write_times) {
        hid_t file_type = H5Tvlen_create(spec.time_type);
        hid_t mem_type = H5Tvlen_create(f32 ? H5T_NATIVE_FLOAT : H5T_NATIVE_DOUBLE);
        hid_t d = H5Dcreate2(group, "times", file_type, space, H5P_DEFAULT, H5P_DEFAULT,
                             H5P_DEFAULT);
        assert_true(H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, times) >= 0);
        H5Dclose(d), H5Tclose(file_type), H5Tclose(mem_type);
    }
    if (spec.write_units) {
        hid_t file_type = H5Tvlen_create(H5T_STD_U16LE);
        hid_t mem_type = H5Tvlen_create(H5T_NATIVE_UINT16);
        hid_t d = H5Dcreate2(group, "units", file_type, space, H5P_DEFAULT, H5P_DEFAULT,
                             H5P_DEFAULT);
        assert_true(H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, units) >= 0);
        H5Dclose(d), H5Tclose(file_type), H5Tclose(mem_type);
    }
    if (spec.write_labels) {
        hid_t d = H5Dcreate2(file, "/labels", spec.label_type, space, H5P_DEFAULT, H5P_DEFAULT,
                             H5P_DEFAULT);
        assert_true(H5Dwrite(d, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, LABELS) >= 0);
        H5Dclose(d);
    }
    H5Sclose(space);
    H5Gclose(group);
    H5Fclose(file);
}

static shd_spec full_spec(void) {
    shd_spec s = {1, 1, 1, H5T_IEEE_F32LE, H5T_STD_U8LE, 0, 0};
    return s;
}

/* every bit of every sample against EXPECTED, reading the raw bytes (bit
 * k = t*units + u at byte k/8, bit k%8) rather than through the helper */
static void check_bits(const sm_dataset *d, int n) {
    size_t stride = (T * UNITS + 7) / 8;
    assert_int_equal(sm_dataset_event_bytes(d), stride);
    for (int i = 0; i < n; i++)
        for (int t = 0; t < T; t++)
            for (int u = 0; u < UNITS; u++) {
                size_t k = (size_t)t * UNITS + u;
                int bit = (d->events[i * stride + k / 8] >> (k % 8)) & 1;
                if (bit != EXPECTED[i][t][u])
                    fail_msg("sample %d step %d unit %d: got %d, expected %d", i, t, u, bit,
                             EXPECTED[i][t][u]);
                assert_int_equal(sm_dataset_event(d, i, t, u), bit);
            }
    /* no stray bits past T*units in the last byte */
    for (int i = 0; i < n; i++) assert_int_equal(d->events[i * stride + stride - 1] >> 4, 0);
}

static void check_load(shd_spec spec, const char *name) {
    write_shd(at(name), spec);
    sm_dataset d;
    int rc = sm_shd_load(&d, at(name), T, 1.0, UNITS, 0);
    if (rc) fail_msg("%s", sm_errmsg());
    assert_int_equal(d.n, NS);
    assert_int_equal(d.T, T);
    assert_int_equal(d.c, 1);
    assert_int_equal(d.h, 1);
    assert_int_equal(d.w, UNITS);
    assert_null(d.x);
    assert_int_equal(d.n_classes, 3);
    for (int i = 0; i < NS; i++) assert_int_equal(d.y[i], LABELS[i]);
    check_bits(&d, NS);

    /* gather as [T][B][units] floats in the order (2, 0) */
    const int32_t order[2] = {2, 0};
    float x[T * 2 * UNITS];
    int32_t y[2];
    assert_int_equal(sm_gather_batch(&d, order, 0, 2, x, y), 2);
    assert_int_equal(y[0], LABELS[2]);
    assert_int_equal(y[1], LABELS[0]);
    for (int t = 0; t < T; t++)
        for (int b = 0; b < 2; b++)
            for (int u = 0; u < UNITS; u++)
                assert_true(x[(t * 2 + b) * UNITS + u] == (float)EXPECTED[order[b]][t][u]);
    sm_dataset_free(&d);

    assert_int_equal(sm_shd_load(&d, at(name), T, 1.0, UNITS, 2), SM_OK);
    assert_int_equal(d.n, 2);
    assert_int_equal(d.n_classes, 3); /* labels 2 and 0 */
    check_bits(&d, 2);
    sm_dataset_free(&d);
}

static void test_shd_float32_uint8_labels(void **state) { check_load(full_spec(), "f32.h5"); }

static void test_shd_float64_int64_labels(void **state) {
    shd_spec s = full_spec();
    s.time_type = H5T_IEEE_F64LE;
    s.label_type = H5T_STD_I64LE;
    check_load(s, "f64.h5");
}

static void test_shd_t_max_scales_steps(void **state) {
    /* t_max = 2 s, T = 2: step = floor(s / 2 * 2) = floor(s); 1.0 and 1.5 now land in step 1 */
    write_shd(at("scale.h5"), full_spec());
    sm_dataset d;
    assert_int_equal(sm_shd_load(&d, at("scale.h5"), 2, 2.0, UNITS, 0), SM_OK);
    const uint8_t want[2][UNITS] = {{1, 1, 1, 1, 1}, {1, 1, 0, 0, 0}};
    for (int t = 0; t < 2; t++)
        for (int u = 0; u < UNITS; u++) assert_int_equal(sm_dataset_event(&d, 0, t, u), want[t][u]);
    sm_dataset_free(&d);
}

static void expect_input_error(const char *path, int units, const char *w1, const char *w2) {
    sm_dataset d;
    sm_error_clear();
    int rc = sm_shd_load(&d, path, T, 1.0, units, 0);
    print_message("message: %s\n", sm_errmsg());
    assert_int_equal(rc, SM_EINPUT);
    assert_int_equal(d.n, 0);
    assert_null(d.events);
    assert_null(d.y);
    assert_non_null(strstr(sm_errmsg(), w1));
    if (w2) assert_non_null(strstr(sm_errmsg(), w2));
}

static void test_shd_missing_datasets(void **state) {
    shd_spec s = full_spec();
    s.write_labels = 0;
    write_shd(at("nolabels.h5"), s);
    expect_input_error(at("nolabels.h5"), UNITS, "nolabels.h5", "missing dataset /labels");

    s = full_spec();
    s.write_times = 0;
    write_shd(at("notimes.h5"), s);
    expect_input_error(at("notimes.h5"), UNITS, "notimes.h5", "missing dataset /spikes/times");
    expect_input_error(at("notimes.h5"), UNITS, "Spiking Heidelberg Digits", NULL);

    /* no /spikes group at all */
    hid_t f = H5Fcreate(at("empty.h5"), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Fclose(f);
    expect_input_error(at("empty.h5"), UNITS, "empty.h5", "missing dataset /spikes/times");
}

static void test_shd_bad_samples(void **state) {
    shd_spec s = full_spec();
    s.bad_unit = 1;
    write_shd(at("badunit.h5"), s);
    expect_input_error(at("badunit.h5"), UNITS, "badunit.h5", "sample 1");
    /* the same file is fine with more units */
    sm_dataset d;
    assert_int_equal(sm_shd_load(&d, at("badunit.h5"), T, 1.0, UNITS + 1, 0), SM_OK);
    assert_int_equal(sm_dataset_event(&d, 1, 3, UNITS), 1); /* 0.75 s -> step 3 */
    sm_dataset_free(&d);

    s = full_spec();
    s.short_units = 1;
    write_shd(at("short.h5"), s);
    expect_input_error(at("short.h5"), UNITS, "short.h5", "sample 0");
}

static void test_shd_not_hdf5(void **state) {
    FILE *f = fopen(at("text.h5"), "w");
    fputs("this is not an HDF5 file\n", f);
    fclose(f);
    expect_input_error(at("text.h5"), UNITS, "text.h5", "not an HDF5 file");
    expect_input_error(at("missing.h5"), UNITS, "missing.h5", strerror(ENOENT));
    write_shd(at("ok.h5"), full_spec());
    expect_input_error(at("ok.h5"), 0, "ok.h5", "units >= 1");
}

static int setup(void **state) {
    strcpy(tmpdir, "/tmp/sm_test_shd_XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    return remove(path);
}

static int teardown(void **state) { return nftw(tmpdir, remove_entry, 8, FTW_DEPTH | FTW_PHYS); }

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shd_float32_uint8_labels),
        cmocka_unit_test(test_shd_float64_int64_labels),
        cmocka_unit_test(test_shd_t_max_scales_steps),
        cmocka_unit_test(test_shd_missing_datasets),
        cmocka_unit_test(test_shd_bad_samples),
        cmocka_unit_test(test_shd_not_hdf5),
    };
    return cmocka_run_group_tests_name("datasets_shd", tests, setup, teardown);
}
