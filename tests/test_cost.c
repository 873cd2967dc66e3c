/* test_cost.c — the placement cost model (placement/cost.c, graph_io.c):
 * XY routes and figures against values worked out by hand on 2x2 and 3x3
 * meshes, the sequential reference, graph.h5 round trip and bad files, and the
 * incremental state against full re-evaluation on 1000 random swaps and moves.
 *
 * Link names below: "0E" = link SM_LINK_E of core 0 (0 → 1 on a 2-wide mesh).
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "h5util.h"
#include "sm_common.h"
#include "sm_cost.h"
#include "sm_graph.h"
#include "sm_placement.h"

#define LINK(core, dir) (SM_LINK_DIRS * (core) + SM_LINK_##dir)

typedef struct { int link; int64_t bytes; } expected_load;

/* Every link of the mesh carries exactly the listed bytes, all others 0. */
static void assert_loads(const sm_mesh *m, const int64_t *loads, const expected_load *want, int n_want) {
    for (int l = 0; l < SM_LINK_DIRS * sm_mesh_cores(m); l++) {
        int64_t expect = 0;
        for (int k = 0; k < n_want; k++)
            if (want[k].link == l) expect = want[k].bytes;
        if (loads[l] != expect)
            fail_msg("link %d (core %d dir %d): %lld bytes, expected %lld", l, l / 4, l % 4,
                     (long long)loads[l], (long long)expect);
    }
}

/* Every figure equal. They are all exact (integer byte sums; per-core sums in LC
 * order), so bits are compared; `what` and `step` say where a mismatch came from. */
static void assert_same_figures(const sm_cost_figures *a, const sm_cost_figures *b, const char *what, int step) {
#define SAME(x) if (a->x != b->x) fail_msg("step %d %s: " #x " %.17g vs full %.17g", step, what, (double)a->x, (double)b->x)
    SAME(hop_bytes); SAME(max_link); SAME(mean_link); SAME(top5_link); SAME(imbalance);
    SAME(max_core_compute); SAME(predicted_time); SAME(energy); SAME(memory_violations);
    SAME(max_core_memory); SAME(max_hops); SAME(cost);
#undef SAME
}

static sm_mesh mesh_of(int w, int h, double core_memory, double bandwidth, double latency) {
    sm_mesh m = sm_mesh_default();
    m.mesh_w = w, m.mesh_h = h, m.core_memory = core_memory;
    m.link_bandwidth = bandwidth, m.hop_latency = latency;
    return m;
}

static void test_mesh_links(void **st) {
    (void)st;
    sm_mesh m = mesh_of(2, 2, 1, 1, 0);
    assert_int_equal(sm_mesh_n_links(&m), 8);
    int exist = 0;
    for (int l = 0; l < 16; l++) exist += sm_mesh_link_exists(&m, l);
    assert_int_equal(exist, 8);
    assert_true(sm_mesh_link_exists(&m, LINK(0, E)) && sm_mesh_link_exists(&m, LINK(0, S)));
    assert_false(sm_mesh_link_exists(&m, LINK(0, W)) || sm_mesh_link_exists(&m, LINK(0, N)));
    assert_false(sm_mesh_link_exists(&m, LINK(3, E)) || sm_mesh_link_exists(&m, LINK(3, S)));
    m = mesh_of(3, 3, 1, 1, 0);
    assert_int_equal(sm_mesh_n_links(&m), 24);
    exist = 0;
    for (int l = 0; l < 36; l++) exist += sm_mesh_link_exists(&m, l);
    assert_int_equal(exist, 24);
    m = mesh_of(1, 1, 1, 1, 0);
    assert_int_equal(sm_mesh_n_links(&m), 0);
    m = mesh_of(5, 1, 1, 1, 0);
    assert_int_equal(sm_mesh_n_links(&m), 8);
    assert_int_equal(sm_mesh_hops(&m, 0, 4), 4);
    m = mesh_of(3, 3, 1, 1, 0);
    assert_int_equal(sm_mesh_hops(&m, 8, 0), 4);
    assert_int_equal(sm_mesh_hops(&m, 7, 3), 2);
}

