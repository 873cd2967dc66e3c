/* test_smpi.c — spikemesh on SimGrid's SMPI (docs/simgrid.md), as child processes:
 *   - `spikemesh platform` writes the chip of a config: one host per core at
 *     chip.core_gflops, four directed links per core (none leaving the mesh) at
 *     chip.link_bandwidth and chip.hop_latency, and the XY route of every
 *     ordered pair, checked against routes worked out by hand on a 3x2 mesh;
 *     bad usage gives exit 2 and a message;
 *   - training under smpirun on simulated cores (the SimGrid build of
 *     scripts/build-smpi, $SPIKEMESH_SMPI_BIN) ends with the same bits as the
 *     same run under mpirun, on 2 and 4 ranks, with the traffic it predicted,
 *     and its ops cost simulated time (an epoch lasts at least ~ the emulated one).
 * The second part needs $SPIKEMESH_SMPI_BIN and $SPIKEMESH_SMPIRUN (tests/cli.cmake
 * sets them when scripts/test has built the SimGrid binary) and is skipped without. */
#define _GNU_SOURCE
#include "cli_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char tiny[4096];

static int group_setup(void **state) {
    (void)state;
    return cli_setup("sm_test_smpi", tiny);
}

static int group_teardown(void **state) {
    (void)state;
    cli_teardown();
    return 0;
}

static int count(const char *text, const char *needle) {
    int k = 0;
    for (const char *at = strstr(text, needle); at; at = strstr(at + 1, needle)) k++;
    return k;
}

static void expect_text(const char *text, const char *needle, const char *file) {
    if (!strstr(text, needle)) fail_msg("%s lacks '%s'", file, needle);
}

/* A 3x2 mesh (cores 0 1 2 / 3 4 5): 6 hosts, 2(w-1)h + 2w(h-1) = 14 links,
 * 30 routes; the routes below are XY by hand. */
static void test_platform_by_hand(void **state) {
    (void)state;
    char dir[4200], xml[4300], hosts[4300];
    tpath(dir, "plat32");
    run("platform", "-c", tiny, "--set", "chip.mesh_w=3", "--set", "chip.mesh_h=2", "--set", "chip.core_gflops=2.5",
        "--set", "chip.link_bandwidth=3e8", "--set", "chip.hop_latency=2e-6", "--set", "chip.compute=flops", "--out",
        "plat32", NULL);
    EXPECT_OUT(0, "platform.xml", "smpirun -np 6", "--cfg=network/model:CM02");
    snprintf(xml, sizeof xml, "%s/platform.xml", dir);
    snprintf(hosts, sizeof hosts, "%s/hostfile", dir);
    size_t n;
    char *text = read_all(xml, &n);
    assert_non_null(text);
    assert_int_equal(count(text, "<host "), 6);
    assert_int_equal(count(text, "<link "), 14);
    assert_int_equal(count(text, "<route "), 30);
    expect_text(text, "<host id=\"c5\" speed=\"2500000000f\"/>", xml);
    expect_text(text, "<link id=\"l0E\" bandwidth=\"300000000Bps\" latency=\"1.9999999999999999e-06s\"/>", xml);
    expect_text(text, "<link id=\"l4N\" ", xml);
    assert_null(strstr(text, "<link id=\"l2E\"")); /* would leave the mesh */
    assert_null(strstr(text, "<link id=\"l0N\""));
    assert_null(strstr(text, "<link id=\"l3W\""));
    assert_null(strstr(text, "<link id=\"l5S\""));
    /* x first, then y */
    expect_text(text, "<route src=\"c0\" dst=\"c5\" symmetrical=\"NO\"><link_ctn id=\"l0E\"/><link_ctn id=\"l1E\"/>"
                      "<link_ctn id=\"l2S\"/></route>", xml);
    expect_text(text, "<route src=\"c5\" dst=\"c0\" symmetrical=\"NO\"><link_ctn id=\"l5W\"/><link_ctn id=\"l4W\"/>"
                      "<link_ctn id=\"l3N\"/></route>", xml);
    expect_text(text, "<route src=\"c3\" dst=\"c1\" symmetrical=\"NO\"><link_ctn id=\"l3E\"/><link_ctn id=\"l4N\"/>"
                      "</route>", xml);
    expect_text(text, "<route src=\"c4\" dst=\"c3\" symmetrical=\"NO\"><link_ctn id=\"l4W\"/></route>", xml);
    /* chip.compute: flops: the ops' FLOPs are the simulated compute, not this host's CPU time */
    expect_text(text, "<prop id=\"smpi/simulate-computation\" value=\"no\"/>", xml);
    free(text);
    text = read_all(hosts, &n);
    assert_non_null(text);
    assert_string_equal(text, "c0\nc1\nc2\nc3\nc4\nc5\n");
    free(text);
}

