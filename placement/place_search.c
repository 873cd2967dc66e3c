/* place_search.c — the search placers of sm_place.h: random (best of many),
 * greedy (heaviest partner first, memory-aware), the swap/move local search that
 * greedy, sa, ga and rl end with, and VPR-style adaptive simulated annealing (Betz & Rose).
 * docs/placement.md explains each method and its knobs.
 *
 * Sizes: n = LCs, U = usable cores [0, U), S = slots per core (sm_place_slots,
 * ceil(n / U)), w = mesh_w, rows = ceil(U / w) (the rows that hold usable cores).
 *
 * Every cost a method looks at is counted by sm_evals (place_internal.h): full
 * evaluations through sm_evals_full / sm_evals_batch, each incremental
 * sm_cost_delta_* by one sm_evals_count. Committing a delta already counted
 * (sm_cost_apply_*) and building a cost state are not counted again.
 *
 * Invariants:
 *   S1  occupancy: load[c] = #{i : p[i] = c} and the list head[c] → next[..] → −1
 *       holds exactly those LCs, for the placement held by the cost state.
 *   S2  a search never moves an LC onto a core with load >= S or outside [0, U);
 *       a swap keeps every load. So a placement within its slots stays so —
 *       until sm_place_repair, which may fill a core past S to fit memory.
 *   S3  all randomness comes from one splitmix64 state per method, seeded from
 *       p->seed and a per-method constant, consumed in a fixed order; no other
 *       input varies, so the same seed gives the same placement.
 *   S4  sa and the local search keep the memory on each core beside the
 *       occupancy, and never evaluate a try that swaps two interchangeable
 *       LCs (no change) or overfills a core (never accepted): place_tries.c.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "place_internal.h"
#include "sm_common.h"

#define RANDOM_BATCH 64          /* placements per sm_evals_batch call */
#define LS_WINDOW 16             /* cores a local-search near pass tries per LC */
#define SA_POLISH_SHARE 0.10     /* at most this share of the budget is kept for the final local search */
#define SA_TARGET_ACCEPT 0.44    /* the range limiter aims at this acceptance rate */

/* ---- shared pieces ------------------------------------------------------ */

/* The traffic seen from both ends: partners of i are row[i] .. row[i+1]-1 with
 * the bytes of one direction each (an LC that both sends to and receives from j
 * lists j twice); total[i] = in + out bytes. */
typedef struct {
    int *row, *col;
    int64_t *bytes, *total;
} adjacency;

static void adjacency_build(adjacency *a, const sm_lc_graph *g) {
    int n = g->n, nnz = g->row[n];
    a->row = sm_xcalloc((size_t)n + 1, sizeof *a->row);
    a->col = sm_xmalloc((size_t)(2 * nnz + 1) * sizeof *a->col);
    a->bytes = sm_xmalloc((size_t)(2 * nnz + 1) * sizeof *a->bytes);
    a->total = sm_xcalloc((size_t)n + 1, sizeof *a->total);
    for (int i = 0; i < n; i++)
        for (int k = g->row[i]; k < g->row[i + 1]; k++) a->row[i + 1]++, a->row[g->col[k] + 1]++;
    for (int i = 0; i < n; i++) a->row[i + 1] += a->row[i];
    int *fill = sm_xmalloc(((size_t)n + 1) * sizeof *fill);
    memcpy(fill, a->row, (size_t)n * sizeof *fill);
    for (int i = 0; i < n; i++)
        for (int k = g->row[i]; k < g->row[i + 1]; k++) {
            int j = g->col[k];
            a->col[fill[i]] = j, a->bytes[fill[i]++] = g->bytes[k];
            a->col[fill[j]] = i, a->bytes[fill[j]++] = g->bytes[k];
            a->total[i] += g->bytes[k], a->total[j] += g->bytes[k];
        }
    free(fill);
}

static void adjacency_free(adjacency *a) {
    free(a->row), free(a->col), free(a->bytes), free(a->total);
}

/* LCs by total traffic, heaviest first (ties: lower id), into order [n]. */
typedef struct { int64_t total; int lc; } traffic_key;
static int cmp_traffic(const void *x, const void *y) {
    const traffic_key *a = x, *b = y;
    if (a->total != b->total) return a->total < b->total ? 1 : -1;
    return (a->lc > b->lc) - (a->lc < b->lc);
}
static void traffic_order(const adjacency *a, int n, int *order) {
    traffic_key *keys = sm_xmalloc(((size_t)n + 1) * sizeof *keys);
    for (int i = 0; i < n; i++) keys[i].total = a->total[i], keys[i].lc = i;
    qsort(keys, (size_t)n, sizeof *keys, cmp_traffic);
    for (int i = 0; i < n; i++) order[i] = keys[i].lc;
    free(keys);
}

