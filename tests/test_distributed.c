/* test_distributed.c — the pipeline executor over MPI, run by ctest under
 * mpirun with 1, 2 and 4 ranks (-np1, -np2, -np4). Every check compares with
 * an independent single-process computation, bit for bit:
 *   - sequential, gpipe, 1f1b and async (stash on/off) equal the reference
 *     executor (pipeline/reference.c, no comm/);
 *   - the same run under several placements (sequential, random, all on
 *     rank 0) and under 20 random placements finishes with the same bits;
 *   - measured payload bytes per core pair equal the analytic count;
 *   - migrating every LC mid-training changes no bit;
 *   - each rank's arena holds exactly the bytes the partition and the placer
 *     count for its LCs, and a placement that overflows a core is refused.
 * A verdict is reduced over the ranks before it is asserted, and a failure
 * aborts the job (CMOCKA_TEST_ABORT=1), so no rank waits forever. */
#include <mpi.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sm_comm.h"
#include "sm_common.h"
#include "sm_config.h"
#include "sm_data.h"
#include "sm_executor.h"
#include "sm_migrate.h"
#include "sm_partition.h"
#include "sm_placement.h"
#include "sm_reference.h"
#include "sm_rng.h"

static int rank, size;

static const char *CONFIG =
    "seed: 21\n"
    "model: {input: [1, 8, 8], time_steps: 5, beta: 0.9, init_gain: 2,\n"
    "        layers: [{type: conv2d, out: 4, kernel: 3, padding: 1, pool: max, lcs: 2},\n"
    "                 {type: dense, out: 16, lcs: 3}, {type: dense, out: 4}]}\n"
    "train: {batch: 32, lr: 5.0e-3, lr_schedule: cosine}\n"
    "chip: {mesh_w: 2, mesh_h: 2}\n";

static void build(sm_model *m, const char *const *sets) {
    sm_cfg *cfg;
    if (sm_cfg_load_string(&cfg, CONFIG, "test")) fail_msg("%s", sm_errmsg());
    for (int i = 0; sets && sets[i]; i++)
        if (sm_cfg_set(cfg, sets[i])) fail_msg("%s", sm_errmsg());
    if (sm_model_from_config(m, cfg) || sm_cfg_check_unused(cfg)) fail_msg("%s", sm_errmsg());
    sm_cfg_free(cfg);
}

static sm_dataset data;

/* All ranks agree, or the test fails on all of them. */
static void assert_all(int ok, const char *what) {
    int all = 0;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (!all) fail_msg("%s (rank %d saw %s)", what, rank, ok ? "ok" : "the failure");
}

/* Train `epochs` epochs with the executor under lc_core (NULL = sequential);
 * optionally migrate to `migrate_to` after epoch `migrate_after`. On return
 * rank 0 holds every LC's state. */
static void run_executor(sm_model *m, const int32_t *lc_core, int epochs, int migrate_after,
                         const int32_t *migrate_to, sm_epoch_stats *last) {
    sm_comm c;
    assert_int_equal(sm_comm_init(&c, MPI_COMM_WORLD, &m->chip, m->n_lcs), SM_OK);
    int32_t *p = sm_xcalloc((size_t)m->n_lcs, sizeof(int32_t));
    if (lc_core) memcpy(p, lc_core, sizeof(int32_t) * (size_t)m->n_lcs);
    else sm_place_sequential(p, m->n_lcs, size);
    assert_int_equal(sm_comm_set_placement(&c, p), SM_OK);
    sm_executor *e;
    if (sm_executor_new(&e, m, &c, &data)) fail_msg("%s", sm_errmsg());
    long total = sm_executor_steps_per_epoch(e) * epochs;
    for (int epoch = 0; epoch < epochs; epoch++) {
        sm_epoch_stats st;
        assert_int_equal(sm_executor_epoch(e, epoch, total, &st, NULL, NULL), SM_OK);
        if (last && rank == 0) { /* copy the matrices the test reads */
            *last = st;
            size_t R = (size_t)size;
            last->core_bytes = sm_xcalloc(R * R, sizeof(double));
            memcpy(last->core_bytes, st.core_bytes, sizeof(double) * R * R);
            last->core_peak_bytes = sm_xcalloc(R, sizeof(double));
            memcpy(last->core_peak_bytes, st.core_peak_bytes, sizeof(double) * R);
            last->lc_compute = last->core_messages = last->lc_bytes = last->core_rss_bytes = last->core_private_bytes = last->core_heap_bytes = NULL;
        }
        if (epoch == migrate_after) {
            sm_migration rep;
            /* the executor's local LC list follows the placement: rebuild it */
            sm_executor_free(e);
            assert_int_equal(sm_migrate(&c, m, migrate_to, &rep), SM_OK);
            if (sm_executor_new(&e, m, &c, &data)) fail_msg("%s", sm_errmsg());
        }
    }
    sm_executor_free(e);
    assert_int_equal(sm_gather_state(&c, m, 0), SM_OK);
    sm_comm_free(&c);
    free(p);
}

