/* test_place_search.c — the search placers (placement/place_search.c, place_ga.c):
 * random, greedy + local search, sa, ga and the sm_ga_run stage.
 *
 * Graphs are built like real partitions: a pipeline of layers, every LC of a
 * layer sending to every LC of the next (bytes grow with the layer's fan-in),
 * LC ids layer by layer. What is checked, for every method:
 *   - evaluations in (0, budget], also for tiny budgets;
 *   - same seed ⇒ the same placement; another seed ⇒ (for the random methods) another;
 *   - only usable cores, at most sm_place_slots LCs per core, memory-feasible
 *     where a feasible placement is known to exist (sequential is not);
 *   - the figures sm_place returns are sm_cost_evaluate's of the placement;
 *   - on the pipeline, sa, ga and greedy beat sequential's hop-bytes by >= 15 %;
 *   - local search ends in a local minimum (checked by brute force over every
 *     swap and move with sm_cost_evaluate), and sa finds the optimum of a case
 *     small enough to enumerate;
 *   - the batch evaluator sees every evaluation of random and ga, and gives the
 *     same result as serial evaluation; an abort is SM_EFAIL;
 *   - sa and the local search evaluate no swap of interchangeable LCs and no
 *     try that overfills a core.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "place_internal.h"
#include "sm_common.h"
#include "sm_cost.h"
#include "sm_graph.h"
#include "sm_place.h"

static const char *const searchers[] = {"random", "greedy", "sa", "ga"};
enum { N_SEARCHERS = 4 };

static sm_mesh mesh_of(int w, int h, double core_memory) {
    sm_mesh m = sm_mesh_default();
    m.mesh_w = w, m.mesh_h = h, m.core_memory = core_memory;
    return m;
}

/* A pipeline: layer sizes sizes[0..n_layers), every LC of a layer sending to
 * every LC of the next, 1000 · (layer + 1) bytes per pair; with `local`, like
 * a convolution partitioned by region, only the pairs whose regions overlap
 * (relative positions within 0.2) send that much, the others 5 % of it.
 * Compute 1e-3 s; memory `memory` bytes per LC (memory_odd for odd LC ids). */
static void pipeline_graph(sm_lc_graph *g, const int *sizes, int n_layers, int local, double memory,
                           double memory_odd) {
    int n = 0, first[16];
    for (int l = 0; l < n_layers; l++) first[l] = n, n += sizes[l];
    double *traffic = calloc((size_t)n * n, sizeof *traffic), *compute = malloc(n * sizeof *compute);
    double *mem = malloc(n * sizeof *mem);
    int32_t *layer = malloc(n * sizeof *layer);
    for (int l = 0; l < n_layers; l++)
        for (int a = first[l]; a < first[l] + sizes[l]; a++) {
            layer[a] = l;
            compute[a] = 1e-3;
            mem[a] = a % 2 ? memory_odd : memory;
            for (int b = 0; l + 1 < n_layers && b < sizes[l + 1]; b++) {
                double pa = (a - first[l] + 0.5) / sizes[l], pb = (b + 0.5) / sizes[l + 1];
                traffic[a * n + first[l + 1] + b] = 1000.0 * (l + 1) * (local && fabs(pa - pb) > 0.2 ? 0.05 : 1);
            }
        }
    assert_int_equal(sm_graph_from_dense(g, n, traffic, compute, mem, layer), SM_OK);
    free(traffic), free(compute), free(mem), free(layer);
}

/* 64 LCs in layers 8, 24, 8, 16, 8 on 8x8: sequential splits layers across rows. */
static const int pipe64[] = {8, 24, 8, 16, 8};

static void assert_valid(const sm_place_problem *p, const int32_t *lc_core, const char *name) {
    int U = sm_place_usable(p), S = sm_place_slots(p), load[4096] = {0};
    for (int i = 0; i < p->g->n; i++) {
        if (lc_core[i] < 0 || lc_core[i] >= U) fail_msg("%s: lc %d on core %d, usable %d", name, i, lc_core[i], U);
        if (++load[lc_core[i]] > S) fail_msg("%s: core %d holds more than %d LCs", name, lc_core[i], S);
    }
}