/* S1: which LCs sit on each core. */
typedef struct {
    int *head, *next, *load;
} occupancy;

static void occupancy_init(occupancy *o, const int32_t *p, int n, int cores) {
    o->head = sm_xmalloc((size_t)cores * sizeof *o->head);
    o->next = sm_xmalloc(((size_t)n + 1) * sizeof *o->next);
    o->load = sm_xcalloc((size_t)cores, sizeof *o->load);
    for (int c = 0; c < cores; c++) o->head[c] = -1;
    for (int i = n - 1; i >= 0; i--) o->next[i] = o->head[p[i]], o->head[p[i]] = i, o->load[p[i]]++;
}

static void occupancy_free(occupancy *o) { free(o->head), free(o->next), free(o->load); }

static void occupancy_move(occupancy *o, int i, int from, int to) {
    int *at = &o->head[from];
    while (*at != i) at = &o->next[*at];
    *at = o->next[i];
    o->load[from]--;
    o->next[i] = o->head[to], o->head[to] = i, o->load[to]++;
}

/* The r-th LC on core c (r < load[c]). */
static int occupancy_member(const occupancy *o, int c, int r) {
    int u = o->head[c];
    while (r-- > 0) u = o->next[u];
    return u;
}

static int usable_rows(const sm_place_problem *p) {
    return (sm_place_usable(p) + p->mesh->mesh_w - 1) / p->mesh->mesh_w;
}

/* Usable cores by growing Manhattan distance from (cx, cy), then by y, then x,
 * at most `limit` of them, into out; returns how many. (cx, cy) inside the
 * w x rows box, so every usable core is reached. */
static int ring_cores(int w, int rows, int usable, int cx, int cy, int limit, int *out) {
    int m = 0;
    for (int d = 0; d <= w + rows && m < limit; d++)
        for (int dy = -d; dy <= d && m < limit; dy++) {
            int y = cy + dy, dx = d - abs(dy);
            if (y < 0 || y >= rows) continue;
            int xs[2] = {cx - dx, cx + dx};
            for (int t = 0; t < (dx ? 2 : 1) && m < limit; t++)
                if (xs[t] >= 0 && xs[t] < w && y * w + xs[t] < usable) out[m++] = y * w + xs[t];
        }
    return m;
}

/* An improvement must beat the current cost by more than rounding noise. */
static int improves(double cost, double current) {
    return cost < current - 1e-12 * fmax(1.0, fabs(current));
}

/* LC i -> core i mod U, then memory repair: where sa and ga start. */
static void sequential_usable(const sm_place_problem *p, int32_t *lc_core) {
    for (int i = 0; i < p->g->n; i++) lc_core[i] = i % sm_place_usable(p);
    sm_place_repair(p, lc_core);
}

/* ---- random -------------------------------------------------------------- */

/* LCs by memory, largest first (ties: lower id), into order [n]. */
typedef struct { double memory; int lc; } memory_key;
static int cmp_memory(const void *x, const void *y) {
    const memory_key *a = x, *b = y;
    if (a->memory != b->memory) return a->memory < b->memory ? 1 : -1;
    return (a->lc > b->lc) - (a->lc < b->lc);
}

/* Scratch of the random placements: free_cores [U] (the cores with a free
 * slot, first n_free of them), load [U], mem [U], and the LCs by memory. */
typedef struct {
    int *free_cores, *load, *order;
    double *mem;
} random_scratch;

/* The LCs, largest memory first, each to a uniformly random usable core among
 * those with a free slot and memory room for it (none with room: among those
 * with a free slot). Placing the large LCs first is first-fit-decreasing's
 * trick: it leaves the small LCs for the gaps, so feasible placements are
 * drawn whenever memory is tight but not impossible. */
