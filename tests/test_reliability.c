/* test_reliability.c — what a long job needs when things go wrong (issue 5,
 * docs/errors.md), with `spikemesh train` run as a child process, under
 * mpirun with 1, 2 and 4 ranks:
 *
 *   - resume is exact: a run stopped by SIGTERM (at a step boundary, with the
 *     checkpoint it then writes) and resumed ends with the same bits as an
 *     uninterrupted run — on 1 and 4 ranks, 1f1b and async, and resumed on
 *     another number of ranks;
 *   - a rank killed with SIGKILL mid-epoch: non-zero exit, a message naming the
 *     rank, the last checkpoint verifies, and --resume gives the same bits;
 *   - checkpoints: a flipped bit in a tensor or a truncated file is refused
 *     (exit 2, the file named, nothing overwritten); a checkpoint damaged while
 *     being written never replaces the good one; the replaced one is kept as
 *     checkpoint.prev.h5;
 *   - numerical trouble: weights that overflow stop training with the step,
 *     layer and LC named, and the last good checkpoint stays.
 *
 * Faults are real (signals, a damaged file) and placed deterministically with
 * SPIKEMESH_FAULT (sm_common.h).
 */
#include "cli_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "h5util.h"
#include "sm_common.h"

static char tiny[4096];

/* tiny on a 2x2 mesh (4 LCs), synchronous or async pipeline, 3 epochs of 8 steps */
#define SETS(sched)                                                                                 \
    "--set", "chip.mesh_w=2", "--set", "chip.mesh_h=2", "--set", "pipeline.schedule=" sched, "--set", \
        "pipeline.microbatches=2", "--set", "train.checkpoint_every=1", "-q"

static int group_setup(void **state) {
    (void)state;
    return cli_setup("test_reliability", tiny);
}
static int group_teardown(void **state) {
    (void)state;
    cli_teardown();
    return 0;
}

static void ckpt_of(char *buf, const char *dir) { snprintf(buf, 4300, "%s/checkpoint.h5", dir); }

/* The loss and accuracy columns of two runs' metrics.h5 have the same bits;
 * with `traffic` (runs on the same placement) also the bytes sent. */
static void assert_same_learning(const char *dir_a, const char *dir_b, int traffic) {
    static const char *const cols[] = {"/train_loss", "/train_accuracy", "/test_loss", "/test_accuracy",
                                       "/forward_bytes", "/backward_bytes", "/traffic_matches_prediction"};
    char pa[4300], pb[4300];
    snprintf(pa, sizeof pa, "%s/metrics.h5", dir_a);
    snprintf(pb, sizeof pb, "%s/metrics.h5", dir_b);
    hid_t a = h5_open(pa), b = h5_open(pb);
    for (size_t i = 0; i < (traffic ? 7u : 4u); i++) {
        size_t na, nb;
        void *da = h5_raw(a, cols[i], &na), *db = h5_raw(b, cols[i], &nb);
        assert_int_equal(na, nb);
        assert_true(na >= 3 * sizeof(double));
        if (memcmp(da, db, na)) fail_msg("metrics %s differs between %s and %s", cols[i], dir_a, dir_b);
        free(da), free(db);
    }
    H5Fclose(a), H5Fclose(b);
}

/* Stop a run by SIGTERM after round `round` of epoch 2 on rank 0 (np ranks),
 * then resume it on np_resume ranks; the end equals the reference run `ref`
 * (with `traffic`: one on the same placement, so the bytes sent match too). */
static void stop_and_resume(const char *sched_set, int np, int np_resume, const char *round, const char *ref,
                            const char *name, int inside, int traffic) {
    char dir[4200], ck[4300], rk[4300], fault[128];
    tpath(dir, name);
    ckpt_of(ck, dir);
    ckpt_of(rk, ref);
    snprintf(fault, sizeof fault, "term:rank=0,epoch=1,round=%s", round);
    setenv("SPIKEMESH_FAULT", fault, 1);
    run_mpi(np, "train", "-c", tiny, SETS("1f1b"), "--set", sched_set, "--out", dir, NULL);
    unsetenv("SPIKEMESH_FAULT");
    if (R.status != 128 + 15 && R.status == 0)
        fail_msg("%s: a SIGTERM did not stop the run\n%s\n%s", R.cmdline, R.out, R.err);
    assert_non_null(strstr(R.out, "stopped by signal 15"));
    hid_t f = h5_open(ck);
    assert_int_equal(h5_attr_int(f, "/meta", "epoch"), inside ? 1 : 2);
    assert_int_equal(H5Lexists(f, "/resume", H5P_DEFAULT) > 0, inside);
    if (inside) assert_int_equal(h5_attr_int(f, "/resume", "round"), atoi(round) + 1);
    H5Fclose(f);
    run_mpi(np_resume, "train", "-c", tiny, SETS("1f1b"), "--set", sched_set, "--resume", ck, "--out", dir, NULL);
    EXPECT_OUT(0, "epoch 3/3");
    if (inside) assert_non_null(strstr(R.out, "resuming inside epoch 2"));
    assert_checkpoints_same_math(rk, ck, "/placement/lc_core");
    assert_same_learning(ref, dir, traffic);
}

