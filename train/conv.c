/* conv.c — 2-D convolution (cross-correlation, as PyTorch) by im2col + sgemm.
 *
 * Shapes: in [R,C,H,W] ; w [Mc, C*k*k] ; out [R,Mc,Ho,Wo] ; R = rows (T*B).
 * The work buffer holds the im2col matrix of a chunk of rows, laid out
 * [C*k*k][chunk*Ho*Wo], and the matching [Mc][chunk*Ho*Wo] product, so one
 * sgemm covers many samples at once instead of one small sgemm per sample.
 */
#include "sm_kernels.h"

#include "sm_common.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

enum { CONV_CHUNK_TARGET = 1 << 20 }; /* floats of im2col per chunk (4 MiB) */

void sm_conv_shape_init(sm_conv_shape *s, int C, int H, int W, int Mc, int k, int stride, int pad) {
    s->C = C; s->H = H; s->W = W; s->Mc = Mc; s->k = k; s->stride = stride; s->pad = pad;
    s->Ho = (H + 2 * pad - k) / stride + 1;
    s->Wo = (W + 2 * pad - k) / stride + 1;
}

int sm_conv_chunk_rows(const sm_conv_shape *s, int R) {
    size_t per_row = (size_t)s->C * s->k * s->k * s->Ho * s->Wo;
    int chunk = (int)(CONV_CHUNK_TARGET / (per_row ? per_row : 1));
    if (chunk < 1) chunk = 1;
    if (chunk > R) chunk = R;
    return chunk;
}

/* One chunk of rows [r0, r0+nr): its im2col matrix col [C*k*k][ncols] and the
 * matching product prod [Mc][ncols] (ncols = nr*Ho*Wo), both views into work. */
typedef struct {
    int r0, nr, ncols, step;
    float *col, *prod;
} conv_chunk;

static void chunk_at(conv_chunk *c, const sm_conv_shape *s, int R, float *work) {
    c->nr = R - c->r0 < c->step ? R - c->r0 : c->step;
    c->ncols = c->nr * s->Ho * s->Wo;
    c->col = work;
    c->prod = work + (size_t)s->C * s->k * s->k * c->ncols;
}

#define FOR_EACH_CHUNK(c, s, R, work)                                                      \
    for (conv_chunk c = {.r0 = 0, .step = sm_conv_chunk_rows(s, R)}; c.r0 < (R) && (chunk_at(&c, s, R, work), 1); \
         c.r0 += c.step)

static int padded_taps(const sm_conv_shape *s) { return (s->C * s->k * s->k + 15) & ~15; }
static size_t direct_weight_grad_floats(const sm_conv_shape *s);

size_t sm_conv_work_floats(const sm_conv_shape *s, int R) {
    size_t chunk = (size_t)sm_conv_chunk_rows(s, R > 0 ? R : 1);
    size_t cols = chunk * s->Ho * s->Wo;
    size_t need = cols * ((size_t)s->C * s->k * s->k + s->Mc); /* (the direct forward's plane fits in it) */
    const size_t patches = direct_weight_grad_floats(s);
    return need > patches ? need : patches;
}

/* The output columns ox whose input column ix = ox·stride − pad + kx lies in
 * [0, W): [*lo, *hi). With stride 1 they are one contiguous run. */
static void valid_ox(const sm_conv_shape *s, int kx, int *lo, int *hi) {
    int a = s->pad - kx, b = s->W + s->pad - kx; /* ox·stride in [a, b) */
    *lo = a <= 0 ? 0 : (a + s->stride - 1) / s->stride;
    *hi = b <= 0 ? 0 : (b + s->stride - 1) / s->stride;
    if (*hi > s->Wo) *hi = s->Wo;
    if (*lo > *hi) *lo = *hi;
}

