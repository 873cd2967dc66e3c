/* sm_graph_model.h — the LC graph of a partitioned model, as a placer sees it
 * (the bridge from train/ to placement/; the placers themselves never see a model).
 *
 * Every figure is per epoch of n_samples training samples, under the model's
 * pipeline settings (microbatch size, microbatches in flight):
 *   compute[i] = FLOPs of LC i (sm_lc_cost_of × microbatches per epoch),
 *                compute_is_flops = 1 (run at chip.core_gflops);
 *   memory[i]  = bytes of LC i (sm_lc_cost_of: parameters, gradient, optimizer
 *                moments, state of the microbatches in flight);
 *   traffic    = bytes LC i sends LC k per epoch when they are on different
 *                cores: forward, its spikes bit-packed, ceil(T·B·block / 8) per
 *                microbatch; backward, the float32 partial gradient [T·B, block]
 *                or its factors when smaller (sm_grad_factored). This is exactly
 *                what the executor sends (tests/test_distributed.c checks the
 *                core-pair sums against a real run), so the traffic a placement
 *                will cause is known before it runs.
 * No MPI. */
#ifndef SM_GRAPH_MODEL_H
#define SM_GRAPH_MODEL_H

#include "sm_graph.h"
#include "sm_model.h"
#include "sm_place.h"

/* Microbatches one epoch of n_samples runs: floor(n_samples / train.batch) ·
 * pipeline.microbatches (a last partial minibatch is dropped). */
long sm_model_microbatches_per_epoch(const sm_model *m, long n_samples);

/* Build g (owned by the caller, sm_graph_free) for m, whose LCs are built.
 * SM_EINPUT when the traffic passes SM_GRAPH_MAX_BYTES. */
int sm_graph_from_model(const sm_model *m, long n_samples, sm_lc_graph *g);

/* The mesh of the model's chip: keys:chip.* (hop_energy included). */
sm_mesh sm_mesh_from_chip(const sm_model *m);

/* The placer settings of the config (placement.weights, budget, seed,
 * migration_weight, rl_algorithm) on top of sm_place_problem_default. */
sm_place_problem sm_place_problem_from_model(const sm_model *m, const sm_lc_graph *g, const sm_mesh *mesh);

/* Bytes per core pair [R·R] that placement lc_core will send per epoch: the
 * sum of g's traffic over LC pairs on different cores (cores < R). */
void sm_graph_core_traffic(const sm_lc_graph *g, const int32_t *lc_core, int R, double *core_bytes);

#endif