static void assert_same_figures(const sm_cost_figures *a, const sm_cost_figures *b, const char *name) {
#define SAME(x) if (a->x != b->x) fail_msg("%s: " #x " %.17g vs evaluate %.17g", name, (double)a->x, (double)b->x)
    SAME(hop_bytes); SAME(max_link); SAME(mean_link); SAME(top5_link); SAME(imbalance);
    SAME(max_core_compute); SAME(predicted_time); SAME(energy); SAME(memory_violations);
    SAME(max_core_memory); SAME(max_hops); SAME(cost);
#undef SAME
}

/* sm_place(name) with checks that hold for every method and problem. */
static void run(const char *name, const sm_place_problem *p, int32_t *lc_core, sm_place_result *res) {
    int rc = sm_place(name, p, lc_core, res);
    if (rc != SM_OK) fail_msg("%s: %s", name, sm_errmsg());
    long budget = p->budget > 0 ? p->budget : SM_PLACE_DEFAULT_BUDGET;
    if (res->evaluations < 1 || res->evaluations > budget)
        fail_msg("%s: %ld evaluations, budget %ld", name, res->evaluations, budget);
    assert_valid(p, lc_core, name);
    sm_cost_figures f;
    assert_int_equal(sm_cost_evaluate(p->g, p->mesh, lc_core, &p->weights, p->ref, &f), SM_OK);
    assert_same_figures(&res->fig, &f, name);
}

static void test_budget_and_figures(void **st) {
    (void)st;
    sm_lc_graph g;
    pipeline_graph(&g, pipe64, 5, 1, 1, 1);
    sm_mesh m = mesh_of(8, 8, 1e9);
    int32_t lc[64];
    sm_place_result res;
    for (int s = 0; s < N_SEARCHERS; s++) {
        const long budgets[] = {1, 2, 7, 100, 3000};
        for (int b = 0; b < 5; b++) {
            sm_place_problem p = sm_place_problem_default(&g, &m);
            p.budget = budgets[b];
            run(searchers[s], &p, lc, &res);
            if (b == 4 && strcmp(searchers[s], "greedy") != 0 && res.evaluations < budgets[b] / 2)
                fail_msg("%s used %ld of %ld evaluations", searchers[s], res.evaluations, budgets[b]);
        }
    }
    sm_graph_free(&g);
}

static void test_determinism(void **st) {
    (void)st;
    sm_lc_graph g;
    pipeline_graph(&g, pipe64, 5, 1, 1, 1);
    sm_mesh m = mesh_of(8, 8, 1e9);
    for (int s = 0; s < N_SEARCHERS; s++) {
        int32_t a[64], b[64], c[64];
        sm_place_result ra, rb, rc;
        sm_place_problem p = sm_place_problem_default(&g, &m);
        p.budget = 2000;
        p.seed = 7;
        run(searchers[s], &p, a, &ra);
        run(searchers[s], &p, b, &rb);
        if (memcmp(a, b, sizeof a) || ra.evaluations != rb.evaluations)
            fail_msg("%s: same seed, different placements", searchers[s]);
        if (strcmp(searchers[s], "greedy") == 0) continue;   /* no randomness */
        p.seed = 8;
        run(searchers[s], &p, c, &rc);
        if (!memcmp(a, c, sizeof a)) fail_msg("%s: seeds 7 and 8 gave the same placement", searchers[s]);
    }
    sm_graph_free(&g);
}

/* On the conv-like pipeline: with hop-bytes as the only weight, greedy, sa and
 * ga cut sequential's hop-bytes by >= 20 %; with the default weights, their
 * cost is >= 10 % below sequential's and their hop-bytes >= 15 %. */
