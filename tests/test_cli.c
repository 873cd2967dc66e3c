/* test_cli.c — the `spikemesh` command as a user meets it, run as a child
 * process ($SPIKEMESH_BUILD_DIR/spikemesh):
 *   - usage: --help of every command (exit 0, usage on stdout), bad usage (exit 2);
 *   - bad input (missing/truncated/bad-magic IDX, corrupt PNG, HDF5 files missing a
 *     dataset or not HDF5 at all, bad config keys, types, ranges, YAML syntax): exit 2
 *     and a message naming the file or key and what was expected;
 *   - a failing run never destroys the files of an earlier run in the same --out;
 *   - resume from a checkpoint gives the same bits as an uninterrupted run;
 *   - the layout of checkpoint.h5 and metrics.h5 (DESIGN.md "Files");
 *   - `spikemesh eval` reproduces the test accuracy recorded in metrics.h5.
 * Never a crash: a child killed by a signal fails the test. Inputs are written
 * to a mkdtemp directory that is removed at the end. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <hdf5.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "cli_util.h"
#include "h5util.h"
#include "sm_common.h"
#include "sm_config.h"

static char tiny[4096];     /* configs/tiny.yaml */
static char run_a[4200];    /* tiny.yaml trained for its 3 epochs, made once in group_setup */

/* ---- test data: IDX, PNG, HDF5 ------------------------------------------- */

enum { IMAGES = 12, SIDE = 4, CLASSES = 3 };

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* An IDX file of `n` 4x4 images (is_images) or labels, whose header says
 * `promised` items; magic as given; raw or gzip. */
static void write_idx(const char *path, int is_images, uint32_t magic, int promised, int n, int gzip) {
    size_t item = is_images ? SIDE * SIDE : 1, head = is_images ? 16 : 8;
    size_t len = head + item * (size_t)n;
    uint8_t *buf = calloc(len, 1);
    put_be32(buf, magic);
    put_be32(buf + 4, (uint32_t)promised);
    if (is_images) { put_be32(buf + 8, SIDE); put_be32(buf + 12, SIDE); }
    for (size_t i = 0; i < item * (size_t)n; i++)
        buf[head + i] = is_images ? (uint8_t)(i * 37 % 256) : (uint8_t)(i % CLASSES);
    if (gzip) {
        gzFile gz = gzopen(path, "wb");
        assert_non_null(gz);
        assert_int_equal(gzwrite(gz, buf, (unsigned)len), (int)len);
        assert_int_equal(gzclose(gz), Z_OK);
    } else {
        write_file(path, buf, len);
    }
    free(buf);
}

/* A config for a one-layer dense network on 4x4 images, with the data keys
 * given as YAML text. */
static void write_small_config(const char *path, const char *data_yaml) {
    write_text(path,
               "seed: 1\n"
               "model:\n"
               "  input: [1, %d, %d]\n"
               "  time_steps: 2\n"
               "  layers:\n"
               "    - {type: dense, out: %d}\n"
               "train:\n"
               "  epochs: 1\n"
               "  batch: 4\n"
               "data:\n%s",
               SIDE, SIDE, CLASSES, data_yaml);
}

static void write_idx_config(const char *path, const char *train_images, const char *train_labels,
                             const char *test_images, const char *test_labels) {
    char data[4096];
    snprintf(data, sizeof data,
             "  source: idx\n  train_images: %s\n  train_labels: %s\n"
             "  test_images: %s\n  test_labels: %s\n",
             train_images, train_labels, test_images, test_labels);
    write_small_config(path, data);
}

static void write_png(const char *path, uint8_t seed) {
    FILE *f = fopen(path, "wb");
    if (!f) fail_msg("cannot write %s", path);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) fail_msg("libpng failed writing %s", path);
    png_init_io(png, f);
    png_set_IHDR(png, info, SIDE, SIDE, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < SIDE; y++) {
        uint8_t row[SIDE];
        for (int x = 0; x < SIDE; x++) row[x] = (uint8_t)(seed * 50 + y * 16 + x * 4);
        png_write_row(png, row);
    }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(f);
}

/* root/{cat,dog,eel}/{a,b}.png */
static void write_png_folder(const char *root) {
    static const char *const classes[CLASSES] = {"cat", "dog", "eel"};
    char path[4300];
    for (int c = 0; c < CLASSES; c++) {
        snprintf(path, sizeof path, "%s/%s", root, classes[c]);
        mkdir_p(path);
        snprintf(path, sizeof path, "%s/%s/a.png", root, classes[c]);
        write_png(path, (uint8_t)c);
        snprintf(path, sizeof path, "%s/%s/b.png", root, classes[c]);
        write_png(path, (uint8_t)(c + 1));
    }
}

/* batch.h5 for tiny.yaml: /x float32 [B,1,8,8], and /y int32 [B] unless without_y. */
/* batch.h5 of B samples (B may be 0: empty datasets) for the tiny model. */
static void write_batch(const char *path, int B, int without_y) {
    float x[5 * 64];
    int32_t y[5];
    assert_true(B <= 5);
    for (int i = 0; i < B * 64; i++) x[i] = (float)((i * 7919) % 101) / 100.0f;
    for (int i = 0; i < B; i++) y[i] = i % 4;
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(f >= 0);
    hsize_t xd[4] = {B, 1, 8, 8}, yd[1] = {B};
    hid_t s = H5Screate_simple(4, xd, NULL);
    hid_t d = H5Dcreate2(f, "x", H5T_IEEE_F32LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(!B || H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x) >= 0);
    H5Dclose(d);
    H5Sclose(s);
    if (!without_y) {
        s = H5Screate_simple(1, yd, NULL);
        d = H5Dcreate2(f, "y", H5T_STD_I32LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        assert_true(!B || H5Dwrite(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, y) >= 0);
        H5Dclose(d);
        H5Sclose(s);
    }
    assert_true(H5Fclose(f) >= 0);
}

static void copy_file(const char *from, const char *to) {
    size_t n;
    char *data = read_all(from, &n);
    if (!data) fail_msg("cannot read %s", from);
    write_file(to, data, n);
    free(data);
}

/* A copy of run A's checkpoint with the link `drop` removed. */
static void write_checkpoint_without(const char *path, const char *drop) {
    char from[4300];
    snprintf(from, sizeof from, "%s/checkpoint.h5", run_a);
    copy_file(from, path);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    assert_true(H5Ldelete(f, drop, H5P_DEFAULT) >= 0);
    assert_true(H5Fclose(f) >= 0);
}

enum { COL_TRAIN_LOSS, COL_TRAIN_ACC, COL_TEST_LOSS, COL_TEST_ACC, COL_LR, COL_WALL, COL_RATE,
       COL_VAL_LOSS, COL_VAL_ACC, COLS };
static const char *const COLUMN[COLS] = {"/train_loss", "/train_accuracy", "/test_loss",
                                         "/test_accuracy", "/lr", "/wall_seconds",
                                         "/samples_per_second", "/validation_loss",
                                         "/validation_accuracy"};

typedef struct { int n; int32_t epoch[16]; double col[COLS][16]; } metrics;

/* metrics.h5 of a run directory, checking every column has one row per epoch. */
static void read_metrics(const char *dir, metrics *mt) {
    char path[4300];
    snprintf(path, sizeof path, "%s/metrics.h5", dir);
    hid_t f = h5_open(path);
    hsize_t dims[8];
    assert_int_equal(h5_read(f, "/epoch", 0, NULL, dims), 1);
    assert_true(dims[0] <= 16);
    mt->n = (int)dims[0];
    h5_read(f, "/epoch", H5T_NATIVE_INT32, mt->epoch, dims);
    for (int c = 0; c < COLS; c++) {
        assert_int_equal(h5_read(f, COLUMN[c], 0, NULL, dims), 1);
        if ((int)dims[0] != mt->n) fail_msg("%s: %s has %d rows, /epoch %d", path, COLUMN[c], (int)dims[0], mt->n);
        h5_read(f, COLUMN[c], H5T_NATIVE_DOUBLE, mt->col[c], dims);
    }
    H5Fclose(f);
}

/* ---- fixtures -------------------------------------------------------------- */

static int group_setup(void **state) {
    if (cli_setup("sm_test_cli", tiny) != 0) return -1;
    /* run A: tiny.yaml as it is (3 epochs, constant lr), shared by several tests */
    snprintf(run_a, sizeof run_a, "%s/A", tmpdir);
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        execl(binary, binary, "train", "-c", tiny, "-q", "--out", run_a, (char *)NULL);
        _exit(127);
    }
    int st;
    if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "training run A (spikemesh train -c %s) failed\n", tiny);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state) {
    cli_teardown();
    return 0;
}

