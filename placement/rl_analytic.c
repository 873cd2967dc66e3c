/* rl_analytic.c — the analytic start of the rl placer (rl.c): a placement
 * computed from the traffic alone, in the manner of analytic VLSI placement
 * (a spectral layout, then quadratic placement pulled towards spread-out
 * anchors with a growing spring, as SimPL does), legalised onto the cores and
 * costed once per round. It gives the policy an anchor that is already a good
 * layout, for a few hundred evaluations. docs/placement.md, "The analytic start".
 *
 * Sizes: n = LCs, m = entries of the symmetric adjacency (2 per edge),
 * bw x bh = the usable cores' bounding box, U = usable cores, S = slots per core.
 *
 * The math (x and y are solved alike and apart; s_ij = bytes i→j + bytes j→i):
 *   spectral   the two eigenvectors after the trivial one of D^-1/2 S D^-1/2
 *              (subspace iteration on (I + N)/2), times D^-1/2: the layout that
 *              minimises Σ s_ij (x_i − x_j)^2 at unit spread
 *   spread     LCs sorted by x fill the columns of a box centred in the bw x bh
 *              box in proportion to their memory (a_i = memory_i / core_memory,
 *              plus a thousandth of the mean); each column's LCs, sorted by y,
 *              fill it top to bottom: the anchors (ax, ay). The box's area is a
 *              multiple ("fill") of max(Σ a_i, n / S) cores, or n (one LC per core)
 *   round      solve (L_w + α I) x = α ax, L_w the Laplacian of
 *              w_ij = s_ij / (|x_i − x_j| + 1/2) (linearised |x_i − x_j|, so the
 *              quadratic form approximates hop-bytes), by Jacobi-preconditioned
 *              conjugate gradients; spread again; legalise; cost; α ← 1.3 α
 *   legalise   LCs in memory-descending order, each to the nearest core with a
 *              free slot and memory room (sm_rl_nearest_free)
 * A start runs rounds until SM_RL_AP_ROUNDS or until the legal placement has
 * not changed for 3 rounds; a round whose placement did not change costs
 * nothing. The starts cycle through the fills of ap_fills; the first of each
 * fill starts from the spectral layout, later ones from it jittered (uniform,
 * ± SM_RL_AP_NOISE of its rms, from the seed's "rl-anlyt" stream). The stage
 * stops after SM_RL_AP_PATIENCE starts without a new best, or at its budget.
 * Same seed, same placements.
 */
#define _GNU_SOURCE /* qsort_r */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rl_internal.h"
#include "sm_common.h"

#define SM_RL_AP_ROUNDS 30
#define SM_RL_AP_ALPHA0 0.03     /* the first spring, relative to the mean weighted degree */
#define SM_RL_AP_ALPHA_GROWTH 1.3
#define SM_RL_AP_DELTA 0.5       /* cores: the linearisation's floor */
#define SM_RL_AP_SPECTRAL_ITERS 300
#define SM_RL_AP_CG_ITERS 200
#define SM_RL_AP_PATIENCE 12     /* starts without a new best before the stage stops */
#define SM_RL_AP_NOISE 0.3       /* later starts: the spectral layout jittered by ± this × its rms */

static const double ap_fills[] = {1.0, 0.95, 1.1, 0.0 /* one LC per core */};
#define SM_RL_AP_FILLS ((int)(sizeof ap_fills / sizeof ap_fills[0]))

typedef struct {
    int n;
    int *row, *col; /* symmetric adjacency without self-loops (CSR) */
    double *s;
    double *deg;    /* [n] Σ_j s_ij */
} ap_graph;

static void ap_graph_build(ap_graph *a, const sm_lc_graph *g) {
    int *row, *col;
    double *w;
    sm_rl_adjacency(g, &row, &col, &w);
    const int n = g->n;
    a->n = n;
    a->row = sm_xcalloc((size_t)n + 1, sizeof *a->row);
    a->col = sm_xmalloc(sizeof *a->col * ((size_t)row[n] + 1));
    a->s = sm_xmalloc(sizeof *a->s * ((size_t)row[n] + 1));
    a->deg = sm_xcalloc((size_t)n + 1, sizeof *a->deg);
    int m = 0;
    for (int i = 0; i < n; i++) {
        for (int q = row[i]; q < row[i + 1]; q++)
            if (col[q] != i && w[q] > 0) a->col[m] = col[q], a->s[m++] = w[q], a->deg[i] += w[q];
        a->row[i + 1] = m;
    }
    free(row), free(col), free(w);
}

static void ap_graph_free(ap_graph *a) { free(a->row), free(a->col), free(a->s), free(a->deg); }

