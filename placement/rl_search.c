/* rl_search.c — the searches that finish the rl placer (rl.c) on incremental
 * cost deltas, every try counted: the adaptive-range descent that turns into
 * annealing, and the range-limited swap search with kicks. They walk one
 * sm_cost_state with the core occupancy and memory beside it, never spend an
 * evaluation on a swap of two interchangeable LCs (sm_place_classes) or on a try
 * that would overfill a core's memory (walk_slot), and return the best
 * placement they saw. docs/placement.md, "rl", "Budget split".
 *
 * Sizes: n = LCs, U = usable cores, S = slots per core (sm_place_slots),
 * w = mesh width, bw x rows = the usable cores' bounding box.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rl_internal.h"
#include "sm_common.h"
#include "sm_placement.h"

/* With hop-bytes as the only weight, the share of the searches' tries that
 * are core swaps ("core swaps" below); under other weights none. */
#define SM_RL_BLOCK_SHARE 0.1

/* ---- the walk state shared by the searches -------------------------------- */

/* The LC adjacency in both directions (CSR; w = bytes of the edge), the core
 * occupancy (load[c] LCs of core c in slot[c·S ..], pos[i] the slot of LC i) and
 * its updates. */
typedef struct {
    int *row, *col;
    double *w;
    double *wsum; /* [n] Σ w over LC i's row, summed in row order */
    int *cls; /* [n] the class of each LC (sm_place_classes) */
} rl_adj;

void sm_rl_adjacency(const sm_lc_graph *g, int **row_out, int **col_out, double **w_out) {
    const int n = g->n, nnz = g->row[n];
    int *row = sm_xcalloc((size_t)n + 2, sizeof *row), *col = sm_xmalloc(sizeof *col * (size_t)(2 * nnz + 1));
    double *w = sm_xmalloc(sizeof *w * (size_t)(2 * nnz + 1));
    for (int i = 0; i < n; i++)
        for (int k = g->row[i]; k < g->row[i + 1]; k++) row[i + 1]++, row[g->col[k] + 1]++;
    for (int i = 0; i < n; i++) row[i + 1] += row[i];
    int *fill = sm_xmalloc(sizeof *fill * ((size_t)n + 1));
    memcpy(fill, row, sizeof *fill * (size_t)n);
    for (int i = 0; i < n; i++)
        for (int k = g->row[i]; k < g->row[i + 1]; k++) {
            int j = g->col[k];
            col[fill[i]] = j, w[fill[i]++] = (double)g->bytes[k];
            col[fill[j]] = i, w[fill[j]++] = (double)g->bytes[k];
        }
    free(fill);
    *row_out = row, *col_out = col, *w_out = w;
}

static void rl_adj_build(rl_adj *a, const sm_lc_graph *g) {
    const int n = g->n;
    sm_rl_adjacency(g, &a->row, &a->col, &a->w);
    a->wsum = sm_xcalloc((size_t)(n > 0 ? n : 1), sizeof *a->wsum);
    for (int i = 0; i < n; i++)
        for (int q = a->row[i]; q < a->row[i + 1]; q++) a->wsum[i] += a->w[q];
    a->cls = sm_xmalloc(sizeof *a->cls * (size_t)(n > 0 ? n : 1));
    sm_place_classes(g, a->cls);
}

static void rl_adj_free(rl_adj *a) { free(a->row), free(a->col), free(a->w), free(a->wsum), free(a->cls); }

static void occ_fill(const int32_t *pl, const double *memory, int n, int S, int cores, int *load, int *slot, int *pos,
                     double *mem, int *over) {
    memset(load, 0, sizeof *load * (size_t)cores);
    memset(mem, 0, sizeof *mem * (size_t)cores);
    *over = 0;
    for (int i = 0; i < n; i++) {
        int c = pl[i];
        if (load[c] >= S) { *over = 1; return; }
        pos[i] = load[c], slot[c * S + load[c]++] = i;
        mem[c] += memory[i];
    }
}

