/* test_kernels.c — each kernel's backward against central finite differences
 * of its own forward (in double, on a scalar objective L = Σ out·G with a
 * random G), and the invariants of the model: the cut into logical cores
 * changes no gradient, initialisation does not depend on the cut, and
 * encoders are keyed by sample, not by batch position.
 *
 * Spikes are not differentiable, so LIF backward is checked against the
 * PyTorch reference instead (test_reference.c). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sm_common.h"
#include "sm_config.h"
#include "sm_kernels.h"
#include "sm_model.h"
#include "sm_rng.h"

static void fill(float *a, size_t n, uint64_t seed, float lo, float hi) {
    for (size_t i = 0; i < n; i++) a[i] = lo + (hi - lo) * sm_rng_uniform(seed, 99, 0, i);
}

static double dot(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* Compare an analytic gradient with central differences of objective(). */
typedef double (*objective_fn)(void *ctx);
static void check_fd(float *param, const float *grad, size_t n, objective_fn f, void *ctx,
                     const char *what) {
    int checked = 0;
    for (size_t i = 0; i < n; i += (n > 40 ? n / 40 : 1)) {
        float saved = param[i];
        float h = 1e-2f;
        param[i] = saved + h;
        double up = f(ctx);
        param[i] = saved - h;
        double down = f(ctx);
        param[i] = saved;
        double fd = (up - down) / (2.0 * h);
        double tol = 2e-3 * fmax(1.0, fabs(fd));
        if (fabs(fd - grad[i]) > tol)
            fail_msg("%s: element %zu analytic %.6g finite difference %.6g", what, i, grad[i], fd);
        checked++;
    }
    assert_true(checked > 0);
}

/* ---- dense ---- */
enum { R = 6, N = 7, M = 5 };
typedef struct { float *in, *w, *b, *out, *G; } dense_ctx;
static double dense_obj(void *v) {
    dense_ctx *c = v;
    sm_dense_forward(c->out, c->in, c->w, c->b, R, N, M);
    return dot(c->out, c->G, R * M);
}
static void test_dense_fd(void **state) {
    (void)state;
    float in[R * N], w[M * N], b[M], out[R * M], G[R * M];
    float din[R * N] = {0}, dw[M * N] = {0}, db[M] = {0};
    fill(in, R * N, 1, -1, 1); fill(w, M * N, 2, -1, 1); fill(b, M, 3, -1, 1); fill(G, R * M, 4, -1, 1);
    dense_ctx c = {in, w, b, out, G};
    sm_dense_backward_input(din, G, w, R, N, M);
    sm_dense_backward_weight(dw, db, G, in, R, N, M);
    check_fd(in, din, R * N, dense_obj, &c, "dense d/din");
    check_fd(w, dw, M * N, dense_obj, &c, "dense d/dw");
    check_fd(b, db, M, dense_obj, &c, "dense d/db");
    /* backward accumulates: a second call doubles the gradient */
    float dw2[M * N];
    memcpy(dw2, dw, sizeof dw);
    sm_dense_backward_weight(dw2, NULL, G, in, R, N, M);
    for (int i = 0; i < M * N; i++) assert_float_equal(dw2[i], 2 * dw[i], 1e-5);
}

