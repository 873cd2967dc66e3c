/* partition.c — layers → logical cores, balancing compute and fitting memory
 * (sm_partition.h has the contract, docs/partition.md the worked example).
 *
 * Invariants kept here:
 *   P1  the partition is a pure function of the layer shapes, T, train.batch,
 *       chip, pipeline and partition keys: no timing, no randomness, no rank.
 *   P2  a layer whose n_lc_fixed is set keeps its n_lc.
 *   P3  on SM_OK every LC of every layer fits chip.core_memory.
 *   P4  a free output layer is one LC.
 */
#include "sm_partition.h"

#include <math.h>
#include <stdlib.h>

#include "sm_common.h"

int sm_micro_batch(const sm_model *m) {
    int M = m->pipeline.microbatches > 0 ? m->pipeline.microbatches : 1;
    int B = m->train.batch / M;
    return B > 0 ? B : 1;
}

int sm_in_flight(const sm_model *m, int stage) {
    int M = m->pipeline.microbatches > 0 ? m->pipeline.microbatches : 1;
    int S = m->n_layers;
    switch (m->pipeline.schedule) {
    case SM_SCHED_GPIPE:
        return M;
    case SM_SCHED_1F1B:
        return S - stage < M ? S - stage : M;
    case SM_SCHED_ASYNC: /* one round of all the epoch's microbatches: min(S - stage, that) */
        return S - stage;
    case SM_SCHED_SEQUENTIAL:
    default:
        return 1;
    }
}

sm_lc_cost sm_lc_cost_of(const sm_model *m, int layer, int rows, int micro_batch, int in_flight,
                         int input_static) {
    const sm_layer *L = &m->layers[layer];
    const double r = rows, K = L->fan_in, P = (double)L->conv_h * L->conv_w,
                 Q = (double)L->out_h * L->out_w, TB = (double)m->T * micro_batch;
    const int is_static = layer == 0 && input_static;
    const double R = is_static ? micro_batch : TB;

    const double op = 2.0 * R * r * K * P;
    double flops = op + op;                       /* forward + weight gradient */
    if (layer > 0) flops += op;                   /* input gradient */
    if (L->pool != SM_POOL_NONE) flops += 2.0 * R * r * P;
    flops += 12.0 * TB * r * Q;                   /* LIF: 4 forward + 8 backward */

    /* bytes a microbatch in flight keeps (the executor's slot; the backward
     * recomputes the neuron state from the input): its input — the samples,
     * the current after pooling and the pooling indices of a static first
     * layer, else the input spikes as bits, rows of whole 64-bit words — its
     * output spikes packed, and under async the weights it used (updates come
     * between its forward and its backward, which recomputes the forward) */
    const double n_param = r * K + r;
    double per_mb = is_static ? 4.0 * R * L->n_in : 8.0 * TB * (double)sm_spike_words(L->n_in);
    if (sm_keeps_current(m, layer, input_static)) per_mb += 4.0 * R * r * Q * (L->pool == SM_POOL_MAX ? 2 : 1);
    per_mb += ceil(TB * r * Q / 8.0);
    if (m->pipeline.schedule == SM_SCHED_ASYNC) per_mb += 4.0 * n_param;
    sm_lc_cost c = {flops, 16.0 * n_param + in_flight * per_mb};
    return c;
}

int sm_keeps_current(const sm_model *m, int layer, int input_static) {
    return (layer == 0 && input_static) || layer == m->n_layers - 1;
}

double sm_lc_state_bytes(const sm_model *m, int lc) {
    const sm_lc *c = &m->lcs[lc];
    return sm_lc_cost_of(m, c->layer, c->o1 - c->o0, sm_micro_batch(m), sm_in_flight(m, c->layer),
                         c->layer == 0 && sm_model_static_input(m)).bytes;
}

void sm_partition_slice(int out, int n, int s, int *o0, int *o1) {
    int base = out / n, extra = out % n;
    *o0 = s * base + (s < extra ? s : extra);
    *o1 = *o0 + base + (s < extra);
}

static sm_lc_cost layer_cost(const sm_model *m, int l, int rows, int input_static) {
    return sm_lc_cost_of(m, l, rows, sm_micro_batch(m), sm_in_flight(m, l), input_static);
}

/* The most rows of layer l one LC can own within core_memory (0: not even one). */
static int max_rows_fitting(const sm_model *m, int l, int input_static) {
    const double cap = m->chip.core_memory;
    int lo = 0, hi = m->layers[l].out; /* bytes grow with rows: find the last row count that fits */
    if (layer_cost(m, l, hi, input_static).bytes <= cap) return hi;
    while (hi - lo > 1) {
        int mid = lo + (hi - lo) / 2;
        if (layer_cost(m, l, mid, input_static).bytes <= cap) lo = mid;
        else hi = mid;
    }
    return lo;
}

