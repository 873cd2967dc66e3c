/* test_place_cli.c — `spikemesh place` and the placer inside `spikemesh train`,
 * run as child processes (the latter under a real mpirun with 4 ranks):
 *   - place: the table, placement.h5 with its figures, the CSV and trace files;
 *     the same results whether candidates are evaluated by 1 or 2 ranks;
 *   - place: bad usage and bad input give exit 2 and a message naming the problem;
 *   - online re-placement: a 4-rank run starting from a deliberately bad
 *     placement re-places after epoch 1; measured hop-bytes and emulated epoch
 *     time drop; the measured traffic equals the prediction in every epoch; and
 *     the weights are the same bits as a run that never re-placed and as a run
 *     that started on the new placement (migration loses nothing). */
#define _GNU_SOURCE
#include "cli_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tiny[4096];
static char graph[4200]; /* tiny's LC graph on a 2x2 mesh, made in group_setup */

/* The settings of the online runs: tiny on 4 ranks, pipelined (the cost
 * model predicts pipelined throughput), deterministic emulated clock. */
#define ONLINE_SETS                                                                                \
    "--set", "chip.mesh_w=2", "--set", "chip.mesh_h=2", "--set", "chip.compute=flops", "--set",    \
        "data.synthetic_train=2048", "--set", "pipeline.schedule=async", "--set",                  \
        "pipeline.microbatches=4", "--set", "train.epochs=2"

