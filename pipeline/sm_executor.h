/* sm_executor.h — the pipeline executor: trains one epoch with every rank
 * running the ops of its own LCs in schedule order (DESIGN.md "Pipeline
 * schedules", "Communication"). Works for ANY placement: several LCs on one
 * rank, one layer over many ranks, LCs of non-adjacent layers sharing a rank.
 *
 * Rounds. Synchronous schedules (sequential, gpipe, 1f1b) run one round per
 * minibatch of train.batch samples, cut into pipeline.microbatches microbatches;
 * every LC ends the round with one optimizer update (gradient = mean over the
 * minibatch). async runs the whole epoch as one round of microbatches with an
 * update after every backward (gradient = mean over the microbatch). A last
 * minibatch smaller than train.batch is dropped (the shuffle changes which
 * samples each epoch).
 *
 * The per-rank loop (a dataflow interpreter of the stage op lists):
 *
 *   state            event                              next state / function
 *   ---------------  ---------------------------------  -----------------------------
 *   LC at op F(mb)   inputs of mb arrived (or layer 0)   run_forward, send spikes on
 *   LC at op B(mb)   partial gradients arrived (or loss) run_backward, send partials back
 *   LC at op U       always                              sm_lc_update, next op
 *   no LC can move   —                                   sm_comm_poll(wait): block for a message
 *   all lists done   —                                   round over
 *
 * Invariants: E1 an LC's ops run in its stage's list order, so its math never
 * depends on timing; E2 partial gradients are summed in ascending source-LC
 * order; E3 a forward's spikes stay valid until the consumer's forward ran (the
 * producer frees them at its own backward, which needs the consumer's
 * backward first) — which is what lets co-located LCs hand over pointers.
 */
#ifndef SM_EXECUTOR_H
#define SM_EXECUTOR_H

#include "sm_comm.h"
#include "sm_data.h"
#include "sm_model.h"
#include "sm_schedule.h"

typedef struct {
    double loss;               /* mean training loss over the epoch's samples */
    double accuracy;           /* training accuracy (predictions of the forwards) */
    long samples;              /* samples trained on */
    double wall_seconds;
    double emulated_seconds;   /* largest virtual clock over the ranks */
    double emulated_free_seconds; /* the same with free links (latency 0, infinite bandwidth) */
    double compute_seconds;    /* summed over ranks */
    double wait_seconds;       /* summed over ranks: emulated time spent waiting for messages */
    double last_lr;
    /* on rank 0 only (NULL elsewhere), owned by the executor until the next epoch */
    double *lc_compute;        /* [n_lcs] seconds */
    double *core_peak_bytes;   /* [R] */
    double *core_bytes;        /* [R][R] payload bytes sent */
    double *core_messages;     /* [R][R] */
    double *lc_bytes;          /* [n_lcs][n_lcs] */
    double forward_bytes, backward_bytes;   /* totals over all ranks */
} sm_epoch_stats;

/* Progress on rank 0: samples this rank's first LC has finished (backward), of the epoch's total. */
typedef void (*sm_progress_fn)(void *ctx, long samples_done, long samples_total);

typedef struct sm_executor sm_executor;

/* Prepare to train m on `train` with the comm's placement. Checks what the
 * executor needs of the model (the output layer is one LC). */
int sm_executor_new(sm_executor **out, sm_model *m, sm_comm *c, const sm_dataset *train);
void sm_executor_free(sm_executor *e);
/* Optimizer steps per epoch (for the learning-rate schedule's total). */
long sm_executor_steps_per_epoch(const sm_executor *e);
/* Train one epoch. Collective over the comm. progress (rank 0) may be NULL. */
int sm_executor_epoch(sm_executor *e, int epoch, long total_steps, sm_epoch_stats *stats,
                      sm_progress_fn progress, void *progress_ctx);

#endif