static void test_beats_sequential(void **st) {
    (void)st;
    sm_lc_graph g;
    pipeline_graph(&g, pipe64, 5, 1, 1, 1);
    sm_mesh m = mesh_of(8, 8, 1e9);
    const char *const better[] = {"greedy", "sa", "ga"};
    for (int hop_bytes_only = 1; hop_bytes_only >= 0; hop_bytes_only--) {
        sm_place_problem p = sm_place_problem_default(&g, &m);
        if (hop_bytes_only) p.weights = (sm_cost_weights){1, 0, 0, 0};
        p.budget = 10000;
        int32_t seq[64], lc[64];
        sm_place_result rs, res;
        assert_int_equal(sm_place("sequential", &p, seq, &rs), SM_OK);
        for (int s = 0; s < 3; s++) {
            run(better[s], &p, lc, &res);
            double hop = res.fig.hop_bytes / rs.fig.hop_bytes, cost = res.fig.cost / rs.fig.cost;
            if (hop_bytes_only ? hop > 0.8 : cost > 0.9 || hop > 0.85)
                fail_msg("%s (weights %s): hop-bytes %.3f, cost %.3f of sequential's", better[s],
                         hop_bytes_only ? "hop_bytes only" : "default", hop, cost);
        }
    }
    sm_graph_free(&g);
}

/* 32 LCs (layers of 8) on 4x4 cores, 2 slots, and memory that allows one even
 * + one odd LC per core only (3 + 2 <= 5.5 < 3 + 3); the default problem on
 * them with `budget`. */
static sm_place_problem memory_pairs(sm_lc_graph *g, sm_mesh *m, long budget) {
    const int sizes[] = {8, 8, 8, 8};
    pipeline_graph(g, sizes, 4, 0, 3, 2);
    *m = mesh_of(4, 4, 5.5);
    sm_place_problem p = sm_place_problem_default(g, m);
    p.budget = budget;
    return p;
}

/* On memory_pairs, sequential (i and i + 16 share a core) violates on every
 * core; every method must find a feasible placement. */
static void test_memory_pressure(void **st) {
    (void)st;
    sm_lc_graph g;
    sm_mesh m;
    sm_place_problem p = memory_pairs(&g, &m, 3000);
    int32_t lc[32];
    sm_place_result res;
    assert_int_equal(sm_place("sequential", &p, lc, &res), SM_OK);
    assert_true(res.fig.memory_violations > 0);
    for (int s = 0; s < N_SEARCHERS; s++) {
        run(searchers[s], &p, lc, &res);
        if (res.fig.memory_violations) fail_msg("%s: %d cores over memory", searchers[s], res.fig.memory_violations);
        assert_true(res.fig.cost < SM_COST_INFEASIBLE_PENALTY);
    }
    sm_graph_free(&g);
}

/* usable < mesh: 40 LCs on the first 20 cores of a 6x6 mesh (slots 2). */
static void test_usable(void **st) {
    (void)st;
    const int sizes[] = {10, 10, 10, 10};
    sm_lc_graph g;
    pipeline_graph(&g, sizes, 4, 0, 1, 1);
    sm_mesh m = mesh_of(6, 6, 1e9);
    sm_place_problem p = sm_place_problem_default(&g, &m);
    p.budget = 2000;
    p.usable = 20;
    int32_t lc[40];
    sm_place_result res;
    for (int s = 0; s < N_SEARCHERS; s++) run(searchers[s], &p, lc, &res);   /* run checks usable and slots */
    sm_graph_free(&g);
}

/* 12 LCs on 3x3 (slots 2), from a scrambled start: afterwards no swap of LCs on
 * different cores and no move to a core with a free slot lowers the cost. */
