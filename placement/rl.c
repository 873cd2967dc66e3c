/* rl.c — the rl placer (sm_place.h): a GCN policy (rl_gcn.c) proposes, for
 * every LC, a continuous (x, y) Gaussian over the usable mesh; samples are
 * discretised into placements, costed through the evaluation counter (so a
 * batch evaluator can spread them over ranks) and the policy is trained by
 * PPO-clip (or REINFORCE with a moving-average baseline). The best distinct
 * placements seen, the policy's mean placement and the current placement then
 * seed the genetic algorithm (sm_ga_run, ConfuciuX's fine-tuning); its best is
 * improved on incremental deltas by an adaptive-range descent that turns into
 * annealing once it stalls (sm_rl_descend_anneal), then polished by a
 * range-limited swap search with kicks (sm_rl_swap_search; both in
 * rl_search.c). docs/placement.md, "rl".
 *
 * Sizes: n = LCs, U = usable cores, K = sampled placements per batch, F, D as
 * in rl_internal.h.
 *
 * The stages of sm_place_rl, with their share of the budget B:
 *
 *   stage           share      function                 what it leaves behind
 *   rollout         <= 5 ev.   anchor_at_best_rollout   state anchored at the best of
 *                                                        anchor, mean(anchor), mean(mean(..)) ...
 *   analytic start  <= 5 % of  sm_rl_analytic           a layout from the traffic alone
 *                   B, <= 1000                           (rl_analytic.c), in the pool
 *   polish          20 % of B  sm_rl_descend_anneal     hop-bytes-only weights, when the analytic
 *                              (no annealing)           start beats the rollout (or p->current is
 *                                                        set): the better of the two descended
 *                                                        until it stalls, then the pool's next
 *                                                        distinct placements; the state anchored
 *                                                        at the best
 *   policy training 40 % of B  sm_rl_train              trained policy; pool of the 8 best
 *                   (incl. the rollout;                  distinct samples; stops early when half
 *                   × 100/n above 100 LCs)               its batches pass in a row without a better
 *                                                        sample (what it leaves goes to the stages
 *                                                        below, which take what is left)
 *   GA              20 % of B  sm_ga_run                best of a GA seeded with the pool,
 *                                                        the policy's mean placement, p->current
 *   descent /       50 % of    sm_rl_descend_anneal     swaps/moves on incremental deltas, VPR
 *   annealing       the rest                             range limiter from the whole box; greedy
 *                   less 1                               until it stalls (4·n tries without a new
 *                                                        best), then annealing with T0 from the
 *                                                        uphill deltas seen, cooled to T0/1000
 *                                                        (best seen)
 *   swap search     the rest   sm_rl_swap_search        range-limited swaps/moves on incremental
 *                   less 1                               deltas, kicks at local minima (best seen)
 *   local search    what is    sm_local_search_run      (all of it when the swap search cannot run)
 *                   left
 *   final check     1          sm_evals_full            the better of it and the pool's best,
 *                                                        repaired (sm_place_repair)
 *
 * Invariants:
 *   R1  every cost goes through e (sm_evals_*): e.n <= budget at every return.
 *   R2  everything random comes from splitmix64 states seeded from p->seed, and
 *       samples are drawn in a fixed order (sample, LC, axis): same seed ⇒ same bits
 *       (on one machine: OpenBLAS picks its sgemm kernel by CPU).
 *   R3  discretisation visits LCs in gr->order (memory descending, ties by id),
 *       each taking the nearest free core to its point, level by level (no core
 *       takes an (L+1)-th LC while one has fewer than L).
 *   R4  the state is re-anchored only between batches, so every batch's samples,
 *       old log-probs and updates see one state.
 *   R5  costs in the pool and in the final choice include the migration term
 *       (p->migration_weight); the GA, the descent/annealing, the swap search and
 *       the local search optimise the cost alone.
 */
#define _GNU_SOURCE /* qsort_r */
#include "rl_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sm_common.h"
#include "sm_placement.h"

/* ---- the graph state ---------------------------------------------------- */

typedef struct { int col; double w; } adj_entry;

static int by_col(const void *a, const void *b) {
    const adj_entry *x = a, *y = b;
    return (x->col > y->col) - (x->col < y->col);
}

static int by_memory_desc(const void *a, const void *b, void *ctx) {
    const double *mem = ctx;
    int i = *(const int *)a, j = *(const int *)b;
    if (mem[i] != mem[j]) return mem[i] > mem[j] ? -1 : 1;
    return (i > j) - (i < j);
}

static int cmp_desc_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

