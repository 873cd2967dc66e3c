/* sm_kernels.h — the numerical kernels of one layer, as free functions on plain
 * float arrays (llm.c style). Outputs first, sizes last. Forward functions
 * overwrite their outputs; backward functions ACCUMULATE (+=) into gradients
 * unless their comment says otherwise, so microbatches and logical cores sum
 * for free. Input-gradient and weight-gradient loops are separate functions.
 *
 * Shape legend
 *   T  time steps          B  samples in the (micro)batch
 *   R  rows = T*B (or B when the input is the same at every step)
 *   N  inputs of a dense layer (fan-in)      M  outputs it computes
 *   C, H, W      input channels, height, width of a conv layer
 *   Mc, Ho, Wo   output channels, height, width of a conv layer
 *   K  classes (outputs of the last layer)
 * All tensors are row-major with the leftmost index slowest, e.g. [T,B,N].
 */
#ifndef SM_KERNELS_H
#define SM_KERNELS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- dense (dense.c) ------------------------------------------------------
 * in: [R,N] ; w: [M,N] ; b: [M] ; out: [R,M]. Each product C [rows, cols] runs
 * as sm_gemm_blocks(rows, cols) sgemm calls, each on a block of the longer
 * side (at least SM_GEMM_MIN_SIDE long), over the rank's threads: the same
 * bits for every thread count. */
#define SM_GEMM_BLOCKS 4
#define SM_GEMM_MIN_SIDE 256
int sm_gemm_blocks(int rows, int cols);
void sm_dense_forward(float *out, const float *in, const float *w, const float *b,
                      int R, int N, int M);
/* din: [R,N] += dout [R,M] . w [M,N] */
void sm_dense_backward_input(float *din, const float *dout, const float *w, int R, int N, int M);
/* The same, but din is OVERWRITTEN (no zero fill needed first). */
void sm_dense_backward_input_set(float *din, const float *dout, const float *w, int R, int N, int M);
/* One column block of the input gradient: out [R,bc] = dout [R,M] . wcols [M,bc],
 * where wcols holds columns [c0, c0+bc) of w, copied contiguous by
 * sm_dense_weight_columns. Every engine path computes a block this way, so
 * its bits do not depend on where (which core) it is computed. */
void sm_dense_partial_block(float *out, const float *dout, const float *wcols, int R, int M, int bc);
/* wcols [M,bc] = columns [c0, c0+bc) of w [M,N]. */
void sm_dense_weight_columns(float *wcols, const float *w, int M, int N, int c0, int bc);
/* dw: [M,N] += dout^T . in ; db: [M] += column sums of dout */
void sm_dense_backward_weight(float *dw, float *db, const float *dout, const float *in,
                              int R, int N, int M);

/* db: [M] += column sums of dout [R,M], rows in order (the dense layers' bias gradient). */
void sm_bias_grad_rows(float *db, const float *dout, int R, int M);

/* ---- conv2d (conv.c): im2col + sgemm -------------------------------------
 * in: [R,C,H,W] ; w: [Mc,C,k,k] ; b: [Mc] ; out: [R,Mc,Ho,Wo]
 * with Ho = (H + 2*pad - k)/stride + 1, likewise Wo. `work` is scratch of at
 * least sm_conv_work_floats(...) floats. */
typedef struct {
    int C, H, W;        /* input */
    int Mc;             /* output channels computed by this call */
    int k, stride, pad;
    int Ho, Wo;         /* derived by sm_conv_shape */
} sm_conv_shape;
void sm_conv_shape_init(sm_conv_shape *s, int C, int H, int W, int Mc, int k, int stride, int pad);
size_t sm_conv_work_floats(const sm_conv_shape *s, int R);
void sm_conv_forward(float *out, const float *in, const float *w, const float *b,
                     const sm_conv_shape *s, int R, float *work);