static void write_placement(const char *path, const int32_t *p, int n) {
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(f >= 0);
    hsize_t dims = (hsize_t)n;
    hid_t s = H5Screate_simple(1, &dims, NULL);
    hid_t d = H5Dcreate2(f, "/lc_core", H5T_STD_I32LE, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(H5Dwrite(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, p) >= 0);
    H5Dclose(d);
    H5Sclose(s);
    H5Fclose(f);
}

static int group_setup(void **state) {
    (void)state;
    if (cli_setup("sm_test_place", tiny) != 0) return -1;
    snprintf(graph, sizeof graph, "%s/tiny.graph.h5", tmpdir);
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    cli_teardown();
    return 0;
}

/* Lines of a text file that start with `prefix`. */
static int count_lines(const char *path, const char *prefix) {
    size_t n;
    char *text = read_all(path, &n);
    if (!text) fail_msg("cannot read %s", path);
    int count = 0;
    for (char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        count += !strncmp(line, prefix, strlen(prefix));
    free(text);
    return count;
}

static void test_place_outputs(void **state) {
    (void)state;
    char out[4200], csv[4200], trace[4200], csv2[4200];
    run("place", "-c", tiny, "--set", "chip.mesh_w=2", "--set", "chip.mesh_h=2", "--method", "sequential",
        "--graph-out", graph, NULL);
    EXPECT_OUT(0, "wrote", "sequential", "1.000x");
    tpath(out, "best.h5");
    tpath(csv, "table.csv");
    tpath(trace, "trace.h5");
    run("place", "--graph", graph, "--method", "sequential,greedy,sa,random,ga", "--budget", "300", "--out", out,
        "--csv", csv, "--trace", trace, NULL);
    EXPECT_OUT(0, "placing 4 logical cores on a 2x2 mesh", "greedy", "sa", "best:");
    assert_int_equal(count_lines(csv, "method,"), 1);
    assert_int_equal(count_lines(csv, "sa,"), 1);
    assert_int_equal(count_lines(csv, "ga,"), 1);
    hid_t f = h5_open(out);
    int32_t p[8];
    hsize_t dims[8];
    assert_int_equal(h5_read(f, "/lc_core", H5T_NATIVE_INT32, p, dims), 1);
    assert_int_equal((int)dims[0], 4);
    for (int i = 0; i < 4; i++) assert_true(p[i] >= 0 && p[i] < 4);
    assert_int_equal(h5_attr_int(f, "/", "mesh_w"), 2);
    char *method = h5_attr_string(f, "/", "method");
    assert_true(strstr("sequential greedy sa random ga", method) != NULL);
    free(method);
    H5Fclose(f);
    f = h5_open(trace);
    assert_int_equal(h5_read(f, "/trace/sa/cost", 0, NULL, dims), 1);
    assert_true(dims[0] >= 1);
    H5Fclose(f);

    /* candidates evaluated by two ranks: the same table, bit for bit */
    tpath(csv2, "table2.csv");
    run_mpi(2, "place", "--graph", graph, "--method", "sequential,greedy,sa,random,ga", "--budget", "300",
            "--csv", csv2, NULL);
    EXPECT_OUT(0, "candidates evaluated on every rank");
    size_t n1, n2;
    char *a = read_all(csv, &n1), *b = read_all(csv2, &n2);
    /* the seconds column differs: compare every line up to its last two fields */
    for (char *la = a, *lb = b; la && lb && *la; ) {
        char *ea = strchr(la, '\n'), *eb = strchr(lb, '\n');
        assert_non_null(ea);
        assert_non_null(eb);
        *ea = *eb = 0;
        char *ca = strrchr(la, ','), *cb = strrchr(lb, ',');
        *ca = *cb = 0;
        ca = strrchr(la, ',');
        cb = strrchr(lb, ',');
        *ca = *cb = 0;
        assert_string_equal(la, lb);
        la = ea + 1;
        lb = eb + 1;
    }
    free(a);
    free(b);
}

/* `spikemesh bench --methods`: every schedule x ranks x placement method is a
 * run of its own (it launches mpirun itself), and its row carries the measured
 * hop-bytes and whether the measured traffic equalled the prediction. On 2
 * ranks the tiny model's LCs split over two cores, so hop-bytes are > 0. */
static void test_bench_methods(void **state) {
    (void)state;
    char dir[4200], csv[4300], h5[4300], run_dir[4300];
    tpath(dir, "bench");
    run("bench", "-c", tiny, "--schedules", "sequential", "--ranks", "1,2", "--methods", "sequential,sa",
        "--batches", "2", "--out", dir, NULL);
    EXPECT_OUT(0, "placement", "hop-bytes", "=predicted", "tables:");
    assert_null(strstr(R.out, "DIFFERS"));
    assert_null(strstr(R.out, "failed"));
    snprintf(csv, sizeof csv, "%s/bench.csv", dir);
    assert_int_equal(count_lines(csv, "schedule,"), 1);
    assert_int_equal(count_lines(csv, "sequential,1,"), 2);
    assert_int_equal(count_lines(csv, "sequential,2,"), 2);
    snprintf(run_dir, sizeof run_dir, "%s/sequential-2-sa/metrics.h5", dir);
    assert_int_equal(access(run_dir, R_OK), 0);
    snprintf(h5, sizeof h5, "%s/bench.h5", dir);
    hid_t f = h5_open(h5);
    hsize_t dims[8];
    double hop[4];
    assert_int_equal(h5_read(f, "/hop_bytes", H5T_NATIVE_DOUBLE, hop, dims), 1);
    assert_int_equal((int)dims[0], 4);
    assert_true(hop[0] == 0 && hop[1] == 0 && hop[2] > 0 && hop[3] > 0); /* rows: 1 rank x 2 methods, 2 x 2 */
    char names[4][16];
    hid_t str = H5Tcopy(H5T_C_S1);
    H5Tset_size(str, 16);
    assert_int_equal(h5_read(f, "/placement", str, names, dims), 1);
    H5Tclose(str);
    assert_string_equal(names[0], "sequential");
    assert_string_equal(names[3], "sa");
    H5Fclose(f);
    run("bench", "-c", tiny, "--methods", "annealing", "--out", dir, NULL);
    EXPECT_ERR(2, "--methods", "'annealing'");
}

static void test_place_bad_input(void **state) {
    (void)state;
    char missing[4200];
    tpath(missing, "no-such-graph.h5");
    run("place", "--graph", missing, "--method", "sa", NULL);
    EXPECT_ERR(2, "no-such-graph.h5");
    run("place", "--graph", graph, "--method", "annealing", NULL);
    EXPECT_ERR(2, "'annealing' is not a placement method");
    run("place", "--graph", graph, NULL);
    EXPECT_ERR(2, "--method is required");
    run("place", "-c", tiny, "--graph", graph, "--method", "sa", NULL);
    EXPECT_ERR(2, "either -c CONFIG or --graph");
    run("place", "--graph", graph, "--method", "sa", "--budget", "lots", NULL);
    EXPECT_ERR(2, "--budget lots", "whole number");
    run("place", "--graph", graph, "--method", "sa", "--weights", "1,0,-1,0", NULL);
    EXPECT_ERR(2, "--weights 1,0,-1,0", "four numbers");
    run("place", "--graph", graph, "--method", "sa", "--weights", "0,0,0,0", NULL);
    EXPECT_ERR(2, "--weights 0,0,0,0", "every weight is 0");
    /* whole numbers only: 1.5 was once taken as 1 while "seed 2" was printed */
    run("place", "--graph", graph, "--method", "sa", "--seed", "1.5", NULL);
    EXPECT_ERR(2, "--seed 1.5", "whole number");
    run("place", "--graph", graph, "--method", "sa", "--budget", "0x10", NULL);
    EXPECT_ERR(2, "--budget 0x10", "whole number");
    run("place", "--graph", graph, "--method", "sa,", NULL);
    EXPECT_ERR(2, "--method sa,", "empty name");
    run("place", "--graph", graph, "--method", "sa,ga,sa", NULL);
    EXPECT_ERR(2, "'sa' is listed twice");
    /* output paths are checked before any search runs */
    char nodir[4200];
    tpath(nodir, "no-such-dir/p.h5");
    run("place", "--graph", graph, "--method", "sa", "--out", nodir, NULL);
    EXPECT_ERR(2, "--out", "no-such-dir", "does not exist");
    assert_null(strstr(R.out, "placing"));
    tpath(nodir, "");
    run("place", "--graph", graph, "--method", "sa", "--png", nodir, NULL);
    EXPECT_ERR(2, "--png", "is a directory");
    /* --ranks: a placement for 2 ranks of a 2x2 mesh uses cores 0 and 1 only */
    char two[4200];
    tpath(two, "two-ranks.h5");
    run("place", "-c", tiny, "--set", "chip.mesh_w=2", "--set", "chip.mesh_h=2", "--ranks", "2", "--method", "sa",
        "--out", two, NULL);
    EXPECT_OUT(0, "(2 usable cores)");
    hid_t pf = h5_open(two);
    int32_t cores[4];
    hsize_t pdims[8];
    assert_int_equal(h5_read(pf, "/lc_core", H5T_NATIVE_INT32, cores, pdims), 1);
    H5Fclose(pf);
    for (int i = 0; i < (int)pdims[0]; i++) assert_true(cores[i] >= 0 && cores[i] < 2);
    run("place", "-c", tiny, "--set", "chip.mesh_w=2", "--set", "chip.mesh_h=2", "--ranks", "5", "--method", "sa",
        NULL);
    EXPECT_ERR(2, "--ranks 5", "1..4");
    /* one core that cannot hold the 4 LCs: every cost carries the penalty, shown apart */
    run("place", "-c", tiny, "--set", "chip.core_memory=20000", "--method", "sequential", NULL);
    EXPECT_OUT(0, "2.0000+P", "+P: plus 1e+06 for each core over its memory");
    char curves[4200];
    tpath(curves, "curves.png");
    run("place", "--graph", graph, "--method", "sa,ga", "--weights", "1,0,0,0", "--curves", curves, NULL);
    EXPECT_OUT(0, "sa", "wrote");
    assert_int_equal(access(curves, R_OK), 0);
    run("train", "-c", tiny, "--set", "placement.method=anneal", "-q", NULL);
    EXPECT_BAD("placement.method", "anneal");
}

static void read_column(const char *metrics, const char *name, double *v, int n) {
    hid_t f = h5_open(metrics);
    hsize_t dims[8];
    assert_int_equal(h5_read(f, name, 0, NULL, dims), 1);
    assert_int_equal((int)dims[0], n);
    h5_read(f, name, H5T_NATIVE_DOUBLE, v, dims);
    H5Fclose(f);
}

static void test_online_replacement(void **state) {
    (void)state;
    char bad[4200], good[4200], a[4200], b[4200], c[4200], setf[4300], metrics[4300], ck_a[4300], ck_b[4300],
        ck_c[4300];
    /* conv slices and the output LC share core 3, the dense LC sits on the far
     * corner: long routes and an overloaded core */
    const int32_t bad_p[4] = {3, 1, 0, 3};
    tpath(bad, "bad.h5");
    write_placement(bad, bad_p, 4);
    tpath(a, "A");
    snprintf(setf, sizeof setf, "placement.file=%s", bad);
    run_mpi(4, "train", "-c", tiny, ONLINE_SETS, "--set", setf, "--set", "placement.method=greedy", "--set",
            "placement.every=1", "-q", "--out", a, NULL);
    EXPECT_OUT(0, "re-placement (greedy", "migrated", "checksums verified");
    assert_null(strstr(R.out, "DIFFERS FROM"));
    snprintf(metrics, sizeof metrics, "%s/metrics.h5", a);
    double match[2], hop[2], emulated[2];
    read_column(metrics, "/traffic_matches_prediction", match, 2);
    read_column(metrics, "/hop_bytes", hop, 2);
    read_column(metrics, "/emulated_seconds", emulated, 2);
    assert_true(match[0] == 1 && match[1] == 1);
    if (!(hop[1] < hop[0]) || !(emulated[1] < emulated[0]))
        fail_msg("re-placement did not help: hop-bytes %g -> %g, emulated %g -> %g s", hop[0], hop[1],
                 emulated[0], emulated[1]);
    int32_t placed[8];
    hid_t f = h5_open(metrics);
    hsize_t dims[8];
    assert_int_equal(h5_read(f, "/stats/placement", H5T_NATIVE_INT32, placed, dims), 2);
    H5Fclose(f);
    assert_memory_equal(placed, bad_p, sizeof bad_p);
    assert_memory_not_equal(placed + 4, bad_p, sizeof bad_p);

    /* B never re-places; C starts on the placement A moved to */
    tpath(b, "B");
    run_mpi(4, "train", "-c", tiny, ONLINE_SETS, "--set", setf, "-q", "--out", b, NULL);
    EXPECT_OUT(0, "epoch 2/2");
    tpath(good, "good.h5");
    write_placement(good, placed + 4, 4);
    tpath(c, "C");
    snprintf(setf, sizeof setf, "placement.file=%s", good);
    run_mpi(4, "train", "-c", tiny, ONLINE_SETS, "--set", setf, "-q", "--out", c, NULL);
    EXPECT_OUT(0, "epoch 2/2");
    snprintf(ck_a, sizeof ck_a, "%s/checkpoint.h5", a);
    snprintf(ck_b, sizeof ck_b, "%s/checkpoint.h5", b);
    snprintf(ck_c, sizeof ck_c, "%s/checkpoint.h5", c);
    assert_checkpoints_same_math(ck_a, ck_b, "/placement/lc_core");
    assert_checkpoints_identical(ck_a, ck_c); /* the same final placement too */

    /* place from A's measured stats: its ranks' cores, its last placement as the start */
    run("place", "-c", tiny, ONLINE_SETS, "--stats", metrics, "--method", "sequential,greedy", NULL);
    EXPECT_OUT(0, "placing 4 logical cores on a 2x2 mesh (4 usable cores)", "greedy");
    assert_null(strstr(R.out, "other traffic than the partition predicts"));
    run("place", "-c", tiny, ONLINE_SETS, "--set", "model.layers.1.lcs=3", "--stats", metrics, "--method", "sa",
        NULL);
    EXPECT_ERR(2, "metrics.h5", "logical cores");

    /* report draws A: the map before and after the move, the traffic, the search */
    char pics[4300], png[4400];
    snprintf(pics, sizeof pics, "%s/pictures", a);
    run("report", a, "--out", pics, NULL);
    EXPECT_OUT(0, "mesh_epoch1.png", "mesh_epoch2.png", "curves.png");
    const char *want[] = {"mesh_epoch1.png", "mesh_epoch2.png", "traffic_epoch2.png", "curves.png"};
    for (int i = 0; i < 4; i++) {
        snprintf(png, sizeof png, "%s/%s", pics, want[i]);
        size_t n;
        char *data = read_all(png, &n);
        if (!data || n < 8 || memcmp(data, "\x89PNG", 4) != 0) fail_msg("%s is not a PNG", png);
        free(data);
    }
    run("report", b, "--out", pics, NULL); /* no re-placement: still the last epoch's map */
    EXPECT_OUT(0, "mesh_epoch2.png");
    char missing[4200];
    tpath(missing, "no-such-run");
    run("report", missing, NULL);
    EXPECT_ERR(2, "no-such-run");
}

/* rl keeps its policy in the checkpoint, and a resumed run starts from it. */
static void test_rl_policy_in_checkpoint(void **state) {
    (void)state;
    char d[4200], ck[4300];
    tpath(d, "RL");
    run_mpi(2, "train", "-c", tiny, "--set", "chip.mesh_w=2", "--set", "placement.method=rl", "--set",
            "placement.every=1", "--set", "placement.budget=200", "--set", "train.epochs=2", "-q", "--out", d,
            NULL);
    EXPECT_OUT(0, "placement: rl on the partition's graph", "re-placement (rl");
    snprintf(ck, sizeof ck, "%s/checkpoint.h5", d);
    hid_t f = h5_open(ck);
    hsize_t dims[8];
    assert_int_equal(h5_read(f, "/placement/policy", 0, NULL, dims), 1);
    float *policy = malloc(sizeof *policy * dims[0]);
    h5_read(f, "/placement/policy", H5T_NATIVE_FLOAT, policy, dims);
    H5Fclose(f);
    int nonzero = 0;
    for (hsize_t i = 0; i < dims[0]; i++) nonzero += policy[i] != 0;
    free(policy);
    assert_true(dims[0] > 1000 && nonzero > 100); /* parameters and Adam moments of a trained policy */
    run_mpi(2, "train", "-c", tiny, "--set", "chip.mesh_w=2", "--set", "placement.method=rl", "--set",
            "placement.every=1", "--set", "placement.budget=200", "--set", "train.epochs=3", "-q", "--resume", ck,
            NULL);
    EXPECT_OUT(0, "rl policy restored from", "epoch 3/3");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_place_outputs),
        cmocka_unit_test(test_place_bad_input),
        cmocka_unit_test(test_bench_methods),
        cmocka_unit_test(test_online_replacement),
        cmocka_unit_test(test_rl_policy_in_checkpoint),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