/* Â = D^-1/2 (A/max A + I) D^-1/2 with A_ij = bytes i→j + bytes j→i. */
static void build_adjacency(sm_rl_graph *gr, const sm_lc_graph *g) {
    const int n = g->n;
    int *cnt = sm_xcalloc((size_t)n + 1, sizeof *cnt);
    for (int i = 0; i < n; i++)
        for (int k = g->row[i]; k < g->row[i + 1]; k++) cnt[i]++, cnt[g->col[k]]++;
    int *start = sm_xmalloc(sizeof *start * ((size_t)n + 1));
    start[0] = 0;
    for (int i = 0; i < n; i++) start[i + 1] = start[i] + cnt[i] + 1; /* + the diagonal */
    adj_entry *ent = sm_xmalloc(sizeof *ent * ((size_t)start[n] + 1));
    int *fill = sm_xmalloc(sizeof *fill * ((size_t)n + 1));
    for (int i = 0; i < n; i++) fill[i] = start[i];
    double amax = 0;
    for (int i = 0; i < n; i++)
        for (int k = g->row[i]; k < g->row[i + 1]; k++) {
            int j = g->col[k];
            double b = (double)g->bytes[k];
            ent[fill[i]++] = (adj_entry){j, b};
            ent[fill[j]++] = (adj_entry){i, b};
        }
    for (int i = 0; i < n; i++) ent[fill[i]++] = (adj_entry){i, 0};
    /* Merge duplicates (i→j and j→i) per row, then normalise. */
    gr->arow = sm_xmalloc(sizeof *gr->arow * ((size_t)n + 1));
    gr->acol = sm_xmalloc(sizeof *gr->acol * ((size_t)start[n] + 1));
    double *val = sm_xmalloc(sizeof *val * ((size_t)start[n] + 1));
    int m = 0;
    for (int i = 0; i < n; i++) {
        qsort(ent + start[i], (size_t)(start[i + 1] - start[i]), sizeof *ent, by_col);
        gr->arow[i] = m;
        for (int k = start[i]; k < start[i + 1]; k++) {
            if (m > gr->arow[i] && gr->acol[m - 1] == ent[k].col) {
                val[m - 1] += ent[k].w;
            } else {
                gr->acol[m] = ent[k].col;
                val[m++] = ent[k].w;
            }
        }
        for (int k = gr->arow[i]; k < m; k++)
            if (gr->acol[k] != i && val[k] > amax) amax = val[k];
    }
    gr->arow[n] = m;
    /* Keep, per LC, its SM_RL_NEIGHBOURS heaviest partners (an edge stays when
     * either end keeps it, so Â stays symmetric): the policy's passes then cost
     * O(n · SM_RL_NEIGHBOURS · D) on dense graphs (all-to-all layers) too. */
    double *thr = sm_xcalloc((size_t)n + 1, sizeof *thr), *tmp = sm_xmalloc(sizeof *tmp * ((size_t)m + 1));
    for (int i = 0; i < n; i++) {
        int t = 0;
        for (int k = gr->arow[i]; k < gr->arow[i + 1]; k++)
            if (gr->acol[k] != i) tmp[t++] = val[k];
        if (t > SM_RL_NEIGHBOURS) {
            qsort(tmp, (size_t)t, sizeof *tmp, cmp_desc_double);
            thr[i] = tmp[SM_RL_NEIGHBOURS - 1];
        }
    }
    free(tmp);
    int m2 = 0;
    for (int i = 0; i < n; i++) {
        int k0 = gr->arow[i];
        gr->arow[i] = m2;
        for (int k = k0; k < gr->arow[i + 1]; k++) {
            int j = gr->acol[k];
            if (j == i || val[k] >= thr[i] || val[k] >= thr[j]) gr->acol[m2] = j, val[m2++] = val[k];
        }
    }
    gr->arow[n] = m = m2;
    free(thr);
    double *deg = sm_xcalloc((size_t)n + 1, sizeof *deg);
    for (int i = 0; i < n; i++)
        for (int k = gr->arow[i]; k < gr->arow[i + 1]; k++) {
            val[k] = (amax > 0 ? val[k] / amax : 0) + (gr->acol[k] == i);
            deg[i] += val[k];
        }
    gr->aval = sm_xmalloc(sizeof *gr->aval * ((size_t)m + 1));
    for (int i = 0; i < n; i++)
        for (int k = gr->arow[i]; k < gr->arow[i + 1]; k++)
            gr->aval[k] = (float)(val[k] / sqrt(deg[i] * deg[gr->acol[k]]));
    free(cnt), free(start), free(ent), free(fill), free(val), free(deg);
}

void sm_rl_graph_reanchor(sm_rl_graph *gr, const sm_place_problem *p, const int32_t *lc_core) {
    const int w = p->mesh->mesh_w;
    for (int i = 0; i < gr->n; i++) {
        gr->anchor_core[i] = lc_core[i];
        float ax = (float)((lc_core[i] % w + 0.5) / gr->box_w), ay = (float)((lc_core[i] / w + 0.5) / gr->box_h);
        gr->anchor[i * 2] = ax, gr->anchor[i * 2 + 1] = ay;
        gr->anchor_logit[i * 2] = logf(ax / (1 - ax));
        gr->anchor_logit[i * 2 + 1] = logf(ay / (1 - ay));
        gr->x[(size_t)i * SM_RL_FEATURES + 5] = ax;
        gr->x[(size_t)i * SM_RL_FEATURES + 6] = ay;
    }
}