/* The op and max pooling (kernel = stride = p) fused: out, idx [R,Mc,Ho/p,Wo/p]
 * are exactly what sm_conv_forward then sm_maxpool_forward give, pooled from
 * each im2col chunk's product without writing [R,Mc,Ho,Wo]. */
void sm_conv_forward_maxpool(float *out, int32_t *idx, const float *in, const float *w, const float *b,
                             const sm_conv_shape *s, int p, int R, float *work);
/* The gradient of a conv op's output: dense, d [R,Mc,Ho,Wo] (idx NULL), or as
 * max pooling (kernel = stride = p) leaves it: d [R,Mc,Ho/p,Wo/p] the pooled
 * gradient and idx the same shape, the position within the Ho x Wo plane each
 * came from (sm_maxpool_forward's indices); every other position's gradient is
 * 0. The kernels expand it a chunk or a row at a time, never whole. */
typedef struct {
    const float *d;
    const int32_t *idx;
    int p;
} sm_conv_grad;
static inline sm_conv_grad sm_conv_grad_dense(const float *d) { sm_conv_grad g = {d, NULL, 0}; return g; }
/* din: [R,C,H,W] += conv-transpose of the output gradient g */
void sm_conv_backward_input(float *din, sm_conv_grad g, const float *w, const sm_conv_shape *s, int R,
                            float *work);
/* The same, but din is OVERWRITTEN (zeroed a chunk at a time as it goes). */
void sm_conv_backward_input_set(float *din, sm_conv_grad g, const float *w, const sm_conv_shape *s, int R,
                                float *work);
/* dw: [Mc,C,k,k] += ; db: [Mc] += (sm_conv_bias_grad) */
void sm_conv_backward_weight(float *dw, float *db, sm_conv_grad g, const float *in, const sm_conv_shape *s, int R,
                             float *work);

/* Rows per im2col chunk (a function of the shape and R only). */
int sm_conv_chunk_rows(const sm_conv_shape *s, int R);
/* db: [Mc] += sums of the output gradient over rows and positions, in fixed
 * chunks of rows and ascending positions: the same bits for every caller, and
 * for a gradient given dense or pooled. */
void sm_conv_bias_grad(float *db, sm_conv_grad g, const sm_conv_shape *s, int R);

/* ---- spike matrices (spikes.c) -----------------------------------------------
 * A spike matrix [R, N] of 0/1 as bits: row r is words [r·W, (r+1)·W) of
 * uint64_t, W = sm_spike_words(N); spike n of a row is bit n % 64 of word
 * n / 64; the bits past N are 0. */
static inline int sm_spike_words(int N) { return (N + 63) / 64; }
/* bits [R·W] = (x [R,N] != 0). Returns 1 when every x is 0 or 1 (the bits then
 * hold x exactly), 0 otherwise. */
int sm_spikes_pack(uint64_t *bits, const float *x, int R, int N);
/* x [R,N] = the bits as 0.0f / 1.0f. */
void sm_spikes_unpack(float *x, const uint64_t *bits, int R, int N);
/* The number of spikes. */
size_t sm_spikes_count(const uint64_t *bits, int R, int N);
/* Columns [off, off + n) of every row of dst [R, N] get the rows of block src
 * [R, n], packed contiguously as messages carry spikes (bit r·n + j of the byte
 * array, least significant bit first: sm_pack_spikes). */
void sm_spikes_put_block(uint64_t *dst, int N, int off, const uint8_t *src, int n, int R);
/* Columns [off, off + n) of every row of dst [R, N] |= (x [R, n] != 0): dst's
 * columns start zeroed (a layer's LCs fill disjoint columns). */
void sm_spikes_or_columns(uint64_t *dst, int N, int off, const float *x, int n, int R);