/* ---- conv ---- */
typedef struct { float *in, *w, *b, *out, *G, *work; sm_conv_shape s; int rows; } conv_ctx;
static double conv_obj(void *v) {
    conv_ctx *c = v;
    sm_conv_forward(c->out, c->in, c->w, c->b, &c->s, c->rows, c->work);
    return dot(c->out, c->G, (size_t)c->rows * c->s.Mc * c->s.Ho * c->s.Wo);
}
static void conv_case(int C, int H, int W, int Mc, int k, int stride, int pad) {
    conv_ctx c;
    c.rows = 3;
    sm_conv_shape_init(&c.s, C, H, W, Mc, k, stride, pad);
    size_t nin = (size_t)c.rows * C * H * W, nw = (size_t)Mc * C * k * k;
    size_t nout = (size_t)c.rows * Mc * c.s.Ho * c.s.Wo;
    c.in = sm_falloc(nin); c.w = sm_falloc(nw); c.b = sm_falloc(Mc); c.out = sm_falloc(nout);
    c.G = sm_falloc(nout); c.work = sm_falloc(sm_conv_work_floats(&c.s, c.rows));
    float *din = sm_falloc(nin), *dw = sm_falloc(nw), *db = sm_falloc(Mc);
    fill(c.in, nin, 5, -1, 1); fill(c.w, nw, 6, -1, 1); fill(c.b, Mc, 7, -1, 1); fill(c.G, nout, 8, -1, 1);
    sm_conv_backward_input(din, sm_conv_grad_dense(c.G), c.w, &c.s, c.rows, c.work);
    sm_conv_backward_weight(dw, db, sm_conv_grad_dense(c.G), c.in, &c.s, c.rows, c.work);
    check_fd(c.in, din, nin, conv_obj, &c, "conv d/din");
    check_fd(c.w, dw, nw, conv_obj, &c, "conv d/dw");
    check_fd(c.b, db, Mc, conv_obj, &c, "conv d/db");
    /* forward against a direct loop */
    conv_obj(&c);
    for (int r = 0; r < c.rows; r++)
        for (int m = 0; m < Mc; m++)
            for (int oy = 0; oy < c.s.Ho; oy++)
                for (int ox = 0; ox < c.s.Wo; ox++) {
                    double acc = c.b[m];
                    for (int ch = 0; ch < C; ch++)
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++) {
                                int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                                acc += (double)c.w[((m * C + ch) * k + ky) * k + kx] *
                                       c.in[((size_t)(r * C + ch) * H + iy) * W + ix];
                            }
                    float got = c.out[(((size_t)r * Mc + m) * c.s.Ho + oy) * c.s.Wo + ox];
                    assert_true(fabs(got - acc) <= 1e-5 * fmax(1.0, fabs(acc)));
                }
    free(c.in); free(c.w); free(c.b); free(c.out); free(c.G); free(c.work);
    free(din); free(dw); free(db);
}
static void test_conv_fd(void **state) {
    (void)state;
    conv_case(2, 6, 5, 3, 3, 1, 1);
    conv_case(1, 7, 7, 2, 3, 2, 0);
    conv_case(3, 5, 6, 4, 2, 1, 0);
}

/* ---- pooling ---- */
static void test_pool(void **state) {
    (void)state;
    enum { PR = 2, CH = 3, H = 5, W = 4, P = 2 };
    float in[PR * CH * H * W], out[PR * CH * 2 * 2], G[PR * CH * 2 * 2];
    int32_t idx[PR * CH * 2 * 2];
    fill(in, sizeof in / 4, 9, -1, 1);
    fill(G, sizeof G / 4, 10, -1, 1);
    /* a tie: the FIRST maximum in row-major order must win */
    in[0] = in[1] = in[W] = in[W + 1] = 5.0f;
    sm_maxpool_forward(out, idx, in, PR, CH, H, W, P);
    assert_int_equal(idx[0], 0);
    assert_float_equal(out[0], 5.0f, 0);
    float din[PR * CH * H * W] = {0};
    sm_maxpool_backward(din, G, idx, PR, CH, H, W, P);
    assert_float_equal(din[0], G[0], 0);
    assert_float_equal(din[1], 0.0f, 0);
    /* every output is the max of its window, the gradient lands at that max */
    for (int plane = 0; plane < PR * CH; plane++)
        for (int oy = 0; oy < 2; oy++)
            for (int ox = 0; ox < 2; ox++) {
                float best = -1e9f;
                for (int dy = 0; dy < P; dy++)
                    for (int dx = 0; dx < P; dx++)
                        best = fmaxf(best, in[plane * H * W + (oy * P + dy) * W + ox * P + dx]);
                assert_float_equal(out[plane * 4 + oy * 2 + ox], best, 0);
            }
    /* average pooling: backward is the adjoint of forward: <avg(x), G> = <x, avg^T(G)> */
    float aout[PR * CH * 4], ain[PR * CH * H * W] = {0};
    sm_avgpool_forward(aout, in, PR, CH, H, W, P);
    sm_avgpool_backward(ain, G, PR, CH, H, W, P);
    assert_true(fabs(dot(aout, G, sizeof G / 4) - dot(in, ain, sizeof in / 4)) < 1e-4);
    /* the odd last row (H = 5) is dropped (floor): no gradient reaches it */
    for (int plane = 0; plane < PR * CH; plane++)
        for (int x = 0; x < W; x++) assert_float_equal(ain[plane * H * W + 4 * W + x], 0.0f, 0);
}