static void occ_apply(int *load, int *slot, int *pos, int S, int i, int own, int c, int j) {
    int pi = pos[i];
    if (j >= 0) {
        int pj = pos[j];
        slot[own * S + pi] = j, pos[j] = pi;
        slot[c * S + pj] = i, pos[i] = pj;
    } else {
        int last = slot[own * S + --load[own]];
        slot[own * S + pi] = last, pos[last] = pi;
        pos[i] = load[c], slot[c * S + load[c]++] = i;
    }
}

/* The state both local searches walk with: the cost state at the current
 * placement pl, the LC adjacency, the core occupancy (*over when a core holds
 * more than S LCs: such a start is left as it is) and the best placement seen
 * (bestp, its cost best). */
typedef struct {
    sm_evals *e;
    int n, u, S, w, rows, bw, rmax, cores; /* see the top of the file; rmax = the box's larger side */
    rl_adj adj;
    int *load, *slot, *pos, over;
    double *mem;      /* [cores] the memory on each core */
    int *ba, *bb;     /* [S] each: the LCs of the two cores of a core swap */
    double block;     /* the share of tries that are core swaps */
    sm_cost_state *st;
    const int32_t *pl;
    double cost, best;
    int32_t *bestp;
} rl_walk;

/* Clamps *budget to the evaluations left; returns 0 (and sets up nothing) when
 * there is nothing to search: fewer than 2 LCs or usable cores, or no budget. */
static int walk_begin(rl_walk *k, sm_evals *e, const int32_t *lc_core, long *budget) {
    const sm_place_problem *p = e->p;
    if (*budget > sm_evals_left(e)) *budget = sm_evals_left(e);
    if (p->g->n < 2 || sm_place_usable(p) < 2 || *budget <= 0) return 0;
    k->e = e;
    k->n = p->g->n, k->u = sm_place_usable(p), k->S = sm_place_slots(p), k->w = p->mesh->mesh_w;
    k->rows = (k->u + k->w - 1) / k->w, k->bw = k->u < k->w ? k->u : k->w;
    k->rmax = k->bw > k->rows ? k->bw : k->rows, k->cores = sm_mesh_cores(p->mesh);
    k->st = sm_evals_state(e, lc_core);
    k->pl = sm_cost_state_placement(k->st);
    k->cost = k->best = sm_cost_state_figures(k->st)->cost;
    rl_adj_build(&k->adj, p->g);
    k->load = sm_xcalloc((size_t)k->cores, sizeof *k->load);
    k->slot = sm_xmalloc(sizeof *k->slot * (size_t)k->cores * (size_t)k->S);
    k->pos = sm_xmalloc(sizeof *k->pos * (size_t)k->n);
    k->bestp = sm_xmalloc(sizeof *k->bestp * (size_t)k->n);
    k->mem = sm_xmalloc(sizeof *k->mem * (size_t)k->cores);
    k->ba = sm_xmalloc(sizeof *k->ba * (size_t)k->S), k->bb = sm_xmalloc(sizeof *k->bb * (size_t)k->S);
    k->block = sm_cost_weights_hop_only(&p->weights) ? SM_RL_BLOCK_SHARE : 0;
    memcpy(k->bestp, lc_core, sizeof *k->bestp * (size_t)k->n);
    occ_fill(k->pl, p->g->memory, k->n, k->S, k->cores, k->load, k->slot, k->pos, k->mem, &k->over);
    return 1;
}

/* Puts the best placement seen in lc_core (unless the start was over) and frees it all. */
static void walk_end(rl_walk *k, int32_t *lc_core) {
    if (!k->over) memcpy(lc_core, k->bestp, sizeof *lc_core * (size_t)k->n);
    sm_cost_state_free(k->st);
    rl_adj_free(&k->adj);
    free(k->load), free(k->slot), free(k->pos), free(k->bestp), free(k->mem), free(k->ba), free(k->bb);
}

/* Back to the best placement seen (a fresh cost state there). */
static void walk_to_best(rl_walk *k) {
    sm_cost_state_free(k->st);
    k->st = sm_evals_state(k->e, k->bestp);
    k->pl = sm_cost_state_placement(k->st);
    k->cost = k->best;
    occ_fill(k->pl, k->e->p->g->memory, k->n, k->S, k->cores, k->load, k->slot, k->pos, k->mem, &k->over);
}

