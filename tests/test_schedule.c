/* test_schedule.c — pipeline/sm_schedule.h without MPI: exact op lists for small
 * cases written out by hand, the invariants I1..I6 of sm_schedule.h for every
 * kind with S in 1..8 and M in 1..12 (deadlock freedom by an independent
 * dataflow executor), the closed forms of the analytic timeline, and bad
 * arguments. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sm_common.h"
#include "sm_schedule.h"

#define MAX_S 8
#define MAX_M 12
static const sm_schedule_kind all_kinds[] = {SM_SCHED_SEQUENTIAL, SM_SCHED_GPIPE, SM_SCHED_1F1B,
                                             SM_SCHED_ASYNC};
#define N_KINDS 4

/* ---- helpers -------------------------------------------------------------- */

/* "F0 F1 B0 U" — the notation of DESIGN.md and docs/schedules.md. */
static void format_ops(char *buf, size_t size, const sm_op_list *l) {
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < l->n && used < size; i++) {
        const sm_op *o = &l->ops[i];
        int k = o->kind == SM_OP_U ? snprintf(buf + used, size - used, "%sU", i ? " " : "")
                                   : snprintf(buf + used, size - used, "%s%c%d", i ? " " : "",
                                              o->kind == SM_OP_F ? 'F' : 'B', o->mb);
        if (k < 0) break;
        used += (size_t)k;
    }
}

static sm_op_list ops_of(sm_schedule_kind kind, int S, int M, int s) {
    sm_op_list l;
    int rc = sm_schedule_ops(&l, kind, S, M, s);
    if (rc) fail_msg("sm_schedule_ops(%s, S=%d, M=%d, s=%d): %s", sm_schedule_name(kind), S, M, s,
                     sm_errmsg());
    return l;
}

static void expect_ops(sm_schedule_kind kind, int S, int M, int s, const char *expected) {
    sm_op_list l = ops_of(kind, S, M, s);
    char got[1024];
    format_ops(got, sizeof got, &l);
    if (strcmp(got, expected) != 0)
        fail_msg("%s S=%d M=%d stage %d:\n  expected %s\n  got      %s", sm_schedule_name(kind), S, M,
                 s, expected, got);
    sm_op_list_free(&l);
}

/* ---- exact lists, by hand ------------------------------------------------- */

static void test_exact_s3_m4(void **state) {
    for (int s = 0; s < 3; s++) {
        expect_ops(SM_SCHED_SEQUENTIAL, 3, 4, s, "F0 B0 F1 B1 F2 B2 F3 B3 U");
        expect_ops(SM_SCHED_GPIPE, 3, 4, s, "F0 F1 F2 F3 B0 B1 B2 B3 U");
    }
    /* warm-up w = 2, 1, 0 */
    expect_ops(SM_SCHED_1F1B, 3, 4, 0, "F0 F1 F2 B0 F3 B1 B2 B3 U");
    expect_ops(SM_SCHED_1F1B, 3, 4, 1, "F0 F1 B0 F2 B1 F3 B2 B3 U");
    expect_ops(SM_SCHED_1F1B, 3, 4, 2, "F0 B0 F1 B1 F2 B2 F3 B3 U");
    expect_ops(SM_SCHED_ASYNC, 3, 4, 0, "F0 F1 F2 B0 U F3 B1 U B2 U B3 U");
    expect_ops(SM_SCHED_ASYNC, 3, 4, 1, "F0 F1 B0 U F2 B1 U F3 B2 U B3 U");
    expect_ops(SM_SCHED_ASYNC, 3, 4, 2, "F0 B0 U F1 B1 U F2 B2 U F3 B3 U");
}

