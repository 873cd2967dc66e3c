/* cost.c — the placement cost model: full evaluation and the incremental state
 * (sm_cost.h; formulas in docs/cost-model.md).
 *
 * Sizes: n = LCs, E = traffic edges (nnz of the CSR), C = mesh_w · mesh_h cores,
 * 4C = link ids (sm_graph.h), H = mesh_w + mesh_h − 1 possible hop counts.
 *
 * Invariants of sm_cost_state, kept by apply_* (tests/test_cost.c compares
 * them with sm_cost_evaluate after every apply):
 *   C1  link[l] = Σ bytes of the edges whose XY route under p crosses link l (int64, exact).
 *   C2  hop_bytes = Σ_edges bytes · hops = Σ_l link[l].
 *   C3  hist[h] = number of edges whose route has h hops.
 *   C4  core_compute[c], core_memory[c] = the sums over the LCs on c in ascending LC
 *       order, starting from 0.0 — the order of sm_cost_evaluate, hence the same bits.
 *   C5  the LCs of core c: head[c] → next[..] → … → −1, ascending.
 *   C6  max_link = max_l link[l], n_max_link = #{l : link[l] = max_link}; likewise
 *       max/n_max over cores for compute and memory.
 *   C7  violations = #{c : core_memory[c] > mesh.core_memory}.
 *   C8  fig = the figures of C1..C7, cost relative to ref.
 *
 * Complexity. sm_cost_evaluate and sm_cost_state_new: O(n + E + C log C) (route_all
 * sums the routes with difference arrays).
 * A delta (swap i, j or move i): O((deg i + deg j) · route) to re-route the edges
 * of the moved LCs (deg counts in- and out-edges, route ≤ H), plus O(members of
 * the ≤ 4 cores involved) to re-sum them, plus O(H) for the hop histogram. The
 * maxima are lazy: a touched entry rising above the max, or another entry still at
 * it, settles it in O(touched); only when every entry at the max was lowered is
 * the whole array rescanned (O(4C) links, O(C) cores). top5_link sorts the links,
 * O(C log C), so it is computed only when the caller asks for figures and on apply.
 */
#include "sm_cost.h"

#include <assert.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sm_common.h"

sm_cost_weights sm_cost_weights_default(void) {
    sm_cost_weights w = {1, 1, 1, 1};
    return w;
}

double sm_cost_reward(double cost, double reference_cost) {
    return reference_cost > 0 ? -cost / reference_cost : -cost;
}

/* ---- routes ------------------------------------------------------------ */

/* The links a trial touched, each once, with its load before the trial. */
typedef struct {
    int *mark;      /* [4C] mark[l] == stamp: l is in ids */
    int stamp;
    int *ids;       /* [4C] */
    int64_t *old;   /* [4C] */
    int n;
} touch_log;

static inline void bump(int64_t *link, int l, int64_t bytes, touch_log *log) {
    if (log && log->mark[l] != log->stamp) {
        log->mark[l] = log->stamp;
        log->ids[log->n] = l;
        log->old[log->n++] = link[l];
    }
    link[l] += bytes;
}

/* Add `bytes` (may be negative) to every link of the XY route a → b: along x
 * first, then along y. */
static void route_add(int64_t *link, int w, int a, int b, int64_t bytes, touch_log *log) {
    int c = a, dx = b % w - a % w, dy = b / w - a / w;
    for (; dx > 0; dx--, c++) bump(link, SM_LINK_DIRS * c + SM_LINK_E, bytes, log);
    for (; dx < 0; dx++, c--) bump(link, SM_LINK_DIRS * c + SM_LINK_W, bytes, log);
    for (; dy > 0; dy--, c += w) bump(link, SM_LINK_DIRS * c + SM_LINK_S, bytes, log);
    for (; dy < 0; dy++, c -= w) bump(link, SM_LINK_DIRS * c + SM_LINK_N, bytes, log);
}

/* ---- figures ----------------------------------------------------------- */