static void random_placement(const sm_place_problem *p, uint64_t *rng, int32_t *lc_core, random_scratch *r) {
    const sm_lc_graph *g = p->g;
    int U = sm_place_usable(p), S = sm_place_slots(p), n_free = U;
    double cap = p->mesh->core_memory;
    for (int c = 0; c < U; c++) r->free_cores[c] = c, r->load[c] = 0, r->mem[c] = 0;
    for (int k = 0; k < g->n; k++) {
        int i = r->order[k], at = -1;
        for (int tries = 0; tries < 8 && at < 0; tries++) {   /* room is usually easy to find */
            int t = sm_prng_below(rng, n_free);
            if (r->mem[r->free_cores[t]] + g->memory[i] <= cap) at = t;
        }
        if (at < 0) {   /* else draw among those with room, counted */
            int with_room = 0;
            for (int t = 0; t < n_free; t++) with_room += r->mem[r->free_cores[t]] + g->memory[i] <= cap;
            int pick = sm_prng_below(rng, with_room ? with_room : n_free);
            for (int t = 0; t < n_free && at < 0; t++)
                if ((!with_room || r->mem[r->free_cores[t]] + g->memory[i] <= cap) && pick-- == 0) at = t;
        }
        int c = r->free_cores[at];
        lc_core[i] = c;
        r->mem[c] += g->memory[i];
        if (++r->load[c] == S) r->free_cores[at] = r->free_cores[--n_free];
    }
}

/* Best of `budget` random placements (random_placement, then memory repair),
 * evaluated RANDOM_BATCH at a time through sm_evals_batch. */
int sm_place_random(const sm_place_problem *p, int32_t *lc_core, long *evals) {
    sm_evals e;
    int rc = sm_evals_init(&e, p);
    *evals = 0;
    if (rc) return rc;
    int n = p->g->n, U = sm_place_usable(p);
    uint64_t rng = p->seed ^ 0x52414E444F4D0001ull;
    int32_t *batch = sm_xmalloc((size_t)RANDOM_BATCH * n * sizeof *batch + 1);
    random_scratch r = {.free_cores = sm_xmalloc((size_t)U * sizeof(int)), .load = sm_xmalloc((size_t)U * sizeof(int)),
                        .order = sm_xmalloc(((size_t)n + 1) * sizeof(int)), .mem = sm_xmalloc((size_t)U * sizeof(double))};
    memory_key *keys = sm_xmalloc(((size_t)n + 1) * sizeof *keys);
    for (int i = 0; i < n; i++) keys[i].memory = p->g->memory[i], keys[i].lc = i;
    qsort(keys, (size_t)n, sizeof *keys, cmp_memory);
    for (int i = 0; i < n; i++) r.order[i] = keys[i].lc;
    free(keys);
    double costs[RANDOM_BATCH], best = INFINITY;
    sequential_usable(p, lc_core);   /* returned only if not a single evaluation is possible */
    while (n > 0 && sm_evals_left(&e) > 0) {
        int k = sm_evals_left(&e) < RANDOM_BATCH ? (int)sm_evals_left(&e) : RANDOM_BATCH;
        for (int q = 0; q < k; q++) {
            random_placement(p, &rng, batch + (size_t)q * n, &r);
            sm_place_repair(p, batch + (size_t)q * n);
        }
        if ((rc = sm_evals_batch(&e, k, batch, costs)) != SM_OK) break;
        for (int q = 0; q < k; q++)
            if (costs[q] < best) best = costs[q], memcpy(lc_core, batch + (size_t)q * n, (size_t)n * sizeof *lc_core);
    }
    free(batch), free(r.free_cores), free(r.load), free(r.order), free(r.mem);
    *evals = e.n;
    return rc;
}

/* ---- greedy -------------------------------------------------------------- */

/* f[0..len) = Σ_k weight[k] · |x − k| for all x, from the per-coordinate
 * weights in O(len): a left and a right sweep of running sums. */
static void l1_profile(const int64_t *weight, int len, int64_t *f) {
    int64_t below = 0, acc = 0;
    for (int x = 0; x < len; x++) acc += below, below += weight[x], f[x] = acc;
    int64_t above = 0;
    acc = 0;
    for (int x = len - 1; x >= 0; x--) acc += above, above += weight[x], f[x] += acc;
}

/* Order LCs by total traffic; the first goes to the usable core nearest the
 * centre of the usable area; then, repeatedly, the unplaced LC with the most
 * bytes to placed LCs (ties: heavier total, then lower id) goes to the usable
 * core with a free slot and memory room that adds the fewest hop-bytes to its
 * placed partners (ties: lower core id; no room anywhere: the best free slot).
 * Hop-bytes of a core = fx[x] + fy[y] (Manhattan distance is separable), so each
 * step is O(deg + w + rows + U). Then sm_local_search_run with the rest of the
 * budget; evaluations = 1 (the greedy result) + the local search's. */
