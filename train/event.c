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
#include "sm_parallel.h"

/* For every spike n of row `row` (W words), ascending: the body (n is the spike's column). */
#define FOR_EACH_SPIKE(row, W, n, ...)                                   \
    for (int w_ = 0; w_ < (W); w_++)                                     \
        for (uint64_t v_ = (row)[w_]; v_; v_ &= v_ - 1) {                \
            const int n = 64 * w_ + __builtin_ctzll(v_);                 \
            __VA_ARGS__;                                                 \
        }

/* The same for the spikes n of row with e0 <= n < e1. */
static inline uint64_t bits_between(int w, int e0, int e1) {
    const int lo = e0 - 64 * w, hi = e1 - 64 * w; /* the range within word w */
    const uint64_t below_hi = hi >= 64 ? ~0ull : (1ull << hi) - 1, below_lo = lo <= 0 ? 0 : (1ull << lo) - 1;
    return below_hi & ~below_lo;
}
#define FOR_EACH_SPIKE_IN(row, e0, e1, n, ...)                              \
    for (int w_ = (e0) / 64; 64 * w_ < (e1); w_++)                          \
        for (uint64_t v_ = (row)[w_] & bits_between(w_, e0, e1); v_; v_ &= v_ - 1) { \
            const int n = 64 * w_ + __builtin_ctzll(v_);                    \
            __VA_ARGS__;                                                    \
        }

