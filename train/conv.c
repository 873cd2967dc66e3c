/* conv.c — 2-D convolution (cross-correlation, as PyTorch) by im2col + sgemm.
 *
 * Shapes: in [R,C,H,W] ; w [Mc, C*k*k] ; out [R,Mc,Ho,Wo] ; R = rows (T*B).
 * The work buffer holds the im2col matrix of a chunk of rows, laid out
 * [C*k*k][chunk*Ho*Wo], and the matching [Mc][chunk*Ho*Wo] product, so one
 * sgemm covers many samples at once instead of one small sgemm per sample.
 */
#include "sm_kernels.h"

#include <cblas.h>
#include <string.h>

enum { CONV_CHUNK_TARGET = 1 << 20 }; /* floats of im2col per chunk (4 MiB) */

void sm_conv_shape_init(sm_conv_shape *s, int C, int H, int W, int Mc, int k, int stride, int pad) {
    s->C = C; s->H = H; s->W = W; s->Mc = Mc; s->k = k; s->stride = stride; s->pad = pad;
    s->Ho = (H + 2 * pad - k) / stride + 1;
    s->Wo = (W + 2 * pad - k) / stride + 1;
}

static int chunk_rows(const sm_conv_shape *s, int R) {
    size_t per_row = (size_t)s->C * s->k * s->k * s->Ho * s->Wo;
    int chunk = (int)(CONV_CHUNK_TARGET / (per_row ? per_row : 1));
    if (chunk < 1) chunk = 1;
    if (chunk > R) chunk = R;
    return chunk;
}

size_t sm_conv_work_floats(const sm_conv_shape *s, int R) {
    size_t chunk = (size_t)chunk_rows(s, R > 0 ? R : 1);
    size_t cols = chunk * s->Ho * s->Wo;
    return cols * ((size_t)s->C * s->k * s->k + s->Mc);
}

/* col [C*k*k][ncols] gets, for rows r0..r0+nr, columns (r-r0)*Ho*Wo + oy*Wo + ox. */
static void im2col(float *col, const float *in, const sm_conv_shape *s, int r0, int nr) {
    const int k = s->k, HoWo = s->Ho * s->Wo;
    const size_t ncols = (size_t)nr * HoWo;
    for (int c = 0; c < s->C; c++)
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++) {
                float *dst = col + ((size_t)(c * k + ky) * k + kx) * ncols;
                for (int r = 0; r < nr; r++) {
                    const float *plane = in + ((size_t)(r0 + r) * s->C + c) * s->H * s->W;
                    float *d = dst + (size_t)r * HoWo;
                    for (int oy = 0; oy < s->Ho; oy++) {
                        int iy = oy * s->stride - s->pad + ky;
                        if (iy < 0 || iy >= s->H) {
                            memset(d + oy * s->Wo, 0, sizeof(float) * s->Wo);
                            continue;
                        }
                        const float *row = plane + (size_t)iy * s->W;
                        for (int ox = 0; ox < s->Wo; ox++) {
                            int ix = ox * s->stride - s->pad + kx;
                            d[oy * s->Wo + ox] = (ix >= 0 && ix < s->W) ? row[ix] : 0.0f;
                        }
                    }
                }
            }
}

/* din rows r0.. += col2im(col) (the adjoint of im2col). */
static void col2im_add(float *din, const float *col, const sm_conv_shape *s, int r0, int nr) {
    const int k = s->k, HoWo = s->Ho * s->Wo;
    const size_t ncols = (size_t)nr * HoWo;
    for (int c = 0; c < s->C; c++)
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++) {
                const float *src = col + ((size_t)(c * k + ky) * k + kx) * ncols;
                for (int r = 0; r < nr; r++) {
                    float *plane = din + ((size_t)(r0 + r) * s->C + c) * s->H * s->W;
                    const float *d = src + (size_t)r * HoWo;
                    for (int oy = 0; oy < s->Ho; oy++) {
                        int iy = oy * s->stride - s->pad + ky;
                        if (iy < 0 || iy >= s->H) continue;
                        float *row = plane + (size_t)iy * s->W;
                        for (int ox = 0; ox < s->Wo; ox++) {
                            int ix = ox * s->stride - s->pad + kx;
                            if (ix >= 0 && ix < s->W) row[ix] += d[oy * s->Wo + ox];
                        }
                    }
                }
            }
}

