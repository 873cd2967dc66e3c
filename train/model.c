/* model.c — layers and logical cores: construction, parameters, optimizer
 * steps, whole-layer views and checksums. The config reader is model_config.c,
 * the executor forward_backward.c. */
#include "sm_model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sm_common.h"
#include "sm_parallel.h"

/* Cut every layer into its LCs, allocate their blocks and initialise (I1).
 * Called by the config reader once the layers are known. */
void sm_model_build_lcs(sm_model *m) {
    int total = 0;
    for (int l = 0; l < m->n_layers; l++) total += m->layers[l].n_lc;
    m->n_lcs = total;
    m->lcs = sm_xcalloc((size_t)total, sizeof(sm_lc));
    int id = 0;
    for (int l = 0; l < m->n_layers; l++) {
        sm_layer *L = &m->layers[l];
        L->first_lc = id;
        for (int s = 0; s < L->n_lc; s++, id++) {
            sm_lc *lc = &m->lcs[id];
            lc->layer = l;
            /* near-equal slices: the first (out % n_lc) LCs get one more row */
            int base = L->out / L->n_lc, extra = L->out % L->n_lc;
            lc->o0 = s * base + (s < extra ? s : extra);
            lc->o1 = lc->o0 + base + (s < extra);
            int rows = lc->o1 - lc->o0;
            lc->n_weight = (size_t)rows * L->fan_in;
            lc->n_param = lc->n_weight + rows;
            lc->param = sm_falloc(lc->n_param);
            lc->grad = sm_falloc(lc->n_param);
            lc->opt_m = sm_falloc(lc->n_param);
            lc->opt_v = sm_falloc(lc->n_param);
            sm_init_slice(lc->param, lc->param + lc->n_weight, m->seed, l, lc->o0, lc->o1,
                          L->fan_in, L->init_gain);
        }
    }
}

/* The kernels' scratch (any executor): scratch[0], [1], [3], the im2col and
 * event buffers, the input conversions and the weight-column buffer, sized
 * for microbatches of up to m->scratch_batch. */
static void free_scratch(sm_model *m) {
    free(m->scratch[0]), free(m->scratch[1]), free(m->scratch[3]);
    m->scratch[0] = m->scratch[1] = m->scratch[3] = NULL;
    free(m->conv_work);
    free(m->event_work);
    free(m->wcols);
    free(m->in_bits);
    free(m->in_floats);
    free(m->lif_mem), free(m->lif_spk), free(m->lif_idx), free(m->lif_work);
    free(m->act_bits[0]), free(m->act_bits[1]), free(m->out_spk), free(m->out_mem);
    m->conv_work = m->event_work = m->wcols = m->in_floats = m->lif_mem = m->lif_spk = m->lif_work = NULL;
    m->out_spk = m->out_mem = NULL;
    m->in_bits = m->act_bits[0] = m->act_bits[1] = NULL;
    m->lif_idx = NULL;
    m->scratch_batch = 0;
}

/* The single-process executor's own buffers: every LC's neuron state, the
 * whole-layer activations and their gradients. */
static void free_buffers(sm_model *m) {
    for (int i = 0; i < m->n_lcs; i++) {
        free(m->lcs[i].mem);
        free(m->lcs[i].spk);
        free(m->lcs[i].pool_idx);
        m->lcs[i].mem = m->lcs[i].spk = NULL;
        m->lcs[i].pool_idx = NULL;
    }
    for (int l = 0; l < m->n_layers && m->act; l++) {
        if (m->layers[l].n_lc > 1) free(m->act[l]);
        free(m->dact[l]);
    }
    free(m->act);
    free(m->dact);
    free(m->partial);
    free(m->dmem_out);
    free(m->scratch[2]);
    free(m->scratch[4]);
    m->act = m->dact = NULL;
    m->partial = m->dmem_out = m->scratch[2] = m->scratch[4] = NULL;
    m->max_batch = 0;
}