/* 2x2: cores 0 (0,0), 1 (1,0), 2 (0,1), 3 (1,1); LC i on core i.
 *   0 → 3: 100 B, X then Y: 0E (0→1), 1S (1→3)      2 hops
 *   3 → 0:  10 B:           3W (3→2), 2N (2→0)      2 hops
 *   1 → 2:   7 B:           1W (1→0), 0S (0→2)      2 hops
 *   2 → 1:   3 B:           2E (2→3), 3N (3→1)      2 hops
 *   0 → 1:  50 B:           0E                      1 hop
 * loads 0E 150, 1S 100, 3W 10, 2N 10, 1W 7, 0S 7, 2E 3, 3N 3 (Σ 290 = hop_bytes). */
static const double traffic_2x2[16] = {
    0, 50, 0, 100,
    0, 0, 7, 0,
    0, 3, 0, 0,
    10, 0, 0, 0,
};

static void test_hand_2x2(void **st) {
    (void)st;
    const double compute[4] = {1, 2, 3, 6}, memory[4] = {10, 10, 10, 30};
    sm_lc_graph g;
    assert_int_equal(sm_graph_from_dense(&g, 4, traffic_2x2, compute, memory, NULL), SM_OK);
    assert_int_equal(g.row[4], 5);
    sm_mesh m = mesh_of(2, 2, 20, 100, 0.5);
    const int32_t p[4] = {0, 1, 2, 3};
    int64_t loads[16];
    assert_int_equal(sm_cost_link_loads(&g, &m, p, loads), SM_OK);
    const expected_load want[] = {{LINK(0, E), 150}, {LINK(1, S), 100}, {LINK(3, W), 10}, {LINK(2, N), 10},
                                  {LINK(1, W), 7},   {LINK(0, S), 7},   {LINK(2, E), 3},  {LINK(3, N), 3}};
    assert_loads(&m, loads, want, 8);

    sm_cost_weights w = sm_cost_weights_default();
    sm_cost_figures f;
    assert_int_equal(sm_cost_evaluate(&g, &m, p, &w, NULL, &f), SM_OK);
    assert_true(f.hop_bytes == 290);
    assert_true(f.max_link == 150);
    assert_true(f.mean_link == 290.0 / 8);
    assert_true(f.top5_link == 150);   /* ceil(8 / 20) = 1 link */
    assert_int_equal(f.max_hops, 2);
    assert_true(f.max_core_compute == 6);
    assert_true(f.imbalance == 2);     /* 6 / (12 / 4) */
    assert_int_equal(f.memory_violations, 1);   /* core 3: 30 > 20 */
    assert_true(f.max_core_memory == 30);
    assert_true(fabs(f.predicted_time - (6 + 150.0 / 100 + 2 * 0.5)) < 1e-15);
    assert_true(fabs(f.energy - 290e-12) < 1e-24);
    /* identity = sequential here: every term is 1, plus the penalty */
    assert_true(f.cost == 4 + SM_COST_INFEASIBLE_PENALTY);

    /* all LCs on core 0: nothing on links, compute 12 on one core, 60 bytes of memory */
    const int32_t one[4] = {0, 0, 0, 0};
    sm_cost_figures f1;
    assert_int_equal(sm_cost_evaluate(&g, &m, one, &w, &f, &f1), SM_OK);
    assert_true(f1.hop_bytes == 0 && f1.max_link == 0 && f1.top5_link == 0 && f1.max_hops == 0);
    assert_true(f1.imbalance == 4);
    assert_int_equal(f1.memory_violations, 1);
    assert_true(f1.max_core_memory == 60);
    assert_true(f1.predicted_time == 12);
    assert_true(fabs(f1.cost - (0 + 0 + 4.0 / 2 + 12 / 8.5 + SM_COST_INFEASIBLE_PENALTY)) < 1e-12);

    /* a feasible placement: LC 3 alone would need 30 bytes; give every core 40 */
    m.core_memory = 40;
    assert_int_equal(sm_cost_evaluate(&g, &m, p, &w, NULL, &f), SM_OK);
    assert_int_equal(f.memory_violations, 0);
    assert_true(f.cost == 4);
    assert_true(sm_cost_reward(f.cost, f.cost) == -1);

    /* FLOPs: 6 FLOP at 2 GFLOP/s */
    g.compute_is_flops = 1;
    m.core_gflops = 2;
    assert_int_equal(sm_cost_evaluate(&g, &m, p, &w, NULL, &f), SM_OK);
    assert_true(fabs(f.predicted_time - (6 / 2e9 + 1.5 + 1.0)) < 1e-15);
    assert_true(f.max_core_compute == 6);

    /* a placement outside the mesh */
    const int32_t bad[4] = {0, 1, 4, 3};
    assert_int_equal(sm_cost_evaluate(&g, &m, bad, &w, NULL, &f), SM_EINPUT);
    assert_non_null(strstr(sm_errmsg(), "lc_core[2] = 4"));
    sm_graph_free(&g);
}

