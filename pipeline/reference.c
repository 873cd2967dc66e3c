/* reference.c — see sm_reference.h. */
#include "sm_reference.h"

#include <stdlib.h>
#include <string.h>

#include "sm_common.h"
#include "sm_schedule.h"

long sm_reference_steps_per_epoch(const sm_model *m, const sm_dataset *d) {
    long minibatches = d->n / m->train.batch;
    return m->pipeline.schedule == SM_SCHED_ASYNC ? minibatches * m->pipeline.microbatches : minibatches;
}

/* x [B,n_in] or [T,B,n_in] for the samples ids[0..B) of `epoch`; returns input_static. */
static int make_input(const sm_model *m, const sm_dataset *d, const int32_t *ids, int B, int epoch,
                      float *x, float *enc, int32_t *y, const float **input) {
    sm_gather_batch(d, ids, 0, B, x, y);
    *input = x;
    if (d->T) return 0;
    if (m->encoder == SM_ENCODE_DIRECT) return 1;
    sm_encode(enc, x, ids, m->T, B, m->n_in, m->encoder, m->seed, (uint64_t)epoch);
    *input = enc;
    return 0;
}

static int sync_epoch(sm_model *m, const sm_dataset *d, const int32_t *order, int epoch,
                      long total_steps) {
    const int B = m->train.batch, M = m->pipeline.microbatches, Bm = B / M;
    const size_t TB = (size_t)m->T * Bm;
    float *x = sm_falloc(TB * m->n_in), *enc = sm_falloc(TB * m->n_in);
    int32_t *y = sm_xcalloc((size_t)Bm, sizeof(int32_t));
    for (long r = 0; r < d->n / B; r++) {
        for (int mb = 0; mb < M; mb++) {
            const int32_t *ids = order + r * B + (long)mb * Bm;
            const float *input;
            int input_static = make_input(m, d, ids, Bm, epoch, x, enc, y, &input);
            sm_model_forward(m, input, input_static, Bm);
            sm_model_backward(m, y, 1.0 / B);
        }
        for (int i = 0; i < m->n_lcs; i++) {
            sm_lc *lc = &m->lcs[i];
            sm_lc_update(m, lc, sm_model_lr(m, lc->step, total_steps, epoch));
        }
    }
    free(x); free(enc); free(y);
    return SM_OK;
}

/* async: per layer and microbatch in flight */
typedef struct {
    float *in;          /* layer input [R,n_in] */
    int in_static;
    float **mem, **spk; /* per LC of the layer */
    int32_t **pool_idx;
    float **stash;      /* per LC, or NULL */
    float *dS;          /* dL/d(output spikes) [T,B,n_out], once the next layer's backward ran */
    int32_t *y;         /* output layer: labels */
} mb_state;