static void test_local_search_minimum(void **st) {
    (void)st;
    const int sizes[] = {3, 5, 4};
    sm_lc_graph g;
    pipeline_graph(&g, sizes, 3, 0, 1, 1);
    sm_mesh m = mesh_of(3, 3, 1e9);
    sm_place_problem p = sm_place_problem_default(&g, &m);
    int32_t lc[12], trial[12];
    for (int i = 0; i < 12; i++) lc[i] = (i * 5) % 9;
    int32_t capped[12];
    memcpy(capped, lc, sizeof capped);
    assert_int_equal(sm_place_local_search(&p, capped, 10), 10);   /* stops at its budget */
    long used = sm_place_local_search(&p, lc, 100000);
    assert_true(used > 1 && used < 100000);   /* converged, not stopped by the budget */
    assert_valid(&p, lc, "local search");
    sm_cost_figures here, f;
    assert_int_equal(sm_cost_evaluate(&g, &m, lc, &p.weights, NULL, &here), SM_OK);
    double tol = 1e-9 * here.cost;
    int load[9] = {0};
    for (int i = 0; i < 12; i++) load[lc[i]]++;
    for (int i = 0; i < 12; i++)
        for (int j = 0; j < 12; j++) {
            if (lc[i] == lc[j]) continue;
            memcpy(trial, lc, sizeof trial);
            trial[i] = lc[j], trial[j] = lc[i];
            assert_int_equal(sm_cost_evaluate(&g, &m, trial, &p.weights, NULL, &f), SM_OK);
            if (f.cost < here.cost - tol) fail_msg("swap %d %d improves %.12g -> %.12g", i, j, here.cost, f.cost);
        }
    for (int i = 0; i < 12; i++)
        for (int c = 0; c < 9; c++) {
            if (c == lc[i] || load[c] >= sm_place_slots(&p)) continue;
            memcpy(trial, lc, sizeof trial);
            trial[i] = c;
            assert_int_equal(sm_cost_evaluate(&g, &m, trial, &p.weights, NULL, &f), SM_OK);
            if (f.cost < here.cost - tol) fail_msg("move %d -> %d improves %.12g -> %.12g", i, c, here.cost, f.cost);
        }
    sm_graph_free(&g);
}

/* 4 LCs with traffic 0 -> 1 -> 2 -> 3 (growing bytes) on 2x2: slots 1, so the
 * 24 permutations are every placement; sa, ga and greedy find the cheapest. */
static void test_tiny_optimum(void **st) {
    (void)st;
    double traffic[16] = {0}, compute[4] = {1, 2, 3, 4};
    traffic[0 * 4 + 1] = 100, traffic[1 * 4 + 2] = 300, traffic[2 * 4 + 3] = 200, traffic[3 * 4 + 0] = 50;
    sm_lc_graph g;
    assert_int_equal(sm_graph_from_dense(&g, 4, traffic, compute, NULL, NULL), SM_OK);
    sm_mesh m = mesh_of(2, 2, 1e9);
    sm_place_problem p = sm_place_problem_default(&g, &m);
    p.weights = (sm_cost_weights){1, 1, 0, 0};
    p.budget = 500;
    double optimum = INFINITY, worst = 0;
    int32_t perm[4] = {0, 1, 2, 3}, lc[4];
    for (int k = 0; k < 24; k++) {   /* the k-th permutation, by the factorial number system */
        int pool[4] = {0, 1, 2, 3}, left = 4, r = k;
        for (int i = 0; i < 4; i++) {
            int f = 1;
            for (int t = 2; t < left; t++) f *= t;
            int at = r / f;
            r %= f;
            perm[i] = pool[at];
            memmove(pool + at, pool + at + 1, (size_t)(left - at - 1) * sizeof *pool);
            left--;
        }
        sm_cost_figures f;
        assert_int_equal(sm_cost_evaluate(&g, &m, perm, &p.weights, NULL, &f), SM_OK);
        optimum = fmin(optimum, f.cost), worst = fmax(worst, f.cost);
    }
    assert_true(worst > optimum * 1.1);   /* the case can tell a good placer from a bad one */
    const char *const exact[] = {"sa", "ga", "greedy"};
    for (int s = 0; s < 3; s++)
        for (uint64_t seed = 1; seed <= 5; seed++) {
            sm_place_result res;
            p.seed = seed;
            run(exact[s], &p, lc, &res);
            if (res.fig.cost > optimum * (1 + 1e-12))
                fail_msg("%s seed %d: cost %.12g, optimum %.12g", exact[s], (int)seed, res.fig.cost, optimum);
        }
    sm_graph_free(&g);
}

