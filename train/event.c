/* event.c — event-driven kernels: dense and conv2d layers whose input is
 * mostly zeros (spikes, spike counts).
 *
 * A spiking layer's input row holds 0/1 values, most of them 0. The dense
 * kernels multiply every zero anyway; these list each row's non-zeros once
 * and touch only their weights:
 *
 *   forward          out[r,:] = Σ_{n: in[r,n] ≠ 0} in[r,n] · wT[n,:]   (+ b)
 *   weight gradient  dwT[n,:] += in[r,n] · dout[r,:]   for every non-zero (r, n)
 *
 * with wT / dwT the weights transposed into the work buffer ([N,M] dense,
 * [C·k·k, Mc] conv), so that each non-zero adds one contiguous vector. A
 * value of exactly 1 (a spike) is added without a multiplication.
 *
 * Shapes as in sm_kernels.h: in [R,N] or [R,C,H,W]; w [M,N] or [Mc,C,k,k].
 *
 * Numerics (tested in test_kernels):
 *   E1  each output element is a sum over the row's non-zeros in ascending
 *       input order, started from 0, then the bias: a row's result depends on
 *       that row alone, never on the other rows of the call, so microbatching,
 *       ranks and placement cannot change it.
 *   E2  the result equals the dense kernel's up to the order of the float sum:
 *       |event − dense| ≤ 1e-6 · Σ|terms| per element (in practice a few ulps).
 *   E3  the bias gradient is computed by the same function as the dense path's
 *       (sm_bias_grad_rows / sm_conv_bias_grad): bit-identical.
 */
#include "sm_kernels.h"

#include "sm_common.h"

#include <stdint.h>
#include <string.h>

SM_VECTOR_CLONES
double sm_density(const float *x, size_t n) {
    size_t nz = 0;
    for (size_t i0 = 0; i0 < n; i0 += 1 << 16) { /* a 32-bit count per block vectorises */
        const size_t end = n - i0 < (1 << 16) ? n : i0 + (1 << 16);
        uint32_t c = 0;
        for (size_t i = i0; i < end; i++) c += x[i] != 0.0f;
        nz += c;
    }
    return n ? (double)nz / (double)n : 0.0;
}

/* idx gets the positions of the non-zeros of x [n], ascending; returns their count. */
static inline __attribute__((always_inline)) int nonzeros(int32_t *restrict idx, const float *restrict x, int n) {
    int k = 0;
    for (int i = 0; i < n; i++) {
        idx[k] = i;
        k += x[i] != 0.0f;
    }
    return k;
}

/* acc [M] += v · row [M]; v == 1 (a spike) adds without a multiplication. */
static inline __attribute__((always_inline)) void axpy(float *restrict acc, const float *restrict row, float v,
                                                        int M) {
    if (v == 1.0f) {
        for (int m = 0; m < M; m++) acc[m] += row[m];
    } else {
        for (int m = 0; m < M; m++) acc[m] += v * row[m];
    }
}

/* dst [cols, rows] = src [rows, cols] transposed. */
static inline __attribute__((always_inline)) void transpose(float *restrict dst, const float *restrict src, int rows, int cols) {
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) dst[(size_t)c * rows + r] = src[(size_t)r * cols + c];
}

/* ---- dense ------------------------------------------------------------------- */

/* Rows of wT / dwT are padded to Mp = M rounded up to 16 floats (zeros in the
 * padding), so that a spike's vector add has no remainder loop: for the
 * 10-output layer of a classifier that is one AVX-512 add per spike. */
static int padded(int M) { return (M + 15) & ~15; }

size_t sm_dense_event_work_floats(int N, int M) {
    const size_t Mp = (size_t)padded(M);
    return (size_t)N * Mp + (size_t)N + 2 * Mp;
}