/* What the figures are made of; everything else follows by arithmetic. */
typedef struct {
    int64_t hop_bytes, max_link, top5_sum;
    int top5_k, max_hops, violations;
    double max_compute, max_memory;
} raw_figures;

static int cmp_desc(const void *x, const void *y) {
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a < b) - (a > b);
}

/* Sum of the k = ceil(links / 20) largest loads of the links that exist. */
static void top5(const sm_mesh *m, const int64_t *link, int64_t *scratch, raw_figures *r) {
    int n = 0;
    for (int l = 0; l < SM_LINK_DIRS * sm_mesh_cores(m); l++)
        if (sm_mesh_link_exists(m, l)) scratch[n++] = link[l];
    qsort(scratch, (size_t)n, sizeof *scratch, cmp_desc);
    r->top5_k = (n + 19) / 20;
    r->top5_sum = 0;
    for (int k = 0; k < r->top5_k; k++) r->top5_sum += scratch[k];
}

static double relative(double v, double ref) { return v / (ref > 0 ? ref : 1); }

static double weighted_cost(const sm_cost_weights *w, const sm_cost_figures *f, const sm_cost_figures *ref) {
    return w->hop_bytes * relative(f->hop_bytes, ref->hop_bytes) +
           w->max_link * relative(f->max_link, ref->max_link) +
           w->imbalance * relative(f->imbalance, ref->imbalance) +
           w->time * relative(f->predicted_time, ref->predicted_time) +
           SM_COST_INFEASIBLE_PENALTY * f->memory_violations;
}

/* Fill f from r. ref NULL: f is the reference itself. */
static void finish(const sm_lc_graph *g, const sm_mesh *m, double total_compute, const raw_figures *r,
                   const sm_cost_weights *w, const sm_cost_figures *ref, sm_cost_figures *f) {
    int links = sm_mesh_n_links(m);
    f->hop_bytes = (double)r->hop_bytes;
    f->max_link = (double)r->max_link;
    f->mean_link = links ? (double)r->hop_bytes / links : 0;
    f->top5_link = r->top5_k ? (double)r->top5_sum / r->top5_k : 0;
    f->max_core_compute = r->max_compute;
    f->imbalance = total_compute > 0 ? r->max_compute / (total_compute / sm_mesh_cores(m)) : 1;
    double seconds = g->compute_is_flops ? r->max_compute / (m->core_gflops * 1e9) : r->max_compute;
    f->predicted_time = seconds + (double)r->max_link / m->link_bandwidth + r->max_hops * m->hop_latency;
    f->energy = (double)r->hop_bytes * m->hop_energy;
    f->memory_violations = r->violations;
    f->max_core_memory = r->max_memory;
    f->max_hops = r->max_hops;
    f->cost = weighted_cost(w, f, ref ? ref : f);
}

static double total_compute_of(const sm_lc_graph *g) {
    double t = 0;
    for (int i = 0; i < g->n; i++) t += g->compute[i];
    return t;
}

static int check_inputs(const sm_lc_graph *g, const sm_mesh *mesh, const int32_t *lc_core,
                        const sm_cost_weights *w) {
    int rc = sm_mesh_check(mesh);
    if (rc) return rc;
    const double v[4] = {w->hop_bytes, w->max_link, w->imbalance, w->time};
    const char *name[4] = {"hop_bytes", "max_link", "imbalance", "time"};
    for (int k = 0; k < 4; k++)
        if (!(isfinite(v[k]) && v[k] >= 0))
            return sm_error("placement.weights.%s = %g, expected a finite number >= 0", name[k], v[k]);
    for (int i = 0; lc_core && i < g->n; i++)
        if (lc_core[i] < 0 || lc_core[i] >= sm_mesh_cores(mesh))
            return sm_error("placement: lc_core[%d] = %d, expected a core in 0..%d", i, lc_core[i],
                            sm_mesh_cores(mesh) - 1);
    return SM_OK;
}