/* col [C*k*k][ncols] gets, for rows r0..r0+nr, columns (r-r0)*Ho*Wo + oy*Wo + ox. */
SM_VECTOR_CLONES
static void im2col(float *col, const float *in, const sm_conv_shape *s, int r0, int nr) {
    const int k = s->k, HoWo = s->Ho * s->Wo, st = s->stride;
    const size_t ncols = (size_t)nr * HoWo;
    for (int c = 0; c < s->C; c++)
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++) {
                float *dst = col + ((size_t)(c * k + ky) * k + kx) * ncols;
                int lo, hi;
                valid_ox(s, kx, &lo, &hi);
                for (int r = 0; r < nr; r++) {
                    const float *plane = in + ((size_t)(r0 + r) * s->C + c) * s->H * s->W;
                    float *d = dst + (size_t)r * HoWo;
                    for (int oy = 0; oy < s->Ho; oy++) {
                        float *drow = d + oy * s->Wo;
                        int iy = oy * st - s->pad + ky;
                        if (iy < 0 || iy >= s->H) {
                            memset(drow, 0, sizeof(float) * s->Wo);
                            continue;
                        }
                        const float *row = plane + (size_t)iy * s->W;
                        const int shift = kx - s->pad; /* ix = ox·stride + shift */
                        for (int ox = 0; ox < lo; ox++) drow[ox] = 0.0f;
                        if (st == 1)
                            for (int ox = lo; ox < hi; ox++) drow[ox] = row[ox + shift];
                        else
                            for (int ox = lo; ox < hi; ox++) drow[ox] = row[ox * st + shift];
                        for (int ox = hi; ox < s->Wo; ox++) drow[ox] = 0.0f;
                    }
                }
            }
}

/* din rows r0.. += col2im(col) (the adjoint of im2col). */
SM_VECTOR_CLONES
static void col2im_add(float *din, const float *col, const sm_conv_shape *s, int r0, int nr) {
    const int k = s->k, HoWo = s->Ho * s->Wo, st = s->stride;
    const size_t ncols = (size_t)nr * HoWo;
    for (int c = 0; c < s->C; c++)
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++) {
                const float *src = col + ((size_t)(c * k + ky) * k + kx) * ncols;
                int lo, hi;
                valid_ox(s, kx, &lo, &hi);
                for (int r = 0; r < nr; r++) {
                    float *plane = din + ((size_t)(r0 + r) * s->C + c) * s->H * s->W;
                    const float *d = src + (size_t)r * HoWo;
                    for (int oy = 0; oy < s->Ho; oy++) {
                        int iy = oy * st - s->pad + ky;
                        if (iy < 0 || iy >= s->H) continue;
                        float *row = plane + (size_t)iy * s->W;
                        const float *drow = d + oy * s->Wo;
                        const int shift = kx - s->pad;
                        if (st == 1)
                            for (int ox = lo; ox < hi; ox++) row[ox + shift] += drow[ox];
                        else
                            for (int ox = lo; ox < hi; ox++) row[ox * st + shift] += drow[ox];
                    }
                }
            }
}

/* ---- direct convolution, for small patches ------------------------------- */

/* A first layer on pixels has a small patch (C·k·k: 25 for one channel and
 * 5x5): as a GEMM its K is tiny and im2col, writing C·k·k values per output,
 * costs as much as the product. For C·k·k <= SM_CONV_DIRECT_K at stride 1
 * without padding the dense forward convolves directly, on a "wide" plane:
 * the output plane is computed W columns wide instead of Wo (the last k − 1
 * of each row are discarded), so that tap (ky, kx) reads the input at a
 * constant offset ky·W + kx from the output index, and 128 outputs at a time
 * (8 independent sums, enough to hide the latency of each) are summed through
 * every tap (c, ky, kx ascending) in registers, then the bias is added. Each
 * term is a fused multiply-add (fma16: fmaf per lane, which GCC turns into
 * vector FMAs): one rounding, exactly specified, so every vector clone and
 * CPU gives the same bits.
 *
 * The weight gradient of such a layer is direct too (direct_weight_grad): a
 * row's patches are laid out once, patch [Ho·Wo, KP] (C·k·k taps padded with
 * zeros to KP, a multiple of 16), and each output channel m adds g · patch[pos]
 * for the positions pos that have a gradient, in ascending order, to its
 * C·k·k weights held in at most 4 vectors — for a max-pooled gradient a
 * quarter of the positions, where im2col + sgemm multiplied all of them. The
 * bias gradient comes from the same walk, in sm_conv_bias_grad's chunks and
 * order (E3). The dense and the pooled form of a gradient give the same bits:
 * the positions the pooled form skips add exact zeros in the dense one. */