int sm_place_greedy(const sm_place_problem *p, int32_t *lc_core, long *evals) {
    sm_evals e;
    int rc = sm_evals_init(&e, p);
    *evals = 0;
    if (rc) return rc;
    const sm_lc_graph *g = p->g;
    int n = g->n, U = sm_place_usable(p), S = sm_place_slots(p), w = p->mesh->mesh_w, rows = usable_rows(p);
    if (n == 0) return SM_OK;
    int cores = sm_mesh_cores(p->mesh);
    adjacency a;
    adjacency_build(&a, g);
    int *order = sm_xmalloc((size_t)n * sizeof *order), *load = sm_xcalloc((size_t)cores, sizeof *load);
    char *placed = sm_xcalloc((size_t)n, 1);
    int64_t *conn = sm_xcalloc((size_t)n, sizeof *conn);
    int64_t *wx = sm_xcalloc((size_t)w, sizeof *wx), *wy = sm_xcalloc((size_t)rows, sizeof *wy);
    int64_t *fx = sm_xmalloc((size_t)w * sizeof *fx), *fy = sm_xmalloc((size_t)rows * sizeof *fy);
    double *mem = sm_xcalloc((size_t)cores, sizeof *mem);
    traffic_order(&a, n, order);
    double cx = 0, cy = 0;   /* centre of the usable cores */
    for (int c = 0; c < U; c++) cx += c % w, cy += c / w;
    cx /= U, cy /= U;

    for (int step = 0; step < n; step++) {
        int i = -1;
        for (int k = 0; k < n; k++)
            if (!placed[order[k]] && (i < 0 || conn[order[k]] > conn[i])) i = order[k];
        int core = -1;
        if (conn[i] == 0) {
            core = sm_place_nearest_free(p, cx, cy, g->memory[i], load, mem);
        } else {
            for (int k = a.row[i]; k < a.row[i + 1]; k++)
                if (placed[a.col[k]]) wx[lc_core[a.col[k]] % w] += a.bytes[k], wy[lc_core[a.col[k]] / w] += a.bytes[k];
            l1_profile(wx, w, fx);
            l1_profile(wy, rows, fy);
            memset(wx, 0, (size_t)w * sizeof *wx);
            memset(wy, 0, (size_t)rows * sizeof *wy);
            int any = -1;
            int64_t best_room = INT64_MAX, best_any = INT64_MAX;
            for (int c = 0; c < U; c++) {
                if (load[c] >= S) continue;
                int64_t f = fx[c % w] + fy[c / w];
                if (f < best_any) best_any = f, any = c;
                if (f < best_room && mem[c] + g->memory[i] <= p->mesh->core_memory) best_room = f, core = c;
            }
            if (core < 0) core = any;
        }
        lc_core[i] = core;   /* a free slot always exists: S · U >= n */
        load[core]++, mem[core] += g->memory[i], placed[i] = 1;
        for (int k = a.row[i]; k < a.row[i + 1]; k++) conn[a.col[k]] += a.bytes[k];
    }
    adjacency_free(&a);
    free(order), free(load), free(placed), free(conn), free(wx), free(wy), free(fx), free(fy), free(mem);

    sm_place_repair(p, lc_core);
    if (sm_evals_left(&e) > 0) {
        sm_evals_full(&e, lc_core, NULL);
        sm_local_search_run(&e, lc_core, sm_evals_left(&e));
        sm_place_repair(p, lc_core);
    }
    *evals = e.n;
    return SM_OK;
}

/* ---- local search ---------------------------------------------------------- */

typedef struct {
    sm_evals *e;
    const sm_place_problem *p;
    sm_cost_state *state;
    occupancy occ;
    adjacency adj;
    int *cand;         /* [U] candidate cores of one LC */
    long stop;         /* e->n at which the search must stop */
    double cost;       /* of the state's placement */
    double *mem;       /* [cores] the memory on each core (S4) */
    int *cls;          /* [n] the classes of interchangeable LCs (sm_place_classes) */
} local_search;

