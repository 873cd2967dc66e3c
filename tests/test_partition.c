/* test_partition.c — the partitioner (train/partition.c): its cost formulas
 * against hand-computed values, and its decisions on the shipped configs.
 *
 * Models are built through sm_model_from_config, which reads the `lcs` keys
 * (setting n_lc_fixed) and calls sm_partition before cutting the layers, so
 * these tests see what `spikemesh train` would run.
 *
 * What is achievable for compute balance: the output layer is one LC, so the
 * max/mean imbalance over ALL LCs is at least (output LC flops)/(mean), which
 * for fmnist_mlp is ~4.9 on a 4x4 chip (the output layer runs T*B rows, the
 * static first layer only B). The bound we assert is therefore: the LCs the
 * partitioner cut (free, non-output layers) are within 2x of their mean, and
 * the whole model is within 2x unless its largest LC is the pinned output LC.
 * 2x is the integer-row limit: a layer whose quota is just under 2 LCs gets 1,
 * and 64 channels on 62 LCs leave two LCs with 2 rows.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sm_common.h"
#include "sm_config.h"
#include "sm_model.h"
#include "sm_partition.h"

/* The input_static flag the config reader passes: the direct encoder on
 * static data (no config here feeds events; m->data.source points into the
 * config, which is freed once the model is built). */
static int input_static_of(const sm_model *m) { return m->encoder == SM_ENCODE_DIRECT; }

/* Build from a config file under configs/ (or from text when `text` is set)
 * with NULL-terminated --set overrides. Returns the reader's code; on error
 * the model is left empty. */
static int build_v(sm_model *m, const char *file, const char *text, va_list ap) {
    sm_cfg *cfg;
    if (file) {
        const char *src = getenv("SPIKEMESH_SOURCE_DIR");
        char path[1024];
        snprintf(path, sizeof path, "%s/configs/%s", src ? src : ".", file);
        if (sm_cfg_load(&cfg, path)) fail_msg("%s", sm_errmsg());
    } else {
        if (sm_cfg_load_string(&cfg, text, "test")) fail_msg("%s", sm_errmsg());
    }
    for (const char *set; (set = va_arg(ap, const char *));)
        if (sm_cfg_set(cfg, set)) fail_msg("%s", sm_errmsg());
    int rc = sm_model_from_config(m, cfg);
    if (rc == SM_OK) assert_int_equal(sm_cfg_check_unused(cfg), SM_OK);
    sm_cfg_free(cfg);
    return rc;
}

static int try_build(sm_model *m, const char *file, ...) {
    va_list ap;
    va_start(ap, file);
    int rc = build_v(m, file, NULL, ap);
    va_end(ap);
    return rc;
}

static void build(sm_model *m, const char *file, ...) {
    va_list ap;
    va_start(ap, file);
    int rc = build_v(m, file, NULL, ap);
    va_end(ap);
    if (rc) fail_msg("%s", sm_errmsg());
}

static void build_text(sm_model *m, const char *text, ...) {
    va_list ap;
    va_start(ap, text);
    int rc = build_v(m, NULL, text, ap);
    va_end(ap);
    if (rc) fail_msg("%s", sm_errmsg());
}

static void assert_n_lc(const sm_model *m, const int *want) {
    for (int l = 0; l < m->n_layers; l++)
        if (m->layers[l].n_lc != want[l])
            fail_msg("layer %s: n_lc %d, expected %d", m->layers[l].name, m->layers[l].n_lc,
                     want[l]);
}

/* The LCs built by sm_model_build_lcs are the slices the partitioner costed,
 * and each fits chip.core_memory. */
static void assert_built_and_fitting(const sm_model *m) {
    const int st = input_static_of(m);
    int total = 0;
    for (int l = 0; l < m->n_layers; l++) total += m->layers[l].n_lc;
    assert_int_equal(m->n_lcs, total);
    for (int id = 0; id < m->n_lcs; id++) {
        const sm_lc *lc = &m->lcs[id];
        const sm_layer *L = &m->layers[lc->layer];
        int o0, o1;
        sm_partition_slice(L->out, L->n_lc, id - L->first_lc, &o0, &o1);
        assert_int_equal(lc->o0, o0);
        assert_int_equal(lc->o1, o1);
        sm_lc_cost c = sm_lc_cost_of(m, lc->layer, o1 - o0, sm_micro_batch(m),
                                     sm_in_flight(m, lc->layer), st);
        if (c.bytes > m->chip.core_memory)
            fail_msg("LC %d (%s) needs %.0f bytes > core_memory %.0f", id, L->name, c.bytes,
                     m->chip.core_memory);
    }
}