/* A batch evaluator that checks what it is given and counts it. */
typedef struct {
    const sm_place_problem *p;
    long placements, calls;
    int abort_at_call;   /* > 0: return 1 on that call */
} batch_ctx;

static int batch_eval(void *ctx, int k, const int32_t *placements, double *costs) {
    batch_ctx *b = ctx;
    if (++b->calls == b->abort_at_call) return 1;
    for (int q = 0; q < k; q++) {
        sm_cost_figures f;
        if (sm_cost_evaluate(b->p->g, b->p->mesh, placements + (size_t)q * b->p->g->n, &b->p->weights, NULL, &f))
            return 1;
        costs[q] = f.cost;
    }
    b->placements += k;
    return 0;
}

static void test_batch_eval(void **st) {
    (void)st;
    sm_lc_graph g;
    pipeline_graph(&g, pipe64, 5, 1, 1, 1);
    sm_mesh m = mesh_of(8, 8, 1e9);
    const char *const batched[] = {"random", "ga"};
    for (int s = 0; s < 2; s++) {
        sm_place_problem p = sm_place_problem_default(&g, &m);
        p.budget = 1000;
        int32_t serial[64], spread[64];
        sm_place_result rs, rb;
        run(batched[s], &p, serial, &rs);
        batch_ctx ctx = {.p = &p};
        p.batch_eval = batch_eval, p.batch_ctx = &ctx;
        run(batched[s], &p, spread, &rb);
        assert_memory_equal(serial, spread, sizeof serial);
        assert_true(ctx.calls > 1 && ctx.placements > rb.evaluations / 2);
        if (s == 0) assert_int_equal(ctx.placements, rb.evaluations);   /* random: every evaluation batched */
        ctx = (batch_ctx){.p = &p, .abort_at_call = 2};
        assert_int_equal(sm_place(batched[s], &p, spread, &rb), SM_EFAIL);
    }
    sm_graph_free(&g);
}

/* sm_ga_run never returns worse than its best seed (elitism), counts into the
 * caller's sm_evals, and stops at the budget it was given. */
static void test_ga_run_seeds(void **st) {
    (void)st;
    sm_lc_graph g;
    pipeline_graph(&g, pipe64, 5, 1, 1, 1);
    sm_mesh m = mesh_of(8, 8, 1e9);
    sm_place_problem p = sm_place_problem_default(&g, &m);
    p.budget = 20000;
    int32_t good[64], seeds[2 * 64], best[64];
    sm_place_result res;
    run("sa", &p, good, &res);
    for (int i = 0; i < 64; i++) seeds[i] = i, seeds[64 + i] = good[i];
    sm_evals e;
    assert_int_equal(sm_evals_init(&e, &p), SM_OK);
    assert_int_equal(sm_ga_run(&e, seeds, 2, 500, 3, best), SM_OK);
    assert_true(e.n > 0 && e.n <= 500);
    sm_cost_figures f;
    assert_int_equal(sm_cost_evaluate(&g, &m, best, &p.weights, NULL, &f), SM_OK);
    assert_true(f.cost <= res.fig.cost);
    assert_valid(&p, best, "sm_ga_run");
    sm_graph_free(&g);
}