/* Link loads, hop_bytes and max hops of placement p into link [4C] (zeroed here).
 * Instead of walking every route (O(E · route)), each message adds its bytes to
 * the two ends of its X segment (on its source row) and of its Y segment (on its
 * destination column) in difference arrays, and one prefix sum per row and
 * column turns them into loads: O(E + C). The loads are int64 sums, so they are
 * exactly those of route_add whatever the order (C1). */
static void route_all(const sm_lc_graph *g, const sm_mesh *m, const int32_t *p, int64_t *link,
                      raw_figures *r) {
    const int w = m->mesh_w, h = m->mesh_h, C = w * h;
    /* rows: index y*(w+1) + x, columns: index x*(h+1) + y, one spare slot each */
    const size_t rows = (size_t)(w + 1) * h, cols = (size_t)(h + 1) * w;
    int64_t *east = sm_xcalloc(2 * (rows + cols), sizeof *east); /* one block for the four arrays */
    int64_t *west = east + rows, *south = west + rows, *north = south + cols;
    memset(link, 0, (size_t)SM_LINK_DIRS * C * sizeof *link);
    r->hop_bytes = 0;
    r->max_hops = 0;
    for (int i = 0; i < g->n; i++) {
        const int a = p[i], sx = a % w, sy = a / w;
        for (int k = g->row[i]; k < g->row[i + 1]; k++) {
            const int b = p[g->col[k]], tx = b % w, ty = b / w;
            const int64_t bytes = g->bytes[k];
            const int hops = abs(tx - sx) + abs(ty - sy);
            r->hop_bytes += bytes * hops;
            if (hops > r->max_hops) r->max_hops = hops;
            if (tx > sx) { /* E links of cores sx .. tx-1 on row sy */
                east[sy * (w + 1) + sx] += bytes;
                east[sy * (w + 1) + tx] -= bytes;
            } else if (tx < sx) { /* W links of cores tx+1 .. sx */
                west[sy * (w + 1) + tx + 1] += bytes;
                west[sy * (w + 1) + sx + 1] -= bytes;
            }
            if (ty > sy) { /* S links of cores sy .. ty-1 on column tx */
                south[tx * (h + 1) + sy] += bytes;
                south[tx * (h + 1) + ty] -= bytes;
            } else if (ty < sy) { /* N links of cores ty+1 .. sy */
                north[tx * (h + 1) + ty + 1] += bytes;
                north[tx * (h + 1) + sy + 1] -= bytes;
            }
        }
    }
    for (int y = 0; y < h; y++) {
        int64_t e = 0, v = 0;
        for (int x = 0; x < w; x++) {
            e += east[y * (w + 1) + x];
            v += west[y * (w + 1) + x];
            link[SM_LINK_DIRS * (y * w + x) + SM_LINK_E] = e;
            link[SM_LINK_DIRS * (y * w + x) + SM_LINK_W] = v;
        }
    }
    for (int x = 0; x < w; x++) {
        int64_t s = 0, n = 0;
        for (int y = 0; y < h; y++) {
            s += south[x * (h + 1) + y];
            n += north[x * (h + 1) + y];
            link[SM_LINK_DIRS * (y * w + x) + SM_LINK_S] = s;
            link[SM_LINK_DIRS * (y * w + x) + SM_LINK_N] = n;
        }
    }
    free(east);
}

