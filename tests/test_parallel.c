/* test_parallel.c — the threads of a rank (common/parallel.c) and the kernels
 * that split their work over them:
 *
 *   - sm_parallel_range cuts [0, n) into contiguous shares in order, aligned,
 *     of sizes differing by at most one unit;
 *   - sm_parallel_run runs every share exactly once, many runs in a row (a
 *     lost wake-up hangs the test, a double run fails it), and a run started
 *     inside a share runs serially;
 *   - every threaded kernel gives the same bits with 2, 3 and 5 threads as
 *     with 1, on shapes where the shares are uneven or some are empty (more
 *     threads than rows, than input channels, than GEMM blocks);
 *   - the LIF forward written straight to bits holds the spikes of the float
 *     form, bit for bit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sm_kernels.h"
#include "sm_parallel.h"
#include "sm_rng.h"

static void test_range(void **state) {
    (void)state;
    const size_t ns[] = {0, 1, 7, 64, 100, 513, 4096};
    const size_t aligns[] = {1, 16, 512};
    for (size_t i = 0; i < sizeof ns / sizeof *ns; i++)
        for (size_t a = 0; a < sizeof aligns / sizeof *aligns; a++)
            for (int nt = 1; nt <= 9; nt++) {
                const size_t n = ns[i], align = aligns[a], units = (n + align - 1) / align;
                size_t next = 0, lo, hi, least = (size_t)-1, most = 0;
                for (int t = 0; t < nt; t++) {
                    sm_parallel_range(n, t, nt, align, &lo, &hi);
                    assert_int_equal(lo, next); /* contiguous, in order of t */
                    assert_true(hi >= lo);
                    if (hi < n) assert_int_equal(hi % align, 0);
                    const size_t u = (hi - lo + align - 1) / align;
                    least = u < least ? u : least, most = u > most ? u : most;
                    next = hi;
                }
                assert_int_equal(next, n);
                if (units) assert_true(most - least <= 1);
            }
}

typedef struct {
    int calls[16];
    int nt_seen[16];
    int inner_nt;
} count_ctx;

static void count_share(void *v, int t, int nt) {
    count_ctx *c = v;
    c->calls[t]++;
    c->nt_seen[t] = nt;
}

static void inner_share(void *v, int t, int nt) { ((count_ctx *)v)->inner_nt = nt; }
static void outer_share(void *v, int t, int nt) {
    if (t == 1) sm_parallel_run(inner_share, v); /* from a worker: runs serially there */
}

static void test_run(void **state) {
    (void)state;
    for (int threads = 1; threads <= 4; threads++) {
        assert_int_equal(sm_parallel_init(threads), 0);
        assert_int_equal(sm_parallel_threads(), threads);
        count_ctx c;
        memset(&c, 0, sizeof c);
        for (int run = 0; run < 20000; run++) sm_parallel_run(count_share, &c);
        for (int t = 0; t < 16; t++) {
            assert_int_equal(c.calls[t], t < threads ? 20000 : 0);
            if (t < threads) assert_int_equal(c.nt_seen[t], threads);
        }
        if (threads > 1) {
            c.inner_nt = 0;
            sm_parallel_run(outer_share, &c);
            assert_int_equal(c.inner_nt, 1);
        }
    }
    sm_parallel_shutdown();
    assert_int_equal(sm_parallel_threads(), 1);
}

/* ---- every threaded kernel: the same bits for any thread count ----------- */

static float *filled(size_t n, double density, uint64_t seed) { /* density < 0: uniform (−1, 1) */
    float *x = malloc(sizeof(float) * n + 64);
    for (size_t i = 0; i < n; i++) {
        const double u = sm_rng_uniform(seed, 7, 0, i);
        x[i] = density < 0 ? (float)(2 * u - 1) : u < density ? 1.0f : 0.0f;
    }
    return x;
}
static uint64_t *bits(const float *x, int R, int N) {
    uint64_t *b = malloc(sizeof(uint64_t) * (size_t)R * sm_spike_words(N) + 8);
    assert_int_equal(sm_spikes_pack(b, x, R, N), 1);
    return b;
}

enum { N_OUT = 24 };
typedef struct { float *out[N_OUT]; size_t n[N_OUT]; int k; } outputs;
static float *keep(outputs *o, size_t n) { /* a zeroed output to accumulate into */
    assert_true(o->k < N_OUT);
    o->n[o->k] = n;
    return o->out[o->k++] = calloc(n + 16, sizeof(float));
}