/* ---- losses: gradients wrt (continuous) spike values ---- */
typedef struct { sm_loss_params lp; float *spk; int32_t *y; int T, B, K; } loss_ctx;
static double loss_obj(void *v) {
    loss_ctx *c = v;
    return sm_loss(&c->lp, c->spk, c->spk, c->y, c->T, c->B, c->K, 1.0 / c->B, NULL, NULL);
}
static void test_losses_fd(void **state) {
    (void)state;
    enum { T = 4, B = 3, K = 5 };
    float spk[T * B * K], dspk[T * B * K], dmem[T * B * K];
    int32_t y[B] = {0, 3, 4};
    fill(spk, T * B * K, 11, 0, 1);
    for (int kind = 0; kind < 4; kind++) {
        loss_ctx c = {{kind, 0.8f, 0.1f}, spk, y, T, B, K};
        sm_loss(&c.lp, spk, spk, y, T, B, K, 1.0 / B, dspk, dmem);
        check_fd(spk, kind == SM_LOSS_CE_MEM ? dmem : dspk, T * B * K, loss_obj, &c, "loss");
    }
    /* prediction: argmax of counts, lowest index on ties */
    float s[2 * 1 * 3] = {1, 0, 1, 0, 1, 1};
    int32_t pred, yy = 1;
    assert_int_equal(sm_predict(&pred, s, &yy, 2, 1, 3), 0);
    assert_int_equal(pred, 2);
    float tie[3] = {1, 1, 0};
    assert_int_equal(sm_predict(&pred, tie, NULL, 1, 1, 3), 0);
    assert_int_equal(pred, 0);
}

/* ---- LIF forward against the defining recurrence ---- */
static void test_lif_forward(void **state) {
    (void)state;
    enum { T = 12, P = 50 };
    float cur[T * P], mem[T * P], spk[T * P];
    fill(cur, T * P, 12, -0.5f, 1.5f);
    for (int mode = 0; mode < 2; mode++) {
        sm_lif_params p = {0.8f, 1.0f, mode, SM_SURROGATE_ATAN, 2.0f, 25.0f};
        sm_lif_forward(spk, mem, cur, 0, T, P, &p);
        for (int i = 0; i < P; i++) {
            double u = 0;
            for (int t = 0; t < T; t++) {
                double r = u > 1.0 ? 1.0 : 0.0;
                u = mode == SM_RESET_SUBTRACT ? 0.8 * u + cur[t * P + i] - r : (0.8 * u + cur[t * P + i]) * (1 - r);
                assert_true(fabs(u - mem[t * P + i]) < 1e-5);
                assert_float_equal(spk[t * P + i], u > 1.0 ? 1.0f : 0.0f, 0);
            }
        }
        /* a static current equals the same current repeated */
        float mem2[T * P], spk2[T * P], rep[T * P];
        for (int t = 0; t < T; t++) memcpy(rep + t * P, cur, sizeof(float) * P);
        sm_lif_forward(spk, mem, cur, 1, T, P, &p);
        sm_lif_forward(spk2, mem2, rep, 0, T, P, &p);
        assert_memory_equal(mem, mem2, sizeof mem);
    }
}

/* ---- the model: the cut into LCs changes nothing ---- */
static const char *CONFIG =
    "seed: 5\n"
    "model:\n"
    "  input: [2, 8, 8]\n"
    "  time_steps: 5\n"
    "  layers:\n"
    "    - {type: conv2d, out: 6, kernel: 3, padding: 1, pool: max, pool_size: 2, lcs: LC0}\n"
    "    - {type: dense, out: 9, lcs: LC1}\n"
    "    - {type: dense, out: 4, lcs: LC2}\n"
    "model_gain_placeholder: 0\n";