/* S4: what the tries are checked against before they are evaluated. */
static void tries_init(local_search *L, const int32_t *lc_core) {
    const sm_lc_graph *g = L->p->g;
    L->mem = sm_xcalloc((size_t)sm_mesh_cores(L->p->mesh), sizeof *L->mem);
    for (int i = 0; i < g->n; i++) L->mem[lc_core[i]] += g->memory[i];
    L->cls = sm_xmalloc(((size_t)g->n + 1) * sizeof *L->cls);
    sm_place_classes(g, L->cls);
}

static void tries_free(local_search *L) { free(L->mem), free(L->cls); }

/* 0 when LC i to core c (swapped with LC j there when j >= 0) is not worth an
 * evaluation: j is interchangeable with i, or the try overfills a core. */
static int worth_trying(const local_search *L, int i, int c, int j) {
    if (j >= 0 && L->cls[j] == L->cls[i]) return 0;
    return !sm_try_overfills(L->mem, L->p->mesh->core_memory, L->p->g->memory, i,
                             sm_cost_state_placement(L->state)[i], c, j);
}

/* The traffic-weighted mean core of i's partners, rounded into the usable box
 * (i's own core when it has no traffic). */
static void ideal_point(const local_search *L, int i, int *cx, int *cy) {
    const int32_t *pl = sm_cost_state_placement(L->state);
    int w = L->p->mesh->mesh_w, rows = usable_rows(L->p);
    double sx = 0, sy = 0, sb = 0;
    for (int k = L->adj.row[i]; k < L->adj.row[i + 1]; k++) {
        double b = (double)L->adj.bytes[k];
        sx += b * (pl[L->adj.col[k]] % w), sy += b * (pl[L->adj.col[k]] / w), sb += b;
    }
    if (sb <= 0) { *cx = pl[i] % w, *cy = pl[i] / w; return; }
    *cx = (int)floor(sx / sb + 0.5), *cy = (int)floor(sy / sb + 0.5);
    if (*cx >= w) *cx = w - 1;
    if (*cy >= rows) *cy = rows - 1;
}

/* Try LC i against the `window` usable cores nearest its ideal point: a move to
 * each with a free slot, a swap with each LC on it. first = 1: apply the first
 * improving one found; 0: the best. Returns 1 if a change was applied, 0 if
 * none improves, −1 when the budget ran out (the best found so far is applied). */
static int improve_lc(local_search *L, int i, int window, int first) {
    const sm_place_problem *p = L->p;
    int U = sm_place_usable(p), S = sm_place_slots(p), cx, cy;
    ideal_point(L, i, &cx, &cy);
    int m = ring_cores(p->mesh->mesh_w, usable_rows(p), U, cx, cy, window, L->cand);
    int own = sm_cost_state_placement(L->state)[i], best_core = -1, best_lc = -1, out = 0;
    double best = L->cost;
    for (int t = 0; t < m && !(first && best_core >= 0); t++) {
        int c = L->cand[t];
        if (c == own) continue;
        if (L->occ.load[c] < S && worth_trying(L, i, c, -1)) {
            if (L->e->n >= L->stop) { out = 1; break; }
            double cost = sm_cost_delta_move(L->state, i, c, NULL);
            sm_evals_count(L->e, cost);
            if (improves(cost, best)) best = cost, best_core = c, best_lc = -1;
        }
        for (int j = L->occ.head[c]; j >= 0 && !(first && best_core >= 0); j = L->occ.next[j]) {
            if (!worth_trying(L, i, c, j)) continue;
            if (L->e->n >= L->stop) { out = 1; break; }
            double cost = sm_cost_delta_swap(L->state, i, j, NULL);
            sm_evals_count(L->e, cost);
            if (improves(cost, best)) best = cost, best_core = c, best_lc = j;
        }
        if (out) break;
    }
    if (best_core >= 0) {
        sm_try_move_memory(L->mem, p->g->memory, i, own, best_core, best_lc);
        if (best_lc >= 0) {
            L->cost = sm_cost_apply_swap(L->state, i, best_lc);
            occupancy_move(&L->occ, i, own, best_core);
            occupancy_move(&L->occ, best_lc, best_core, own);
        } else {
            L->cost = sm_cost_apply_move(L->state, i, best_core);
            occupancy_move(&L->occ, i, own, best_core);
        }
    }
    return out ? -1 : best_core >= 0;
}