size_t sm_model_widest_layer(const sm_model *m) {
    size_t widest = 1;
    for (int l = 0; l < m->n_layers; l++) {
        if ((size_t)m->layers[l].n_in > widest) widest = (size_t)m->layers[l].n_in;
        if ((size_t)m->layers[l].n_out > widest) widest = (size_t)m->layers[l].n_out;
    }
    return widest;
}

void sm_model_reserve_scratch(sm_model *m, int max_batch) {
    /* the event and LIF kernels' scratch has a part per thread of the rank */
    if (max_batch <= m->scratch_batch && m->scratch_threads == sm_parallel_threads()) return;
    if (max_batch < m->scratch_batch) max_batch = m->scratch_batch;
    free_scratch(m);
    m->scratch_batch = max_batch;
    m->scratch_threads = sm_parallel_threads();
    const size_t TB = (size_t)m->T * max_batch;
    /* each scratch buffer sized for its role (forward_backward.c):
     *   [0] average pooling's input and its gradient: R·rows·conv_h·conv_w (max pooling
     *       is fused into the conv kernels, forward and backward)
     *   [1] the current after pooling, and the gradient of the LIF's input: T·B·block
     *   [3] a static layer's current gradient summed over the steps: B·block
     * (R = B for a static layer 0, T·B otherwise); [2] and [4] are the
     * single-process executor's (sm_model_reserve) */
    size_t pre_pool = 1, lif = 1, pool_idx = 1, per_sample = 1, conv_work = 0, event_work = 1, most = 1;
    for (int i = 0; i < m->n_lcs; i++) {
        const sm_lc *lc = &m->lcs[i];
        const sm_layer *L = &m->layers[lc->layer];
        const size_t rows = (size_t)(lc->o1 - lc->o0), block = rows * L->out_h * L->out_w;
        const size_t R = lc->layer == 0 && sm_model_static_input(m) ? (size_t)max_batch : TB;
        if (L->pool == SM_POOL_AVG && R * rows * L->conv_h * L->conv_w > pre_pool)
            pre_pool = R * rows * L->conv_h * L->conv_w;
        if (TB * block > lif) lif = TB * block;
        if (L->pool == SM_POOL_MAX && R * block > pool_idx) pool_idx = R * block;
        if ((size_t)max_batch * block > per_sample) per_sample = (size_t)max_batch * block;
        if (L->kind == SM_LAYER_CONV2D) {
            sm_conv_shape s;
            sm_conv_shape_init(&s, L->in_c, L->in_h, L->in_w, (int)rows, L->kernel, L->stride,
                               L->padding);
            size_t w = sm_conv_work_floats(&s, (int)R);
            if (w > conv_work) conv_work = w;
            w = sm_conv_event_work_floats(&s);
            if (w > event_work) event_work = w;
            w = sm_conv_input_grad_work_floats(&s);
            if (w > event_work) event_work = w;
        } else {
            size_t w = sm_dense_event_work_floats(L->fan_in, (int)rows);
            if (w > event_work) event_work = w;
        }
        if (lc->n_weight > most) most = lc->n_weight;
    }
    m->scratch[0] = sm_falloc(pre_pool);
    m->scratch[1] = sm_falloc(lif);
    m->scratch[3] = sm_falloc(per_sample);
    m->conv_work = sm_falloc(conv_work ? conv_work : 1);
    m->conv_work_floats = conv_work;
    m->event_work = sm_falloc(event_work);
    const size_t widest = sm_model_widest_layer(m);
    m->in_bits = sm_xcalloc(TB * (size_t)sm_spike_words((int)widest), sizeof(uint64_t));
    m->in_floats = NULL; /* only when spikes go to the dense kernels (forward_backward.c) */
    size_t out_block = 1;
    const sm_layer *Lo = &m->layers[m->n_layers - 1];
    for (int k = Lo->first_lc; k < Lo->first_lc + Lo->n_lc; k++)
        if (sm_lc_block(m, k) > out_block) out_block = sm_lc_block(m, k);
    m->lif_mem = sm_falloc(TB * out_block);
    m->lif_spk = sm_falloc(lif);
    m->lif_work = sm_falloc(sm_lif_work_floats(m->T, m->scratch_threads));
    m->lif_idx = sm_xcalloc(pool_idx, sizeof(int32_t));
    for (int i = 0; i < 2; i++) m->act_bits[i] = sm_xcalloc(TB * (size_t)sm_spike_words((int)widest), sizeof(uint64_t));
    m->out_spk = sm_falloc(TB * (size_t)m->n_classes);
    m->out_mem = sm_falloc(TB * (size_t)m->n_classes);
    m->wcols = sm_falloc(most);
}