/* Rank 0: do the two models hold the same bits (parameters and moments)? */
static int same_bits(const sm_model *a, const sm_model *b) {
    for (int i = 0; i < a->n_lcs; i++) {
        const sm_lc *x = &a->lcs[i], *y = &b->lcs[i];
        size_t n = sizeof(float) * x->n_param;
        if (memcmp(x->param, y->param, n) || memcmp(x->opt_m, y->opt_m, n) ||
            memcmp(x->opt_v, y->opt_v, n) || x->step != y->step) {
            print_error("LC %d differs (steps %ld vs %ld)\n", i, x->step, y->step);
            return 0;
        }
    }
    return 1;
}

/* Rank 0: the reference result for the given overrides. */
static void reference(sm_model *ref, const char *const *sets, int epochs) {
    build(ref, sets);
    long total = sm_reference_steps_per_epoch(ref, &data) * epochs;
    for (int epoch = 0; epoch < epochs; epoch++)
        assert_int_equal(sm_reference_epoch(ref, &data, epoch, total), SM_OK);
}

static void check_schedule(const char *const *sets, const int32_t *placement, const char *what) {
    sm_model m, ref;
    build(&m, sets);
    run_executor(&m, placement, 2, -1, NULL, NULL);
    int ok = 1;
    if (rank == 0) {
        reference(&ref, sets, 2);
        ok = same_bits(&m, &ref);
        assert_true(m.lcs[0].step > 0);
        sm_model_free(&ref);
    }
    assert_all(ok, what);
    sm_model_free(&m);
}

static void test_sync_schedules_match_reference(void **state) {
    (void)state;
    const char *seq[] = {"pipeline.schedule=sequential", "pipeline.microbatches=4", NULL};
    const char *gp[] = {"pipeline.schedule=gpipe", "pipeline.microbatches=4", NULL};
    const char *f1[] = {"pipeline.schedule=1f1b", "pipeline.microbatches=4", NULL};
    check_schedule(seq, NULL, "sequential differs from the reference");
    check_schedule(gp, NULL, "gpipe differs from the reference");
    check_schedule(f1, NULL, "1f1b differs from the reference");
}

static void test_async_matches_reference(void **state) {
    (void)state;
    const char *stash[] = {"pipeline.schedule=async", "pipeline.microbatches=4", "pipeline.stash=true", NULL};
    const char *latest[] = {"pipeline.schedule=async", "pipeline.microbatches=4", "pipeline.stash=false", NULL};
    check_schedule(stash, NULL, "async (stash) differs from the reference");
    check_schedule(latest, NULL, "async (no stash) differs from the reference");
}

static void random_placement(int32_t *p, int n, uint64_t seed) {
    for (int i = 0; i < n; i++)
        p[i] = (int32_t)(sm_rng_uniform(seed, 77, 0, (uint64_t)i) * size) % size;
}

static void test_placements(void **state) {
    (void)state;
    const char *gp[] = {"pipeline.schedule=gpipe", "pipeline.microbatches=4", NULL};
    const char *as[] = {"pipeline.schedule=async", "pipeline.microbatches=2", NULL};
    int32_t p[6];
    random_placement(p, 6, 5);
    check_schedule(gp, p, "gpipe under a random placement");
    check_schedule(as, p, "async under a random placement");
    memset(p, 0, sizeof p); /* everything on rank 0 */
    check_schedule(gp, p, "gpipe with all LCs on rank 0");
    check_schedule(as, p, "async with all LCs on rank 0");
}

static void test_random_placements_finish(void **state) {
    (void)state;
    const char *sets[] = {"pipeline.schedule=1f1b", "pipeline.microbatches=4", NULL};
    sm_model ref;
    if (rank == 0) reference(&ref, sets, 1);
    for (int trial = 0; trial < 20; trial++) {
        sm_model m;
        build(&m, sets);
        int32_t p[6];
        random_placement(p, 6, 1000 + (uint64_t)trial);
        run_executor(&m, p, 1, -1, NULL, NULL);
        int ok = rank != 0 || same_bits(&m, &ref);
        char what[64];
        snprintf(what, sizeof what, "random placement %d changed the result", trial);
        assert_all(ok, what);
        sm_model_free(&m);
    }
    if (rank == 0) sm_model_free(&ref);
}

