/* rl_internal.h — the pieces of the rl placer (rl.c, rl_gcn.c) that its tests
 * reach into: the policy's parameter block, the graph state the policy reads,
 * the forward/backward pass of the GCN and the surrogate losses, and the
 * policy-training stage alone (without the GA and the local search).
 * docs/placement.md, section "rl", has the math.
 *
 * Sizes: n = LCs, F = SM_RL_FEATURES node features, D = SM_RL_HIDDEN hidden
 * width, K = sampled placements per batch. Actions are [n,2] (x, y) in the
 * unit square over the usable cores' bounding box bw x bh: the core in column
 * cx, row cy has its centre at ((cx + 0.5) / bw, (cy + 0.5) / bh).
 */
#ifndef SM_RL_INTERNAL_H
#define SM_RL_INTERNAL_H

#include <stdint.h>

#include "place_internal.h"

#define SM_RL_FEATURES 8
#define SM_RL_HIDDEN 32
#define SM_RL_LAYERS 3
#define SM_RL_NEIGHBOURS 16 /* partners per LC the policy's graph keeps (the heaviest) */

/* The parameter block, offsets in floats. Per GCN layer l (input width
 * in_l = F for l = 0, else D): W [in_l, D] (neighbours), U [in_l, D] (the node
 * itself), b [D]. Then the head: Wo [D, 2], bo [2]; then log_std [2] (in cores). */
#define SM_RL_LAYER0_FLOATS (2 * SM_RL_FEATURES * SM_RL_HIDDEN + SM_RL_HIDDEN)
#define SM_RL_LAYERN_FLOATS (2 * SM_RL_HIDDEN * SM_RL_HIDDEN + SM_RL_HIDDEN)
#define SM_RL_HEAD_OFFSET (SM_RL_LAYER0_FLOATS + (SM_RL_LAYERS - 1) * SM_RL_LAYERN_FLOATS)
#define SM_RL_LOGSTD_OFFSET (SM_RL_HEAD_OFFSET + 2 * SM_RL_HIDDEN + 2)
#define SM_RL_PARAMS (SM_RL_LOGSTD_OFFSET + 2)

/* log_std is kept in [SM_RL_LOGSTD_MIN, SM_RL_LOGSTD_MAX] (std in cores). */
#define SM_RL_LOGSTD_INIT (-0.69314718f) /* half a core */
#define SM_RL_LOGSTD_MIN (-2.9957323f)   /* 0.05 core */
#define SM_RL_LOGSTD_MAX (1.3862944f)    /* 4 cores */

struct sm_rl_policy {
    float param[SM_RL_PARAMS];
    float adam_m[SM_RL_PARAMS], adam_v[SM_RL_PARAMS];
    float step;      /* Adam steps taken (exact as a float up to 2^24) */
    float baseline;  /* moving average of the reward (REINFORCE) */
    float have_baseline;
};

/* Offset of layer l's W, U, b in the parameter block. */
int sm_rl_layer_offset(int l);

/* ---- the graph state ---------------------------------------------------- */

typedef struct {
    int n;
    int box_w, box_h;       /* the usable cores' bounding box (cores [0, usable) row-major) */
    float *x;               /* [n,F] node features: compute / max, memory / core_memory,
                               log1p(bytes in) / max, log1p(bytes out) / max,
                               layer / max layer, anchor x, anchor y, 1 */
    int32_t *anchor_core;   /* [n] the anchor placement (cores) */
    float *anchor;          /* [n,2] the anchor in the unit square */
    float *anchor_logit;    /* [n,2] logit(anchor): the mean head's residual base */
    int *arow, *acol;       /* Â = D^-1/2 (A/max A + I) D^-1/2 as CSR [n+1], [nnz], symmetric */
    float *aval;
    int *order;             /* [n] LCs in discretisation order: memory desc, ties by id */
    /* migration term (0 when not asked for): cost += mig_scale · Σ_{moved i} memory_i */
    const int32_t *current;
    double mig_scale;
} sm_rl_graph;

/* Build the state of p anchored at `anchor` [n] (cores; NULL: p->current, or
 * the sequential placement when that is NULL too). Owned by the caller. */
void sm_rl_graph_build(sm_rl_graph *gr, const sm_place_problem *p, const sm_evals *e, const int32_t *anchor);
/* Move the anchor (features x/y and the residual base) to placement lc_core. */
void sm_rl_graph_reanchor(sm_rl_graph *gr, const sm_place_problem *p, const int32_t *lc_core);
void sm_rl_graph_free(sm_rl_graph *gr);

/* ---- forward / backward (rl_gcn.c) ------------------------------------- */