/* Passes over the LCs, heaviest traffic first. A near pass gives each LC its
 * best swap/move among the LS_WINDOW cores nearest its ideal point; when a near
 * pass finds nothing, a full pass tries every usable core (first improvement,
 * nearest first). It ends when a full pass finds nothing — lc_core is then a
 * local minimum: no swap of LCs on different cores and no move to a core with a
 * free slot lowers the cost — or when the budget is used. The starting cost is
 * taken as known (not counted). */
long sm_local_search_run(sm_evals *e, int32_t *lc_core, long budget) {
    const sm_place_problem *p = e->p;
    int n = p->g->n, U = sm_place_usable(p);
    long start = e->n;
    if (budget > sm_evals_left(e)) budget = sm_evals_left(e);
    if (n == 0 || budget <= 0) return 0;
    local_search L = {.e = e, .p = p, .stop = start + budget};
    L.state = sm_evals_state(e, lc_core);
    L.cost = sm_cost_state_figures(L.state)->cost;
    occupancy_init(&L.occ, lc_core, n, sm_mesh_cores(p->mesh));
    adjacency_build(&L.adj, p->g);
    L.cand = sm_xmalloc((size_t)U * sizeof *L.cand);
    tries_init(&L, lc_core);
    int *order = sm_xmalloc((size_t)n * sizeof *order);
    traffic_order(&L.adj, n, order);

    int near = LS_WINDOW < U ? LS_WINDOW : U, window = near;
    for (int done = 0; !done;) {
        int full = window >= U, changes = 0;
        for (int k = 0; k < n && !done; k++) {
            int r = improve_lc(&L, order[k], window, full);
            if (r < 0) done = 1;
            else changes += r;
        }
        if (done) break;
        if (changes == 0 && full) done = 1;
        window = changes == 0 ? U : near;
    }
    memcpy(lc_core, sm_cost_state_placement(L.state), (size_t)n * sizeof *lc_core);
    sm_cost_state_free(L.state);
    occupancy_free(&L.occ);
    adjacency_free(&L.adj);
    tries_free(&L);
    free(L.cand), free(order);
    return e->n - start;
}

/* Public wrapper: a fresh counter with `budget` (<= 0: the problem's), one
 * full evaluation of the start, then sm_local_search_run. No repair. */
long sm_place_local_search(const sm_place_problem *p, int32_t *lc_core, long budget) {
    sm_evals e;
    if (sm_evals_init(&e, p) != SM_OK) return 0;
    if (budget > 0) e.budget = budget;
    if (p->g->n == 0 || e.budget <= 0) return 0;
    sm_evals_full(&e, lc_core, NULL);
    sm_local_search_run(&e, lc_core, sm_evals_left(&e));
    return e.n;
}

/* ---- simulated annealing --------------------------------------------------- */

/* A random move of VPR's kind: a random LC i and a random usable core c != p[i]
 * within `radius` of it (Chebyshev window, like VPR's range limit); the slot
 * r in [0, max(S, load c)) decides: r < load → swap with the r-th LC on c,
 * else move i to c. *j = −1 for a move. */
static void propose(const local_search *L, uint64_t *rng, int radius, int *i, int *c, int *j) {
    const sm_place_problem *p = L->p;
    int n = p->g->n, U = sm_place_usable(p), S = sm_place_slots(p), w = p->mesh->mesh_w, rows = usable_rows(p);
    *i = sm_prng_below(rng, n);
    int own = sm_cost_state_placement(L->state)[*i], x0 = own % w, y0 = own / w;
    int xlo = x0 - radius < 0 ? 0 : x0 - radius, xhi = x0 + radius >= w ? w - 1 : x0 + radius;
    int ylo = y0 - radius < 0 ? 0 : y0 - radius, yhi = y0 + radius >= rows ? rows - 1 : y0 + radius;
    *c = -1;
    for (int tries = 0; tries < 8 && *c < 0; tries++) {
        int x = xlo + sm_prng_below(rng, xhi - xlo + 1), y = ylo + sm_prng_below(rng, yhi - ylo + 1);
        if (y * w + x < U && y * w + x != own) *c = y * w + x;
    }
    if (*c < 0) *c = (own + 1 + sm_prng_below(rng, U - 1)) % U;   /* any other usable core */
    int load = L->occ.load[*c], r = sm_prng_below(rng, load > S ? load : S);
    *j = r < load ? occupancy_member(&L->occ, *c, r) : -1;
}

/* propose() until a try is worth an evaluation (worth_trying), at most
 * SA_DRAWS draws; returns 0 when none was (nothing can move, most likely). */