static void test_resume_after_sigterm(void **state) {
    (void)state;
    char ref1[4200], ref4[4200], refa[4200];
    tpath(ref1, "ref-1f1b");
    tpath(ref4, "ref-1f1b-np4");
    tpath(refa, "ref-async");
    /* the uninterrupted runs; one and four ranks give the same bits */
    run_mpi(1, "train", "-c", tiny, SETS("1f1b"), "--out", ref1, NULL);
    EXPECT_OUT(0, "epoch 3/3");
    run_mpi(4, "train", "-c", tiny, SETS("1f1b"), "--out", ref4, NULL);
    EXPECT_OUT(0, "epoch 3/3");
    char a[4300], b[4300];
    ckpt_of(a, ref1), ckpt_of(b, ref4);
    assert_checkpoints_same_math(a, b, "/placement/lc_core");
    run_mpi(1, "train", "-c", tiny, SETS("async"), "--out", refa, NULL);
    EXPECT_OUT(0, "epoch 3/3");

    /* 1f1b stops inside epoch 2 (after its 4th step) and resumes there */
    stop_and_resume("pipeline.schedule=1f1b", 1, 1, "3", ref1, "stop-1f1b-np1", 1, 1);
    stop_and_resume("pipeline.schedule=1f1b", 4, 4, "3", ref4, "stop-1f1b-np4", 1, 1);
    /* ... on another number of ranks: the placement is recomputed, the math is not */
    stop_and_resume("pipeline.schedule=1f1b", 4, 2, "5", ref1, "stop-1f1b-np4-np2", 1, 0);
    /* async runs an epoch as one round: it stops at the end of the epoch */
    stop_and_resume("pipeline.schedule=async", 1, 1, "0", refa, "stop-async-np1", 0, 1);
    stop_and_resume("pipeline.schedule=async", 4, 4, "0", refa, "stop-async-np4", 0, 0);
}

static void test_rank_killed(void **state) {
    (void)state;
    char ref[4200], dir[4200], rk[4300], ck[4300];
    tpath(ref, "ref-1f1b");
    tpath(dir, "killed");
    ckpt_of(rk, ref);
    ckpt_of(ck, dir);
    if (access(rk, R_OK) != 0) { /* when run alone */
        run_mpi(1, "train", "-c", tiny, SETS("1f1b"), "--out", ref, NULL);
        EXPECT_OUT(0, "epoch 3/3");
    }
    setenv("SPIKEMESH_FAULT", "kill:rank=1,epoch=1,round=3", 1);
    run_mpi(2, "train", "-c", tiny, SETS("1f1b"), "--out", dir, NULL);
    unsetenv("SPIKEMESH_FAULT");
    if (R.status == 0) fail_msg("%s: survived the loss of rank 1", R.cmdline);
    if (!strstr(R.err, "rank 1")) fail_msg("%s: stderr does not name the lost rank 1:\n%s", R.cmdline, R.err);
    assert_null(strstr(R.out, "epoch 2/3"));
    /* epoch 1's checkpoint: complete, every checksum holds (eval verifies them) */
    hid_t f = h5_open(ck);
    assert_int_equal(h5_attr_int(f, "/meta", "epoch"), 1);
    long checked = 0;
    assert_int_equal(sm_h5_verify_checksums(f, ck, 1, &checked), 0);
    assert_true(checked >= 13);
    H5Fclose(f);
    run("eval", "-c", tiny, "--set", "chip.mesh_w=2", "--set", "chip.mesh_h=2", "--checkpoint", ck, NULL);
    EXPECT_OUT(0, "accuracy");
    run_mpi(2, "train", "-c", tiny, SETS("1f1b"), "--resume", ck, "--out", dir, NULL);
    EXPECT_OUT(0, "epoch 3/3");
    assert_checkpoints_same_math(rk, ck, "/placement/lc_core");
    assert_same_learning(ref, dir, 0);
}

/* Byte offset of a contiguous dataset's data in its file. */
static long data_offset(const char *path, const char *name) {
    hid_t f = h5_open(path);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    assert_true(d >= 0);
    haddr_t at = H5Dget_offset(d);
    H5Dclose(d), H5Fclose(f);
    assert_true(at != HADDR_UNDEF);
    return (long)at;
}

static void assert_same_file(const char *path, const char *bytes, size_t n) {
    size_t m;
    char *now = read_all(path, &m);
    if (!now) fail_msg("%s is gone", path);
    if (m != n || memcmp(now, bytes, n)) fail_msg("%s was changed", path);
    free(now);
}

