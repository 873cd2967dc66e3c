/* place_internal.h — what the placer files share and the public API does not
 * show: the evaluation counter that enforces the budget and records the trace.
 *
 * Every cost evaluation a method makes goes through one of these, so that
 * "evaluations" means the same thing for every method:
 *
 *   sm_evals e; sm_evals_init(&e, p);
 *   double c = sm_evals_full(&e, lc_core, NULL);          full evaluation, counts 1
 *   double d = sm_cost_delta_swap(state, i, j, NULL);       incremental: then
 *   sm_evals_count(&e, d);                                  counts 1
 *   if (sm_evals_left(&e) <= 0) stop;
 *   sm_evals_batch(&e, k, placements, costs)                 k evaluations, through batch_eval
 *
 * The counter keeps the best cost seen and appends a trace point whenever it
 * improves, and counts the evaluations of placements that overfill a core's
 * memory (a search that checks memory before it evaluates spends none).
 * Methods return e.n as their evaluations.
 */
#ifndef SM_PLACE_INTERNAL_H
#define SM_PLACE_INTERNAL_H

#include "sm_place.h"

typedef struct {
    const sm_place_problem *p;
    sm_cost_figures ref;  /* the reference every cost is relative to */
    long n;               /* evaluations so far */
    long infeasible;      /* of them, placements with a memory violation (cost >= penalty / 2) */
    long budget;
    double best;          /* lowest cost seen (+inf before the first) */
} sm_evals;

/* SM_EINPUT on a bad mesh/weights (the reference is computed when p->ref is NULL). */
int sm_evals_init(sm_evals *e, const sm_place_problem *p);
/* Full evaluation of lc_core: its cost (and figures into *fig when not NULL). Counts 1. */
double sm_evals_full(sm_evals *e, const int32_t *lc_core, sm_cost_figures *fig);
/* Count one evaluation made elsewhere (an incremental delta) that gave `cost`. */
void sm_evals_count(sm_evals *e, double cost);
/* Evaluate k placements [k·n] into costs[k], through p->batch_eval when set.
 * Counts k. Returns SM_OK or SM_EFAIL when batch_eval aborted. */
int sm_evals_batch(sm_evals *e, int k, const int32_t *placements, double *costs);
/* Evaluations left in the budget (may be <= 0). */
static inline long sm_evals_left(const sm_evals *e) { return e->budget - e->n; }

/* A new incremental cost state of lc_core relative to e->ref (does not count:
 * the caller counts the evaluation it stands for, if any). Aborts on bad input,
 * which sm_evals_init has already checked. */
sm_cost_state *sm_evals_state(const sm_evals *e, const int32_t *lc_core);

/* ---- tries no search evaluates (place_tries.c) --------------------------- */

/* cls [n]: the class of every LC, as the lowest id of the class. Two LCs share
 * a class when they have the same compute and memory, send the same bytes to
 * the same LCs and receive the same bytes from the same LCs (the equal slices
 * of a layer, typically); LCs that exchange traffic with each other never do.
 * Swapping two LCs of a class leaves every term of the cost unchanged, so the
 * searches skip such swaps without evaluating them. Exact (no hash collision
 * can join two classes). */
void sm_place_classes(const sm_lc_graph *g, int *cls);

/* 1 when moving LC i from core `own` to core c — swapping it with LC j there
 * when j >= 0, a plain move when j < 0 — would put more than cap on core c or on
 * core own while that core is within cap now (core_mem [cores]: the memory on
 * each core before the try). The cost model charges SM_COST_INFEASIBLE_PENALTY
 * per overfull core, so from a placement within memory no search accepts such a
 * try: the searches refuse it unevaluated. One exception: an LC larger than a
 * core (memory > cap) overfills whatever core it is on, so it may move onto a
 * core within cap when the core it leaves is then within cap (the count of
 * overfull cores stays the same); otherwise it could never move towards its
 * partners. Tries that raise the count are refused in every case. */
static inline int sm_try_overfills(const double *core_mem, double cap, const double *memory, int i, int own, int c,
                                   int j) {
    const double shift = memory[i] - (j >= 0 ? memory[j] : 0);
    const int c_over = core_mem[c] + shift > cap, own_over = core_mem[own] - shift > cap;
    if (c_over + own_over > (core_mem[c] > cap) + (core_mem[own] > cap)) return 1;
    return (c_over && core_mem[c] <= cap && memory[i] <= cap) ||
           (own_over && core_mem[own] <= cap && (j < 0 || memory[j] <= cap));
}

/* core_mem after that try is made. */
static inline void sm_try_move_memory(double *core_mem, const double *memory, int i, int own, int c, int j) {
    const double shift = memory[i] - (j >= 0 ? memory[j] : 0);
    core_mem[c] += shift, core_mem[own] -= shift;
}

/* ---- stages shared between methods ------------------------------------- */

/* Steepest-descent swap/move local search (place_search.c): from lc_core (in
 * place), counting into e, until no improving swap/move exists or `budget` more
 * evaluations are used. Returns the evaluations it used. */
long sm_local_search_run(sm_evals *e, int32_t *lc_core, long budget);

/* The genetic algorithm (place_ga.c) from a seeded population: seeds [n_seeds · n]
 * (n_seeds >= 1; the rest of the population is filled by mutating them), for
 * `budget` more evaluations of e; the best placement found goes to best [n].
 * SM_OK or SM_EFAIL (batch_eval aborted). */
int sm_ga_run(sm_evals *e, const int32_t *seeds, int n_seeds, long budget, uint64_t seed,
              int32_t *best);

/* ---- a small sequential generator for the search methods ---------------
 * splitmix64: state is one uint64_t the method owns, seeded from p->seed and a
 * per-use constant, so every method is reproducible from --seed alone. */
static inline uint64_t sm_prng_next(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
/* Uniform in [0, 1), 53 bits. */
static inline double sm_prng_uniform(uint64_t *s) { return (double)(sm_prng_next(s) >> 11) * 0x1.0p-53; }
/* Uniform integer in [0, n), n >= 1 (the bias of the modulo is below 2^-40 for n < 2^24). */
static inline int sm_prng_below(uint64_t *s, int n) { return (int)(sm_prng_next(s) % (uint64_t)n); }

#endif