void sm_rl_graph_build(sm_rl_graph *gr, const sm_place_problem *p, const sm_evals *e, const int32_t *anchor) {
    const sm_lc_graph *g = p->g;
    const int n = g->n, w = p->mesh->mesh_w, u = sm_place_usable(p), F = SM_RL_FEATURES;
    memset(gr, 0, sizeof *gr);
    gr->n = n;
    gr->box_w = u < w ? u : w;
    gr->box_h = (u + w - 1) / w;
    size_t n1 = (size_t)(n > 0 ? n : 1);
    gr->x = sm_falloc(n1 * F);
    gr->anchor_core = sm_xmalloc(sizeof *gr->anchor_core * n1);
    gr->anchor = sm_falloc(n1 * 2);
    gr->anchor_logit = sm_falloc(n1 * 2);
    gr->order = sm_xmalloc(sizeof *gr->order * n1);
    /* Node features, each normalised so that any graph size reads alike. */
    double *in = sm_xcalloc(n1, sizeof *in), *out = sm_xcalloc(n1, sizeof *out);
    for (int i = 0; i < n; i++)
        for (int k = g->row[i]; k < g->row[i + 1]; k++) out[i] += (double)g->bytes[k], in[g->col[k]] += (double)g->bytes[k];
    double cmax = 0, inmax = 0, outmax = 0, lmax = 0;
    for (int i = 0; i < n; i++) {
        if (g->compute[i] > cmax) cmax = g->compute[i];
        if (log1p(in[i]) > inmax) inmax = log1p(in[i]);
        if (log1p(out[i]) > outmax) outmax = log1p(out[i]);
        if (g->layer[i] > lmax) lmax = g->layer[i];
    }
    for (int i = 0; i < n; i++) {
        float *x = gr->x + (size_t)i * F;
        x[0] = (float)(cmax > 0 ? g->compute[i] / cmax : 0);
        x[1] = (float)(p->mesh->core_memory > 0 ? g->memory[i] / p->mesh->core_memory : 0);
        x[2] = (float)(inmax > 0 ? log1p(in[i]) / inmax : 0);
        x[3] = (float)(outmax > 0 ? log1p(out[i]) / outmax : 0);
        x[4] = (float)(lmax > 0 ? g->layer[i] / lmax : 0);
        x[7] = 1.0f; /* x[5], x[6]: the anchor, below */
    }
    free(in), free(out);
    int32_t *seq = NULL;
    if (!anchor) anchor = p->current;
    if (!anchor) {
        seq = sm_xmalloc(sizeof *seq * n1);
        sm_place_sequential(seq, n, u);
        anchor = seq;
    }
    sm_rl_graph_reanchor(gr, p, anchor);
    free(seq);
    build_adjacency(gr, g);
    for (int i = 0; i < n; i++) gr->order[i] = i;
    qsort_r(gr->order, (size_t)n, sizeof *gr->order, by_memory_desc, g->memory);
    if (p->current && p->migration_weight > 0) {
        gr->current = p->current;
        gr->mig_scale = p->migration_weight / (e->ref.hop_bytes > 0 ? e->ref.hop_bytes : 1.0);
    }
}

void sm_rl_graph_free(sm_rl_graph *gr) {
    free(gr->x), free(gr->anchor_core), free(gr->anchor), free(gr->anchor_logit);
    free(gr->arow), free(gr->acol), free(gr->aval), free(gr->order);
    memset(gr, 0, sizeof *gr);
}

double sm_rl_with_migration(const sm_rl_graph *gr, const sm_lc_graph *g, const int32_t *lc_core, double cost) {
    if (!gr->current) return cost;
    double moved = 0;
    for (int i = 0; i < g->n; i++)
        if (lc_core[i] != gr->current[i]) moved += g->memory[i];
    return cost + gr->mig_scale * moved;
}

/* ---- actions ------------------------------------------------------------ */

static double clampd(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }

/* rl_internal.h has the contract. Visits Chebyshev rings around the nearest
 * cell and stops once a ring cannot hold anything nearer, so a step costs
 * O(ring area) instead of O(U). */