typedef struct {
    int n;
    float *h[SM_RL_LAYERS + 1]; /* h[0] = x (borrowed) [n,F]; h[l] [n,D] after relu */
    float *t;                   /* [n,D] scratch: H W */
    float *gh, *gh2, *gt;       /* [n,D] scratch for the backward pass */
    float *mu;                  /* [n,2] means in the unit square */
} sm_rl_cache;

void sm_rl_cache_init(sm_rl_cache *c, int n);
void sm_rl_cache_free(sm_rl_cache *c);

/* mu = sigmoid(anchor_logit + head(GCN(x))); fills the cache. */
void sm_rl_forward(const sm_rl_policy *pol, const sm_rl_graph *gr, sm_rl_cache *c);
/* Accumulate into grad [SM_RL_PARAMS] the gradient of a loss given its
 * gradient dmu [n,2] w.r.t. the means (log_std's gradient is the caller's).
 * Needs the cache of the forward pass of the same parameters. */
void sm_rl_backward(const sm_rl_policy *pol, const sm_rl_graph *gr, const sm_rl_cache *c, const float *dmu,
                    float *grad);

/* The std of each axis in unit-square units: exp(log_std) / box side. */
void sm_rl_sigma(const sm_rl_policy *pol, const sm_rl_graph *gr, double sigma[2]);

/* Log-probability of action a [n,2] under N(mu, sigma) per LC into lp [n]
 * (sum over the two axes); returns the sum over LCs. */
double sm_rl_logprob(const float *mu, const double sigma[2], const float *a, int n, double *lp);

/* The surrogate loss (to minimise) of k samples a [k,n,2] with advantages
 * adv [k] and, for PPO, the log-probs old_lp [k,n] of the policy that sampled
 * them:
 *   PPO:       L = −1/(k n) Σ_s Σ_i min(r_si A_s, clip(r_si, 1−ε, 1+ε) A_s),
 *              r_si = exp(lp_si − old_lp_si)   (one ratio per LC)
 *   REINFORCE: L = −1/(k n) Σ_s A_s Σ_i lp_si   (old_lp unused)
 * Writes dmu [n,2] (overwritten) and adds d/dlog_std into dlogstd [2].
 * Returns L. */
double sm_rl_surrogate(sm_rl_algorithm algo, const float *mu, const double sigma[2], int n, int k,
                       const float *a, const double *old_lp, const double *adv, double clip_eps, float *dmu,
                       double dlogstd[2]);

/* One Adam step on the whole parameter block with gradient grad; log_std is
 * then clamped to its range. */
void sm_rl_adam(sm_rl_policy *pol, const float *grad, float lr);

/* ---- actions ------------------------------------------------------------ */

/* The nearest usable core to (x, y) (core coordinates in the bounding box;
 * Euclidean, ties by core id) with load < cap and memory room for `bytes`;
 * none with room: the nearest with load < cap; -1 when every core is at cap. */
int sm_rl_nearest_free(const sm_place_problem *p, const sm_rl_graph *gr, double x, double y, double bytes,
                       const int *load, const double *mem, int cap);

/* Discretise action a [n,2] into lc_core [n]: LCs in gr->order, each to
 * sm_rl_nearest_free of its point, level by level (docs/placement.md,
 * "Actions"). load [usable], mem [usable] are scratch. */
void sm_rl_discretise(const sm_place_problem *p, const sm_rl_graph *gr, const float *a, int32_t *lc_core,
                      int *load, double *mem);

/* ---- the training stage ------------------------------------------------- */

/* The best distinct placements seen, cost ascending (cost includes the
 * migration term). */
typedef struct {
    int n, cap, count;
    int32_t *lc_core; /* [cap, n] */
    double *cost;     /* [cap] */
} sm_rl_pool;

void sm_rl_pool_init(sm_rl_pool *pool, int n, int cap);
void sm_rl_pool_free(sm_rl_pool *pool);
void sm_rl_pool_add(sm_rl_pool *pool, const int32_t *lc_core, double cost);

typedef struct {
    sm_rl_algorithm algo;
    int batch;        /* K placements sampled per policy iteration */
    int epochs;       /* PPO passes over each batch */
    int minibatch;    /* samples per PPO update */
    float lr;         /* Adam */
    double clip_eps;  /* PPO ε */
    double entropy;   /* entropy bonus β (per LC, on log_std) */
    double baseline_decay; /* REINFORCE moving average: b ← d·b + (1−d)·mean reward */
    int reanchor;     /* every this many batches, move the state's anchor to the pool's
                         best placement (the policy then proposes improvements of
                         the best so far); 0: never (the state stays where it began) */
    double patience;  /* stop once this share of the budget's batches has passed in a
                         row without a sample better than the pool's best (the rest of
                         the budget is left to the caller); 0: use the whole budget */
} sm_rl_train_opts;

