/* test_soak.c — the load test of issue 5 (docs/errors.md, "Load"): 64 ranks,
 * oversubscribed on whatever cores there are, train a small model for 8 epochs
 * starting from a random placement, with the sa placer re-placing after every
 * epoch (and migrating LC state when it pays). The run must finish, and:
 *
 *   - no lost or duplicated message: every epoch, the bytes measured per core
 *     pair equal the analytic prediction of the placement used, exactly;
 *   - no leak: from epoch 3 on (once Open MPI has opened its connections and
 *     grown its free lists), over the epochs that follow an epoch with no
 *     migration, the bytes malloc has handed out on each rank
 *     (/stats/core_heap_bytes: ours, Open MPI's, libhdf5's) grow by at most
 *     128 KiB in all; rank 0 may also grow by the per-epoch rows it keeps for
 *     metrics.h5 and by 16 KiB per epoch for libhdf5 (1.10.8 keeps 2-7 KiB
 *     per file written, with no identifier left open: BENCHMARKS.md). An epoch
 *     after a migration is left out: the new traffic pattern makes Open MPI
 *     open connections and grow its free lists (up to ~150 KiB at a time,
 *     then flat). At least 3 such epochs must remain to judge;
 *   - each rank's arena (its LCs' state) is the same in every epoch run on the
 *     same placement, and at least one migration happened.
 *
 * Resident memory is printed for the record, not checked: the private part
 * also holds the allocator's slack, and the shared part (Open MPI's transport
 * segments) grows as their pages get touched. Unreachable leaks are
 * LeakSanitizer's job in the sanitizer build.
 */
#include "cli_util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sm_common.h"

enum { RANKS = 64, EPOCHS = 8, BASE = 2 /* epoch index the growth is measured from */ };

static const char *CONFIG =
    "# the soak of test_soak.c: 64 LCs of a small network on an 8x8 mesh\n"
    "seed: 5\n"
    "model:\n"
    "  input: [1, 4, 4]\n"
    "  time_steps: 8\n"
    "  encoder: direct\n"
    "  layers: [{type: dense, out: 64}, {type: dense, out: 48}, {type: dense, out: 4}]\n"
    "train: {epochs: 8, batch: 32, eval_batch: 64, loss: ce_count, optimizer: adam, lr: 2.0e-3,\n"
    "        checkpoint_every: 1}\n"
    "pipeline: {schedule: 1f1b, microbatches: 4}\n"
    "partition: {max_lcs: 64}\n"
    "chip: {mesh_w: 8, mesh_h: 8, compute: flops, hop_latency: 1.0e-12}\n"
    "placement: {method: sa, every: 1, budget: 300}\n"
    "data: {source: synthetic, synthetic_train: 512, synthetic_test: 64}\n";

static char tiny[4096];

static int group_setup(void **state) {
    (void)state;
    return cli_setup("test_soak", tiny);
}
static int group_teardown(void **state) {
    (void)state;
    cli_teardown();
    return 0;
}

/* A float64 dataset of metrics.h5 with `want` elements, malloc'd. */
static double *read_doubles(hid_t f, const char *name, size_t want) {
    hsize_t dims[8];
    int rank = h5_read(f, name, H5T_NATIVE_DOUBLE, NULL, dims);
    size_t n = 1;
    for (int k = 0; k < rank; k++) n *= dims[k];
    if (n != want) fail_msg("%s holds %zu values, expected %zu", name, n, want);
    double *v = malloc(sizeof *v * n);
    h5_read(f, name, H5T_NATIVE_DOUBLE, v, dims);
    return v;
}

