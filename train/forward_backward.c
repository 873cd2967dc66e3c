/* forward_backward.c — the single-process executor: a forward and a BPTT
 * backward over every LC, in ascending LC order. The distributed executor runs
 * the same sm_lc_forward / sm_lc_backward on the LCs of its own rank.
 *
 * Per LC, with R = B rows when its input is the same at every step (layer 0
 * under the direct encoder) and R = T*B rows otherwise (sm_lc_forward_io and
 * sm_lc_backward_io, on explicit buffers):
 *   forward:  op (dense/conv) → scratch0 [R,m,ch,cw] → pool → scratch1 [R,m,oh,ow]
 *             → LIF over T → io.mem, io.spk [T,B,m*oh*ow]
 *   backward: dS → LIF BPTT → scratch1 [T,B,m*oh*ow]
 *             (→ summed over T into scratch3 [B,...] when static) → unpool
 *             → scratch0 [R,m,ch,cw] → weight grad (+=), partial input grad
 * scratch2 and scratch4 are the callers' (the blocks of dS and dM they gather).
 */
#include "sm_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sm_common.h"
#include "sm_parallel.h"

static int is_static(const sm_model *m, int layer) { return layer == 0 && m->input_static; }

static int rows_of(const sm_model *m, int layer) {
    return is_static(m, layer) ? m->B : m->T * m->B;
}

static const float *layer_input(const sm_model *m, int layer) {
    return layer == 0 ? m->input : m->act[layer - 1];
}

void sm_block_copy(float *dst, size_t dst_row, const float *src, size_t src_row, size_t rows,
                   size_t block) {
    for (size_t r = 0; r < rows; r++)
        memcpy(dst + r * dst_row, src + r * src_row, sizeof(float) * block);
}

/* The input of an LC's op, as its kernels want it. Pixels (in_static) go to
 * the dense kernels as floats. Spikes are counted: when at most
 * SM_EVENT_MAX_DENSITY of them fire the event-driven kernels take them as
 * bits, else the dense kernels as floats; each form is made from the other
 * in model scratch when the caller did not give it. Float input that is not
 * all 0/1 (a batch.h5 of `spikes` with other values) stays on the dense
 * kernels, so the math never changes. The choice depends on the microbatch's
 * data alone: every executor, placement and rank count makes the same one. */
typedef struct {
    int events;
    const uint64_t *bits;
    const float *x;
} op_input;

static op_input op_input_of(sm_model *m, const sm_layer *L, const sm_lc_io *io, int R) {
    op_input in = {0, io->in_bits, io->in};
    if (io->in_static) return in;
    if (!in.bits) {
        if (!sm_spikes_pack(m->in_bits, io->in, R, L->n_in)) return in;
        in.bits = m->in_bits;
    }
    in.events = (double)sm_spikes_count(in.bits, R, L->n_in) <= SM_EVENT_MAX_DENSITY * (double)R * L->n_in;
    if (!in.events && !in.x) { /* dense spikes given as bits: rare, so its buffer is made on first use */
        if (!m->in_floats) m->in_floats = sm_falloc((size_t)m->T * m->scratch_batch * sm_model_widest_layer(m));
        sm_spikes_unpack(m->in_floats, in.bits, R, L->n_in);
        in.x = m->in_floats;
    }
    return in;
}

/* The kernels' scratch has a part per thread: sized for the thread count they run with. */
static void check_threads(const sm_model *m) {
    if (m->scratch_threads == sm_parallel_threads()) return;
    fprintf(stderr, "spikemesh: internal error: kernel scratch sized for %d threads, the rank runs %d "
            "(sm_parallel_init after the executor was made)\n", m->scratch_threads, sm_parallel_threads());
    abort();
}