/* Payload bytes per core pair for one epoch, from the partition alone. */
static void analytic_traffic(const sm_model *m, const int32_t *p, double *bytes) {
    const int Bm = m->train.batch / m->pipeline.microbatches;
    const long micro = (data.n / m->train.batch) * m->pipeline.microbatches;
    const size_t TB = (size_t)m->T * Bm;
    memset(bytes, 0, sizeof(double) * (size_t)size * size);
    for (int l = 0; l + 1 < m->n_layers; l++) {
        const sm_layer *L = &m->layers[l], *N = &m->layers[l + 1];
        for (int i = L->first_lc; i < L->first_lc + L->n_lc; i++) {
            const sm_lc *a = &m->lcs[i];
            size_t block = (size_t)(a->o1 - a->o0) * L->out_h * L->out_w;
            for (int k = N->first_lc; k < N->first_lc + N->n_lc; k++) {
                if (p[i] == p[k]) continue;
                bytes[p[i] * size + p[k]] += (double)micro * ((TB * block + 7) / 8);   /* spikes, bits */
                /* float32 partials: the product [TB, block], or its factors when smaller */
                const double rows_k = m->lcs[k].o1 - m->lcs[k].o0;
                double product = (double)TB * block, factors = (double)TB * rows_k + rows_k * block;
                bytes[p[k] * size + p[i]] += (double)micro * 4.0 * (factors < product ? factors : product);
            }
        }
    }
}

static void test_traffic_is_analytic(void **state) {
    (void)state;
    const char *sets[] = {"pipeline.schedule=gpipe", "pipeline.microbatches=4", NULL};
    sm_model m;
    build(&m, sets);
    int32_t p[6];
    for (int i = 0; i < 6; i++) p[i] = (int32_t)((3 * i + 1) % size); /* neighbours on other cores */
    sm_epoch_stats st;
    run_executor(&m, p, 1, -1, NULL, &st);
    int ok = 1;
    if (rank == 0) {
        double *want = sm_xcalloc((size_t)size * size, sizeof(double));
        analytic_traffic(&m, p, want);
        for (int i = 0; i < size * size; i++)
            if (want[i] != st.core_bytes[i]) {
                print_error("core %d -> %d: measured %.0f bytes, analytic %.0f\n", i / size, i % size,
                            st.core_bytes[i], want[i]);
                ok = 0;
            }
        if (size > 1 && st.forward_bytes <= 0) ok = 0; /* the check saw real traffic */
        free(want);
        free(st.core_bytes);
        free(st.core_peak_bytes);
    }
    assert_all(ok, "measured traffic differs from the analytic count");
    sm_model_free(&m);
}

static void test_migration_changes_nothing(void **state) {
    (void)state;
    const char *sets[] = {"pipeline.schedule=1f1b", "pipeline.microbatches=4", NULL};
    sm_model moved, ref;
    build(&moved, sets);
    int32_t to[6];
    for (int i = 0; i < 6; i++) to[i] = (int32_t)((i + 1) % size); /* every LC to another core */
    run_executor(&moved, NULL, 2, 0, to, NULL);
    int ok = 1;
    if (rank == 0) {
        reference(&ref, sets, 2);
        ok = same_bits(&moved, &ref);
        sm_model_free(&ref);
    }
    assert_all(ok, "a migration after epoch 1 changed the result");
    sm_model_free(&moved);
}

/* Spikes survive packing: bit i of the stream is bits[i/8] >> (i%8) & 1. */
/* M2 of sm_executor.h: after an epoch (every slot has been in flight) rank r's
 * arena use is Σ sm_lc_state_bytes over its LCs, to the byte, under every
 * schedule; the placer's per-LC memory is that same figure. */
static void test_arena_holds_the_counted_bytes(void **state) {
    (void)state;
    static const char *const scheds[][3] = {
        {"pipeline.schedule=sequential", NULL}, {"pipeline.schedule=gpipe", "pipeline.microbatches=4", NULL},
        {"pipeline.schedule=1f1b", "pipeline.microbatches=4", NULL},
        {"pipeline.schedule=async", "pipeline.microbatches=2", NULL}, /* fewer microbatches than stages */
    };
    for (size_t k = 0; k < sizeof scheds / sizeof scheds[0]; k++) {
        sm_model m;
        build(&m, scheds[k]);
        int32_t *p = sm_xcalloc((size_t)m.n_lcs, sizeof(int32_t));
        for (int i = 0; i < m.n_lcs; i++) p[i] = (i * 7 + 3) % size; /* not sequential */
        sm_epoch_stats st = {0};
        run_executor(&m, p, 1, -1, NULL, &st);
        int ok = 1;
        if (rank == 0) {
            for (int r = 0; r < size; r++) {
                double want = 0;
                for (int i = 0; i < m.n_lcs; i++) if (p[i] == r) want += sm_lc_state_bytes(&m, i);
                if (st.core_peak_bytes[r] != want) {
                    print_error("%s: rank %d arena %.0f bytes, counted %.0f\n", scheds[k][0], r,
                                st.core_peak_bytes[r], want);
                    ok = 0;
                }
            }
            free(st.core_bytes);
            free(st.core_peak_bytes);
        }
        assert_all(ok, "arena use equals the counted state bytes");
        free(p);
        sm_model_free(&m);
    }
}