/* sa from p->current: never worse than where it started. */
static void test_sa_from_current(void **st) {
    (void)st;
    sm_lc_graph g;
    pipeline_graph(&g, pipe64, 5, 1, 1, 1);
    sm_mesh m = mesh_of(8, 8, 1e9);
    sm_place_problem p = sm_place_problem_default(&g, &m);
    p.budget = 5000;
    int32_t good[64], lc[64];
    sm_place_result rg, res;
    run("greedy", &p, good, &rg);
    p.current = good;
    p.budget = 300;
    run("sa", &p, lc, &res);
    assert_true(res.fig.cost <= rg.fig.cost);
    sm_graph_free(&g);
}

/* Tries no search evaluates (place_tries.c): sa and the local search neither
 * swap interchangeable LCs nor overfill a core. On memory_pairs, from LCs 2c
 * and 2c + 1 on core c, a swap overfills a core often (checked with the cost
 * model, so that the test can see such tries); the
 * local search spends evaluations, none of them on an overfilled placement,
 * and ends feasible and better. Then 2 big LCs (1.5) sending to 2 small ones
 * (0.5) on 2 cores of 2: every swap is of interchangeable LCs or overfills a
 * core, so sa and the local search evaluate their start and nothing else
 * (without the check sa would spend its whole budget). */
static void test_tries_not_worth(void **st) {
    (void)st;
    sm_lc_graph g;
    sm_mesh m;
    sm_place_problem p = memory_pairs(&g, &m, 100000);
    int32_t start[32], lc[32];
    for (int i = 0; i < 32; i++) start[i] = i / 2;
    sm_evals e;
    assert_int_equal(sm_evals_init(&e, &p), SM_OK);
    const double start_cost = sm_evals_full(&e, start, NULL);
    assert_true(start_cost < 0.5 * SM_COST_INFEASIBLE_PENALTY);
    sm_cost_state *cs = sm_evals_state(&e, start);
    int over = 0, pairs = 0;
    for (int i = 0; i < 32; i++)
        for (int j = i + 1; j < 32; j++)
            if (start[i] != start[j])
                pairs++, over += sm_cost_delta_swap(cs, i, j, NULL) >= 0.5 * SM_COST_INFEASIBLE_PENALTY;
    sm_cost_state_free(cs);
    assert_true(over > pairs / 4);
    memcpy(lc, start, sizeof lc);
    assert_int_equal(sm_evals_init(&e, &p), SM_OK);
    long used = sm_local_search_run(&e, lc, 100000);
    assert_true(used > 0 && used == e.n);
    assert_int_equal(e.infeasible, 0);
    assert_int_equal(sm_evals_init(&e, &p), SM_OK);
    assert_true(sm_evals_full(&e, lc, NULL) < start_cost);
    sm_graph_free(&g);

    double t[16] = {0}, memory[4] = {1.5, 1.5, 0.5, 0.5};
    for (int b = 0; b < 2; b++)
        for (int q = 2; q < 4; q++) t[b * 4 + q] = 1000;
    assert_int_equal(sm_graph_from_dense(&g, 4, t, NULL, memory, NULL), SM_OK);
    m = mesh_of(2, 1, 2);
    p = sm_place_problem_default(&g, &m);
    p.budget = 1000;
    int32_t two[4] = {0, 1, 0, 1}, out[4];
    p.current = two;
    sm_place_result res;
    run("sa", &p, out, &res);
    assert_int_equal(res.evaluations, 1);
    assert_memory_equal(out, two, sizeof two);
    memcpy(out, two, sizeof two);
    assert_int_equal(sm_place_local_search(&p, out, 1000), 1);
    sm_graph_free(&g);
}

/* An LC larger than any core overfills whatever core it is on, so no
 * placement is within memory; it must still move towards its partners. A star:
 * LC 0 (memory 10 on cores of 5.5) sends 1000 bytes to each of 15 LCs on 4x4,
 * one LC per core. From sequential (LC 0 in a corner: 48 000 hop-bytes) only a
 * swap that takes LC 0 onto a core within memory helps, and the optimum puts it
 * on a centre core (32 000). Every search reaches it, with one overfull core
 * throughout (before the exception in sm_try_overfills, sa and the local search
 * refused every such swap and stayed at 48 000). */
