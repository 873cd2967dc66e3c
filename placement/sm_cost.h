/* sm_cost.h — the placement cost model (DESIGN.md "Placement"; formulas and a
 * worked example in docs/cost-model.md). No MPI, no globals.
 *
 * A placement is lc_core[n]: the core of each LC. Messages follow XY routes
 * (X first, then Y) and put their bytes on every directed link they cross
 * (link ids in sm_graph.h). Traffic and link loads are whole bytes in int64,
 * so every byte figure is exact whatever the order of the sums; per-core
 * compute and memory are summed in ascending LC order, so the incremental
 * state gives the same bits as a full evaluation.
 *
 * Two ways to evaluate:
 *   sm_cost_evaluate     — from scratch, O(n + Σ edges · route length + links).
 *   sm_cost_state_*      — incremental, for placers that try many swaps/moves:
 *                          a delta costs O((deg i + deg j) · route length) plus
 *                          the members of the two cores (see cost.c, "Complexity").
 */
#ifndef SM_COST_H
#define SM_COST_H

#include <stdint.h>

#include "sm_graph.h"

/* Added to the cost for every core whose memory exceeds core_memory. */
#define SM_COST_INFEASIBLE_PENALTY 1e6

typedef struct {
    double hop_bytes;        /* Σ_ij bytes(i→j) · hops(core i, core j) */
    double max_link;         /* bytes on the busiest link */
    double mean_link;        /* Σ link loads / links that exist (= hop_bytes / links) */
    double top5_link;        /* mean of the ceil(5 % · links) busiest links */
    double imbalance;        /* max core compute / mean core compute over ALL cores (1 if no compute) */
    double max_core_compute; /* in the graph's compute unit (seconds or FLOPs) */
    double predicted_time;   /* seconds: max core compute + max_link / bandwidth + max hops · latency */
    double energy;           /* joules: hop_bytes · hop_energy */
    int memory_violations;   /* cores whose memory exceeds core_memory */
    double max_core_memory;  /* bytes */
    int max_hops;            /* longest route of any message (0: no message leaves its core) */
    double cost;             /* Σ_k w_k · figure_k / ref_k + penalty · violations */
} sm_cost_figures;

/* placement.weights: unitless, each figure counts relative to the reference. */
typedef struct { double hop_bytes, max_link, imbalance, time; } sm_cost_weights;

/* All four weights 1: the sequential placement then costs 4 (if feasible). */
sm_cost_weights sm_cost_weights_default(void);

/* 1 when hop-bytes are the whole objective (the other three weights 0). */
static inline int sm_cost_weights_hop_only(const sm_cost_weights *w) {
    return w->max_link == 0 && w->imbalance == 0 && w->time == 0;
}

/* Every weight 0: every placement would cost the same (what config, CLI and
 * sm_place all reject). */
static inline int sm_cost_weights_all_zero(const sm_cost_weights *w) {
    return w->hop_bytes == 0 && sm_cost_weights_hop_only(w);
}

/* Figures of the reference placement, sequential: LC i -> core i mod (mesh_w·mesh_h).
 * Its cost is computed against itself (each weighted term = w_k, or 0 when the
 * figure is 0, plus penalties). SM_EINPUT on a bad mesh or weights. */
int sm_cost_reference(const sm_lc_graph *g, const sm_mesh *mesh, const sm_cost_weights *w,
                      sm_cost_figures *ref);

/* Every figure of placement lc_core [g->n] and its cost relative to ref (NULL:
 * the sequential reference is computed here, an extra full evaluation).
 * SM_EINPUT naming the LC when an entry is not a core of the mesh, or on a bad
 * mesh or weights (negative or not finite). */
int sm_cost_evaluate(const sm_lc_graph *g, const sm_mesh *mesh, const int32_t *lc_core,
                     const sm_cost_weights *w, const sm_cost_figures *ref, sm_cost_figures *out);

/* The link loads of a placement: loads [4 · cores] (ids of sm_graph.h), bytes. */
int sm_cost_link_loads(const sm_lc_graph *g, const sm_mesh *mesh, const int32_t *lc_core, int64_t *loads);

/* −cost / cost(sequential): 0 is free, −1 is as good as sequential, lower is worse.
 * reference_cost <= 0 (all weights 0) gives −cost. */
double sm_cost_reward(double cost, double reference_cost);

/* ---- incremental evaluation ------------------------------------------- */

typedef struct sm_cost_state sm_cost_state;

/* Build the state of placement lc_core (copied). g must outlive the state and
 * not change; mesh, weights and ref (NULL: computed) are copied. *out is owned
 * by the caller (sm_cost_state_free). SM_EINPUT as sm_cost_evaluate. */
int sm_cost_state_new(sm_cost_state **out, const sm_lc_graph *g, const sm_mesh *mesh,
                      const int32_t *lc_core, const sm_cost_weights *w, const sm_cost_figures *ref);
void sm_cost_state_free(sm_cost_state *s);

/* The cost (and all figures into *fig, when not NULL) if LCs i and j swapped
 * cores / if LC i moved to `core`. The state is left exactly as it was (its
 * scratch buffers are used, so one state serves one thread). top5_link is
 * computed only when fig is given (it costs O(links · log links)).
 * Preconditions (checked by assert): i, j in [0, n), core in [0, cores). */
double sm_cost_delta_swap(sm_cost_state *s, int i, int j, sm_cost_figures *fig);
double sm_cost_delta_move(sm_cost_state *s, int i, int core, sm_cost_figures *fig);
/* Commit a swap / move; returns the new cost. Afterwards the state's figures
 * equal sm_cost_evaluate of its placement, bit for bit. */
double sm_cost_apply_swap(sm_cost_state *s, int i, int j);
double sm_cost_apply_move(sm_cost_state *s, int i, int core);

/* The current placement [n], figures and link loads [4 · cores] (owned by the state). */
const int32_t *sm_cost_state_placement(const sm_cost_state *s);
const sm_cost_figures *sm_cost_state_figures(const sm_cost_state *s);
const int64_t *sm_cost_state_link_loads(const sm_cost_state *s);

#endif
