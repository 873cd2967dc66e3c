/* place_ga.c — the genetic algorithm over placements (sm_place_ga, and the
 * sm_ga_run stage that rl also uses to fine-tune its best samples, as in
 * ConfuciuX). docs/placement.md explains the method and its knobs.
 *
 * Sizes: n = LCs, P = population, U = usable cores, S = slots per core
 * (sm_place_slots), C = mesh cores.
 *
 * One generation:
 *   1. rank the population by cost (ties: lower index) — the GA_ELITE best are kept as they are;
 *   2. P − GA_ELITE children, each from two parents picked by tournaments of
 *      GA_TOURNAMENT: two-point crossover over LC ids (LCs of a layer have
 *      consecutive ids, so whole layers come from one parent), repaired (below),
 *      then mutated by a few swaps/moves;
 *   3. the children are evaluated in ONE sm_evals_batch (a batch evaluator can
 *      spread them over ranks) and replace the non-elite members.
 *
 * Invariants:
 *   G1  every child is a valid placement: cores in [0, U); a core gets more than
 *       S LCs only if parent A already had that (A's segment keeps A's cores; an LC
 *       from B keeps its core only when it has a free slot and memory room, else
 *       goes to the nearest free core by sm_place_nearest_free; mutation swaps, or
 *       moves into a free slot only).
 *   G2  randomness only from the splitmix64 state seeded by `seed`, drawn in a
 *       fixed order; costs come back from the batch in order: same seed, same result.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "place_internal.h"
#include "sm_common.h"

#define GA_POPULATION 48
#define GA_ELITE 2
#define GA_TOURNAMENT 3
#define GA_CROSSOVER_RATE 0.9
#define GA_RANDOM_SEEDS 7        /* random placements sm_place_ga adds to sequential */
#define GA_POLISH_SHARE 0.10     /* share of sm_place_ga's budget for the final local search */

typedef struct {
    const sm_place_problem *p;
    int n, U, S, cores;
    uint64_t rng;
    int *load;        /* [C] scratch: LCs per core of the child being built */
    double *mem;      /* [C] scratch: its memory per core */
    char *pending;    /* [n] scratch: LCs still to place */
} ga;

static void child_tally(ga *G, const int32_t *child) {
    memset(G->load, 0, (size_t)G->cores * sizeof *G->load);
    memset(G->mem, 0, (size_t)G->cores * sizeof *G->mem);
    for (int i = 0; i < G->n; i++) G->load[child[i]]++, G->mem[child[i]] += G->p->g->memory[i];
}

/* Child of a and b: LCs [lo, hi) from a, the others from b where b's core still
 * has a free slot and memory room, the rest (ascending id) to the nearest free
 * core of b's (G1). */
static void crossover(ga *G, const int32_t *a, const int32_t *b, int lo, int hi, int32_t *child) {
    const sm_lc_graph *g = G->p->g;
    int w = G->p->mesh->mesh_w;
    memset(G->load, 0, (size_t)G->cores * sizeof *G->load);
    memset(G->mem, 0, (size_t)G->cores * sizeof *G->mem);
    for (int i = lo; i < hi; i++) child[i] = a[i], G->load[a[i]]++, G->mem[a[i]] += g->memory[i];
    for (int i = 0; i < G->n; i++) {
        G->pending[i] = 0;
        if (i >= lo && i < hi) continue;
        int c = b[i];
        if (G->load[c] < G->S && G->mem[c] + g->memory[i] <= G->p->mesh->core_memory) {
            child[i] = c, G->load[c]++, G->mem[c] += g->memory[i];
        } else {
            G->pending[i] = 1;
        }
    }
    for (int i = 0; i < G->n; i++)
        if (G->pending[i]) {
            int c = sm_place_nearest_free(G->p, b[i] % w, b[i] / w, g->memory[i], G->load, G->mem);
            if (c < 0) c = b[i];   /* cannot happen: S · U >= n leaves a free slot */
            child[i] = c, G->load[c]++, G->mem[c] += g->memory[i];
        }
}

/* `count` mutations of child (G->load/mem must tally it): a random LC i either
 * swaps with a random other LC (half the time) or goes to a random usable core
 * within 2 hops of it — swapping with one of its LCs, or moving there when
 * the drawn slot is free (as sa's moves). */