SM_VECTOR_CLONES
void sm_dense_forward_events(float *out, const float *in, const float *w, const float *b, int R, int N, int M,
                             float *work) {
    const int Mp = padded(M);
    float *wT = work;                                  /* [N,Mp] */
    int32_t *idx = (int32_t *)(wT + (size_t)N * Mp);   /* [N] */
    float *acc = (float *)(idx + N);                   /* [Mp] */
    for (int n = 0; n < N; n++) {
        float *row = wT + (size_t)n * Mp;
        for (int m = 0; m < M; m++) row[m] = w[(size_t)m * N + n];
        for (int m = M; m < Mp; m++) row[m] = 0.0f;
    }
    for (int r = 0; r < R; r++) {
        const float *x = in + (size_t)r * N;
        memset(acc, 0, sizeof(float) * (size_t)Mp);
        const int k = nonzeros(idx, x, N);
        for (int q = 0; q < k; q++) axpy(acc, wT + (size_t)idx[q] * Mp, x[idx[q]], Mp);
        float *o = out + (size_t)r * M;
        for (int m = 0; m < M; m++) o[m] = b ? acc[m] + b[m] : acc[m];
    }
}

SM_VECTOR_CLONES
void sm_dense_backward_weight_events(float *dw, float *db, const float *dout, const float *in, int R, int N,
                                     int M, float *work) {
    const int Mp = padded(M);
    float *dwT = work;                                 /* [N,Mp] */
    int32_t *idx = (int32_t *)(dwT + (size_t)N * Mp);  /* [N] */
    float *d = (float *)(idx + N);                     /* [Mp]: one row of dout, padded */
    memset(dwT, 0, sizeof(float) * (size_t)N * Mp);
    for (int m = M; m < Mp; m++) d[m] = 0.0f;
    for (int r = 0; r < R; r++) {
        const float *x = in + (size_t)r * N;
        const int k = nonzeros(idx, x, N);
        if (!k) continue;
        memcpy(d, dout + (size_t)r * M, sizeof(float) * (size_t)M);
        for (int q = 0; q < k; q++) axpy(dwT + (size_t)idx[q] * Mp, d, x[idx[q]], Mp);
    }
    for (int m = 0; m < M; m++)
        for (int n = 0; n < N; n++) dw[(size_t)m * N + n] += dwT[(size_t)n * Mp + m];
    if (db) sm_bias_grad_rows(db, dout, R, M);
}

/* ---- conv2d ----------------------------------------------------------------- */

/* The weights as the conv kernels read them: wR [C, k, k, Mc] with kx REVERSED,
 * wR[c][ky][k−1−kx][m] = w[m][c][ky][kx]. With stride 1 an input at (iy, ix)
 * reaches through taps (ky, kx0..kx1) the outputs ox = ix + pad − kx, which
 * ascend as kx descends; with kx reversed, the weights and the channels-last
 * outputs of one ky are then both one contiguous run of (kx1 − kx0 + 1)·Mc
 * floats, added by one loop instead of one per tap. */
static inline __attribute__((always_inline)) size_t rev_at(const sm_conv_shape *s, int m, int c, int ky, int kx) {
    return (((size_t)c * s->k + ky) * s->k + (s->k - 1 - kx)) * s->Mc + m;
}
static inline __attribute__((always_inline)) void weights_reversed(float *restrict wR, const float *restrict w,
                                                                    const sm_conv_shape *s) {
    for (int m = 0; m < s->Mc; m++)
        for (int c = 0; c < s->C; c++)
            for (int ky = 0; ky < s->k; ky++)
                for (int kx = 0; kx < s->k; kx++)
                    wR[rev_at(s, m, c, ky, kx)] = w[(((size_t)m * s->C + c) * s->k + ky) * s->k + kx];
}
static inline __attribute__((always_inline)) void add_weights_reversed(float *restrict dw, const float *restrict dwR,
                                                                        const sm_conv_shape *s) {
    for (int m = 0; m < s->Mc; m++)
        for (int c = 0; c < s->C; c++)
            for (int ky = 0; ky < s->k; ky++)
                for (int kx = 0; kx < s->k; kx++)
                    dw[(((size_t)m * s->C + c) * s->k + ky) * s->k + kx] += dwR[rev_at(s, m, c, ky, kx)];
}

size_t sm_conv_event_work_floats(const sm_conv_shape *s) {
    const size_t CK = (size_t)s->C * s->k * s->k, HoWo = (size_t)s->Ho * s->Wo, HW = (size_t)s->H * s->W;
    return CK * s->Mc + HoWo * s->Mc + s->C * HW + 3 * (size_t)s->Mc; /* + maxpool's best, bias, at */
}

