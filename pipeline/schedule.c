/* schedule.c — the per-stage op lists of sm_schedule.h and their analytic timeline.
 *
 * Pure functions: no MPI, no model, no global state. The invariants I1..I6 are
 * stated in sm_schedule.h and checked by tests/test_schedule.c.
 */
#include "sm_schedule.h"

#include "sm_common.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

static const char *const schedule_names[] = {"sequential", "gpipe", "1f1b", "async"};
#define N_SCHEDULES ((int)(sizeof schedule_names / sizeof schedule_names[0]))

const char *sm_schedule_name(sm_schedule_kind k) {
    return ((int)k >= 0 && (int)k < N_SCHEDULES) ? schedule_names[k] : "unknown";
}

int sm_schedule_parse(const char *name, sm_schedule_kind *out) {
    for (int k = 0; name && k < N_SCHEDULES; k++)
        if (strcmp(name, schedule_names[k]) == 0) {
            *out = (sm_schedule_kind)k;
            return SM_OK;
        }
    return sm_error("unknown schedule '%s' (expected sequential, gpipe, 1f1b or async)",
                    name ? name : "(null)");
}

void sm_op_list_free(sm_op_list *l) {
    if (!l) return;
    free(l->ops);
    l->ops = NULL;
    l->n = 0;
}

static int check_shape(sm_schedule_kind kind, int S, int M) {
    if ((int)kind < 0 || (int)kind >= N_SCHEDULES)
        return sm_error("schedule: unknown kind %d", (int)kind);
    if (S < 1) return sm_error("schedule: stages must be >= 1, got %d", S);
    if (M < 1 || M > SM_SCHEDULE_MAX_MICROBATCHES)
        return sm_error("schedule: microbatches must be in [1, %d], got %d",
                        SM_SCHEDULE_MAX_MICROBATCHES, M);
    return SM_OK;
}

static void emit(sm_op_list *l, sm_op_kind kind, int mb) {
    l->ops[l->n].kind = kind;
    l->ops[l->n].mb = mb;
    l->n++;
}

/* 1f1b and async: walk the state machine of sm_schedule.h.
 * f = forwards emitted, b = backwards emitted, w = warm-up depth. */
static void one_f_one_b(sm_op_list *l, int S, int M, int s, int async) {
    int w = S - 1 - s < M ? S - 1 - s : M;
    int f = 0, b = 0;
    while (f < w) emit(l, SM_OP_F, f++);                 /* WARMUP */
    while (f < M) {                                      /* STEADY */
        emit(l, SM_OP_F, f++);
        emit(l, SM_OP_B, b++);
        if (async) emit(l, SM_OP_U, -1);
    }
    while (b < M) {                                      /* COOLDOWN */
        emit(l, SM_OP_B, b++);
        if (async) emit(l, SM_OP_U, -1);
    }
    if (!async) emit(l, SM_OP_U, -1);                    /* UPDATE */
}

int sm_schedule_ops(sm_op_list *out, sm_schedule_kind kind, int S, int M, int s) {
    out->n = 0;
    out->ops = NULL;
    int rc = check_shape(kind, S, M);
    if (rc) return rc;
    if (s < 0 || s >= S) return sm_error("schedule: stage %d out of range [0, %d)", s, S);

    int cap = kind == SM_SCHED_ASYNC ? 3 * M : 2 * M + 1;
    out->ops = sm_xmalloc((size_t)cap * sizeof *out->ops);
    switch (kind) {
    case SM_SCHED_SEQUENTIAL:
        for (int m = 0; m < M; m++) {
            emit(out, SM_OP_F, m);
            emit(out, SM_OP_B, m);
        }
        emit(out, SM_OP_U, -1);
        break;
    case SM_SCHED_GPIPE:
        for (int m = 0; m < M; m++) emit(out, SM_OP_F, m);
        for (int m = 0; m < M; m++) emit(out, SM_OP_B, m);
        emit(out, SM_OP_U, -1);
        break;
    case SM_SCHED_1F1B:
    case SM_SCHED_ASYNC:
        one_f_one_b(out, S, M, s, kind == SM_SCHED_ASYNC);
        break;
    }
    return SM_OK;
}

