/* test_event.c — spike matrices as bits (train/spikes.c), and the
 * event-driven kernels (train/event.c) against the dense ones (dense.c,
 * conv.c), which are checked against finite differences in test_kernels and
 * against PyTorch in test_reference:
 *
 *   - exactly, bit for bit, when every sum is exact in float (integer
 *     weights): this catches any index or tap mistake;
 *   - within 1e-6 of Σ|terms| per element (E2 of event.c) with random float
 *     weights;
 *   - the bias gradients bit-identical (E3);
 *   - conv + max pooling fused, event-driven and dense: the same bits as the
 *     two kernels in turn;
 *   - the backward kernels given max pooling's gradient as it is (values and
 *     positions): the same bits as given it spread out dense; and the input
 *     gradient computed from the pooled values alone against the sgemm one;
 *   - a row's forward result the same, bit for bit, whether it is computed
 *     alone or with other rows (E1).
 * Shapes: the dense kernel and conv layers with stride 1 / pad 0 (the CSNN's),
 * stride 2 / pad 1 and a one-channel input.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sm_kernels.h"
#include "sm_rng.h"

/* Spikes: 1 with probability `density`, else 0. */
static void fill_input(float *x, size_t n, double density, uint64_t seed) {
    for (size_t i = 0; i < n; i++) x[i] = sm_rng_uniform(seed, 1, 0, i) < density ? 1.0f : 0.0f;
}

/* The same spikes as bits (sm_spikes_pack), malloc'ed. */
static uint64_t *bits_of(const float *x, int R, int N) {
    uint64_t *bits = malloc(sizeof(uint64_t) * (size_t)R * sm_spike_words(N) + 8);
    assert_int_equal(sm_spikes_pack(bits, x, R, N), 1);
    return bits;
}

/* Weights: integers in [−8, 8] when `integer` (every sum of them is exact), else uniform (−1, 1). */
static void fill_weights(float *w, size_t n, int integer, uint64_t seed) {
    for (size_t i = 0; i < n; i++) {
        double u = sm_rng_uniform(seed, 3, 0, i);
        w[i] = integer ? (float)((int)floor(u * 17) - 8) : (float)(2 * u - 1);
    }
}

/* |a − b| ≤ 1e-6 · scale[i] + 1e-30 for every element. */
static void assert_close(const float *a, const float *b, const double *scale, size_t n, const char *what) {
    for (size_t i = 0; i < n; i++)
        if (fabs((double)a[i] - b[i]) > 1e-6 * scale[i] + 1e-30)
            fail_msg("%s: element %zu event %.9g dense %.9g (scale %.3g)", what, i, a[i], b[i], scale[i]);
}

/* ---- spike matrices ----------------------------------------------------------------- */

/* pack/unpack round trip, the count, the binary check, and put_block against a
 * bit-by-bit reference at every offset and width, rows of several words. */
