/* test_place_scotch.c — the `scotch` placer (placement/place_scotch.c): valid,
 * deterministic placements that beat sequential hop-bytes on chains of layers,
 * only usable cores, re-mapping that moves less memory when migration is
 * expensive, and memory feasibility under pressure.
 *
 * The graphs are chains of layers: every LC of layer l sends to every LC of
 * layer l+1 (forward) and gets back as much (backward), like a dense network.
 * Layer sizes that do not match the mesh width make the row-major sequential
 * placement scatter a layer's partners, which is what a mapper should fix.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sm_common.h"
#include "sm_cost.h"
#include "sm_graph.h"
#include "sm_place.h"

static sm_mesh mesh_of(int w, int h, double core_memory) {
    sm_mesh m = sm_mesh_default();
    m.mesh_w = w, m.mesh_h = h, m.core_memory = core_memory;
    return m;
}

/* Chain of layers with sizes[0..n_layers): all-to-all `bytes` between consecutive
 * layers, both ways; compute 1 + (i % 3) / 4, memory `memory` for every LC. */
static void chain_graph(sm_lc_graph *g, const int *sizes, int n_layers, double bytes, double memory) {
    int n = 0, first[16];
    for (int l = 0; l < n_layers; l++) first[l] = n, n += sizes[l];
    double *traffic = calloc((size_t)n * n, sizeof(double));
    double *compute = malloc(sizeof(double) * n), *mem = malloc(sizeof(double) * n);
    int32_t *layer = malloc(sizeof(int32_t) * n);
    for (int l = 0; l + 1 < n_layers; l++)
        for (int i = first[l]; i < first[l] + sizes[l]; i++)
            for (int j = first[l + 1]; j < first[l + 1] + sizes[l + 1]; j++) {
                traffic[(size_t)i * n + j] = bytes;
                traffic[(size_t)j * n + i] = bytes / 2; /* gradients back */
            }
    for (int l = 0; l < n_layers; l++)
        for (int i = first[l]; i < first[l] + sizes[l]; i++) layer[i] = l;
    for (int i = 0; i < n; i++) compute[i] = 1.0 + (i % 3) / 4.0, mem[i] = memory;
    assert_int_equal(sm_graph_from_dense(g, n, traffic, compute, mem, layer), SM_OK);
    free(traffic); free(compute); free(mem); free(layer);
}

/* Every LC on a core in [0, usable). */
static void assert_valid(const int32_t *lc_core, int n, int usable) {
    for (int i = 0; i < n; i++)
        if (lc_core[i] < 0 || lc_core[i] >= usable)
            fail_msg("LC %d on core %d, expected 0..%d", i, lc_core[i], usable - 1);
}

static double moved_memory(const sm_lc_graph *g, const int32_t *a, const int32_t *b) {
    double bytes = 0;
    for (int i = 0; i < g->n; i++)
        if (a[i] != b[i]) bytes += g->memory[i];
    return bytes;
}

static void test_valid_and_deterministic(void **st) {
    (void)st;
    static const int sizes[] = {3, 6, 6, 1};
    sm_lc_graph g;
    chain_graph(&g, sizes, 4, 1e6, 1e3);
    sm_mesh m = mesh_of(4, 4, 1e9);
    sm_place_problem p = sm_place_problem_default(&g, &m);
    p.seed = 42;
    int32_t a[16], b[16];
    sm_place_result ra, rb;
    assert_int_equal(sm_place("scotch", &p, a, &ra), SM_OK);
    assert_valid(a, g.n, 16);
    assert_true(ra.evaluations >= 1 && ra.evaluations <= 2);
    assert_true(isfinite(ra.fig.cost) && ra.fig.memory_violations == 0);
    for (int rep = 0; rep < 3; rep++) {
        assert_int_equal(sm_place("scotch", &p, b, &rb), SM_OK);
        assert_memory_equal(a, b, sizeof a);
        assert_true(ra.fig.cost == rb.fig.cost);
    }
    /* the method entry point directly gives the same placement */
    long evals = 0;
    assert_int_equal(sm_place_scotch(&p, b, &evals), SM_OK);
    assert_memory_equal(a, b, sizeof a);
    assert_int_equal(evals, ra.evaluations);
    sm_graph_free(&g);
}

/* Hop-bytes of Scotch's placement below the sequential one's, on several
 * chains and meshes (16 to 64 LCs on 4x4 and 8x8). */
static void test_beats_sequential(void **st) {
    (void)st;
    static const struct { int w, h, n_layers, sizes[6]; } cases[] = {
        {4, 4, 4, {3, 6, 6, 1}},
        {4, 4, 5, {5, 7, 7, 7, 6}},         /* 32 LCs: two per core */
        {8, 8, 4, {12, 20, 20, 12}},
        {8, 8, 6, {6, 10, 10, 10, 10, 6}},  /* 52 LCs, fewer than cores */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        sm_lc_graph g;
        chain_graph(&g, cases[k].sizes, cases[k].n_layers, 1e5, 1e3);
        sm_mesh m = mesh_of(cases[k].w, cases[k].h, 1e9);
        sm_place_problem p = sm_place_problem_default(&g, &m);
        sm_cost_figures ref;
        assert_int_equal(sm_cost_reference(&g, &m, &p.weights, &ref), SM_OK);
        int32_t *lc_core = malloc(sizeof(int32_t) * g.n);
        sm_place_result r;
        assert_int_equal(sm_place("scotch", &p, lc_core, &r), SM_OK);
        assert_valid(lc_core, g.n, cases[k].w * cases[k].h);
        if (!(r.fig.hop_bytes < ref.hop_bytes))
            fail_msg("case %zu (%d LCs on %dx%d): scotch hop-bytes %.4g, sequential %.4g", k, g.n,
                     cases[k].w, cases[k].h, r.fig.hop_bytes, ref.hop_bytes);
        free(lc_core);
        sm_graph_free(&g);
    }
}