/* ---- 1. usage ---------------------------------------------------------------- */

static void test_help(void **state) {
    run("--help", NULL);
    EXPECT_OUT(0, "usage: spikemesh COMMAND", "train", "eval", "grad");
    run("train", "--help", NULL);
    EXPECT_OUT(0, "usage: spikemesh train", "--resume", "--set");
    run("eval", "--help", NULL);
    EXPECT_OUT(0, "usage: spikemesh eval", "--checkpoint");
    run("grad", "--help", NULL);
    EXPECT_OUT(0, "usage: spikemesh grad", "--batch");
    run("train", "-h", NULL);
    EXPECT_OUT(0, "usage: spikemesh train");
}

static void test_bad_usage(void **state) {
    run(NULL);
    EXPECT_ERR(2, "usage: spikemesh COMMAND");
    run("frobnicate", NULL);
    EXPECT_ERR(2, "unknown command 'frobnicate'", "expected train, eval, grad, place, report, platform or bench");
    run("train", "--frobnicate", NULL);
    EXPECT_ERR(2, "unknown option '--frobnicate'", "usage: spikemesh train");
    run("eval", "--resume", "x", NULL);
    EXPECT_ERR(2, "--resume", "does not apply", "usage: spikemesh eval");
    run("grad", "--quiet", NULL);
    EXPECT_ERR(2, "--quiet", "does not apply");
    run("train", "-c", NULL);
    EXPECT_ERR(2, "'-c'", "needs a value");
    run("train", "-c", tiny, "stray", NULL);
    EXPECT_ERR(2, "unexpected argument 'stray'");
    run("train", NULL);
    EXPECT_ERR(2, "missing -c CONFIG");
    run("eval", "-c", tiny, NULL);
    EXPECT_ERR(2, "missing --checkpoint");
    run("grad", "-c", tiny, "--checkpoint", "x.h5", NULL);
    EXPECT_ERR(2, "--batch", "--out");
}

/* ---- 2. bad input -------------------------------------------------------- */

static void test_idx(void **state) {
    char cfg[4200], ti[4200], tl[4200], vi[4200], vl[4200], bad[4200], out[4200];
    tpath(cfg, "idx.yaml");
    tpath(out, "idx-run");
    tpath(ti, "train-images.idx");
    tpath(tl, "train-labels.idx.gz");
    tpath(vi, "test-images.idx.gz");
    tpath(vl, "test-labels.idx");
    write_idx(ti, 1, 0x803, IMAGES, IMAGES, 0);
    write_idx(tl, 0, 0x801, IMAGES, IMAGES, 1);
    write_idx(vi, 1, 0x803, IMAGES, IMAGES, 1);
    write_idx(vl, 0, 0x801, IMAGES, IMAGES, 0);

    /* the good files train: every failure below is the bad file's doing */
    write_idx_config(cfg, ti, tl, vi, vl);
    run("train", "-c", cfg, "-q", "--out", out, NULL);
    EXPECT_OUT(0, "epoch 1/1", "12 training and 12 test samples",
               "threads: 1 thread per rank (OPENBLAS_NUM_THREADS)"); /* the tests' environment */

    tpath(bad, "absent-images.idx");
    write_idx_config(cfg, bad, tl, vi, vl);
    run("train", "-c", cfg, "-q", "--out", out, NULL);
    EXPECT_BAD(bad, "cannot open", "No such file");
    /* the same through --set on a config that names good files */
    write_idx_config(cfg, ti, tl, vi, vl);
    char set[4300];
    snprintf(set, sizeof set, "data.test_labels=%s", bad);
    run("train", "-c", cfg, "--set", set, "-q", "--out", out, NULL);
    EXPECT_BAD(bad, "cannot open");

    /* truncated: the header promises 12 images, 5 are present (raw and gzip) */
    for (int gzip = 0; gzip < 2; gzip++) {
        tpath(bad, gzip ? "short-images.idx.gz" : "short-images.idx");
        write_idx(bad, 1, 0x803, IMAGES, 5, gzip);
        write_idx_config(cfg, ti, tl, bad, vl);
        run("train", "-c", cfg, "-q", "--out", out, NULL);
        EXPECT_BAD(bad, "truncated", "promises 12 images");
    }
    /* truncated labels */
    tpath(bad, "short-labels.idx");
    write_idx(bad, 0, 0x801, IMAGES, 7, 0);
    write_idx_config(cfg, ti, bad, vi, vl);
    run("train", "-c", cfg, "-q", "--out", out, NULL);
    EXPECT_BAD(bad, "truncated", "labels");
    /* labels count differs from the images count */
    tpath(bad, "few-labels.idx");
    write_idx(bad, 0, 0x801, 7, 7, 0);
    write_idx_config(cfg, ti, bad, vi, vl);
    run("train", "-c", cfg, "-q", "--out", out, NULL);
    EXPECT_BAD(bad, "7 labels", "expected 12");
    /* bad magic: a labels file where images are expected, and garbage */
    write_idx_config(cfg, vl, tl, vi, vl);
    run("train", "-c", cfg, "-q", "--out", out, NULL);
    EXPECT_BAD(vl, "bad magic", "expected 0x00000803");
    tpath(bad, "garbage.idx");
    write_idx(bad, 1, 0x12345678, IMAGES, IMAGES, 1);
    write_idx_config(cfg, ti, tl, bad, vl);
    run("train", "-c", cfg, "-q", "--out", out, NULL);
    EXPECT_BAD(bad, "bad magic 0x12345678", "expected");
    /* shorter than a header */
    tpath(bad, "tiny.idx");
    write_file(bad, "\0\0\x08", 3);
    write_idx_config(cfg, bad, tl, vi, vl);
    run("train", "-c", cfg, "-q", "--out", out, NULL);
    EXPECT_BAD(bad, "too short", "expected");
    /* a gzip stream cut in the middle */
    size_t n;
    char *gz = read_all(vi, &n);
    tpath(bad, "cut.idx.gz");
    write_file(bad, gz, n / 2);
    free(gz);
    write_idx_config(cfg, ti, tl, bad, vl);
    run("train", "-c", cfg, "-q", "--out", out, NULL);
    EXPECT_BAD(bad);
    /* the model does not fit the data: 4x4 images, model.input 8x8 */
    write_idx_config(cfg, ti, tl, vi, vl);
    run("train", "-c", cfg, "--set", "model.input=[1,8,8]", "-q", "--out", out, NULL);
    EXPECT_BAD("training set", "16 values", "model.input");
    /* labels beyond the last layer's outputs */
    run("train", "-c", cfg, "--set", "model.layers.0.out=2", "-q", "--out", out, NULL);
    EXPECT_BAD("labels go up to 2", "'out'");
}

