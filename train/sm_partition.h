/* sm_partition.h — cut the layers of a model into logical cores (LCs) so that
 * every LC fits one core's memory and compute per LC is near-equal across the
 * whole model (DESIGN.md "Partition: balanced storage and compute").
 *
 * The cost model is analytic (no timing): an LC's FLOPs and bytes follow from
 * its layer's shape, the rows it owns, the microbatch size and how many
 * microbatches it holds at once. docs/partition.md states the formulas and
 * the algorithm with an example table. No MPI.
 *
 * Shapes below: T = time steps, B = samples per microbatch, rows = output rows
 * (dense) or channels (conv) of the LC, K = fan_in, P = conv_h*conv_w (1 for
 * dense), Q = out_h*out_w (after pooling, 1 for dense), R = B for layer 0 when
 * its input is static (direct encoder on images), else T*B.
 */
#ifndef SM_PARTITION_H
#define SM_PARTITION_H

#include <stdio.h>

#include "sm_model.h"

/* What one LC costs per microbatch (flops) and in memory (bytes). */
typedef struct {
    double flops;            /* forward + backward floating-point operations per microbatch */
    double bytes;            /* parameters, gradient, optimizer moments, state in flight */
} sm_lc_cost;

/* Cost of one LC of `layer` owning `rows` outputs, for microbatches of
 * micro_batch samples of which in_flight are held at once. input_static: the
 * model's input is the same at every step (direct encoder on static data);
 * it only affects layer 0.
 *   flops = op: 2*R*rows*K*P forward, the same again for the weight gradient,
 *               and again for the input gradient unless layer == 0
 *         + pooling: 2*R*rows*P (one op per pre-pool value forward and backward)
 *         + LIF: 12*T*B*rows*Q (4 forward + 8 backward per neuron per step)
 *   bytes = 4 * 4*n_param          (parameters, gradient, two optimizer moments)
 *         + in_flight * (input                  a static layer 0: 4*B*n_in samples; else the
 *                                               input spikes as bits, 8*T*B*ceil(n_in/64)
 *                        + 4*R*rows*Q           the current, if sm_keeps_current (x2 with
 *                                               max pooling: its indices)
 *                        + ceil(T*B*rows*Q/8)   the output spikes, packed
 *                        + 4*n_param)           the forward's weights, async only (stash or
 *                                               not: the backward recomputes the forward)
 *   with n_param = rows*K + rows. No neuron state: the backward recomputes it
 *   (docs/performance.md, "Lean BPTT state"). Never fails; rows may be 0 (the
 *   fixed part). */
sm_lc_cost sm_lc_cost_of(const sm_model *m, int layer, int rows, int micro_batch, int in_flight,
                         int input_static);

/* Does an LC of `layer` keep its current after pooling (and the pooling
 * indices) between forward and backward, instead of recomputing it? A static
 * first layer does (its op is a GEMM over the pixels, the expensive one to
 * redo), and the output layer does (its current is small: K outputs, and its
 * backward needs its whole neuron state for the loss). */
int sm_keeps_current(const sm_model *m, int layer, int input_static);

/* Microbatches in flight at stage (= layer) `stage` of S = n_layers under the
 * model's pipeline schedule: sequential 1, gpipe M, 1f1b min(S - stage, M),
 * with M = pipeline.microbatches; async S - stage, because its one round holds
 * all the epoch's microbatches (sm_schedule.h I5 with M = those; an epoch of
 * fewer than S - stage microbatches keeps fewer). */
int sm_in_flight(const sm_model *m, int stage);

/* Samples per microbatch: train.batch / pipeline.microbatches. */
int sm_micro_batch(const sm_model *m);

/* The bytes LC `lc` holds while it trains: sm_lc_cost_of(...).bytes at the
 * model's microbatch and in-flight count. The one figure the partition fits
 * into chip.core_memory, the placer sums per core, and the executor allocates
 * from the core's arena (sm_arena.h). */
double sm_lc_state_bytes(const sm_model *m, int lc);

/* Decide layers[l].n_lc for every layer whose n_lc_fixed is 0 (the config had
 * no `lcs` key); fixed layers keep theirs. Target total: partition.max_lcs if
 * > 0, else mesh_w*mesh_h. Deterministic:
 *   1. a free output layer gets 1 LC (the loss needs all outputs together);
 *   2. the other free layers share target - (LCs already given) in proportion
 *      to their total FLOPs (largest remainder, each between 1 and out);
 *   3. a free layer whose largest slice does not fit chip.core_memory is raised
 *      to the smallest n_lc whose slices fit (the total may then pass the target).
 * Returns SM_OK, or SM_EINPUT (sm_error message naming the layer, the bytes
 * needed and chip.core_memory) when one row of a free layer, the free output
 * layer as one LC, or a slice of a fixed layer does not fit. Call it before
 * sm_model_build_lcs; it reads only layer shapes, T, train, chip, pipeline and
 * partition. Idempotent. */
int sm_partition(sm_model *m, int input_static);

/* The partition as measured by the cost model. */
typedef struct {
    int n_lcs;               /* LCs over the whole model */
    int target;              /* partition.max_lcs, or the mesh size */
    double total_flops;      /* per microbatch, all LCs */
    double max_flops, mean_flops;
    double imbalance;        /* max_flops / mean_flops (1 = perfectly even) */
    int max_flops_lc;        /* LC id of max_flops */
    double max_bytes;        /* largest LC */
    int max_bytes_lc;
} sm_partition_stats;

/* Stats of the current n_lc values (slices by the near-equal rule of
 * sm_model_build_lcs, so it works before and after the LCs are built). */
void sm_partition_stats_of(const sm_model *m, int input_static, sm_partition_stats *out);

/* Slice s of a layer of `out` rows cut into n: the first out % n slices get
 * one more row (the rule of sm_model_build_lcs). */
void sm_partition_slice(int out, int n, int s, int *o0, int *o1);

/* Print one line per LC (id, layer, slice [o0, o1), rows, MFLOP per
 * microbatch, MiB) and a summary (total LCs vs target, max/mean compute
 * imbalance, largest LC vs chip.core_memory). */
void sm_partition_print(FILE *f, const sm_model *m, int input_static);

#endif