/* ---- (a) cost formulas against hand-computed values ---- */

static const char *TINY_DENSE =
    "model:\n"
    "  input: [6]\n"
    "  time_steps: 3\n"
    "  layers:\n"
    "    - {type: dense, out: 5}\n"
    "    - {type: dense, out: 3}\n"
    "train: {batch: 4}\n";

static void test_cost_dense(void **state) {
    (void)state;
    sm_model m;
    build_text(&m, TINY_DENSE, NULL);
    /* T = 3, B = 4 -> T*B = 12.
     * layer 1 (K = 5), 2 rows, R = 12:
     *   op 2*12*2*5 = 240; fwd + weight grad + input grad = 720; LIF 12*12*2 = 288 -> 1008
     *   n_param = 2*5 + 2 = 12 -> 16*12 = 192 bytes; per microbatch: the input spikes as bits,
     *   12 rows of one word = 96 bytes, the current (the output layer keeps it) 4*12*2 = 96,
     *   the output spikes packed, ceil(12*2/8) = 3 -> 387 */
    sm_lc_cost c = sm_lc_cost_of(&m, 1, 2, 4, 1, 1);
    assert_float_equal(c.flops, 1008, 0);
    assert_float_equal(c.bytes, 387, 0);
    /* 3 microbatches in flight: 192 + 3*195 */
    assert_float_equal(sm_lc_cost_of(&m, 1, 2, 4, 3, 1).bytes, 777, 0);
    /* layer 0 (K = 6), 5 rows, static input, R = B = 4:
     *   op 2*4*5*6 = 240; fwd + weight grad (no input grad) = 480; LIF 12*12*5 = 720 -> 1200
     *   n_param 35 -> 560 bytes; the samples 4*4*6 = 96, the current 4*4*5 = 80, the output
     *   spikes ceil(12*5/8) = 8 -> 560 + 184 = 744 */
    c = sm_lc_cost_of(&m, 0, 5, 4, 1, 1);
    assert_float_equal(c.flops, 1200, 0);
    assert_float_equal(c.bytes, 744, 0);
    /* the same layer fed per step (rate encoder, events), R = 12:
     *   op 720 -> 1440 + LIF 720 = 2160; input bits 96 + output 8 -> 560 + 104 = 664 */
    c = sm_lc_cost_of(&m, 0, 5, 4, 1, 0);
    assert_float_equal(c.flops, 2160, 0);
    assert_float_equal(c.bytes, 664, 0);
    /* zero rows: the part that does not shrink with the cut (the kept input) */
    c = sm_lc_cost_of(&m, 1, 0, 4, 1, 1);
    assert_float_equal(c.flops, 0, 0);
    assert_float_equal(c.bytes, 96, 0);
    sm_model_free(&m);

    /* async: one copy of the forward's weights per microbatch in flight, stash or not (the
     * backward recomputes the forward with them). layer 1, 2 rows, B = 2 (T*B = 6), 2 in
     * flight: 192 + 2*(6*8 + 4*6*2 + ceil(6*2/8) + 4*12) = 192 + 2*146 = 484 */
    build_text(&m, TINY_DENSE, "pipeline.schedule=async", "pipeline.microbatches=2",
               "pipeline.stash=true", NULL);
    assert_float_equal(sm_lc_cost_of(&m, 1, 2, 2, 2, 1).bytes, 484, 0);
    sm_model_free(&m);
    build_text(&m, TINY_DENSE, "pipeline.schedule=async", "pipeline.microbatches=2",
               "pipeline.stash=false", NULL);
    assert_float_equal(sm_lc_cost_of(&m, 1, 2, 2, 2, 1).bytes, 484, 0);
    sm_model_free(&m);
}

static const char *TINY_CONV =
    "model:\n"
    "  input: [2, 6, 6]\n"
    "  time_steps: 3\n"
    "  layers:\n"
    "    - {type: conv2d, out: 4, kernel: 3, pool: max, pool_size: 2}\n"
    "    - {type: conv2d, out: 2, kernel: 2, padding: 1, pool: avg, pool_size: 2}\n"
    "    - {type: dense, out: 3}\n"
    "train: {batch: 4}\n";