/* A random slot of core c for LC i: *j its LC (swap) or -1 (free: move).
 * Returns 0 when the try is not worth an evaluation: *j is interchangeable
 * with i (no change), or the try overfills a core (sm_try_overfills). */
static int walk_slot(const rl_walk *k, int i, int c, uint64_t *prng, int *j) {
    const int r = sm_prng_below(prng, k->S);
    *j = r < k->load[c] ? k->slot[c * k->S + r] : -1;
    if (*j >= 0 && k->adj.cls[*j] == k->adj.cls[i]) return 0;
    return !sm_try_overfills(k->mem, k->e->p->mesh->core_memory, k->e->p->g->memory, i, k->pl[i], c, *j);
}

/* A try for LC i: a random core c within `radius` (Chebyshev, clamped to the
 * box) of a centre: i's own core (centre 0), its ideal point (1: the
 * traffic-weighted mean core of its partners) or the core of one partner drawn
 * in proportion to its traffic (2), and a random slot of c (occupied:
 * swap with its LC *j; free: *j = -1, a move). Returns 0 when the try is not
 * worth an evaluation: c is i's own core or unusable, or walk_slot refuses it. */
static int walk_propose(const rl_walk *k, int i, int centre, int radius, uint64_t *prng, int *c, int *j) {
    const int w = k->w, own = k->pl[i];
    int cx = own % w, cy = own / w;
    if (centre == 2 && k->adj.row[i + 1] > k->adj.row[i]) { /* a partner, drawn by traffic */
        double u = sm_prng_uniform(prng) * k->adj.wsum[i];
        int q = k->adj.row[i];
        for (; q < k->adj.row[i + 1] - 1 && (u -= k->adj.w[q]) > 0; q++) {}
        const int cq = k->pl[k->adj.col[q]];
        cx = cq % w, cy = cq / w;
    } else if (centre) {
        double sx = 0, sy = 0, sb = 0;
        for (int q = k->adj.row[i]; q < k->adj.row[i + 1]; q++) {
            int cq = k->pl[k->adj.col[q]];
            sx += k->adj.w[q] * (cq % w), sy += k->adj.w[q] * (cq / w), sb += k->adj.w[q];
        }
        if (sb > 0) cx = (int)floor(sx / sb + 0.5), cy = (int)floor(sy / sb + 0.5);
    }
    int x = cx - radius + sm_prng_below(prng, 2 * radius + 1), y = cy - radius + sm_prng_below(prng, 2 * radius + 1);
    x = x < 0 ? 0 : x >= k->bw ? k->bw - 1 : x;
    y = y < 0 ? 0 : y >= k->rows ? k->rows - 1 : y;
    *c = y * w + x;
    if (*c >= k->u || *c == own) return 0;
    return walk_slot(k, i, *c, prng, j);
}

/* The cost if LC i went to core c (swapped with LC j when j >= 0); one counted evaluation. */
static double walk_delta(rl_walk *k, int i, int c, int j) {
    double cn = j >= 0 ? sm_cost_delta_swap(k->st, i, j, NULL) : sm_cost_delta_move(k->st, i, c, NULL);
    sm_evals_count(k->e, cn);
    return cn;
}

/* Makes that try the current placement. */
static void walk_apply(rl_walk *k, int i, int c, int j) {
    const int own = k->pl[i];
    k->cost = j >= 0 ? sm_cost_apply_swap(k->st, i, j) : sm_cost_apply_move(k->st, i, c);
    occ_apply(k->load, k->slot, k->pos, k->S, i, own, c, j);
    sm_try_move_memory(k->mem, k->e->p->g->memory, i, own, c, j);
}

/* ---- core swaps: every LC of core a for every LC of core b ---------------- */

