/* sm_schedule.h — pipeline schedules as pure functions (DESIGN.md "Pipeline schedules").
 *
 * Stages s = 0..S-1 (stage 0 holds the first layer), microbatches m = 0..M-1.
 * A schedule says, for one stage, the ORDER in which that stage runs its ops:
 *
 *   F m   forward of microbatch m        (needs F m of stage s-1)
 *   B m   backward of microbatch m       (needs B m of stage s+1; the last stage needs its own F m)
 *   U     optimizer update of the stage  (needs nothing from another stage)
 *
 * No MPI, no model, no timing: the executor runs the ops in list order and
 * blocks only on the data an op needs. Order, never timing, defines the math.
 *
 * Per-stage lists, w = min(S-1-s, M) is the warm-up depth of stage s:
 *
 *   sequential  F0 B0 F1 B1 ... F(M-1) B(M-1) U      (one microbatch in the pipe at a time)
 *   gpipe       F0 ... F(M-1)  B0 ... B(M-1)  U
 *   1f1b        F0..F(w-1) | F(w) B0  F(w+1) B1 ... F(M-1) B(M-1-w) | B(M-w) ... B(M-1) | U
 *   async       the F/B order of 1f1b with a U right after every B and no final U
 *               (M counts the microbatches of the whole epoch: there is no flush)
 *
 * The 1f1b / async stage as a state machine (sm_schedule_ops builds the list
 * by walking it; the executor walks the same table):
 *
 *   state      | emits                          | next state when
 *   -----------+--------------------------------+----------------------------------
 *   WARMUP     | F(f++)                         | f == w          -> STEADY
 *   STEADY     | F(f++), B(b++) [, U if async]  | f == M          -> COOLDOWN
 *   COOLDOWN   | B(b++)        [, U if async]   | b == M          -> UPDATE / DONE
 *   UPDATE     | U (synchronous 1f1b only)      |                 -> DONE
 *
 * Invariants of every list returned (tests/test_schedule.c checks each one for
 * all kinds, S in 1..8, M in 1..12):
 *   I1  each F m and each B m occurs exactly once, and F m comes before B m.
 *   I2  backwards run in ascending m at every stage. Gradients are summed in
 *       the order of the backwards, so sequential, gpipe and 1f1b add the same
 *       numbers in the same order and give the same bits.
 *   I3  sequential, gpipe, 1f1b: exactly one U, the last op. async: exactly M
 *       U's, each immediately after a B (the last op is U after B(M-1)).
 *   I4  no deadlock: the S lists run to completion under the dependencies above,
 *       whatever order a dataflow executor picks ready stages in.
 *   I5  microbatches in flight at stage s (forwards done minus backwards done,
 *       the number of activation sets the stage must keep), at most:
 *         sequential 1, gpipe M, 1f1b and async min(S-s, M)  (attained).
 *   I6  async staleness: between F m and B m stage s runs exactly min(S-1-s, m)
 *       updates; for m >= S-1-s that is S-1-s, so the gradient of B m is taken
 *       on weights S-1-s updates older than the weights it is applied to
 *       (unless the executor stashes the forward's weights: `stash: true`).
 *       The last stage (s = S-1) is never stale.
 */
#ifndef SM_SCHEDULE_H
#define SM_SCHEDULE_H

/* Shared with train/sm_model.h, which includes this header for it. */
#ifndef SM_SCHEDULE_KIND_DEFINED
#define SM_SCHEDULE_KIND_DEFINED
typedef enum { SM_SCHED_SEQUENTIAL = 0, SM_SCHED_GPIPE, SM_SCHED_1F1B, SM_SCHED_ASYNC } sm_schedule_kind;
#endif

/* A `W m` op (weight gradient split from the input gradient) would be added as
 * SM_OP_W = 3; no schedule emits it yet. */
typedef enum { SM_OP_F = 0, SM_OP_B = 1, SM_OP_U = 2 } sm_op_kind;
typedef struct {
    sm_op_kind kind;
    int mb;                  /* microbatch 0..M-1; -1 for U */
} sm_op;
typedef struct {
    int n;
    sm_op *ops;              /* n ops in execution order; owned by the list */
} sm_op_list;

/* Largest M accepted, so that 3*M ops fit an int. */
#define SM_SCHEDULE_MAX_MICROBATCHES (1 << 28)

/* The ops of stage s (0 = first layer) of S stages for M microbatches, in
 * execution order. S >= 1, 1 <= M <= SM_SCHEDULE_MAX_MICROBATCHES, 0 <= s < S.
 * Returns SM_OK, or SM_EINPUT with an sm_error message (bad kind, S, M or s);
 * on error *out is the empty list. The caller frees with sm_op_list_free.
 * Sizes: 2M+1 ops for synchronous kinds, 3M for async. */
int sm_schedule_ops(sm_op_list *out, sm_schedule_kind kind, int S, int M, int s);

/* Frees the ops and leaves the empty list; NULL and empty lists are fine. */
void sm_op_list_free(sm_op_list *l);

/* "sequential", "gpipe", "1f1b", "async"; "unknown" for a value outside the enum. */
const char *sm_schedule_name(sm_schedule_kind k);

/* Inverse of sm_schedule_name (exact, lower case). Returns SM_OK, or SM_EINPUT
 * with a message listing the valid names; *out is untouched on error. */
int sm_schedule_parse(const char *name, sm_schedule_kind *out);

/* Analytic timeline of a schedule (for `spikemesh bench` and benchmarks).
 *
 * Model: S dedicated processors, one per stage; a stage runs its list in order,
 * one op at a time, each op as early as possible. F takes tf[s] seconds, B
 * tb[s], U tu[s]. F m at stage s starts after F m at s-1 ends + `link`; B m at
 * s starts after B m at s+1 ends + `link`; the last stage's B m after its own
 * F m (no link: same processor). makespan = the last end time;
 * busy_fraction = (sum of all op durations) / (S * makespan);
 * bubble_fraction = 1 - busy_fraction (when every time is 0, the makespan is 0,
 * busy_fraction 1 and bubble_fraction 0).
 */
typedef struct {
    double makespan, busy_fraction, bubble_fraction;
} sm_timeline;

/* tf, tb, tu: S non-negative finite durations each; link >= 0 finite.
 * Returns SM_OK, or SM_EINPUT with a message for bad arguments (as
 * sm_schedule_ops, plus NULL or negative/non-finite times, or S*M too large:
 * more than 2^26 stage-microbatch pairs); *out is untouched on error. */
int sm_schedule_timeline(sm_timeline *out, sm_schedule_kind kind, int S, int M,
                         const double *tf, const double *tb, const double *tu, double link);

#endif