/* Split `budget` among n items in proportion to weight[i], each between 1 and
 * cap[i] (Hamilton's largest remainder, ties to the lower index). Items whose
 * quota is below 1 or above their cap are pinned there first and the rest
 * re-apportioned, so Σ out = budget whenever n <= budget <= Σ cap. */
static void apportion(int n, const double *weight, const int *cap, int budget, int *out) {
    if (n == 0) return;
    int *open = sm_xcalloc((size_t)n, sizeof(int));
    double *quota = sm_xcalloc((size_t)n, sizeof(double));
    int left = budget, n_open = n;
    for (int i = 0; i < n; i++) { open[i] = 1; out[i] = 1; }
    if (budget <= n) n_open = 0;
    while (n_open > 0) {
        double wsum = 0;
        for (int i = 0; i < n; i++) if (open[i]) wsum += weight[i];
        for (int i = 0; i < n; i++) if (open[i]) quota[i] = left * weight[i] / wsum;
        int pinned = 0;
        /* below 1 first: pinning those keeps left >= n_open, so caps stay feasible */
        for (int i = 0; i < n; i++)
            if (open[i] && quota[i] < 1.0) {
                out[i] = 1; open[i] = 0; left -= 1; n_open--; pinned = 1;
            }
        if (pinned) continue;
        for (int i = 0; i < n; i++)
            if (open[i] && quota[i] >= cap[i]) {
                out[i] = cap[i]; open[i] = 0; left -= cap[i]; n_open--; pinned = 1;
            }
        if (!pinned) break;
    }
    if (n_open > 0) {
        int given = 0;
        for (int i = 0; i < n; i++)
            if (open[i]) { out[i] = (int)floor(quota[i]); given += out[i]; }
        /* the leftover goes one each to the largest remainders; an item rounded
         * up is closed, so none gets two (quota < cap keeps it within cap) */
        for (int extra = left - given; extra > 0; extra--) {
            int best = -1;
            for (int i = 0; i < n; i++)
                if (open[i] && (best < 0 || quota[i] - floor(quota[i]) >
                                                quota[best] - floor(quota[best])))
                    best = i;
            if (best < 0) break;
            out[best]++;
            open[best] = 0;
        }
    }
    free(open);
    free(quota);
}

static int target_lcs(const sm_model *m) {
    if (m->partition.max_lcs > 0) return m->partition.max_lcs;
    int mesh = m->chip.mesh_w * m->chip.mesh_h;
    return mesh > 0 ? mesh : 1;
}

/* The SM_EINPUT for layer l, whose LC `what` needs `bytes`. */
static int too_big(const sm_model *m, int l, const char *what, double bytes, const char *hint) {
    const int f = sm_in_flight(m, l);
    const int stash = m->pipeline.schedule == SM_SCHED_ASYNC && m->pipeline.stash;
    return sm_error("partition: layer %s: %s needs %.0f bytes (parameters, gradient, optimizer "
                    "moments%s and the state of %d microbatch%s of %d samples in flight) but "
                    "chip.core_memory is %.0f%s",
                    m->layers[l].name, what, bytes,
                    stash ? ", stashed weights" : "",
                    f, f == 1 ? "" : "es", sm_micro_batch(m), m->chip.core_memory, hint);
}