static double dot(const double *a, const double *b, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* Remove from v its components along the unit vectors u[0..k-1] and normalise
 * it (a zero vector stays zero). */
static void orthonormalise(double *v, double *const *u, int k, int n) {
    for (int j = 0; j < k; j++) {
        double d = dot(v, u[j], n);
        for (int i = 0; i < n; i++) v[i] -= d * u[j][i];
    }
    double norm = sqrt(dot(v, v, n));
    for (int i = 0; i < n; i++) v[i] = norm > 0 ? v[i] / norm : 0;
}

/* y = (I + D^-1/2 S D^-1/2) v / 2 (isolated LCs: y_i = v_i / 2). */
static void ap_halfnorm(const ap_graph *a, const double *dinv, const double *v, double *y) {
    for (int i = 0; i < a->n; i++) {
        double t = 0;
        for (int q = a->row[i]; q < a->row[i + 1]; q++) t += a->s[q] * dinv[a->col[q]] * v[a->col[q]];
        y[i] = 0.5 * (v[i] + dinv[i] * t);
    }
}

/* The spectral layout into x, y [n] (unitless; only the order matters to the
 * spread). The starting block is a fixed deterministic pattern. */
static void ap_spectral(const ap_graph *a, double *x, double *y) {
    const int n = a->n;
    double *dinv = sm_xmalloc(sizeof *dinv * (size_t)n), *u0 = sm_xmalloc(sizeof *u0 * (size_t)n);
    double *v[2], *t = sm_xmalloc(sizeof *t * (size_t)n);
    v[0] = sm_xmalloc(sizeof *v[0] * (size_t)n), v[1] = sm_xmalloc(sizeof *v[1] * (size_t)n);
    for (int i = 0; i < n; i++) {
        dinv[i] = a->deg[i] > 0 ? 1 / sqrt(a->deg[i]) : 0;
        u0[i] = sqrt(a->deg[i]);
        v[0][i] = (double)i / n - 0.5;                      /* the LC order */
        v[1][i] = ((i * 7919) % 97) / 97.0 - 0.5;           /* a scrambled order */
    }
    double *basis[3] = {u0, v[0], v[1]};
    orthonormalise(u0, NULL, 0, n);
    for (int it = 0; it < SM_RL_AP_SPECTRAL_ITERS; it++)
        for (int k = 0; k < 2; k++) {
            ap_halfnorm(a, dinv, v[k], t);
            memcpy(v[k], t, sizeof *t * (size_t)n);
            orthonormalise(v[k], basis, k + 1, n);
        }
    /* Rayleigh-Ritz on the 2-vector block: order the pair by eigenvalue. */
    double *mv0 = sm_xmalloc(sizeof *mv0 * (size_t)n);
    ap_halfnorm(a, dinv, v[0], mv0);
    ap_halfnorm(a, dinv, v[1], t);
    double b00 = dot(v[0], mv0, n), b01 = dot(v[1], mv0, n), b11 = dot(v[1], t, n);
    double th = 0.5 * atan2(2 * b01, b00 - b11), c = cos(th), s = sin(th);
    for (int i = 0; i < n; i++) {
        double p = c * v[0][i] + s * v[1][i], q = -s * v[0][i] + c * v[1][i];
        x[i] = dinv[i] * p, y[i] = dinv[i] * q;
    }
    free(dinv), free(u0), free(v[0]), free(v[1]), free(t), free(mv0);
}

static int by_key(const void *pa, const void *pb, void *ctx) {
    const double *key = ctx;
    int i = *(const int *)pa, j = *(const int *)pb;
    if (key[i] != key[j]) return key[i] < key[j] ? -1 : 1;
    return (i > j) - (i < j);
}

/* Anchors (ax, ay) in core coordinates of layout (x, y): the spread above,
 * into a box of `box_area` cores centred in the bw x bh box. idx, col [n]: scratch. */
static void ap_spread(const double *x, const double *y, const double *area, int n, int bw, int bh,
                      double box_area, double *ax, double *ay, int *idx, int *col) {
    double total = 0;
    for (int i = 0; i < n; i++) total += area[i];
    double W = sqrt(box_area * bw / bh);
    if (W > bw) W = bw;
    double H = box_area / W;
    if (H > bh) H = bh, W = box_area / H < bw ? box_area / H : bw;
    const double ox = (bw - W) / 2, oy = (bh - H) / 2;
    int cols = (int)lround(W);
    if (cols < 1) cols = 1;
    for (int i = 0; i < n; i++) idx[i] = i;
    qsort_r(idx, (size_t)n, sizeof *idx, by_key, (void *)x);
    double cum = 0;
    for (int k = 0; k < n; k++) {
        double mid = (cum + area[idx[k]] / 2) / total;
        ax[idx[k]] = ox + mid * W - 0.5;
        col[k] = mid * cols < cols - 1 ? (int)(mid * cols) : cols - 1;
        cum += area[idx[k]];
    }
    for (int k0 = 0, k1; k0 < n; k0 = k1) { /* each column's LCs, top to bottom by y */
        for (k1 = k0 + 1; k1 < n && col[k1] == col[k0]; k1++) {}
        qsort_r(idx + k0, (size_t)(k1 - k0), sizeof *idx, by_key, (void *)y);
        double ctot = 0, c2 = 0;
        for (int q = k0; q < k1; q++) ctot += area[idx[q]];
        for (int q = k0; q < k1; q++) {
            ay[idx[q]] = oy + (c2 + area[idx[q]] / 2) / ctot * H - 0.5;
            c2 += area[idx[q]];
        }
    }
}

/* out = (diag − W) in, W the off-diagonal weights wq over a's pattern. */
static void ap_matvec(const ap_graph *a, const double *diag, const double *wq, const double *in, double *out) {
    for (int i = 0; i < a->n; i++) {
        double t = diag[i] * in[i];
        for (int k = a->row[i]; k < a->row[i + 1]; k++) t -= wq[k] * in[a->col[k]];
        out[i] = t;
    }
}

/* Solve (L_w + α I) v = α b by Jacobi-preconditioned CG, warm-started from v;
 * w_ij = s_ij / (|pos_i − pos_j| + δ) with pos the layout before the solve.
 * wq [m], scratch [5n]. */
static void ap_solve(const ap_graph *a, const double *pos, double alpha, const double *b, double *v, double *wq,
                     double *scratch) {
    const int n = a->n;
    double *diag = scratch, *r = scratch + n, *z = scratch + 2 * n, *d = scratch + 3 * n, *q = scratch + 4 * n;
    for (int i = 0; i < n; i++) {
        diag[i] = alpha;
        for (int k = a->row[i]; k < a->row[i + 1]; k++) {
            wq[k] = a->s[k] / (fabs(pos[i] - pos[a->col[k]]) + SM_RL_AP_DELTA);
            diag[i] += wq[k];
        }
    }
    ap_matvec(a, diag, wq, v, q);
    double bnorm = 0;
    for (int i = 0; i < n; i++) r[i] = alpha * b[i] - q[i], bnorm += alpha * b[i] * alpha * b[i];
    for (int i = 0; i < n; i++) z[i] = r[i] / diag[i], d[i] = z[i];
    double rz = dot(r, z, n);
    for (int it = 0; it < SM_RL_AP_CG_ITERS && dot(r, r, n) > 1e-14 * bnorm; it++) {
        ap_matvec(a, diag, wq, d, q);
        double dq = dot(d, q, n);
        if (!(dq > 0)) break;
        double step = rz / dq;
        for (int i = 0; i < n; i++) v[i] += step * d[i], r[i] -= step * q[i];
        for (int i = 0; i < n; i++) z[i] = r[i] / diag[i];
        double rz2 = dot(r, z, n);
        for (int i = 0; i < n; i++) d[i] = z[i] + rz2 / rz * d[i];
        rz = rz2;
    }
}

/* LCs in memory-descending order (gr->order), each to the nearest core with a
 * free slot and memory room. Not sm_rl_discretise: that one fills the cores level
 * by level (no second LC on a core while another is empty), which would undo the
 * co-location of small LCs with their partners that hop-bytes rewards here. */
static void ap_legalise(const sm_place_problem *p, const sm_rl_graph *gr, const double *ax, const double *ay,
                        int32_t *lc_core, int *load, double *mem) {
    const int u = sm_place_usable(p), S = sm_place_slots(p);
    memset(load, 0, sizeof *load * (size_t)u);
    memset(mem, 0, sizeof *mem * (size_t)u);
    for (int k = 0; k < gr->n; k++) {
        int i = gr->order[k];
        double x = ax[i] < 0 ? 0 : ax[i] > gr->box_w - 1 ? gr->box_w - 1 : ax[i];
        double y = ay[i] < 0 ? 0 : ay[i] > gr->box_h - 1 ? gr->box_h - 1 : ay[i];
        int c = sm_rl_nearest_free(p, gr, x, y, p->g->memory[i], load, mem, S);
        lc_core[i] = c;
        load[c]++;
        mem[c] += p->g->memory[i];
    }
}

int sm_rl_analytic(sm_evals *e, const sm_rl_graph *gr, long budget, sm_rl_pool *pool, int32_t *best,
                   double *best_cost) {
    const sm_place_problem *p = e->p;
    const int n = gr->n, u = sm_place_usable(p), S = sm_place_slots(p);
    const size_t nn = (size_t)n;
    *best_cost = INFINITY;
    if (n < 2 || budget < 1) return SM_OK;
    ap_graph a;
    ap_graph_build(&a, p->g);
    if (a.row[n] == 0) { /* no traffic between LCs: nothing to lay out */
        ap_graph_free(&a);
        return SM_OK;
    }
    double *x0 = sm_xmalloc(sizeof *x0 * nn), *y0 = sm_xmalloc(sizeof *y0 * nn);
    double *x = sm_xmalloc(sizeof *x * nn), *y = sm_xmalloc(sizeof *y * nn), *px = sm_xmalloc(sizeof *px * nn);
    double *ax = sm_xmalloc(sizeof *ax * nn), *ay = sm_xmalloc(sizeof *ay * nn);
    double *area = sm_xmalloc(sizeof *area * nn), *scratch = sm_xmalloc(sizeof *scratch * nn * 5);
    double *wq = sm_xmalloc(sizeof *wq * ((size_t)a.row[n] + 1)), *mem = sm_xmalloc(sizeof *mem * (size_t)u);
    int *idx = sm_xmalloc(sizeof *idx * nn * 2), *load = sm_xmalloc(sizeof *load * (size_t)u);
    int32_t *pl = sm_xmalloc(sizeof *pl * nn), *prev = sm_xmalloc(sizeof *prev * nn);
    ap_spectral(&a, x0, y0);
    /* The Fiedler vector runs along the box's longer side. */
    if (gr->box_h > gr->box_w) {
        double *t = x0;
        x0 = y0, y0 = t;
    }
    double sum_mem = 0, sum_deg = 0;
    for (int i = 0; i < n; i++) {
        area[i] = p->mesh->core_memory > 0 ? p->g->memory[i] / p->mesh->core_memory : 0;
        sum_mem += area[i], sum_deg += a.deg[i];
    }
    for (int i = 0; i < n; i++) area[i] = sum_mem > 0 ? area[i] + 1e-3 * sum_mem / n : 1.0 / S;
    const double sum_area = sum_mem > (double)n / S ? sum_mem : (double)n / S;
    int rc = SM_OK;
    double rms[2] = {0, 0};
    for (int i = 0; i < n; i++) rms[0] += x0[i] * x0[i], rms[1] += y0[i] * y0[i];
    rms[0] = sqrt(rms[0] / n), rms[1] = sqrt(rms[1] / n);
    uint64_t prng = p->seed ^ 0x726c2d616e6c7974ull; /* "rl-anlyt" */
    int stale = 0; /* starts since the best last improved */
    for (int f = 0; rc == SM_OK && budget > 0 && stale < SM_RL_AP_PATIENCE; f++, stale++) {
        double fill = ap_fills[f % SM_RL_AP_FILLS];
        double box = fill > 0 ? fill * sum_area : (n < u ? n : u);
        if (box > u) box = u;
        if (box < 1) box = 1;
        /* The first pass over the box sizes starts from the spectral layout itself;
         * later starts from it jittered, which breaks its ties (equal slices of a layer
         * share a point) another way. */
        for (int i = 0; i < n; i++) {
            double jx = f < SM_RL_AP_FILLS ? 0 : (2 * sm_prng_uniform(&prng) - 1) * SM_RL_AP_NOISE * rms[0];
            double jy = f < SM_RL_AP_FILLS ? 0 : (2 * sm_prng_uniform(&prng) - 1) * SM_RL_AP_NOISE * rms[1];
            x[i] = x0[i] + jx, y[i] = y0[i] + jy;
        }
        ap_spread(x, y, area, n, gr->box_w, gr->box_h, box, ax, ay, idx, idx + n);
        double alpha = SM_RL_AP_ALPHA0 * sum_deg / n;
        int same = 0;
        for (int round = 0; round < SM_RL_AP_ROUNDS && same < 3 && budget > 0; round++) {
            memcpy(px, x, sizeof *px * nn);
            ap_solve(&a, px, alpha, ax, x, wq, scratch);
            memcpy(px, y, sizeof *px * nn);
            ap_solve(&a, px, alpha, ay, y, wq, scratch);
            ap_spread(x, y, area, n, gr->box_w, gr->box_h, box, ax, ay, idx, idx + n);
            alpha *= SM_RL_AP_ALPHA_GROWTH;
            ap_legalise(p, gr, ax, ay, pl, load, mem);
            if (round > 0 && !memcmp(pl, prev, sizeof *pl * nn)) {
                same++;
                continue;
            }
            same = 0;
            memcpy(prev, pl, sizeof *pl * nn);
            double c;
            rc = sm_evals_batch(e, 1, pl, &c);
            if (rc) break;
            budget--;
            c = sm_rl_with_migration(gr, p->g, pl, c);
            sm_rl_pool_add(pool, pl, c);
            if (c < *best_cost) *best_cost = c, memcpy(best, pl, sizeof *best * nn), stale = -1;
        }
    }
    ap_graph_free(&a);
    free(x0), free(y0), free(x), free(y), free(px), free(ax), free(ay), free(area), free(scratch), free(wq);
    free(mem), free(idx), free(load), free(pl), free(prev);
    return rc;
}
