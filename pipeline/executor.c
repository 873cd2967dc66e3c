/* executor.c — the per-rank dataflow interpreter of the stage op lists (see
 * sm_executor.h for the state table and invariants E1–E3). */
#include "sm_executor.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sm_arena.h"
#include "sm_common.h"
#include "sm_partition.h"
#ifdef SM_SMPI
#include <smpi/smpi.h>
#endif

/* What an LC keeps for one microbatch between its forward and its backward:
 * its input, its output spikes, and no neuron state — the backward recomputes
 * the current and the membrane from the input (bit for bit what the forward
 * computed: the same kernels on the same data), so BPTT costs an eighth of a
 * byte per input spike instead of 12 bytes per neuron and step
 * (docs/performance.md, "Lean BPTT state"). */
typedef struct {
    int mb;                    /* -1: free */
    float *in;                 /* static layer 0: the samples [B, n_in] */
    uint64_t *in_bits;         /* any other layer: the input spikes [T*B, n_in] as bits */
    uint8_t *out_bits;         /* the LC's spikes [T*B, block], packed as messages carry them */
    float *cur;                /* static layer 0: its current after pooling [B, block] */
    int32_t *pool_idx;         /* static layer 0 with max pooling: [B, block] */
    float *stash;              /* async: the weights the forward used (their update may come first) */
    const float *param;        /* the weights of the forward, to recompute it (live, or stash) */
    int32_t *labels;           /* output layer: the microbatch's labels */
} slot;

typedef struct {
    int id;                    /* LC index */
    int cursor;                /* next op in its stage list */
    int n_slots;
    slot *slots;
} local_lc;

struct sm_executor {
    sm_model *m;
    sm_comm *c;
    const sm_dataset *data;
    int S, M, Bm;              /* stages, microbatches per round, samples per microbatch */
    int async, stash;
    long rounds;               /* rounds per epoch */
    int n_local;
    local_lc *local;
    sm_op_list *lists;         /* [S], per round */
    int epoch;
    int32_t *order;            /* the epoch's sample order */
    float *x, *unpack, *dS;    /* scratch: gathered samples, a factored gradient's product, summed gradient */
    float *dmem, *partial;
    int32_t *labels;           /* scratch: labels gathered with a layer-0 microbatch (unused there) */
    double loss_sum;
    long correct, seen;
    double *lc_compute;        /* [n_lcs] */
    sm_arena arena;            /* this core's memory: its LCs' state (M1, M2) */
    sm_epoch_stats stats;
    sm_progress_fn progress;
    void *progress_ctx;
    long progress_done;        /* backwards finished by the first local LC this epoch */
    volatile sig_atomic_t *stop_flag; /* sm_executor_watch: stop at the next round boundary when set */
    int has_resume;            /* sm_executor_resume_at: the next epoch starts inside */
    sm_epoch_resume resume;
    long bad_key;              /* first non-finite loss/gradient here: (step·2 + is_grad)·n_lcs + lc */
    int faults;                /* SPIKEMESH_FAULT is set (tests): offer the round boundaries to it */
};

#define NO_BAD LONG_MAX

/* CPU time of this thread: an op's compute without the time the rank spends
 * descheduled (ranks may outnumber cores) and without Open MPI's own threads.
 * With more than one BLAS thread per rank it undercounts: use one, or
 * chip.compute: flops. */
static double cpu_now(void) { return sm_thread_cpu_seconds(); }

static size_t block_of(const sm_model *m, int lc_id) {
    const sm_lc *lc = &m->lcs[lc_id];
    const sm_layer *L = &m->layers[lc->layer];
    return (size_t)(lc->o1 - lc->o0) * L->out_h * L->out_w;
}


/* ---- the core's memory --------------------------------------------------- */

int sm_executor_check_memory(const sm_model *m, const int32_t *lc_core, int ranks) {
    double *bytes = sm_xcalloc((size_t)ranks, sizeof(double));
    for (int i = 0; i < m->n_lcs; i++) bytes[lc_core[i]] += sm_lc_state_bytes(m, i);
    int over = -1, n_over = 0;
    for (int r = 0; r < ranks; r++)
        if (bytes[r] > m->chip.core_memory) { n_over++; if (over < 0) over = r; }
    if (over < 0) { free(bytes); return SM_OK; }
    char lcs[256] = "";
    double params = 0;
    int shown = 0, len = 0, n_here = 0;
    for (int i = 0; i < m->n_lcs; i++) {
        if (lc_core[i] != over) continue;
        n_here++;
        params += 16.0 * (double)m->lcs[i].n_param;
        if (shown < 12 && len < (int)sizeof lcs - 48) {
            len += snprintf(lcs + len, sizeof lcs - (size_t)len, "%s%d (%s)", shown ? ", " : "", i,
                            m->layers[m->lcs[i].layer].name);
            shown++;
        }
    }
    if (shown < n_here) snprintf(lcs + len, sizeof lcs - (size_t)len, " and %d more", n_here - shown);
    const double need = bytes[over], MiB = 1024.0 * 1024.0;
    free(bytes);
    return sm_error("core %d (%d,%d) would hold LC%s %s: %.0f bytes (%.2f MiB: %.2f MiB of parameters, "
                    "gradients and optimizer moments, %.2f MiB of BPTT state for the microbatches in flight), "
                    "but chip.core_memory is %.0f bytes (%.2f MiB)%s; spread these LCs over more cores or "
                    "raise chip.core_memory",
                    over, over % m->chip.mesh_w, over / m->chip.mesh_w, n_here == 1 ? "" : "s", lcs, need,
                    need / MiB, params / MiB, (need - params) / MiB, m->chip.core_memory,
                    m->chip.core_memory / MiB,
                    n_over > 1 ? (n_over == 2 ? " (and 1 more core is over)" : " (and more cores are over)") : "");
}