static void test_png_folder(void **state) {
    char cfg[4200], train_dir[4200], test_dir[4200], data[9000], bad[4300], out[4200];
    tpath(cfg, "png.yaml");
    tpath(out, "png-run");
    tpath(train_dir, "png/train");
    tpath(test_dir, "png/test");
    write_png_folder(train_dir);
    write_png_folder(test_dir);
    snprintf(data, sizeof data, "  source: png\n  train_dir: %s\n  test_dir: %s\n", train_dir, test_dir);
    write_small_config(cfg, data);
    run("train", "-c", cfg, "-q", "--out", out, NULL);
    EXPECT_OUT(0, "epoch 1/1", "6 training and 6 test samples");

    /* garbage where a PNG should be */
    snprintf(bad, sizeof bad, "%s/dog/b.png", test_dir);
    write_file(bad, "this is not a png image at all", 30);
    run("train", "-c", cfg, "-q", "--out", out, NULL);
    EXPECT_BAD(bad, "not a PNG file", "signature");
    /* a real PNG cut in half: libpng fails inside the image data */
    char good[4300];
    snprintf(good, sizeof good, "%s/cat/a.png", train_dir);
    size_t n;
    char *png = read_all(good, &n);
    write_file(bad, png, n / 2);
    run("train", "-c", cfg, "-q", "--out", out, NULL);
    EXPECT_BAD(bad, "PNG");
    /* a PNG whose image data are damaged (signature and header intact) */
    for (size_t i = 40; i < n - 12; i++) png[i] ^= 0x5a;
    write_file(bad, png, n);
    free(png);
    run("train", "-c", cfg, "-q", "--out", out, NULL);
    EXPECT_BAD(bad, "PNG");
    /* a well-formed PNG of a kind libpng refuses: IHDR says compression method 1
     * (only 0 is defined), with its CRC made right so that only the kind is wrong */
    png = read_all(good, &n);
    assert_memory_equal(png + 12, "IHDR", 4);
    png[26] = 1;
    uint32_t crc = (uint32_t)crc32(0, (const Bytef *)png + 12, 17);
    for (int k = 0; k < 4; k++) png[29 + k] = (char)(crc >> (24 - 8 * k));
    write_file(bad, png, n);
    free(png);
    run("train", "-c", cfg, "-q", "--out", out, NULL);
    EXPECT_BAD(bad, "a kind of PNG that cannot be read", "compression method");
    write_png(bad, 1);
    /* wrong size without resizing */
    run("train", "-c", cfg, "--set", "model.input=[1,5,5]", "-q", "--out", out, NULL);
    EXPECT_BAD(".png", "expected 5x5");
    /* a class folder without images */
    char empty[4300];
    snprintf(empty, sizeof empty, "%s/fox", test_dir);
    mkdir_p(empty);
    run("train", "-c", cfg, "-q", "--out", out, NULL);
    EXPECT_BAD(empty, "empty class folder");
    rmdir(empty);
    /* source png without folders */
    write_small_config(cfg, "  source: png\n");
    run("train", "-c", cfg, "-q", "--out", out, NULL);
    EXPECT_BAD("data.train_dir", "data.test_dir");
}