static int evaluate(const sm_lc_graph *g, const sm_mesh *m, const int32_t *p, const sm_cost_weights *w,
                    const sm_cost_figures *ref, sm_cost_figures *out) {
    int rc = check_inputs(g, m, p, w);
    if (rc) return rc;
    int C = sm_mesh_cores(m);
    double *compute = sm_xcalloc((size_t)C, sizeof *compute), *memory = sm_xcalloc((size_t)C, sizeof *memory);
    int64_t *link = sm_xcalloc((size_t)SM_LINK_DIRS * C, sizeof *link);
    for (int i = 0; i < g->n; i++) {   /* ascending LC order per core: C4 */
        compute[p[i]] += g->compute[i];
        memory[p[i]] += g->memory[i];
    }
    raw_figures r = {0};
    route_all(g, m, p, link, &r);
    for (int l = 0; l < SM_LINK_DIRS * C; l++)
        if (link[l] > r.max_link) r.max_link = link[l];
    r.max_compute = compute[0];
    r.max_memory = memory[0];
    for (int c = 0; c < C; c++) {
        if (compute[c] > r.max_compute) r.max_compute = compute[c];
        if (memory[c] > r.max_memory) r.max_memory = memory[c];
        r.violations += memory[c] > m->core_memory;
    }
    top5(m, link, link, &r);   /* the link array is not needed any more: sort it in place */
    finish(g, m, total_compute_of(g), &r, w, ref, out);
    free(compute);
    free(memory);
    free(link);
    return SM_OK;
}

int sm_cost_reference(const sm_lc_graph *g, const sm_mesh *mesh, const sm_cost_weights *w,
                      sm_cost_figures *ref) {
    int rc = sm_mesh_check(mesh);
    if (rc) return rc;
    int32_t *p = sm_xmalloc((size_t)g->n * sizeof *p);
    for (int i = 0; i < g->n; i++) p[i] = i % sm_mesh_cores(mesh);
    rc = evaluate(g, mesh, p, w, NULL, ref);
    free(p);
    return rc;
}

int sm_cost_evaluate(const sm_lc_graph *g, const sm_mesh *mesh, const int32_t *lc_core,
                     const sm_cost_weights *w, const sm_cost_figures *ref, sm_cost_figures *out) {
    sm_cost_figures own;
    if (!ref) {
        int rc = sm_cost_reference(g, mesh, w, &own);
        if (rc) return rc;
        ref = &own;
    }
    return evaluate(g, mesh, lc_core, w, ref, out);
}

int sm_cost_link_loads(const sm_lc_graph *g, const sm_mesh *mesh, const int32_t *lc_core, int64_t *loads) {
    sm_cost_weights w = {0};
    int rc = check_inputs(g, mesh, lc_core, &w);
    if (rc) return rc;
    raw_figures r;
    route_all(g, mesh, lc_core, loads, &r);
    return SM_OK;
}

/* ---- incremental state ------------------------------------------------- */

struct sm_cost_state {
    const sm_lc_graph *g;
    sm_mesh mesh;
    sm_cost_weights w;
    sm_cost_figures ref;
    int C, n_hist;
    int32_t *p;                          /* [n] the placement */
    int *in_row, *in_col;                /* transposed CSR: who sends to each LC */
    int64_t *in_bytes;
    int *head, *next;                    /* C5: [C], [n] */
    double *core_compute, *core_memory;  /* C4: [C] */
    double total_compute;                /* Σ compute in LC order (constant) */
    int64_t *link;                       /* C1: [4C] */
    int64_t hop_bytes;                   /* C2 */
    int *hist, *hist_trial;              /* C3: [n_hist] and its copy for a trial */
    int64_t max_link;                    /* C6 */
    int n_max_link;
    double max_compute, max_memory;
    int n_max_compute, n_max_memory;
    int violations;                      /* C7 */
    touch_log log;
    int64_t *sorted;                     /* [4C] scratch for top5 */
    sm_cost_figures fig;                 /* C8 */
};

static void max_scan_i64(const int64_t *a, int len, int64_t *max, int *count) {
    *max = a[0];
    *count = 0;
    for (int i = 0; i < len; i++) {
        if (a[i] > *max) *max = a[i], *count = 0;
        if (a[i] == *max) (*count)++;
    }
}

static void max_scan_f64(const double *a, int len, double *max, int *count) {
    *max = a[0];
    *count = 0;
    for (int i = 0; i < len; i++) {
        if (a[i] > *max) *max = a[i], *count = 0;
        if (a[i] == *max) (*count)++;
    }
}