const float *sm_lc_current_io(sm_model *m, const sm_lc *lc, const sm_lc_io *io) {
    check_threads(m);
    const sm_layer *L = &m->layers[lc->layer];
    const int rows = lc->o1 - lc->o0, R = io->in_static ? io->B : m->T * io->B;
    const float *w = io->param, *b = io->param + lc->n_weight;
    float *cur = m->scratch[0], *pooled = io->cur ? io->cur : m->scratch[1];

    if (io->cur_ready) return pooled;
    const op_input in = op_input_of(m, L, io, R);
    if (L->kind == SM_LAYER_CONV2D) {
        sm_conv_shape s;
        sm_conv_shape_init(&s, L->in_c, L->in_h, L->in_w, rows, L->kernel, L->stride, L->padding);
        if (L->pool == SM_POOL_MAX) { /* op and pooling in one pass: the same bits */
            if (in.events)
                sm_conv_forward_spikes_maxpool(pooled, io->pool_idx, in.bits, w, b, &s, L->pool_size, R,
                                               m->event_work);
            else
                sm_conv_forward_maxpool(pooled, io->pool_idx, in.x, w, b, &s, L->pool_size, R, m->conv_work);
            return pooled;
        }
        if (L->pool == SM_POOL_NONE) cur = pooled; /* the op writes the current where it is kept */
        if (in.events) sm_conv_forward_spikes(cur, in.bits, w, b, &s, R, m->event_work);
        else sm_conv_forward(cur, in.x, w, b, &s, R, m->conv_work);
    } else {
        if (L->pool == SM_POOL_NONE) cur = pooled;
        if (in.events) sm_dense_forward_spikes(cur, in.bits, w, b, R, L->fan_in, rows, m->event_work);
        else sm_dense_forward(cur, in.x, w, b, R, L->fan_in, rows);
    }
    if (L->pool == SM_POOL_MAX)
        sm_maxpool_forward(pooled, io->pool_idx, cur, R, rows, L->conv_h, L->conv_w, L->pool_size);
    else if (L->pool == SM_POOL_AVG)
        sm_avgpool_forward(pooled, cur, R, rows, L->conv_h, L->conv_w, L->pool_size);
    return pooled;
}

void sm_lc_forward_io(sm_model *m, const sm_lc *lc, const sm_lc_io *io) {
    const sm_layer *L = &m->layers[lc->layer];
    const float *pooled = sm_lc_current_io(m, lc, io);
    const size_t P = (size_t)io->B * (lc->o1 - lc->o0) * L->out_h * L->out_w;
    if (io->mem) sm_lif_forward(io->spk, io->mem, pooled, io->in_static, m->T, P, &L->lif);
    else if (!io->spk && io->spk_bits) sm_lif_forward_bits(io->spk_bits, m->scratch[3], pooled, io->in_static, m->T, P,
                                                           &L->lif);
    else sm_lif_forward_spikes(io->spk, m->scratch[3], pooled, io->in_static, m->T, P, &L->lif);
}