#define SM_CONV_DIRECT_K 64
typedef float v16f __attribute__((vector_size(64)));
/* a · b + c per lane, each one fmaf (a macro: a function passing vectors
 * would have a different ABI in each vector clone). */
#define fma16(a, b, c)                                                   \
    ({                                                                   \
        v16f r_;                                                         \
        for (int l_ = 0; l_ < 16; l_++) r_[l_] = fmaf((a), (b)[l_], (c)[l_]); \
        r_;                                                              \
    })
static int direct(const sm_conv_shape *s) {
    return s->stride == 1 && s->pad == 0 && s->C * s->k * s->k <= SM_CONV_DIRECT_K;
}
/* Elements of a wide plane that every tap can read within the input plane. */
static int wide_span(const sm_conv_shape *s) { return s->Ho * s->W - (s->k - 1); }

/* wide [i0, i0 + 16) = Σ over taps (c, ky, kx ascending) of w[m, c, ky, kx] ·
 * the input of row x [C,H,W] the tap reads. */
static inline __attribute__((always_inline)) void taps16(float *restrict wide, const float *restrict x,
                                                          const float *restrict wm, const sm_conv_shape *s, int i0) {
    const int HW = s->H * s->W;
    v16f acc = {0};
    for (int c = 0; c < s->C; c++)
        for (int ky = 0; ky < s->k; ky++)
            for (int kx = 0; kx < s->k; kx++) {
                v16f v;
                memcpy(&v, x + (size_t)c * HW + ky * s->W + kx + i0, sizeof v);
                acc = fma16(wm[(c * s->k + ky) * s->k + kx], v, acc);
            }
    memcpy(wide + i0, &acc, sizeof acc);
}

/* wide [Ho·W] (the first wide_span used) = Σ over taps of w[m, c, ky, kx] · the
 * input of row x [C,H,W] the tap reads, no bias; every output summed in the
 * same order, whichever of the loops below computes it. */
static inline __attribute__((always_inline)) void direct_plane(float *restrict wide, const float *restrict x,
                                                                const float *restrict wm, const sm_conv_shape *s) {
    const int n = wide_span(s), HW = s->H * s->W;
    int i0 = 0;
    for (; i0 + 128 <= n; i0 += 128) { /* eight independent sums at once: the FMAs overlap */
        v16f a[8] = {{0}};
        for (int c = 0; c < s->C; c++)
            for (int ky = 0; ky < s->k; ky++)
                for (int kx = 0; kx < s->k; kx++) {
                    const float wv = wm[(c * s->k + ky) * s->k + kx];
                    const float *src = x + (size_t)c * HW + ky * s->W + kx + i0;
#pragma GCC unroll 8
                    for (int u = 0; u < 8; u++) {
                        v16f v;
                        memcpy(&v, src + 16 * u, sizeof v);
                        a[u] = fma16(wv, v, a[u]);
                    }
                }
#pragma GCC unroll 8
        for (int u = 0; u < 8; u++) memcpy(wide + i0 + 16 * u, &a[u], sizeof a[u]);
    }
    for (; i0 + 16 <= n; i0 += 16) taps16(wide, x, wm, s, i0);
    if (i0 < n && n >= 16) { /* the last few: the 16 ending at n again (the same sums, the same bits) */
        taps16(wide, x, wm, s, n - 16);
    } else {
        for (int i = i0; i < n; i++) { /* a plane under 16 wide: one at a time, the same order */
            float acc = 0.0f;
            for (int c = 0; c < s->C; c++)
                for (int ky = 0; ky < s->k; ky++)
                    for (int kx = 0; kx < s->k; kx++)
                        acc = fmaf(wm[(c * s->k + ky) * s->k + kx], x[(size_t)c * HW + ky * s->W + kx + i], acc);
            wide[i] = acc;
        }
    }
}