/* Where memory is tight an LC can rarely move alone: most single swaps and
 * moves overfill a core (walk_slot refuses them), so a layout whose cores are
 * well filled is frozen in place even where moving a whole group would lower
 * the cost. A core swap moves the LCs of two cores at once, each group
 * intact, so it never overfills a core; it is one try, evaluated once (the
 * placement it leads to). With hop-bytes as the only weight SM_RL_BLOCK_SHARE
 * of the searches' tries are core swaps between the LC's core and the core
 * drawn for it; under other weights none (measured: they took the budget
 * that the busiest link and the balance need for single moves).
 * docs/placement.md, "Core swaps". */

/* 1 when cores a and b hold different multisets of LC classes (else a core
 * swap changes nothing). */
static int walk_cores_differ(const rl_walk *k, int a, int b) {
    if (k->load[a] != k->load[b]) return 1;
    if (k->S > 31) return 1; /* the matching below keeps one bit per slot */
    unsigned taken = 0;
    for (int r = 0; r < k->load[a]; r++) {
        const int ca = k->adj.cls[k->slot[a * k->S + r]];
        int q = 0;
        for (; q < k->load[b]; q++)
            if (!(taken >> q & 1u) && k->adj.cls[k->slot[b * k->S + q]] == ca) break;
        if (q == k->load[b]) return 1;
        taken |= 1u << q;
    }
    return 0;
}

/* Exchanges the LCs of cores a and b in the cost state (not yet in the
 * occupancy): pairwise swaps, then the extra LCs of the fuller core moved.
 * The steps in between are not looked at; returns the cost of the result. */
static double block_steps(rl_walk *k, int a, int b) {
    const int la = k->load[a], lb = k->load[b], m = la > lb ? la : lb;
    memcpy(k->ba, k->slot + a * k->S, sizeof *k->ba * (size_t)la);
    memcpy(k->bb, k->slot + b * k->S, sizeof *k->bb * (size_t)lb);
    double c = k->cost;
    for (int r = 0; r < m; r++)
        c = r < la && r < lb ? sm_cost_apply_swap(k->st, k->ba[r], k->bb[r])
            : r < la         ? sm_cost_apply_move(k->st, k->ba[r], b)
                             : sm_cost_apply_move(k->st, k->bb[r], a);
    return c;
}

/* block_steps undone, in reverse order. */
static void block_undo(rl_walk *k, int a, int b) {
    const int la = k->load[a], lb = k->load[b], m = la > lb ? la : lb;
    for (int r = m - 1; r >= 0; r--)
        k->cost = r < la && r < lb ? sm_cost_apply_swap(k->st, k->ba[r], k->bb[r])
                  : r < la         ? sm_cost_apply_move(k->st, k->ba[r], a)
                                   : sm_cost_apply_move(k->st, k->bb[r], b);
}

/* block_steps kept: the occupancy and the memory follow. */
static void block_commit(rl_walk *k, int a, int b, double cost) {
    const int la = k->load[a], lb = k->load[b];
    for (int r = 0; r < lb; r++) k->slot[a * k->S + r] = k->bb[r], k->pos[k->bb[r]] = r;
    for (int r = 0; r < la; r++) k->slot[b * k->S + r] = k->ba[r], k->pos[k->ba[r]] = r;
    k->load[a] = lb, k->load[b] = la;
    const double t = k->mem[a];
    k->mem[a] = k->mem[b], k->mem[b] = t;
    k->cost = cost;
}

/* ---- a try: one LC to a core, or a core swap ------------------------------ */

typedef struct {
    int i, c, j; /* LC i to core c, swapped with LC j there (j >= 0) or moved (j < 0) */
    int own;     /* i's core before the try */
    int block;   /* instead: a core swap of own and c */
    double cost; /* the cost after the try (walk_eval) */
} walk_try;

/* Draws a try for LC i centred as walk_propose does; a core swap with
 * probability k->block (one more draw from *prng per try when that is not 0).
 * Returns 0 when it is not worth an evaluation. */
static int walk_draw(const rl_walk *k, int i, int centre, int radius, uint64_t *prng, walk_try *t) {
    t->i = i, t->own = k->pl[i];
    t->block = k->block > 0 && sm_prng_uniform(prng) < k->block;
    const int ok = walk_propose(k, i, centre, radius, prng, &t->c, &t->j);
    return t->block ? t->c < k->u && t->c != t->own && walk_cores_differ(k, t->own, t->c) : ok;
}

