/* sm_place.h — the placers: from an LC graph and a mesh to a placement lc -> core
 * (DESIGN.md "Placement"; docs/placement.md explains each method and its knobs).
 * Plain arrays, no MPI, no globals: placement/ never includes mpi.h. A caller that
 * has ranks to spare passes a batch evaluator (sm_place_problem.batch_eval).
 *
 * Every method:
 *   - honours the budget, counted in cost evaluations: one full sm_cost_evaluate
 *     or one incremental sm_cost_delta_* counts 1 (a method may finish early);
 *   - is deterministic for a given seed (and batch evaluator results);
 *   - places only on the usable cores [0, usable) (row-major order);
 *   - returns a placement in which, when at all possible, no core exceeds
 *     core_memory (sm_place_repair is the common last step);
 *   - reports evaluations used, seconds and the figures of what it returns.
 */
#ifndef SM_PLACE_H
#define SM_PLACE_H

#include <stddef.h>
#include <stdint.h>

#include "sm_cost.h"
#include "sm_graph.h"

/* Best cost so far against evaluations used: a point is appended each time a
 * method's best cost improves (and once at the end). Owned by the caller;
 * sm_place_trace_free releases the points. */
typedef struct {
    long evaluations;
    double cost;
} sm_place_point;
typedef struct {
    sm_place_point *points;
    int n, cap;
} sm_place_trace;
void sm_place_trace_free(sm_place_trace *t);

/* Evaluate k placements (placements[i*n .. i*n+n-1]) and write their costs.
 * Must give exactly the cost sm_cost_evaluate would (so results never depend
 * on who evaluated). Returns 0, or non-zero to abort the method. */
typedef int (*sm_place_batch_fn)(void *ctx, int k, const int32_t *placements, double *costs);

typedef struct sm_rl_policy sm_rl_policy;

typedef enum { SM_RL_PPO = 0, SM_RL_REINFORCE = 1 } sm_rl_algorithm;

typedef struct {
    const sm_lc_graph *g;
    const sm_mesh *mesh;
    sm_cost_weights weights;
    const sm_cost_figures *ref; /* NULL: the sequential reference is computed (1 evaluation, not counted) */
    int usable;                 /* cores [0, usable) may hold LCs; 0 = the whole mesh */
    long budget;                /* cost evaluations; <= 0: SM_PLACE_DEFAULT_BUDGET */
    uint64_t seed;
    const int32_t *current;     /* [n] the placement in use (re-placement), or NULL */
    double migration_weight;    /* scotch remap / rl: cost per byte of LC memory moved away from
                                   `current`, relative to the reference's hop_bytes; 0 = free */
    sm_rl_algorithm rl_algorithm;
    sm_rl_policy *policy;       /* rl: warm start in, trained policy out; NULL: a fresh one */
    int rl_no_analytic;         /* rl: 1 skips the analytic start (to measure the policy without it) */
    sm_place_batch_fn batch_eval; /* NULL: evaluate serially in this process */
    void *batch_ctx;
    sm_place_trace *trace;      /* NULL: not recorded */
    int progress;               /* 1: a one-line progress report on stderr for long searches */
} sm_place_problem;

#define SM_PLACE_DEFAULT_BUDGET 20000L

typedef struct {
    long evaluations;           /* cost evaluations used (<= budget) */
    double seconds;             /* wall-clock */
    sm_cost_figures fig;        /* of the placement returned */
} sm_place_result;

/* Problem with defaults: weights all 1, budget default, seed 1, everything else 0/NULL. */
sm_place_problem sm_place_problem_default(const sm_lc_graph *g, const sm_mesh *mesh);

/* The method names, NULL-terminated: sequential zigzag hilbert random greedy sa ga scotch rl. */
extern const char *const sm_place_method_names[];

/* The index of method `name` in sm_place_method_names, or -1 when there is none. */
int sm_place_method_index(const char *name);

/* Run method `name` on p, writing the placement to lc_core [g->n] and filling *res.
 * SM_EINPUT with a message on an unknown method or a bad problem (mesh, weights,
 * usable); SM_EFAIL when the method fails (e.g. libscotch refuses the graph, or
 * batch_eval aborts). */
int sm_place(const char *name, const sm_place_problem *p, int32_t *lc_core, sm_place_result *res);

/* ---- the methods (each also reachable by name through sm_place) -------- */
/* Each: fills lc_core [n], returns SM_OK or an error code as sm_place; *evals
 * is set to the evaluations used. */
int sm_place_zigzag(const sm_place_problem *p, int32_t *lc_core, long *evals);
int sm_place_hilbert(const sm_place_problem *p, int32_t *lc_core, long *evals);
int sm_place_random(const sm_place_problem *p, int32_t *lc_core, long *evals);
int sm_place_greedy(const sm_place_problem *p, int32_t *lc_core, long *evals);
int sm_place_sa(const sm_place_problem *p, int32_t *lc_core, long *evals);
int sm_place_ga(const sm_place_problem *p, int32_t *lc_core, long *evals);
int sm_place_scotch(const sm_place_problem *p, int32_t *lc_core, long *evals);
int sm_place_rl(const sm_place_problem *p, int32_t *lc_core, long *evals);

/* ---- building blocks shared by the methods ----------------------------- */

/* The usable core count of p (p->usable, or the mesh size). */
int sm_place_usable(const sm_place_problem *p);

/* LCs a core may hold when spreading evenly: ceil(n / usable). */
int sm_place_slots(const sm_place_problem *p);

/* Make lc_core memory-feasible if it can: LCs of a core over core_memory are
 * moved, the largest-memory first (ties: the lowest LC id), to the nearest
 * usable core (Manhattan, ties by core id) where they fit; LCs on a core beyond the
 * usable ones move likewise. Slot counts are not enforced here (memory is what
 * makes a placement infeasible). Deterministic. Returns
 * the number of cores still over core_memory (0 when feasible). No evaluation. */
int sm_place_repair(const sm_place_problem *p, int32_t *lc_core);

/* The nearest usable core to (x, y) by Euclidean distance (continuous
 * coordinates, cores at integer points) that has a free slot (fewer than sm_place_slots LCs in load[]) and
 * memory room for `bytes` (mem[] + bytes <= core_memory); ties by core id. When
 * none has room, the nearest with a free slot; -1 if every slot is full. */
int sm_place_nearest_free(const sm_place_problem *p, double x, double y, double bytes,
                          const int *load, const double *mem);

/* Steepest-descent swap/move local search from lc_core (in place) until no
 * improving swap or move exists or `budget` evaluations are used; returns the
 * evaluations used. Used by sa, ga and rl as their last polish. */
long sm_place_local_search(const sm_place_problem *p, int32_t *lc_core, long budget);

/* ---- the rl policy (placement/rl.c) -------------------------------------- */

/* A fresh policy (GCN weights initialised from seed). Independent of the graph
 * size: the same policy places any graph on any mesh. Free with sm_rl_policy_free. */
sm_rl_policy *sm_rl_policy_new(uint64_t seed);
void sm_rl_policy_free(sm_rl_policy *pol);
/* Its whole state (parameters, Adam moments, step, reward baseline) as floats,
 * for the checkpoint: the length is fixed (sm_rl_policy_floats()). */
size_t sm_rl_policy_floats(void);
void sm_rl_policy_get(const sm_rl_policy *pol, float *state);
void sm_rl_policy_set(sm_rl_policy *pol, const float *state);

#endif