/* The defaults used by sm_place_rl for algorithm algo. */
sm_rl_train_opts sm_rl_train_defaults(sm_rl_algorithm algo);

/* Train pol on gr for `budget` evaluations of e (whole batches of o->batch;
 * one smaller batch when the budget is below it; nothing when below 2),
 * sampling with *prng; every sampled placement goes to pool, and gr may be
 * re-anchored (o->reanchor). It stops early, leaving the rest of the budget
 * unspent, once ceil(o->patience · batches) batches in a row have sampled
 * nothing better than the pool's best. Per batch: one forward pass, K samples, one
 * sm_evals_batch, rewards −cost/ref, then PPO (o->epochs passes of shuffled
 * minibatches, advantages normalised in the batch) or one REINFORCE step
 * (advantages r − baseline over the batch's std). SM_OK or SM_EFAIL (the batch
 * evaluator aborted). */
int sm_rl_train(sm_evals *e, sm_rl_policy *pol, sm_rl_graph *gr, const sm_rl_train_opts *o, long budget,
                uint64_t *prng, sm_rl_pool *pool);

/* The placement of the policy's means (no sampling, no evaluation). */
void sm_rl_mean_placement(const sm_place_problem *p, const sm_rl_policy *pol, const sm_rl_graph *gr,
                          int32_t *lc_core);

/* Cost of lc_core plus the migration term (no evaluation: for costs already known). */
double sm_rl_with_migration(const sm_rl_graph *gr, const sm_lc_graph *g, const int32_t *lc_core, double cost);

/* ---- the analytic start (rl_analytic.c) ---------------------------------- */

/* A placement from the traffic alone: a spectral layout, then rounds of
 * quadratic placement anchored to its spread-out self (SimPL-style), each
 * round legalised and costed (one evaluation, through sm_evals_batch), at a
 * few box sizes. At most `budget` evaluations; every placement costed goes to
 * pool (cost with the migration term); the best into best [n] and its cost
 * into *best_cost (+inf when none was costed). SM_OK or SM_EFAIL. */
int sm_rl_analytic(sm_evals *e, const sm_rl_graph *gr, long budget, sm_rl_pool *pool, int32_t *best,
                   double *best_cost);

/* ---- the searches on incremental deltas (rl_search.c) -------------------- */

/* The LC adjacency in both directions as CSR (row [n+1], col, w [2·edges]):
 * every edge i→j of g appears in row i and in row j with its bytes. Owned by
 * the caller. */
void sm_rl_adjacency(const sm_lc_graph *g, int **row, int **col, double **w);

/* Where the searches centre a try (rl_search.c, "which kind of try"): a
 * three-armed bandit per radius class; arm 0 the LC's own core, arm 1 its
 * partners' traffic-weighted mean core, arm 2 the core of one partner drawn
 * in proportion to its traffic. */
#define SM_RL_ARM_FLOOR 0.1
#define SM_RL_ARM_DECAY 0.998 /* per try of the class: a memory of ~500 tries */
#define SM_RL_ARMS 3
typedef struct {
    double tries[4][SM_RL_ARMS], gain[4][SM_RL_ARMS];
} sm_rl_arms;
void sm_rl_arms_init(sm_rl_arms *a);
/* The arm for a try at `radius`, drawn from *prng. */
int sm_rl_arms_pick(const sm_rl_arms *a, int radius, uint64_t *prng);
/* A try of arm `arm` at `radius` lowered the cost by `decrease` (<= 0: it did
 * not; a decrease of half SM_COST_INFEASIBLE_PENALTY or more, a memory
 * violation removed, counts as a try without gain). */
void sm_rl_arms_note(sm_rl_arms *a, int radius, int arm, double decrease);

/* Each improves lc_core [n] in place from a placement of known cost for at
 * most `budget` evaluations of e (every delta counted 1; never past the
 * budget), leaves the best placement it saw there and returns the evaluations
 * used. They do nothing when a core holds more than sm_place_slots LCs (the
 * memory repair may leave that) or n < 2. Randomness from *prng only. Tries
 * that sm_place_classes and sm_try_overfills rule out are not evaluated. */

/* Adaptive-range descent that anneals once it stalls (docs/placement.md);
 * anneal = 0: it returns when it stalls instead. */
long sm_rl_descend_anneal(sm_evals *e, int32_t *lc_core, long budget, int anneal, uint64_t *prng);
/* Range-limited swap search with kicks at local minima (docs/placement.md). */
long sm_rl_swap_search(sm_evals *e, int32_t *lc_core, long budget, uint64_t *prng);

#endif