/* The cost after the try: one counted evaluation. A core swap is already made
 * in the cost state: walk_take or walk_drop must follow. */
static double walk_eval(rl_walk *k, walk_try *t) {
    t->cost = t->block ? block_steps(k, t->own, t->c) : walk_delta(k, t->i, t->c, t->j);
    if (t->block) sm_evals_count(k->e, t->cost);
    return t->cost;
}

static void walk_take(rl_walk *k, const walk_try *t) {
    if (t->block) block_commit(k, t->own, t->c, t->cost);
    else walk_apply(k, t->i, t->c, t->j);
}

static void walk_drop(rl_walk *k, const walk_try *t) {
    if (t->block) block_undo(k, t->own, t->c);
}

/* Keeps the current placement as the best seen when it is no worse; returns 1
 * when it is better by more than rounding. */
static int walk_note_best(rl_walk *k) {
    const int better = k->cost < k->best - 1e-12 * fmax(1.0, fabs(k->best));
    if (k->cost <= k->best) k->best = k->cost, memcpy(k->bestp, k->pl, sizeof *k->bestp * (size_t)k->n);
    return better;
}

/* ---- which kind of try: a three-armed bandit -------------------------------- */

/* A try is centred on the LC's own core (arm 0), on the traffic-weighted mean
 * core of its partners (arm 1), or on the core of one partner drawn in
 * proportion to its traffic (arm 2: next to it, or onto its core when a slot
 * is free). Which pays depends on the graph and on the radius: measured on
 * vgg_400's descent, a radius-1 try around the partners' mean improved the
 * cost 1.3 % of the time, one around the own core 14 %; at radius 5 and more
 * both did 10-14 %. So each radius class (1, 2, 3-4, 5+) keeps, per arm, a
 * decayed count of tries and a decayed sum of the cost decrease they brought,
 * and an arm is drawn with probability proportional to its mean gain per try
 * (probability matching), each at least SM_RL_ARM_FLOOR before normalising so
 * that no arm stops being measured. All start equal (a prior of one try each,
 * no gain). */
void sm_rl_arms_init(sm_rl_arms *a) {
    for (int r = 0; r < 4; r++)
        for (int q = 0; q < SM_RL_ARMS; q++) a->tries[r][q] = 1, a->gain[r][q] = 0;
}

static int arms_class(int radius) { return radius <= 1 ? 0 : radius <= 2 ? 1 : radius <= 4 ? 2 : 3; }

int sm_rl_arms_pick(const sm_rl_arms *a, int radius, uint64_t *prng) {
    const int r = arms_class(radius);
    double g[SM_RL_ARMS], sum = 0;
    for (int q = 0; q < SM_RL_ARMS; q++) sum += g[q] = a->gain[r][q] / a->tries[r][q];
    double p[SM_RL_ARMS], total = 0;
    for (int q = 0; q < SM_RL_ARMS; q++) {
        p[q] = sum > 0 ? g[q] / sum : 1.0 / SM_RL_ARMS;
        if (p[q] < SM_RL_ARM_FLOOR) p[q] = SM_RL_ARM_FLOOR;
        total += p[q];
    }
    double u = sm_prng_uniform(prng) * total;
    int q = 0;
    for (; q < SM_RL_ARMS - 1 && (u -= p[q]) >= 0; q++) {}
    return q;
}

void sm_rl_arms_note(sm_rl_arms *a, int radius, int arm, double decrease) {
    const int r = arms_class(radius);
    for (int q = 0; q < SM_RL_ARMS; q++) a->tries[r][q] *= SM_RL_ARM_DECAY, a->gain[r][q] *= SM_RL_ARM_DECAY;
    a->tries[r][arm] += 1;
    /* a try that removed a memory violation says nothing about where to centre the next */
    if (decrease > 0 && decrease < 0.5 * SM_COST_INFEASIBLE_PENALTY) a->gain[r][arm] += decrease;
}

/* ---- the range-limited swap search ---------------------------------------- */