/* S = 4, M = 2: the warm-up min(S-1-s, M) is clipped by M at stages 0 and 1. */
static void test_exact_s4_m2_clipped(void **state) {
    for (int s = 0; s < 4; s++) {
        expect_ops(SM_SCHED_SEQUENTIAL, 4, 2, s, "F0 B0 F1 B1 U");
        expect_ops(SM_SCHED_GPIPE, 4, 2, s, "F0 F1 B0 B1 U");
    }
    expect_ops(SM_SCHED_1F1B, 4, 2, 0, "F0 F1 B0 B1 U"); /* w = 2 = M: no steady state */
    expect_ops(SM_SCHED_1F1B, 4, 2, 1, "F0 F1 B0 B1 U"); /* w = 2 = M */
    expect_ops(SM_SCHED_1F1B, 4, 2, 2, "F0 F1 B0 B1 U"); /* w = 1: one steady pair F1 B0 */
    expect_ops(SM_SCHED_1F1B, 4, 2, 3, "F0 B0 F1 B1 U"); /* w = 0 */
    expect_ops(SM_SCHED_ASYNC, 4, 2, 0, "F0 F1 B0 U B1 U");
    expect_ops(SM_SCHED_ASYNC, 4, 2, 1, "F0 F1 B0 U B1 U");
    expect_ops(SM_SCHED_ASYNC, 4, 2, 2, "F0 F1 B0 U B1 U");
    expect_ops(SM_SCHED_ASYNC, 4, 2, 3, "F0 B0 U F1 B1 U");
}

/* One stage: every pipeline degenerates (1f1b and async to F B pairs). */
static void test_exact_one_stage(void **state) {
    expect_ops(SM_SCHED_SEQUENTIAL, 1, 3, 0, "F0 B0 F1 B1 F2 B2 U");
    expect_ops(SM_SCHED_GPIPE, 1, 3, 0, "F0 F1 F2 B0 B1 B2 U");
    expect_ops(SM_SCHED_1F1B, 1, 3, 0, "F0 B0 F1 B1 F2 B2 U");
    expect_ops(SM_SCHED_ASYNC, 1, 3, 0, "F0 B0 U F1 B1 U F2 B2 U");
}

/* ---- invariants I1, I2, I3, I5, I6 for many (S, M) ------------------------ */

static void check_stage(sm_schedule_kind kind, int S, int M, int s) {
    sm_op_list l = ops_of(kind, S, M, s);
    const char *name = sm_schedule_name(kind);
    int fpos[MAX_M], bpos[MAX_M];
    for (int m = 0; m < M; m++) fpos[m] = bpos[m] = -1;
    int n_u = 0, last_b = -1, fdone = 0, bdone = 0, in_flight = 0;
    for (int i = 0; i < l.n; i++) {
        sm_op o = l.ops[i];
        if (o.kind == SM_OP_U) {
            if (o.mb != -1) fail_msg("%s S=%d M=%d s=%d: U with mb %d", name, S, M, s, o.mb);
            n_u++;
            if (kind == SM_SCHED_ASYNC && (i == 0 || l.ops[i - 1].kind != SM_OP_B))
                fail_msg("%s S=%d M=%d s=%d: U at %d not right after a B", name, S, M, s, i);
            if (kind != SM_SCHED_ASYNC && i != l.n - 1)
                fail_msg("%s S=%d M=%d s=%d: U at %d before the end", name, S, M, s, i);
            continue;
        }
        if (o.mb < 0 || o.mb >= M) fail_msg("%s S=%d M=%d s=%d: mb %d", name, S, M, s, o.mb);
        int *pos = o.kind == SM_OP_F ? fpos : bpos;
        if (pos[o.mb] >= 0) fail_msg("%s S=%d M=%d s=%d: op %d twice", name, S, M, s, o.mb); /* I1 */
        pos[o.mb] = i;
        if (o.kind == SM_OP_F) {
            fdone++;
        } else {
            if (fpos[o.mb] < 0) fail_msg("%s S=%d M=%d s=%d: B%d before F%d", name, S, M, s, o.mb, o.mb);
            if (o.mb != last_b + 1) /* I2: ascending, and no gap */
                fail_msg("%s S=%d M=%d s=%d: B%d after B%d", name, S, M, s, o.mb, last_b);
            last_b = o.mb;
            bdone++;
        }
        if (fdone - bdone > in_flight) in_flight = fdone - bdone;
    }
    for (int m = 0; m < M; m++) /* I1: every F m and B m once */
        if (fpos[m] < 0 || bpos[m] < 0) fail_msg("%s S=%d M=%d s=%d: microbatch %d missing", name, S, M, s, m);
    /* I3 */
    if (kind == SM_SCHED_ASYNC) {
        assert_int_equal(n_u, M);
        assert_int_equal(l.n, 3 * M);
    } else {
        assert_int_equal(n_u, 1);
        assert_int_equal(l.n, 2 * M + 1);
    }
    /* I5, exactly */
    int expect_flight = kind == SM_SCHED_SEQUENTIAL ? 1
                        : kind == SM_SCHED_GPIPE    ? M
                                                    : (S - s < M ? S - s : M);
    if (in_flight != expect_flight)
        fail_msg("%s S=%d M=%d s=%d: %d in flight, expected %d", name, S, M, s, in_flight, expect_flight);
    /* I6: U's between F m and B m */
    for (int m = 0; m < M; m++) {
        int between = 0;
        for (int i = fpos[m] + 1; i < bpos[m]; i++) between += l.ops[i].kind == SM_OP_U;
        int expect = kind == SM_SCHED_ASYNC ? (S - 1 - s < m ? S - 1 - s : m) : 0;
        if (between != expect)
            fail_msg("%s S=%d M=%d s=%d: %d updates between F%d and B%d, expected %d", name, S, M, s,
                     between, m, m, expect);
    }
    sm_op_list_free(&l);
}