/* C6 after entries ids[0..m) (distinct) of a changed from old[]: O(m), or a
 * rescan of a when every entry at the max was lowered. One body, two element
 * types (link loads are int64, core sums double). */
#define DEFINE_MAX_AFTER(name, T, LOWEST, scan)                                              \
    static void name(const T *a, int len, const int *ids, const T *old, int m, T *max,        \
                     int *count) {                                                           \
        T hi = LOWEST;                                                                       \
        int c = *count;                                                                      \
        for (int t = 0; t < m; t++) {                                                        \
            c += (a[ids[t]] == *max) - (old[t] == *max);                                     \
            if (a[ids[t]] > hi) hi = a[ids[t]];                                              \
        }                                                                                    \
        if (hi > *max) {                                                                     \
            *max = hi;                                                                       \
            *count = 0;                                                                      \
            for (int t = 0; t < m; t++) *count += a[ids[t]] == hi;                           \
        } else if (c > 0) {                                                                  \
            *count = c;                                                                      \
        } else {                                                                             \
            scan(a, len, max, count);                                                        \
        }                                                                                    \
    }
DEFINE_MAX_AFTER(max_after_i64, int64_t, INT64_MIN, max_scan_i64)
DEFINE_MAX_AFTER(max_after_f64, double, -INFINITY, max_scan_f64)

static int hist_max(const int *hist, int n_hist) {
    for (int h = n_hist - 1; h > 0; h--)
        if (hist[h] > 0) return h;
    return 0;
}

/* The sums of core c with LCs lcs[0..m) on cores to[0..m) instead of their
 * current ones, added in ascending LC order (C4). O(members of c + m). */
static void core_sums(const sm_cost_state *s, int c, int m, const int *lcs, const int *to,
                      double *compute, double *memory) {
    int add[2], na = 0;
    for (int t = 0; t < m; t++)
        if (to[t] == c) add[na++] = lcs[t];
    if (na == 2 && add[0] > add[1]) { int x = add[0]; add[0] = add[1]; add[1] = x; }
    double sc = 0, sm = 0;
    int ai = 0;
    for (int u = s->head[c];; u = s->next[u]) {
        for (; ai < na && (u < 0 || add[ai] < u); ai++) {
            sc += s->g->compute[add[ai]];
            sm += s->g->memory[add[ai]];
        }
        if (u < 0) break;
        int leaves = 0;
        for (int t = 0; t < m; t++) leaves |= lcs[t] == u;   /* moved LCs change core */
        if (!leaves) {
            sc += s->g->compute[u];
            sm += s->g->memory[u];
        }
    }
    *compute = sc;
    *memory = sm;
}

static void list_remove(sm_cost_state *s, int c, int u) {
    int *at = &s->head[c];
    while (*at != u) at = &s->next[*at];
    *at = s->next[u];
}

static void list_insert(sm_cost_state *s, int c, int u) {
    int *at = &s->head[c];
    while (*at >= 0 && *at < u) at = &s->next[*at];
    s->next[u] = *at;
    *at = u;
}

/* Where LC u is in the trial: to[t] if it is lcs[t], else where it is. */
static int trial_core(const sm_cost_state *s, int u, int m, const int *lcs, const int *to) {
    for (int t = 0; t < m; t++)
        if (lcs[t] == u) return to[t];
    return s->p[u];
}

/* Move the route of edge u → v from the current cores to the trial's. */
static void reroute(sm_cost_state *s, int u, int v, int64_t bytes, int m, const int *lcs, const int *to,
                    int64_t *hop_bytes) {
    int a = s->p[u], b = s->p[v];
    int a2 = trial_core(s, u, m, lcs, to), b2 = trial_core(s, v, m, lcs, to);
    int h = sm_mesh_hops(&s->mesh, a, b), h2 = sm_mesh_hops(&s->mesh, a2, b2);
    route_add(s->link, s->mesh.mesh_w, a, b, -bytes, &s->log);
    route_add(s->link, s->mesh.mesh_w, a2, b2, bytes, &s->log);
    s->hist_trial[h]--;
    s->hist_trial[h2]++;
    *hop_bytes += bytes * (h2 - h);
}