int sm_rl_nearest_free(const sm_place_problem *p, const sm_rl_graph *gr, double x, double y, double bytes,
                       const int *load, const double *mem, int cap) {
    const int w = p->mesh->mesh_w, u = sm_place_usable(p), bw = gr->box_w, bh = gr->box_h;
    const double room = p->mesh->core_memory;
    int cx = (int)floor(x + 0.5), cy = (int)floor(y + 0.5);
    if (cx < 0) cx = 0;
    if (cx > bw - 1) cx = bw - 1;
    if (cy < 0) cy = 0;
    if (cy > bh - 1) cy = bh - 1;
    int best = -1, any = -1;
    double d_best = INFINITY, d_any = INFINITY;
    const int rmax = bw > bh ? bw : bh;
    for (int r = 0; r <= rmax; r++) {
        double lo = r - 0.5 > 0 ? (r - 0.5) * (r - 0.5) : 0; /* no cell of ring r is nearer */
        if (best >= 0 && lo > d_best) break;
        int y0 = cy - r, y1 = cy + r;
        for (int yy = y0 < 0 ? 0 : y0; yy <= y1 && yy < bh; yy++) {
            int edge = yy == y0 || yy == y1, step = edge ? 1 : 2 * r;
            for (int xx = cx - r; xx <= cx + r; xx += step > 0 ? step : 1) {
                if (xx < 0 || xx >= bw) continue;
                int c = yy * w + xx;
                if (c >= u || load[c] >= cap) continue;
                double dx = xx - x, dy = yy - y, d = dx * dx + dy * dy;
                if (d < d_any || (d == d_any && c < any)) d_any = d, any = c;
                if (mem[c] + bytes <= room && (d < d_best || (d == d_best && c < best))) d_best = d, best = c;
            }
        }
    }
    return best >= 0 ? best : any;
}

void sm_rl_discretise(const sm_place_problem *p, const sm_rl_graph *gr, const float *a, int32_t *lc_core,
                      int *load, double *mem) {
    const int u = sm_place_usable(p), S = sm_place_slots(p);
    const double room = p->mesh->core_memory;
    memset(load, 0, sizeof *load * (size_t)u);
    memset(mem, 0, sizeof *mem * (size_t)u);
    for (int k = 0; k < gr->n; k++) {
        int i = gr->order[k];
        /* Spread evenly: while k < L·U, a core takes at most L LCs (L <= S), so
         * no core doubles up while another is empty (imbalance); memory comes
         * first: without room at level L, any core with a free slot and room. */
        int cap = k / u + 1 < S ? k / u + 1 : S;
        double x = clampd(a[i * 2] * gr->box_w - 0.5, 0, gr->box_w - 1);
        double y = clampd(a[i * 2 + 1] * gr->box_h - 0.5, 0, gr->box_h - 1);
        int c = sm_rl_nearest_free(p, gr, x, y, p->g->memory[i], load, mem, cap);
        if (cap < S && (c < 0 || mem[c] + p->g->memory[i] > room)) {
            int c2 = sm_rl_nearest_free(p, gr, x, y, p->g->memory[i], load, mem, S);
            if (c2 >= 0 && (c < 0 || mem[c2] + p->g->memory[i] <= room)) c = c2;
        }
        lc_core[i] = c;
        load[c]++;
        mem[c] += p->g->memory[i];
    }
}

void sm_rl_mean_placement(const sm_place_problem *p, const sm_rl_policy *pol, const sm_rl_graph *gr,
                          int32_t *lc_core) {
    const int u = sm_place_usable(p);
    sm_rl_cache c;
    sm_rl_cache_init(&c, gr->n);
    sm_rl_forward(pol, gr, &c);
    int *load = sm_xmalloc(sizeof *load * (size_t)u);
    double *mem = sm_xmalloc(sizeof *mem * (size_t)u);
    sm_rl_discretise(p, gr, c.mu, lc_core, load, mem);
    free(load), free(mem);
    sm_rl_cache_free(&c);
}

/* ---- the pool of best distinct placements ------------------------------- */

void sm_rl_pool_init(sm_rl_pool *pool, int n, int cap) {
    pool->n = n, pool->cap = cap, pool->count = 0;
    pool->lc_core = sm_xmalloc(sizeof *pool->lc_core * (size_t)cap * (size_t)(n > 0 ? n : 1));
    pool->cost = sm_xmalloc(sizeof *pool->cost * (size_t)cap);
}

void sm_rl_pool_free(sm_rl_pool *pool) {
    free(pool->lc_core), free(pool->cost);
    memset(pool, 0, sizeof *pool);
}

void sm_rl_pool_add(sm_rl_pool *pool, const int32_t *lc_core, double cost) {
    const size_t n = (size_t)pool->n;
    if (pool->count == pool->cap && cost >= pool->cost[pool->count - 1]) return;
    for (int k = 0; k < pool->count; k++)
        if (!memcmp(pool->lc_core + k * n, lc_core, n * sizeof *lc_core)) return;
    int k = pool->count < pool->cap ? pool->count++ : pool->cap - 1;
    for (; k > 0 && pool->cost[k - 1] > cost; k--) { /* keep ascending; ties: the earlier first */
        pool->cost[k] = pool->cost[k - 1];
        memcpy(pool->lc_core + k * n, pool->lc_core + (k - 1) * n, n * sizeof *lc_core);
    }
    pool->cost[k] = cost;
    memcpy(pool->lc_core + k * n, lc_core, n * sizeof *lc_core);
}

/* ---- training ----------------------------------------------------------- */