static void test_hdf5_inputs(void **state) {
    char ckpt[4300], batch[4200], grads[4200], bad[4200];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.h5", run_a);
    tpath(batch, "batch.h5");
    tpath(grads, "grads.h5");

    /* a good batch gives gradients */
    write_batch(batch, 5, 0);
    run("grad", "-c", tiny, "--checkpoint", ckpt, "--batch", batch, "--out", grads, NULL);
    EXPECT_OUT(0, "loss ", "1_dense", "wrote");
    hid_t f = h5_open(grads);
    hsize_t dims[8];
    assert_int_equal(h5_read(f, "/layers/1_dense/weight_grad", 0, NULL, dims), 2);
    assert_int_equal(dims[0], 16);
    assert_int_equal(dims[1], 64);
    double loss;
    assert_int_equal(h5_read(f, "/loss", H5T_NATIVE_DOUBLE, &loss, dims), 0);
    assert_true(isfinite(loss) && loss > 0);
    H5Fclose(f);

    /* batch.h5 without /y */
    tpath(bad, "batch-no-y.h5");
    write_batch(bad, 5, 1);
    run("grad", "-c", tiny, "--checkpoint", ckpt, "--batch", bad, "--out", grads, NULL);
    EXPECT_BAD(bad, "missing dataset /y");
    /* empty /x and /y */
    tpath(bad, "batch-empty.h5");
    write_batch(bad, 0, 0);
    run("grad", "-c", tiny, "--checkpoint", ckpt, "--batch", bad, "--out", grads, NULL);
    EXPECT_BAD(bad, "/x");
    /* a batch shaped for another model */
    run("grad", "-c", tiny, "--set", "model.input=[1,6,6]", "--checkpoint", ckpt, "--batch", batch,
        "--out", grads, NULL);
    EXPECT_BAD("expected");

    /* a checkpoint missing a layer, for eval and grad */
    tpath(bad, "ckpt-no-layer.h5");
    write_checkpoint_without(bad, "/layers/1_dense");
    run("eval", "-c", tiny, "--checkpoint", bad, NULL);
    EXPECT_BAD(bad, "/layers/1_dense", "layer 1");
    run("grad", "-c", tiny, "--checkpoint", bad, "--batch", batch, "--out", grads, NULL);
    EXPECT_BAD(bad, "/layers/1_dense");
    /* ... missing one dataset of a layer */
    tpath(bad, "ckpt-no-bias.h5");
    write_checkpoint_without(bad, "/layers/2_dense/bias");
    run("eval", "-c", tiny, "--checkpoint", bad, NULL);
    EXPECT_BAD(bad, "missing dataset /layers/2_dense/bias");
    /* ... missing its /meta (format) */
    tpath(bad, "ckpt-no-meta.h5");
    write_checkpoint_without(bad, "/meta");
    run("eval", "-c", tiny, "--checkpoint", bad, NULL);
    EXPECT_BAD(bad, "format", "/meta");
    /* ... and resumed from, which also reads the optimizer state */
    char out[4200];
    tpath(bad, "ckpt-no-moment.h5");
    tpath(out, "resume-no-moment");
    write_checkpoint_without(bad, "/optim/layers/0_conv2d/v_weight");
    run("train", "-c", tiny, "-q", "--resume", bad, "--set", "train.epochs=4", "--out", out, NULL);
    EXPECT_BAD(bad, "/optim/layers/0_conv2d/v_weight");
    /* a checkpoint of another network: shapes are checked */
    run("eval", "-c", tiny, "--set", "model.layers.1.out=8", "--checkpoint", ckpt, NULL);
    EXPECT_BAD(ckpt, "1_dense/weight", "expected [8,64]");

    /* not HDF5 at all, truncated, absent */
    tpath(bad, "not-a-checkpoint.h5");
    write_text(bad, "seed: 3\n");
    run("eval", "-c", tiny, "--checkpoint", bad, NULL);
    EXPECT_BAD(bad, "not an HDF5 file");
    run("grad", "-c", tiny, "--checkpoint", ckpt, "--batch", bad, "--out", grads, NULL);
    EXPECT_BAD(bad, "not an HDF5 file");
    size_t n;
    char *bytes = read_all(ckpt, &n);
    tpath(bad, "cut-checkpoint.h5");
    write_file(bad, bytes, n / 2);
    free(bytes);
    run("eval", "-c", tiny, "--checkpoint", bad, NULL);
    EXPECT_BAD(bad);
    tpath(bad, "absent.h5");
    run("eval", "-c", tiny, "--checkpoint", bad, NULL);
    EXPECT_BAD(bad, "cannot open");
    /* an HDF5 file that is not a checkpoint (the batch) */
    run("eval", "-c", tiny, "--checkpoint", batch, NULL);
    EXPECT_BAD(batch, "/meta");
}

static void test_config_errors(void **state) {
    char cfg[4200], out[4200];
    tpath(out, "cfg-run");
    size_t n;
    char *text = read_all(tiny, &n);
    assert_non_null(text);

    /* unknown key in the file: file:line, the key, and a suggestion */
    char *lr = strstr(text, "  lr: 2.0e-3\n");
    assert_non_null(lr);
    int line = 1;
    for (char *p = text; p < lr; p++) line += *p == '\n';
    char *edited = malloc(n + 8), where[4300];
    memcpy(edited, text, (size_t)(lr - text));
    sprintf(edited + (lr - text), "  lrr%s", lr + 4);
    tpath(cfg, "unknown-key.yaml");
    write_text(cfg, "%s", edited);
    snprintf(where, sizeof where, "%s:%d", cfg, line);
    run("train", "-c", cfg, "-q", "--out", out, NULL);
    EXPECT_BAD(where, "unknown key 'train.lrr'", "did you mean 'train.lr'");
    free(edited);

    /* wrong type and out of range in the file */
    tpath(cfg, "bad-beta.yaml");
    edited = strdup(text);
    char *beta = strstr(edited, "beta: 0.9");
    assert_non_null(beta);
    memcpy(beta, "beta: 1.5", 9);
    write_text(cfg, "%s", edited);
    free(edited);
    run("train", "-c", cfg, "-q", "--out", out, NULL);
    EXPECT_BAD(cfg, "'model.beta'", "expected a number", "1.5");

    /* the same through --set */
    run("train", "-c", tiny, "-q", "--out", out, "--set", "train.lr=abc", NULL);
    EXPECT_BAD("train.lr=abc", "'train.lr'", "expected a number", "'abc'");
    run("train", "-c", tiny, "-q", "--out", out, "--set", "model.beta=1.5", NULL);
    EXPECT_BAD("'model.beta'", "expected a number in", "'1.5'");
    run("train", "-c", tiny, "-q", "--out", out, "--set", "train.batch=0", NULL);
    EXPECT_BAD("'train.batch'", "expected an integer in [1,", "'0'");
    run("train", "-c", tiny, "-q", "--out", out, "--set", "train.optimizer=adamw", NULL);
    EXPECT_BAD("'train.optimizer'", "adam", "sgd");
    run("train", "-c", tiny, "-q", "--out", out, "--set", "train.lrr=1", NULL);
    EXPECT_BAD("--set train.lrr=1", "unknown key 'train.lrr'", "did you mean 'train.lr'");
    run("train", "-c", tiny, "-q", "--out", out, "--set", "nosuch.key=1", NULL);
    EXPECT_BAD("nosuch.key=1", "unknown key 'nosuch");
    run("train", "-c", tiny, "-q", "--out", out, "--set", "train.lr", NULL);
    EXPECT_BAD("train.lr");
    run("eval", "-c", tiny, "--checkpoint", "x.h5", "--set", "model.layers.7.out=3", NULL);
    EXPECT_BAD("model.layers.7");

    /* a config that does not exist, and YAML that does not parse */
    tpath(cfg, "absent.yaml");
    run("train", "-c", cfg, "-q", "--out", out, NULL);
    EXPECT_BAD(cfg, "cannot open");
    tpath(cfg, "syntax.yaml");
    write_text(cfg, "seed: 3\nmodel:\n  input: [1, 8, 8\n  time_steps: 6\n");
    snprintf(where, sizeof where, "%s:", cfg);
    run("train", "-c", cfg, "-q", "--out", out, NULL);
    EXPECT_BAD(where, "expected");
    tpath(cfg, "duplicate.yaml");
    write_text(cfg, "%sseed: 4\n", text);
    run("train", "-c", cfg, "-q", "--out", out, NULL);
    EXPECT_BAD(cfg, "seed");
    tpath(cfg, "list.yaml");
    write_text(cfg, "- 1\n- 2\n");
    run("train", "-c", cfg, "-q", "--out", out, NULL);
    EXPECT_BAD(cfg, "mapping");
    free(text);
    /* none of these runs made a run directory */
    struct stat sb;
    assert_int_not_equal(stat(out, &sb), 0);
}