#define SA_DRAWS 1000
static int propose_worth(const local_search *L, uint64_t *rng, int radius, int *i, int *c, int *j) {
    for (int d = 0; d < SA_DRAWS; d++) {
        propose(L, rng, radius, i, c, j);
        if (worth_trying(L, *i, *c, *j)) return 1;
    }
    return 0;
}

static double trial_cost(local_search *L, int i, int c, int j) {
    double cost = j >= 0 ? sm_cost_delta_swap(L->state, i, j, NULL) : sm_cost_delta_move(L->state, i, c, NULL);
    sm_evals_count(L->e, cost);
    return cost;
}

/* sa's step made: as improve_lc's, but the occupancy lists are updated j
 * first, an order sa's draws (occupancy_member) depend on. */
static void commit(local_search *L, int i, int c, int j) {
    int own = sm_cost_state_placement(L->state)[i];
    sm_try_move_memory(L->mem, L->p->g->memory, i, own, c, j);
    if (j >= 0) {
        L->cost = sm_cost_apply_swap(L->state, i, j);
        occupancy_move(&L->occ, j, c, own);
    } else {
        L->cost = sm_cost_apply_move(L->state, i, c);
    }
    occupancy_move(&L->occ, i, own, c);
}

/* The cost without the memory penalties: the scale of sa's temperatures. */
static double penalty_free(const local_search *L) {
    return L->cost - SM_COST_INFEASIBLE_PENALTY * sm_cost_state_figures(L->state)->memory_violations;
}

/* VPR's cooling factor from the acceptance rate of the last temperature. */
static double cooling(double alpha) {
    return alpha > 0.96 ? 0.5 : alpha > 0.8 ? 0.9 : alpha > 0.15 ? 0.95 : 0.8;
}

/* Where sa starts: p->current (LCs on cores outside [0, U) moved to the nearest
 * free core) or sequential; memory-repaired. */
static void sa_start(const sm_place_problem *p, int32_t *lc_core) {
    const sm_lc_graph *g = p->g;
    int U = sm_place_usable(p), cores = sm_mesh_cores(p->mesh), w = p->mesh->mesh_w;
    if (!p->current) { sequential_usable(p, lc_core); return; }
    int *load = sm_xcalloc((size_t)cores, sizeof *load);
    double *mem = sm_xcalloc((size_t)cores, sizeof *mem);
    for (int i = 0; i < g->n; i++) {
        lc_core[i] = p->current[i];
        if (lc_core[i] >= 0 && lc_core[i] < U) load[lc_core[i]]++, mem[lc_core[i]] += g->memory[i];
    }
    for (int i = 0; i < g->n; i++)
        if (lc_core[i] < 0 || lc_core[i] >= U) {
            int at = lc_core[i] < 0 || lc_core[i] >= cores ? 0 : lc_core[i];
            int c = sm_place_nearest_free(p, at % w, at / w, g->memory[i], load, mem);
            lc_core[i] = c >= 0 ? c : i % U;
            load[lc_core[i]]++, mem[lc_core[i]] += g->memory[i];
        }
    free(load), free(mem);
    sm_place_repair(p, lc_core);
}

/* Adaptive annealing after VPR (Betz & Rose): T0 = 20 · std-dev of the cost
 * deltas of ~n random moves from the start (moves that change a memory
 * violation left out; none left: 20 · the cost without penalties / n); N^{4/3} moves per temperature, or fewer when the budget
 * left for annealing divided by the temperatures still to go (estimated with
 * factor 0.95) is smaller; T *= cooling(α); range limit *= 1 − 0.44 + α in
 * [1, max(w, rows)]; ends when T < 0.005 · cost / n (VPR's exit; cost without
 * the memory penalties in both T0's fallback and here) or the
 * annealing budget (all but SA_POLISH_SHARE) is used. The best placement seen
 * is memory-repaired and polished by sm_local_search_run with what is left.
 * A drawn move that is not worth an evaluation (S4) is drawn again, uncounted;
 * when SA_DRAWS draws in a row are not, nothing can move and the annealing ends. */