/* The arena was sized from the same counts the allocations follow: running
 * out is a bug in that sum, not bad input. */
static void arena_exhausted(const sm_executor *e, size_t bytes) {
    fprintf(stderr, "spikemesh: internal error: rank %d: its arena (%zu of %zu bytes asked for) has no "
            "room for %zu bytes more\n", e->c->rank, e->arena.requested, e->arena.capacity, bytes);
    abort();
}

static float *arena_floats(sm_executor *e, size_t count) {
    float *p = sm_arena_floats(&e->arena, count);
    if (!p) arena_exhausted(e, sizeof(float) * count);
    return p;
}

static void *arena_bytes(sm_executor *e, size_t bytes) {
    void *p = sm_arena_alloc(&e->arena, bytes);
    if (!p) arena_exhausted(e, bytes);
    return p;
}

/* Move the state blocks of this rank's LCs into its arena (M1), or back out to
 * the heap when the executor ends, so the model outlives it. */
static void move_state(sm_executor *e, int into_arena) {
    for (int k = 0; k < e->n_local; k++) {
        sm_lc *lc = &e->m->lcs[e->local[k].id];
        float **blocks[4] = {&lc->param, &lc->grad, &lc->opt_m, &lc->opt_v};
        for (int b = 0; b < 4; b++) {
            float *to = into_arena ? sm_arena_floats(&e->arena, lc->n_param) : sm_falloc(lc->n_param);
            if (!to) arena_exhausted(e, sizeof(float) * lc->n_param);
            memcpy(to, *blocks[b], sizeof(float) * lc->n_param);
            if (into_arena) free(*blocks[b]);
            *blocks[b] = to;
        }
    }
}

/* The stage lists never have more microbatches between forward and backward
 * than sm_in_flight counts (what the arena was sized for). */
static int check_in_flight(const sm_executor *e) {
    for (int s = 0; s < e->S; s++) {
        int open = 0, most = 0;
        for (int k = 0; k < e->lists[s].n; k++) {
            open += e->lists[s].ops[k].kind == SM_OP_F ? 1 : e->lists[s].ops[k].kind == SM_OP_B ? -1 : 0;
            if (open > most) most = open;
        }
        if (most > sm_in_flight(e->m, s))
            return sm_fail("internal error: stage %d keeps %d microbatches in flight, sm_in_flight says %d",
                           s, most, sm_in_flight(e->m, s));
    }
    return SM_OK;
}