static void test_spike_bits(void **state) {
    (void)state;
    enum { R = 5, N = 150 };
    float x[R * N], y[R * N];
    fill_input(x, R * N, 0.3, 31);
    uint64_t bits[R * 3], ref[R * 3], dst[R * 3];
    assert_int_equal(sm_spike_words(N), 3);
    assert_int_equal(sm_spikes_pack(bits, x, R, N), 1);
    sm_spikes_unpack(y, bits, R, N);
    assert_memory_equal(x, y, sizeof x);
    size_t count = 0;
    for (int i = 0; i < R * N; i++) count += x[i] != 0.0f;
    assert_int_equal(sm_spikes_count(bits, R, N), count);
    for (int r = 0; r < R; r++) assert_int_equal(bits[r * 3 + 2] >> (N - 128), 0); /* bits past N are 0 */
    x[7] = 0.5f;
    assert_int_equal(sm_spikes_pack(bits, x, R, N), 0); /* not spikes */
    x[7] = 1.0f;

    /* a block [R, n] packed as a message (bit r·n + j, LSB first) into columns [off, off + n) */
    for (int n = 1; n <= 70; n += 23)
        for (int off = 0; off + n <= N; off += 37) {
            uint8_t src[(R * 70 + 7) / 8 + 1];
            memset(src, 0, sizeof src);
            for (int r = 0; r < R; r++)
                for (int j = 0; j < n; j++)
                    if (x[r * N + (j * 7 + r) % N] != 0.0f) src[(r * n + j) / 8] |= (uint8_t)(1u << ((r * n + j) % 8));
            for (int i = 0; i < R * 3; i++) dst[i] = ref[i] = 0x5a5a5a5a5a5a5a5aull * (uint64_t)(i + 1);
            for (int r = 0; r < R; r++) /* columns outside the block keep their bits */
                for (int j = 0; j < n; j++) {
                    int bit = (src[(r * n + j) / 8] >> ((r * n + j) % 8)) & 1, col = off + j;
                    uint64_t *wd = &ref[r * 3 + col / 64];
                    *wd = (*wd & ~(1ull << (col % 64))) | ((uint64_t)bit << (col % 64));
                }
            sm_spikes_put_block(dst, N, off, src, n, R);
            assert_memory_equal(dst, ref, sizeof ref);
        }
}

/* ---- dense -------------------------------------------------------------------- */

static void dense_case(int R, int N, int M, double density, int integer, uint64_t seed) {
    float *in = malloc(sizeof(float) * R * N), *w = malloc(sizeof(float) * M * N), *b = malloc(sizeof(float) * M);
    float *o1 = malloc(sizeof(float) * R * M), *o2 = malloc(sizeof(float) * R * M);
    float *d = malloc(sizeof(float) * R * M), *dw1 = malloc(sizeof(float) * M * N), *dw2 = malloc(sizeof(float) * M * N);
    float db1[64], db2[64];
    double *scale = calloc((size_t)(R > M ? R : M) * N + R * M, sizeof(double));
    float *work = malloc(sizeof(float) * sm_dense_event_work_floats(N, M));
    fill_input(in, (size_t)R * N, density, seed);
    uint64_t *bits = bits_of(in, R, N);
    fill_weights(w, (size_t)M * N, integer, seed + 1);
    fill_weights(b, M, integer, seed + 2);
    fill_weights(d, (size_t)R * M, integer, seed + 3);

    sm_dense_forward(o1, in, w, b, R, N, M);
    sm_dense_forward_spikes(o2, bits, w, b, R, N, M, work);
    for (int r = 0; r < R; r++)
        for (int m = 0; m < M; m++) {
            double s = fabs(b[m]);
            for (int n = 0; n < N; n++) s += fabs((double)in[r * N + n] * w[m * N + n]);
            scale[r * M + m] = s;
        }
    if (integer) assert_memory_equal(o1, o2, sizeof(float) * R * M);
    assert_close(o2, o1, scale, (size_t)R * M, "dense forward");
    /* E1: each row alone gives the same bits */
    for (int r = 0; r < R; r++) {
        float row[64];
        sm_dense_forward_spikes(row, bits + (size_t)r * sm_spike_words(N), w, b, 1, N, M, work);
        assert_memory_equal(row, o2 + (size_t)r * M, sizeof(float) * M);
    }

    /* weight gradient, accumulated onto the same non-zero start */
    fill_weights(dw1, (size_t)M * N, integer, seed + 4);
    memcpy(dw2, dw1, sizeof(float) * M * N);
    for (int m = 0; m < M; m++) db1[m] = db2[m] = (float)m;
    sm_dense_backward_weight(dw1, db1, d, in, R, N, M);
    sm_dense_backward_weight_spikes(dw2, db2, d, bits, R, N, M, work);
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) {
            double s = 0;
            for (int r = 0; r < R; r++) s += fabs((double)d[r * M + m] * in[r * N + n]);
            scale[m * N + n] = s + fabs(dw1[m * N + n]);
        }
    if (integer) assert_memory_equal(dw1, dw2, sizeof(float) * M * N);
    assert_close(dw2, dw1, scale, (size_t)M * N, "dense weight gradient");
    assert_memory_equal(db1, db2, sizeof(float) * M); /* E3 */
    free(in), free(w), free(b), free(o1), free(o2), free(d), free(dw1), free(dw2), free(scale), free(work);
    free(bits);
}