/* ---- event-driven kernels (event.c) -------------------------------------------
 * For a dense or conv2d op whose input is spikes: each row's spikes are walked
 * once (bits, above) and only their weights are touched — the forward current
 * is the sum of the weight columns of the inputs that fired, and the weight
 * gradient touches only those columns. Same contracts as the dense kernels
 * (outputs overwritten, gradients accumulated); the float sums run in another
 * order, so results agree with the dense kernels to rounding (≤ 1e-6 of the
 * sum of |terms|) and each row's result depends on that row alone; bias
 * gradients are bit-identical. `work` holds at least sm_*_event_work_floats
 * floats. An LC takes these kernels when at most SM_EVENT_MAX_DENSITY of its
 * input are spikes (sm_lc_uses_events). */
#define SM_EVENT_MAX_DENSITY 0.25
size_t sm_dense_event_work_floats(int N, int M);
void sm_dense_forward_spikes(float *out, const uint64_t *in, const float *w, const float *b, int R, int N, int M,
                             float *work);
void sm_dense_backward_weight_spikes(float *dw, float *db, const float *dout, const uint64_t *in, int R, int N,
                                     int M, float *work);
size_t sm_conv_event_work_floats(const sm_conv_shape *s);
void sm_conv_forward_spikes(float *out, const uint64_t *in, const float *w, const float *b, const sm_conv_shape *s,
                            int R, float *work);
/* The op and max pooling (kernel = stride = p) fused: out, idx [R,Mc,Ho/p,Wo/p]
 * are exactly what sm_conv_forward_spikes followed by sm_maxpool_forward give,
 * without writing the op's [R,Mc,Ho,Wo] output. */
void sm_conv_forward_spikes_maxpool(float *out, int32_t *idx, const uint64_t *in, const float *w, const float *b,
                                    const sm_conv_shape *s, int p, int R, float *work);
void sm_conv_backward_weight_spikes(float *dw, float *db, sm_conv_grad g, const uint64_t *in,
                                    const sm_conv_shape *s, int R, float *work);
/* din [R,C,H,W] OVERWRITTEN with the input gradient of a pooled output
 * gradient g (g.idx set): each non-zero pooled value adds its weights to the
 * inputs its taps read — a quarter of sm_conv_backward_input's multiply-adds
 * for 2x2 pooling, and no col2im. Fused multiply-adds (fmaf): exact, so the
 * same bits on every CPU; agrees with the sgemm path to rounding. work: at
 * least sm_conv_input_grad_work_floats floats. */
size_t sm_conv_input_grad_work_floats(const sm_conv_shape *s);
void sm_conv_backward_input_pooled(float *din, sm_conv_grad g, const float *w, const sm_conv_shape *s, int R,
                                   float *work);

/* ---- pooling (pool.c): kernel = stride = p, floor output size -------------
 * in: [R,Ch,H,W] -> out: [R,Ch,H/p,W/p]. Max pooling records in idx [R,Ch,Ho,Wo]
 * the offset (within its H*W plane) of the FIRST maximum in row-major order,
 * which is where the backward pass sends the gradient (PyTorch's rule). */
void sm_maxpool_forward(float *out, int32_t *idx, const float *in, int R, int Ch, int H, int W, int p);
/* Max pooling of one plane, the loop every max-pooling kernel shares
 * (sm_maxpool_forward; the fused conv kernels, which add their bias here as
 * sm_conv_forward adds it, when add_bias): v's rows are ld floats apart and
 * positions in idx [Hp,Wp] count `width` to a row. Strict '>' in row-major
 * window order keeps the first maximum; 2x2 windows go 8 at a time with
 * vector compares and selects, no branches (a rightmost remainder is done
 * again as the last 8). Inlined, so add_bias and p == 2 are decided where it
 * is called. */