/* Both searches stop early after this many tries per LC in a row that were
 * not worth an evaluation (walk_propose): a placement where nothing can move
 * (every core full of interchangeable LCs, or of LCs whose swaps would all
 * overfill a core's memory) would otherwise never end the loop. */
#define SM_RL_IDLE_LIMIT 200

/* Randomised first-improvement descent on incremental deltas: a random LC i, a
 * random usable core c within `radius` (Chebyshev) of its own core, its ideal
 * point (the traffic-weighted mean core of its partners) or a partner's core
 * (sm_rl_arms picks), a random slot of c as in sa's moves (occupied: swap with
 * its LC; free: move there). Each try is one counted sm_cost_delta_*; it is applied when it does
 * not raise the cost (equal costs are accepted: the max-type terms of the cost
 * are flat over most swaps, and sideways steps cross those plateaus). The
 * radius grows by one after every n tries without an improvement, up to the
 * box, and falls back to 1 after an improvement. Returns the evaluations used;
 * lc_core [n] is updated in place (start cost `cost` already known). */
#define SM_RL_KICK_AFTER 4 /* a local minimum: this many tries per LC without an improvement */
#define SM_RL_KICK_SIZE 6  /* random swaps/moves within 2 hops that a kick applies */
long sm_rl_swap_search(sm_evals *e, int32_t *lc_core, long budget, uint64_t *prng) {
    rl_walk k;
    if (!walk_begin(&k, e, lc_core, &budget)) return 0;
    const long start = e->n, stop = e->n + budget;
    const int n = k.n, w = k.w;
    int radius = 1;
    long since = 0, stuck = 0, idle = 0;
    sm_rl_arms arms;
    sm_rl_arms_init(&arms);
    while (!k.over && e->n < stop) {
        if (stuck >= (long)SM_RL_KICK_AFTER * n) {
            /* a local minimum (no improvement in SM_RL_KICK_AFTER·n tries): back to the best when worse, then kick */
            if (k.cost > k.best) walk_to_best(&k);
            for (int q = 0; q < SM_RL_KICK_SIZE && e->n < stop; q++) {
                int i = sm_prng_below(prng, n), own = k.pl[i], j;
                int x = own % w - 2 + sm_prng_below(prng, 5), y = own / w - 2 + sm_prng_below(prng, 5);
                if (x < 0 || x >= k.bw || y < 0 || y >= k.rows || y * w + x >= k.u || y * w + x == own) continue;
                int c = y * w + x;
                if (!walk_slot(&k, i, c, prng, &j)) continue;
                double cn = walk_delta(&k, i, c, j);
                if (cn >= 0.5 * SM_COST_INFEASIBLE_PENALTY && k.cost < 0.5 * SM_COST_INFEASIBLE_PENALTY) continue;
                walk_apply(&k, i, c, j);
            }
            stuck = 0, radius = 1, since = 0;
            continue;
        }
        int i = sm_prng_below(prng, n);
        int centre = sm_rl_arms_pick(&arms, radius, prng);
        walk_try t;
        if (!walk_draw(&k, i, centre, radius, prng, &t)) { /* no evaluation */
            if (++idle > (long)SM_RL_IDLE_LIMIT * n) break;
            since++;
            continue;
        }
        idle = 0;
        double cn = walk_eval(&k, &t);
        if (!t.block) sm_rl_arms_note(&arms, radius, centre, k.cost - cn);
        stuck++;
        if (cn <= k.cost) {
            int improved = cn < k.cost - 1e-12 * fmax(1.0, fabs(k.cost));
            walk_take(&k, &t);
            if (improved) radius = 1, since = 0, stuck = 0;
            walk_note_best(&k);
        } else {
            walk_drop(&k, &t);
        }
        if (++since >= n) since = 0, radius = radius < k.rmax ? radius + 1 : 1;
    }
    walk_end(&k, lc_core);
    return e->n - start;
}

/* ---- the adaptive-range descent, annealing once it stalls ----------------- */

