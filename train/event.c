/* event.c — event-driven kernels: dense and conv2d layers whose input is
 * spikes, given as bits (spikes.c).
 *
 * A spiking layer's input row holds 0/1 values, most of them 0. The dense
 * kernels multiply every zero anyway; these walk each row's spikes (one
 * count-trailing-zeros per spike) and touch only their weights:
 *
 *   forward          out[r,:] = Σ_{n: spike (r, n)} wT[n,:]   (+ b)
 *   weight gradient  dwT[n,:] += dout[r,:]   for every spike (r, n)
 *
 * with wT / dwT the weights transposed into the work buffer ([N, Mp] dense,
 * [C, k, k, Mc] conv), so that each spike adds one contiguous vector.
 *
 * Shapes as in sm_kernels.h: in [R, N] or [R, C·H·W] as spike bits; w [M,N]
 * or [Mc,C,k,k].
 *
 * Numerics (tested in test_event):
 *   E1  each output element is a sum over the row's spikes in ascending input
 *       order, started from 0, then the bias: a row's result depends on that
 *       row alone, never on the other rows of the call, so microbatching,
 *       ranks and placement cannot change it.
 *   E2  the result equals the dense kernel's up to the order of the float sum:
 *       |event − dense| ≤ 1e-6 · Σ|terms| per element (in practice a few ulps),
 *       and bit for bit when every partial sum is exact.
 *   E3  the bias gradient is bit for bit the dense path's: the dense kernel
 *       calls the same function (sm_bias_grad_rows); the conv kernel sums the
 *       output gradient it spreads anyway, in sm_conv_bias_grad's chunks of
 *       rows and order of positions.
 */
#include "sm_kernels.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "sm_common.h"

/* For every spike n of row `row` (W words), ascending: the body (n is the spike's column). */
#define FOR_EACH_SPIKE(row, W, n, ...)                                   \
    for (int w_ = 0; w_ < (W); w_++)                                     \
        for (uint64_t v_ = (row)[w_]; v_; v_ &= v_ - 1) {                \
            const int n = 64 * w_ + __builtin_ctzll(v_);                 \
            __VA_ARGS__;                                                 \
        }

/* acc [M] += row [M]. */
static inline __attribute__((always_inline)) void add(float *restrict acc, const float *restrict row, int M) {
    for (int m = 0; m < M; m++) acc[m] += row[m];
}

/* dst [cols, rows] = src [rows, cols] transposed. */
static inline __attribute__((always_inline)) void transpose(float *restrict dst, const float *restrict src, int rows,
                                                             int cols) {
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
    return (size_t)N * Mp + Mp;
}

SM_VECTOR_CLONES
void sm_dense_forward_spikes(float *out, const uint64_t *in, const float *w, const float *b, int R, int N, int M,
                             float *work) {
    const int Mp = padded(M), W = sm_spike_words(N);
    float *wT = work, *acc = work + (size_t)N * Mp;    /* [N,Mp], [Mp] */
    for (int n = 0; n < N; n++) {
        float *row = wT + (size_t)n * Mp;
        for (int m = 0; m < M; m++) row[m] = w[(size_t)m * N + n];
        for (int m = M; m < Mp; m++) row[m] = 0.0f;
    }
    for (int r = 0; r < R; r++) {
        for (int m = 0; m < Mp; m++) acc[m] = 0.0f;
        FOR_EACH_SPIKE(in + (size_t)r * W, W, n, add(acc, wT + (size_t)n * Mp, Mp));
        float *o = out + (size_t)r * M;
        for (int m = 0; m < M; m++) o[m] = b ? acc[m] + b[m] : acc[m];
    }
}