static void test_invariants_many(void **state) {
    int checked = 0;
    for (int k = 0; k < N_KINDS; k++)
        for (int S = 1; S <= MAX_S; S++)
            for (int M = 1; M <= MAX_M; M++)
                for (int s = 0; s < S; s++, checked++) check_stage(all_kinds[k], S, M, s);
    printf("  invariants I1-I3, I5, I6 hold for %d (kind, S, M, stage) lists\n", checked);
}

/* ---- I4: no deadlock, by a dataflow executor -------------------------------
 *
 * Independent of the library's timeline: keep a cursor per stage; repeatedly
 * pick a stage whose next op is ready (F m@s needs F m@s-1; B m@s needs B m@s+1,
 * or F m@S-1 at the last stage; U needs nothing) and run it. The choice among
 * ready stages is made by `pick` (0: lowest, 1: highest, 2: pseudo-random), to
 * show the lists complete whatever the executor's order. */

static int dataflow_completes(const sm_op_list *lists, int S, int M, int pick, unsigned seed) {
    int pos[MAX_S] = {0}, total = 0, done_ops = 0;
    unsigned char fdone[MAX_S][MAX_M] = {{0}}, bdone[MAX_S][MAX_M] = {{0}};
    for (int s = 0; s < S; s++) total += lists[s].n;
    for (;;) {
        int ready[MAX_S], n_ready = 0;
        for (int s = 0; s < S; s++) {
            if (pos[s] == lists[s].n) continue;
            sm_op o = lists[s].ops[pos[s]];
            int ok = o.kind == SM_OP_U ||
                     (o.kind == SM_OP_F && (s == 0 || fdone[s - 1][o.mb])) ||
                     (o.kind == SM_OP_B && (s == S - 1 ? fdone[s][o.mb] : bdone[s + 1][o.mb]));
            if (ok) ready[n_ready++] = s;
        }
        if (n_ready == 0) break;
        seed = seed * 1103515245u + 12345u;
        int s = pick == 0 ? ready[0] : pick == 1 ? ready[n_ready - 1] : ready[(seed >> 16) % n_ready];
        sm_op o = lists[s].ops[pos[s]++];
        if (o.kind == SM_OP_F) fdone[s][o.mb] = 1;
        if (o.kind == SM_OP_B) bdone[s][o.mb] = 1;
        done_ops++;
    }
    return done_ops == total;
}