/* From lc_core (in place; its cost is already known and is not counted again),
 * for `budget` evaluations: tries as in rl_swap_search (a random LC i, a random
 * core within `radius` of its own core, its ideal point or a partner's core,
 * as sm_rl_arms picks, a random slot of it), but the radius follows VPR's
 * range limiter as in sa (from the whole box, × (1 − SM_RL_TARGET_ACCEPT + α) after every n tries,
 * α their acceptance rate, kept in [1, box]), so that early tries reach across
 * the mesh and late ones stay near. It begins as a greedy descent (a try is
 * applied when it does not raise the cost) and records the uphill deltas it
 * sees. Once it stalls (SM_RL_STALL · n tries without a new best) with more
 * than 2n evaluations left, it turns into annealing: T0 = the mean uphill
 * delta seen / −ln SM_RL_ANNEAL_P0 (such a step is accepted with probability
 * SM_RL_ANNEAL_P0), cooled geometrically (once per n tries) to
 * T0 · SM_RL_ANNEAL_TEND at the end of the budget. A descent that never stalls
 * never anneals, so annealing is used only where greedy steps have run out.
 * Steps that add a memory violation (a delta of SM_COST_INFEASIBLE_PENALTY)
 * are never accepted (and, from a placement within memory, never evaluated:
 * walk_slot). All randomness comes from *prng. lc_core receives the
 * best placement seen. Returns the evaluations used. */
#define SM_RL_STALL 4            /* tries per LC without a new best before annealing */
#define SM_RL_ANNEAL_P0 0.1      /* acceptance of a mean uphill step at T0 */
#define SM_RL_ANNEAL_TEND 0.001  /* final temperature / T0 */
#define SM_RL_TARGET_ACCEPT 0.44 /* the range limiter aims at this acceptance rate (sa's) */
long sm_rl_descend_anneal(sm_evals *e, int32_t *lc_core, long budget, int anneal, uint64_t *prng) {
    rl_walk k;
    if (!walk_begin(&k, e, lc_core, &budget)) return 0;
    const long start = e->n, stop = e->n + budget;
    const int n = k.n;
    double radius = k.rmax, sup = 0, T0 = 0, T = 0;
    sm_rl_arms arms;
    sm_rl_arms_init(&arms);
    long nup = 0, stuck = 0, tried = 0, acc = 0, t_start = 0, idle = 0;
    while (!k.over && e->n < stop) {
        if (!anneal && stuck >= (long)SM_RL_STALL * n) break; /* stalled, and asked not to anneal */
        if (T0 == 0 && stuck >= (long)SM_RL_STALL * n && nup > 0 && stop - e->n > 2L * n) {
            T0 = T = -(sup / nup) / log(SM_RL_ANNEAL_P0); /* stalled: anneal from here */
            t_start = e->n;
        }
        int i = sm_prng_below(prng, n);
        int centre = sm_rl_arms_pick(&arms, (int)radius, prng);
        walk_try t;
        if (!walk_draw(&k, i, centre, (int)radius, prng, &t)) { /* no evaluation */
            if (++idle > (long)SM_RL_IDLE_LIMIT * n) break;
            continue;
        }
        idle = 0;
        double d = walk_eval(&k, &t) - k.cost;
        if (!t.block) sm_rl_arms_note(&arms, (int)radius, centre, -d);
        int feasible_step = d < 0.5 * SM_COST_INFEASIBLE_PENALTY;
        if (T0 == 0 && d > 0 && feasible_step) sup += d, nup++;
        tried++, stuck++;
        if (d <= 0 || (T > 0 && feasible_step && sm_prng_uniform(prng) < exp(-d / T))) {
            acc++;
            walk_take(&k, &t);
            if (walk_note_best(&k)) stuck = 0;
        } else {
            walk_drop(&k, &t);
        }
        if (tried >= n) {
            radius *= 1 - SM_RL_TARGET_ACCEPT + (double)acc / tried;
            radius = radius < 1 ? 1 : radius > k.rmax ? k.rmax : radius;
            if (T0 > 0) T = T0 * pow(SM_RL_ANNEAL_TEND, (double)(e->n - t_start) / (double)(stop - t_start));
            tried = acc = 0;
        }
    }
    walk_end(&k, lc_core);
    return e->n - start;
}
