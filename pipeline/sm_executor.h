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
 * backward first) — which is what lets co-located LCs hand over pointers;
 * E4 between two rounds nothing is in flight (every LC ran its update), so a
 * round boundary is where an epoch can stop (a signal, sm_executor_watch, or a
 * non-finite loss or gradient) and where a checkpoint can resume it
 * (sm_executor_resume_at). async runs an epoch as one round: it stops only at
 * the end of the epoch.
 *
 * Memory (docs/errors.md, "Memory budgets"): M1 while an executor exists, the
 * parameter, gradient and moment blocks of this rank's LCs, and every slot's
 * BPTT state, live in one arena of chip.core_memory bytes (sm_arena.h); the
 * blocks move back to the heap in sm_executor_free. M2 the arena holds exactly
 * sm_lc_state_bytes of each LC once all its microbatches have been in flight:
 * the figure the partition and the placer count; sm_executor_new refuses a
 * placement that overflows any core before anything runs. Kernel scratch, the
 * data set and messages in flight are the rank's, outside the budget.
 */
#ifndef SM_EXECUTOR_H
#define SM_EXECUTOR_H

#include <signal.h>

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
    double *core_peak_bytes;   /* [R] arena use: the LC state the core holds (M1, M2) */
    double *core_rss_bytes;    /* [R] the rank's peak resident memory over the epoch (-1: unknown) */
    double *core_private_bytes; /* [R] its private resident memory at the epoch's end (-1: unknown) */
    double *core_heap_bytes;   /* [R] its malloc'ed bytes in use at the epoch's end (-1: unknown) */
    double *core_bytes;        /* [R][R] payload bytes sent */
    double *core_messages;     /* [R][R] */
    double *lc_bytes;          /* [n_lcs][n_lcs] */
    double forward_bytes, backward_bytes;   /* totals over all ranks */
    double loss_sum;           /* summed loss over the samples (loss = loss_sum / samples) */
    long correct;              /* correct training predictions */
    long rounds, first_round, rounds_done; /* rounds of the epoch; where it began; where it ended */
    int stopped;               /* 1: stopped after rounds_done < rounds (sm_executor_watch or non-finite) */
    int traffic_partial;       /* 1: core_bytes/core_messages miss the rounds before first_round */
    long nonfinite_step;       /* -1, or the first optimizer step (1-based) whose loss or gradient was */
    int nonfinite_lc;          /*   not finite, on LC nonfinite_lc, */
    int nonfinite_grad;        /*   in its gradient (1) or in the loss (0) */
} sm_epoch_stats;

/* Where to resume an epoch that a checkpoint interrupted: the rounds done and
 * what they had accumulated (sm_epoch_stats of the stopped epoch). The arrays
 * are read on rank 0 only; core_bytes/core_messages [R][R] only for the same
 * ranks and placement (else NULL: the epoch's core traffic then misses them). */
typedef struct {
    long round;
    double loss_sum;
    long correct, seen;
    const double *lc_bytes;    /* [n_lcs][n_lcs] or NULL */
    const double *core_bytes, *core_messages;
} sm_epoch_resume;

/* Progress on rank 0: samples this rank's first LC has finished (backward), of the epoch's total. */
typedef void (*sm_progress_fn)(void *ctx, long samples_done, long samples_total);

typedef struct sm_executor sm_executor;

/* SM_OK if every core's LCs under lc_core (ranks cores) fit chip.core_memory;
 * else SM_EINPUT naming the first core over, its LCs and the bytes. Pure: every
 * rank reaches the same verdict. */
int sm_executor_check_memory(const sm_model *m, const int32_t *lc_core, int ranks);
/* Prepare to train m on `train` with the comm's placement. Checks what the
 * executor needs of the model (the output layer is one LC). */
int sm_executor_new(sm_executor **out, sm_model *m, sm_comm *c, const sm_dataset *train);
void sm_executor_free(sm_executor *e);
/* Optimizer steps per epoch (for the learning-rate schedule's total). */
long sm_executor_steps_per_epoch(const sm_executor *e);
/* Stop the next epoch at the first round boundary after *stop_flag became
 * nonzero on any rank (a signal handler sets it). NULL: never. */
void sm_executor_watch(sm_executor *e, volatile sig_atomic_t *stop_flag);
/* The next sm_executor_epoch call starts at round r->round (copied; the arrays
 * must live until that call). */
void sm_executor_resume_at(sm_executor *e, const sm_epoch_resume *r);
/* Train one epoch. Collective over the comm. progress (rank 0) may be NULL. */
int sm_executor_epoch(sm_executor *e, int epoch, long total_steps, sm_epoch_stats *stats,
                      sm_progress_fn progress, void *progress_ctx);

#endif