static void build(sm_model *m, int lc0, int lc1, int lc2, const char *loss, const char *encoder) {
    char text[1024], *at;
    snprintf(text, sizeof text, "%s", CONFIG);
    char num[8];
    snprintf(num, sizeof num, "%d  ", lc0); at = strstr(text, "LC0"); memcpy(at, num, 3);
    snprintf(num, sizeof num, "%d  ", lc1); at = strstr(text, "LC1"); memcpy(at, num, 3);
    snprintf(num, sizeof num, "%d  ", lc2); at = strstr(text, "LC2"); memcpy(at, num, 3);
    *strstr(text, "model_gain_placeholder") = 0;
    sm_cfg *cfg;
    assert_int_equal(sm_cfg_load_string(&cfg, text, "test"), SM_OK);
    char set[64];
    snprintf(set, sizeof set, "train.loss=%s", loss);
    assert_int_equal(sm_cfg_set(cfg, set), SM_OK);
    snprintf(set, sizeof set, "model.encoder=%s", encoder);
    assert_int_equal(sm_cfg_set(cfg, set), SM_OK);
    assert_int_equal(sm_cfg_set(cfg, "model.init_gain=3"), SM_OK);
    int rc = sm_model_from_config(m, cfg);
    if (rc) fail_msg("%s", sm_errmsg());
    assert_int_equal(sm_cfg_check_unused(cfg), SM_OK);
    sm_cfg_free(cfg);
}

static void layer_grads(const sm_model *m, int l, float **w, float **b) {
    const sm_layer *L = &m->layers[l];
    *w = sm_falloc((size_t)L->out * L->fan_in);
    *b = sm_falloc((size_t)L->out);
    sm_layer_gather(m, l, 1, *w, *b);
}

static void test_lc_cut_invariance(void **state) {
    (void)state;
    const char *losses[] = {"ce_rate", "ce_mem"};
    const char *encoders[] = {"direct", "rate"};
    for (int variant = 0; variant < 2; variant++) {
        sm_model a, b;
        build(&a, 1, 1, 1, losses[variant], encoders[variant]);
        build(&b, 4, 3, 2, losses[variant], encoders[variant]);
        assert_int_equal(b.n_lcs, 9);
        /* I1: the same initial weights */
        for (int l = 0; l < 3; l++) {
            float *wa, *ba, *wb, *bb;
            const sm_layer *L = &a.layers[l];
            wa = sm_falloc((size_t)L->out * L->fan_in); ba = sm_falloc(L->out);
            wb = sm_falloc((size_t)L->out * L->fan_in); bb = sm_falloc(L->out);
            sm_layer_gather(&a, l, 0, wa, ba);
            sm_layer_gather(&b, l, 0, wb, bb);
            assert_memory_equal(wa, wb, sizeof(float) * L->out * L->fan_in);
            assert_memory_equal(ba, bb, sizeof(float) * L->out);
            free(wa); free(ba); free(wb); free(bb);
        }
        enum { BATCH = 6 };
        float x[BATCH * 128];
        int32_t y[BATCH] = {0, 1, 2, 3, 1, 0};
        fill(x, BATCH * 128, 13, 0, 1);
        double la = sm_model_grad_batch(&a, x, y, BATCH, 0);
        double lb = sm_model_grad_batch(&b, x, y, BATCH, 0);
        assert_true(fabs(la - lb) <= 1e-6 * fmax(1, fabs(la)));
        /* forward spikes identical, gradients equal to rounding */
        assert_memory_equal(a.act[2], b.act[2], sizeof(float) * a.T * BATCH * 4);
        long nonzero = 0;
        for (int l = 0; l < 3; l++) {
            float *wa, *ba, *wb, *bb;
            layer_grads(&a, l, &wa, &ba);
            layer_grads(&b, l, &wb, &bb);
            const sm_layer *L = &a.layers[l];
            for (int i = 0; i < L->out * L->fan_in; i++) {
                assert_true(fabs(wa[i] - wb[i]) <= 1e-5 * fmax(1e-2, fabs(wa[i])));
                nonzero += wa[i] != 0;
            }
            for (int i = 0; i < L->out; i++) assert_true(fabs(ba[i] - bb[i]) <= 1e-5 * fmax(1e-2, fabs(ba[i])));
            free(wa); free(ba); free(wb); free(bb);
        }
        assert_true(nonzero > 100); /* the comparison saw real gradients */
        sm_model_free(&a);
        sm_model_free(&b);
    }
}

/* Inference (sm_model_infer: layers passed on as bits, neuron state in
 * scratch) gives the loss and predictions of sm_model_forward + sm_model_loss
 * (every LC's state kept), bit for bit: one and several LCs per layer, the
 * output layer cut too, direct and rate encoding, a spike loss and ce_mem. */