static int async_epoch(sm_model *m, const sm_dataset *d, const int32_t *order, int epoch,
                       long total_steps) {
    const int S = m->n_layers, Bm = m->train.batch / m->pipeline.microbatches;
    const int M = (int)((d->n / m->train.batch) * m->pipeline.microbatches);
    const size_t TB = (size_t)m->T * Bm;
    sm_model_reserve_scratch(m, Bm); /* neuron state is kept here, per microbatch */
    sm_op_list *lists = sm_xcalloc((size_t)S, sizeof(sm_op_list));
    for (int s = 0; s < S; s++) {
        int rc = sm_schedule_ops(&lists[s], SM_SCHED_ASYNC, S, M, s);
        if (rc) return rc;
    }
    mb_state *st = sm_xcalloc((size_t)S * M, sizeof(mb_state)); /* [layer][mb] */
    char *fdone = sm_xcalloc((size_t)S * M, 1), *bdone = sm_xcalloc((size_t)S * M, 1);
    int *cursor = sm_xcalloc((size_t)S, sizeof(int));
    float *x = sm_falloc(TB * m->n_in), *partial = NULL;
    size_t widest = 0;
    for (int l = 0; l < S; l++) if ((size_t)m->layers[l].n_in > widest) widest = (size_t)m->layers[l].n_in;
    partial = sm_falloc(TB * widest);
    float *pblock = sm_falloc(TB * widest); /* one partial-gradient block */

    for (int progressed = 1; progressed;) {
        progressed = 0;
        for (int l = 0; l < S; l++) {
            if (cursor[l] >= lists[l].n) continue;
            const sm_op *op = &lists[l].ops[cursor[l]];
            const sm_layer *L = &m->layers[l];
            if (op->kind == SM_OP_F && l > 0 && !fdone[(size_t)(l - 1) * M + op->mb]) continue;
            if (op->kind == SM_OP_B && l < S - 1 && !bdone[(size_t)(l + 1) * M + op->mb]) continue;
            mb_state *ms = &st[(size_t)l * M + (op->mb < 0 ? 0 : op->mb)];
            if (op->kind == SM_OP_F) {
                ms->mem = sm_xcalloc((size_t)L->n_lc, sizeof(float *));
                ms->spk = sm_xcalloc((size_t)L->n_lc, sizeof(float *));
                ms->pool_idx = sm_xcalloc((size_t)L->n_lc, sizeof(int32_t *));
                ms->stash = sm_xcalloc((size_t)L->n_lc, sizeof(float *));
                ms->in = sm_falloc(TB * L->n_in);
                const int32_t *ids = order + (long)op->mb * Bm;
                if (l == 0) {
                    float *enc = sm_falloc(TB * m->n_in);
                    const float *input;
                    int32_t *y = sm_xcalloc((size_t)Bm, sizeof(int32_t));
                    ms->in_static = make_input(m, d, ids, Bm, epoch, x, enc, y, &input);
                    memcpy(ms->in, input, sizeof(float) * (ms->in_static ? (size_t)Bm : TB) * L->n_in);
                    free(enc); free(y);
                } else { /* the previous layer's spikes, assembled */
                    const sm_layer *P = &m->layers[l - 1];
                    const mb_state *prev = &st[(size_t)(l - 1) * M + op->mb];
                    for (int j = 0; j < P->n_lc; j++) {
                        const sm_lc *pj = &m->lcs[P->first_lc + j];
                        size_t bj = (size_t)(pj->o1 - pj->o0) * P->out_h * P->out_w;
                        sm_block_copy(ms->in + (size_t)pj->o0 * P->out_h * P->out_w, (size_t)L->n_in,
                                      prev->spk[j], bj, TB, bj);
                    }
                }
                for (int k = 0; k < L->n_lc; k++) {
                    sm_lc *lc = &m->lcs[L->first_lc + k];
                    size_t block = (size_t)(lc->o1 - lc->o0) * L->out_h * L->out_w;
                    ms->mem[k] = sm_falloc(TB * block);
                    ms->spk[k] = sm_falloc(TB * block);
                    if (L->pool == SM_POOL_MAX) ms->pool_idx[k] = sm_xcalloc(TB * block, sizeof(int32_t));
                    const float *param = lc->param;
                    if (m->pipeline.stash) {
                        ms->stash[k] = sm_falloc(lc->n_param);
                        memcpy(ms->stash[k], lc->param, sizeof(float) * lc->n_param);
                        param = ms->stash[k];
                    }
                    sm_lc_io io = {.B = Bm, .in_static = ms->in_static, .in = ms->in, .param = param, .mem = ms->mem[k],
                                   .spk = ms->spk[k], .pool_idx = ms->pool_idx[k]};
                    sm_lc_forward_io(m, lc, &io);
                }
                if (l == S - 1) {
                    ms->y = sm_xcalloc((size_t)Bm, sizeof(int32_t));
                    for (int b = 0; b < Bm; b++) ms->y[b] = d->y[ids[b]];
                }
                fdone[(size_t)l * M + op->mb] = 1;
            } else if (op->kind == SM_OP_B) {
                const float *dM = NULL;
                float *dS_owned = NULL, *dM_owned = NULL;
                if (l == S - 1) {
                    dS_owned = sm_falloc(TB * L->n_out);
                    dM_owned = sm_falloc(TB * L->n_out);
                    sm_loss(&m->loss, ms->spk[0], ms->mem[0], ms->y, m->T, Bm, m->n_classes,
                            1.0 / Bm, dS_owned, dM_owned);
                    ms->dS = dS_owned;
                    if (m->loss.kind == SM_LOSS_CE_MEM) dM = dM_owned;
                }
                mb_state *below = l > 0 ? &st[(size_t)(l - 1) * M + op->mb] : NULL;
                if (below) below->dS = sm_falloc(TB * L->n_in);
                for (int k = 0; k < L->n_lc; k++) {
                    sm_lc *lc = &m->lcs[L->first_lc + k];
                    size_t block = (size_t)(lc->o1 - lc->o0) * L->out_h * L->out_w;
                    float *dS = sm_falloc(TB * block);
                    sm_block_copy(dS, block, ms->dS + (size_t)lc->o0 * L->out_h * L->out_w,
                                  (size_t)L->n_out, TB, block);
                    const float *param = m->pipeline.stash ? ms->stash[k] : lc->param;
                    sm_lc_io io = {.B = Bm, .in_static = ms->in_static, .in = ms->in, .param = param, .mem = ms->mem[k],
                                   .spk = ms->spk[k], .pool_idx = ms->pool_idx[k]};
                    const float *dpre = NULL;
                    sm_lc_backward_io(m, lc, &io, dS, dM, lc->grad,
                                      below && L->kind == SM_LAYER_CONV2D ? partial : NULL, &dpre);
                    free(dS);
                    if (below) { /* each block sums the partials in ascending LC order */
                        const sm_layer *P = &m->layers[l - 1];
                        for (int j = P->first_lc; j < P->first_lc + P->n_lc; j++) {
                            const size_t bj = sm_lc_block(m, j), off = sm_lc_block_offset(m, j);
                            sm_lc_partial_block(m, lc, param, dpre, partial, (int)TB, j, pblock, m->wcols);
                            for (size_t r = 0; r < TB; r++) {
                                float *d = below->dS + r * L->n_in + off;
                                const float *g = pblock + r * bj;
                                if (k == 0) memcpy(d, g, sizeof(float) * bj);
                                else for (size_t i = 0; i < bj; i++) d[i] += g[i];
                            }
                        }
                    }
                    free(ms->mem[k]); free(ms->spk[k]); free(ms->pool_idx[k]); free(ms->stash[k]);
                }
                free(ms->mem); free(ms->spk); free(ms->pool_idx); free(ms->stash); free(ms->in);
                free(ms->y); free(dM_owned);
                free(ms->dS);
                memset(ms, 0, sizeof *ms);
                bdone[(size_t)l * M + op->mb] = 1;
            } else {
                for (int k = 0; k < L->n_lc; k++) {
                    sm_lc *lc = &m->lcs[L->first_lc + k];
                    sm_lc_update(m, lc, sm_model_lr(m, lc->step, total_steps, epoch));
                }
            }
            cursor[l]++;
            progressed = 1;
        }
    }
    int rc = SM_OK;
    for (int l = 0; l < S; l++)
        if (cursor[l] < lists[l].n) rc = sm_fail("reference executor: stage %d stuck at op %d", l, cursor[l]);
    for (int s = 0; s < S; s++) sm_op_list_free(&lists[s]);
    free(lists); free(st); free(fdone); free(bdone); free(cursor); free(x); free(partial); free(pblock);
    return rc;
}

int sm_reference_epoch(sm_model *m, const sm_dataset *d, int epoch, long total_steps) {
    int32_t *order = sm_xcalloc((size_t)d->n, sizeof(int32_t));
    sm_shuffle(order, d->n, m->seed, (uint64_t)epoch);
    int rc = m->pipeline.schedule == SM_SCHED_ASYNC ? async_epoch(m, d, order, epoch, total_steps)
                                                    : sync_epoch(m, d, order, epoch, total_steps);
    free(order);
    return rc;
}