void sm_lc_backward_io(sm_model *m, const sm_lc *lc, const sm_lc_io *io, const float *dS,
                       const float *dM, float *grad, float *partial, const float **dpre_out) {
    check_threads(m);
    const int l = lc->layer;
    const sm_layer *L = &m->layers[l];
    const int rows = lc->o1 - lc->o0, T = m->T, B = io->B, R = io->in_static ? B : T * B;
    const size_t block = (size_t)rows * L->out_h * L->out_w;

    /* 1. BPTT through the neurons: over the kept membrane, or recomputing it from the
     *    current sm_lc_current_io just left (io->cur or scratch[1], which dcur then overwrites) */
    float *dcur = m->scratch[1];
    if (io->mem)
        sm_lif_backward(dcur, dS, dM, io->mem, io->spk, T, (size_t)B * block, &L->lif);
    else
        sm_lif_backward_recompute(dcur, dS, dM, io->cur ? io->cur : m->scratch[1], io->in_static, T,
                                  (size_t)B * block, &L->lif, m->lif_work);
    const float *dpooled = dcur;
    if (io->in_static) { /* the same current fed every step: its gradient is the sum over t */
        sm_sum_steps(m->scratch[3], dcur, T, (size_t)B * block);
        dpooled = m->scratch[3];
    }
    /* 2. through the pooling: max pooling's gradient goes to the kernels as it is
     *    (sm_conv_grad: pooled values and their positions), average pooling's is spread */
    const float *dpre = dpooled;
    sm_conv_grad g = sm_conv_grad_dense(dpooled);
    if (L->pool == SM_POOL_MAX) {
        g = (sm_conv_grad){dpooled, io->pool_idx, L->pool_size};
    } else if (L->pool == SM_POOL_AVG) {
        float *spread = m->scratch[0];
        memset(spread, 0, sizeof(float) * (size_t)R * rows * L->conv_h * L->conv_w);
        sm_avgpool_backward(spread, dpooled, R, rows, L->conv_h, L->conv_w, L->pool_size);
        dpre = spread;
        g = sm_conv_grad_dense(spread);
    }
    /* 3. weight gradient (accumulated, I3) and, for conv, the partial input gradient (I2) */
    const float *w = io->param;
    if (dpre_out) *dpre_out = NULL;
    float *gw = grad, *gb = grad + lc->n_weight;
    const op_input in = op_input_of(m, L, io, R);
    if (L->kind == SM_LAYER_DENSE) {
        if (in.events) sm_dense_backward_weight_spikes(gw, gb, dpre, in.bits, R, L->fan_in, rows, m->event_work);
        else sm_dense_backward_weight(gw, gb, dpre, in.x, R, L->fan_in, rows);
        if (dpre_out) *dpre_out = dpre;
    } else {
        sm_conv_shape s;
        sm_conv_shape_init(&s, L->in_c, L->in_h, L->in_w, rows, L->kernel, L->stride, L->padding);
        if (in.events) sm_conv_backward_weight_spikes(gw, gb, g, in.bits, &s, R, m->event_work);
        else sm_conv_backward_weight(gw, gb, g, in.x, &s, R, m->conv_work);
        if (partial && g.idx) sm_conv_backward_input_pooled(partial, g, w, &s, R, m->event_work);
        else if (partial) sm_conv_backward_input_set(partial, g, w, &s, R, m->conv_work);
    }
}

/* The io of LC id for the single-process executor: the model's own buffers. */
static sm_lc_io model_io(const sm_model *m, const sm_lc *lc) {
    sm_lc_io io = {.B = m->B, .in_static = is_static(m, lc->layer), .in = layer_input(m, lc->layer),
                   .param = lc->param, .mem = lc->mem, .spk = lc->spk, .pool_idx = lc->pool_idx};
    return io;
}

void sm_lc_forward(sm_model *m, int id) {
    sm_lc *lc = &m->lcs[id];
    const sm_layer *L = &m->layers[lc->layer];
    sm_lc_io io = model_io(m, lc);
    sm_lc_forward_io(m, lc, &io);
    const size_t block = (size_t)(lc->o1 - lc->o0) * L->out_h * L->out_w;
    if (L->n_lc > 1)
        sm_block_copy(m->act[lc->layer] + (size_t)lc->o0 * L->out_h * L->out_w, (size_t)L->n_out,
                      lc->spk, block, (size_t)m->T * m->B, block);
}

void sm_lc_backward(sm_model *m, int id) {
    sm_lc *lc = &m->lcs[id];
    const int l = lc->layer;
    const sm_layer *L = &m->layers[l];
    const size_t block = (size_t)(lc->o1 - lc->o0) * L->out_h * L->out_w;
    const size_t TB = (size_t)m->T * m->B, offset = (size_t)lc->o0 * L->out_h * L->out_w;
    const int last = l == m->n_layers - 1;

    /* this LC's block of dL/dS (and dL/dU for ce_mem) */
    const float *dS = m->dact[l], *dM = NULL;
    if (L->n_lc > 1) {
        sm_block_copy(m->scratch[2], block, m->dact[l] + offset, (size_t)L->n_out, TB, block);
        dS = m->scratch[2];
    }
    if (last && m->loss.kind == SM_LOSS_CE_MEM) {
        if (L->n_lc > 1) {
            sm_block_copy(m->scratch[4], block, m->dmem_out + offset, (size_t)L->n_out, TB, block);
            dM = m->scratch[4];
        } else {
            dM = m->dmem_out;
        }
    }
    sm_lc_io io = model_io(m, lc);
    sm_lc_backward_io(m, lc, &io, dS, dM, lc->grad, l > 0 ? m->partial : NULL, &m->dpre);
}

