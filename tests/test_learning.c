/* test_learning.c — training actually learns: on a synthetic, separable data set a
 * tiny network must go from chance to >= 95 % test accuracy, with static images
 * (direct and rate encoders) and with event input. The loop is the same one
 * `spikemesh train` runs: shuffle per epoch, encode, forward, backward, update.
 * Also: two runs with the same seed give the same bits. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sm_common.h"
#include "sm_config.h"
#include "sm_data.h"
#include "sm_model.h"

static void build(sm_model *m, const char *text, const char *const *sets) {
    sm_cfg *cfg;
    if (sm_cfg_load_string(&cfg, text, "test")) fail_msg("%s", sm_errmsg());
    for (int i = 0; sets && sets[i]; i++)
        if (sm_cfg_set(cfg, sets[i])) fail_msg("%s", sm_errmsg());
    if (sm_model_from_config(m, cfg) || sm_cfg_check_unused(cfg)) fail_msg("%s", sm_errmsg());
    sm_cfg_free(cfg);
}

static double accuracy(sm_model *m, const sm_dataset *d) {
    float *x = sm_falloc((size_t)m->T * d->n * m->n_in), *enc = sm_falloc((size_t)m->T * d->n * m->n_in);
    int32_t *y = sm_xcalloc((size_t)d->n, sizeof(int32_t)), *ids = sm_xcalloc((size_t)d->n, sizeof(int32_t));
    sm_gather_batch(d, NULL, 0, d->n, x, y);
    for (int i = 0; i < d->n; i++) ids[i] = i;
    const float *input = x;
    int input_static = 0;
    if (!d->T) {
        input_static = sm_model_encode(m, enc, x, ids, d->n, 999);
        if (!input_static) input = enc;
    }
    sm_model_forward(m, input, input_static, d->n);
    int correct = sm_predict(NULL, m->act[m->n_layers - 1], y, m->T, d->n, m->n_classes);
    free(x); free(enc); free(y); free(ids);
    return (double)correct / d->n;
}

static void train(sm_model *m, const sm_dataset *d, int epochs) {
    const int B = m->train.batch;
    int32_t *order = sm_xcalloc((size_t)d->n, sizeof(int32_t)), *y = sm_xcalloc((size_t)B, sizeof(int32_t));
    float *x = sm_falloc((size_t)m->T * B * m->n_in), *enc = sm_falloc((size_t)m->T * B * m->n_in);
    for (int epoch = 0; epoch < epochs; epoch++) {
        sm_shuffle(order, d->n, m->seed, (uint64_t)epoch);
        for (int start = 0; start < d->n; start += B) {
            int nb = sm_gather_batch(d, order, start, B, x, y);
            const float *input = x;
            int input_static = 0;
            if (!d->T) {
                input_static = sm_model_encode(m, enc, x, order + start, nb, (uint64_t)epoch);
                if (!input_static) input = enc;
            }
            sm_model_zero_grad(m);
            sm_model_forward(m, input, input_static, nb);
            sm_model_backward(m, y, 1.0 / nb);
            sm_model_update(m, m->train.lr);
        }
    }
    free(order); free(y); free(x); free(enc);
}

static const char *IMAGES =
    "seed: 11\n"
    "model: {input: [1, 8, 8], time_steps: 6, beta: 0.9,\n"
    "        layers: [{type: conv2d, out: 4, kernel: 3, padding: 1, pool: max},\n"
    "                 {type: dense, out: 16}, {type: dense, out: 4}]}\n"
    "train: {batch: 32, loss: mse_count, lr: 1.0e-2}\n";

static void run_images(const char *encoder) {
    const char *sets[] = {encoder, NULL};
    sm_model m;
    build(&m, IMAGES, sets);
    sm_dataset all, tr, te;
    sm_synthetic(&all, 384, 1, 8, 8, 0, 4, 5);
    sm_dataset_split(&all, 1.0 / 3, 5, &tr, &te);
    double before = accuracy(&m, &te);
    train(&m, &tr, 8);
    double after = accuracy(&m, &te);
    print_message("%s: test accuracy %.3f -> %.3f\n", encoder, before, after);
    assert_true(before < 0.6);
    assert_true(after >= 0.95);
    sm_dataset_free(&all); sm_dataset_free(&tr); sm_dataset_free(&te);
    sm_model_free(&m);
}

static void test_learns_direct(void **state) { (void)state; run_images("model.encoder=direct"); }
static void test_learns_rate(void **state) { (void)state; run_images("model.encoder=rate"); }

static void test_learns_events(void **state) {
    (void)state;
    const char *text =
        "seed: 12\n"
        "model: {input: [40], time_steps: 10, beta: 0.9, init_gain: 2,\n"
        "        layers: [{type: dense, out: 32}, {type: dense, out: 3}]}\n"
        "train: {batch: 16, loss: ce_count, lr: 5.0e-3}\n";
    sm_model m;
    build(&m, text, NULL);
    sm_dataset all, tr, te;
    sm_synthetic(&all, 300, 1, 1, 40, 10, 3, 6);
    assert_int_equal(all.T, 10);
    sm_dataset_split(&all, 1.0 / 3, 6, &tr, &te);
    double before = accuracy(&m, &te);
    train(&m, &tr, 10);
    double after = accuracy(&m, &te);
    print_message("events: test accuracy %.3f -> %.3f\n", before, after);
    assert_true(after >= 0.95);
    assert_true(after > before);
    sm_dataset_free(&all); sm_dataset_free(&tr); sm_dataset_free(&te);
    sm_model_free(&m);
}

static void test_same_seed_same_bits(void **state) {
    (void)state;
    const char *sets[] = {"model.encoder=rate", "model.layers.1.lcs=3", NULL};
    uint64_t sums[2];
    for (int run = 0; run < 2; run++) {
        sm_model m;
        build(&m, IMAGES, sets);
        sm_dataset all;
        sm_synthetic(&all, 128, 1, 8, 8, 0, 4, 5);
        train(&m, &all, 2);
        sums[run] = sm_model_checksum(&m, 1);
        sm_dataset_free(&all);
        sm_model_free(&m);
    }
    assert_true(sums[0] == sums[1]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_learns_direct),
        cmocka_unit_test(test_learns_rate),
        cmocka_unit_test(test_learns_events),
        cmocka_unit_test(test_same_seed_same_bits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