static inline __attribute__((always_inline)) void sm_maxpool_plane(float *restrict out, int32_t *restrict idx,
                                                                    const float *restrict v, int ld, int width,
                                                                    int Hp, int Wp, int p, int add_bias, float bias) {
    if (p == 2) {
        typedef float v8f __attribute__((vector_size(32)));
        typedef int32_t v8i __attribute__((vector_size(32)));
        const v8i twice = {0, 2, 4, 6, 8, 10, 12, 14}; /* 2i: the window's first column, and the shuffle of
                                                       * a row's even (and, + 1, odd) columns */
        for (int py = 0; py < Hp; py++) {
            const float *r0 = v + (size_t)2 * py * ld, *r1 = r0 + ld;
            const int32_t base = 2 * py * width;
            /* 8 windows at a time: the same compares, as vector selects (a branch per
             * compare mispredicts on real data); the last 8 again for a remainder */
            for (int px0 = 0; Wp >= 8 && px0 < Wp; px0 += 8) {
                const int px = px0 + 8 <= Wp ? px0 : Wp - 8;
                v8f lo, hi, x, best;
                v8i at = base + 2 * px + twice, take;
#if defined(__clang__)
#define SM_POOL_HALF(lo, hi, d_at)                                                            \
    ((d_at) & 1 ? __builtin_shufflevector(lo, hi, 1, 3, 5, 7, 9, 11, 13, 15)                  \
                : __builtin_shufflevector(lo, hi, 0, 2, 4, 6, 8, 10, 12, 14))
#else
#define SM_POOL_HALF(lo, hi, d_at) __builtin_shuffle(lo, hi, (d_at) & 1 ? twice + 1 : twice)
#endif
#define SM_POOL_CAND(row, d_at)                                                               \
    memcpy(&lo, row + 2 * px, sizeof lo), memcpy(&hi, row + 2 * px + 8, sizeof hi);           \
    x = SM_POOL_HALF(lo, hi, d_at);                                                            \
    if (add_bias) x = x + bias;
                SM_POOL_CAND(r0, 0);
                best = x;
                SM_POOL_CAND(r0, 1);
                take = x > best, at = (take & (base + 2 * px + twice + 1)) | (~take & at);
                best = (v8f)(((v8i)x & take) | ((v8i)best & ~take));
                SM_POOL_CAND(r1, 0);
                take = x > best, at = (take & (base + width + 2 * px + twice)) | (~take & at);
                best = (v8f)(((v8i)x & take) | ((v8i)best & ~take));
                SM_POOL_CAND(r1, 1);
                take = x > best, at = (take & (base + width + 2 * px + twice + 1)) | (~take & at);
                best = (v8f)(((v8i)x & take) | ((v8i)best & ~take));
#undef SM_POOL_CAND
#undef SM_POOL_HALF
                memcpy(out + py * Wp + px, &best, sizeof best);
                memcpy(idx + py * Wp + px, &at, sizeof at);
            }
            for (int px = 0; Wp < 8 && px < Wp; px++) {
                float best = add_bias ? r0[2 * px] + bias : r0[2 * px], x;
                int32_t at = base + 2 * px;
                x = add_bias ? r0[2 * px + 1] + bias : r0[2 * px + 1];
                at = x > best ? base + 2 * px + 1 : at, best = x > best ? x : best;
                x = add_bias ? r1[2 * px] + bias : r1[2 * px];
                at = x > best ? base + width + 2 * px : at, best = x > best ? x : best;
                x = add_bias ? r1[2 * px + 1] + bias : r1[2 * px + 1];
                at = x > best ? base + width + 2 * px + 1 : at, best = x > best ? x : best;
                out[py * Wp + px] = best;
                idx[py * Wp + px] = at;
            }
        }
        return;
    }
    for (int py = 0; py < Hp; py++)
        for (int px = 0; px < Wp; px++) {
            int32_t at = py * p * width + px * p;
            float best = add_bias ? v[(size_t)py * p * ld + px * p] + bias : v[(size_t)py * p * ld + px * p];
            for (int dy = 0; dy < p; dy++)
                for (int dx = 0; dx < p; dx++) {
                    const float *e = v + (size_t)(py * p + dy) * ld + px * p + dx;
                    const float x = add_bias ? *e + bias : *e;
                    if (x > best) best = x, at = (py * p + dy) * width + px * p + dx;
                }
            out[py * Wp + px] = best;
            idx[py * Wp + px] = at;
        }
}
/* din [R,Ch,H,W] += scatter of dout by idx */
void sm_maxpool_backward(float *din, const float *dout, const int32_t *idx,
                         int R, int Ch, int H, int W, int p);