static void test_cost_conv(void **state) {
    (void)state;
    sm_model m;
    build_text(&m, TINY_CONV, NULL);
    /* layer 0: K = 2*3*3 = 18, conv 4x4 (P = 16), max pool 2 -> 2x2 (Q = 4), n_in = 72.
     * 3 channels, static input, R = B = 4:
     *   op 2*4*3*18*16 = 6912, x2 = 13824; pool 2*4*3*16 = 384; LIF 12*12*3*4 = 1728 -> 15936
     *   n_param 3*18 + 3 = 57 -> 912 bytes; the samples 4*4*72 = 1152, the current
     *   4*4*3*4 = 192 and its pool indices 192, the output spikes ceil(12*3*4/8) = 18 -> 2466 */
    sm_lc_cost c = sm_lc_cost_of(&m, 0, 3, 4, 1, 1);
    assert_float_equal(c.flops, 15936, 0);
    assert_float_equal(c.bytes, 2466, 0);
    /* per step, R = 12: op 20736 x2 = 41472; pool 1152; LIF 1728 -> 44352
     *   912 + input bits 12 rows of 2 words (72 spikes) = 192 + output 18 = 1122 */
    c = sm_lc_cost_of(&m, 0, 3, 4, 1, 0);
    assert_float_equal(c.flops, 44352, 0);
    assert_float_equal(c.bytes, 1122, 0);
    /* layer 1: input 4x2x2 (n_in 16), kernel 2, padding 1 -> conv 3x3 (P = 9), avg pool 2 -> 1x1.
     * 1 channel, K = 16, R = 12:
     *   op 2*12*1*16*9 = 3456, x3 = 10368; pool 2*12*9 = 216; LIF 12*12*1 = 144 -> 10728
     *   n_param 17 -> 272; input bits 12*8 = 96, output ceil(12/8) = 2 -> 370 */
    c = sm_lc_cost_of(&m, 1, 1, 4, 1, 1);
    assert_float_equal(c.flops, 10728, 0);
    assert_float_equal(c.bytes, 370, 0);
    /* the costs are linear in rows: the whole layer is the sum of its slices */
    sm_lc_cost whole = sm_lc_cost_of(&m, 0, 4, 4, 1, 1);
    sm_lc_cost a = sm_lc_cost_of(&m, 0, 1, 4, 1, 1), b = sm_lc_cost_of(&m, 0, 3, 4, 1, 1);
    assert_float_equal(whole.flops, a.flops + b.flops, 0);
    sm_model_free(&m);
}

static void test_in_flight(void **state) {
    (void)state;
    sm_model m;
    static const struct { const char *sched, *M; int want[3]; } cases[] = {
        {"sequential", "4", {1, 1, 1}}, {"gpipe", "4", {4, 4, 4}},
        {"1f1b", "2", {2, 2, 1}},       {"1f1b", "8", {3, 2, 1}},
        {"async", "4", {3, 2, 1}},      {"async", "2", {3, 2, 1}}, /* one round: the epoch fills it */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char s[64], mb[64];
        snprintf(s, sizeof s, "pipeline.schedule=%s", cases[i].sched);
        snprintf(mb, sizeof mb, "pipeline.microbatches=%s", cases[i].M);
        build(&m, "fmnist_csnn.yaml", s, mb, NULL);
        for (int st = 0; st < 3; st++) assert_int_equal(sm_in_flight(&m, st), cases[i].want[st]);
        assert_int_equal(sm_micro_batch(&m), 128 / atoi(cases[i].M));
        sm_model_free(&m);
    }
}

/* ---- (b) balance on the shipped configs ---- */

static void check_balance(const char *file, int mesh, const int *want) {
    sm_model m;
    char w[64], h[64];
    snprintf(w, sizeof w, "chip.mesh_w=%d", mesh);
    snprintf(h, sizeof h, "chip.mesh_h=%d", mesh);
    build(&m, file, w, h, NULL);
    const int st = input_static_of(&m), last = m.n_layers - 1;
    assert_int_equal(m.layers[last].n_lc, 1);
    assert_n_lc(&m, want);
    assert_built_and_fitting(&m);

    sm_partition_stats s;
    sm_partition_stats_of(&m, st, &s);
    /* proportional shares sum to the target exactly unless caps or memory intervene */
    assert_int_equal(s.target, mesh * mesh);
    assert_int_equal(s.n_lcs, s.target);
    /* the cut LCs: within 2x of their own mean */
    double sum = 0, max = 0;
    int n = 0;
    for (int id = 0; id < m.n_lcs; id++) {
        if (m.lcs[id].layer == last) continue;
        double f = sm_lc_cost_of(&m, m.lcs[id].layer, m.lcs[id].o1 - m.lcs[id].o0,
                                 sm_micro_batch(&m), 1, st).flops;
        sum += f; n++;
        if (f > max) max = f;
    }
    double cut_imbalance = max / (sum / n);
    print_message("%s on %dx%d: %d LCs, imbalance max/mean %.3f (all LCs), %.3f (cut layers)\n",
                  file, mesh, mesh, s.n_lcs, s.imbalance, cut_imbalance);
    assert_true(cut_imbalance <= 2.0);
    if (m.lcs[s.max_flops_lc].layer != last) assert_true(s.imbalance <= 2.0);
    sm_model_free(&m);
}