static void mutate(ga *G, int32_t *child, int count) {
    const sm_lc_graph *g = G->p->g;
    int w = G->p->mesh->mesh_w, rows = (G->U + w - 1) / w;
    for (int m = 0; m < count && G->U > 1 && G->n > 1; m++) {
        int i = sm_prng_below(&G->rng, G->n), own = child[i];
        if (sm_prng_below(&G->rng, 2) == 0) {
            int j = sm_prng_below(&G->rng, G->n);
            child[i] = child[j], child[j] = own;
            G->mem[own] += g->memory[j] - g->memory[i];
            G->mem[child[i]] += g->memory[i] - g->memory[j];
            continue;
        }
        int x = own % w + sm_prng_below(&G->rng, 5) - 2, y = own / w + sm_prng_below(&G->rng, 5) - 2;
        if (x < 0 || x >= w || y < 0 || y >= rows || y * w + x >= G->U || y * w + x == own) continue;
        int c = y * w + x, load = G->load[c], r = sm_prng_below(&G->rng, load > G->S ? load : G->S);
        if (r < load) {
            int j = -1;
            for (int u = 0; u < G->n && r >= 0; u++)
                if (child[u] == c && r-- == 0) j = u;
            child[i] = c, child[j] = own;
            G->mem[own] += g->memory[j] - g->memory[i];
            G->mem[c] += g->memory[i] - g->memory[j];
        } else {
            child[i] = c;
            G->load[own]--, G->load[c]++;
            G->mem[own] -= g->memory[i], G->mem[c] += g->memory[i];
        }
    }
}

/* Index of the best of GA_TOURNAMENT random members (ties: the first drawn). */
static int tournament(ga *G, const double *cost, int P) {
    int best = sm_prng_below(&G->rng, P);
    for (int t = 1; t < GA_TOURNAMENT; t++) {
        int k = sm_prng_below(&G->rng, P);
        if (cost[k] < cost[best]) best = k;
    }
    return best;
}