/* LCs lcs[0..k) (distinct, k ≤ 2) to cores to[0..k): the cost and, when fig is
 * given, the figures. With commit the change is kept (C1..C8 hold for the new
 * placement); without, every array is restored to the bits it had. */
static double trial(sm_cost_state *s, int k, const int *lcs_in, const int *to_in, sm_cost_figures *fig,
                    int commit) {
    int lcs[2], to[2], m = 0;
    for (int t = 0; t < k; t++)
        if (s->p[lcs_in[t]] != to_in[t]) lcs[m] = lcs_in[t], to[m] = to_in[t], m++;
    if (m == 0) {
        if (fig) *fig = s->fig;
        return s->fig.cost;
    }
    const sm_lc_graph *g = s->g;
    if (++s->log.stamp == INT_MAX) {
        memset(s->log.mark, 0, (size_t)SM_LINK_DIRS * s->C * sizeof *s->log.mark);
        s->log.stamp = 1;
    }
    s->log.n = 0;
    memcpy(s->hist_trial, s->hist, (size_t)s->n_hist * sizeof *s->hist);
    int64_t hop_bytes = s->hop_bytes;
    for (int t = 0; t < m; t++) {   /* an edge between two moved LCs is re-routed once, at t = 0 */
        int u = lcs[t];
        for (int e = g->row[u]; e < g->row[u + 1]; e++)
            if (!(t == 1 && g->col[e] == lcs[0])) reroute(s, u, g->col[e], g->bytes[e], m, lcs, to, &hop_bytes);
        for (int e = s->in_row[u]; e < s->in_row[u + 1]; e++)
            if (!(t == 1 && s->in_col[e] == lcs[0]))
                reroute(s, s->in_col[e], u, s->in_bytes[e], m, lcs, to, &hop_bytes);
    }

    int cores[4], nc = 0;
    for (int t = 0; t < m; t++) {
        int pair[2] = {s->p[lcs[t]], to[t]};
        for (int q = 0; q < 2; q++) {
            int seen = 0;
            for (int x = 0; x < nc; x++) seen |= cores[x] == pair[q];
            if (!seen) cores[nc++] = pair[q];
        }
    }
    double old_compute[4], old_memory[4], new_compute[4], new_memory[4];
    int violations = s->violations;
    for (int q = 0; q < nc; q++) core_sums(s, cores[q], m, lcs, to, &new_compute[q], &new_memory[q]);
    for (int q = 0; q < nc; q++) {
        int c = cores[q];
        old_compute[q] = s->core_compute[c];
        old_memory[q] = s->core_memory[c];
        violations += (new_memory[q] > s->mesh.core_memory) - (old_memory[q] > s->mesh.core_memory);
        s->core_compute[c] = new_compute[q];
        s->core_memory[c] = new_memory[q];
    }

    int64_t max_link = s->max_link;
    int n_max_link = s->n_max_link, n_max_compute = s->n_max_compute, n_max_memory = s->n_max_memory;
    double max_compute = s->max_compute, max_memory = s->max_memory;
    max_after_i64(s->link, SM_LINK_DIRS * s->C, s->log.ids, s->log.old, s->log.n, &max_link, &n_max_link);
    max_after_f64(s->core_compute, s->C, cores, old_compute, nc, &max_compute, &n_max_compute);
    max_after_f64(s->core_memory, s->C, cores, old_memory, nc, &max_memory, &n_max_memory);
    raw_figures r = {.hop_bytes = hop_bytes, .max_link = max_link, .violations = violations,
                     .max_hops = hist_max(s->hist_trial, s->n_hist), .max_compute = max_compute,
                     .max_memory = max_memory};
    if (fig || commit) top5(&s->mesh, s->link, s->sorted, &r);
    sm_cost_figures f;
    finish(g, &s->mesh, s->total_compute, &r, &s->w, &s->ref, &f);

    if (commit) {
        for (int t = 0; t < m; t++) {
            list_remove(s, s->p[lcs[t]], lcs[t]);
            s->p[lcs[t]] = to[t];
            list_insert(s, to[t], lcs[t]);
        }
        memcpy(s->hist, s->hist_trial, (size_t)s->n_hist * sizeof *s->hist);
        s->hop_bytes = hop_bytes;
        s->max_link = max_link, s->n_max_link = n_max_link;
        s->max_compute = max_compute, s->n_max_compute = n_max_compute;
        s->max_memory = max_memory, s->n_max_memory = n_max_memory;
        s->violations = violations;
        s->fig = f;
    } else {
        for (int t = 0; t < s->log.n; t++) s->link[s->log.ids[t]] = s->log.old[t];
        for (int q = 0; q < nc; q++) {
            s->core_compute[cores[q]] = old_compute[q];
            s->core_memory[cores[q]] = old_memory[q];
        }
    }
    if (fig) *fig = f;
    return f.cost;
}