static void test_balance_mlp(void **state) {
    (void)state;
    /* output LC pinned; the rest of the target to the hidden layer */
    check_balance("fmnist_mlp.yaml", 4, (int[]){15, 1});
    check_balance("fmnist_mlp.yaml", 8, (int[]){63, 1});
}

static void test_balance_csnn(void **state) {
    (void)state;
    /* conv1 (static input, ~1.2 % of the compute) has a quota below 1 -> 1 LC;
     * conv2 takes the rest: 14 on 4x4, 62 on 8x8 (64 channels: two LCs of 2 rows) */
    check_balance("fmnist_csnn.yaml", 4, (int[]){1, 14, 1});
    check_balance("fmnist_csnn.yaml", 8, (int[]){1, 62, 1});
}

static void test_targets_and_caps(void **state) {
    (void)state;
    sm_model m;
    /* partition.max_lcs overrides the mesh size */
    build(&m, "fmnist_csnn.yaml", "chip.mesh_w=4", "chip.mesh_h=4", "partition.max_lcs=8", NULL);
    assert_n_lc(&m, (int[]){1, 6, 1});
    sm_model_free(&m);
    /* a target below the layer count: every layer still gets one LC */
    build(&m, "fmnist_csnn.yaml", NULL);
    assert_n_lc(&m, (int[]){1, 1, 1});
    sm_model_free(&m);
    /* caps: never finer than one row per LC; conv2 capped at 64, conv1 at 12 */
    build(&m, "fmnist_csnn.yaml", "partition.max_lcs=100", NULL);
    assert_n_lc(&m, (int[]){12, 64, 1});
    assert_built_and_fitting(&m);
    sm_model_free(&m);
}

/* ---- (c) memory pressure ---- */

/* fmnist_mlp under 1f1b with 4 microbatches of 32 (T*B = 800): layer 0 keeps 2 in flight.
 *   one row: 16*785 = 12560 bytes + 2 * (4*32 current + 800/8 output spikes) = 456 -> 13016,
 *   plus 2 * 4 * 32*784 = 200704 for the kept samples.
 *   4 MiB: (4194304 - 200704) / 13016 = 306.8 -> 306 rows -> ceil(1000/306) = 4 LCs.
 *   output layer: 16*10010 + 800 rows of 16 words of input bits (102400) + its current
 *   4*800*10 (32000) + 1000 bytes of output spikes = 295560 bytes as one LC. */
#define MLP_1F1B "pipeline.schedule=1f1b", "pipeline.microbatches=4"

static void test_memory_raises(void **state) {
    (void)state;
    sm_model m;
    /* on 2x2 the proportional share of layer 0 is 3 LCs of 334 rows: too big */
    build(&m, "fmnist_mlp.yaml", MLP_1F1B, "chip.mesh_w=2", "chip.mesh_h=2",
          "chip.core_memory=4194304", NULL);
    assert_n_lc(&m, (int[]){4, 1});
    assert_built_and_fitting(&m);
    sm_partition_stats s;
    sm_partition_stats_of(&m, 1, &s);
    assert_true(s.max_bytes <= 4194304);
    assert_true(s.n_lcs > s.target);
    sm_model_free(&m);
    /* with room the same memory limit is not binding: the proportional 63 stands */
    build(&m, "fmnist_mlp.yaml", MLP_1F1B, "chip.mesh_w=8", "chip.mesh_h=8",
          "chip.core_memory=4194304", NULL);
    assert_n_lc(&m, (int[]){63, 1});
    assert_built_and_fitting(&m);
    sm_model_free(&m);
}

static void assert_error(int rc, const char *a, const char *b, const char *c) {
    assert_int_equal(rc, SM_EINPUT);
    const char *msg = sm_errmsg();
    print_message("expected error: %s\n", msg);
    assert_non_null(strstr(msg, a));
    assert_non_null(strstr(msg, b));
    if (c) assert_non_null(strstr(msg, c));
}