void sm_conv_forward(float *out, const float *in, const float *w, const float *b,
                     const sm_conv_shape *s, int R, float *work) {
    const int CK = s->C * s->k * s->k, HoWo = s->Ho * s->Wo;
    if (direct(s)) {
        const int n_in = s->C * s->H * s->W;
        for (int r = 0; r < R; r++)
            for (int m = 0; m < s->Mc; m++) {
                float *o = out + ((size_t)r * s->Mc + m) * HoWo;
                direct_plane(work, in + (size_t)r * n_in, w + (size_t)m * CK, s);
                const float bias = b ? b[m] : 0.0f;
                for (int oy = 0; oy < s->Ho; oy++)
                    for (int ox = 0; ox < s->Wo; ox++) o[oy * s->Wo + ox] = work[oy * s->W + ox] + bias;
            }
        return;
    }
    FOR_EACH_CHUNK(c, s, R, work) {
        im2col(c.col, in, s, c.r0, c.nr);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->Mc, c.ncols, CK, 1.0f, w, CK,
                    c.col, c.ncols, 0.0f, c.prod, c.ncols);
        for (int r = 0; r < c.nr; r++)
            for (int m = 0; m < s->Mc; m++) {
                float *o = out + ((size_t)(c.r0 + r) * s->Mc + m) * HoWo;
                const float *p = c.prod + (size_t)m * c.ncols + (size_t)r * HoWo;
                float bias = b ? b[m] : 0.0f;
                for (int i = 0; i < HoWo; i++) o[i] = p[i] + bias;
            }
    }
}

/* prod [Mc][nr*HoWo] <- the output gradient of rows r0..r0+nr: copied, or
 * zeroed and the pooled gradients put at their positions */
static void gather_dout(float *prod, sm_conv_grad g, const sm_conv_shape *s, int r0, int nr) {
    const int HoWo = s->Ho * s->Wo;
    const size_t ncols = (size_t)nr * HoWo;
    if (!g.idx) {
        for (int r = 0; r < nr; r++)
            for (int m = 0; m < s->Mc; m++)
                memcpy(prod + (size_t)m * ncols + (size_t)r * HoWo,
                       g.d + ((size_t)(r0 + r) * s->Mc + m) * HoWo, sizeof(float) * HoWo);
        return;
    }
    const int HpWp = (s->Ho / g.p) * (s->Wo / g.p);
    for (int r = 0; r < nr; r++)
        for (int m = 0; m < s->Mc; m++) { /* one row of one channel at a time: it stays in L1 */
            const size_t q0 = ((size_t)(r0 + r) * s->Mc + m) * HpWp;
            float *row = prod + (size_t)m * ncols + (size_t)r * HoWo;
            memset(row, 0, sizeof(float) * HoWo);
            for (int q = 0; q < HpWp; q++) row[g.idx[q0 + q]] = g.d[q0 + q];
        }
}

static void backward_input(float *din, sm_conv_grad g, const float *w, const sm_conv_shape *s, int R, float *work,
                           int set) {
    const int CK = s->C * s->k * s->k;
    FOR_EACH_CHUNK(c, s, R, work) {
        if (set) /* zeroed a chunk at a time, just before col2im adds into it: still in cache */
            memset(din + (size_t)c.r0 * s->C * s->H * s->W, 0, sizeof(float) * (size_t)c.nr * s->C * s->H * s->W);
        gather_dout(c.prod, g, s, c.r0, c.nr);
        /* col [CK][ncols] = w^T [CK][Mc] . prod [Mc][ncols] */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, CK, c.ncols, s->Mc, 1.0f, w, CK,
                    c.prod, c.ncols, 0.0f, c.col, c.ncols);
        col2im_add(din, c.col, s, c.r0, c.nr);
    }
}

