/* place.c — what every placer shares (sm_place.h, place_internal.h): the
 * dispatch by name, the evaluation counter, memory repair, the nearest free
 * core, and the three curve methods (sequential, zigzag, hilbert).
 *
 * Sizes: n = LCs, C = cores of the mesh, U = usable cores (the first U in
 * row-major order: one per MPI rank when train re-places).
 */
#define _GNU_SOURCE /* qsort_r */
#include "place_internal.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sm_common.h"
#include "sm_placement.h"

const char *const sm_place_method_names[] = {"sequential", "zigzag", "hilbert", "random", "greedy",
                                             "sa",         "ga",     "scotch",  "rl",     NULL};

sm_place_problem sm_place_problem_default(const sm_lc_graph *g, const sm_mesh *mesh) {
    sm_place_problem p;
    memset(&p, 0, sizeof p);
    p.g = g;
    p.mesh = mesh;
    p.weights = sm_cost_weights_default();
    p.budget = SM_PLACE_DEFAULT_BUDGET;
    p.seed = 1;
    return p;
}

void sm_place_trace_free(sm_place_trace *t) {
    free(t->points);
    t->points = NULL;
    t->n = t->cap = 0;
}

static void trace_add(sm_place_trace *t, long evaluations, double cost) {
    if (!t) return;
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 64;
        t->points = sm_xrealloc(t->points, sizeof *t->points * (size_t)t->cap);
    }
    t->points[t->n].evaluations = evaluations;
    t->points[t->n].cost = cost;
    t->n++;
}

int sm_place_usable(const sm_place_problem *p) {
    int cores = sm_mesh_cores(p->mesh);
    return p->usable > 0 && p->usable < cores ? p->usable : cores;
}

int sm_place_slots(const sm_place_problem *p) {
    int u = sm_place_usable(p);
    return (p->g->n + u - 1) / u > 0 ? (p->g->n + u - 1) / u : 1;
}

/* ---- the evaluation counter ------------------------------------------- */

/* A method produced a placement the cost model refuses: a bug, not bad input
 * (sm_place checked the problem before the method ran). */
static void invalid(const char *where) {
    fprintf(stderr, "spikemesh: %s: invalid placement (%s)\n", where, sm_errmsg());
    abort();
}

int sm_evals_init(sm_evals *e, const sm_place_problem *p) {
    memset(e, 0, sizeof *e);
    e->p = p;
    e->budget = p->budget > 0 ? p->budget : SM_PLACE_DEFAULT_BUDGET;
    e->best = INFINITY;
    if (p->ref) {
        e->ref = *p->ref;
        return SM_OK;
    }
    return sm_cost_reference(p->g, p->mesh, &p->weights, &e->ref);
}

void sm_evals_count(sm_evals *e, double cost) {
    e->n++;
    e->infeasible += cost >= 0.5 * SM_COST_INFEASIBLE_PENALTY;
    if (cost < e->best) {
        e->best = cost;
        trace_add(e->p->trace, e->n, cost);
    }
}

double sm_evals_full(sm_evals *e, const int32_t *lc_core, sm_cost_figures *fig) {
    sm_cost_figures f;
    if (sm_cost_evaluate(e->p->g, e->p->mesh, lc_core, &e->p->weights, &e->ref, &f) != SM_OK)
        invalid("sm_evals_full");
    sm_evals_count(e, f.cost);
    if (fig) *fig = f;
    return f.cost;
}

int sm_evals_batch(sm_evals *e, int k, const int32_t *placements, double *costs) {
    const int n = e->p->g->n;
    if (e->p->batch_eval) {
        if (e->p->batch_eval(e->p->batch_ctx, k, placements, costs) != 0)
            return sm_fail("placement: the batch evaluator stopped the search");
        for (int i = 0; i < k; i++) sm_evals_count(e, costs[i]);
        return SM_OK;
    }
    for (int i = 0; i < k; i++) costs[i] = sm_evals_full(e, placements + (size_t)i * n, NULL);
    return SM_OK;
}

sm_cost_state *sm_evals_state(const sm_evals *e, const int32_t *lc_core) {
    sm_cost_state *s = NULL;
    if (sm_cost_state_new(&s, e->p->g, e->p->mesh, lc_core, &e->p->weights, &e->ref) != SM_OK)
        invalid("sm_evals_state");
    return s;
}

/* ---- memory repair and the nearest free core --------------------------- */