int sm_executor_new(sm_executor **out, sm_model *m, sm_comm *c, const sm_dataset *train) {
    *out = NULL;
    const sm_layer *last = &m->layers[m->n_layers - 1];
    if (last->n_lc != 1)
        return sm_error("the output layer (%s) must be one logical core (the loss needs all its "
                        "outputs together); remove its 'lcs' setting", last->name);
    if (sm_model_static_input(m) && train->T)
        return sm_error("the training data are spike events, but the model expects static images "
                        "(model.encoder direct on data.source %s)", m->data.source);
    sm_executor *e = sm_xcalloc(1, sizeof *e);
    e->m = m;
    e->c = c;
    e->data = train;
    e->S = m->n_layers;
    e->async = m->pipeline.schedule == SM_SCHED_ASYNC;
    e->stash = e->async && m->pipeline.stash;
    e->Bm = m->train.batch / m->pipeline.microbatches;
    long minibatches = train->n / m->train.batch;
    if (minibatches < 1) {
        free(e);
        return sm_error("train.batch = %d is larger than the %d training samples", m->train.batch, train->n);
    }
    e->M = e->async ? (int)(minibatches * m->pipeline.microbatches) : m->pipeline.microbatches;
    e->rounds = e->async ? 1 : minibatches;
    e->lists = sm_xcalloc((size_t)e->S, sizeof(sm_op_list));
    for (int s = 0; s < e->S; s++) {
        int rc = sm_schedule_ops(&e->lists[s], m->pipeline.schedule, e->S, e->M, s);
        if (rc) { sm_executor_free(e); return rc; }
    }
    int rc = check_in_flight(e);
    if (!rc) rc = sm_executor_check_memory(m, c->lc_core, c->size);
    if (rc) { sm_executor_free(e); return rc; }
    /* the arena: the budget is chip.core_memory, the block what this core's LCs need */
    double need = 0;
    size_t n_alloc = 0;
    for (int i = 0; i < m->n_lcs; i++) {
        if (!sm_comm_owns(c, i)) continue;
        const sm_layer *L = &m->layers[m->lcs[i].layer];
        need += sm_lc_state_bytes(m, i);
        const int is_static = m->lcs[i].layer == 0 && sm_model_static_input(m);
        const int keeps = sm_keeps_current(m, m->lcs[i].layer, is_static);
        n_alloc += 4 + (size_t)sm_in_flight(m, m->lcs[i].layer) *
                           (2 + keeps * (1 + (L->pool == SM_POOL_MAX)) + e->async);
    }
    if ((rc = sm_arena_init(&e->arena, (size_t)m->chip.core_memory, sm_arena_room((size_t)need, n_alloc)))) {
        sm_executor_free(e);
        return rc;
    }
    for (int i = 0; i < m->n_lcs; i++) if (sm_comm_owns(c, i)) e->n_local++;
    e->local = sm_xcalloc((size_t)e->n_local + 1, sizeof(local_lc));
    for (int i = 0, k = 0; i < m->n_lcs; i++)
        if (sm_comm_owns(c, i)) e->local[k++].id = i;
    move_state(e, 1);
    sm_model_reserve_scratch(m, e->Bm);
    /* scratch, each sized for what it holds: the widest LC block, the widest conv input */
    size_t block = 1, conv_in = 1, factored = 1;
    const size_t TB = (size_t)m->T * e->Bm;
    for (int i = 0; i < m->n_lcs; i++) {
        const int l = m->lcs[i].layer;
        const sm_layer *L = &m->layers[l];
        if (block_of(m, i) > block) block = block_of(m, i);
        if (L->kind == SM_LAYER_CONV2D && l > 0 && (size_t)L->n_in > conv_in) conv_in = (size_t)L->n_in;
        if (l + 1 < m->n_layers) /* receives a gradient as factors: their product is made here */
            for (int k = m->layers[l + 1].first_lc; k < m->layers[l + 1].first_lc + m->layers[l + 1].n_lc; k++)
                if (sm_grad_factored(m, k, i, (int)TB) && block_of(m, i) > factored) factored = block_of(m, i);
    }
    const int encoded = !sm_model_static_input(m) && !train->T; /* rate/latency: [T,B,n_in] made here */
    e->x = sm_falloc((train->T ? TB : (size_t)e->Bm) * (size_t)m->n_in); /* layer 0's samples */
    e->unpack = sm_falloc(TB * (encoded && (size_t)m->n_in > factored ? (size_t)m->n_in : factored));
    e->dS = sm_falloc(TB * block);
    e->dmem = sm_falloc(TB * (size_t)m->n_classes);
    e->partial = sm_falloc(TB * conv_in);
    e->labels = sm_xcalloc((size_t)e->Bm, sizeof(int32_t));
    e->order = sm_xcalloc((size_t)train->n, sizeof(int32_t));
    e->lc_compute = sm_xcalloc((size_t)m->n_lcs, sizeof(double));
    e->bad_key = NO_BAD;
    e->faults = getenv("SPIKEMESH_FAULT") != NULL;
    *out = e;
    return SM_OK;
}

/* Slots keep their buffers when released (mb = -1) and are reused by the next
 * microbatch: same LC, same sizes. release_slot only marks it free. */
static void release_slot(slot *s) { s->mb = -1; }

static void free_slot(slot *s) { /* its buffers are the arena's, but for the labels */
    free(s->labels);
    memset(s, 0, sizeof *s);
    s->mb = -1;
}

static void free_stats(sm_executor *e) {
    free(e->stats.lc_compute); free(e->stats.core_peak_bytes); free(e->stats.core_rss_bytes); free(e->stats.core_private_bytes);
    free(e->stats.core_heap_bytes);
    free(e->stats.core_bytes);
    free(e->stats.core_messages); free(e->stats.lc_bytes);
    memset(&e->stats, 0, sizeof e->stats);
}

void sm_executor_free(sm_executor *e) {
    if (!e) return;
    if (e->arena.base) move_state(e, 0);
    sm_arena_free(&e->arena);
    for (int k = 0; k < e->n_local; k++) {
        for (int j = 0; j < e->local[k].n_slots; j++) free_slot(&e->local[k].slots[j]);
        free(e->local[k].slots);
    }
    for (int s = 0; e->lists && s < e->S; s++) sm_op_list_free(&e->lists[s]);
    free(e->lists); free(e->local); free(e->x); free(e->unpack); free(e->dS); free(e->dmem);
    free(e->partial);
    free(e->labels); free(e->order); free(e->lc_compute);
    free_stats(e);
    free(e);
}

long sm_executor_steps_per_epoch(const sm_executor *e) { return e->async ? e->M : e->rounds; }

void sm_executor_watch(sm_executor *e, volatile sig_atomic_t *stop_flag) { e->stop_flag = stop_flag; }

void sm_executor_resume_at(sm_executor *e, const sm_epoch_resume *r) {
    e->resume = *r;
    e->has_resume = r->round > 0;
}

/* ---- slots -------------------------------------------------------------- */