sm_rl_train_opts sm_rl_train_defaults(sm_rl_algorithm algo) {
    sm_rl_train_opts o;
    o.algo = algo;
    o.epochs = 4;
    o.minibatch = 8;
    o.lr = 3e-3f;
    o.clip_eps = 0.2;
    o.baseline_decay = 0.9;
    o.entropy = 0.02;
    o.patience = 0.5;
    if (algo == SM_RL_REINFORCE) {
        o.batch = 8;     /* one update per batch: small batches, more updates */
        o.reanchor = 5;  /* every 40 samples */
    } else {
        o.batch = 32;    /* 4 epochs x 4 minibatches = 16 updates per batch */
        o.reanchor = 3;  /* every 96 samples */
    }
    return o;
}

/* A standard normal (Box–Muller; one draw per call keeps the order simple). */
static double gaussian(uint64_t *s) {
    double u1 = sm_prng_uniform(s), u2 = sm_prng_uniform(s);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* One gradient step of the surrogate on samples idx [m] of the batch. */
static void update(sm_rl_policy *pol, const sm_rl_graph *gr, sm_rl_cache *c, const sm_rl_train_opts *o,
                   const int *idx, int m, const float *a, const double *old_lp, const double *adv, float *ma,
                   double *mlp, double *madv, float *dmu, float *grad) {
    const size_t n = (size_t)gr->n;
    for (int k = 0; k < m; k++) {
        memcpy(ma + k * n * 2, a + (size_t)idx[k] * n * 2, sizeof *ma * n * 2);
        memcpy(mlp + k * n, old_lp + (size_t)idx[k] * n, sizeof *mlp * n);
        madv[k] = adv[idx[k]];
    }
    double sigma[2], dls[2] = {0, 0};
    sm_rl_forward(pol, gr, c);
    sm_rl_sigma(pol, gr, sigma);
    sm_rl_surrogate(o->algo, c->mu, sigma, gr->n, m, ma, mlp, madv, o->clip_eps, dmu, dls);
    memset(grad, 0, sizeof *grad * SM_RL_PARAMS);
    sm_rl_backward(pol, gr, c, dmu, grad);
    grad[SM_RL_LOGSTD_OFFSET] += (float)dls[0];
    grad[SM_RL_LOGSTD_OFFSET + 1] += (float)dls[1];
    /* entropy bonus: −β Σ_d log_std_d (the Gaussian's entropy per LC, up to a constant) */
    grad[SM_RL_LOGSTD_OFFSET] -= (float)o->entropy;
    grad[SM_RL_LOGSTD_OFFSET + 1] -= (float)o->entropy;
    sm_rl_adam(pol, grad, o->lr);
}

int sm_rl_train(sm_evals *e, sm_rl_policy *pol, sm_rl_graph *gr, const sm_rl_train_opts *o, long budget,
                uint64_t *prng, sm_rl_pool *pool) {
    const sm_place_problem *p = e->p;
    const int n = gr->n, u = sm_place_usable(p);
    int K = o->batch;
    if (budget < K) K = (int)budget;
    if (K < 2 || n == 0) return SM_OK;
    const long iters = budget / K;
    const size_t nn = (size_t)n;
    float *a = sm_falloc((size_t)K * nn * 2), *ma = sm_falloc((size_t)K * nn * 2), *dmu = sm_falloc(nn * 2);
    float *grad = sm_falloc(SM_RL_PARAMS);
    int32_t *pl = sm_xmalloc(sizeof *pl * (size_t)K * nn);
    double *cost = sm_xmalloc(sizeof *cost * (size_t)K), *adv = sm_xmalloc(sizeof *adv * (size_t)K);
    double *madv = sm_xmalloc(sizeof *madv * (size_t)K);
    double *old_lp = sm_xmalloc(sizeof *old_lp * (size_t)K * nn), *mlp = sm_xmalloc(sizeof *mlp * (size_t)K * nn);
    int *load = sm_xmalloc(sizeof *load * (size_t)u), *idx = sm_xmalloc(sizeof *idx * (size_t)K);
    double *mem = sm_xmalloc(sizeof *mem * (size_t)u);
    sm_rl_cache c;
    sm_rl_cache_init(&c, n);
    int rc = SM_OK;
    /* Patience: batches in a row without a better pool best before training stops. */
    const long patience = o->patience > 0 ? (long)ceil(o->patience * (double)iters) : iters;
    long since = 0;
    for (long it = 0; it < iters && since < patience; it++) {
        if (o->reanchor > 0 && it > 0 && it % o->reanchor == 0 && pool->count > 0 &&
            memcmp(pool->lc_core, gr->anchor_core, nn * sizeof *pl))
            sm_rl_graph_reanchor(gr, p, pool->lc_core);
        /* Sample K actions in the order (sample, LC, axis) and discretise them (R2, R3). */
        double sigma[2];
        sm_rl_forward(pol, gr, &c);
        sm_rl_sigma(pol, gr, sigma);
        for (int s = 0; s < K; s++) {
            float *as = a + (size_t)s * nn * 2;
            for (int i = 0; i < n; i++)
                for (int d = 0; d < 2; d++) as[i * 2 + d] = (float)(c.mu[i * 2 + d] + sigma[d] * gaussian(prng));
            sm_rl_discretise(p, gr, as, pl + (size_t)s * nn, load, mem);
            sm_rl_logprob(c.mu, sigma, as, n, old_lp + (size_t)s * nn);
        }
        if ((rc = sm_evals_batch(e, K, pl, cost)) != SM_OK) break;
        const double before = pool->count ? pool->cost[0] : INFINITY;
        double mean = 0, var = 0;
        for (int s = 0; s < K; s++) {
            double cm = sm_rl_with_migration(gr, p->g, pl + (size_t)s * nn, cost[s]);
            sm_rl_pool_add(pool, pl + (size_t)s * nn, cm);
            adv[s] = sm_cost_reward(cm, e->ref.cost); /* the reward, for now */
            mean += adv[s] / K;
        }
        for (int s = 0; s < K; s++) var += (adv[s] - mean) * (adv[s] - mean) / K;
        since = pool->cost[0] < before ? 0 : since + 1;
        if (o->algo == SM_RL_REINFORCE) {
            /* A = (r − b) / batch std, b the moving average of the batch mean reward
             * (before this batch); the scale keeps the entropy bonus commensurate. */
            double sd = sqrt(var);
            if (!pol->have_baseline) pol->baseline = (float)mean, pol->have_baseline = 1;
            for (int s = 0; s < K; s++) adv[s] = sd > 1e-12 ? (adv[s] - pol->baseline) / sd : 0;
            pol->baseline = (float)(o->baseline_decay * pol->baseline + (1 - o->baseline_decay) * mean);
            for (int s = 0; s < K; s++) idx[s] = s;
            update(pol, gr, &c, o, idx, K, a, old_lp, adv, ma, mlp, madv, dmu, grad);
            continue;
        }
        /* PPO: A = (r − batch mean) / batch std; `epochs` shuffled passes of minibatches. */
        double sd = sqrt(var);
        pol->baseline = (float)(o->baseline_decay * pol->baseline + (1 - o->baseline_decay) * mean);
        for (int s = 0; s < K; s++) adv[s] = sd > 1e-12 ? (adv[s] - mean) / sd : 0;
        int mb = o->minibatch < K ? o->minibatch : K;
        for (int ep = 0; ep < o->epochs; ep++) {
            for (int s = 0; s < K; s++) idx[s] = s;
            for (int s = K - 1; s > 0; s--) {
                int r = sm_prng_below(prng, s + 1), t = idx[s];
                idx[s] = idx[r], idx[r] = t;
            }
            for (int s0 = 0; s0 + mb <= K; s0 += mb)
                update(pol, gr, &c, o, idx + s0, mb, a, old_lp, adv, ma, mlp, madv, dmu, grad);
        }
    }
    sm_rl_cache_free(&c);
    free(a), free(ma), free(dmu), free(grad), free(pl), free(cost), free(adv), free(madv);
    free(old_lp), free(mlp), free(load), free(idx), free(mem);
    return rc;
}

/* ---- the method ---------------------------------------------------------- */

/* The policy as an improvement operator: a0 = the anchor, a(k+1) = the mean
 * placement of the policy anchored at a(k), until a step changes nothing or
 * SM_RL_ANCHOR_STEPS steps; every distinct a(k) is evaluated (one batch, at most
 * SM_RL_ANCHOR_STEPS + 1 evaluations) and goes to the pool, and the state is
 * re-anchored at the best. A fresh policy proposes a0 again (G3) and costs one
 * evaluation; a trained one replays what it learned. SM_OK or SM_EFAIL. */
#define SM_RL_ANCHOR_STEPS 4
#define SM_RL_TRAIN_SHARE 40   /* % of the budget for the rollout and the policy training */
#define SM_RL_GA_SHARE 20      /* % for the GA */
#define SM_RL_ANALYTIC_DIV 20  /* the analytic start takes B / this ... */
#define SM_RL_ANALYTIC_MAX 1000 /* ... up to this many evaluations */
#define SM_RL_POLISH_SHARE 20  /* % for the descent from the analytic start, when the policy is anchored there */
#define SM_RL_DESCENT_SHARE 50 /* % of what the GA leaves (less 1) for the descent; the rest: the swap search */
static int anchor_at_best_rollout(sm_evals *e, const sm_rl_policy *pol, sm_rl_graph *gr, sm_rl_pool *pool,
                                  double *best_cost) {
    const sm_place_problem *p = e->p;
    const size_t n = (size_t)gr->n;
    int32_t *a = sm_xmalloc(sizeof *a * n * (SM_RL_ANCHOR_STEPS + 1));
    double cost[SM_RL_ANCHOR_STEPS + 1];
    memcpy(a, gr->anchor_core, sizeof *a * n);
    int k = 1;
    for (; k <= SM_RL_ANCHOR_STEPS; k++) {
        sm_rl_mean_placement(p, pol, gr, a + k * n);
        if (!memcmp(a + k * n, a + (k - 1) * n, sizeof *a * n)) break;
        sm_rl_graph_reanchor(gr, p, a + k * n);
    }
    if (k > sm_evals_left(e)) k = (int)sm_evals_left(e);
    int rc = k > 0 ? sm_evals_batch(e, k, a, cost) : SM_OK;
    int best = 0;
    for (int j = 0; rc == SM_OK && j < k; j++) {
        cost[j] = sm_rl_with_migration(gr, p->g, a + j * n, cost[j]);
        sm_rl_pool_add(pool, a + j * n, cost[j]);
        if (cost[j] < cost[best]) best = j;
    }
    sm_rl_graph_reanchor(gr, p, a + best * n);
    *best_cost = rc == SM_OK && k > 0 ? cost[best] : INFINITY;
    free(a);
    return rc;
}

/* The polish: the descent without annealing from best [n] (in place), which
 * stops when it stalls; while budget is left it goes on from the next placement
 * of the pool that differs from every start so far in at least n/8 LCs (another
 * basin). best ends as the best result, which joins the pool; its cost (with
 * the migration term) into *cost. At most `budget` evaluations (>= 2). Returns
 * the number of starts. */
static int polish_from_starts(sm_evals *e, const sm_rl_graph *gr, sm_rl_pool *pool, long budget, uint64_t *prng,
                              int32_t *best, double *cost) {
    const int n = gr->n;
    const size_t nn = (size_t)n;
    const int cands = pool->count + 1; /* best, then the pool as it is now */
    int32_t *from = sm_xmalloc(sizeof *from * nn * (size_t)cands);
    int32_t *starts = sm_xmalloc(sizeof *starts * nn * (size_t)cands);
    int32_t *cand = sm_xmalloc(sizeof *cand * nn);
    memcpy(from, best, sizeof *from * nn);
    memcpy(from + nn, pool->lc_core, sizeof *from * nn * (size_t)pool->count);
    const long stop = e->n + budget;
    int used = 0;
    *cost = INFINITY;
    for (int k = 0; k < cands && stop - e->n > 1; k++) {
        const int32_t *f = from + (size_t)k * nn;
        int far = 1;
        for (int j = 0; j < used && far; j++) {
            int diff = 0;
            for (int i = 0; i < n; i++) diff += f[i] != starts[(size_t)j * nn + i];
            far = diff * 8 >= n;
        }
        if (!far) continue;
        memcpy(starts + (size_t)used++ * nn, f, sizeof *starts * nn);
        memcpy(cand, f, sizeof *cand * nn);
        sm_rl_descend_anneal(e, cand, stop - 1 - e->n, 0, prng);
        double c = sm_rl_with_migration(gr, e->p->g, cand, sm_evals_full(e, cand, NULL));
        if (c < *cost) *cost = c, memcpy(best, cand, sizeof *best * nn);
    }
    if (isfinite(*cost)) sm_rl_pool_add(pool, best, *cost);
    free(from), free(starts), free(cand);
    return used;
}

int sm_place_rl(const sm_place_problem *p, int32_t *lc_core, long *evals) {
    const sm_lc_graph *g = p->g;
    const int n = g->n;
    const size_t nn = (size_t)(n > 0 ? n : 1);
    *evals = 0;
    sm_evals e;
    int rc = sm_evals_init(&e, p);
    if (rc) return rc;
    if (n == 0) return SM_OK;
    sm_rl_policy *pol = p->policy ? p->policy : sm_rl_policy_new(p->seed);
    sm_rl_graph gr;
    sm_rl_graph_build(&gr, p, &e, NULL);
    uint64_t prng = p->seed ^ 0x726c2d73616d706cull; /* "rl-sampl" */
    /* Policy training takes SM_RL_TRAIN_SHARE % up to 100 LCs, and a share falling as 1/n above:
     * a sample is a full evaluation whose reward says less about each LC the more LCs
     * share it, while the swap search's deltas cost the same at any n. */
    const long B = e.budget, train_budget = (long)((double)B * SM_RL_TRAIN_SHARE / 100 * (n > 100 ? 100.0 / n : 1));
    const long ga_budget = B * SM_RL_GA_SHARE / 100;
    sm_rl_pool pool;
    sm_rl_pool_init(&pool, n, 8);
    int32_t *seeds = sm_xmalloc(sizeof *seeds * nn * 10), *best = sm_xmalloc(sizeof *best * nn);
    double t0 = sm_wall_seconds();
    const int progress = p->progress;

    sm_rl_train_opts o = sm_rl_train_defaults(p->rl_algorithm);
    double anchor_cost = INFINITY;
    if (train_budget >= 2 * (SM_RL_ANCHOR_STEPS + 1)) {
        rc = anchor_at_best_rollout(&e, pol, &gr, &pool, &anchor_cost);
        if (rc) goto done;
    }
    /* The analytic start: a layout from the traffic alone. The policy is anchored
     * there when it beats the rollout's best (it minimises hop-bytes only, so under
     * other weights it may not). */
    long ap_budget = B / SM_RL_ANALYTIC_DIV;
    if (ap_budget > SM_RL_ANALYTIC_MAX) ap_budget = SM_RL_ANALYTIC_MAX;
    const long rollout = e.n; /* the training's share counts the rollout, not the analytic start or its polish */
    if (ap_budget >= 4 && !p->rl_no_analytic) {
        double ap_cost;
        rc = sm_rl_analytic(&e, &gr, ap_budget, &pool, best, &ap_cost);
        if (rc) goto done;
        if (progress)
            fprintf(stderr, "rl: analytic start, %ld evaluations, cost %.6g (%.1f s)\n", e.n, ap_cost,
                    sm_wall_seconds() - t0);
        /* With hop-bytes as the whole objective (the analytic start's own), polish
         * the better of it and the rollout's best with the descent before the policy
         * reads it: the policy then proposes changes to a placement near a local
         * optimum, and a good cost is reached early. Under other weights the budget
         * does more in the final searches (docs/placement.md, "The analytic start"). */
        const int hop_only = sm_cost_weights_hop_only(&p->weights);
        if (ap_cost < anchor_cost || (hop_only && p->current)) {
            if (ap_cost >= anchor_cost) memcpy(best, gr.anchor_core, sizeof *best * nn);
            long polish = hop_only ? B * SM_RL_POLISH_SHARE / 100 : 0;
            if (polish > sm_evals_left(&e) - 1) polish = sm_evals_left(&e) - 1;
            if (polish > 1) {
                double c;
                int starts = polish_from_starts(&e, &gr, &pool, polish, &prng, best, &c);
                if (progress)
                    fprintf(stderr, "rl: polished from %d starts, %ld evaluations, cost %.6g (%.1f s)\n", starts,
                            e.n, c, sm_wall_seconds() - t0);
            }
            sm_rl_graph_reanchor(&gr, p, best);
        }
    }
    rc = sm_rl_train(&e, pol, &gr, &o, train_budget - rollout, &prng, &pool);
    if (rc) goto done;
    if (progress)
        fprintf(stderr, "rl: policy trained, %ld evaluations, best %.6g (%.1f s)\n", e.n,
                pool.count ? pool.cost[0] : NAN, sm_wall_seconds() - t0);

    /* GA seeds: the pool (best first), the policy's mean placement, the current one. */
    int ns = pool.count;
    memcpy(seeds, pool.lc_core, sizeof *seeds * nn * (size_t)ns);
    sm_rl_mean_placement(p, pol, &gr, seeds + (size_t)ns * nn);
    ns++;
    if (p->current) memcpy(seeds + (size_t)ns++ * nn, p->current, sizeof *seeds * nn);
    memcpy(best, seeds, sizeof *best * nn);
    double best_cost = pool.count ? pool.cost[0] : INFINITY;
    long ga = ga_budget < sm_evals_left(&e) - 1 ? ga_budget : sm_evals_left(&e) - 1;
    if (ga >= 2 * ns) {
        rc = sm_ga_run(&e, seeds, ns, ga, p->seed ^ 0x726c2d67615f5f5full /* "rl-ga___" */, best);
        if (rc) goto done;
        if (progress)
            fprintf(stderr, "rl: GA done, %ld evaluations, best %.6g (%.1f s)\n", e.n, e.best,
                    sm_wall_seconds() - t0);
    }
    if (sm_evals_left(&e) > 1) {
        sm_rl_descend_anneal(&e, best, (sm_evals_left(&e) - 1) * SM_RL_DESCENT_SHARE / 100, 1, &prng);
        if (progress)
            fprintf(stderr, "rl: descent/annealing done, %ld evaluations, best %.6g (%.1f s)\n", e.n, e.best,
                    sm_wall_seconds() - t0);
    }
    if (sm_evals_left(&e) > 1) {
        sm_rl_swap_search(&e, best, sm_evals_left(&e) - 1, &prng);
        if (progress)
            fprintf(stderr, "rl: swap search done, %ld evaluations, best %.6g (%.1f s)\n", e.n, e.best,
                    sm_wall_seconds() - t0);
    }
    long ls = sm_evals_left(&e) - 1;
    if (ls > 0) sm_local_search_run(&e, best, ls); /* what the swap search left (all of it when it could not run) */
    /* Keep what the GA and the local search returned only if it beats the pool's best. */
    if (sm_evals_left(&e) >= 1) {
        double c = sm_rl_with_migration(&gr, g, best, sm_evals_full(&e, best, NULL));
        if (c <= best_cost || !pool.count) best_cost = c;
        else memcpy(best, pool.lc_core, sizeof *best * nn);
    } else if (pool.count) {
        memcpy(best, pool.lc_core, sizeof *best * nn);
    }
    memcpy(lc_core, best, sizeof *lc_core * nn);
    sm_place_repair(p, lc_core);
    if (progress)
        fprintf(stderr, "rl: done, %ld evaluations, cost %.6g (%.1f s)\n", e.n, best_cost, sm_wall_seconds() - t0);
done:
    *evals = e.n;
    sm_rl_pool_free(&pool);
    sm_rl_graph_free(&gr);
    free(seeds), free(best);
    if (!p->policy) sm_rl_policy_free(pol);
    return rc;
}