SM_VECTOR_CLONES
void sm_dense_backward_weight_spikes(float *dw, float *db, const float *dout, const uint64_t *in, int R, int N,
                                     int M, float *work) {
    const int Mp = padded(M), W = sm_spike_words(N);
    float *dwT = work, *d = work + (size_t)N * Mp;     /* [N,Mp]; one row of dout, padded [Mp] */
    memset(dwT, 0, sizeof(float) * (size_t)N * Mp);
    for (int m = M; m < Mp; m++) d[m] = 0.0f;
    for (int r = 0; r < R; r++) {
        memcpy(d, dout + (size_t)r * M, sizeof(float) * (size_t)M);
        FOR_EACH_SPIKE(in + (size_t)r * W, W, n, add(dwT + (size_t)n * Mp, d, Mp));
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
    return CK * s->Mc + HoWo * s->Mc + 3 * s->C * HW + 3 * (size_t)s->Mc; /* wR, acc, where[], maxpool's */
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

/* where [C·H·W]: each input position's (c, iy, ix), so a spike's column
 * decodes with one load instead of two divisions. */
typedef struct { int32_t c, iy, ix; } conv_pos;
static inline __attribute__((always_inline)) void positions(conv_pos *where, const sm_conv_shape *s) {
    for (int c = 0, e = 0; c < s->C; c++)
        for (int iy = 0; iy < s->H; iy++)
            for (int ix = 0; ix < s->W; ix++, e++) where[e] = (conv_pos){c, iy, ix};
}

/* acc [HoWo, Mc] (channels last) = the op's output of one input row (spike
 * bits, W words), without the bias: Σ over the row's spikes (ascending) of w
 * (wR as above). */
static inline __attribute__((always_inline)) void conv_row_spikes(float *restrict acc, const uint64_t *restrict row,
                                                                   int W, const float *restrict wR,
                                                                   const conv_pos *restrict where,
                                                                   const sm_conv_shape *s) {
    const int Mc = s->Mc, kk = s->k * s->k;
    memset(acc, 0, sizeof(float) * (size_t)s->Ho * s->Wo * Mc);
    FOR_EACH_SPIKE(row, W, e, {
        const int c = where[e].c, iy = where[e].iy, ix = where[e].ix;
        const float *wc = wR + (size_t)c * kk * Mc;
        FOR_EACH_RUN(s, iy, ix, ky, j0, opos0, len,
                     add(acc + (size_t)opos0 * Mc, wc + (size_t)(ky * s->k + j0) * Mc, len * Mc));
    });
}

/* The work buffer of the conv kernels: wR [CK, Mc], acc [HoWo, Mc], where [C·H·W]. */
typedef struct {
    float *wR, *acc;
    conv_pos *where;
    float *tail; /* what follows */
} conv_work;
static conv_work conv_work_at(float *work, const sm_conv_shape *s) {
    conv_work cw;
    const size_t CK = (size_t)s->C * s->k * s->k, HoWo = (size_t)s->Ho * s->Wo, n_in = (size_t)s->C * s->H * s->W;
    cw.wR = work;
    cw.acc = cw.wR + CK * s->Mc;
    cw.where = (conv_pos *)(cw.acc + HoWo * s->Mc);
    cw.tail = (float *)(cw.where + n_in);
    return cw;
}

SM_VECTOR_CLONES
void sm_conv_forward_spikes(float *out, const uint64_t *in, const float *w, const float *b, const sm_conv_shape *s,
                            int R, float *work) {
    const int Mc = s->Mc, HoWo = s->Ho * s->Wo, W = sm_spike_words(s->C * s->H * s->W);
    conv_work cw = conv_work_at(work, s);
    weights_reversed(cw.wR, w, s);
    positions(cw.where, s);
    for (int r = 0; r < R; r++) {
        conv_row_spikes(cw.acc, in + (size_t)r * W, W, cw.wR, cw.where, s);
        float *o = out + (size_t)r * Mc * HoWo;
        for (int m = 0; m < Mc; m++) {
            const float bias = b ? b[m] : 0.0f;
            for (int p = 0; p < HoWo; p++) o[(size_t)m * HoWo + p] = cw.acc[(size_t)p * Mc + m] + bias;
        }
    }
}

SM_VECTOR_CLONES
void sm_conv_forward_spikes_maxpool(float *out, int32_t *pidx, const uint64_t *in, const float *w, const float *b,
                                    const sm_conv_shape *s, int p, int R, float *work) {
    const int Mc = s->Mc, W = sm_spike_words(s->C * s->H * s->W);
    const int Hp = s->Ho / p, Wp = s->Wo / p, HpWp = Hp * Wp;
    conv_work cw = conv_work_at(work, s);
    float *best = cw.tail, *bias = best + Mc;          /* [Mc] each */
    int32_t *at = (int32_t *)(bias + Mc);              /* [Mc] */
    weights_reversed(cw.wR, w, s);
    positions(cw.where, s);
    for (int m = 0; m < Mc; m++) bias[m] = b ? b[m] : 0.0f;
    for (int r = 0; r < R; r++) {
        conv_row_spikes(cw.acc, in + (size_t)r * W, W, cw.wR, cw.where, s);
        float *o = out + (size_t)r * Mc * HpWp;
        int32_t *oi = pidx + (size_t)r * Mc * HpWp;
        for (int py = 0; py < Hp; py++)
            for (int px = 0; px < Wp; px++) {
                /* the window's values (op output + bias) in row-major order; strict '>'
                 * keeps the FIRST maximum, as sm_maxpool_forward does */
                for (int dy = 0; dy < p; dy++)
                    for (int dx = 0; dx < p; dx++) {
                        const int pos = (py * p + dy) * s->Wo + px * p + dx;
                        const float *a = cw.acc + (size_t)pos * Mc;
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
void sm_conv_backward_weight_spikes(float *dw, float *db, sm_conv_grad g, const uint64_t *in,
                                    const sm_conv_shape *s, int R, float *work) {
    const int Mc = s->Mc, kk = s->k * s->k, CK = s->C * kk, HoWo = s->Ho * s->Wo;
    const int W = sm_spike_words(s->C * s->H * s->W);
    conv_work cw = conv_work_at(work, s);
    float *dwR = cw.wR, *dT = cw.acc;                  /* [C, k, k, Mc] kx reversed; dout of one row, transposed */
    float *bias = cw.tail;                             /* [Mc]: the bias gradient of the current chunk of rows */
    const int step = sm_conv_chunk_rows(s, R);
    memset(dwR, 0, sizeof(float) * (size_t)CK * Mc);
    memset(bias, 0, sizeof(float) * (size_t)Mc);
    positions(cw.where, s);
    for (int r = 0; r < R; r++) {
        const uint64_t *row = in + (size_t)r * W;
        if (!g.idx) {
            transpose(dT, g.d + (size_t)r * Mc * HoWo, Mc, HoWo);
        } else { /* the pooled gradients at their positions, zeros elsewhere */
            const int HpWp = (s->Ho / g.p) * (s->Wo / g.p);
            memset(dT, 0, sizeof(float) * (size_t)HoWo * Mc);
            for (int m = 0; m < Mc; m++)
                for (int q = 0; q < HpWp; q++) {
                    const size_t at = ((size_t)r * Mc + m) * HpWp + q;
                    dT[(size_t)g.idx[at] * Mc + m] = g.d[at];
                }
        }
        if (db) { /* E3: sm_conv_bias_grad's chunks and order (rows, then positions), every
                   * channel side by side, and the same bits (adding the spread's +0.0s is exact) */
            for (int p = 0; p < HoWo; p++) add(bias, dT + (size_t)p * Mc, Mc);
            if ((r + 1) % step == 0 || r == R - 1) {
                for (int m = 0; m < Mc; m++) db[m] += bias[m];
                memset(bias, 0, sizeof(float) * (size_t)Mc);
            }
        }
        FOR_EACH_SPIKE(row, W, e, {
            const int c = cw.where[e].c, iy = cw.where[e].iy, ix = cw.where[e].ix;
            float *dwc = dwR + (size_t)c * kk * Mc;
            FOR_EACH_RUN(s, iy, ix, ky, j0, opos0, len,
                         add(dwc + (size_t)(ky * s->k + j0) * Mc, dT + (size_t)opos0 * Mc, len * Mc));
        });
    }
    add_weights_reversed(dw, dwR, s);
}

/* ---- conv2d input gradient from a pooled output gradient ------------------- */

/* Max pooling leaves one non-zero output gradient per channel and window: a
 * quarter of the output for 2x2. Each one, g at (m, oy, ox), adds g · w[m, :,
 * ky, kx] to the input positions its taps read; the input gradient of a row is
 * accumulated channels last, the channels padded to Cp = a multiple of 16 so
 * that the taps of one kernel row are one run of (kx1 − kx0)·Cp floats with no
 * remainder loop, each term a fused multiply-add (fmaf: one rounding, exactly
 * specified, so every CPU and vector clone gives the same bits). */
static int padded_channels(int C) { return (C + 15) & ~15; }

size_t sm_conv_input_grad_work_floats(const sm_conv_shape *s) {
    const size_t Cp = (size_t)padded_channels(s->C);
    return (size_t)s->Mc * s->k * s->k * Cp + (size_t)s->H * s->W * Cp;
}

SM_VECTOR_CLONES
void sm_conv_backward_input_pooled(float *din, sm_conv_grad g, const float *w, const sm_conv_shape *s, int R,
                                   float *work) {
    const int C = s->C, Cp = padded_channels(C), Mc = s->Mc, k = s->k, kk = k * k, HW = s->H * s->W;
    const int Hp = s->Ho / g.p, Wp = s->Wo / g.p, HpWp = Hp * Wp;
    float *wP = work;                                     /* [Mc, k, k, Cp], zeros in the padding */
    float *acc = wP + (size_t)Mc * kk * Cp;               /* [HW, Cp]: one row's input gradient */
    for (int m = 0; m < Mc; m++)
        for (int t = 0; t < kk; t++)
            for (int c = 0; c < Cp; c++)
                wP[((size_t)m * kk + t) * Cp + c] = c < C ? w[((size_t)m * C + c) * kk + t] : 0.0f;
    for (int r = 0; r < R; r++) {
        memset(acc, 0, sizeof(float) * (size_t)HW * Cp);
        for (int m = 0; m < Mc; m++) {
            const size_t q0 = ((size_t)r * Mc + m) * HpWp;
            const float *wm = wP + (size_t)m * kk * Cp;
            for (int q = 0; q < HpWp; q++) {
                const float gv = g.d[q0 + q];
                if (gv == 0.0f) continue;
                const int pos = g.idx[q0 + q], oy = pos / s->Wo, ox = pos % s->Wo;
                const int iy0 = oy * s->stride - s->pad, ix0 = ox * s->stride - s->pad; /* input of tap (0, 0) */
                const int ky0 = iy0 < 0 ? -iy0 : 0, ky1 = s->H - iy0 < k ? s->H - iy0 : k;
                const int kx0 = ix0 < 0 ? -ix0 : 0, kx1 = s->W - ix0 < k ? s->W - ix0 : k;
                const int n = (kx1 - kx0) * Cp;
                for (int ky = ky0; ky < ky1; ky++) {
                    float *restrict a = acc + ((size_t)(iy0 + ky) * s->W + ix0 + kx0) * Cp;
                    const float *restrict wr = wm + (size_t)(ky * k + kx0) * Cp;
                    for (int j = 0; j < n; j++) a[j] = fmaf(gv, wr[j], a[j]);
                }
            }
        }
        float *out = din + (size_t)r * C * HW; /* [C, HW] = acc's first C channels, transposed */
        for (int c = 0; c < C; c++)
            for (int p = 0; p < HW; p++) out[(size_t)c * HW + p] = acc[(size_t)p * Cp + c];
    }
}