int sm_grad_factored(const sm_model *m, int k, int j, int R) {
    const sm_lc *lc = &m->lcs[k];
    if (m->layers[lc->layer].kind != SM_LAYER_DENSE) return 0;
    const double rows = lc->o1 - lc->o0, bj = (double)sm_lc_block(m, j);
    return (double)R * rows + rows * bj < (double)R * bj;
}

size_t sm_lc_block(const sm_model *m, int j) {
    const sm_lc *lc = &m->lcs[j];
    const sm_layer *L = &m->layers[lc->layer];
    return (size_t)(lc->o1 - lc->o0) * L->out_h * L->out_w;
}

size_t sm_lc_block_offset(const sm_model *m, int j) {
    const sm_lc *lc = &m->lcs[j];
    const sm_layer *L = &m->layers[lc->layer];
    return (size_t)lc->o0 * L->out_h * L->out_w;
}

void sm_lc_partial_block(const sm_model *m, const sm_lc *lc, const float *param, const float *dpre,
                         const float *partial, int R, int j, float *out, float *wcols) {
    const sm_layer *L = &m->layers[lc->layer];
    const size_t bj = sm_lc_block(m, j), off = sm_lc_block_offset(m, j);
    if (L->kind == SM_LAYER_DENSE) {
        const int rows = lc->o1 - lc->o0;
        sm_dense_weight_columns(wcols, param, rows, L->fan_in, (int)off, (int)bj);
        sm_dense_partial_block(out, dpre, wcols, R, rows, (int)bj);
    } else {
        sm_block_copy(out, bj, partial + off, (size_t)L->n_in, (size_t)R, bj);
    }
}

void sm_model_forward(sm_model *m, const float *input, int input_static, int B) {
    sm_model_reserve(m, B);
    m->B = B;
    m->input = input;
    m->input_static = input_static;
    for (int id = 0; id < m->n_lcs; id++) sm_lc_forward(m, id);
}

/* The output layer's membrane [T,B,K] for the ce_mem loss: the LC's own buffer
 * when the layer is one LC, else assembled into *owned (free() it). NULL for
 * the other losses, which read spikes only. */
static const float *output_mem(const sm_model *m, float **owned) {
    const sm_layer *Lo = &m->layers[m->n_layers - 1];
    *owned = NULL;
    if (m->loss.kind != SM_LOSS_CE_MEM) return NULL;
    if (Lo->n_lc == 1) return m->lcs[Lo->first_lc].mem;
    *owned = sm_falloc((size_t)m->T * m->B * Lo->n_out);
    for (int s = 0; s < Lo->n_lc; s++) {
        const sm_lc *lc = &m->lcs[Lo->first_lc + s];
        size_t block = (size_t)(lc->o1 - lc->o0) * Lo->out_h * Lo->out_w;
        sm_block_copy(*owned + (size_t)lc->o0 * Lo->out_h * Lo->out_w, (size_t)Lo->n_out, lc->mem,
                   block, (size_t)m->T * m->B, block);
    }
    return *owned;
}

double sm_model_loss(const sm_model *m, const int32_t *y, double scale) {
    float *owned;
    const float *mem = output_mem(m, &owned);
    double loss = sm_loss(&m->loss, m->act[m->n_layers - 1], mem, y, m->T, m->B, m->n_classes,
                          scale, NULL, NULL);
    free(owned);
    return loss;
}