static void test_oversize_lc(void **st) {
    (void)st;
    double t[16 * 16] = {0}, memory[16];
    for (int i = 0; i < 16; i++) memory[i] = 1, t[i] = i ? 1000 : 0;
    memory[0] = 10;
    sm_lc_graph g;
    assert_int_equal(sm_graph_from_dense(&g, 16, t, NULL, memory, NULL), SM_OK);
    sm_mesh m = mesh_of(4, 4, 5.5);
    sm_place_problem p = sm_place_problem_default(&g, &m);
    p.budget = 2000;
    p.weights = (sm_cost_weights){1, 0, 0, 0};
    static const char *const methods[] = {"greedy", "sa", "ga", "rl"};
    int32_t lc[16];
    sm_place_result res;
    for (int k = 0; k < 4; k++) {
        run(methods[k], &p, lc, &res);
        if (res.fig.hop_bytes != 32000 || res.fig.memory_violations != 1)
            fail_msg("%s: hop-bytes %g, %d overfull cores; expected 32000 and 1", methods[k], res.fig.hop_bytes,
                     res.fig.memory_violations);
    }
    for (int i = 0; i < 16; i++) lc[i] = i; /* sequential */
    assert_int_equal(sm_place_local_search(&p, lc, 2000) > 1, 1);
    sm_cost_figures f;
    assert_int_equal(sm_cost_evaluate(&g, &m, lc, &p.weights, NULL, &f), SM_OK);
    assert_true(f.hop_bytes == 32000 && f.memory_violations == 1);
    sm_graph_free(&g);
}

/* Degenerate meshes: one core, one usable core, a one-wide column; and the
 * trace: best costs strictly falling at non-decreasing evaluation counts. */
static void test_edge_meshes(void **st) {
    (void)st;
    const int sizes[] = {2, 3, 1};
    sm_lc_graph g;
    pipeline_graph(&g, sizes, 3, 0, 1, 1);
    const int shapes[3][3] = {{1, 1, 0}, {3, 3, 1}, {1, 6, 0}};   /* w, h, usable */
    for (int k = 0; k < 3; k++) {
        sm_mesh m = mesh_of(shapes[k][0], shapes[k][1], 1e9);
        for (int s = 0; s < N_SEARCHERS; s++) {
            sm_place_problem p = sm_place_problem_default(&g, &m);
            p.budget = 300;
            p.usable = shapes[k][2];
            sm_place_trace trace = {0};
            p.trace = &trace;
            int32_t lc[6];
            sm_place_result res;
            run(searchers[s], &p, lc, &res);
            assert_true(trace.n >= 1);
            for (int t = 1; t < trace.n - 1; t++)   /* the last point is sm_place's own, at the end */
                if (!(trace.points[t].cost < trace.points[t - 1].cost &&
                      trace.points[t].evaluations >= trace.points[t - 1].evaluations))
                    fail_msg("%s: trace point %d (%ld, %g) after (%ld, %g)", searchers[s], t, trace.points[t].evaluations,
                             trace.points[t].cost, trace.points[t - 1].evaluations, trace.points[t - 1].cost);
            assert_true(trace.points[trace.n - 1].evaluations <= 300);
            sm_place_trace_free(&trace);
        }
    }
    sm_graph_free(&g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_budget_and_figures),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_beats_sequential),
        cmocka_unit_test(test_memory_pressure),
        cmocka_unit_test(test_usable),
        cmocka_unit_test(test_local_search_minimum),
        cmocka_unit_test(test_tiny_optimum),
        cmocka_unit_test(test_batch_eval),
        cmocka_unit_test(test_ga_run_seeds),
        cmocka_unit_test(test_sa_from_current),
        cmocka_unit_test(test_edge_meshes),
        cmocka_unit_test(test_tries_not_worth),
        cmocka_unit_test(test_oversize_lc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