static void test_no_deadlock(void **state) {
    int runs = 0;
    for (int k = 0; k < N_KINDS; k++)
        for (int S = 1; S <= MAX_S; S++)
            for (int M = 1; M <= MAX_M; M++) {
                sm_op_list lists[MAX_S];
                for (int s = 0; s < S; s++) lists[s] = ops_of(all_kinds[k], S, M, s);
                for (int pick = 0; pick < 3; pick++)
                    for (unsigned seed = 1; seed <= (pick == 2 ? 5u : 1u); seed++, runs++)
                        if (!dataflow_completes(lists, S, M, pick, seed))
                            fail_msg("%s S=%d M=%d deadlocks (pick %d seed %u)",
                                     sm_schedule_name(all_kinds[k]), S, M, pick, seed);
                for (int s = 0; s < S; s++) sm_op_list_free(&lists[s]);
            }
    printf("  %d dataflow executions completed, none stuck\n", runs);
}

/* The executor must catch a broken schedule, or the test above proves nothing:
 * stage 0 asking for B0 before it has sent F0 waits forever. */
static void test_dataflow_detects_deadlock(void **state) {
    sm_op first[] = {{SM_OP_B, 0}, {SM_OP_F, 0}, {SM_OP_U, -1}};
    sm_op last[] = {{SM_OP_F, 0}, {SM_OP_B, 0}, {SM_OP_U, -1}};
    sm_op_list lists[2] = {{3, first}, {3, last}};
    for (int pick = 0; pick < 3; pick++) assert_false(dataflow_completes(lists, 2, 1, pick, 1));
}

/* ---- timeline ------------------------------------------------------------- */

static void uniform(double *t, int S, double v) {
    for (int s = 0; s < S; s++) t[s] = v;
}

static void assert_near(double got, double want, const char *what) {
    if (fabs(got - want) > 1e-9 * fmax(1.0, fabs(want)))
        fail_msg("%s: got %.12g, expected %.12g", what, got, want);
}

static sm_timeline timeline(sm_schedule_kind kind, int S, int M, const double *tf, const double *tb,
                            const double *tu, double link) {
    sm_timeline t;
    int rc = sm_schedule_timeline(&t, kind, S, M, tf, tb, tu, link);
    if (rc) fail_msg("timeline %s S=%d M=%d: %s", sm_schedule_name(kind), S, M, sm_errmsg());
    return t;
}

/* Closed forms for equal stages (see docs/schedules.md for the derivations):
 *   sequential  M·(S·(tf+tb) + 2(S-1)·link) + tu
 *   gpipe       (M+S-1)·(tf+tb) + 2(S-1)·link + tu
 *   1f1b        (M+S-1)·(tf+tb) + tu            (link = 0)
 *   async       (M+S-1)·(tf+tb) + M·tu          (link = 0)
 * Times are multiples of 1/8 so most sums are exact; compared to 1e-9 anyway. */
static void test_timeline_closed_forms(void **state) {
    double tf[MAX_S], tb[MAX_S], tu[MAX_S];
    unsigned seed = 7;
    int cases = 0;
    for (int trial = 0; trial < 40; trial++)
        for (int S = 1; S <= MAX_S; S++)
            for (int M = 1; M <= MAX_M; M++, cases++) {
                seed = seed * 1103515245u + 12345u;
                double f = 0.125 * (1 + (seed >> 16) % 8), b = 0.125 * (1 + (seed >> 20) % 16);
                double u = 0.125 * ((seed >> 24) % 4), link = 0.125 * ((seed >> 27) % 4);
                uniform(tf, S, f);
                uniform(tb, S, b);
                uniform(tu, S, u);
                char what[128];
                snprintf(what, sizeof what, "S=%d M=%d tf=%g tb=%g tu=%g link=%g", S, M, f, b, u, link);
                sm_timeline t = timeline(SM_SCHED_SEQUENTIAL, S, M, tf, tb, tu, link);
                assert_near(t.makespan, M * (S * (f + b) + 2 * (S - 1) * link) + u, what);
                t = timeline(SM_SCHED_GPIPE, S, M, tf, tb, tu, link);
                assert_near(t.makespan, (M + S - 1) * (f + b) + 2 * (S - 1) * link + u, what);
                assert_near(t.busy_fraction, S * (M * (f + b) + u) / (S * t.makespan), what);
                t = timeline(SM_SCHED_1F1B, S, M, tf, tb, tu, 0);
                assert_near(t.makespan, (M + S - 1) * (f + b) + u, what);
                t = timeline(SM_SCHED_ASYNC, S, M, tf, tb, tu, 0);
                assert_near(t.makespan, (M + S - 1) * (f + b) + M * u, what);
            }
    printf("  closed forms hold in %d random equal-stage cases\n", cases);
}