/* ---- 3. a failing run loses nothing ------------------------------------- */

static int count_tmp_files(const char *dir) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += strstr(e->d_name, ".tmp") != NULL;
    closedir(d);
    return n;
}

/* placement.h5 holding /lc_core = v[0..n), stored as file_type (the values
 * converted by libhdf5). */
static void write_lc_core_as(const char *path, const double *v, int n, hid_t file_type) {
    hsize_t dim = (hsize_t)n;
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), sp = H5Screate_simple(1, &dim, NULL);
    hid_t d = H5Dcreate2(f, "lc_core", file_type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
    H5Dclose(d);
    H5Sclose(sp);
    H5Fclose(f);
}

/* placement.h5 holding /lc_core = v[0..n) as int32. */
static void write_lc_core(const char *path, const int32_t *v, int n) {
    double d[16];
    assert_true(n <= 16);
    for (int i = 0; i < n; i++) d[i] = v[i];
    write_lc_core_as(path, d, n, H5T_STD_I32LE);
}

static void test_failed_run_keeps_files(void **state) {
    static const char *const files[] = {"checkpoint.h5", "metrics.h5", "config.yaml"};
    char dir[4200], path[4300], absent[4200], notckpt[4200];
    tpath(dir, "keep");
    run("train", "-c", tiny, "-q", "--set", "train.epochs=1", "--out", dir, NULL);
    EXPECT_OUT(0, "epoch 1/1");
    char *before[3];
    size_t len[3];
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        before[i] = read_all(path, &len[i]);
        if (!before[i]) fail_msg("%s was not written", path);
    }
    tpath(absent, "absent-train-images.gz");
    char set[4300];
    snprintf(set, sizeof set, "data.train_images=%s", absent);
    tpath(notckpt, "keep-not-a-checkpoint.h5");
    write_text(notckpt, "nothing\n");
    /* placement files for the tiny model's 3 LCs on 1 rank: all on core 0 (fits
     * only a large core), one entry short, a core that does not exist */
    static const int32_t on_core_0[3] = {0, 0, 0}, core_7[3] = {0, 0, 7};
    char placement[4200], short_placement[4200], far_placement[4200];
    tpath(placement, "keep-all-on-core-0.h5");
    tpath(short_placement, "keep-short.h5");
    tpath(far_placement, "keep-core-7.h5");
    write_lc_core(placement, on_core_0, 3);
    write_lc_core(short_placement, on_core_0, 2);
    write_lc_core(far_placement, core_7, 3);
    /* and two that libhdf5 would convert without a word: fractions, and a core past int32 */
    static const double fractions[3] = {0, 0.4, 0.7}, huge[3] = {0, 0, 1099511627776.0};
    char float_placement[4200], huge_placement[4200];
    tpath(float_placement, "keep-fractions.h5");
    tpath(huge_placement, "keep-huge.h5");
    write_lc_core_as(float_placement, fractions, 3, H5T_IEEE_F64LE);
    write_lc_core_as(huge_placement, huge, 3, H5T_STD_I64LE);
    char pset[4300], pset_short[4300], pset_far[4300], pset_float[4300], pset_huge[4300];
    snprintf(pset, sizeof pset, "placement.file=%s", placement);
    snprintf(pset_short, sizeof pset_short, "placement.file=%s", short_placement);
    snprintf(pset_far, sizeof pset_far, "placement.file=%s", far_placement);
    snprintf(pset_float, sizeof pset_float, "placement.file=%s", float_placement);
    snprintf(pset_huge, sizeof pset_huge, "placement.file=%s", huge_placement);
    for (int attempt = 0; attempt < 9; attempt++) {
        switch (attempt) {
        case 0: /* bad data, found after the config was read */
            run("train", "-c", tiny, "-q", "--set", "data.source=idx", "--set", set, "--out", dir, NULL);
            EXPECT_BAD(absent);
            break;
        case 1: /* the same while resuming from the run's own checkpoint */
            snprintf(path, sizeof path, "%s/checkpoint.h5", dir);
            run("train", "-c", tiny, "-q", "--resume", path, "--set", "train.epochs=3", "--set",
                "data.source=idx", "--set", set, "--out", dir, NULL);
            EXPECT_BAD(absent);
            break;
        case 2: /* a bad checkpoint to resume from */
            run("train", "-c", tiny, "-q", "--resume", notckpt, "--out", dir, NULL);
            EXPECT_BAD(notckpt);
            break;
        case 3: /* a bad config */
            run("train", "-c", tiny, "-q", "--set", "train.batch=0", "--out", dir, NULL);
            EXPECT_BAD("train.batch");
            break;
        case 4: /* a placement whose core 0 cannot hold its LCs (each fits alone) */
            run("train", "-c", tiny, "-q", "--set", pset, "--set", "chip.core_memory=40000", "--out", dir, NULL);
            EXPECT_BAD(placement, "core 0 (0,0) would hold LCs 0 (0_conv2d), 1 (1_dense), 2 (2_dense)",
                       "51104 bytes", "chip.core_memory is 40000 bytes");
            break;
        case 5: /* a placement of the wrong length */
            run("train", "-c", tiny, "-q", "--set", pset_short, "--out", dir, NULL);
            EXPECT_BAD(short_placement, "/lc_core must be int32 [3]");
            break;
        case 6: /* a core the job does not have */
            run("train", "-c", tiny, "-q", "--set", pset_far, "--out", dir, NULL);
            EXPECT_BAD(far_placement, "/lc_core[2] = 7", "expected a core in 0..0");
            break;
        case 7: /* fractions (libhdf5 would truncate them to 0, 0, 0, a placement that fits) */
            run("train", "-c", tiny, "-q", "--set", pset_float, "--out", dir, NULL);
            EXPECT_BAD(float_placement, "/lc_core holds floating-point numbers, expected integers");
            break;
        case 8: /* a core past int32 (libhdf5 would clamp it to 2^31 - 1) */
            run("train", "-c", tiny, "-q", "--set", pset_huge, "--out", dir, NULL);
            EXPECT_BAD(huge_placement, "element 2 is 1099511627776, outside the 32-bit integers");
            break;
        }
        for (int i = 0; i < 3; i++) {
            snprintf(path, sizeof path, "%s/%s", dir, files[i]);
            size_t n;
            char *after = read_all(path, &n);
            if (!after) fail_msg("attempt %d: %s was removed", attempt, path);
            if (n != len[i] || memcmp(after, before[i], n) != 0)
                fail_msg("attempt %d (spikemesh %s) changed %s", attempt, R.cmdline, path);
            free(after);
        }
        assert_int_equal(count_tmp_files(dir), 0);
    }
    for (int i = 0; i < 3; i++) free(before[i]);
}