/* 3x3: core c at (c % 3, c / 3). LCs: A0 core 0, B1 core 8, C2 core 7, D3 core 3,
 * E4 core 2, F5 core 0 (with A).
 *   A → B 40 B: 0E, 1E, 2S, 5S (4 hops)      C → D 6 B: 7W, 6N (2 hops)
 *   E → B  5 B: 2S, 5S (2 hops)              B → A 3 B: 8W, 7W, 6N, 3N (4 hops)
 *   A → F 1000 B: same core, no link, 0 hops
 * loads 0E 40, 1E 40, 2S 45, 5S 45, 7W 9, 6N 9, 8W 3, 3N 3 (Σ 194 = hop_bytes). */
static void test_hand_3x3(void **st) {
    (void)st;
    double traffic[36] = {0};
    traffic[0 * 6 + 1] = 40, traffic[2 * 6 + 3] = 6, traffic[4 * 6 + 1] = 5, traffic[1 * 6 + 0] = 3;
    traffic[0 * 6 + 5] = 1000;
    const double compute[6] = {1, 2, 3, 4, 5, 6}, memory[6] = {100, 100, 100, 100, 100, 100};
    sm_lc_graph g;
    assert_int_equal(sm_graph_from_dense(&g, 6, traffic, compute, memory, NULL), SM_OK);
    sm_mesh m = mesh_of(3, 3, 150, 10, 0.25);
    const int32_t p[6] = {0, 8, 7, 3, 2, 0};
    int64_t loads[36];
    assert_int_equal(sm_cost_link_loads(&g, &m, p, loads), SM_OK);
    const expected_load want[] = {{LINK(0, E), 40}, {LINK(1, E), 40}, {LINK(2, S), 45}, {LINK(5, S), 45},
                                  {LINK(7, W), 9},  {LINK(6, N), 9},  {LINK(8, W), 3},  {LINK(3, N), 3}};
    assert_loads(&m, loads, want, 8);

    sm_cost_weights w = {1, 0, 0, 0};
    sm_cost_figures ref, f;
    assert_int_equal(sm_cost_reference(&g, &m, &w, &ref), SM_OK);
    assert_int_equal(sm_cost_evaluate(&g, &m, p, &w, &ref, &f), SM_OK);
    assert_true(f.hop_bytes == 194);
    assert_true(f.max_link == 45);
    assert_true(f.mean_link == 194.0 / 24);
    assert_true(f.top5_link == 45);    /* ceil(24 / 20) = 2 links: 45, 45 */
    assert_int_equal(f.max_hops, 4);
    assert_true(f.max_core_compute == 7);
    assert_true(fabs(f.imbalance - 3) < 1e-15);   /* 7 / (21 / 9) */
    assert_int_equal(f.memory_violations, 1);
    assert_true(f.max_core_memory == 200);
    assert_true(fabs(f.predicted_time - (7 + 4.5 + 1.0)) < 1e-15);
    /* sequential: A0 B1 C2 D3 E4 F5 → A→B 0E (40), C→D 2W 1W 1S (6·3), E→B 4N (5), B→A 1W (3),
     * A→F 0E 1E 2S (1000·3): hop_bytes 40 + 18 + 5 + 3 + 3000 = 3066 */
    assert_true(ref.hop_bytes == 3066);
    assert_true(fabs(f.cost - (194.0 / 3066 + SM_COST_INFEASIBLE_PENALTY)) < 1e-12);
    sm_graph_free(&g);
}