void sm_conv_backward_input(float *din, sm_conv_grad g, const float *w, const sm_conv_shape *s, int R,
                            float *work) {
    backward_input(din, g, w, s, R, work, 0);
}

void sm_conv_backward_input_set(float *din, sm_conv_grad g, const float *w, const sm_conv_shape *s, int R,
                                float *work) {
    backward_input(din, g, w, s, R, work, 1);
}

/* The positions of row r, channel m that have a gradient, ascending, into
 * pos [n] and their gradients into gv [n]; returns n. Dense: every position.
 * Pooled: each window's maximum, taken window row by window row and, within
 * one, input row by input row, which is ascending order. */
static int gradient_list(int32_t *restrict pos, float *restrict gv, sm_conv_grad g, const sm_conv_shape *s, int r,
                         int m) {
    const int HoWo = s->Ho * s->Wo, Mc = s->Mc;
    if (!g.idx) {
        const float *d = g.d + ((size_t)r * Mc + m) * HoWo;
        for (int i = 0; i < HoWo; i++) pos[i] = i, gv[i] = d[i];
        return HoWo;
    }
    const int p = g.p, Hp = s->Ho / p, Wp = s->Wo / p, HpWp = Hp * Wp;
    const float *d = g.d + ((size_t)r * Mc + m) * HpWp;
    const int32_t *at = g.idx + ((size_t)r * Mc + m) * HpWp;
    int n = 0;
    for (int py = 0; py < Hp; py++)
        for (int y = py * p; y < py * p + p; y++) {
            const uint32_t first = (uint32_t)(y * s->Wo);
            for (int q = py * Wp; q < py * Wp + Wp; q++) { /* without a branch: half of them are taken */
                pos[n] = at[q], gv[n] = d[q];
                n += (uint32_t)at[q] - first < (uint32_t)s->Wo;
            }
        }
    return n;
}

/* For channels m0 .. m0 + NM − 1 side by side (independent sums, so that the
 * adds overlap), each with its list of n positions: dw[m] [C·k·k] += Σ_i
 * gv[i] · patch[pos[i]] (NV vectors of 16), bias[m] += Σ_i gv[i], i ascending. */
static inline __attribute__((always_inline)) void weight_grad_lists(float *restrict dw, float *restrict bias,
                                                                     const int32_t *restrict pos,
                                                                     const float *restrict gv, int n, int ld,
                                                                     const float *restrict patch,
                                                                     const sm_conv_shape *s, int m0, int NM, int NV) {
    const int CK = s->C * s->k * s->k, KP = 16 * NV;
    v16f a[4][4];
    float b[4];
    for (int j = 0; j < NM; j++) {
        float t[64] = {0};
        memcpy(t, dw + (size_t)(m0 + j) * CK, sizeof(float) * CK);
        for (int v = 0; v < NV; v++) memcpy(&a[j][v], t + 16 * v, sizeof a[j][v]);
        b[j] = bias[m0 + j];
    }
    for (int i = 0; i < n; i++)
#pragma GCC unroll 4
        for (int j = 0; j < NM; j++) { /* unrolled, so that a and b stay in registers */
            const float gj = gv[(size_t)j * ld + i];
            const float *x = patch + (size_t)pos[(size_t)j * ld + i] * KP;
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) {
                v16f xv;
                memcpy(&xv, x + 16 * v, sizeof xv);
                a[j][v] = fma16(gj, xv, a[j][v]);
            }
            b[j] += gj;
        }
    for (int j = 0; j < NM; j++) {
        float t[64];
        for (int v = 0; v < NV; v++) memcpy(t + 16 * v, &a[j][v], sizeof a[j][v]);
        memcpy(dw + (size_t)(m0 + j) * CK, t, sizeof(float) * CK);
        bias[m0 + j] = b[j];
    }
}

/* direct_weight_grad's work: patch [HoWo, KP], bias [Mc], and the lists of 4
 * channels, pos and gv [4, HoWo]. */
static size_t direct_weight_grad_floats(const sm_conv_shape *s) {
    return (size_t)s->Ho * s->Wo * (padded_taps(s) + 8) + s->Mc;
}