int sm_partition(sm_model *m, int input_static) {
    static const char *const SHRINK =
        "; raise chip.core_memory or lower the samples per microbatch "
        "(train.batch / pipeline.microbatches)";
    const int n = m->n_layers, last = n - 1;
    int *free_layer = sm_xcalloc((size_t)n, sizeof(int)), n_free = 0;
    double *weight = sm_xcalloc((size_t)n, sizeof(double));
    int *cap = sm_xcalloc((size_t)n, sizeof(int)), *share = sm_xcalloc((size_t)n, sizeof(int));
    int rc = SM_OK, budget = target_lcs(m);

    /* 1. fixed layers keep theirs (P2), a free output layer is one LC (P4) */
    for (int l = 0; l < n; l++) {
        sm_layer *L = &m->layers[l];
        if (L->n_lc_fixed) {
            budget -= L->n_lc;
        } else if (l == last) {
            L->n_lc = 1;
            budget -= 1;
        } else {
            free_layer[n_free] = l;
            weight[n_free] = layer_cost(m, l, L->out, input_static).flops;
            cap[n_free] = L->out;
            n_free++;
        }
    }
    /* 2. the rest of the target to the free layers, in proportion to compute */
    apportion(n_free, weight, cap, budget, share);
    for (int i = 0; i < n_free; i++) m->layers[free_layer[i]].n_lc = share[i];

    /* 3. memory (P3), in layer order so the first layer that cannot fit is named:
     * a free layer is raised until its largest slice fits */
    for (int l = 0; l < n && rc == SM_OK; l++) {
        sm_layer *L = &m->layers[l];
        const int rows = (L->out + L->n_lc - 1) / L->n_lc;
        const double bytes = layer_cost(m, l, rows, input_static).bytes;
        if (bytes <= m->chip.core_memory) continue;
        const int fit = max_rows_fitting(m, l, input_static);
        char what[128], hint[64];
        if (L->n_lc_fixed) {
            snprintf(what, sizeof what, "an LC of %d rows ('lcs: %d' in the config)", rows, L->n_lc);
            if (fit > 0) snprintf(hint, sizeof hint, "; use lcs >= %d or remove the key",
                                  (L->out + fit - 1) / fit);
            rc = too_big(m, l, what, bytes, fit > 0 ? hint : SHRINK);
        } else if (l == last) {
            snprintf(what, sizeof what, "the output layer, one LC of %d rows,", rows);
            rc = too_big(m, l, what, bytes, SHRINK);
        } else if (fit == 0) {
            rc = too_big(m, l, "an LC of one row", layer_cost(m, l, 1, input_static).bytes, SHRINK);
        } else {
            L->n_lc = (L->out + fit - 1) / fit;
        }
    }
    free(free_layer);
    free(weight);
    free(cap);
    free(share);
    return rc;
}

void sm_partition_stats_of(const sm_model *m, int input_static, sm_partition_stats *st) {
    *st = (sm_partition_stats){0};
    st->target = target_lcs(m);
    st->max_flops_lc = st->max_bytes_lc = -1;
    int id = 0;
    for (int l = 0; l < m->n_layers; l++) {
        const sm_layer *L = &m->layers[l];
        for (int s = 0; s < L->n_lc; s++, id++) {
            int o0, o1;
            sm_partition_slice(L->out, L->n_lc, s, &o0, &o1);
            sm_lc_cost c = layer_cost(m, l, o1 - o0, input_static);
            st->total_flops += c.flops;
            if (c.flops > st->max_flops) { st->max_flops = c.flops; st->max_flops_lc = id; }
            if (c.bytes > st->max_bytes) { st->max_bytes = c.bytes; st->max_bytes_lc = id; }
        }
    }
    st->n_lcs = id;
    st->mean_flops = id ? st->total_flops / id : 0.0;
    st->imbalance = st->mean_flops > 0 ? st->max_flops / st->mean_flops : 0.0;
}

void sm_partition_print(FILE *f, const sm_model *m, int input_static) {
    const double MiB = 1024.0 * 1024.0;
    sm_partition_stats st;
    sm_partition_stats_of(m, input_static, &st);
    fprintf(f, "partition: %d layers into %d LCs; microbatch %d samples, T = %d, input %s\n",
            m->n_layers, st.n_lcs, sm_micro_batch(m), m->T, input_static ? "static" : "per step");
    fprintf(f, "%5s  %-12s %-15s %6s %12s %10s %7s\n", "LC", "layer", "slice", "rows",
            "MFLOP/mb", "MiB", "% mem");
    int id = 0;
    for (int l = 0; l < m->n_layers; l++) {
        const sm_layer *L = &m->layers[l];
        for (int s = 0; s < L->n_lc; s++, id++) {
            int o0, o1;
            char slice[32];
            sm_partition_slice(L->out, L->n_lc, s, &o0, &o1);
            sm_lc_cost c = layer_cost(m, l, o1 - o0, input_static);
            snprintf(slice, sizeof slice, "[%d, %d)", o0, o1);
            fprintf(f, "%5d  %-12s %-15s %6d %12.2f %10.2f %7.1f\n", id, L->name, slice, o1 - o0,
                    c.flops / 1e6, c.bytes / MiB, 100.0 * c.bytes / m->chip.core_memory);
        }
    }
    fprintf(f, "summary: %d LCs (target %d); compute per LC max %.2f MFLOP (LC %d), mean %.2f, "
               "imbalance max/mean %.3f; largest LC %.2f MiB (LC %d) of core_memory %.2f MiB "
               "(%.1f %%)\n",
            st.n_lcs, st.target, st.max_flops / 1e6, st.max_flops_lc, st.mean_flops / 1e6,
            st.imbalance, st.max_bytes / MiB, st.max_bytes_lc, m->chip.core_memory / MiB,
            100.0 * st.max_bytes / m->chip.core_memory);
}