double sm_cost_delta_swap(sm_cost_state *s, int i, int j, sm_cost_figures *fig) {
    assert(i >= 0 && i < s->g->n && j >= 0 && j < s->g->n);
    int lcs[2] = {i, j}, to[2] = {s->p[j], s->p[i]};
    return trial(s, i == j ? 0 : 2, lcs, to, fig, 0);
}

double sm_cost_delta_move(sm_cost_state *s, int i, int core, sm_cost_figures *fig) {
    assert(i >= 0 && i < s->g->n && core >= 0 && core < s->C);
    return trial(s, 1, &i, &core, fig, 0);
}

double sm_cost_apply_swap(sm_cost_state *s, int i, int j) {
    assert(i >= 0 && i < s->g->n && j >= 0 && j < s->g->n);
    int lcs[2] = {i, j}, to[2] = {s->p[j], s->p[i]};
    return trial(s, i == j ? 0 : 2, lcs, to, NULL, 1);
}

double sm_cost_apply_move(sm_cost_state *s, int i, int core) {
    assert(i >= 0 && i < s->g->n && core >= 0 && core < s->C);
    return trial(s, 1, &i, &core, NULL, 1);
}

const int32_t *sm_cost_state_placement(const sm_cost_state *s) { return s->p; }
const sm_cost_figures *sm_cost_state_figures(const sm_cost_state *s) { return &s->fig; }
const int64_t *sm_cost_state_link_loads(const sm_cost_state *s) { return s->link; }