/* Unequal stages and links: no closed form, but for every kind
 *   makespan >= the busiest stage's work,
 *   makespan >= one microbatch's round trip + stage 0's last update,
 *   busy_fraction·S·makespan = all work, busy + bubble = 1. */
static void test_timeline_bounds(void **state) {
    double tf[MAX_S], tb[MAX_S], tu[MAX_S];
    unsigned seed = 11;
    for (int trial = 0; trial < 20; trial++)
        for (int S = 1; S <= MAX_S; S++)
            for (int M = 1; M <= MAX_M; M++) {
                double trip = 0, link;
                for (int s = 0; s < S; s++) {
                    seed = seed * 1103515245u + 12345u;
                    tf[s] = 0.01 * (1 + (seed >> 16) % 100);
                    tb[s] = 0.01 * (1 + (seed >> 8) % 200);
                    tu[s] = 0.001 * ((seed >> 24) % 50);
                    trip += tf[s] + tb[s];
                }
                link = 0.005 * (trial % 5);
                trip += 2 * (S - 1) * link + tu[0];
                for (int k = 0; k < N_KINDS; k++) {
                    sm_schedule_kind kind = all_kinds[k];
                    sm_timeline t = timeline(kind, S, M, tf, tb, tu, link);
                    double work = 0, busiest = 0;
                    for (int s = 0; s < S; s++) {
                        double w = M * (tf[s] + tb[s]) + (kind == SM_SCHED_ASYNC ? M : 1) * tu[s];
                        work += w;
                        busiest = fmax(busiest, w);
                    }
                    char what[96];
                    snprintf(what, sizeof what, "%s S=%d M=%d trial %d", sm_schedule_name(kind), S, M, trial);
                    if (t.makespan < busiest - 1e-9 || t.makespan < trip - 1e-9)
                        fail_msg("%s: makespan %g below bound (busiest %g, round trip %g)", what,
                                 t.makespan, busiest, trip);
                    assert_near(t.busy_fraction * S * t.makespan, work, what);
                    assert_near(t.busy_fraction + t.bubble_fraction, 1.0, what);
                    assert_true(t.bubble_fraction >= -1e-12 && t.bubble_fraction < 1.0);
                }
            }
}

/* Zero times: makespan 0, no bubble by convention. */
static void test_timeline_zero(void **state) {
    double z[3] = {0, 0, 0};
    sm_timeline t = timeline(SM_SCHED_1F1B, 3, 4, z, z, z, 0);
    assert_true(t.makespan == 0 && t.busy_fraction == 1.0 && t.bubble_fraction == 0.0);
}

/* K minibatches of M = S microbatches each. gpipe (and 1f1b) flush after every
 * minibatch: K·((2S-1)(tf+tb) + tu). async streams all K·S microbatches with no
 * flush: (KS+S-1)(tf+tb) + KS·tu. The speed-up tends to (2S-1)(tf+tb)+tu over
 * S(tf+tb+tu) as K grows: 1.75 for S=4 when tu=0. */