/* acc [M] += row [M]. */
static inline __attribute__((always_inline)) void add(float *restrict acc, const float *restrict row, int M) {
#pragma GCC unroll 4
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

/* Work: wT or dwT [N, Mp], shared; then per thread one row [Mp] (acc or dout). */
size_t sm_dense_event_work_floats(int N, int M) {
    const size_t Mp = (size_t)padded(M);
    return (size_t)N * Mp + (size_t)sm_parallel_threads() * Mp;
}

typedef struct {
    float *out, *dw, *db, *wT;  /* out, or dw, db; wT: w (or dw) transposed [N, Mp] */
    const float *w, *b, *dout;
    const uint64_t *in;
    int R, N, M;
    float *rows;                /* per thread [Mp] */
} dense_job;

/* Forward, threads split the rows (E1: a row's result is the same whichever
 * thread computes it). wT is built first, split over its rows n. */
SM_VECTOR_CLONES
static void dense_transpose_share(void *v, int t, int nt) {
    const dense_job *j = v;
    const int Mp = padded(j->M);
    size_t n0, n1;
    sm_parallel_range((size_t)j->N, t, nt, 1, &n0, &n1);
    for (size_t n = n0; n < n1; n++) {
        float *row = j->wT + n * Mp;
        for (int m = 0; m < j->M; m++) row[m] = j->w[(size_t)m * j->N + n];
        for (int m = j->M; m < Mp; m++) row[m] = 0.0f;
    }
}
SM_VECTOR_CLONES
static void dense_forward_share(void *v, int t, int nt) {
    const dense_job *j = v;
    const int Mp = padded(j->M), W = sm_spike_words(j->N), M = j->M;
    float *acc = j->rows + (size_t)t * Mp;
    size_t r0, r1;
    sm_parallel_range((size_t)j->R, t, nt, 1, &r0, &r1);
    for (size_t r = r0; r < r1; r++) {
        for (int m = 0; m < Mp; m++) acc[m] = 0.0f;
        FOR_EACH_SPIKE(j->in + r * W, W, n, add(acc, j->wT + (size_t)n * Mp, Mp));
        float *o = j->out + r * M;
        for (int m = 0; m < M; m++) o[m] = j->b ? acc[m] + j->b[m] : acc[m];
    }
}

void sm_dense_forward_spikes(float *out, const uint64_t *in, const float *w, const float *b, int R, int N, int M,
                             float *work) {
    dense_job j = {.out = out, .wT = work, .w = w, .b = b, .in = in, .R = R, .N = N, .M = M,
                   .rows = work + (size_t)N * padded(M)};
    sm_parallel_run(dense_transpose_share, &j);
    sm_parallel_run(dense_forward_share, &j);
}

/* Weight gradient, threads split the inputs n in whole words of spike bits:
 * each dwT[n, :] is summed by one thread over the rows in order, as with one
 * thread. Thread 0 also sums the bias gradient. */
SM_VECTOR_CLONES
static void dense_weight_share(void *v, int t, int nt) {
    const dense_job *j = v;
    const int Mp = padded(j->M), W = sm_spike_words(j->N), M = j->M, N = j->N;
    float *d = j->rows + (size_t)t * Mp; /* one row of dout, padded */
    size_t w0, w1;
    sm_parallel_range((size_t)W, t, nt, 1, &w0, &w1);
    const int n0 = 64 * (int)w0, n1 = 64 * (int)w1 < N ? 64 * (int)w1 : N;
    if (t == 0 && j->db) sm_bias_grad_rows(j->db, j->dout, j->R, M);
    if (n0 >= n1) return;
    memset(j->wT + (size_t)n0 * Mp, 0, sizeof(float) * (size_t)(n1 - n0) * Mp);
    for (int m = M; m < Mp; m++) d[m] = 0.0f;
    for (int r = 0; r < j->R; r++) {
        memcpy(d, j->dout + (size_t)r * M, sizeof(float) * (size_t)M);
        FOR_EACH_SPIKE(j->in + (size_t)r * W + w0, (int)(w1 - w0), n, add(j->wT + (size_t)(n0 + n) * Mp, d, Mp));
    }
    for (int m = 0; m < M; m++)
        for (int n = n0; n < n1; n++) j->dw[(size_t)m * N + n] += j->wT[(size_t)n * Mp + m];
}

void sm_dense_backward_weight_spikes(float *dw, float *db, const float *dout, const uint64_t *in, int R, int N,
                                     int M, float *work) {
    dense_job j = {.dw = dw, .db = db, .wT = work, .dout = dout, .in = in, .R = R, .N = N, .M = M,
                   .rows = work + (size_t)N * padded(M)};
    sm_parallel_run(dense_weight_share, &j);
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

/* The work buffer of the conv kernels: shared wR [CK, Mc] (the weights or
 * their gradient, reversed), where [C·H·W] and bias [Mc]; then per thread acc
 * [HoWo, Mc] (one row's output, or output gradient, channels last), and best,
 * at [Mc] (the fused max pooling's). */
typedef struct {
    float *wR, *bias;
    conv_pos *where;
    float *threads;
    size_t per_thread;
} conv_work;
static size_t conv_shared_floats(const sm_conv_shape *s) {
    return (size_t)s->C * s->k * s->k * s->Mc + sizeof(conv_pos) / sizeof(float) * s->C * s->H * s->W + s->Mc;
}
static size_t conv_thread_floats(const sm_conv_shape *s) { return (size_t)s->Ho * s->Wo * s->Mc + 2 * (size_t)s->Mc; }
static conv_work conv_work_at(float *work, const sm_conv_shape *s) {
    conv_work cw;
    cw.wR = work;
    cw.where = (conv_pos *)(cw.wR + (size_t)s->C * s->k * s->k * s->Mc);
    cw.bias = (float *)(cw.where + (size_t)s->C * s->H * s->W);
    cw.threads = work + conv_shared_floats(s);
    cw.per_thread = conv_thread_floats(s);
    return cw;
}
static float *conv_acc(const conv_work *cw, int t) { return cw->threads + (size_t)t * cw->per_thread; }

size_t sm_conv_event_work_floats(const sm_conv_shape *s) {
    return conv_shared_floats(s) + (size_t)sm_parallel_threads() * conv_thread_floats(s);
}

typedef struct {
    float *out, *dw, *db;
    int32_t *idx;
    const uint64_t *in;
    sm_conv_grad g;
    const sm_conv_shape *s;
    int R, p;
    conv_work cw;
} conv_job;

/* The forward kernels split the rows over the threads (E1). */
SM_VECTOR_CLONES
static void conv_forward_share(void *v, int t, int nt) {
    const conv_job *j = v;
    const sm_conv_shape *s = j->s;
    const int Mc = s->Mc, HoWo = s->Ho * s->Wo, W = sm_spike_words(s->C * s->H * s->W);
    float *acc = conv_acc(&j->cw, t);
    size_t r0, r1;
    sm_parallel_range((size_t)j->R, t, nt, 1, &r0, &r1);
    for (size_t r = r0; r < r1; r++) {
        conv_row_spikes(acc, j->in + r * W, W, j->cw.wR, j->cw.where, s);
        float *o = j->out + r * Mc * HoWo;
        for (int m = 0; m < Mc; m++)
            for (int p = 0; p < HoWo; p++) o[(size_t)m * HoWo + p] = acc[(size_t)p * Mc + m] + j->cw.bias[m];
    }
}

/* The shared part of both forwards' work: the weights reversed, the input
 * positions, the bias (0 without one). */
static void conv_forward_setup(const conv_job *j, const float *w, const float *b) {
    weights_reversed(j->cw.wR, w, j->s);
    positions(j->cw.where, j->s);
    for (int m = 0; m < j->s->Mc; m++) j->cw.bias[m] = b ? b[m] : 0.0f;
}

void sm_conv_forward_spikes(float *out, const uint64_t *in, const float *w, const float *b, const sm_conv_shape *s,
                            int R, float *work) {
    conv_job j = {.out = out, .in = in, .s = s, .R = R, .cw = conv_work_at(work, s)};
    conv_forward_setup(&j, w, b);
    sm_parallel_run(conv_forward_share, &j);
}

SM_VECTOR_CLONES
static void conv_forward_maxpool_share(void *v, int t, int nt) {
    const conv_job *j = v;
    const sm_conv_shape *s = j->s;
    const int Mc = s->Mc, W = sm_spike_words(s->C * s->H * s->W), p = j->p;
    const int Hp = s->Ho / p, Wp = s->Wo / p, HpWp = Hp * Wp;
    float *acc = conv_acc(&j->cw, t), *best = acc + (size_t)s->Ho * s->Wo * Mc;
    const float *bias = j->cw.bias;
    int32_t *at = (int32_t *)(best + Mc);
    size_t r0, r1;
    sm_parallel_range((size_t)j->R, t, nt, 1, &r0, &r1);
    for (size_t r = r0; r < r1; r++) {
        conv_row_spikes(acc, j->in + r * W, W, j->cw.wR, j->cw.where, s);
        float *o = j->out + r * Mc * HpWp;
        int32_t *oi = j->idx + r * Mc * HpWp;
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
                                const float x = a[m] + bias[m];
                                at[m] = x > best[m] ? pos : at[m];
                                best[m] = x > best[m] ? x : best[m];
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

void sm_conv_forward_spikes_maxpool(float *out, int32_t *pidx, const uint64_t *in, const float *w, const float *b,
                                    const sm_conv_shape *s, int p, int R, float *work) {
    conv_job j = {.out = out, .idx = pidx, .in = in, .s = s, .R = R, .p = p, .cw = conv_work_at(work, s)};
    conv_forward_setup(&j, w, b);
    sm_parallel_run(conv_forward_maxpool_share, &j);
}

/* The weight gradient splits the input channels over the threads: the spikes
 * of channels [c0, c1) are bits [c0·HW, c1·HW) of a row, and only they touch
 * dwR[c0..c1), so each element is summed by one thread over the rows in
 * order, as with one thread. Every thread spreads each row's output gradient
 * for itself (a few percent of the work); thread 0 also sums the bias. */
SM_VECTOR_CLONES
static void conv_weight_share(void *v, int t, int nt) {
    const conv_job *j = v;
    const sm_conv_shape *s = j->s;
    const sm_conv_grad g = j->g;
    const int Mc = s->Mc, kk = s->k * s->k, HoWo = s->Ho * s->Wo, HW = s->H * s->W;
    const int W = sm_spike_words(s->C * HW);
    float *dwR = j->cw.wR, *dT = conv_acc(&j->cw, t); /* [C, k, k, Mc] kx reversed; dout of one row, transposed */
    float *bias = j->cw.bias;                         /* thread 0's: the bias gradient of the current chunk of rows */
    const int sum_bias = t == 0 && j->db;
    size_t c0, c1;
    sm_parallel_range((size_t)s->C, t, nt, 1, &c0, &c1);
    if (c0 == c1 && !sum_bias) return;
    memset(dwR + c0 * kk * Mc, 0, sizeof(float) * (c1 - c0) * kk * Mc);
    const int step = sm_conv_chunk_rows(s, j->R), e0 = (int)c0 * HW, e1 = (int)c1 * HW;
    for (int r = 0; r < j->R; r++) {
        if (!g.idx) {
            transpose(dT, g.d + (size_t)r * Mc * HoWo, Mc, HoWo);
        } else { /* the pooled gradients at their positions, zeros elsewhere */
            const int HpWp = (s->Ho / g.p) * (s->Wo / g.p);
            memset(dT, 0, sizeof(float) * (size_t)HoWo * Mc);
            for (int m = 0; m < Mc; m++)
                for (int q = 0; q < HpWp; q++) {
                    const size_t a = ((size_t)r * Mc + m) * HpWp + q;
                    dT[(size_t)g.idx[a] * Mc + m] = g.d[a];
                }
        }
        if (sum_bias) { /* E3: sm_conv_bias_grad's chunks and order (rows, then positions), every
                         * channel side by side, and the same bits (adding the spread's +0.0s is exact) */
            for (int p = 0; p < HoWo; p++) add(bias, dT + (size_t)p * Mc, Mc);
            if ((r + 1) % step == 0 || r == j->R - 1) {
                for (int m = 0; m < Mc; m++) j->db[m] += bias[m];
                memset(bias, 0, sizeof(float) * (size_t)Mc);
            }
        }
        FOR_EACH_SPIKE_IN(j->in + (size_t)r * W, e0, e1, e, {
            const int c = j->cw.where[e].c, iy = j->cw.where[e].iy, ix = j->cw.where[e].ix;
            float *dwc = dwR + (size_t)c * kk * Mc;
            FOR_EACH_RUN(s, iy, ix, ky, jr, opos0, len,
                         add(dwc + (size_t)(ky * s->k + jr) * Mc, dT + (size_t)opos0 * Mc, len * Mc));
        });
    }
}

void sm_conv_backward_weight_spikes(float *dw, float *db, sm_conv_grad g, const uint64_t *in,
                                    const sm_conv_shape *s, int R, float *work) {
    conv_job j = {.dw = dw, .db = db, .in = in, .g = g, .s = s, .R = R, .cw = conv_work_at(work, s)};
    memset(j.cw.bias, 0, sizeof(float) * (size_t)s->Mc);
    positions(j.cw.where, s);
    sm_parallel_run(conv_weight_share, &j);
    add_weights_reversed(dw, j.cw.wR, s);
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

/* Work: wP [Mc, k, k, Cp] and pos_y [Ho·Wo] shared, then per thread acc [HW, Cp]. */
size_t sm_conv_input_grad_work_floats(const sm_conv_shape *s) {
    const size_t Cp = (size_t)padded_channels(s->C);
    return (size_t)s->Mc * s->k * s->k * Cp + (size_t)s->Ho * s->Wo +
           (size_t)sm_parallel_threads() * s->H * s->W * Cp;
}

typedef struct {
    float *din;
    sm_conv_grad g;
    const float *w;
    const sm_conv_shape *s;
    int R;
    float *wP, *acc;
    int32_t *pos_y;   /* [Ho·Wo]: each output position's row, so that no g costs a division */
} input_grad_job;

/* Threads split the rows: a row's input gradient depends on that row alone. */
SM_VECTOR_CLONES
static void input_grad_share(void *v, int t, int nt) {
    const input_grad_job *j = v;
    /* the shape in locals: the compiler need not reload it after each store to acc */
    const int C = j->s->C, Cp = padded_channels(C), Mc = j->s->Mc, k = j->s->k, kk = k * k;
    const int H = j->s->H, W = j->s->W, HW = H * W, Wo = j->s->Wo, stride = j->s->stride, pad = j->s->pad;
    const int HpWp = (j->s->Ho / j->g.p) * (Wo / j->g.p);
    const float *gd = j->g.d, *wP = j->wP;
    const int32_t *gi = j->g.idx, *pos_y = j->pos_y;
    float *acc = j->acc + (size_t)t * HW * Cp; /* [HW, Cp]: one row's input gradient */
    size_t r0, r1;
    sm_parallel_range((size_t)j->R, t, nt, 1, &r0, &r1);
    for (size_t r = r0; r < r1; r++) {
        memset(acc, 0, sizeof(float) * (size_t)HW * Cp);
        for (int m = 0; m < Mc; m++) {
            const size_t q0 = (r * Mc + m) * HpWp;
            const float *wm = wP + (size_t)m * kk * Cp;
            for (int q = 0; q < HpWp; q++) {
                const float gv = gd[q0 + q];
                if (gv == 0.0f) continue;
                const int pos = gi[q0 + q], oy = pos_y[pos], ox = pos - oy * Wo;
                const int iy0 = oy * stride - pad, ix0 = ox * stride - pad; /* input of tap (0, 0) */
                const int ky0 = iy0 < 0 ? -iy0 : 0, ky1 = H - iy0 < k ? H - iy0 : k;
                const int kx0 = ix0 < 0 ? -ix0 : 0, kx1 = W - ix0 < k ? W - ix0 : k;
                const int n = (kx1 - kx0) * Cp;
                for (int ky = ky0; ky < ky1; ky++) {
                    float *restrict a = acc + ((size_t)(iy0 + ky) * W + ix0 + kx0) * Cp;
                    const float *restrict wr = wm + (size_t)(ky * k + kx0) * Cp;
#pragma GCC unroll 4
                    for (int i = 0; i < n; i++) a[i] = fmaf(gv, wr[i], a[i]);
                }
            }
        }
        float *out = j->din + r * C * HW; /* [C, HW] = acc's first C channels, transposed */
        for (int c = 0; c < C; c++)
            for (int p = 0; p < HW; p++) out[(size_t)c * HW + p] = acc[(size_t)p * Cp + c];
    }
}

void sm_conv_backward_input_pooled(float *din, sm_conv_grad g, const float *w, const sm_conv_shape *s, int R,
                                   float *work) {
    const int C = s->C, Cp = padded_channels(C), Mc = s->Mc, kk = s->k * s->k;
    input_grad_job j = {din, g, w, s, R, work, work + (size_t)Mc * kk * Cp + (size_t)s->Ho * s->Wo,
                        (int32_t *)(work + (size_t)Mc * kk * Cp)};
    for (int p = 0; p < s->Ho * s->Wo; p++) j.pos_y[p] = p / s->Wo;
    for (int m = 0; m < Mc; m++) /* wP, zeros in the padding */
        for (int t = 0; t < kk; t++)
            for (int c = 0; c < Cp; c++)
                j.wP[((size_t)m * kk + t) * Cp + c] = c < C ? w[((size_t)m * C + c) * kk + t] : 0.0f;
    sm_parallel_run(input_grad_share, &j);
}