void sm_avgpool_forward(float *out, const float *in, int R, int Ch, int H, int W, int p);
void sm_avgpool_backward(float *din, const float *dout, int R, int Ch, int H, int W, int p);

/* ---- LIF neurons (lif.c) ---------------------------------------------------
 * snnTorch Leaky semantics (DESIGN.md): r[t] = H(U[t-1]-θ) carries no gradient;
 * subtract: U[t] = β·U[t-1] + I[t] − r[t]·θ ; zero: U[t] = (β·U[t-1] + I[t])·(1 − r[t]);
 * S[t] = H(U[t] − θ), strict. U before step 0 is 0. */
typedef enum { SM_RESET_SUBTRACT = 0, SM_RESET_ZERO = 1 } sm_reset_kind;
typedef enum { SM_SURROGATE_ATAN = 0, SM_SURROGATE_FAST_SIGMOID = 1 } sm_surrogate_kind;
typedef struct {
    float beta;          /* decay in [0,1] (the config rejects other values) */
    float threshold;
    sm_reset_kind reset;
    sm_surrogate_kind surrogate;
    float alpha;         /* atan */
    float slope;         /* fast_sigmoid */
} sm_lif_params;

/* dS/dU at U (the surrogate of the Heaviside step). */
float sm_surrogate_grad(const sm_lif_params *p, float u);

/* cur: [T,P] input current, or [P] used at every step when cur_static != 0.
 * mem, spk: [T,P] outputs (U[t] and S[t] as 0/1 floats). P = neurons x samples. */
void sm_lif_forward(float *spk, float *mem, const float *cur, int cur_static,
                    int T, size_t P, const sm_lif_params *p);
/* BPTT through the neurons. dspk: [T,P] dL/dS (NULL = none); dmem: [T,P] direct
 * dL/dU (NULL = none; used by the ce_mem loss). dcur: [T,P] OVERWRITTEN with
 * dL/dI. spk must be the forward's spikes (they give r[t] = S[t-1]). */
void sm_lif_backward(float *dcur, const float *dspk, const float *dmem, const float *mem,
                     const float *spk, int T, size_t P, const sm_lif_params *p);
/* The same two without keeping the membrane [T,P] (lean BPTT, docs/performance.md):
 * the forward writes only the spikes, carrying U in state [P] (scratch); the
 * backward recomputes U from the current, SM_LIF_CHUNK neurons at a time in
 * work [T * SM_LIF_CHUNK] per thread (sm_lif_work_floats), and runs the BPTT
 * over it. Both split the neurons over the rank's threads. The same operations in
 * the same order as sm_lif_forward / sm_lif_backward: the same bits. dcur may
 * be cur itself (T-step current): each chunk is read before it is written. */
#define SM_LIF_CHUNK 512
/* sum [P] = Σ_t d [T,P] in ascending t (a static current's gradient). */
void sm_sum_steps(float *sum, const float *d, int T, size_t P);
void sm_lif_forward_spikes(float *spk, float *state, const float *cur, int cur_static, int T, size_t P,
                           const sm_lif_params *p);
static inline size_t sm_lif_work_floats(int T, int threads) { return (size_t)T * SM_LIF_CHUNK * threads; }
/* sm_lif_forward_spikes, but the spikes go out as bits only: spike (t, i) is
 * bit t·P + i of the byte array bits, least significant first (the layout of
 * comm's sm_pack_spikes), with no float spike array written and read back.
 * P must be a multiple of 8, so that each step starts a byte. The same bits
 * as packing sm_lif_forward_spikes' output. */