static void test_async_beats_gpipe(void **state) {
    enum { S = 4 };
    const double f = 1.0, b = 2.0, u = 0.125;
    double tf[S], tb[S], tu[S];
    uniform(tf, S, f);
    uniform(tb, S, b);
    uniform(tu, S, u);
    printf("  S=%d, M=S per minibatch, tf=%g tb=%g tu=%g, link 0\n", S, f, b, u);
    printf("  %4s %12s %12s %12s %9s %9s %9s\n", "K", "gpipe", "1f1b", "async", "speedup",
           "bubble-g", "bubble-a");
    double last = 0;
    for (int K = 1; K <= 32; K *= 2) {
        sm_timeline g = timeline(SM_SCHED_GPIPE, S, S, tf, tb, tu, 0);
        sm_timeline o = timeline(SM_SCHED_1F1B, S, S, tf, tb, tu, 0);
        sm_timeline a = timeline(SM_SCHED_ASYNC, S, K * S, tf, tb, tu, 0);
        double gpipe = K * g.makespan, ofob = K * o.makespan, speedup = gpipe / a.makespan;
        printf("  %4d %12.3f %12.3f %12.3f %9.4f %9.4f %9.4f\n", K, gpipe, ofob, a.makespan, speedup,
               g.bubble_fraction, a.bubble_fraction);
        double expect = K * ((2 * S - 1) * (f + b) + u) / ((K * S + S - 1) * (f + b) + K * S * u);
        assert_near(speedup, expect, "async speed-up over gpipe");
        assert_near(ofob, gpipe, "1f1b equals gpipe with equal stages");
        assert_true(speedup > last); /* grows with K */
        if (K >= 2) assert_true(speedup > 1.0);
        last = speedup;
    }
    double limit = ((2 * S - 1) * (f + b) + u) / (S * (f + b + u));
    printf("  limit K -> inf: %.4f\n", limit);
    assert_true(last < limit);
}

/* ---- names and bad arguments ---------------------------------------------- */

static void test_names(void **state) {
    for (int k = 0; k < N_KINDS; k++) {
        sm_schedule_kind back = (sm_schedule_kind)-1;
        assert_int_equal(sm_schedule_parse(sm_schedule_name(all_kinds[k]), &back), SM_OK);
        assert_int_equal(back, all_kinds[k]);
    }
    assert_string_equal(sm_schedule_name(SM_SCHED_1F1B), "1f1b");
    assert_string_equal(sm_schedule_name((sm_schedule_kind)9), "unknown");
    sm_schedule_kind k = SM_SCHED_GPIPE;
    assert_int_equal(sm_schedule_parse("pipedream", &k), SM_EINPUT);
    assert_non_null(strstr(sm_errmsg(), "'pipedream'"));
    assert_non_null(strstr(sm_errmsg(), "sequential, gpipe, 1f1b or async"));
    assert_int_equal(k, SM_SCHED_GPIPE); /* untouched */
    assert_int_equal(sm_schedule_parse("GPipe", &k), SM_EINPUT);
    assert_int_equal(sm_schedule_parse("", &k), SM_EINPUT);
    assert_int_equal(sm_schedule_parse(NULL, &k), SM_EINPUT);
}

static void expect_ops_error(sm_schedule_kind kind, int S, int M, int s, const char *fragment) {
    sm_op_list l = {7, (sm_op *)&l}; /* garbage that must be replaced by the empty list */
    sm_error_clear();
    assert_int_equal(sm_schedule_ops(&l, kind, S, M, s), SM_EINPUT);
    assert_int_equal(l.n, 0);
    assert_null(l.ops);
    if (!strstr(sm_errmsg(), fragment)) fail_msg("message '%s' lacks '%s'", sm_errmsg(), fragment);
    sm_op_list_free(&l);
}