/* A placement whose core cannot hold its LCs is refused before anything runs,
 * with the core, its LCs and the bytes named; one byte more and it runs. */
static void test_memory_overflow_refused(void **state) {
    (void)state;
    sm_model m;
    build(&m, NULL);
    int32_t *p = sm_xcalloc((size_t)m.n_lcs, sizeof(int32_t)); /* everything on core 0 */
    double total = 0;
    for (int i = 0; i < m.n_lcs; i++) total += sm_lc_state_bytes(&m, i);
    m.chip.core_memory = total - 1;
    assert_int_equal(sm_executor_check_memory(&m, p, size), SM_EINPUT);
    const char *msg = sm_errmsg();
    char bytes[64];
    snprintf(bytes, sizeof bytes, "%.0f bytes", total);
    int ok = strstr(msg, "core 0 (0,0)") && strstr(msg, "LCs 0 (0_conv2d), 1 (0_conv2d), 2 (1_dense)") &&
             strstr(msg, bytes) && strstr(msg, "chip.core_memory");
    if (!ok) print_error("message: %s\n", msg);
    sm_comm c;
    assert_int_equal(sm_comm_init(&c, MPI_COMM_WORLD, &m.chip, m.n_lcs), SM_OK);
    assert_int_equal(sm_comm_set_placement(&c, p), SM_OK);
    sm_executor *e = NULL;
    ok = ok && sm_executor_new(&e, &m, &c, &data) == SM_EINPUT && !e;
    m.chip.core_memory = total; /* exactly enough */
    ok = ok && sm_executor_check_memory(&m, p, size) == SM_OK;
    ok = ok && sm_executor_new(&e, &m, &c, &data) == SM_OK;
    if (e) {
        sm_epoch_stats st;
        ok = ok && sm_executor_epoch(e, 0, sm_executor_steps_per_epoch(e), &st, NULL, NULL) == SM_OK;
        if (rank == 0) ok = ok && st.core_peak_bytes[0] == total;
        sm_executor_free(e);
    }
    sm_comm_free(&c);
    assert_all(ok, "an overflowing placement is refused, one that fits runs");
    free(p);
    sm_model_free(&m);
}

static void test_spike_packing(void **state) {
    (void)state;
    const size_t lengths[] = {0, 1, 7, 8, 9, 63, 1000, 1003};
    for (size_t t = 0; t < sizeof lengths / sizeof lengths[0]; t++) {
        size_t n = lengths[t];
        float *spk = sm_falloc(n + 1), *back = sm_falloc(n + 1);
        uint8_t *bits = sm_xcalloc(sm_spike_bytes(n) + 1, 1);
        for (size_t i = 0; i < n; i++) spk[i] = sm_rng_uniform(3, 9, t, i) < 0.3f ? 1.0f : 0.0f;
        sm_pack_spikes(bits, spk, n);
        for (size_t i = 0; i < n; i++) assert_int_equal((bits[i / 8] >> (i % 8)) & 1, spk[i] != 0.0f);
        sm_unpack_spikes(back, bits, n);
        if (n) assert_memory_equal(back, spk, sizeof(float) * n);
        assert_int_equal(sm_spike_bytes(n), (n + 7) / 8);
        free(spk); free(back); free(bits);
    }
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    sm_synthetic(&data, 160, 1, 8, 8, 0, 4, 8); /* 5 minibatches of 32 */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spike_packing),
        cmocka_unit_test(test_sync_schedules_match_reference),
        cmocka_unit_test(test_async_matches_reference),
        cmocka_unit_test(test_placements),
        cmocka_unit_test(test_random_placements_finish),
        cmocka_unit_test(test_traffic_is_analytic),
        cmocka_unit_test(test_migration_changes_nothing),
        cmocka_unit_test(test_arena_holds_the_counted_bytes),
        cmocka_unit_test(test_memory_overflow_refused),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    sm_dataset_free(&data);
    MPI_Finalize();
    return failed;
}