static void test_inference_matches_forward(void **state) {
    (void)state;
    const char *losses[] = {"ce_rate", "ce_mem"};
    const char *encoders[] = {"direct", "rate"};
    for (int variant = 0; variant < 4; variant++) {
        sm_model a;
        if (variant < 2) build(&a, 1, 1, 1, losses[variant], encoders[variant]);
        else build(&a, 4, 3, 2, losses[variant - 2], encoders[variant - 2]);
        enum { BATCH = 6 };
        float x[BATCH * 128], *enc = sm_falloc((size_t)a.T * BATCH * 128);
        int32_t y[BATCH] = {0, 1, 2, 3, 1, 0}, ids[BATCH] = {0, 1, 2, 3, 4, 5};
        fill(x, BATCH * 128, 13 + variant, 0, 1);
        const int input_static = sm_model_encode(&a, enc, x, ids, BATCH, 3);
        const float *input = input_static ? x : enc;
        sm_model_forward(&a, input, input_static, BATCH);
        double want = sm_model_loss(&a, y, 0.5);
        long want_correct = sm_predict(NULL, a.act[a.n_layers - 1], y, a.T, BATCH, a.n_classes), correct = 0;
        double got = sm_model_infer(&a, input, input_static, BATCH, y, 0.5, &correct);
        assert_memory_equal(&got, &want, sizeof got);
        assert_int_equal(correct, want_correct);
        free(enc);
        sm_model_free(&a);
    }
}

/* The lean LIF kernels (no membrane kept) against the ones that keep it: the
 * same spikes and the same input gradient, bit for bit, for both resets, both
 * surrogates, a static and a per-step current, with and without dL/dS, dL/dU,
 * more neurons than one chunk, and the gradient written over the current. */
static void test_lif_lean(void **state) {
    (void)state;
    enum { T = 9, P = 1100 }; /* P > 2 chunks, the last one partial */
    float *cur = sm_falloc(T * P), *mem = sm_falloc(T * P), *spk = sm_falloc(T * P), *spk2 = sm_falloc(T * P);
    float *dS = sm_falloc(T * P), *dM = sm_falloc(T * P), *d1 = sm_falloc(T * P), *d2 = sm_falloc(T * P);
    float *st = sm_falloc(P), *work = sm_falloc((size_t)T * SM_LIF_CHUNK);
    fill(cur, T * P, 21, -0.5f, 1.6f);
    fill(dS, T * P, 22, -1, 1);
    fill(dM, T * P, 23, -1, 1);
    long fired = 0;
    for (int v = 0; v < 16; v++) {
        sm_lif_params p = {0.9f, 1.0f, v & 1, (v >> 1) & 1, 2.0f, 25.0f};
        const int is_static = (v >> 2) & 1, with_dm = (v >> 3) & 1;
        sm_lif_forward(spk, mem, cur, is_static, T, P, &p);
        sm_lif_forward_spikes(spk2, st, cur, is_static, T, P, &p);
        assert_memory_equal(spk, spk2, sizeof(float) * T * P);
        sm_lif_backward(d1, dS, with_dm ? dM : NULL, mem, spk, T, P, &p);
        sm_lif_backward_recompute(d2, dS, with_dm ? dM : NULL, cur, is_static, T, P, &p, work);
        assert_memory_equal(d1, d2, sizeof(float) * T * P);
        if (!is_static) { /* in place: the gradient over the current */
            memcpy(d2, cur, sizeof(float) * T * P);
            sm_lif_backward_recompute(d2, dS, with_dm ? dM : NULL, d2, 0, T, P, &p, work);
            assert_memory_equal(d1, d2, sizeof(float) * T * P);
        }
        for (int i = 0; i < T * P; i++) fired += spk[i] != 0;
    }
    assert_true(fired > 1000); /* the resets really happened */
    free(cur), free(mem), free(spk), free(spk2), free(dS), free(dM), free(d1), free(d2), free(st), free(work);
}