/* ---- 4. resume is exact -------------------------------------------------- */

/* Train `epochs_first` epochs into DIR, then resume from DIR/checkpoint.h5 to
 * 3 epochs; `extra` is one more --set for both legs (or NULL). */
static void train_then_resume(const char *dir, int epochs_first, const char *extra) {
    char first[64], ckpt[4300];
    snprintf(first, sizeof first, "train.epochs=%d", epochs_first);
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.h5", dir);
    const char *x = extra ? "--set" : NULL;
    run("train", "-c", tiny, "-q", "--out", dir, "--set", first, x, extra, NULL);
    EXPECT_OUT(0, "epoch 1/");
    hid_t f = h5_open(ckpt);
    assert_int_equal(h5_attr_int(f, "/meta", "epoch"), epochs_first);
    H5Fclose(f);
    run("train", "-c", tiny, "-q", "--resume", ckpt, "--set", "train.epochs=3", "--out", dir, x,
        extra, NULL);
    EXPECT_OUT(0, "epoch 3/3");
    assert_null(strstr(R.out, "epoch 1/3"));
}

/* Rows of two runs' metrics have the same bits (NaN validation columns
 * included), except the timings. */
static void assert_metrics_identical(const metrics *a, const metrics *b) {
    assert_int_equal(a->n, b->n);
    for (int i = 0; i < a->n; i++) {
        assert_int_equal(a->epoch[i], b->epoch[i]);
        for (int c = 0; c < COLS; c++)
            if (c != COL_WALL && c != COL_RATE && memcmp(&a->col[c][i], &b->col[c][i], sizeof(double)))
                fail_msg("metrics %s row %d: %.17g vs %.17g", COLUMN[c], i, a->col[c][i], b->col[c][i]);
    }
}

static void test_resume_constant_lr(void **state) {
    char dir[4200], a_ckpt[4300], c_ckpt[4300];
    tpath(dir, "resume-constant");
    train_then_resume(dir, 1, NULL);
    snprintf(a_ckpt, sizeof a_ckpt, "%s/checkpoint.h5", run_a);
    snprintf(c_ckpt, sizeof c_ckpt, "%s/checkpoint.h5", dir);
    assert_checkpoints_identical(a_ckpt, c_ckpt);
    metrics a, c;
    read_metrics(run_a, &a);
    read_metrics(dir, &c);
    assert_int_equal(c.n, 3);
    for (int i = 0; i < 3; i++) assert_int_equal(c.epoch[i], i);
    assert_metrics_identical(&a, &c);
    /* resuming a finished run trains nothing and changes nothing */
    run("train", "-c", tiny, "-q", "--resume", c_ckpt, "--out", dir, NULL);
    EXPECT_OUT(0, "nothing to train");
    assert_checkpoints_identical(a_ckpt, c_ckpt);
    read_metrics(dir, &c);
    assert_metrics_identical(&a, &c);
}

/* The step schedule depends on the epoch only, not on train.epochs, so a first
 * leg run with train.epochs=1 follows the same schedule as the 3-epoch run. */
static void test_resume_step_lr(void **state) {
    static const char *const sets[] = {"train.lr_schedule=step", "train.lr_gamma=0.5", NULL};
    char dir[4200], ref[4200], a_ckpt[4300], c_ckpt[4300];
    tpath(ref, "step-ref");
    tpath(dir, "step-resume");
    run("train", "-c", tiny, "-q", "--out", ref, "--set", sets[0], "--set", sets[1], NULL);
    EXPECT_OUT(0, "epoch 3/3");
    snprintf(a_ckpt, sizeof a_ckpt, "%s/checkpoint.h5", ref);
    snprintf(c_ckpt, sizeof c_ckpt, "%s/checkpoint.h5", dir);
    run("train", "-c", tiny, "-q", "--out", dir, "--set", "train.epochs=1", "--set", sets[0],
        "--set", sets[1], NULL);
    EXPECT_OUT(0, "epoch 1/1");
    run("train", "-c", tiny, "-q", "--resume", c_ckpt, "--set", "train.epochs=3", "--set", sets[0],
        "--set", sets[1], "--out", dir, NULL);
    EXPECT_OUT(0, "epoch 3/3");
    assert_checkpoints_identical(a_ckpt, c_ckpt);
    metrics a, c;
    read_metrics(ref, &a);
    read_metrics(dir, &c);
    assert_metrics_identical(&a, &c);
    assert_true(c.col[COL_LR][2] == 2.0e-3 * 0.25); /* the schedule did act */
}

/* The cosine schedule is a function of (step, total steps), and total steps =
 * steps per epoch x train.epochs of the CURRENT run. A first leg run with
 * train.epochs=1 anneals over 8 steps instead of 24, so its weights differ from
 * epoch 1 of the 3-epoch run and bit-identity with run A is NOT an invariant.
 * What is: the resumed leg continues at the checkpoint's step with the 3-epoch
 * schedule, so its learning rates for epochs 1 and 2 equal the uninterrupted
 * run's exactly, and it ends at the same step. */
static void test_resume_cosine_lr(void **state) {
    char dir[4200], ref[4200];
    tpath(ref, "cosine-ref");
    tpath(dir, "cosine-resume");
    run("train", "-c", tiny, "-q", "--out", ref, "--set", "train.lr_schedule=cosine", NULL);
    EXPECT_OUT(0, "epoch 3/3");
    train_then_resume(dir, 1, "train.lr_schedule=cosine");
    metrics a, c;
    read_metrics(ref, &a);
    read_metrics(dir, &c);
    assert_int_equal(c.n, 3);
    for (int i = 0; i < 3; i++) assert_int_equal(c.epoch[i], i);
    assert_true(a.col[COL_LR][1] == c.col[COL_LR][1]);
    assert_true(a.col[COL_LR][2] == c.col[COL_LR][2]);
    /* the first leg's own 1-epoch schedule: its last lr is lr_min + a hair, not A's */
    assert_true(c.col[COL_LR][0] < a.col[COL_LR][0]);
    char a_ckpt[4300], c_ckpt[4300];
    snprintf(a_ckpt, sizeof a_ckpt, "%s/checkpoint.h5", ref);
    snprintf(c_ckpt, sizeof c_ckpt, "%s/checkpoint.h5", dir);
    hid_t fa = h5_open(a_ckpt), fc = h5_open(c_ckpt);
    assert_int_equal(h5_attr_int(fa, "/meta", "step"), h5_attr_int(fc, "/meta", "step"));
    assert_int_equal(h5_attr_int(fc, "/meta", "epoch"), 3);
    H5Fclose(fa);
    H5Fclose(fc);
}