/* The reference is the sequential placement i mod cores, wrapping when n > cores. */
static void test_reference_is_sequential(void **st) {
    (void)st;
    enum { N = 7 };
    double traffic[N * N] = {0}, compute[N], memory[N];
    for (int i = 0; i < N; i++) {
        compute[i] = 1 + i, memory[i] = 10;
        traffic[i * N + (i + 1) % N] = 100 * (i + 1);
        traffic[i * N + (i + 3) % N] = 7;
    }
    sm_lc_graph g;
    assert_int_equal(sm_graph_from_dense(&g, N, traffic, compute, memory, NULL), SM_OK);
    sm_mesh m = mesh_of(2, 2, 25, 1e3, 1e-3);
    sm_cost_weights w = {1, 2, 3, 4};
    int32_t seq[N];
    sm_place_sequential(seq, N, 4);
    assert_int_equal(seq[5], 1);
    sm_cost_figures ref, f;
    assert_int_equal(sm_cost_reference(&g, &m, &w, &ref), SM_OK);
    assert_int_equal(sm_cost_evaluate(&g, &m, seq, &w, &ref, &f), SM_OK);
    assert_same_figures(&ref, &f, "sequential", 0);
    /* cores 0..2 hold two LCs (20 B of memory), all feasible: cost = Σ w */
    assert_int_equal(f.memory_violations, 0);
    assert_true(f.cost == 1 + 2 + 3 + 4);
    assert_true(sm_cost_reward(f.cost, ref.cost) == -1);
    /* any other placement is measured against it */
    int32_t other[N] = {0, 0, 1, 1, 2, 3, 3};
    assert_int_equal(sm_cost_evaluate(&g, &m, other, &w, NULL, &f), SM_OK);
    double expect = 1 * f.hop_bytes / ref.hop_bytes + 2 * f.max_link / ref.max_link +
                    3 * f.imbalance / ref.imbalance + 4 * f.predicted_time / ref.predicted_time;
    assert_true(fabs(f.cost - expect) < 1e-12 * expect);
    sm_graph_free(&g);
}

static void test_from_dense_rejects(void **st) {
    (void)st;
    sm_lc_graph g;
    double t[4] = {0, -1, 0, 0}, c[2] = {1, 1};
    assert_int_equal(sm_graph_from_dense(&g, 2, t, c, NULL, NULL), SM_EINPUT);
    assert_non_null(strstr(sm_errmsg(), "traffic[0][1]"));
    t[1] = 5;
    c[1] = NAN;
    assert_int_equal(sm_graph_from_dense(&g, 2, t, c, NULL, NULL), SM_EINPUT);
    assert_non_null(strstr(sm_errmsg(), "compute[1]"));
    c[1] = 1;
    t[2] = 1e300;
    assert_int_equal(sm_graph_from_dense(&g, 2, t, c, NULL, NULL), SM_EINPUT);
    assert_non_null(strstr(sm_errmsg(), "traffic"));
    t[2] = 2.4;   /* rounded to 2 whole bytes; the diagonal is ignored */
    t[0] = 9;
    assert_int_equal(sm_graph_from_dense(&g, 2, t, c, NULL, NULL), SM_OK);
    assert_int_equal(g.row[2], 2);
    assert_int_equal(g.bytes[0], 5);
    assert_int_equal(g.bytes[1], 2);
    assert_int_equal(sm_graph_total_bytes(&g), 7);
    sm_graph_free(&g);
    sm_mesh m = mesh_of(0, 2, 1, 1, 0);
    assert_int_equal(sm_mesh_check(&m), SM_EINPUT);
}

/* ---- graph.h5 ---------------------------------------------------------- */

static char tmpdir[64];