static void test_dense_events(void **state) {
    (void)state;
    dense_case(9, 40, 7, 0.15, 1, 11);   /* exact: bit for bit */
    dense_case(9, 40, 7, 0.15, 0, 12);   /* float weights */
    dense_case(9, 130, 10, 0.30, 0, 13); /* three words per row, the last one partly used */
    dense_case(5, 33, 64, 0.05, 0, 14);  /* wide output */
    dense_case(4, 20, 3, 0.0, 0, 15);    /* no spike at all: out = bias */
    dense_case(4, 64, 17, 1.0, 1, 16);   /* every input fires; a full word; padding to 32 */
}

/* ---- conv2d ---------------------------------------------------------------------- */

/* Σ|terms| by brute force. Every term of a convolution pairs an output position,
 * a weight and an input pixel; `sum` is indexed like the one of the three the
 * kernel under test produces (`at`), and the term is the product of the other
 * two: |in·w| per output, |dout·in| per weight, |dout·w| per input pixel. */
enum { AT_OUT, AT_WEIGHT, AT_IN };
static void conv_abs_terms(double *sum, int at, const sm_conv_shape *s, int R, const float *out,
                           const float *w, const float *in) {
    const int C = s->C, H = s->H, W = s->W, k = s->k;
    const size_t n_in = (size_t)C * H * W, n_out = (size_t)s->Mc * s->Ho * s->Wo, CK = (size_t)C * k * k;
    for (int r = 0; r < R; r++)
        for (int m = 0; m < s->Mc; m++)
            for (int oy = 0; oy < s->Ho; oy++)
                for (int ox = 0; ox < s->Wo; ox++)
                    for (int c = 0; c < C; c++)
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++) {
                                const int iy = oy * s->stride - s->pad + ky, ix = ox * s->stride - s->pad + kx;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                const size_t io = (size_t)r * n_out + (m * s->Ho + oy) * s->Wo + ox;
                                const size_t iw = (size_t)m * CK + (c * k + ky) * k + kx;
                                const size_t ii = (size_t)r * n_in + (c * H + iy) * W + ix;
                                if (at == AT_OUT) sum[io] += fabs((double)in[ii] * w[iw]);
                                else if (at == AT_WEIGHT) sum[iw] += fabs((double)out[io] * in[ii]);
                                else sum[ii] += fabs((double)out[io] * w[iw]);
                            }
}