static void test_soak_64_ranks(void **state) {
    (void)state;
    char cfg[4200], bad[4200], dir[4200], metrics[4300], pset[4300];
    tpath(cfg, "soak64.yaml");
    tpath(bad, "soak64-random.h5");
    tpath(dir, "soak64");
    write_text(cfg, "%s", CONFIG);
    /* a random start, so that the placer has something to improve */
    run("place", "-c", cfg, "--method", "random", "--budget", "1", "--seed", "7", "--out", bad, NULL);
    EXPECT_OUT(0, "random");
    snprintf(pset, sizeof pset, "placement.file=%s", bad);
    run_mpi(RANKS, "train", "-c", cfg, "-q", "--set", pset, "--out", dir, NULL);
    EXPECT_OUT(0, "epoch 8/8", "measured traffic equals the prediction");
    assert_null(strstr(R.out, "DIFFERS"));

    snprintf(metrics, sizeof metrics, "%s/metrics.h5", dir);
    hid_t f = h5_open(metrics);
    const size_t E = EPOCHS, P = RANKS, n = RANKS;
    double *match = read_doubles(f, "/traffic_matches_prediction", E);
    double *migrated = read_doubles(f, "/migrated_lcs", E);
    double *priv = read_doubles(f, "/stats/core_private_bytes", E * P);
    double *heap = read_doubles(f, "/stats/core_heap_bytes", E * P);
    double *rss = read_doubles(f, "/stats/core_rss_bytes", E * P);
    double *arena = read_doubles(f, "/stats/core_peak_bytes", E * P);
    int32_t *place = malloc(sizeof *place * E * n);
    hsize_t dims[8];
    h5_read(f, "/stats/placement", H5T_NATIVE_INT32, place, dims);
    H5Fclose(f);

    /* what rank 0 keeps per epoch for metrics.h5: the /stats rows */
    const double stats_row = 8.0 * (double)(n + 4 * P + 3 * P * P + n * n) + 4.0 * (double)(n + 1);
    int moves = 0, ok = 1, clean = 0;
    double *steady = calloc(P, sizeof *steady); /* per rank: heap growth over the epochs after no migration */
    printf("epoch  traffic  migrated  heap growth since epoch %d  private growth   rss max  arena max\n"
           "                           max rank>0     rank 0      max rank>0\n", BASE + 1);
    for (size_t e = 0; e < E; e++) {
        double grow = -INFINITY, grow_priv = -INFINITY, rss_max = 0, arena_max = 0;
        for (size_t r = 1; r < P; r++) {
            grow = fmax(grow, heap[e * P + r] - heap[BASE * P + r]);
            grow_priv = fmax(grow_priv, priv[e * P + r] - priv[BASE * P + r]);
        }
        for (size_t r = 0; r < P; r++) rss_max = fmax(rss_max, rss[e * P + r]), arena_max = fmax(arena_max, arena[e * P + r]);
        const double grow0 = heap[e * P] - heap[BASE * P];
        printf("%5zu  %7s  %8.0f  %+10.1f KiB %+10.1f KiB  %+10.0f KiB  %6.1f MiB  %7.0f B\n", e + 1,
               match[e] == 1 ? "exact" : "DIFFERS", migrated[e], grow / 1024, grow0 / 1024, grow_priv / 1024,
               rss_max / 1048576, arena_max);
        if (match[e] != 1) ok = 0, print_error("epoch %zu: traffic differs from the prediction\n", e + 1);
        moves += migrated[e] > 0;
        for (size_t r = 0; r < P; r++)
            if (heap[e * P + r] <= 0 || priv[e * P + r] <= 0) ok = 0, print_error("no heap or /proc figure\n");
        if (e > BASE && migrated[e - 1] == 0) { /* no migration since the last figure */
            clean++;
            for (size_t r = 0; r < P; r++) steady[r] += heap[e * P + r] - heap[(e - 1) * P + r];
        }
        if (e > 0 && !memcmp(place + e * n, place + (e - 1) * n, sizeof *place * n))
            for (size_t r = 0; r < P; r++)
                if (arena[e * P + r] != arena[(e - 1) * P + r])
                    ok = 0, print_error("epoch %zu: rank %zu's arena changed on the same placement\n", e + 1, r);
    }
    if (!moves) ok = 0, print_error("no re-placement migrated anything\n");
    if (clean < 3) ok = 0, print_error("only %d epochs after one without a migration: too few to judge\n", clean);
    double most = 0;
    for (size_t r = 1; r < P; r++) {
        most = fmax(most, steady[r]);
        if (steady[r] > 128 * 1024) ok = 0, print_error("rank %zu's heap grew by %.0f bytes\n", r, steady[r]);
    }
    if (steady[0] > (stats_row + 16 * 1024) * clean + 128 * 1024)
        ok = 0, print_error("rank 0's heap grew by %.0f bytes over %d epochs\n", steady[0], clean);
    printf("heap growth over the %d epochs after no migration: rank 0 %+.1f KiB, largest other %+.1f KiB\n", clean,
           steady[0] / 1024, most / 1024);
    free(steady);
    free(match); free(migrated); free(priv); free(heap); free(rss); free(arena); free(place);
    assert_true(ok);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_soak_64_ranks),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