static void test_platform_bad_usage(void **state) {
    (void)state;
    run("platform", "-c", tiny, NULL);
    EXPECT_BAD("missing --out DIR");
    run("platform", "-c", tiny, "--set", "chip.mesh_w=0", "--out", "bad", NULL);
    EXPECT_BAD("chip.mesh_w", "expected an integer");
    run("platform", "--out", "bad", NULL);
    EXPECT_BAD("missing -c CONFIG");
    run("platform", "-c", tiny, "--set", "chip.mesh_w=40", "--set", "chip.mesh_h=40", "--out", "big", NULL);
    EXPECT_BAD("the chip has 1600 cores", "at most 1024");
}

/* tiny on `np` cores (an np x 1 mesh; 2x2 for 4) under smpirun and under
 * mpirun: the same checkpoint bits. */
static void same_bits(int np, const char *schedule) {
    const char *smpirun = getenv("SPIKEMESH_SMPIRUN"), *smpi_bin = getenv("SPIKEMESH_SMPI_BIN");
    if (!smpirun || !*smpirun) fail_msg("SPIKEMESH_SMPIRUN must be set");
    char w[32], h[32], sched[64], platdir[64], xml[4200], hosts[4200], out_s[64], out_m[64], np_s[16], a[4200], b[4200];
    snprintf(w, sizeof w, "chip.mesh_w=%d", np == 4 ? 2 : np);
    snprintf(h, sizeof h, "chip.mesh_h=%d", np == 4 ? 2 : 1);
    snprintf(sched, sizeof sched, "pipeline.schedule=%s", schedule);
    snprintf(platdir, sizeof platdir, "plat%d", np);
    snprintf(out_s, sizeof out_s, "smpi%d", np);
    snprintf(out_m, sizeof out_m, "mpi%d", np);
    snprintf(np_s, sizeof np_s, "%d", np);
#define SETS "--set", w, "--set", h, "--set", sched, "--set", "pipeline.microbatches=4", "--set", "chip.compute=flops"
    run("platform", "-c", tiny, SETS, "--out", platdir, NULL);
    EXPECT_OUT(0, "platform.xml");
    snprintf(xml, sizeof xml, "%s/%s/platform.xml", tmpdir, platdir);
    snprintf(hosts, sizeof hosts, "%s/%s/hostfile", tmpdir, platdir);
    const char *argv[] = {smpirun, "-np", np_s, "-platform", xml, "-hostfile", hosts, "--cfg=network/model:CM02",
                          smpi_bin, "train", "-c", tiny, SETS, "--out", out_s, NULL};
    if (run_argv(argv) != 0) fail_msg("smpirun %s: exit %d\nstdout:\n%s\nstderr:\n%s", R.cmdline, R.status, R.out, R.err);
    expect_text(R.out, "SimGrid's SMPI", "smpirun's stdout");
    expect_text(R.out, "measured traffic equals the prediction", "smpirun's stdout");
    /* The run's clock is SimGrid's: each op's FLOPs cost simulated time (smpi_execute_flops),
     * so a simulated epoch lasts at least about what the emulator charges for the same ops
     * (it is longer where messages share links). Deterministic: no host timing involved. */
    snprintf(a, sizeof a, "%s/%s/metrics.h5", tmpdir, out_s);
    hid_t f = h5_open(a);
    double wall[8], emulated[8];
    hsize_t dims[1];
    assert_int_equal(h5_read(f, "/wall_seconds", H5T_NATIVE_DOUBLE, NULL, dims), 1);
    assert_true(dims[0] == 3);
    h5_read(f, "/wall_seconds", H5T_NATIVE_DOUBLE, wall, dims);
    h5_read(f, "/emulated_seconds", H5T_NATIVE_DOUBLE, emulated, dims);
    H5Fclose(f);
    for (int e = 0; e < 3; e++)
        if (!(emulated[e] > 0 && wall[e] >= 0.9 * emulated[e] && wall[e] < 20 * emulated[e]))
            fail_msg("epoch %d: simulated %g s against emulated %g s", e + 1, wall[e], emulated[e]);
    run_mpi(np, "train", "-c", tiny, SETS, "--out", out_m, NULL);
    EXPECT_OUT(0, "epoch 3/3");
#undef SETS
    snprintf(a, sizeof a, "%s/%s/checkpoint.h5", tmpdir, out_s);
    snprintf(b, sizeof b, "%s/%s/checkpoint.h5", tmpdir, out_m);
    assert_checkpoints_identical(a, b);
}

static void test_same_bits_as_mpirun(void **state) {
    (void)state;
    const char *smpi_bin = getenv("SPIKEMESH_SMPI_BIN");
    if (!smpi_bin || !*smpi_bin) { /* a build without scripts/build-smpi's binary (the sanitizer builds) */
        print_message("no SimGrid build (SPIKEMESH_SMPI_BIN): skipped\n");
        skip();
    }
    same_bits(2, "async");
    same_bits(4, "1f1b");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_platform_by_hand),
        cmocka_unit_test(test_platform_bad_usage),
        cmocka_unit_test(test_same_bits_as_mpirun),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