void sm_conv_forward(float *out, const float *in, const float *w, const float *b,
                     const sm_conv_shape *s, int R, float *work) {
    const int CK = s->C * s->k * s->k, HoWo = s->Ho * s->Wo, chunk = chunk_rows(s, R);
    for (int r0 = 0; r0 < R; r0 += chunk) {
        int nr = R - r0 < chunk ? R - r0 : chunk;
        int ncols = nr * HoWo;
        float *col = work, *prod = work + (size_t)CK * ncols;
        im2col(col, in, s, r0, nr);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->Mc, ncols, CK, 1.0f, w, CK,
                    col, ncols, 0.0f, prod, ncols);
        for (int r = 0; r < nr; r++)
            for (int m = 0; m < s->Mc; m++) {
                float *o = out + ((size_t)(r0 + r) * s->Mc + m) * HoWo;
                const float *p = prod + (size_t)m * ncols + (size_t)r * HoWo;
                float bias = b ? b[m] : 0.0f;
                for (int i = 0; i < HoWo; i++) o[i] = p[i] + bias;
            }
    }
}

/* prod [Mc][nr*HoWo] <- dout rows r0..r0+nr */
static void gather_dout(float *prod, const float *dout, const sm_conv_shape *s, int r0, int nr) {
    const int HoWo = s->Ho * s->Wo;
    const size_t ncols = (size_t)nr * HoWo;
    for (int r = 0; r < nr; r++)
        for (int m = 0; m < s->Mc; m++)
            memcpy(prod + (size_t)m * ncols + (size_t)r * HoWo,
                   dout + ((size_t)(r0 + r) * s->Mc + m) * HoWo, sizeof(float) * HoWo);
}

void sm_conv_backward_input(float *din, const float *dout, const float *w,
                            const sm_conv_shape *s, int R, float *work) {
    const int CK = s->C * s->k * s->k, HoWo = s->Ho * s->Wo, chunk = chunk_rows(s, R);
    for (int r0 = 0; r0 < R; r0 += chunk) {
        int nr = R - r0 < chunk ? R - r0 : chunk;
        int ncols = nr * HoWo;
        float *col = work, *prod = work + (size_t)CK * ncols;
        gather_dout(prod, dout, s, r0, nr);
        /* col [CK][ncols] = w^T [CK][Mc] . prod [Mc][ncols] */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, CK, ncols, s->Mc, 1.0f, w, CK,
                    prod, ncols, 0.0f, col, ncols);
        col2im_add(din, col, s, r0, nr);
    }
}

void sm_conv_backward_weight(float *dw, float *db, const float *dout, const float *in,
                             const sm_conv_shape *s, int R, float *work) {
    const int CK = s->C * s->k * s->k, HoWo = s->Ho * s->Wo, chunk = chunk_rows(s, R);
    for (int r0 = 0; r0 < R; r0 += chunk) {
        int nr = R - r0 < chunk ? R - r0 : chunk;
        int ncols = nr * HoWo;
        float *col = work, *prod = work + (size_t)CK * ncols;
        im2col(col, in, s, r0, nr);
        gather_dout(prod, dout, s, r0, nr);
        /* dw [Mc][CK] += prod [Mc][ncols] . col^T [ncols][CK] */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->Mc, CK, ncols, 1.0f, prod, ncols,
                    col, ncols, 1.0f, dw, CK);
        if (db)
            for (int m = 0; m < s->Mc; m++) {
                const float *p = prod + (size_t)m * ncols;
                float acc = 0.0f;
                for (int i = 0; i < ncols; i++) acc += p[i];
                db[m] += acc;
            }
    }
}