void sm_lif_forward_bits(uint8_t *bits, float *state, const float *cur, int cur_static, int T, size_t P,
                         const sm_lif_params *p);
void sm_lif_backward_recompute(float *dcur, const float *dspk, const float *dmem, const float *cur, int cur_static,
                               int T, size_t P, const sm_lif_params *p, float *work);

/* ---- losses (loss.c) --------------------------------------------------------
 * On the output layer's spikes spk [T,B,K] (and membrane mem [T,B,K] for ce_mem).
 * Returns scale * (sum over the B samples of the per-sample loss), in double:
 * with scale = 1/B_minibatch the microbatch losses and gradients of a minibatch
 * add up to the mean over the minibatch. Writes (overwrites) dspk [T,B,K] and,
 * for ce_mem, dmem [T,B,K] instead (dspk is then zeroed). */
typedef enum { SM_LOSS_CE_RATE = 0, SM_LOSS_CE_COUNT, SM_LOSS_MSE_COUNT, SM_LOSS_CE_MEM } sm_loss_kind;
typedef struct {
    sm_loss_kind kind;
    float correct_rate, incorrect_rate;   /* mse_count targets, as a fraction of T */
} sm_loss_params;
double sm_loss(const sm_loss_params *lp, const float *spk, const float *mem, const int32_t *y,
               int T, int B, int K, double scale, float *dspk, float *dmem);
/* Predicted class per sample: argmax of spike counts, lowest index on ties.
 * Returns the number of correct predictions (pred may be NULL). */
int sm_predict(int32_t *pred, const float *spk, const int32_t *y, int T, int B, int K);

/* ---- optimizers (optim.c): PyTorch's Adam and SGD-momentum ----------------
 * p, g, m, v: [n]. step is 1 for the first update. Weight decay is L2 added to
 * the gradient (torch.optim.Adam's weight_decay). */
typedef enum { SM_OPT_ADAM = 0, SM_OPT_SGD = 1 } sm_opt_kind;
typedef struct {
    sm_opt_kind kind;
    double lr, beta1, beta2, eps, momentum, weight_decay;
} sm_opt_params;
void sm_adam_update(float *p, const float *g, float *m, float *v, size_t n,
                    const sm_opt_params *o, double lr, long step);
/* m is the momentum buffer; on step 1 it is set to the gradient. */
void sm_sgd_update(float *p, const float *g, float *m, size_t n,
                   const sm_opt_params *o, double lr, long step);

/* ---- encoders (encode.c) -----------------------------------------------------
 * x: [B,D] pixels in [0,1] ; out: [T,B,D].
 * direct: x at every step. rate: S = 1 iff u < x, u uniform from the counter RNG
 * keyed by (seed, epoch, sample id, t*D + d), so it never depends on batching,
 * rank or placement. latency: one spike per pixel x > 0 at step
 * round((1 − x)·(T − 1)) (bright pixels early); x = 0 never fires. */
typedef enum { SM_ENCODE_DIRECT = 0, SM_ENCODE_RATE, SM_ENCODE_LATENCY } sm_encoder_kind;
void sm_encode(float *out, const float *x, const int32_t *sample_ids, int T, int B, int D,
               sm_encoder_kind kind, uint64_t seed, uint64_t epoch);

/* ---- initialisation (init.c) ---------------------------------------------------
 * PyTorch's default for Linear/Conv2d: w ~ U(±gain/sqrt(fan_in)), b ~ U(±1/sqrt(fan_in)).
 * Each element is drawn from the counter RNG keyed by (seed, layer, global
 * element index), so any slice of output rows [o0, o1) initialises itself
 * without knowing the partition. w: [(o1-o0), fan_in] ; b: [o1-o0]. */
void sm_init_slice(float *w, float *b, uint64_t seed, int layer, int o0, int o1, int fan_in,
                   float gain);

#endif