double sm_model_infer(sm_model *m, const float *input, int input_static, int B, const int32_t *y, double scale,
                      long *correct) {
    sm_model_reserve_scratch(m, B);
    const int last = m->n_layers - 1;
    const size_t TB = (size_t)m->T * B;
    const uint64_t *in_bits = NULL;
    for (int l = 0; l <= last; l++) {
        const sm_layer *L = &m->layers[l];
        uint64_t *out_bits = l < last ? m->act_bits[l & 1] : NULL;
        if (out_bits) memset(out_bits, 0, sizeof(uint64_t) * TB * (size_t)sm_spike_words(L->n_out));
        for (int k = L->first_lc; k < L->first_lc + L->n_lc; k++) {
            const sm_lc *lc = &m->lcs[k];
            const size_t block = sm_lc_block(m, k), off = sm_lc_block_offset(m, k);
            sm_lc_io io = {.B = B, .in_static = l == 0 && input_static, .in = l == 0 ? input : NULL,
                           .in_bits = in_bits, .param = lc->param, .mem = out_bits ? NULL : m->lif_mem,
                           .spk = m->lif_spk, .pool_idx = L->pool == SM_POOL_MAX ? m->lif_idx : NULL};
            sm_lc_forward_io(m, lc, &io);
            if (out_bits) {
                sm_spikes_or_columns(out_bits, L->n_out, (int)off, m->lif_spk, (int)block, (int)TB);
            } else {
                sm_block_copy(m->out_spk + off, (size_t)L->n_out, m->lif_spk, block, TB, block);
                sm_block_copy(m->out_mem + off, (size_t)L->n_out, m->lif_mem, block, TB, block);
            }
        }
        in_bits = out_bits;
    }
    const int K = m->n_classes;
    *correct += sm_predict(NULL, m->out_spk, y, m->T, B, K);
    return sm_loss(&m->loss, m->out_spk, m->loss.kind == SM_LOSS_CE_MEM ? m->out_mem : NULL, y, m->T, B, K, scale,
                   NULL, NULL);
}

double sm_model_backward(sm_model *m, const int32_t *y, double scale) {
    const int last = m->n_layers - 1, B = m->B;
    float *owned;
    const float *mem_out = output_mem(m, &owned);
    double loss = sm_loss(&m->loss, m->act[last], mem_out, y, m->T, B, m->n_classes, scale,
                          m->dact[last], m->dmem_out);
    free(owned);

    for (int l = last; l >= 0; l--) {
        const sm_layer *L = &m->layers[l];
        const int R = rows_of(m, l);
        for (int s = 0; s < L->n_lc; s++) {
            const int k = L->first_lc + s;
            sm_lc_backward(m, k);
            if (l == 0) continue;
            /* I2: each block of the previous layer's dL/dS sums the LCs' partials
             * in ascending LC order */
            const sm_layer *P = &m->layers[l - 1];
            for (int j = P->first_lc; j < P->first_lc + P->n_lc; j++) {
                const size_t bj = sm_lc_block(m, j), off = sm_lc_block_offset(m, j);
                float *block = m->scratch[2];
                sm_lc_partial_block(m, &m->lcs[k], m->lcs[k].param, m->dpre, m->partial, R, j, block,
                                    m->wcols);
                float *dst = m->dact[l - 1] + off;
                for (int r = 0; r < R; r++) {
                    float *d = dst + (size_t)r * P->n_out;
                    const float *g = block + (size_t)r * bj;
                    if (s == 0) memcpy(d, g, sizeof(float) * bj);
                    else for (size_t i = 0; i < bj; i++) d[i] += g[i];
                }
            }
        }
    }
    return loss;
}

double sm_model_grad_batch(sm_model *m, const float *x, const int32_t *y, int B, int is_spikes) {
    const float *input = x;
    int input_static = 0;
    float *enc = NULL;
    int32_t *ids = NULL;
    if (!is_spikes) {
        enc = sm_falloc((size_t)m->T * B * m->n_in);
        ids = sm_xcalloc((size_t)B, sizeof(int32_t));
        for (int b = 0; b < B; b++) ids[b] = b;
        input_static = sm_model_encode(m, enc, x, ids, B, 0);
        if (!input_static) input = enc;
    }
    sm_model_zero_grad(m);
    sm_model_forward(m, input, input_static, B);
    double loss = sm_model_backward(m, y, 1.0 / B);
    free(enc);
    free(ids);
    return loss;
}