/* A slot for microbatch mb: a released one of this LC, or a new one carved
 * from the arena — the bytes sm_lc_cost_of counts per microbatch in flight:
 * the input (a static layer 0: the B samples, the current and its max-pool
 * indices; else the T·B input rows as bits), the output spikes packed, and
 * under async the forward's weights. */
static slot *slot_new(sm_executor *e, local_lc *ll, int mb) {
    const sm_model *m = e->m;
    const sm_lc *lc = &m->lcs[ll->id];
    for (int j = 0; j < ll->n_slots; j++)
        if (ll->slots[j].mb < 0) {
            slot *s = &ll->slots[j];
            s->mb = mb;
            return s;
        }
    ll->slots = sm_xrealloc(ll->slots, sizeof(slot) * (size_t)(ll->n_slots + 1));
    slot *s = &ll->slots[ll->n_slots++];
    memset(s, 0, sizeof *s);
    const sm_layer *L = &m->layers[lc->layer];
    const size_t TB = (size_t)m->T * e->Bm, block = block_of(m, ll->id);
    s->mb = mb;
    const int is_static = lc->layer == 0 && sm_model_static_input(e->m);
    if (is_static)
        s->in = arena_floats(e, (size_t)e->Bm * L->n_in);
    else /* the arena is zeroed: the bits past n_in in each row's last word stay 0 */
        s->in_bits = arena_bytes(e, sizeof(uint64_t) * TB * (size_t)sm_spike_words(L->n_in));
    if (sm_keeps_current(m, lc->layer, is_static)) { /* R rows of current, and their pooling indices */
        const size_t R = is_static ? (size_t)e->Bm : TB;
        s->cur = arena_floats(e, R * block);
        if (L->pool == SM_POOL_MAX) s->pool_idx = arena_bytes(e, sizeof(int32_t) * R * block);
    }
    s->out_bits = arena_bytes(e, sm_spike_bytes(TB * block));
    if (e->async) s->stash = arena_floats(e, lc->n_param);
    /* the labels are the data set's (host memory), not the core's */
    if (lc->layer == m->n_layers - 1) s->labels = sm_xcalloc((size_t)e->Bm, sizeof(int32_t));
    return s;
}

/* The io of a slot's microbatch: its input, and the neuron state in model
 * scratch (an LC that keeps its current, sm_keeps_current, has it and its
 * pooling indices in the slot). With `recompute`, such an LC's forward starts
 * from the kept current. */
static sm_lc_io slot_io(const sm_executor *e, const local_lc *ll, const slot *s, int recompute) {
    const sm_model *m = e->m;
    const sm_layer *L = &m->layers[m->lcs[ll->id].layer];
    sm_lc_io io = {.B = e->Bm, .in_static = s->in != NULL, .in = s->in, .in_bits = s->in_bits,
                   .param = s->param, .mem = NULL, .spk = m->lif_spk,
                   .pool_idx = L->pool == SM_POOL_MAX ? (s->pool_idx ? s->pool_idx : m->lif_idx) : NULL,
                   .cur = s->cur, .cur_ready = recompute && s->cur != NULL};
    return io;
}

static slot *slot_find(local_lc *ll, int mb) {
    for (int j = 0; j < ll->n_slots; j++)
        if (ll->slots[j].mb == mb) return &ll->slots[j];
    return NULL;
}

/* ---- the ops ------------------------------------------------------------ */

/* Sample ids of microbatch mb of this round. */
static const int32_t *samples_of(const sm_executor *e, long round, int mb) {
    long g = e->async ? mb : round * e->M + mb;
    return e->order + g * e->Bm;
}

static int ready(const sm_executor *e, const local_lc *ll, const sm_op *op, long round) {
    const sm_model *m = e->m;
    const int l = m->lcs[ll->id].layer;
    if (op->kind == SM_OP_F && l > 0) {
        const sm_layer *P = &m->layers[l - 1];
        for (int j = P->first_lc; j < P->first_lc + P->n_lc; j++)
            if (!sm_comm_has(e->c, SM_MSG_SPIKES, (int)round, op->mb, j, ll->id)) return 0;
    } else if (op->kind == SM_OP_B && l < m->n_layers - 1) {
        const sm_layer *N = &m->layers[l + 1];
        for (int k = N->first_lc; k < N->first_lc + N->n_lc; k++)
            if (!sm_comm_has(e->c, SM_MSG_GRAD, (int)round, op->mb, k, ll->id)) return 0;
    }
    return 1;
}