/* For an input at (iy, ix): the runs of (tap, output) pairs it feeds. Runs
 * body with ky, j0 (the first reversed column k−1−kx of the run), opos0 (its
 * first output oy·Wo + ox) and len (taps in the run); position t of a run is
 * reversed column j0 + t and output opos0 + t. Stride 1: one run per ky;
 * other strides: runs of one tap. Runs come in ascending ky, then ascending
 * output order. */
#define FOR_EACH_RUN(s, iy, ix, ky, j0, opos0, len, body)                                     \
    if ((s)->stride == 1) {                                                                   \
        const int ty_ = (iy) + (s)->pad, tx_ = (ix) + (s)->pad;                               \
        const int ky0_ = ty_ - (s)->Ho + 1 > 0 ? ty_ - (s)->Ho + 1 : 0;                       \
        const int ky1_ = ty_ < (s)->k - 1 ? ty_ : (s)->k - 1;                                 \
        const int kx0_ = tx_ - (s)->Wo + 1 > 0 ? tx_ - (s)->Wo + 1 : 0;                       \
        const int kx1_ = tx_ < (s)->k - 1 ? tx_ : (s)->k - 1;                                 \
        const int len = kx1_ - kx0_ + 1, j0 = (s)->k - 1 - kx1_;                              \
        if (len > 0)                                                                          \
            for (int ky = ky0_; ky <= ky1_; ky++) {                                           \
                const int opos0 = (ty_ - ky) * (s)->Wo + (tx_ - kx1_);                        \
                body;                                                                         \
            }                                                                                 \
    } else {                                                                                  \
        for (int ky = 0; ky < (s)->k; ky++) {                                                 \
            int ty = (iy) + (s)->pad - ky;                                                    \
            if (ty < 0 || ty % (s)->stride) continue;                                        \
            int oy = ty / (s)->stride;                                                        \
            if (oy >= (s)->Ho) continue;                                                      \
            for (int kx = (s)->k - 1; kx >= 0; kx--) {                                        \
                int tx = (ix) + (s)->pad - kx;                                                \
                if (tx < 0 || tx % (s)->stride) continue;                                    \
                int ox = tx / (s)->stride;                                                    \
                if (ox >= (s)->Wo) continue;                                                  \
                const int len = 1, j0 = (s)->k - 1 - kx, opos0 = oy * (s)->Wo + ox;           \
                body;                                                                         \
            }                                                                                 \
        }                                                                                     \
    }

/* acc [HoWo, Mc] (channels last) = the op's output of one input row x [C,H,W],
 * without the bias: Σ over x's non-zeros (ascending) of x · w (wR as above). */
static inline __attribute__((always_inline)) void conv_row_events(float *restrict acc, const float *restrict x,
                                                                   const float *restrict wR, int32_t *restrict idx,
                                                                   const sm_conv_shape *s) {
    const int Mc = s->Mc, kk = s->k * s->k, HW = s->H * s->W;
    memset(acc, 0, sizeof(float) * (size_t)s->Ho * s->Wo * Mc);
    const int nz = nonzeros(idx, x, s->C * HW);
    for (int q = 0; q < nz; q++) {
        const int e = idx[q], c = e / HW, iy = (e % HW) / s->W, ix = e % s->W;
        const float v = x[e];
        const float *wc = wR + (size_t)c * kk * Mc;
        FOR_EACH_RUN(s, iy, ix, ky, j0, opos0, len,
                     axpy(acc + (size_t)opos0 * Mc, wc + (size_t)(ky * s->k + j0) * Mc, v, len * Mc));
    }
}

SM_VECTOR_CLONES
void sm_conv_forward_events(float *out, const float *in, const float *w, const float *b, const sm_conv_shape *s,
                            int R, float *work) {
    const int Mc = s->Mc, CK = s->C * s->k * s->k, HoWo = s->Ho * s->Wo, n_in = s->C * s->H * s->W;
    float *wR = work;                                      /* [C, k, k, Mc] */
    float *acc = wR + (size_t)CK * Mc;                     /* [HoWo, Mc] */
    int32_t *idx = (int32_t *)(acc + (size_t)HoWo * Mc);   /* [C*H*W] */
    weights_reversed(wR, w, s);
    for (int r = 0; r < R; r++) {
        conv_row_events(acc, in + (size_t)r * n_in, wR, idx, s);
        float *o = out + (size_t)r * Mc * HoWo;
        for (int m = 0; m < Mc; m++) {
            const float bias = b ? b[m] : 0.0f;
            for (int p = 0; p < HoWo; p++) o[(size_t)m * HoWo + p] = acc[(size_t)p * Mc + m] + bias;
        }
    }
}