static void test_memory_impossible(void **state) {
    (void)state;
    sm_model m;
    /* one row of layer 0 needs 200704 + 13016 = 213720 bytes */
    assert_error(try_build(&m, "fmnist_mlp.yaml", MLP_1F1B, "chip.core_memory=150000", NULL),
                 "layer 0_dense", "an LC of one row needs 213720 bytes",
                 "chip.core_memory is 150000");
    /* layer 0 can be cut to fit 260 kB (4 rows an LC), the output layer as one LC cannot */
    assert_error(try_build(&m, "fmnist_mlp.yaml", MLP_1F1B, "chip.core_memory=260000", NULL),
                 "layer 1_dense", "one LC of 10 rows, needs 295560 bytes",
                 "chip.core_memory is 260000");
    /* an explicit lcs that does not fit: the message says how many would */
    assert_error(try_build(&m, "fmnist_mlp.yaml", MLP_1F1B, "chip.core_memory=4194304",
                           "model.layers.0.lcs=2", NULL),
                 "layer 0_dense", "chip.core_memory is 4194304", "lcs >= 4");
}

/* ---- (d) explicit lcs ---- */

static void test_explicit_lcs(void **state) {
    (void)state;
    sm_model m;
    build(&m, "fmnist_mlp.yaml", "chip.mesh_w=4", "chip.mesh_h=4", "model.layers.0.lcs=5", NULL);
    assert_n_lc(&m, (int[]){5, 1});
    assert_built_and_fitting(&m);
    sm_model_free(&m);
    /* the free layers share what the fixed ones leave: 16 - 3 - 1 = 12 */
    build(&m, "fmnist_csnn.yaml", "chip.mesh_w=4", "chip.mesh_h=4", "model.layers.0.lcs=3", NULL);
    assert_n_lc(&m, (int[]){3, 12, 1});
    sm_model_free(&m);
    /* an explicit output layer cut is kept too */
    build(&m, "fmnist_csnn.yaml", "chip.mesh_w=4", "chip.mesh_h=4", "model.layers.2.lcs=2", NULL);
    assert_n_lc(&m, (int[]){1, 13, 2});
    assert_built_and_fitting(&m);
    sm_model_free(&m);
    /* fixing every layer leaves nothing to decide */
    build(&m, "fmnist_csnn.yaml", "chip.mesh_w=8", "chip.mesh_h=8", "model.layers.0.lcs=2",
          "model.layers.1.lcs=3", "model.layers.2.lcs=1", NULL);
    assert_n_lc(&m, (int[]){2, 3, 1});
    sm_model_free(&m);
}

/* ---- (e) deterministic ---- */

static char *table_of(const sm_model *m) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_non_null(f);
    sm_partition_print(f, m, input_static_of(m));
    fclose(f);
    return buf;
}

static void test_deterministic(void **state) {
    (void)state;
    const char *files[] = {"fmnist_mlp.yaml", "fmnist_csnn.yaml", "tiny.yaml"};
    for (int i = 0; i < 3; i++) {
        sm_model a, b;
        build(&a, files[i], "chip.mesh_w=8", "chip.mesh_h=4", NULL);
        build(&b, files[i], "chip.mesh_w=8", "chip.mesh_h=4", NULL);
        assert_int_equal(a.n_lcs, b.n_lcs);
        for (int l = 0; l < a.n_layers; l++) assert_int_equal(a.layers[l].n_lc, b.layers[l].n_lc);
        char *ta = table_of(&a), *tb = table_of(&b);
        assert_string_equal(ta, tb);
        /* idempotent: partitioning an already partitioned model changes nothing */
        assert_int_equal(sm_partition(&a, input_static_of(&a)), SM_OK);
        char *tc = table_of(&a);
        assert_string_equal(ta, tc);
        free(ta); free(tb); free(tc);
        sm_model_free(&a);
        sm_model_free(&b);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cost_dense),
        cmocka_unit_test(test_cost_conv),
        cmocka_unit_test(test_in_flight),
        cmocka_unit_test(test_balance_mlp),
        cmocka_unit_test(test_balance_csnn),
        cmocka_unit_test(test_targets_and_caps),
        cmocka_unit_test(test_memory_raises),
        cmocka_unit_test(test_memory_impossible),
        cmocka_unit_test(test_explicit_lcs),
        cmocka_unit_test(test_deterministic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