/* ---- timeline -------------------------------------------------------------
 *
 * Event simulation in dataflow order. Each stage keeps a cursor into its list
 * and a clock (end of its last op). A sweep over the stages runs, at each
 * stage, every next op whose dependency has ended; its start is
 * max(stage clock, dependency end + link). Start times do not depend on the
 * order in which ready ops are taken, since each op's start is a function of
 * its stage predecessor and its one dependency only. A sweep that makes no
 * progress before all lists end would be a deadlock (I4 says it cannot happen;
 * it is reported as SM_EFAIL rather than looping).
 */

#define TIMELINE_MAX_PAIRS ((size_t)1 << 26)

static int check_times(const char *what, const double *t, int S) {
    if (!t) return sm_error("schedule timeline: %s times are NULL", what);
    for (int s = 0; s < S; s++)
        if (!isfinite(t[s]) || t[s] < 0)
            return sm_error("schedule timeline: %s time of stage %d must be finite and >= 0, got %g",
                            what, s, t[s]);
    return SM_OK;
}

int sm_schedule_timeline(sm_timeline *out, sm_schedule_kind kind, int S, int M,
                         const double *tf, const double *tb, const double *tu, double link) {
    int rc = check_shape(kind, S, M);
    if (!rc) rc = check_times("forward", tf, S);
    if (!rc) rc = check_times("backward", tb, S);
    if (!rc) rc = check_times("update", tu, S);
    if (rc) return rc;
    if (!isfinite(link) || link < 0)
        return sm_error("schedule timeline: link time must be finite and >= 0, got %g", link);
    size_t pairs = (size_t)S * (size_t)M;
    if (pairs > TIMELINE_MAX_PAIRS)
        return sm_error("schedule timeline: %d stages x %d microbatches is more than %zu pairs",
                        S, M, TIMELINE_MAX_PAIRS);

    sm_op_list *lists = sm_xcalloc((size_t)S, sizeof *lists);
    int *pos = sm_xcalloc((size_t)S, sizeof *pos);
    double *clock = sm_xcalloc((size_t)S, sizeof *clock);
    double *fend = sm_xmalloc(pairs * sizeof *fend);   /* [S][M] end of F m at s, -1 = not yet */
    double *bend = sm_xmalloc(pairs * sizeof *bend);   /* [S][M] end of B m at s */
    for (size_t i = 0; i < pairs; i++) fend[i] = bend[i] = -1;
    size_t remaining = 0;
    for (int s = 0; s < S; s++) {
        sm_schedule_ops(&lists[s], kind, S, M, s);      /* cannot fail: arguments checked */
        remaining += (size_t)lists[s].n;
    }

    double busy = 0;
    int progress = 1;
    while (remaining > 0 && progress) {
        progress = 0;
        for (int s = 0; s < S; s++) {
            while (pos[s] < lists[s].n) {
                sm_op op = lists[s].ops[pos[s]];
                double ready = clock[s], dur = tu[s];
                if (op.kind == SM_OP_F) {
                    dur = tf[s];
                    if (s > 0) {
                        double d = fend[(size_t)(s - 1) * M + op.mb];
                        if (d < 0) break;
                        ready = fmax(ready, d + link);
                    }
                } else if (op.kind == SM_OP_B) {
                    dur = tb[s];
                    double d = s < S - 1 ? bend[(size_t)(s + 1) * M + op.mb]
                                         : fend[(size_t)s * M + op.mb];
                    if (d < 0) break;
                    ready = fmax(ready, s < S - 1 ? d + link : d);
                }
                clock[s] = ready + dur;
                busy += dur;
                if (op.kind == SM_OP_F) fend[(size_t)s * M + op.mb] = clock[s];
                if (op.kind == SM_OP_B) bend[(size_t)s * M + op.mb] = clock[s];
                pos[s]++;
                remaining--;
                progress = 1;
            }
        }
    }

    double makespan = 0;
    for (int s = 0; s < S; s++) makespan = fmax(makespan, clock[s]);
    for (int s = 0; s < S; s++) sm_op_list_free(&lists[s]);
    free(lists);
    free(pos);
    free(clock);
    free(fend);
    free(bend);
    if (remaining > 0)
        return sm_fail("schedule timeline: %s deadlocks with %d stages and %d microbatches",
                       sm_schedule_name(kind), S, M);

    out->makespan = makespan;
    out->busy_fraction = makespan > 0 ? busy / ((double)S * makespan) : 1.0;
    out->bubble_fraction = makespan > 0 ? 1.0 - out->busy_fraction : 0.0;
    return SM_OK;
}