typedef struct { double cost; int index; } ranked;
static int cmp_ranked(const void *x, const void *y) {
    const ranked *a = x, *b = y;
    if (a->cost != b->cost) return a->cost < b->cost ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

/* The GA of the file comment, from seeds [n_seeds · n]: the population is the
 * seeds (at most P of them) and mutated copies of them (1 + up to n/8 changes
 * each), then generations until `budget` more evaluations of e are used (the
 * last batch is cut to what is left). best [n] gets the lowest-cost member
 * seen (the first seed if no evaluation was possible); never worse than the
 * best of the first P seeds (elitism). SM_EFAIL (message set by sm_evals_batch)
 * when batch_eval aborts. */
int sm_ga_run(sm_evals *e, const int32_t *seeds, int n_seeds, long budget, uint64_t seed, int32_t *best) {
    const sm_place_problem *p = e->p;
    int n = p->g->n;
    if (budget > sm_evals_left(e)) budget = sm_evals_left(e);
    memcpy(best, seeds, (size_t)n * sizeof *best);
    if (n == 0 || budget <= 0 || n_seeds < 1) return SM_OK;
    ga G = {.p = p, .n = n, .U = sm_place_usable(p), .S = sm_place_slots(p), .cores = sm_mesh_cores(p->mesh),
            .rng = seed ^ 0x4741000000000001ull};
    G.load = sm_xcalloc((size_t)G.cores, sizeof *G.load);
    G.mem = sm_xcalloc((size_t)G.cores, sizeof *G.mem);
    G.pending = sm_xcalloc((size_t)n, 1);
    int P = budget < GA_POPULATION ? (int)budget : GA_POPULATION;
    size_t bytes = (size_t)P * n * sizeof(int32_t);
    int32_t *pop = sm_xmalloc(bytes), *next = sm_xmalloc(bytes);
    double *cost = sm_xmalloc((size_t)P * sizeof *cost), *next_cost = sm_xmalloc((size_t)P * sizeof *cost);
    ranked *rank = sm_xmalloc((size_t)P * sizeof *rank);
    long stop = e->n + budget;
    double best_cost = INFINITY;
    int rc = SM_OK;

    for (int k = 0; k < P; k++) {
        int32_t *member = pop + (size_t)k * n;
        memcpy(member, seeds + (size_t)(k % n_seeds) * n, (size_t)n * sizeof *member);
        if (k >= n_seeds) {
            child_tally(&G, member);
            mutate(&G, member, 1 + sm_prng_below(&G.rng, 1 + n / 8));
        }
    }
    if ((rc = sm_evals_batch(e, P, pop, cost)) != SM_OK) goto out;
    for (int generation = 1;; generation++) {
        for (int k = 0; k < P; k++) {
            rank[k].cost = cost[k], rank[k].index = k;
            if (cost[k] < best_cost) best_cost = cost[k], memcpy(best, pop + (size_t)k * n, (size_t)n * sizeof *best);
        }
        int elite = P < GA_ELITE ? P : GA_ELITE;
        long left = stop - e->n;
        int children = (long)(P - elite) < left ? P - elite : (int)left;
        if (children <= 0) break;
        qsort(rank, (size_t)P, sizeof *rank, cmp_ranked);
        for (int k = 0; k < children; k++) {
            const int32_t *a = pop + (size_t)tournament(&G, cost, P) * n;
            const int32_t *b = pop + (size_t)tournament(&G, cost, P) * n;
            int32_t *child = next + (size_t)(elite + k) * n;
            int mutations = sm_prng_below(&G.rng, 3);
            if (sm_prng_uniform(&G.rng) < GA_CROSSOVER_RATE) {
                int lo = sm_prng_below(&G.rng, n + 1), hi = sm_prng_below(&G.rng, n + 1);
                if (lo > hi) { int t = lo; lo = hi; hi = t; }
                crossover(&G, a, b, lo, hi, child);
            } else {
                memcpy(child, a, (size_t)n * sizeof *child);
                child_tally(&G, child);
                if (mutations == 0) mutations = 1;
            }
            mutate(&G, child, mutations);
        }
        if ((rc = sm_evals_batch(e, children, next + (size_t)elite * n, next_cost + elite)) != SM_OK) goto out;
        /* The elite, and — when the last batch was cut short — the next-ranked
         * old members fill the places no child took. */
        for (int k = 0; k < P; k++)
            if (k < elite || k >= elite + children) {
                int from = rank[k < elite ? k : k - children].index;
                memcpy(next + (size_t)k * n, pop + (size_t)from * n, (size_t)n * sizeof *next);
                next_cost[k] = cost[from];
            }
        int32_t *t = pop; pop = next; next = t;
        double *tc = cost; cost = next_cost; next_cost = tc;
        if (p->progress)
            fprintf(stderr, "\rga: generation %d best %.6g evaluations %ld/%ld   ", generation, best_cost, e->n,
                    e->budget);
    }
    if (p->progress) fprintf(stderr, "\n");
out:
    free(G.load), free(G.mem), free(G.pending);
    free(pop), free(next), free(cost), free(next_cost), free(rank);
    return rc;   /* SM_EFAIL with sm_evals_batch's message */
}

/* Seeds: sequential (LC i -> core i mod U, repaired), p->current when it lies
 * on usable cores, and GA_RANDOM_SEEDS random shuffles of the sequential cores
 * (repaired); sm_ga_run with all but GA_POLISH_SHARE of the budget; then the
 * best is repaired and polished by local search with what is left. */
int sm_place_ga(const sm_place_problem *p, int32_t *lc_core, long *evals) {
    sm_evals e;
    int rc = sm_evals_init(&e, p);
    *evals = 0;
    if (rc) return rc;
    int n = p->g->n, U = sm_place_usable(p), n_seeds = 0;
    if (n == 0) return SM_OK;
    uint64_t rng = p->seed ^ 0x4741000000000002ull;
    int32_t *seeds = sm_xmalloc((size_t)(GA_RANDOM_SEEDS + 2) * n * sizeof *seeds);
    int32_t *seq = seeds;
    for (int i = 0; i < n; i++) seq[i] = i % U;
    sm_place_repair(p, seq);
    n_seeds = 1;
    if (p->current) {
        int ok = 1;
        for (int i = 0; i < n; i++) ok &= p->current[i] >= 0 && p->current[i] < U;
        if (ok) memcpy(seeds + (size_t)n_seeds++ * n, p->current, (size_t)n * sizeof *seeds);
    }
    for (int r = 0; r < GA_RANDOM_SEEDS; r++) {
        int32_t *s = seeds + (size_t)n_seeds++ * n;
        for (int i = 0; i < n; i++) s[i] = i % U;
        for (int i = n - 1; i > 0; i--) {   /* Fisher–Yates */
            int j = sm_prng_below(&rng, i + 1);
            int32_t t = s[i]; s[i] = s[j]; s[j] = t;
        }
        sm_place_repair(p, s);
    }
    long polish = (long)(GA_POLISH_SHARE * (double)e.budget);
    rc = sm_ga_run(&e, seeds, n_seeds, sm_evals_left(&e) - polish, p->seed ^ 0x4741000000000003ull, lc_core);
    free(seeds);
    if (rc == SM_OK) {
        sm_place_repair(p, lc_core);
        sm_local_search_run(&e, lc_core, sm_evals_left(&e));
        sm_place_repair(p, lc_core);
    }
    *evals = e.n;
    return rc;
}