/* Runs every kernel with the pool at `threads`, keeping what each wrote. */
static void run_kernels(outputs *o, int threads) {
    assert_int_equal(sm_parallel_init(threads), 0);
    memset(o, 0, sizeof *o);
    /* dense products: 800 rows (3 blocks of rows) by 40 outputs, 600 inputs (the weight
     * gradient in 2 blocks of columns); and a wide one (4 blocks of columns) */
    {
        const int R = 800, N = 600, M = 40;
        float *in = filled((size_t)R * N, -1, 1), *w = filled((size_t)M * N, -1, 2), *b = filled(M, -1, 3);
        float *dout = filled((size_t)R * M, -1, 4);
        sm_dense_forward(keep(o, (size_t)R * M), in, w, b, R, N, M);
        float *din = keep(o, (size_t)R * N);
        sm_dense_backward_input(din, dout, w, R, N, M);
        sm_dense_backward_input(din, dout, w, R, N, M); /* accumulates */
        float *dw = keep(o, (size_t)M * N), *db = keep(o, M);
        sm_dense_backward_weight(dw, db, dout, in, R, N, M);
        const int Rw = 8, Mw = 1100;
        float *ww = filled((size_t)Mw * N, -1, 5);
        sm_dense_forward(keep(o, (size_t)Rw * Mw), in, ww, NULL, Rw, N, Mw);
        free(in), free(w), free(b), free(dout), free(ww);
    }
    /* event-driven dense: 3 rows (fewer than threads), 300 inputs (5 words) */
    {
        const int R = 3, N = 300, M = 21;
        float *x = filled((size_t)R * N, 0.2, 6), *w = filled((size_t)M * N, -1, 7), *b = filled(M, -1, 8);
        float *dout = filled((size_t)R * M, -1, 9), *work = malloc(sizeof(float) * sm_dense_event_work_floats(N, M));
        uint64_t *in = bits(x, R, N);
        sm_dense_forward_spikes(keep(o, (size_t)R * M), in, w, b, R, N, M, work);
        sm_dense_backward_weight_spikes(keep(o, (size_t)M * N), keep(o, M), dout, in, R, N, M, work);
        free(x), free(w), free(b), free(dout), free(work), free(in);
    }
    /* event-driven conv: 7 rows, 3 input channels (fewer than 5 threads), 9x9 -> 5x5 (3x3 pooled by 2, floor) */
    {
        const int R = 7, C = 3, H = 9, W = 9, Mc = 6, k = 3;
        sm_conv_shape s;
        sm_conv_shape_init(&s, C, H, W, Mc, k, 2, 1);
        const size_t n_in = (size_t)C * H * W, n_out = (size_t)Mc * s.Ho * s.Wo, pooled = (size_t)Mc * 2 * 2;
        float *x = filled(R * n_in, 0.15, 10), *w = filled((size_t)Mc * C * k * k, -1, 11);
        float *b = filled(Mc, -1, 12), *g = filled(R * pooled, -1, 13);
        size_t need = sm_conv_event_work_floats(&s);
        if (sm_conv_input_grad_work_floats(&s) > need) need = sm_conv_input_grad_work_floats(&s);
        float *work = malloc(sizeof(float) * need);
        uint64_t *in = bits(x, R, (int)n_in);
        sm_conv_forward_spikes(keep(o, R * n_out), in, w, b, &s, R, work);
        float *po = keep(o, R * pooled);
        int32_t *idx = (int32_t *)keep(o, R * pooled);
        sm_conv_forward_spikes_maxpool(po, idx, in, w, b, &s, 2, R, work);
        const sm_conv_grad pg = {g, idx, 2};
        sm_conv_backward_weight_spikes(keep(o, (size_t)Mc * C * k * k), keep(o, Mc), pg, in, &s, R, work);
        sm_conv_backward_input_pooled(keep(o, R * n_in), pg, w, &s, R, work);
        free(x), free(w), free(b), free(g), free(work), free(in);
    }
    /* LIF over 1304 neurons (3 chunks, a multiple of 8 for the bits form), subtract reset, 5 steps */
    {
        const int T = 5;
        const size_t P = 1304;
        sm_lif_params p = {.beta = 0.9f, .threshold = 1.0f, .reset = SM_RESET_SUBTRACT,
                           .surrogate = SM_SURROGATE_ATAN, .alpha = 2.0f};
        float *cur = filled(T * P, -1, 14), *dspk = filled(T * P, -1, 15), *state = malloc(sizeof(float) * P);
        for (size_t i = 0; i < T * P; i++) cur[i] *= 1.5f;
        float *work = malloc(sizeof(float) * sm_lif_work_floats(T, sm_parallel_threads()));
        float *spk = keep(o, T * P);
        sm_lif_forward_spikes(spk, state, cur, 0, T, P, &p);
        /* the bits form: bit i of the stream is spike i */
        uint8_t *bits = (uint8_t *)keep(o, T * P / 32 + 1);
        sm_lif_forward_bits(bits, state, cur, 0, T, P, &p);
        size_t fired = 0;
        for (size_t i = 0; i < T * P; i++) {
            if (((bits[i / 8] >> (i % 8)) & 1) != (spk[i] != 0.0f)) fail_msg("bit %zu differs from spike %g", i, spk[i]);
            fired += spk[i] != 0.0f;
        }
        assert_true(fired > T * P / 20 && fired < T * P / 2); /* both values occur */
        sm_lif_backward_recompute(keep(o, T * P), dspk, NULL, cur, 0, T, P, &p, work);
        free(cur), free(dspk), free(state), free(work);
    }
}

static void test_kernels_same_bits(void **state) {
    (void)state;
    outputs one, many;
    run_kernels(&one, 1);
    for (int k = 0; k < one.k; k++) { /* the kernels did write something */
        size_t nonzero = 0;
        for (size_t i = 0; i < one.n[k]; i++) nonzero += one.out[k][i] != 0.0f;
        if (!nonzero) fail_msg("output %d of the kernels is all zero: the comparison would prove nothing", k);
    }
    const int counts[] = {2, 3, 5};
    for (int c = 0; c < 3; c++) {
        run_kernels(&many, counts[c]);
        assert_int_equal(many.k, one.k);
        for (int k = 0; k < one.k; k++) {
            if (memcmp(one.out[k], many.out[k], sizeof(float) * one.n[k]))
                fail_msg("output %d differs between 1 and %d threads", k, counts[c]);
            free(many.out[k]);
        }
    }
    for (int k = 0; k < one.k; k++) free(one.out[k]);
    sm_parallel_shutdown();
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_range),
        cmocka_unit_test(test_run),
        cmocka_unit_test(test_kernels_same_bits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