static void conv_case(int R, int C, int H, int W, int Mc, int k, int stride, int pad, double density,
                      int integer, uint64_t seed) {
    sm_conv_shape s;
    sm_conv_shape_init(&s, C, H, W, Mc, k, stride, pad);
    const size_t n_in = (size_t)C * H * W, n_out = (size_t)Mc * s.Ho * s.Wo, CK = (size_t)C * k * k;
    float *in = malloc(sizeof(float) * R * n_in), *w = malloc(sizeof(float) * Mc * CK), *b = malloc(sizeof(float) * Mc);
    float *o1 = malloc(sizeof(float) * R * n_out), *o2 = malloc(sizeof(float) * R * n_out);
    float *d = malloc(sizeof(float) * R * n_out), *dw1 = malloc(sizeof(float) * Mc * CK);
    float *dw2 = malloc(sizeof(float) * Mc * CK), db1[64], db2[64];
    float *dense_work = malloc(sizeof(float) * sm_conv_work_floats(&s, R));
    float *work = malloc(sizeof(float) * sm_conv_event_work_floats(&s));
    double *scale = calloc((R * n_out > Mc * CK ? R * n_out : Mc * CK), sizeof(double));
    fill_input(in, R * n_in, density, seed);
    uint64_t *bits = bits_of(in, R, (int)n_in);
    const size_t words = (size_t)sm_spike_words((int)n_in);
    fill_weights(w, Mc * CK, integer, seed + 1);
    fill_weights(b, Mc, integer, seed + 2);
    fill_weights(d, R * n_out, integer, seed + 3);

    sm_conv_forward(o1, in, w, b, &s, R, dense_work);
    sm_conv_forward_spikes(o2, bits, w, b, &s, R, work);
    /* Σ|terms| per output: the bias and every product */
    for (int r = 0; r < R; r++)
        for (size_t i = 0; i < n_out; i++) scale[(size_t)r * n_out + i] = fabs(b[i / ((size_t)s.Ho * s.Wo)]);
    conv_abs_terms(scale, AT_OUT, &s, R, NULL, w, in);
    if (integer) assert_memory_equal(o1, o2, sizeof(float) * R * n_out);
    assert_close(o2, o1, scale, R * n_out, "conv forward");
    for (int r = 0; r < R; r++) { /* E1 */
        float *row = malloc(sizeof(float) * n_out);
        sm_conv_forward_spikes(row, bits + r * words, w, b, &s, 1, work);
        assert_memory_equal(row, o2 + r * n_out, sizeof(float) * n_out);
        free(row);
    }

    fill_weights(dw1, Mc * CK, integer, seed + 4);
    memcpy(dw2, dw1, sizeof(float) * Mc * CK);
    for (int m = 0; m < Mc; m++) db1[m] = db2[m] = (float)m;
    sm_conv_backward_weight(dw1, db1, sm_conv_grad_dense(d), in, &s, R, dense_work);
    sm_conv_backward_weight_spikes(dw2, db2, sm_conv_grad_dense(d), bits, &s, R, work);
    for (size_t i = 0; i < Mc * CK; i++) scale[i] = fabs(dw1[i]);
    conv_abs_terms(scale, AT_WEIGHT, &s, R, d, NULL, in);
    if (integer) assert_memory_equal(dw1, dw2, sizeof(float) * Mc * CK);
    assert_close(dw2, dw1, scale, Mc * CK, "conv weight gradient");
    assert_memory_equal(db1, db2, sizeof(float) * Mc); /* E3 */

    /* op + max pooling fused: the same bits as the two kernels one after the other */
    if (s.Ho % 2 == 0 && s.Wo % 2 == 0) {
        const size_t n_pool = n_out / 4;
        float *p1 = malloc(sizeof(float) * R * n_pool), *p2 = malloc(sizeof(float) * R * n_pool);
        int32_t *i1 = malloc(sizeof(int32_t) * R * n_pool), *i2 = malloc(sizeof(int32_t) * R * n_pool);
        sm_maxpool_forward(p1, i1, o2, R, Mc, s.Ho, s.Wo, 2);
        sm_conv_forward_spikes_maxpool(p2, i2, bits, w, b, &s, 2, R, work);
        assert_memory_equal(p1, p2, sizeof(float) * R * n_pool);
        assert_memory_equal(i1, i2, sizeof(int32_t) * R * n_pool);
        /* the dense kernel's fused version against its own two steps */
        sm_maxpool_forward(p1, i1, o1, R, Mc, s.Ho, s.Wo, 2);
        sm_conv_forward_maxpool(p2, i2, in, w, b, &s, 2, R, dense_work);
        assert_memory_equal(p1, p2, sizeof(float) * R * n_pool);
        assert_memory_equal(i1, i2, sizeof(int32_t) * R * n_pool);

        /* a pooled gradient (values and positions) gives every backward kernel the bits
         * of the same gradient spread out dense (sm_maxpool_backward) */
        float *gp = malloc(sizeof(float) * R * n_pool), *gd = calloc(R * n_out, sizeof(float));
        fill_weights(gp, R * n_pool, integer, seed + 6);
        gp[1] = 0.0f; /* a zero among them */
        sm_maxpool_backward(gd, gp, i1, R, Mc, s.Ho, s.Wo, 2);
        const sm_conv_grad pooled = {gp, i1, 2}, dense = sm_conv_grad_dense(gd);
        float *x1 = calloc(R * n_in, sizeof(float)), *x2 = calloc(R * n_in, sizeof(float));
        sm_conv_backward_input(x1, dense, w, &s, R, dense_work);
        sm_conv_backward_input(x2, pooled, w, &s, R, dense_work);
        assert_memory_equal(x1, x2, sizeof(float) * R * n_in);
        for (size_t i = 0; i < R * n_in; i++) x2[i] = 1e9f; /* the _set variant overwrites */
        sm_conv_backward_input_set(x2, pooled, w, &s, R, dense_work);
        assert_memory_equal(x1, x2, sizeof(float) * R * n_in);
        /* from the pooled values directly (fused multiply-adds): equal to rounding, and bit for
         * bit when every sum is exact */
        float *pw = malloc(sizeof(float) * sm_conv_input_grad_work_floats(&s));
        double *sc = calloc(R * n_in, sizeof(double));
        for (size_t i = 0; i < R * n_in; i++) x2[i] = 1e9f;
        sm_conv_backward_input_pooled(x2, pooled, w, &s, R, pw);
        conv_abs_terms(sc, AT_IN, &s, R, gd, w, NULL);
        if (integer) assert_memory_equal(x1, x2, sizeof(float) * R * n_in);
        assert_close(x2, x1, sc, R * n_in, "conv input gradient from pooled values");
        free(pw), free(sc);
        float *w1 = calloc(Mc * CK, sizeof(float)), *w2 = calloc(Mc * CK, sizeof(float));
        float b1[64] = {0}, b2[64] = {0};
        sm_conv_backward_weight(w1, b1, dense, in, &s, R, dense_work);
        sm_conv_backward_weight(w2, b2, pooled, in, &s, R, dense_work);
        assert_memory_equal(w1, w2, sizeof(float) * Mc * CK);
        assert_memory_equal(b1, b2, sizeof(float) * Mc);
        memset(w1, 0, sizeof(float) * Mc * CK), memset(w2, 0, sizeof(float) * Mc * CK);
        memset(b1, 0, sizeof b1), memset(b2, 0, sizeof b2);
        sm_conv_backward_weight_spikes(w1, b1, dense, bits, &s, R, work);
        sm_conv_backward_weight_spikes(w2, b2, pooled, bits, &s, R, work);
        assert_memory_equal(w1, w2, sizeof(float) * Mc * CK);
        assert_memory_equal(b1, b2, sizeof(float) * Mc);
        free(gp), free(gd), free(x1), free(x2), free(w1), free(w2);
        free(p1), free(p2), free(i1), free(i2);
    }
    free(in), free(w), free(b), free(o1), free(o2), free(d), free(dw1), free(dw2);
    free(dense_work), free(work), free(scale), free(bits);
}

static void test_conv_events(void **state) {
    (void)state;
    conv_case(3, 4, 12, 12, 8, 5, 1, 0, 0.15, 1, 21); /* the CSNN's second layer, smaller: exact */
    conv_case(3, 4, 12, 12, 8, 5, 1, 0, 0.15, 0, 22);
    conv_case(2, 3, 9, 7, 5, 3, 2, 1, 0.30, 1, 23);   /* stride 2, pad 1: exact */
    conv_case(2, 3, 9, 7, 5, 3, 2, 1, 0.30, 0, 24);
    conv_case(2, 1, 8, 8, 16, 3, 1, 1, 0.50, 0, 25);  /* one input channel, padding */
    conv_case(2, 2, 6, 6, 3, 3, 1, 0, 0.0, 0, 26);    /* silent input: out = bias */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spike_bits),
        cmocka_unit_test(test_dense_events),
        cmocka_unit_test(test_conv_events),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