/* usable < cores: a prefix that is not whole rows, and one that is. */
static void test_usable_respected(void **st) {
    (void)st;
    static const int sizes[] = {5, 8, 7};
    sm_lc_graph g;
    chain_graph(&g, sizes, 3, 1e5, 1e3);
    sm_mesh m = mesh_of(4, 4, 1e9);
    const int usables[] = {10, 8, 2, 1};
    for (int k = 0; k < 4; k++) {
        sm_place_problem p = sm_place_problem_default(&g, &m);
        p.usable = usables[k];
        int32_t lc_core[20];
        sm_place_result r;
        assert_int_equal(sm_place("scotch", &p, lc_core, &r), SM_OK);
        assert_valid(lc_core, g.n, usables[k]);
        if (usables[k] > 1) { /* the load is spread over the usable cores */
            int used[16] = {0}, n_used = 0;
            for (int i = 0; i < g.n; i++) n_used += !used[lc_core[i]]++;
            assert_true(n_used >= usables[k] / 2);
        }
    }
    sm_graph_free(&g);
}

/* From a scrambled current placement: plain mapping moves most LCs; with an
 * expensive migration the re-mapping moves less memory. */
static void test_remap_moves_less(void **st) {
    (void)st;
    static const int sizes[] = {4, 8, 8, 4};
    sm_lc_graph g;
    chain_graph(&g, sizes, 4, 1e5, 0);
    for (int i = 0; i < g.n; i++) g.memory[i] = 1e6 * (1 + i % 4);
    sm_mesh m = mesh_of(4, 4, 1e9);
    int32_t current[24], plain[24], remapped[24];
    for (int i = 0; i < g.n; i++) current[i] = (int32_t)((i * 7 + 3) % 16); /* scrambled */
    sm_place_problem p = sm_place_problem_default(&g, &m);
    p.current = current;
    sm_place_result r;
    assert_int_equal(sm_place("scotch", &p, plain, &r), SM_OK); /* weight 0: a fresh map */
    p.migration_weight = 1e3;
    assert_int_equal(sm_place("scotch", &p, remapped, &r), SM_OK);
    assert_valid(remapped, g.n, 16);
    double moved_plain = moved_memory(&g, plain, current), moved_remap = moved_memory(&g, remapped, current);
    if (!(moved_remap < moved_plain))
        fail_msg("remap moved %.4g bytes, plain mapping %.4g", moved_remap, moved_plain);
    /* a small weight lies in between or equals the plain map, never above it by much */
    p.migration_weight = 1e-9;
    assert_int_equal(sm_place("scotch", &p, remapped, &r), SM_OK);
    assert_valid(remapped, g.n, 16);
    sm_graph_free(&g);
}

/* 16 big LCs (0.55 of a core) and 8 small ones (0.4) on 16 cores: feasible only
 * with one big LC per core. The result must have no core over core_memory. */
static void test_memory_pressure(void **st) {
    (void)st;
    static const int sizes[] = {8, 8, 8};
    sm_lc_graph g;
    chain_graph(&g, sizes, 3, 1e5, 0);
    const double cap = 1e6;
    for (int i = 0; i < g.n; i++) g.memory[i] = (i % 3 == 2 ? 0.4 : 0.55) * cap;
    int big = 0;
    for (int i = 0; i < g.n; i++) big += g.memory[i] > 0.5 * cap;
    assert_int_equal(big, 16);
    sm_mesh m = mesh_of(4, 4, cap);
    sm_place_problem p = sm_place_problem_default(&g, &m);
    int32_t lc_core[24];
    sm_place_result r;
    assert_int_equal(sm_place("scotch", &p, lc_core, &r), SM_OK);
    assert_valid(lc_core, g.n, 16);
    assert_int_equal(r.fig.memory_violations, 0);
    double mem[16] = {0};
    for (int i = 0; i < g.n; i++) mem[lc_core[i]] += g.memory[i];
    for (int c = 0; c < 16; c++) assert_true(mem[c] <= cap);
    sm_graph_free(&g);
}

/* A graph without traffic and one LC per core; a 1x1 mesh. */
static void test_edge_cases(void **st) {
    (void)st;
    double compute[4] = {1, 2, 3, 4}, memory[4] = {1, 1, 1, 1}, traffic[16] = {0};
    sm_lc_graph g;
    assert_int_equal(sm_graph_from_dense(&g, 4, traffic, compute, memory, NULL), SM_OK);
    sm_mesh m = mesh_of(2, 2, 1e6);
    sm_place_problem p = sm_place_problem_default(&g, &m);
    int32_t lc_core[4];
    sm_place_result r;
    assert_int_equal(sm_place("scotch", &p, lc_core, &r), SM_OK);
    assert_valid(lc_core, 4, 4);
    m = mesh_of(1, 1, 1e6);
    assert_int_equal(sm_place("scotch", &p, lc_core, &r), SM_OK);
    assert_valid(lc_core, 4, 1);
    sm_graph_free(&g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_and_deterministic),
        cmocka_unit_test(test_beats_sequential),
        cmocka_unit_test(test_usable_respected),
        cmocka_unit_test(test_remap_moves_less),
        cmocka_unit_test(test_memory_pressure),
        cmocka_unit_test(test_edge_cases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