int sm_place_sa(const sm_place_problem *p, int32_t *lc_core, long *evals) {
    sm_evals e;
    int rc = sm_evals_init(&e, p);
    *evals = 0;
    if (rc) return rc;
    int n = p->g->n, U = sm_place_usable(p), w = p->mesh->mesh_w, rows = usable_rows(p);
    if (n == 0) return SM_OK;
    sa_start(p, lc_core);
    local_search L = {.e = &e, .p = p};
    L.state = sm_evals_state(&e, lc_core);
    L.cost = sm_cost_state_figures(L.state)->cost;
    sm_evals_count(&e, L.cost);   /* the start's evaluation */
    occupancy_init(&L.occ, lc_core, n, sm_mesh_cores(p->mesh));
    tries_init(&L, lc_core);
    uint64_t rng = p->seed ^ 0x5341000000000001ull;
    long anneal_end = e.budget - (long)(SA_POLISH_SHARE * (double)e.budget);
    double best = L.cost, max_radius = w > rows ? w : rows;

    /* T0 from ~n random moves, none applied. */
    long probes = anneal_end - e.n < 20 ? 0 : (anneal_end - e.n) / 20;
    if (probes > (n > 16 ? n : 16)) probes = n > 16 ? n : 16;
    double sum = 0, sum2 = 0;
    int kept = 0;
    int frozen = U < 2; /* no try is worth an evaluation */
    for (long k = 0; k < probes && !frozen; k++) {
        int i, c, j;
        if (!propose_worth(&L, &rng, (int)max_radius, &i, &c, &j)) { frozen = 1; break; }
        double d = trial_cost(&L, i, c, j) - L.cost;
        if (fabs(d) < 0.5 * SM_COST_INFEASIBLE_PENALTY) sum += d, sum2 += d * d, kept++;
    }
    double var = kept > 1 ? (sum2 - sum * sum / kept) / (kept - 1) : 0;
    double T = 20 * sqrt(var > 0 ? var : 0), radius = max_radius;
    if (T == 0 && probes > 0)   /* every probe changed a violation, or none changed the cost: a per-LC scale */
        T = 20 * penalty_free(&L) / n;
    long natural = (long)ceil(pow((double)n, 4.0 / 3.0));
    /* A budget too small for even n moves per temperature from 20 σ down: start
     * as hot as n moves per temperature can afford, rather than melt the start
     * placement and not have the moves to rebuild it. */
    double T_stop = 0.005 * penalty_free(&L) / n, afford = (double)(anneal_end - e.n) / (n < natural ? n : natural);
    if (T > 0 && T_stop > 0 && afford >= 1 && log(T / T_stop) / -log(0.95) > afford)
        T = T_stop * pow(0.95, -afford);

    while (!frozen && T > 0 && T >= 0.005 * penalty_free(&L) / n && e.n < anneal_end) {
        double T_end = 0.005 * penalty_free(&L) / n;
        double temps = T_end > 0 ? ceil(log(T / T_end) / -log(0.95)) : 1;
        long moves = (long)((double)(anneal_end - e.n) / (temps > 1 ? temps : 1));
        if (moves > natural) moves = natural;
        if (moves < 1) moves = 1;
        long tried = 0, accepted = 0;
        for (; tried < moves && e.n < anneal_end; tried++) {
            int i, c, j;
            if (!propose_worth(&L, &rng, (int)radius, &i, &c, &j)) { frozen = 1; break; }
            double d = trial_cost(&L, i, c, j) - L.cost;
            if (d <= 0 || sm_prng_uniform(&rng) < exp(-d / T)) {
                commit(&L, i, c, j);
                accepted++;
                if (improves(L.cost, best)) {
                    best = L.cost;
                    memcpy(lc_core, sm_cost_state_placement(L.state), (size_t)n * sizeof *lc_core);
                }
            }
        }
        double alpha = tried ? (double)accepted / tried : 0;
        T *= cooling(alpha);
        radius *= 1 - SA_TARGET_ACCEPT + alpha;
        radius = radius < 1 ? 1 : radius > max_radius ? max_radius : radius;
        if (p->progress)
            fprintf(stderr, "\rsa: T %.3g accept %.2f cost %.6g best %.6g evaluations %ld/%ld   ", T, alpha,
                    L.cost, best, e.n, e.budget);
    }
    if (p->progress) fprintf(stderr, "\n");
    sm_cost_state_free(L.state);
    occupancy_free(&L.occ);
    tries_free(&L);

    sm_place_repair(p, lc_core);
    sm_local_search_run(&e, lc_core, sm_evals_left(&e));
    sm_place_repair(p, lc_core);
    *evals = e.n;
    return SM_OK;
}