static void run_forward(sm_executor *e, local_lc *ll, int mb, long round) {
    sm_model *m = e->m;
    sm_lc *lc = &m->lcs[ll->id];
    const int l = lc->layer;
    const sm_layer *L = &m->layers[l];
    const size_t TB = (size_t)m->T * e->Bm, block = block_of(m, ll->id);
    slot *s = slot_new(e, ll, mb);

    if (l == 0) { /* the microbatch, straight from the data set */
        const int32_t *ids = samples_of(e, round, mb);
        sm_gather_batch(e->data, ids, 0, e->Bm, e->x, e->labels);
        if (s->in) {
            memcpy(s->in, e->x, sizeof(float) * (size_t)e->Bm * m->n_in);
        } else {
            const float *spikes = e->x;
            if (!e->data->T) {
                sm_encode(e->unpack, e->x, ids, m->T, e->Bm, m->n_in, m->encoder, m->seed, (uint64_t)e->epoch);
                spikes = e->unpack;
            }
            sm_spikes_pack(s->in_bits, spikes, (int)TB, m->n_in); /* encoders and event data give 0/1 */
        }
    } else { /* the previous layer's blocks, as bits, into their columns (E2 does not apply: disjoint) */
        const sm_layer *P = &m->layers[l - 1];
        for (int j = P->first_lc; j < P->first_lc + P->n_lc; j++) {
            sm_msg *msg = sm_comm_take(e->c, SM_MSG_SPIKES, (int)round, mb, j, ll->id);
            sm_spikes_put_block(s->in_bits, L->n_in, (int)sm_lc_block_offset(m, j), msg->payload,
                                (int)block_of(m, j), (int)TB);
            sm_msg_free(msg);
        }
    }
    if (e->async) { /* updates come between this forward and its backward: keep its weights */
        memcpy(s->stash, lc->param, sizeof(float) * lc->n_param);
        s->param = s->stash;
    } else {
        s->param = lc->param;
    }
    sm_lc_io io = slot_io(e, ll, s, 0);
    if (l + 1 < m->n_layers && (size_t)e->Bm * block % 8 == 0) { /* straight to bits, no float spikes
                                                                    * (the output layer's count below) */
        io.spk = NULL, io.spk_bits = s->out_bits;
        sm_lc_forward_io(m, lc, &io);
    } else {
        sm_lc_forward_io(m, lc, &io);
        sm_pack_spikes(s->out_bits, io.spk, TB * block);
    }

    if (l + 1 < m->n_layers) {
        const sm_layer *N = &m->layers[l + 1];
        const size_t bytes = sm_spike_bytes(TB * block);
        for (int k = N->first_lc; k < N->first_lc + N->n_lc; k++) {
            if (e->c->lc_core[k] == e->c->rank) { /* same core: the slot's bits themselves (E3) */
                sm_comm_send(e->c, SM_MSG_SPIKES, (int)round, mb, ll->id, k, s->out_bits, 0, 0);
            } else {
                uint8_t *bits = sm_comm_payload(bytes);
                memcpy(bits, s->out_bits, bytes);
                sm_comm_send(e->c, SM_MSG_SPIKES, (int)round, mb, ll->id, k, bits, bytes, 1);
            }
        }
    } else { /* output layer: keep the labels, count correct predictions */
        const int32_t *ids = samples_of(e, round, mb);
        for (int b = 0; b < e->Bm; b++) s->labels[b] = e->data->y[ids[b]];
        e->correct += sm_predict(NULL, io.spk, s->labels, m->T, e->Bm, m->n_classes);
        e->seen += e->Bm;
    }
}

/* Remember the first non-finite value this rank met (the smallest step, then LC,
 * the loss before any gradient of that step, then the LC): the epoch stops at
 * the next round boundary (E4). */
static void note_nonfinite(sm_executor *e, int finite, long step, int lc, int is_grad) {
    if (finite) return;
    long key = (step * 2 + is_grad) * e->m->n_lcs + lc;
    if (key < e->bad_key) e->bad_key = key;
}

/* NaN and ±Inf are the floats whose exponent bits are all ones: an integer OR
 * over the exponents (which vectorises; a float sum would wait on each add) */
static int all_finite(const float *x, size_t n) {
    uint32_t any = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t b;
        memcpy(&b, x + i, sizeof b);
        any |= (b & 0x7f800000u) == 0x7f800000u;
    }
    return !any;
}