SM_VECTOR_CLONES
static void direct_weight_grad(float *dw, float *db, sm_conv_grad g, const float *in, const sm_conv_shape *s, int R,
                               float *work) {
    const int KP = padded_taps(s), NV = KP / 16, HoWo = s->Ho * s->Wo, Mc = s->Mc, k = s->k;
    const int HW = s->H * s->W, step = sm_conv_chunk_rows(s, R);
    float *patch = work, *bias = patch + (size_t)HoWo * KP;   /* [HoWo, KP]; [Mc] the chunk's bias sums */
    int32_t *pos = (int32_t *)(bias + Mc);
    float *gv = (float *)(pos + 4 * (size_t)HoWo);
    memset(patch, 0, sizeof(float) * (size_t)HoWo * KP);
    for (int r0 = 0; r0 < R; r0 += step) {
        memset(bias, 0, sizeof(float) * Mc);
        for (int r = r0; r < r0 + step && r < R; r++) {
            const float *x = in + (size_t)r * s->C * HW;
            for (int oy = 0; oy < s->Ho; oy++)
                for (int ox = 0; ox < s->Wo; ox++) {
                    float *pt = patch + ((size_t)oy * s->Wo + ox) * KP;
                    /* 8 floats at once, when they stay in the input row and in this position's lanes */
                    const int wide = k <= 8 && ox + 8 <= s->W && s->C * k * k - k + 8 <= KP;
                    for (int c = 0; c < s->C; c++)
                        for (int ky = 0; ky < k; ky++) {
                            const float *src = x + (size_t)c * HW + (oy + ky) * s->W + ox;
                            float *dst = pt + (c * k + ky) * k;
                            if (wide) /* the floats past the k taps land where the next taps go, or in the
                                       * padding lanes, whose sums are never stored */
                                memcpy(dst, src, 8 * sizeof(float));
                            else
                                for (int kx = 0; kx < k; kx++) dst[kx] = src[kx];
                        }
                }
            for (int m0 = 0; m0 < Mc; m0 += 4) {
                const int nm = Mc - m0 < 4 ? Mc - m0 : 4;
                int n = 0;
                for (int j = 0; j < nm; j++) /* every channel has as many: all positions, or one per window */
                    n = gradient_list(pos + (size_t)j * HoWo, gv + (size_t)j * HoWo, g, s, r, m0 + j);
#define LISTS(NM, NV_) weight_grad_lists(dw, bias, pos, gv, n, HoWo, patch, s, m0, NM, NV_)
#define BY_NV(NM) \
    (NV == 1 ? LISTS(NM, 1) : NV == 2 ? LISTS(NM, 2) : NV == 3 ? LISTS(NM, 3) : LISTS(NM, 4))
                if (nm == 4) BY_NV(4);
                else if (nm == 3) BY_NV(3);
                else if (nm == 2) BY_NV(2);
                else BY_NV(1);
#undef BY_NV
#undef LISTS
            }
        }
        if (db)
            for (int m = 0; m < Mc; m++) db[m] += bias[m];
    }
}

void sm_conv_backward_weight(float *dw, float *db, sm_conv_grad g, const float *in, const sm_conv_shape *s, int R,
                             float *work) {
    const int CK = s->C * s->k * s->k;
    if (direct(s)) {
        direct_weight_grad(dw, db, g, in, s, R, work);
        return;
    }
    FOR_EACH_CHUNK(c, s, R, work) {
        im2col(c.col, in, s, c.r0, c.nr);
        gather_dout(c.prod, g, s, c.r0, c.nr);
        /* dw [Mc][CK] += prod [Mc][ncols] . col^T [ncols][CK] */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->Mc, CK, c.ncols, 1.0f, c.prod,
                    c.ncols, c.col, c.ncols, 1.0f, dw, CK);
    }
    if (db) sm_conv_bias_grad(db, g, s, R);
}