static int make_tmpdir(void **st) {
    (void)st;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_cost.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **st) {
    (void)st;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_graph_round_trip(void **st) {
    (void)st;
    const double compute[4] = {1.5, 2, 3, 6.25}, memory[4] = {10, 11, 12, 13};
    const int32_t layer[4] = {0, 0, 1, 2};
    sm_lc_graph g, back;
    assert_int_equal(sm_graph_from_dense(&g, 4, traffic_2x2, compute, memory, layer), SM_OK);
    g.compute_is_flops = 1;
    sm_mesh m = mesh_of(2, 2, 20, 100, 0.5), m2;
    m.hop_energy = 3e-12;
    m.core_gflops = 7;
    char path[128];
    snprintf(path, sizeof path, "%s/graph.h5", tmpdir);
    assert_int_equal(sm_graph_write(path, &g, &m), SM_OK);
    if (sm_graph_read(path, &back, &m2)) fail_msg("%s", sm_errmsg());
    assert_int_equal(back.n, 4);
    assert_int_equal(back.compute_is_flops, 1);
    assert_memory_equal(back.compute, compute, sizeof compute);
    assert_memory_equal(back.memory, memory, sizeof memory);
    assert_memory_equal(back.layer, layer, sizeof layer);
    assert_memory_equal(back.row, g.row, 5 * sizeof *g.row);
    assert_memory_equal(back.col, g.col, (size_t)g.row[4] * sizeof *g.col);
    assert_memory_equal(back.bytes, g.bytes, (size_t)g.row[4] * sizeof *g.bytes);
    assert_memory_equal(&m2, &m, sizeof m);
    sm_graph_free(&back);
    sm_graph_free(&g);
}

/* A graph.h5 with each part optional: the datasets given, mesh attributes when with_mesh. */
static void write_raw(const char *path, int n, const double *compute, const double *memory, const double *traffic,
                      int traffic_cols, const int32_t *layer, int with_mesh) {
    sm_h5_quiet();
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(f >= 0);
    hsize_t d1[1] = {(hsize_t)n}, d2[2] = {(hsize_t)n, (hsize_t)traffic_cols};
    if (compute) assert_int_equal(sm_h5_write_doubles(f, "/compute", compute, 1, d1), SM_OK);
    if (memory) assert_int_equal(sm_h5_write_doubles(f, "/memory", memory, 1, d1), SM_OK);
    if (traffic) assert_int_equal(sm_h5_write_doubles(f, "/traffic", traffic, 2, d2), SM_OK);
    if (layer) assert_int_equal(sm_h5_write_ints(f, "/layer", layer, 1, d1), SM_OK);
    if (with_mesh) {
        hid_t root = H5Gopen2(f, "/", H5P_DEFAULT);
        assert_int_equal(sm_h5_attr_int64(root, "mesh_w", 2), SM_OK);
        assert_int_equal(sm_h5_attr_int64(root, "mesh_h", 2), SM_OK);
        assert_int_equal(sm_h5_attr_double(root, "core_memory", 1e6), SM_OK);
        H5Gclose(root);
    }
    H5Fclose(f);
}

/* Reading `path` fails with SM_EINPUT and a message naming the file and every `needles`. */
static void expect_bad(const char *path, const char *needle1, const char *needle2) {
    sm_lc_graph g;
    sm_mesh m;
    assert_int_equal(sm_graph_read(path, &g, &m), SM_EINPUT);
    const char *msg = sm_errmsg();
    if (!strstr(msg, path) || !strstr(msg, needle1) || (needle2 && !strstr(msg, needle2)))
        fail_msg("message '%s' should name %s, %s and %s", msg, path, needle1, needle2 ? needle2 : "");
    assert_null(g.compute);
}

static void test_graph_bad_files(void **st) {
    (void)st;
    double compute[3] = {1, 2, 3}, memory[3] = {1, 1, 1}, traffic[12] = {0, 5, 0, 0, 0, 6, 7, 0, 0, 0, 0, 0};
    int32_t layer[3] = {0, 1, 2};
    char path[128];
    snprintf(path, sizeof path, "%s/bad.h5", tmpdir);

    write_raw(path, 3, compute, memory, traffic, 3, layer, 1);   /* the good file */
    sm_lc_graph g;
    sm_mesh m;
    if (sm_graph_read(path, &g, &m)) fail_msg("%s", sm_errmsg());
    assert_int_equal(g.row[3], 3);
    assert_int_equal(m.mesh_w, 2);
    assert_true(m.hop_energy == 1e-12);   /* optional attributes take the defaults */
    assert_int_equal(g.compute_is_flops, 0);
    sm_graph_free(&g);

    write_raw(path, 3, compute, NULL, traffic, 3, layer, 1);
    expect_bad(path, "missing dataset /memory", NULL);
    write_raw(path, 3, compute, memory, traffic, 4, layer, 1);
    expect_bad(path, "/traffic", "[3,4]");
    write_raw(path, 3, compute, memory, traffic, 3, NULL, 1);
    expect_bad(path, "/layer", NULL);
    traffic[5] = -6;
    write_raw(path, 3, compute, memory, traffic, 3, layer, 1);
    expect_bad(path, "/traffic[1][2]", "-6");
    traffic[5] = 6;
    compute[2] = NAN;
    write_raw(path, 3, compute, memory, traffic, 3, layer, 1);
    expect_bad(path, "/compute[2]", "nan");
    compute[2] = 3;
    memory[0] = -1;
    write_raw(path, 3, compute, memory, traffic, 3, layer, 1);
    expect_bad(path, "/memory[0]", NULL);
    memory[0] = 1;
    layer[1] = -2;
    write_raw(path, 3, compute, memory, traffic, 3, layer, 1);
    expect_bad(path, "/layer[1]", NULL);
    layer[1] = 1;
    write_raw(path, 3, compute, memory, traffic, 3, layer, 0);
    expect_bad(path, "mesh_w", NULL);

    FILE *f = fopen(path, "w");
    fputs("not hdf5", f);
    fclose(f);
    expect_bad(path, "not an HDF5 file", NULL);
    snprintf(path, sizeof path, "%s/missing.h5", tmpdir);
    expect_bad(path, "cannot open", NULL);
}

/* ---- incremental == full ----------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t next_u64(void) {   /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static int below(int n) { return (int)(next_u64() % (uint64_t)n); }
static double unit(void) { return (double)(next_u64() >> 11) / 9007199254740992.0; }

static void test_incremental_matches_full(void **st) {
    (void)st;
    enum { N = 40, W = 5, H = 5, C = W * H, STEPS = 1000 };
    double *traffic = calloc(N * N, sizeof *traffic), compute[N], memory[N];
    for (int i = 0; i < N; i++) {
        compute[i] = unit() * 1e-3;
        memory[i] = 20 + 80 * unit();
        for (int e = 0; e < 5; e++) traffic[i * N + below(N)] = 1 + below(1000000);
    }
    sm_lc_graph g;
    assert_int_equal(sm_graph_from_dense(&g, N, traffic, compute, memory, NULL), SM_OK);
    free(traffic);
    sm_mesh m = mesh_of(W, H, 150, 1e9, 1e-7);
    sm_cost_weights w = {1, 0.5, 2, 1};
    int32_t p[N], trial[N];
    for (int i = 0; i < N; i++) p[i] = below(C);
    sm_cost_state *s;
    assert_int_equal(sm_cost_state_new(&s, &g, &m, p, &w, NULL), SM_OK);
    sm_cost_figures full, delta, before;
    int64_t loads[SM_LINK_DIRS * C], loads_before[SM_LINK_DIRS * C];
    assert_int_equal(sm_cost_evaluate(&g, &m, p, &w, NULL, &full), SM_OK);
    assert_same_figures(sm_cost_state_figures(s), &full, "build", -1);

    int applied = 0, violations_seen = 0, lowered_max = 0;
    for (int step = 0; step < STEPS; step++) {
        before = *sm_cost_state_figures(s);
        memcpy(loads_before, sm_cost_state_link_loads(s), sizeof loads_before);
        memcpy(trial, sm_cost_state_placement(s), sizeof trial);
        int swap = below(2), i = below(N), j = below(N), core = below(C);
        double cost;
        if (swap) {
            cost = sm_cost_delta_swap(s, i, j, &delta);
            int32_t t = trial[i]; trial[i] = trial[j]; trial[j] = t;
        } else {
            cost = sm_cost_delta_move(s, i, core, &delta);
            trial[i] = core;
        }
        assert_true(cost == delta.cost);
        assert_int_equal(sm_cost_evaluate(&g, &m, trial, &w, NULL, &full), SM_OK);
        assert_same_figures(&delta, &full, swap ? "delta swap" : "delta move", step);
        assert_true(sm_cost_delta_swap(s, i, j, NULL) == sm_cost_delta_swap(s, i, j, &delta));
        /* the state did not move */
        assert_same_figures(sm_cost_state_figures(s), &before, "after delta", step);
        assert_memory_equal(sm_cost_state_link_loads(s), loads_before, sizeof loads_before);
        violations_seen += full.memory_violations > 0;
        lowered_max += full.max_link < before.max_link;

        if (below(2)) {
            double c2 = swap ? sm_cost_apply_swap(s, i, j) : sm_cost_apply_move(s, i, core);
            assert_true(c2 == full.cost);
            assert_memory_equal(sm_cost_state_placement(s), trial, sizeof trial);
            assert_same_figures(sm_cost_state_figures(s), &full, "apply", step);
            assert_int_equal(sm_cost_link_loads(&g, &m, trial, loads), SM_OK);
            assert_memory_equal(sm_cost_state_link_loads(s), loads, sizeof loads);
            applied++;
        }
    }
    /* the walk went through the cases it should have */
    assert_true(applied > STEPS / 3);
    assert_true(violations_seen > 0);
    assert_true(lowered_max > 0);
    sm_cost_state_free(s);
    sm_graph_free(&g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mesh_links),
        cmocka_unit_test(test_hand_2x2),
        cmocka_unit_test(test_hand_3x3),
        cmocka_unit_test(test_reference_is_sequential),
        cmocka_unit_test(test_from_dense_rejects),
        cmocka_unit_test_setup_teardown(test_graph_round_trip, make_tmpdir, remove_tmpdir),
        cmocka_unit_test_setup_teardown(test_graph_bad_files, make_tmpdir, remove_tmpdir),
        cmocka_unit_test(test_incremental_matches_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