/* ---- 5. file layout ------------------------------------------------------ */

static void assert_shape(hid_t f, const char *name, hid_t want_class, int rank, const hsize_t *want) {
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) fail_msg("missing dataset %s", name);
    hid_t t = H5Dget_type(d);
    assert_int_equal(H5Tget_class(t), want_class);
    assert_int_equal(H5Tget_size(t), 4); /* float32, int32 */
    H5Tclose(t);
    H5Dclose(d);
    hsize_t dims[8];
    assert_int_equal(h5_read(f, name, 0, NULL, dims), rank);
    for (int i = 0; i < rank; i++)
        if (dims[i] != want[i]) fail_msg("%s: dim %d is %llu, expected %llu", name, i,
                                         (unsigned long long)dims[i], (unsigned long long)want[i]);
}

static void test_checkpoint_layout(void **state) {
    char path[4300];
    snprintf(path, sizeof path, "%s/checkpoint.h5", run_a);
    hid_t f = h5_open(path);
    char *format = h5_attr_string(f, "/meta", "format");
    assert_string_equal(format, "spikemesh-checkpoint");
    free(format);
    assert_int_equal(h5_attr_int(f, "/meta", "version"), 2);
    long checked = 0; /* every dataset carries a checksum, and it holds */
    assert_int_equal(sm_h5_verify_checksums(f, path, 1, &checked), 0);
    assert_true(checked >= 13);
    assert_int_equal(h5_attr_int(f, "/meta", "epoch"), 3);
    assert_int_equal(h5_attr_int(f, "/meta", "step"), 3 * 256 / 32);
    assert_int_equal(h5_attr_int(f, "/meta", "seed"), 3);
    assert_int_equal(h5_attr_int(f, "/optim", "step"), 3 * 256 / 32);
    char *kind = h5_attr_string(f, "/optim", "kind");
    assert_string_equal(kind, "adam");
    free(kind);

    static const hsize_t w0[] = {4, 1, 3, 3}, b0[] = {4}, w1[] = {16, 64}, b1[] = {16},
                         w2[] = {4, 16}, b2[] = {4}, lcs[] = {3};
    assert_shape(f, "/layers/0_conv2d/weight", H5T_FLOAT, 4, w0);
    assert_shape(f, "/layers/0_conv2d/bias", H5T_FLOAT, 1, b0);
    assert_shape(f, "/layers/1_dense/weight", H5T_FLOAT, 2, w1);
    assert_shape(f, "/layers/1_dense/bias", H5T_FLOAT, 1, b1);
    assert_shape(f, "/layers/2_dense/weight", H5T_FLOAT, 2, w2);
    assert_shape(f, "/layers/2_dense/bias", H5T_FLOAT, 1, b2);
    assert_shape(f, "/optim/layers/0_conv2d/m_weight", H5T_FLOAT, 4, w0);
    assert_shape(f, "/optim/layers/2_dense/v_bias", H5T_FLOAT, 1, b2);
    assert_shape(f, "/placement/lc_core", H5T_INTEGER, 1, lcs);
    /* trained weights are finite and not all zero */
    float w[16 * 64];
    hsize_t dims[8];
    h5_read(f, "/layers/1_dense/weight", H5T_NATIVE_FLOAT, w, dims);
    double sum = 0;
    for (int i = 0; i < 16 * 64; i++) { assert_true(isfinite(w[i])); sum += fabs(w[i]); }
    assert_true(sum > 0);

    /* the stored config is the effective config: it loads back with the same values */
    char *text = h5_attr_string(f, "/meta", "config");
    H5Fclose(f);
    sm_cfg *cfg = NULL;
    assert_int_equal(sm_cfg_load_string(&cfg, text, "checkpoint /meta config"), SM_OK);
    long v;
    double d;
    const char *s;
    assert_int_equal(sm_cfg_int(cfg, "seed", 0, 0, 1000, &v), SM_OK);
    assert_int_equal(v, 3);
    assert_int_equal(sm_cfg_int(cfg, "train.epochs", 0, 0, 1000, &v), SM_OK);
    assert_int_equal(v, 3);
    assert_int_equal(sm_cfg_int(cfg, "model.time_steps", 0, 0, 1000, &v), SM_OK);
    assert_int_equal(v, 6);
    assert_int_equal(sm_cfg_double(cfg, "train.lr", 0, 0, 1, &d), SM_OK);
    assert_true(d == 2.0e-3);
    assert_int_equal(sm_cfg_string(cfg, "model.layers.0.type", "", NULL, &s), SM_OK);
    assert_string_equal(s, "conv2d");
    sm_cfg_free(cfg);
    /* config.yaml of the run holds the same text */
    snprintf(path, sizeof path, "%s/config.yaml", run_a);
    size_t n;
    char *yaml = read_all(path, &n);
    assert_non_null(yaml);
    assert_string_equal(yaml, text);
    free(yaml);
    free(text);

    /* --set overrides reach the stored config */
    char dir[4200];
    tpath(dir, "layout-set");
    run("train", "-c", tiny, "-q", "--out", dir, "--set", "train.epochs=1", "--set", "seed=11", "--set",
        "train.threads=2", NULL);
    EXPECT_OUT(0, "epoch 1/1", "threads: 2 threads per rank (train.threads)");
    snprintf(path, sizeof path, "%s/checkpoint.h5", dir);
    f = h5_open(path);
    assert_int_equal(h5_attr_int(f, "/meta", "seed"), 11);
    assert_int_equal(h5_attr_int(f, "/meta", "epoch"), 1);
    text = h5_attr_string(f, "/meta", "config");
    H5Fclose(f);
    assert_int_equal(sm_cfg_load_string(&cfg, text, "checkpoint /meta config"), SM_OK);
    assert_int_equal(sm_cfg_int(cfg, "seed", 0, 0, 1000, &v), SM_OK);
    assert_int_equal(v, 11);
    assert_int_equal(sm_cfg_int(cfg, "train.epochs", 0, 0, 1000, &v), SM_OK);
    assert_int_equal(v, 1);
    sm_cfg_free(cfg);
    free(text);
}

/* The thread count changes no bit: a run on 3 threads (more than this
 * machine's CPUs, and more than some kernels have rows or channels to share)
 * ends with the checkpoint of a run on one. Two conv layers, so that the
 * second takes spikes (the event-driven kernels), and dense layers (sgemm and
 * events). test_parallel checks each kernel alone. */