/* ---- encoders ---- */
static void test_encoders(void **state) {
    (void)state;
    enum { T = 6, B = 3, D = 10 };
    float x[B * D], out[T * B * D], out2[T * 1 * D];
    fill(x, B * D, 14, 0, 1);
    x[0] = 0.0f; x[1] = 1.0f;
    int32_t ids[B] = {7, 42, 9};
    sm_encode(out, x, ids, T, B, D, SM_ENCODE_RATE, 1, 2);
    /* sample 42 encoded alone (batch position 0) gives the same spikes */
    sm_encode(out2, x + D, ids + 1, T, 1, D, SM_ENCODE_RATE, 1, 2);
    for (int t = 0; t < T; t++) assert_memory_equal(out2 + t * D, out + (t * B + 1) * D, sizeof(float) * D);
    for (int t = 0; t < T; t++) {
        assert_float_equal(out[t * B * D + 0], 0.0f, 0); /* p = 0 never fires */
        assert_float_equal(out[t * B * D + 1], 1.0f, 0); /* p = 1 always fires */
    }
    /* latency: exactly one spike for x > 0, bright first */
    sm_encode(out, x, ids, T, B, D, SM_ENCODE_LATENCY, 1, 2);
    for (int i = 0; i < B * D; i++) {
        int count = 0, when = -1;
        for (int t = 0; t < T; t++) if (out[t * B * D + i] > 0) { count++; when = t; }
        assert_int_equal(count, x[i] > 0 ? 1 : 0);
        if (x[i] > 0) assert_int_equal(when, (int)floorf((1 - x[i]) * (T - 1) + 0.5f));
    }
    /* rate: the firing frequency follows the pixel over many draws */
    enum { TT = 4000 };
    float *many = sm_falloc(TT * D);
    sm_encode(many, x + 2 * D, ids, TT, 1, D, SM_ENCODE_RATE, 3, 0);
    for (int d = 0; d < D; d++) {
        double f = 0;
        for (int t = 0; t < TT; t++) f += many[t * D + d];
        assert_true(fabs(f / TT - x[2 * D + d]) < 0.03);
    }
    free(many);
}

/* ---- optimizers against the textbook update in double ---- */
static void test_optimizers(void **state) {
    (void)state;
    enum { N = 16 };
    float p[N], g[N], m[N] = {0}, v[N] = {0};
    double pd[N], md[N] = {0}, vd[N] = {0};
    fill(p, N, 15, -1, 1);
    for (int i = 0; i < N; i++) pd[i] = p[i];
    sm_opt_params o = {SM_OPT_ADAM, 1e-2, 0.9, 0.999, 1e-8, 0.9, 1e-3};
    for (long step = 1; step <= 5; step++) {
        fill(g, N, 100 + step, -1, 1);
        sm_adam_update(p, g, m, v, N, &o, 1e-2, step);
        for (int i = 0; i < N; i++) {
            double gi = g[i] + 1e-3 * pd[i];
            md[i] = 0.9 * md[i] + 0.1 * gi;
            vd[i] = 0.999 * vd[i] + 0.001 * gi * gi;
            double mh = md[i] / (1 - pow(0.9, step)), vh = vd[i] / (1 - pow(0.999, step));
            pd[i] -= 1e-2 * mh / (sqrt(vh) + 1e-8);
        }
    }
    for (int i = 0; i < N; i++) assert_true(fabs(p[i] - pd[i]) < 1e-5);
    float q[N], buf[N] = {0};
    double qd[N], bd[N] = {0};
    fill(q, N, 16, -1, 1);
    for (int i = 0; i < N; i++) qd[i] = q[i];
    o.kind = SM_OPT_SGD;
    o.weight_decay = 0;
    for (long step = 1; step <= 4; step++) {
        fill(g, N, 200 + step, -1, 1);
        sm_sgd_update(q, g, buf, N, &o, 0.1, step);
        for (int i = 0; i < N; i++) {
            bd[i] = step == 1 ? g[i] : 0.9 * bd[i] + g[i];
            qd[i] -= 0.1 * bd[i];
        }
    }
    for (int i = 0; i < N; i++) assert_true(fabs(q[i] - qd[i]) < 1e-5);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dense_fd),       cmocka_unit_test(test_conv_fd),
        cmocka_unit_test(test_pool),           cmocka_unit_test(test_losses_fd),
        cmocka_unit_test(test_lif_forward),    cmocka_unit_test(test_lc_cut_invariance),
        cmocka_unit_test(test_inference_matches_forward), cmocka_unit_test(test_lif_lean),
        cmocka_unit_test(test_encoders),       cmocka_unit_test(test_optimizers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