static void test_bad_arguments(void **state) {
    expect_ops_error(SM_SCHED_GPIPE, 0, 4, 0, "stages must be >= 1, got 0");
    expect_ops_error(SM_SCHED_GPIPE, -3, 4, 0, "got -3");
    expect_ops_error(SM_SCHED_1F1B, 3, 0, 0, "microbatches must be in [1,");
    expect_ops_error(SM_SCHED_1F1B, 3, SM_SCHEDULE_MAX_MICROBATCHES + 1, 0, "microbatches");
    expect_ops_error(SM_SCHED_ASYNC, 3, 4, -1, "stage -1 out of range [0, 3)");
    expect_ops_error(SM_SCHED_ASYNC, 3, 4, 3, "stage 3 out of range [0, 3)");
    expect_ops_error((sm_schedule_kind)4, 3, 4, 0, "unknown kind 4");
    expect_ops_error((sm_schedule_kind)-1, 3, 4, 0, "unknown kind -1");

    double ok[2] = {1, 1}, neg[2] = {1, -1}, nan2[2] = {1, NAN}, inf2[2] = {INFINITY, 1};
    sm_timeline t = {42, 42, 42};
    struct {
        sm_schedule_kind kind;
        int S, M;
        const double *tf, *tb, *tu;
        double link;
        const char *fragment;
    } bad[] = {
        {SM_SCHED_GPIPE, 0, 4, ok, ok, ok, 0, "stages"},
        {SM_SCHED_GPIPE, 2, 0, ok, ok, ok, 0, "microbatches"},
        {(sm_schedule_kind)5, 2, 4, ok, ok, ok, 0, "unknown kind"},
        {SM_SCHED_GPIPE, 2, 4, NULL, ok, ok, 0, "forward times are NULL"},
        {SM_SCHED_GPIPE, 2, 4, ok, NULL, ok, 0, "backward times are NULL"},
        {SM_SCHED_GPIPE, 2, 4, ok, ok, NULL, 0, "update times are NULL"},
        {SM_SCHED_GPIPE, 2, 4, neg, ok, ok, 0, "forward time of stage 1 must be finite and >= 0, got -1"},
        {SM_SCHED_GPIPE, 2, 4, ok, nan2, ok, 0, "backward time of stage 1"},
        {SM_SCHED_GPIPE, 2, 4, ok, ok, inf2, 0, "update time of stage 0"},
        {SM_SCHED_GPIPE, 2, 4, ok, ok, ok, -0.5, "link time must be finite and >= 0, got -0.5"},
        {SM_SCHED_GPIPE, 2, 4, ok, ok, ok, NAN, "link time"},
        {SM_SCHED_GPIPE, 2, 1 << 26, ok, ok, ok, 0, "pairs"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sm_error_clear();
        int rc = sm_schedule_timeline(&t, bad[i].kind, bad[i].S, bad[i].M, bad[i].tf, bad[i].tb,
                                      bad[i].tu, bad[i].link);
        if (rc != SM_EINPUT) fail_msg("bad timeline case %zu: rc %d", i, rc);
        if (!strstr(sm_errmsg(), bad[i].fragment))
            fail_msg("bad timeline case %zu: message '%s' lacks '%s'", i, sm_errmsg(), bad[i].fragment);
        assert_true(t.makespan == 42); /* untouched */
    }

    sm_op_list_free(NULL); /* harmless */
    sm_op_list l = ops_of(SM_SCHED_GPIPE, 2, 2, 0);
    sm_op_list_free(&l);
    sm_op_list_free(&l); /* twice: the first left the empty list */
    assert_int_equal(l.n, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_s3_m4),
        cmocka_unit_test(test_exact_s4_m2_clipped),
        cmocka_unit_test(test_exact_one_stage),
        cmocka_unit_test(test_invariants_many),
        cmocka_unit_test(test_no_deadlock),
        cmocka_unit_test(test_dataflow_detects_deadlock),
        cmocka_unit_test(test_timeline_closed_forms),
        cmocka_unit_test(test_timeline_bounds),
        cmocka_unit_test(test_timeline_zero),
        cmocka_unit_test(test_async_beats_gpipe),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