static void run_backward(sm_executor *e, local_lc *ll, int mb, long round) {
    sm_model *m = e->m;
    sm_lc *lc = &m->lcs[ll->id];
    const int l = lc->layer;
    const size_t TB = (size_t)m->T * e->Bm, block = block_of(m, ll->id);
    slot *s = slot_find(ll, mb);
    const float *dS = e->dS, *dM = NULL;
    sm_msg *dS_msg = NULL; /* the message dS points into, freed after the backward */
    /* the current again, from the kept input and the forward's weights: the same
     * bits as the forward's; the backward recomputes the membrane from it (the
     * output layer's whole neuron state here, for the loss). It then computes
     * with the forward's weights (weight stashing) or, async without stash, the
     * latest ones. */
    sm_lc_io io = slot_io(e, ll, s, 1);
    if (l == m->n_layers - 1) {
        io.mem = m->lif_mem;
        sm_lc_forward_io(m, lc, &io);
    } else {
        sm_lc_current_io(m, lc, &io);
    }
    if (e->async && !e->stash) io.param = lc->param;

    if (l == m->n_layers - 1) {
        /* synchronous: the minibatch mean (1/B); async: the microbatch mean */
        double scale = 1.0 / (e->async ? e->Bm : m->train.batch);
        double loss = sm_loss(&m->loss, io.spk, io.mem, s->labels, m->T, e->Bm, m->n_classes,
                              scale, e->dS, e->dmem);
        e->loss_sum += loss / scale;
        note_nonfinite(e, isfinite(loss), lc->step + 1, ll->id, 0);
        if (m->loss.kind == SM_LOSS_CE_MEM) dM = e->dmem;
    } else { /* E2: partials summed in ascending source-LC order */
        const sm_layer *N = &m->layers[l + 1];
        for (int k = N->first_lc; k < N->first_lc + N->n_lc; k++) {
            sm_msg *msg = sm_comm_take(e->c, SM_MSG_GRAD, (int)round, mb, k, ll->id);
            const float *g = msg->payload;
            if (N->n_lc == 1 && !sm_grad_factored(m, k, ll->id, (int)TB)) { /* the only partial: dS as it */
                dS = g, dS_msg = msg;                                      /* came, not a copy of it */
                break;
            }
            if (sm_grad_factored(m, k, ll->id, (int)TB)) { /* dpre of LC k and its weight columns */
                const int rows_k = m->lcs[k].o1 - m->lcs[k].o0;
                /* the first partial's product goes straight to dS (the same bits as a copy) */
                float *to = k == N->first_lc ? e->dS : e->unpack;
                sm_dense_partial_block(to, g, g + TB * rows_k, (int)TB, rows_k, (int)block);
                g = to;
            }
            if (k == N->first_lc) {
                if (g != e->dS) memcpy(e->dS, g, sizeof(float) * TB * block);
            } else {
                for (size_t i = 0; i < TB * block; i++) e->dS[i] += g[i];
            }
            sm_msg_free(msg);
        }
    }
    const sm_layer *L = &m->layers[l];
    const float *dpre = NULL;
    float *partial = l > 0 && L->kind == SM_LAYER_CONV2D ? e->partial : NULL;
    /* a conv LC whose input is one LC's: its input gradient is that LC's whole message */
    float *whole = NULL;
    if (partial && m->layers[l - 1].n_lc == 1) partial = whole = sm_comm_payload(sizeof(float) * TB * L->n_in);
    sm_lc_backward_io(m, lc, &io, dS, dM, lc->grad, partial, &dpre);
    if (dS_msg) sm_msg_free(dS_msg);

    if (l > 0) { /* each LC of the previous layer gets its columns: as a product, or as its factors */
        const sm_layer *P = &m->layers[l - 1];
        const int rows = lc->o1 - lc->o0;
        for (int j = P->first_lc; j < P->first_lc + P->n_lc; j++) {
            const size_t bj = sm_lc_block(m, j);
            if (whole) {
                sm_comm_send(e->c, SM_MSG_GRAD, (int)round, mb, ll->id, j, whole, sizeof(float) * TB * bj, 1);
            } else if (sm_grad_factored(m, ll->id, j, (int)TB)) {
                float *f = sm_comm_payload(sizeof(float) * ((size_t)TB * rows + (size_t)rows * bj));
                memcpy(f, dpre, sizeof(float) * TB * rows);
                sm_dense_weight_columns(f + TB * rows, io.param, rows, L->fan_in,
                                        (int)sm_lc_block_offset(m, j), (int)bj);
                sm_comm_send(e->c, SM_MSG_GRAD, (int)round, mb, ll->id, j, f,
                             sizeof(float) * ((size_t)TB * rows + (size_t)rows * bj), 1);
            } else {
                float *g = sm_comm_payload(sizeof(float) * TB * bj);
                sm_lc_partial_block(m, lc, io.param, dpre, e->partial, (int)TB, j, g, m->wcols);
                sm_comm_send(e->c, SM_MSG_GRAD, (int)round, mb, ll->id, j, g, sizeof(float) * TB * bj, 1);
            }
        }
    }
    release_slot(s);
    if (ll == &e->local[0] && e->progress && e->c->rank == 0 && ++e->progress_done % e->m->pipeline.microbatches == 0)
        e->progress(e->progress_ctx, e->progress_done * e->Bm, e->rounds * e->M * (long)e->Bm);
}

/* chip.compute: flops — the seconds an op takes on a core of chip.core_gflops,
 * from the partitioner's analytic cost: the forward is the op's forward share
 * of the LC's FLOPs (1/2 for layer 0, which computes no input gradient, else
 * 1/3), the backward the rest, an update ~10 operations per parameter
 * (Adam). Deterministic: the same bits AND the same clock on every run. */
static double flops_seconds(const sm_executor *e, const local_lc *ll, const sm_op *op) {
    const sm_model *m = e->m;
    const sm_lc *lc = &m->lcs[ll->id];
    const double rate = m->chip.core_gflops * 1e9;
    if (op->kind == SM_OP_U) return 10.0 * lc->n_param / rate;
    sm_lc_cost cost = sm_lc_cost_of(m, lc->layer, lc->o1 - lc->o0, e->Bm, 1,
                                    lc->layer == 0 && sm_model_static_input(e->m));
    double forward_share = lc->layer == 0 ? 0.5 : 1.0 / 3.0;
    return cost.flops * (op->kind == SM_OP_F ? forward_share : 1.0 - forward_share) / rate;
}

