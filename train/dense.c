/* dense.c — fully connected layer as OpenBLAS sgemm calls.
 * Shapes: in [R,N], w [M,N] (PyTorch layout), b [M], out [R,M]; R = rows (T*B).
 *
 * Threads: every product C [rows, cols] is cut along its longer side into
 * blocks (sm_gemm_blocks: a function of the shape alone), one single-threaded
 * sgemm call per block, and the rank's threads (sm_parallel.h) take whole
 * blocks; so the bits do not depend on the thread count. (OpenBLAS's own
 * threads would not do: its result for a shape changes with its thread count,
 * and a product cut elsewhere is not always the same bits either.) Cutting the
 * longer side re-packs the smaller operand for each block, which costs least.
 */
#include "sm_kernels.h"

#include <cblas.h>
#include <string.h>

#include "sm_parallel.h"

typedef struct {
    int ta, tb, rows, cols, k;   /* C [rows, cols] = alpha op(A) op(B) + beta C, op(A) [rows, k] */
    const float *a, *b;
    int lda, ldb, ldc;
    float beta;
    float *c;
    const float *bias;           /* added to every row of C afterwards (NULL: none) */
} gemm_job;

int sm_gemm_blocks(int rows, int cols) {
    const int side = rows >= cols ? rows : cols, blocks = side / SM_GEMM_MIN_SIDE;
    return blocks < 1 ? 1 : blocks > SM_GEMM_BLOCKS ? SM_GEMM_BLOCKS : blocks;
}

static void gemm_share(void *v, int t, int nt) {
    const gemm_job *g = v;
    const int by_rows = g->rows >= g->cols, side = by_rows ? g->rows : g->cols;
    const int blocks = sm_gemm_blocks(g->rows, g->cols), size = (side + blocks - 1) / blocks;
    size_t b0, b1;
    sm_parallel_range((size_t)blocks, t, nt, 1, &b0, &b1);
    for (int blk = (int)b0; blk < (int)b1; blk++) {
        const int i0 = blk * size, n = side - i0 < size ? side - i0 : size;
        const float *a = g->a, *b = g->b;
        float *c = g->c;
        int rows = g->rows, cols = g->cols;
        if (by_rows) { /* rows [i0, i0 + n) of op(A) and C */
            a += g->ta ? (size_t)i0 : (size_t)i0 * g->lda;
            c += (size_t)i0 * g->ldc;
            rows = n;
        } else {       /* columns [i0, i0 + n) of op(B) and C */
            b += g->tb ? (size_t)i0 * g->ldb : (size_t)i0;
            c += i0;
            cols = n;
        }
        cblas_sgemm(CblasRowMajor, g->ta ? CblasTrans : CblasNoTrans, g->tb ? CblasTrans : CblasNoTrans, rows, cols,
                    g->k, 1.0f, a, g->lda, b, g->ldb, g->beta, c, g->ldc);
        if (g->bias)
            for (int r = 0; r < rows; r++) {
                float *o = c + (size_t)r * g->ldc;
                const float *bias = by_rows ? g->bias : g->bias + i0;
                for (int m = 0; m < cols; m++) o[m] += bias[m];
            }
    }
}

void sm_dense_forward(float *out, const float *in, const float *w, const float *b,
                      int R, int N, int M) {
    /* out = in . w^T, then + b on every row */
    gemm_job g = {0, 1, R, M, N, in, w, N, N, M, 0.0f, out, b};
    sm_parallel_run(gemm_share, &g);
}

void sm_dense_backward_input(float *din, const float *dout, const float *w, int R, int N, int M) {
    gemm_job g = {0, 0, R, N, M, dout, w, M, N, N, 1.0f, din, NULL};
    sm_parallel_run(gemm_share, &g);
}

void sm_dense_backward_input_set(float *din, const float *dout, const float *w, int R, int N, int M) {
    gemm_job g = {0, 0, R, N, M, dout, w, M, N, N, 0.0f, din, NULL};
    sm_parallel_run(gemm_share, &g);
}

void sm_dense_partial_block(float *out, const float *dout, const float *wcols, int R, int M, int bc) {
    gemm_job g = {0, 0, R, bc, M, dout, wcols, M, bc, bc, 0.0f, out, NULL};
    sm_parallel_run(gemm_share, &g);
}

void sm_dense_weight_columns(float *wcols, const float *w, int M, int N, int c0, int bc) {
    for (int m = 0; m < M; m++) memcpy(wcols + (size_t)m * bc, w + (size_t)m * N + c0, sizeof(float) * bc);
}

void sm_dense_backward_weight(float *dw, float *db, const float *dout, const float *in,
                              int R, int N, int M) {
    /* dw [M,N] += dout^T . in: each block sums over all R */
    gemm_job g = {1, 0, M, N, R, dout, in, M, N, N, 1.0f, dw, NULL};
    sm_parallel_run(gemm_share, &g);
    if (db) sm_bias_grad_rows(db, dout, R, M);
}

void sm_bias_grad_rows(float *db, const float *dout, int R, int M) {
    for (int r = 0; r < R; r++) {
        const float *d = dout + (size_t)r * M;
        for (int m = 0; m < M; m++) db[m] += d[m];
    }
}