static void test_threads_same_bits(void **state) {
    char cfg[4200], one[4200], three[4200], a[4300], b[4300];
    tpath(cfg, "threads.yaml");
    write_text(cfg, "seed: 5\n"
                    "model:\n  input: [1, 8, 8]\n  time_steps: 5\n  encoder: direct\n  beta: 0.9\n"
                    "  layers:\n"
                    "    - {type: conv2d, out: 4, kernel: 3, padding: 1, pool: max, pool_size: 2}\n"
                    "    - {type: conv2d, out: 6, kernel: 3, padding: 1, pool: max, pool_size: 2}\n"
                    "    - {type: dense, out: 16}\n    - {type: dense, out: 4}\n"
                    "train: {epochs: 1, batch: 32, loss: ce_count, optimizer: adam, lr: 2.0e-3}\n"
                    "data: {source: synthetic, synthetic_train: 128, synthetic_test: 64}\n");
    tpath(one, "threads-1");
    tpath(three, "threads-3");
    run("train", "-c", cfg, "-q", "--out", one, "--set", "train.threads=1", NULL);
    EXPECT_OUT(0, "epoch 1/1", "threads: 1 thread per rank (train.threads)");
    run("train", "-c", cfg, "-q", "--out", three, "--set", "train.threads=3", NULL);
    EXPECT_OUT(0, "epoch 1/1", "threads: 3 threads per rank (train.threads)");
    snprintf(a, sizeof a, "%s/checkpoint.h5", one);
    snprintf(b, sizeof b, "%s/checkpoint.h5", three);
    assert_checkpoints_identical(a, b);
}

static void test_metrics_layout(void **state) {
    metrics mt;
    read_metrics(run_a, &mt); /* checks every column's length */
    assert_int_equal(mt.n, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(mt.epoch[i], i);
        for (int c = 0; c < COL_VAL_LOSS; c++) assert_true(isfinite(mt.col[c][i]));
        assert_true(isnan(mt.col[COL_VAL_LOSS][i]) && isnan(mt.col[COL_VAL_ACC][i])); /* none held out */
        assert_true(mt.col[COL_TRAIN_ACC][i] >= 0 && mt.col[COL_TRAIN_ACC][i] <= 1);
        assert_true(mt.col[COL_TEST_ACC][i] >= 0 && mt.col[COL_TEST_ACC][i] <= 1);
        assert_true(mt.col[COL_LR][i] == 2.0e-3);
        assert_true(mt.col[COL_TRAIN_LOSS][i] > 0);
        assert_true(mt.col[COL_WALL][i] >= 0);
    }
    /* the tiny net learns its synthetic task a little */
    assert_true(mt.col[COL_TRAIN_LOSS][2] < mt.col[COL_TRAIN_LOSS][0]);
    char path[4300];
    snprintf(path, sizeof path, "%s/metrics.h5", run_a);
    hid_t f = h5_open(path);
    hid_t d = H5Dopen2(f, "/epoch", H5P_DEFAULT);
    hid_t t = H5Dget_type(d);
    assert_int_equal(H5Tget_class(t), H5T_INTEGER);
    H5Tclose(t);
    H5Dclose(d);
    d = H5Dopen2(f, "/test_accuracy", H5P_DEFAULT);
    t = H5Dget_type(d);
    assert_int_equal(H5Tget_class(t), H5T_FLOAT);
    assert_int_equal(H5Tget_size(t), 8);
    H5Tclose(t);
    H5Dclose(d);
    assert_int_equal(h5_attr_int(f, "/", "seed"), 3);
    char *config = h5_attr_string(f, "/", "config");
    assert_non_null(strstr(config, "time_steps: 6"));
    free(config);
    H5Fclose(f);

    /* with data.validation, the validation columns are filled */
    char dir[4200];
    tpath(dir, "validation");
    run("train", "-c", tiny, "-q", "--out", dir, "--set", "train.epochs=2", "--set",
        "data.validation=0.25", NULL);
    EXPECT_OUT(0, "192 training", "validation: 64 samples");
    read_metrics(dir, &mt);
    assert_int_equal(mt.n, 2);
    for (int i = 0; i < 2; i++) {
        assert_true(isfinite(mt.col[COL_VAL_LOSS][i]) && mt.col[COL_VAL_LOSS][i] > 0);
        assert_true(mt.col[COL_VAL_ACC][i] >= 0 && mt.col[COL_VAL_ACC][i] <= 1);
    }
}

/* ---- 6. eval ------------------------------------------------------------- */

static void test_eval_matches_metrics(void **state) {
    char ckpt[4300];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.h5", run_a);
    run("eval", "-c", tiny, "--checkpoint", ckpt, NULL);
    EXPECT_OUT(0, "accuracy");
    const char *p = strstr(R.out, "accuracy ");
    double printed = -1, loss = -1;
    assert_int_equal(sscanf(p, "accuracy %lf%%  loss %lf", &printed, &loss), 2);
    metrics mt;
    read_metrics(run_a, &mt);
    double want = 100 * mt.col[COL_TEST_ACC][mt.n - 1];
    if (fabs(printed - want) > 0.01)
        fail_msg("eval prints accuracy %.2f%%, metrics.h5 holds %.4f%%", printed, want);
    assert_true(fabs(loss - mt.col[COL_TEST_LOSS][mt.n - 1]) <= 1e-4);
    assert_non_null(strstr(R.out, "test samples 128"));
    /* a checkpoint of the first epoch evaluates differently: eval reads the weights */
    char dir[4200];
    tpath(dir, "eval-1");
    run("train", "-c", tiny, "-q", "--out", dir, "--set", "train.epochs=1", NULL);
    EXPECT_OUT(0, "epoch 1/1");
    metrics one;
    read_metrics(dir, &one);
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.h5", dir);
    run("eval", "-c", tiny, "--checkpoint", ckpt, NULL);
    EXPECT_OUT(0, "accuracy");
    assert_int_equal(sscanf(strstr(R.out, "accuracy "), "accuracy %lf%%", &printed), 1);
    if (fabs(printed - 100 * one.col[COL_TEST_ACC][0]) > 0.01)
        fail_msg("eval prints accuracy %.2f%%, metrics.h5 holds %.4f%%", printed,
                 100 * one.col[COL_TEST_ACC][0]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_bad_usage),
        cmocka_unit_test(test_idx),
        cmocka_unit_test(test_png_folder),
        cmocka_unit_test(test_hdf5_inputs),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_failed_run_keeps_files),
        cmocka_unit_test(test_resume_constant_lr),
        cmocka_unit_test(test_resume_step_lr),
        cmocka_unit_test(test_resume_cosine_lr),
        cmocka_unit_test(test_checkpoint_layout),
        cmocka_unit_test(test_threads_same_bits),
        cmocka_unit_test(test_metrics_layout),
        cmocka_unit_test(test_eval_matches_metrics),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