int sm_place_nearest_free(const sm_place_problem *p, double x, double y, double bytes,
                          const int *load, const double *mem) {
    const int w = p->mesh->mesh_w, u = sm_place_usable(p), slots = sm_place_slots(p);
    int best = -1, best_slot = -1;
    double d_best = DBL_MAX, d_slot = DBL_MAX;
    for (int c = 0; c < u; c++) {
        if (load[c] >= slots) continue;
        double dx = c % w - x, dy = c / w - y, d = dx * dx + dy * dy;
        if (d < d_slot) d_slot = d, best_slot = c;
        if (mem[c] + bytes <= p->mesh->core_memory && d < d_best) d_best = d, best = c;
    }
    return best >= 0 ? best : best_slot;
}

/* LCs of core c sorted by memory descending, ties by lower id. */
static int by_memory_desc(const void *a, const void *b, void *ctx) {
    const double *mem = ctx;
    int i = *(const int *)a, j = *(const int *)b;
    if (mem[i] != mem[j]) return mem[i] > mem[j] ? -1 : 1;
    return (i > j) - (i < j);
}

int sm_place_repair(const sm_place_problem *p, int32_t *lc_core) {
    const sm_lc_graph *g = p->g;
    const int w = p->mesh->mesh_w, u = sm_place_usable(p), n = g->n, cores = sm_mesh_cores(p->mesh);
    const double cap = p->mesh->core_memory;
    double *mem = sm_xcalloc((size_t)cores, sizeof *mem);
    int *order = sm_xmalloc(sizeof *order * (size_t)(n > 0 ? n : 1));
    for (int i = 0; i < n; i++) mem[lc_core[i]] += g->memory[i];
    for (int i = 0; i < n; i++) order[i] = i;
    qsort_r(order, (size_t)n, sizeof *order, by_memory_desc, g->memory);
    /* Move the largest LCs of over-full (or unusable) cores first: fewest moves,
     * and a big LC is the one least likely to fit anywhere later. */
    for (int k = 0; k < n; k++) {
        int i = order[k], from = lc_core[i];
        if (from < u && mem[from] <= cap) continue;
        int best = -1, d_best = 0, any = -1, d_any = 0;
        for (int c = 0; c < u; c++) {
            if (c == from) continue;
            int d = abs(c % w - from % w) + abs(c / w - from / w);
            if (any < 0 || d < d_any) any = c, d_any = d;
            if (mem[c] + g->memory[i] > cap) continue;
            if (best < 0 || d < d_best) best = c, d_best = d;
        }
        if (best < 0 && from >= u) best = any; /* it must leave an unusable core anyway */
        if (best < 0) continue;
        mem[from] -= g->memory[i];
        mem[best] += g->memory[i];
        lc_core[i] = best;
    }
    int over = 0;
    for (int c = 0; c < u; c++) over += mem[c] > cap;
    free(mem);
    free(order);
    return over;
}

/* ---- curve methods ------------------------------------------------------ */

/* Lay the LCs along `order` (the usable cores in curve order, U of them):
 * LC i -> order[i] when n <= U, else order[floor(i·U/n)], so consecutive LCs
 * (the slices of a layer, then the next layer) share or neighbour cores. */
static void along_curve(const sm_place_problem *p, const int *order, int32_t *lc_core) {
    const int n = p->g->n, u = sm_place_usable(p);
    for (int i = 0; i < n; i++)
        lc_core[i] = order[n <= u ? i : (int)((long long)i * u / n)];
}

/* Hilbert index of (x, y) in a side × side square, side a power of two. */
static long long hilbert_index(int side, int x, int y) {
    long long d = 0;
    for (int s = side / 2; s > 0; s /= 2) {
        int rx = (x & s) > 0, ry = (y & s) > 0;
        d += (long long)s * s * ((3 * rx) ^ ry);
        if (ry == 0) {
            if (rx == 1) x = s - 1 - x, y = s - 1 - y;
            int t = x;
            x = y, y = t;
        }
    }
    return d;
}

static int by_key(const void *a, const void *b, void *ctx) {
    const long long *key = ctx;
    int i = *(const int *)a, j = *(const int *)b;
    if (key[i] != key[j]) return key[i] < key[j] ? -1 : 1;
    return (i > j) - (i < j);
}

/* The usable cores sorted by key[core]. */
static int *cores_by_key(const sm_place_problem *p, long long *key) {
    int u = sm_place_usable(p);
    int *order = sm_xmalloc(sizeof *order * (size_t)u);
    for (int c = 0; c < u; c++) order[c] = c;
    qsort_r(order, (size_t)u, sizeof *order, by_key, key);
    return order;
}

static int finish_simple(const sm_place_problem *p, int32_t *lc_core, long *evals) {
    sm_place_repair(p, lc_core);
    *evals = 1; /* the evaluation sm_place makes of the result */
    return SM_OK;
}

static int place_sequential(const sm_place_problem *p, int32_t *lc_core, long *evals) {
    sm_place_sequential(lc_core, p->g->n, sm_place_usable(p));
    return finish_simple(p, lc_core, evals);
}