SM_VECTOR_CLONES
void sm_conv_forward_events_maxpool(float *out, int32_t *pidx, const float *in, const float *w, const float *b,
                                    const sm_conv_shape *s, int p, int R, float *work) {
    const int Mc = s->Mc, CK = s->C * s->k * s->k, HoWo = s->Ho * s->Wo, n_in = s->C * s->H * s->W;
    const int Hp = s->Ho / p, Wp = s->Wo / p, HpWp = Hp * Wp;
    float *wR = work;                                      /* [C, k, k, Mc] */
    float *acc = wR + (size_t)CK * Mc;                     /* [HoWo, Mc] */
    int32_t *idx = (int32_t *)(acc + (size_t)HoWo * Mc);   /* [C*H*W] */
    float *best = (float *)(idx + n_in), *bias = best + Mc; /* [Mc] each */
    int32_t *at = (int32_t *)(bias + Mc);                  /* [Mc] */
    weights_reversed(wR, w, s);
    for (int m = 0; m < Mc; m++) bias[m] = b ? b[m] : 0.0f;
    for (int r = 0; r < R; r++) {
        conv_row_events(acc, in + (size_t)r * n_in, wR, idx, s);
        float *o = out + (size_t)r * Mc * HpWp;
        int32_t *oi = pidx + (size_t)r * Mc * HpWp;
        for (int py = 0; py < Hp; py++)
            for (int px = 0; px < Wp; px++) {
                /* the window's values (op output + bias) in row-major order; strict '>'
                 * keeps the FIRST maximum, as sm_maxpool_forward does */
                for (int dy = 0; dy < p; dy++)
                    for (int dx = 0; dx < p; dx++) {
                        const int pos = (py * p + dy) * s->Wo + px * p + dx;
                        const float *a = acc + (size_t)pos * Mc;
                        if (dy == 0 && dx == 0) {
                            for (int m = 0; m < Mc; m++) best[m] = a[m] + bias[m], at[m] = pos;
                        } else {
                            for (int m = 0; m < Mc; m++) {
                                const float v = a[m] + bias[m];
                                at[m] = v > best[m] ? pos : at[m];
                                best[m] = v > best[m] ? v : best[m];
                            }
                        }
                    }
                for (int m = 0; m < Mc; m++) {
                    o[(size_t)m * HpWp + py * Wp + px] = best[m];
                    oi[(size_t)m * HpWp + py * Wp + px] = at[m];
                }
            }
    }
}

SM_VECTOR_CLONES
void sm_conv_backward_weight_events(float *dw, float *db, const float *dout, const float *in,
                                    const sm_conv_shape *s, int R, float *work) {
    const int Mc = s->Mc, kk = s->k * s->k, CK = s->C * kk, HW = s->H * s->W, HoWo = s->Ho * s->Wo;
    const int n_in = s->C * HW;
    float *dwR = work;                                     /* [C, k, k, Mc], kx reversed */
    float *dT = dwR + (size_t)CK * Mc;                     /* [HoWo, Mc]: dout of one row, transposed */
    int32_t *idx = (int32_t *)(dT + (size_t)HoWo * Mc);    /* [C*H*W] */
    memset(dwR, 0, sizeof(float) * (size_t)CK * Mc);
    for (int r = 0; r < R; r++) {
        const float *x = in + (size_t)r * n_in;
        int nz = nonzeros(idx, x, n_in);
        if (!nz) continue;
        transpose(dT, dout + (size_t)r * Mc * HoWo, Mc, HoWo);
        for (int q = 0; q < nz; q++) {
            const int e = idx[q], c = e / HW, iy = (e % HW) / s->W, ix = e % s->W;
            const float v = x[e];
            float *dwc = dwR + (size_t)c * kk * Mc;
            FOR_EACH_RUN(s, iy, ix, ky, j0, opos0, len,
                         axpy(dwc + (size_t)(ky * s->k + j0) * Mc, dT + (size_t)opos0 * Mc, v, len * Mc));
        }
    }
    add_weights_reversed(dw, dwR, s);
    if (db) sm_conv_bias_grad(db, dout, s, R);
}
