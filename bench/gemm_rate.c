/* gemm_rate.c — how close spikemesh's dense parts come to the GEMM rate
 * OpenBLAS gives for the same shapes (issue 6: target >= 60 %).
 *
 * Each case runs one of the engine's dense kernels (OpenBLAS sgemm plus what
 * surrounds it: bias, im2col/col2im, the max pooling fused into the conv, the
 * spreading of a pooled gradient) and a bare cblas_sgemm of the same total
 * M x N x K, alternately, and reports the best time of each over `reps`
 * rounds, their GFLOP/s (2·M·N·K per call) and the ratio.
 *
 *   build/bench/bench_gemm_rate [reps]      (OPENBLAS_NUM_THREADS decides threads)
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "sm_common.h"
#include "sm_kernels.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static float *filled(size_t n, float scale) {
    float *a = sm_falloc(n);
    uint64_t x = 0x9e3779b97f4a7c15ull ^ n;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        a[i] = scale * ((float)(x >> 40) / (float)(1u << 24) - 0.5f);
    }
    return a;
}

typedef struct {
    const char *name;
    int M, N, K;   /* the GEMM the kernel performs in all */
    int ta, tb;    /* and the transpositions its sgemm calls use */
    void (*kernel)(void *);
    void *ctx;
} gemm_case;

static void report(const gemm_case *c, int reps) {
    float *a = filled((size_t)c->M * c->K, 1), *b = filled((size_t)c->K * c->N, 1), *o = filled((size_t)c->M * c->N, 0);
    double best_k = 1e30, best_g = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        c->kernel(c->ctx);
        double t1 = now();
        cblas_sgemm(CblasRowMajor, c->ta ? CblasTrans : CblasNoTrans, c->tb ? CblasTrans : CblasNoTrans, c->M, c->N,
                    c->K, 1.0f, a, c->ta ? c->M : c->K, b, c->tb ? c->K : c->N, 0.0f, o, c->N);
        double t2 = now();
        if (t1 - t0 < best_k) best_k = t1 - t0;
        if (t2 - t1 < best_g) best_g = t2 - t1;
    }
    const double flop = 2.0 * c->M * c->N * c->K;
    printf("| %s | %d x %d x %d | %.1f | %.1f | **%.0f %%** |\n", c->name, c->M, c->N, c->K, flop / best_k * 1e-9,
           flop / best_g * 1e-9, 100.0 * best_g / best_k);
    free(a), free(b), free(o);
}

/* ---- the cases ------------------------------------------------------------ */

typedef struct { float *out, *in, *w, *b; int R, N, M; } dense_ctx;
static void dense_fwd(void *v) { dense_ctx *c = v; sm_dense_forward(c->out, c->in, c->w, c->b, c->R, c->N, c->M); }
static void dense_wgrad(void *v) {
    dense_ctx *c = v; /* out plays dout [R,M], w plays dw [M,N] */
    sm_dense_backward_weight(c->w, c->b, c->out, c->in, c->R, c->N, c->M);
}

typedef struct { float *out, *in, *w, *b, *work; int32_t *idx; sm_conv_shape s; int R, p; } conv_ctx;
static void conv_fwd_pool(void *v) {
    conv_ctx *c = v;
    sm_conv_forward_maxpool(c->out, c->idx, c->in, c->w, c->b, &c->s, c->p, c->R, c->work);
}
static void conv_wgrad_pooled(void *v) {
    conv_ctx *c = v; /* out: the pooled gradient, idx its positions (as training gives it) */
    sm_conv_backward_weight(c->w, c->b, (sm_conv_grad){c->out, c->idx, c->p}, c->in, &c->s, c->R, c->work);
}
static void conv_igrad_pooled(void *v) {
    conv_ctx *c = v; /* out: the pooled gradient, idx its positions, in: the input gradient */
    sm_conv_backward_input(c->in, (sm_conv_grad){c->out, c->idx, c->p}, c->w, &c->s, c->R, c->work);
}

int main(int argc, char **argv) {
    const int reps = argc > 1 ? atoi(argv[1]) : 10;
    printf("| dense part (T = 25, microbatch 128) | GEMM M x N x K | engine GFLOP/s | bare sgemm GFLOP/s | engine / sgemm |\n");
    printf("|---|---|---|---|---|\n");

    /* fmnist_mlp's first layer: 128 static samples, 784 -> 1000 */
    dense_ctx d = {filled(128 * 1000, 1), filled(128 * 784, 1), filled(1000 * 784, 0.05f), filled(1000, 1), 128, 784,
                   1000};
    report(&(gemm_case){"fmnist_mlp layer 0 forward (+ bias)", 128, 1000, 784, 0, 1, dense_fwd, &d}, reps);
    report(&(gemm_case){"fmnist_mlp layer 0 weight gradient (+ bias)", 1000, 784, 128, 1, 0, dense_wgrad, &d}, reps);

    /* fmnist_csnn's first layer: 128 static 28x28 images, 12 5x5 filters, max pooling 2 */
    conv_ctx c1 = {.R = 128, .p = 2};
    sm_conv_shape_init(&c1.s, 1, 28, 28, 12, 5, 1, 0);
    c1.in = filled(128 * 784, 1), c1.w = filled(12 * 25, 0.2f), c1.b = filled(12, 1);
    c1.out = filled((size_t)128 * 12 * 24 * 24, 1), c1.idx = calloc((size_t)128 * 12 * 12 * 12, sizeof(int32_t));
    /* the conv1 cases below run the forward first, which leaves valid pooling positions in idx */
    c1.work = sm_falloc(sm_conv_work_floats(&c1.s, 128));
    report(&(gemm_case){"fmnist_csnn conv1 forward (+ bias, max pool)", 12, 128 * 576, 25, 0, 0, conv_fwd_pool, &c1},
           reps);
    report(&(gemm_case){"fmnist_csnn conv1 weight gradient (from the pooled gradient, + bias)", 12, 25, 128 * 576,
                        0, 1, conv_wgrad_pooled, &c1},
           reps);

    /* fmnist_csnn's second layer's input gradient: 3200 rows (T x B), 12 -> 64 channels, 12x12 -> 8x8,
     * the gradient as max pooling leaves it (pooled values and their positions) */
    conv_ctx c2 = {.R = 3200, .p = 2};
    sm_conv_shape_init(&c2.s, 12, 12, 12, 64, 5, 1, 0);
    c2.w = filled(64 * 300, 0.1f), c2.in = filled((size_t)3200 * 1728, 0);
    c2.out = filled((size_t)3200 * 64 * 16, 1), c2.idx = calloc((size_t)3200 * 64 * 16, sizeof(int32_t));
    for (size_t q = 0; q < (size_t)3200 * 64 * 16; q++) { /* a position in each 2x2 window */
        int pp = (int)(q % 16), py = pp / 4, px = pp % 4;
        c2.idx[q] = (2 * py + (int)(q % 2)) * 8 + 2 * px + (int)(q / 2 % 2);
    }
    c2.work = sm_falloc(sm_conv_work_floats(&c2.s, 3200));
    report(&(gemm_case){"fmnist_csnn conv2 input gradient (spread pooled, col2im)", 300, 3200 * 64, 64, 1, 0,
                        conv_igrad_pooled, &c2},
           reps);
    return 0;
}