int sm_place_zigzag(const sm_place_problem *p, int32_t *lc_core, long *evals) {
    const int w = p->mesh->mesh_w, u = sm_place_usable(p);
    long long *key = sm_xmalloc(sizeof *key * (size_t)u);
    for (int c = 0; c < u; c++) {
        int x = c % w, y = c / w;
        key[c] = (long long)y * w + (y % 2 ? w - 1 - x : x); /* boustrophedon */
    }
    int *order = cores_by_key(p, key);
    along_curve(p, order, lc_core);
    free(order);
    free(key);
    return finish_simple(p, lc_core, evals);
}

int sm_place_hilbert(const sm_place_problem *p, int32_t *lc_core, long *evals) {
    const int w = p->mesh->mesh_w, h = p->mesh->mesh_h, u = sm_place_usable(p);
    int side = 1;
    while (side < w || side < h) side *= 2;
    long long *key = sm_xmalloc(sizeof *key * (size_t)u);
    /* Cores of a non-square mesh keep the order of the enclosing square's curve. */
    for (int c = 0; c < u; c++) key[c] = hilbert_index(side, c % w, c / w);
    int *order = cores_by_key(p, key);
    along_curve(p, order, lc_core);
    free(order);
    free(key);
    return finish_simple(p, lc_core, evals);
}

/* ---- dispatch ----------------------------------------------------------- */

typedef int (*method_fn)(const sm_place_problem *, int32_t *, long *);

static const method_fn method_fns[] = {place_sequential, sm_place_zigzag, sm_place_hilbert,
                                       sm_place_random,  sm_place_greedy, sm_place_sa,
                                       sm_place_ga,      sm_place_scotch, sm_place_rl};

static int check_problem(const sm_place_problem *p) {
    if (!p->g || !p->mesh) return sm_error("placement: no graph or mesh");
    int rc = sm_mesh_check(p->mesh);
    if (rc) return rc;
    const sm_cost_weights *w = &p->weights;
    const double ws[4] = {w->hop_bytes, w->max_link, w->imbalance, w->time};
    for (int k = 0; k < 4; k++)
        if (!(ws[k] >= 0) || !isfinite(ws[k]))
            return sm_error("placement.weights: every weight must be a finite number >= 0");
    if (sm_cost_weights_all_zero(w))
        return sm_error("placement.weights: every weight is 0, so every placement would cost the same");
    if (p->usable < 0 || p->usable > sm_mesh_cores(p->mesh))
        return sm_error("placement: %d usable cores, expected 1..%d (the mesh size)", p->usable,
                        sm_mesh_cores(p->mesh));
    if (p->current)
        for (int i = 0; i < p->g->n; i++)
            if (p->current[i] < 0 || p->current[i] >= sm_place_usable(p))
                return sm_error("placement: current placement puts LC %d on core %d, expected 0..%d", i,
                                p->current[i], sm_place_usable(p) - 1);
    if (!(p->migration_weight >= 0) || !isfinite(p->migration_weight))
        return sm_error("placement: migration weight must be a finite number >= 0");
    return SM_OK;
}

int sm_place_method_index(const char *name) {
    for (int k = 0; sm_place_method_names[k]; k++)
        if (!strcmp(sm_place_method_names[k], name)) return k;
    return -1;
}

int sm_place(const char *name, const sm_place_problem *p, int32_t *lc_core, sm_place_result *res) {
    const int k = sm_place_method_index(name);
    if (k < 0) {
        char list[256] = "";
        for (int j = 0; sm_place_method_names[j]; j++) {
            strncat(list, j ? ", " : "", sizeof list - strlen(list) - 1);
            strncat(list, sm_place_method_names[j], sizeof list - strlen(list) - 1);
        }
        return sm_error("placement method '%s' is unknown; expected one of %s", name, list);
    }
    int rc = check_problem(p);
    if (rc) return rc;
    memset(res, 0, sizeof *res);
    double t0 = sm_wall_seconds();
    long evals = 0;
    rc = method_fns[k](p, lc_core, &evals);
    if (rc) return rc;
    res->seconds = sm_wall_seconds() - t0;
    res->evaluations = evals;
    rc = sm_cost_evaluate(p->g, p->mesh, lc_core, &p->weights, p->ref, &res->fig);
    if (rc) return sm_fail("placement method %s returned an invalid placement: %s", name, sm_errmsg());
    for (int i = 0; i < p->g->n; i++)
        if (lc_core[i] >= sm_place_usable(p))
            return sm_fail("placement method %s put LC %d on core %d, beyond the %d usable cores", name, i,
                           lc_core[i], sm_place_usable(p));
    if (p->trace) trace_add(p->trace, evals, res->fig.cost);
    return SM_OK;
}