static void run_op(sm_executor *e, local_lc *ll, const sm_op *op, long round, long total_steps,
                   double *last_lr) {
    sm_comm_begin_op(e->c);
    double t0 = cpu_now();
    if (op->kind == SM_OP_F) {
        run_forward(e, ll, op->mb, round);
    } else if (op->kind == SM_OP_B) {
        run_backward(e, ll, op->mb, round);
    } else {
        sm_lc *lc = &e->m->lcs[ll->id];
        note_nonfinite(e, all_finite(lc->grad, lc->n_param), lc->step + 1, ll->id, 1);
        double lr = sm_model_lr(e->m, lc->step, total_steps, e->epoch);
        sm_lc_update(e->m, lc, lr);
        *last_lr = lr;
    }
    double dt = e->m->chip.compute_flops ? flops_seconds(e, ll, op) : cpu_now() - t0;
#ifdef SM_SMPI /* on SimGrid the op's FLOPs take simulated time on the rank's host (docs/simgrid.md) */
    if (e->m->chip.compute_flops) smpi_execute_flops(dt * e->m->chip.core_gflops * 1e9);
#endif
    e->lc_compute[ll->id] += dt;
    sm_comm_end_op(e->c, dt); /* the op's messages leave now, stamped with its end */
}

/* One round: every local LC through its stage's list. */
static void run_round(sm_executor *e, long round, long total_steps, double *last_lr) {
    int remaining = 0;
    for (int k = 0; k < e->n_local; k++) {
        e->local[k].cursor = 0;
        if (e->lists[e->m->lcs[e->local[k].id].layer].n > 0) remaining++;
    }
    while (remaining) {
        int progressed = 0;
        for (int k = 0; k < e->n_local; k++) {
            local_lc *ll = &e->local[k];
            const sm_op_list *list = &e->lists[e->m->lcs[ll->id].layer];
            while (ll->cursor < list->n && ready(e, ll, &list->ops[ll->cursor], round)) {
                run_op(e, ll, &list->ops[ll->cursor], round, total_steps, last_lr);
                ll->cursor++;
                progressed = 1;
                if (ll->cursor == list->n) remaining--;
            }
        }
        sm_comm_poll(e->c, remaining && !progressed);
    }
}