void sm_model_reserve(sm_model *m, int max_batch) {
    sm_model_reserve_scratch(m, max_batch);
    if (max_batch <= m->max_batch) return;
    free_buffers(m);
    m->max_batch = max_batch;
    const size_t TB = (size_t)m->T * max_batch;
    size_t partial = 0;
    for (int i = 0; i < m->n_lcs; i++) {
        sm_lc *lc = &m->lcs[i];
        const sm_layer *L = &m->layers[lc->layer];
        const size_t neurons = (size_t)(lc->o1 - lc->o0) * L->out_h * L->out_w;
        lc->mem = sm_falloc(TB * neurons);
        lc->spk = sm_falloc(TB * neurons);
        if (L->pool == SM_POOL_MAX) lc->pool_idx = sm_xcalloc(TB * neurons, sizeof(int32_t));
        if (TB * L->n_in > partial) partial = TB * L->n_in;
    }
    m->partial = sm_falloc(partial);
    size_t block = 1;
    for (int i = 0; i < m->n_lcs; i++) if (sm_lc_block(m, i) > block) block = sm_lc_block(m, i);
    m->scratch[2] = sm_falloc(TB * block); /* an LC's block of dL/dS, and of a partial gradient */
    m->scratch[4] = sm_falloc(TB * block); /* its block of dL/dU (ce_mem) */
    m->act = sm_xcalloc((size_t)m->n_layers, sizeof(float *));
    m->dact = sm_xcalloc((size_t)m->n_layers, sizeof(float *));
    for (int l = 0; l < m->n_layers; l++) {
        const sm_layer *L = &m->layers[l];
        /* a layer of one LC reads and writes that LC's own buffer: no copy */
        m->act[l] = L->n_lc == 1 ? m->lcs[L->first_lc].spk : sm_falloc(TB * L->n_out);
        m->dact[l] = sm_falloc(TB * L->n_out);
    }
    m->dmem_out = sm_falloc(TB * m->n_classes);
}

int sm_model_static_input(const sm_model *m) {
    return m->encoder == SM_ENCODE_DIRECT && strcmp(m->data.source, "shd") != 0;
}

void sm_model_free(sm_model *m) {
    if (!m) return;
    free_buffers(m);
    free_scratch(m);
    for (int i = 0; i < m->n_lcs; i++) {
        free(m->lcs[i].param);
        free(m->lcs[i].grad);
        free(m->lcs[i].opt_m);
        free(m->lcs[i].opt_v);
    }
    free(m->lcs);
    free(m->layers);
    memset(m, 0, sizeof *m);
}

void sm_model_zero_grad(sm_model *m) {
    for (int i = 0; i < m->n_lcs; i++)
        memset(m->lcs[i].grad, 0, sizeof(float) * m->lcs[i].n_param);
}

static void optimizer_step(const sm_model *m, sm_lc *lc, double lr, long step) {
    if (m->opt.kind == SM_OPT_ADAM)
        sm_adam_update(lc->param, lc->grad, lc->opt_m, lc->opt_v, lc->n_param, &m->opt, lr, step);
    else
        sm_sgd_update(lc->param, lc->grad, lc->opt_m, lc->n_param, &m->opt, lr, step);
}

