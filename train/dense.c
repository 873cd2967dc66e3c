/* dense.c — fully connected layer as OpenBLAS sgemm calls.
 * Shapes: in [R,N], w [M,N] (PyTorch layout), b [M], out [R,M]; R = rows (T*B). */
#include "sm_kernels.h"

#include <cblas.h>
#include <string.h>

void sm_dense_forward(float *out, const float *in, const float *w, const float *b,
                      int R, int N, int M) {
    /* out = in . w^T, then + b on every row */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, R, M, N, 1.0f, in, N, w, N, 0.0f, out, M);
    if (!b) return;
    for (int r = 0; r < R; r++) {
        float *o = out + (size_t)r * M;
        for (int m = 0; m < M; m++) o[m] += b[m];
    }
}

void sm_dense_backward_input(float *din, const float *dout, const float *w, int R, int N, int M) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, R, N, M, 1.0f, dout, M, w, N, 1.0f, din, N);
}

void sm_dense_backward_input_set(float *din, const float *dout, const float *w, int R, int N, int M) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, R, N, M, 1.0f, dout, M, w, N, 0.0f, din, N);
}

void sm_dense_partial_block(float *out, const float *dout, const float *wcols, int R, int M, int bc) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, R, bc, M, 1.0f, dout, M, wcols, bc, 0.0f, out, bc);
}

void sm_dense_weight_columns(float *wcols, const float *w, int M, int N, int c0, int bc) {
    for (int m = 0; m < M; m++) memcpy(wcols + (size_t)m * bc, w + (size_t)m * N + c0, sizeof(float) * bc);
}

void sm_dense_backward_weight(float *dw, float *db, const float *dout, const float *in,
                              int R, int N, int M) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, M, N, R, 1.0f, dout, M, in, N, 1.0f, dw, N);
    if (db) sm_bias_grad_rows(db, dout, R, M);
}

void sm_bias_grad_rows(float *db, const float *dout, int R, int M) {
    for (int r = 0; r < R; r++) {
        const float *d = dout + (size_t)r * M;
        for (int m = 0; m < M; m++) db[m] += d[m];
    }
}