int sm_executor_epoch(sm_executor *e, int epoch, long total_steps, sm_epoch_stats *out,
                      sm_progress_fn progress, void *progress_ctx) {
    sm_model *m = e->m;
    sm_comm *c = e->c;
    e->epoch = epoch;
    e->loss_sum = 0;
    e->correct = e->seen = 0;
    memset(e->lc_compute, 0, sizeof(double) * (size_t)m->n_lcs);
    sm_shuffle(e->order, e->data->n, m->seed, (uint64_t)epoch);
    sm_rss_peak_reset(); /* core_rss_bytes: this epoch's peak */
    SM_MPI(MPI_Barrier(c->comm));
    sm_comm_reset_epoch(c);
    double wall0 = sm_wall_seconds(), last_lr = 0;
    e->progress = progress;
    e->progress_ctx = progress_ctx;
    e->progress_done = 0;
    long first = 0, done = e->rounds;
    int stopped = 0, traffic_partial = 0;
    if (e->has_resume) { /* rounds already done before a checkpoint inside this epoch */
        const sm_epoch_resume *r = &e->resume;
        first = r->round;
        if (sm_comm_owns(c, m->n_lcs - 1)) e->loss_sum = r->loss_sum, e->correct = r->correct, e->seen = r->seen;
        if (c->rank == 0 && r->lc_bytes)
            for (size_t i = 0; i < (size_t)m->n_lcs * m->n_lcs; i++) c->lc_bytes[i] += r->lc_bytes[i];
        if (c->rank == 0 && r->core_bytes && r->core_messages)
            for (size_t i = 0; i < (size_t)c->size * c->size; i++)
                c->core_bytes[i] += r->core_bytes[i], c->core_messages[i] += r->core_messages[i];
        traffic_partial = !(r->core_bytes && r->core_messages);
        e->has_resume = 0;
    }
    for (long r = first; r < e->rounds; r++) {
        run_round(e, r, total_steps, &last_lr);
        if (e->faults) { /* tests: a rank dies or is signalled here (sm_fault_point) */
            char key[96];
            snprintf(key, sizeof key, "rank=%d,epoch=%d,round=%ld", c->rank, epoch, r);
            sm_fault_point("kill", key);
            sm_fault_point("term", key);
        }
        if (r + 1 == e->rounds) break;
        /* E4: a round boundary is a step boundary: stop here on a signal or a non-finite value */
        int flag[2] = {e->stop_flag && *e->stop_flag, e->bad_key != NO_BAD}, any[2];
        SM_MPI(MPI_Allreduce(flag, any, 2, MPI_INT, MPI_MAX, c->comm));
        if (any[0] || any[1]) {
            done = r + 1, stopped = 1;
            break;
        }
    }
    sm_comm_flush(c);
    SM_MPI(MPI_Barrier(c->comm));
    double wall = sm_wall_seconds() - wall0;

    /* reduce the epoch's figures */
    free_stats(e);
    sm_epoch_stats *st = &e->stats;
    double sums[4] = {e->loss_sum, (double)e->correct, (double)e->seen, 0}, tot[4];
    SM_MPI(MPI_Allreduce(sums, tot, 4, MPI_DOUBLE, MPI_SUM, c->comm));
    double mine[3] = {c->compute_seconds, c->wait_seconds, 0}, all[3];
    SM_MPI(MPI_Allreduce(mine, all, 3, MPI_DOUBLE, MPI_SUM, c->comm));
    SM_MPI(MPI_Allreduce(&c->clock, &st->emulated_seconds, 1, MPI_DOUBLE, MPI_MAX, c->comm));
    SM_MPI(MPI_Allreduce(&c->clock_free, &st->emulated_free_seconds, 1, MPI_DOUBLE, MPI_MAX, c->comm));
    SM_MPI(MPI_Allreduce(&wall, &st->wall_seconds, 1, MPI_DOUBLE, MPI_MAX, c->comm));
    SM_MPI(MPI_Allreduce(MPI_IN_PLACE, &last_lr, 1, MPI_DOUBLE, MPI_MAX, c->comm));
    st->samples = (long)tot[2];
    st->loss = tot[2] > 0 ? tot[0] / tot[2] : NAN;
    st->accuracy = tot[2] > 0 ? tot[1] / tot[2] : NAN;
    st->compute_seconds = all[0];
    st->wait_seconds = all[1];
    st->last_lr = last_lr;
    st->loss_sum = tot[0];
    st->correct = (long)tot[1];
    st->first_round = first;
    st->rounds_done = done;
    st->rounds = e->rounds;
    st->stopped = stopped;
    st->traffic_partial = traffic_partial;
    long bad;
    SM_MPI(MPI_Allreduce(&e->bad_key, &bad, 1, MPI_LONG, MPI_MIN, c->comm));
    st->nonfinite_step = bad == NO_BAD ? -1 : bad / m->n_lcs / 2;
    st->nonfinite_lc = bad == NO_BAD ? -1 : (int)(bad % m->n_lcs);
    st->nonfinite_grad = bad == NO_BAD ? 0 : (int)(bad / m->n_lcs % 2);
    const int R = c->size, n = m->n_lcs, root = c->rank == 0;
    if (root) {
        st->lc_compute = sm_xcalloc((size_t)n, sizeof(double));
        st->core_peak_bytes = sm_xcalloc((size_t)R, sizeof(double));
        st->core_rss_bytes = sm_xcalloc((size_t)R, sizeof(double));
        st->core_private_bytes = sm_xcalloc((size_t)R, sizeof(double));
        st->core_heap_bytes = sm_xcalloc((size_t)R, sizeof(double));
        st->core_bytes = sm_xcalloc((size_t)R * R, sizeof(double));
        st->core_messages = sm_xcalloc((size_t)R * R, sizeof(double));
        st->lc_bytes = sm_xcalloc((size_t)n * n, sizeof(double));
    }
    SM_MPI(MPI_Reduce(e->lc_compute, st->lc_compute, n, MPI_DOUBLE, MPI_SUM, 0, c->comm));
    const double arena_use = (double)e->arena.requested; /* nothing is freed inside: its high-water mark */
    SM_MPI(MPI_Gather(&arena_use, 1, MPI_DOUBLE, st->core_peak_bytes, 1, MPI_DOUBLE, 0, c->comm));
    /* the rank's memory, for leaks (test_soak): peak resident, private resident, malloc'ed */
    double mem[3] = {sm_rss_peak_bytes(), sm_rss_private_bytes(), sm_heap_bytes()}, *per_rank = NULL;
    if (root) per_rank = sm_xmalloc(sizeof *per_rank * 3 * (size_t)R);
    SM_MPI(MPI_Gather(mem, 3, MPI_DOUBLE, per_rank, 3, MPI_DOUBLE, 0, c->comm));
    for (int r = 0; root && r < R; r++) {
        st->core_rss_bytes[r] = per_rank[3 * r];
        st->core_private_bytes[r] = per_rank[3 * r + 1];
        st->core_heap_bytes[r] = per_rank[3 * r + 2];
    }
    free(per_rank);
    SM_MPI(MPI_Reduce(c->core_bytes, st->core_bytes, R * R, MPI_DOUBLE, MPI_SUM, 0, c->comm));
    SM_MPI(MPI_Reduce(c->core_messages, st->core_messages, R * R, MPI_DOUBLE, MPI_SUM, 0, c->comm));
    SM_MPI(MPI_Reduce(c->lc_bytes, st->lc_bytes, n * n, MPI_DOUBLE, MPI_SUM, 0, c->comm));
    if (root) { /* forward = spike messages (LC i -> a later layer), backward = gradients */
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                double b = st->lc_bytes[(size_t)i * n + j];
                if (m->lcs[j].layer > m->lcs[i].layer) st->forward_bytes += b;
                else st->backward_bytes += b;
            }
    }
    *out = *st;
    return SM_OK;
}
