/* graph_model.c — the LC graph of a partitioned model (sm_graph_model.h). */
#include "sm_graph_model.h"

#include <stdlib.h>
#include <string.h>

#include "sm_common.h"
#include "sm_partition.h"

long sm_model_microbatches_per_epoch(const sm_model *m, long n_samples) {
    return (n_samples / m->train.batch) * (long)m->pipeline.microbatches;
}

sm_mesh sm_mesh_from_chip(const sm_model *m) {
    sm_mesh mesh = sm_mesh_default();
    mesh.mesh_w = m->chip.mesh_w;
    mesh.mesh_h = m->chip.mesh_h;
    mesh.core_memory = m->chip.core_memory;
    mesh.hop_latency = m->chip.hop_latency;
    mesh.link_bandwidth = m->chip.link_bandwidth;
    mesh.core_gflops = m->chip.core_gflops;
    mesh.hop_energy = m->chip.hop_energy;
    return mesh;
}

sm_place_problem sm_place_problem_from_model(const sm_model *m, const sm_lc_graph *g, const sm_mesh *mesh) {
    const sm_placement_params *pl = &m->placement;
    sm_place_problem p = sm_place_problem_default(g, mesh);
    p.weights = (sm_cost_weights){pl->w_hop_bytes, pl->w_max_link, pl->w_imbalance, pl->w_time};
    p.budget = pl->budget;
    p.seed = pl->seed;
    p.migration_weight = pl->migration_weight;
    p.rl_algorithm = pl->rl_reinforce ? SM_RL_REINFORCE : SM_RL_PPO;
    return p;
}

int sm_graph_from_model(const sm_model *m, long n_samples, sm_lc_graph *g) {
    const int n = m->n_lcs, Bm = sm_micro_batch(m), input_static = sm_model_static_input(m);
    const double micro = (double)sm_model_microbatches_per_epoch(m, n_samples);
    const size_t TB = (size_t)m->T * Bm;
    double *traffic = sm_xcalloc((size_t)n * n, sizeof *traffic);
    double *compute = sm_xmalloc(sizeof *compute * (size_t)n), *memory = sm_xmalloc(sizeof *memory * (size_t)n);
    int32_t *layer = sm_xmalloc(sizeof *layer * (size_t)n);
    for (int i = 0; i < n; i++) {
        const sm_lc *lc = &m->lcs[i];
        sm_lc_cost cost = sm_lc_cost_of(m, lc->layer, lc->o1 - lc->o0, Bm, sm_in_flight(m, lc->layer),
                                        input_static);
        compute[i] = cost.flops * micro;
        memory[i] = sm_lc_state_bytes(m, i); /* = cost.bytes: what the executor allocates */
        layer[i] = lc->layer;
    }
    for (int l = 0; l + 1 < m->n_layers; l++) {
        const sm_layer *L = &m->layers[l], *N = &m->layers[l + 1];
        for (int i = L->first_lc; i < L->first_lc + L->n_lc; i++) {
            const size_t block = sm_lc_block(m, i);
            for (int k = N->first_lc; k < N->first_lc + N->n_lc; k++) {
                const double rows_k = m->lcs[k].o1 - m->lcs[k].o0;
                traffic[(size_t)i * n + k] += micro * (double)((TB * block + 7) / 8); /* spikes */
                double floats = sm_grad_factored(m, k, i, (int)TB) ? (double)TB * rows_k + rows_k * block
                                                                    : (double)TB * block;
                traffic[(size_t)k * n + i] += micro * 4.0 * floats;
            }
        }
    }
    int rc = sm_graph_from_dense(g, n, traffic, compute, memory, layer);
    if (!rc) g->compute_is_flops = 1;
    free(traffic);
    free(compute);
    free(memory);
    free(layer);
    return rc;
}

void sm_graph_core_traffic(const sm_lc_graph *g, const int32_t *lc_core, int R, double *core_bytes) {
    memset(core_bytes, 0, sizeof *core_bytes * (size_t)R * R);
    for (int i = 0; i < g->n; i++)
        for (int k = g->row[i]; k < g->row[i + 1]; k++) {
            int a = lc_core[i], b = lc_core[g->col[k]];
            if (a != b && a < R && b < R) core_bytes[(size_t)a * R + b] += (double)g->bytes[k];
        }
}