void sm_model_update(sm_model *m, double lr) {
    m->step++;
    for (int i = 0; i < m->n_lcs; i++) {
        optimizer_step(m, &m->lcs[i], lr, m->step);
        m->lcs[i].step = m->step;
    }
}

void sm_lc_update(sm_model *m, sm_lc *lc, double lr) {
    lc->step++;
    optimizer_step(m, lc, lr, lc->step);
    memset(lc->grad, 0, sizeof(float) * lc->n_param);
}

double sm_model_lr(const sm_model *m, long step, long total_steps, int epoch) {
    const sm_train_params *p = &m->train;
    double lr = p->lr;
    switch (p->lr_schedule) {
    case SM_LR_CONSTANT:
        break;
    case SM_LR_COSINE: {
        double frac = total_steps > 0 ? (double)step / (double)total_steps : 0.0;
        if (frac > 1.0) frac = 1.0;
        lr = p->lr_min + 0.5 * (p->lr - p->lr_min) * (1.0 + cos(M_PI * frac));
        break;
    }
    case SM_LR_STEP:
        lr = p->lr * pow(p->lr_gamma, (double)(epoch / (p->lr_step_epochs > 0 ? p->lr_step_epochs : 1)));
        break;
    }
    if (p->warmup_steps > 0 && step < p->warmup_steps)
        lr *= 0.1 + 0.9 * (double)step / (double)p->warmup_steps;
    return lr;
}

static float *lc_block(const sm_lc *lc, int which) {
    switch (which) {
    case 0: return lc->param;
    case 1: return lc->grad;
    case 2: return lc->opt_m;
    default: return lc->opt_v;
    }
}

void sm_layer_gather(const sm_model *m, int layer, int which, float *w, float *b) {
    const sm_layer *L = &m->layers[layer];
    for (int s = 0; s < L->n_lc; s++) {
        const sm_lc *lc = &m->lcs[L->first_lc + s];
        const float *src = lc_block(lc, which);
        memcpy(w + (size_t)lc->o0 * L->fan_in, src, sizeof(float) * lc->n_weight);
        memcpy(b + lc->o0, src + lc->n_weight, sizeof(float) * (size_t)(lc->o1 - lc->o0));
    }
}

void sm_layer_scatter(sm_model *m, int layer, int which, const float *w, const float *b) {
    const sm_layer *L = &m->layers[layer];
    for (int s = 0; s < L->n_lc; s++) {
        sm_lc *lc = &m->lcs[L->first_lc + s];
        float *dst = lc_block(lc, which);
        memcpy(dst, w + (size_t)lc->o0 * L->fan_in, sizeof(float) * lc->n_weight);
        memcpy(dst + lc->n_weight, b + lc->o0, sizeof(float) * (size_t)(lc->o1 - lc->o0));
    }
}

uint64_t sm_model_checksum(const sm_model *m, int with_opt) {
    uint64_t h = 0;
    for (int i = 0; i < m->n_lcs; i++) {
        const sm_lc *lc = &m->lcs[i];
        h = sm_checksum64(lc->param, sizeof(float) * lc->n_param, h);
        if (with_opt) {
            h = sm_checksum64(lc->opt_m, sizeof(float) * lc->n_param, h);
            h = sm_checksum64(lc->opt_v, sizeof(float) * lc->n_param, h);
        }
    }
    return h;
}

int sm_model_encode(const sm_model *m, float *out, const float *x, const int32_t *sample_ids,
                    int B, uint64_t epoch) {
    if (m->encoder == SM_ENCODE_DIRECT) return 1;
    sm_encode(out, x, sample_ids, m->T, B, m->n_in, m->encoder, m->seed, epoch);
    return 0;
}