static void test_checkpoint_damage(void **state) {
    (void)state;
    char dir[4200], ck[4300], prev[4300], bad[4200];
    tpath(dir, "damage");
    ckpt_of(ck, dir);
    snprintf(prev, sizeof prev, "%s/checkpoint.prev.h5", dir);
    run("train", "-c", tiny, "-q", "--set", "train.epochs=2", "--set", "train.checkpoint_every=1", "--out", dir, NULL);
    EXPECT_OUT(0, "epoch 2/2");
    /* the checkpoint of epoch 1 was kept when epoch 2's replaced it */
    hid_t f = h5_open(prev);
    assert_int_equal(h5_attr_int(f, "/meta", "epoch"), 1);
    H5Fclose(f);
    size_t n, n_metrics;
    char *good = read_all(ck, &n);
    char metrics[4300];
    snprintf(metrics, sizeof metrics, "%s/metrics.h5", dir);
    char *good_metrics = read_all(metrics, &n_metrics);

    /* one flipped bit inside a weight tensor */
    long at = data_offset(ck, "/layers/1_dense/weight") + 17;
    char *flipped = malloc(n);
    memcpy(flipped, good, n);
    flipped[at] ^= 0x10;
    tpath(bad, "flipped.h5");
    write_file(bad, flipped, n);
    run("eval", "-c", tiny, "--checkpoint", bad, NULL);
    EXPECT_BAD(bad, "/layers/1_dense/weight", "does not match its checksum");
    /* resumed from, in the run directory: refused before anything is written */
    write_file(ck, flipped, n);
    run("train", "-c", tiny, "-q", "--resume", ck, "--set", "train.epochs=3", "--out", dir, NULL);
    EXPECT_BAD(ck, "does not match its checksum", prev);
    assert_same_file(ck, flipped, n);
    assert_same_file(metrics, good_metrics, n_metrics);
    write_file(ck, good, n);
    free(flipped);

    /* truncated */
    tpath(bad, "truncated.h5");
    write_file(bad, good, n - n / 3);
    run("eval", "-c", tiny, "--checkpoint", bad, NULL);
    EXPECT_BAD(bad);

    /* damaged while being written: the write is refused, the good file stays */
    setenv("SPIKEMESH_FAULT", "corrupt-file:checkpoint.h5.tmp", 1);
    run("train", "-c", tiny, "-q", "--resume", ck, "--set", "train.epochs=3", "--out", dir, NULL);
    unsetenv("SPIKEMESH_FAULT");
    EXPECT_ERR(1, "checkpoint.h5", "the previous file is untouched");
    assert_same_file(ck, good, n);
    char *left = read_all(prev, &n_metrics);
    assert_non_null(left);
    free(left);
    free(good), free(good_metrics);
}

/* Overwrite a dataset of a checkpoint with `value` everywhere, and its checksum to match. */
static void poison(const char *path, const char *name, float value) {
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    hid_t s = H5Dget_space(d);
    size_t count = (size_t)H5Sget_simple_extent_npoints(s);
    float *v = malloc(sizeof *v * count);
    for (size_t i = 0; i < count; i++) v[i] = value;
    assert_true(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
    uint64_t sum = sm_checksum64(v, sizeof *v * count, 0);
    hid_t a = H5Aopen(d, "checksum", H5P_DEFAULT);
    assert_true(H5Awrite(a, H5T_NATIVE_UINT64, &sum) >= 0);
    H5Aclose(a), H5Sclose(s), H5Dclose(d), H5Fclose(f);
    free(v);
}

static void test_nonfinite_stops(void **state) {
    (void)state;
    char dir[4200], ck[4300], start[4200];
    tpath(dir, "overflow");
    ckpt_of(ck, dir);
    run("train", "-c", tiny, "-q", "--set", "train.epochs=1", "--set", "train.loss=ce_mem", "--out", dir, NULL);
    EXPECT_OUT(0, "epoch 1/1");
    size_t n;
    char *good = read_all(ck, &n);
    /* finite weights whose sums overflow: the output layer's membrane becomes infinite */
    tpath(start, "huge-weights.h5");
    write_file(start, good, n);
    poison(start, "/layers/2_dense/weight", 3.0e38f);
    run("train", "-c", tiny, "-q", "--resume", start, "--set", "train.epochs=2", "--set", "train.loss=ce_mem",
        "--out", dir, NULL);
    EXPECT_ERR(1, "non-finite", "optimizer step 9", "layer 2 (2_dense)", "logical core 2", ck);
    assert_null(strstr(R.out, "epoch 2/2"));
    assert_same_file(ck, good, n);
    free(good);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resume_after_sigterm),
        cmocka_unit_test(test_rank_killed),
        cmocka_unit_test(test_checkpoint_damage),
        cmocka_unit_test(test_nonfinite_stops),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