int sm_cost_state_new(sm_cost_state **out, const sm_lc_graph *g, const sm_mesh *mesh,
                      const int32_t *lc_core, const sm_cost_weights *w, const sm_cost_figures *ref) {
    *out = NULL;
    int rc = check_inputs(g, mesh, lc_core, w);
    if (rc) return rc;
    sm_cost_state *s = sm_xcalloc(1, sizeof *s);
    if (ref) s->ref = *ref;
    else if ((rc = sm_cost_reference(g, mesh, w, &s->ref))) { free(s); return rc; }
    int n = g->n, C = sm_mesh_cores(mesh), nnz = g->row[n];
    s->g = g;
    s->mesh = *mesh;
    s->w = *w;
    s->C = C;
    s->n_hist = mesh->mesh_w + mesh->mesh_h - 1;
    s->p = sm_xmalloc((size_t)n * sizeof *s->p);
    memcpy(s->p, lc_core, (size_t)n * sizeof *s->p);

    /* transposed CSR: sources of each LC, ascending */
    s->in_row = sm_xcalloc((size_t)n + 1, sizeof *s->in_row);
    s->in_col = sm_xmalloc((size_t)(nnz ? nnz : 1) * sizeof *s->in_col);
    s->in_bytes = sm_xmalloc((size_t)(nnz ? nnz : 1) * sizeof *s->in_bytes);
    for (int e = 0; e < nnz; e++) s->in_row[g->col[e] + 1]++;
    for (int i = 0; i < n; i++) s->in_row[i + 1] += s->in_row[i];
    int *fill = sm_xmalloc((size_t)n * sizeof *fill);
    memcpy(fill, s->in_row, (size_t)n * sizeof *fill);
    for (int i = 0; i < n; i++)
        for (int e = g->row[i]; e < g->row[i + 1]; e++) {
            int at = fill[g->col[e]]++;
            s->in_col[at] = i;
            s->in_bytes[at] = g->bytes[e];
        }
    free(fill);

    /* C5 then C4: push in descending order so that lists come out ascending */
    s->head = sm_xmalloc((size_t)C * sizeof *s->head);
    s->next = sm_xmalloc((size_t)n * sizeof *s->next);
    for (int c = 0; c < C; c++) s->head[c] = -1;
    for (int i = n - 1; i >= 0; i--) s->next[i] = s->head[s->p[i]], s->head[s->p[i]] = i;
    s->core_compute = sm_xcalloc((size_t)C, sizeof *s->core_compute);
    s->core_memory = sm_xcalloc((size_t)C, sizeof *s->core_memory);
    for (int c = 0; c < C; c++) core_sums(s, c, 0, NULL, NULL, &s->core_compute[c], &s->core_memory[c]);
    s->total_compute = total_compute_of(g);

    /* C1..C3 */
    s->link = sm_xcalloc((size_t)SM_LINK_DIRS * C, sizeof *s->link);
    s->hist = sm_xcalloc((size_t)s->n_hist, sizeof *s->hist);
    s->hist_trial = sm_xcalloc((size_t)s->n_hist, sizeof *s->hist_trial);
    raw_figures r = {0};
    route_all(g, mesh, s->p, s->link, &r);
    s->hop_bytes = r.hop_bytes;
    for (int i = 0; i < n; i++)
        for (int e = g->row[i]; e < g->row[i + 1]; e++) s->hist[sm_mesh_hops(mesh, s->p[i], s->p[g->col[e]])]++;

    /* C6, C7 */
    max_scan_i64(s->link, SM_LINK_DIRS * C, &s->max_link, &s->n_max_link);
    max_scan_f64(s->core_compute, C, &s->max_compute, &s->n_max_compute);
    max_scan_f64(s->core_memory, C, &s->max_memory, &s->n_max_memory);
    for (int c = 0; c < C; c++) s->violations += s->core_memory[c] > mesh->core_memory;

    s->log.mark = sm_xcalloc((size_t)SM_LINK_DIRS * C, sizeof *s->log.mark);
    s->log.ids = sm_xmalloc((size_t)SM_LINK_DIRS * C * sizeof *s->log.ids);
    s->log.old = sm_xmalloc((size_t)SM_LINK_DIRS * C * sizeof *s->log.old);
    s->sorted = sm_xmalloc((size_t)SM_LINK_DIRS * C * sizeof *s->sorted);

    /* C8 */
    r.max_link = s->max_link;
    r.max_hops = hist_max(s->hist, s->n_hist);
    r.max_compute = s->max_compute;
    r.max_memory = s->max_memory;
    r.violations = s->violations;
    top5(mesh, s->link, s->sorted, &r);
    finish(g, mesh, s->total_compute, &r, w, &s->ref, &s->fig);
    *out = s;
    return SM_OK;
}

void sm_cost_state_free(sm_cost_state *s) {
    if (!s) return;
    free(s->p);
    free(s->in_row);
    free(s->in_col);
    free(s->in_bytes);
    free(s->head);
    free(s->next);
    free(s->core_compute);
    free(s->core_memory);
    free(s->link);
    free(s->hist);
    free(s->hist_trial);
    free(s->log.mark);
    free(s->log.ids);
    free(s->log.old);
    free(s->sorted);
    free(s);
}