/* db [Mc] += the sums over rows and positions of the output gradient, in
 * chunks of rows (chunk_rows) and, within a channel, ascending row then
 * position. A pooled gradient adds only the positions the pooling sent a value
 * to, in that same order (window rows interleave: row by row of the pooled
 * grid, then of each window); the other positions hold +0.0, and adding +0.0
 * never changes a sum that starts at +0.0 (round to nearest never yields −0.0
 * from it), so both forms give the same bits. The channels of a block of 64
 * are summed side by side (independent sums, each in its own order), which
 * lets the loop vectorise instead of waiting on one add at a time. */
SM_VECTOR_CLONES
void sm_conv_bias_grad(float *db, sm_conv_grad g, const sm_conv_shape *s, int R) {
    enum { BLOCK = 64 };
    const int step = sm_conv_chunk_rows(s, R), HoWo = s->Ho * s->Wo, Mc = s->Mc;
    float acc[BLOCK];
    for (int m0 = 0; m0 < Mc; m0 += BLOCK) {
        const int nm = Mc - m0 < BLOCK ? Mc - m0 : BLOCK;
        for (int r0 = 0; r0 < R; r0 += step) {
            const int nr = R - r0 < step ? R - r0 : step;
            for (int m = 0; m < nm; m++) acc[m] = 0.0f;
            for (int r = r0; r < r0 + nr; r++) {
                if (!g.idx) {
                    const float *d = g.d + ((size_t)r * Mc + m0) * HoWo;
                    for (int i = 0; i < HoWo; i++)
                        for (int m = 0; m < nm; m++) acc[m] += d[(size_t)m * HoWo + i];
                    continue;
                }
                const int p = g.p, Hp = s->Ho / p, Wp = s->Wo / p, HpWp = Hp * Wp;
                const float *d = g.d + ((size_t)r * Mc + m0) * HpWp;
                const int32_t *at = g.idx + ((size_t)r * Mc + m0) * HpWp;
                for (int py = 0; py < Hp; py++)
                    for (int y = py * p; y < py * p + p; y++) {
                        const uint32_t first = (uint32_t)(y * s->Wo);
                        for (int px = 0; px < Wp; px++) {
                            const int q = py * Wp + px; /* add it when its position is on row y */
                            for (int m = 0; m < nm; m++) {
                                const size_t k = (size_t)m * HpWp + q;
                                acc[m] = (uint32_t)at[k] - first < (uint32_t)s->Wo ? acc[m] + d[k] : acc[m];
                            }
                        }
                    }
            }
            for (int m = 0; m < nm; m++) db[m0 + m] += acc[m];
        }
    }
}

SM_VECTOR_CLONES
void sm_conv_forward_maxpool(float *out, int32_t *idx, const float *in, const float *w, const float *b,
                             const sm_conv_shape *s, int p, int R, float *work) {
    const int CK = s->C * s->k * s->k, HoWo = s->Ho * s->Wo, Hp = s->Ho / p, Wp = s->Wo / p, HpWp = Hp * Wp;
    const int is_direct = direct(s), n_in = s->C * s->H * s->W;
    FOR_EACH_CHUNK(c, s, R, work) {
        if (!is_direct) {
            im2col(c.col, in, s, c.r0, c.nr);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s->Mc, c.ncols, CK, 1.0f, w, CK,
                        c.col, c.ncols, 0.0f, c.prod, c.ncols);
        }
        for (int r = 0; r < c.nr; r++)
            for (int m = 0; m < s->Mc; m++) {
                const float *v = c.prod + (size_t)m * c.ncols + (size_t)r * HoWo;
                int ld = s->Wo; /* the row stride of v */
                if (is_direct) { /* the (wide) plane of this row and channel, then the same pooling */
                    direct_plane(c.prod, in + (size_t)(c.r0 + r) * n_in, w + (size_t)m * CK, s);
                    v = c.prod, ld = s->W;
                }
                const size_t q0 = ((size_t)(c.r0 + r) * s->Mc + m) * HpWp;
                sm_maxpool_plane(out + q0, idx + q0, v, ld, s->Wo, Hp, Wp, p, 1, b ? b[m] : 0.0f);
            }
    }
}
