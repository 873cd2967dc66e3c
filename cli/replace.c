/* replace.c — the placer inside `spikemesh train` (DESIGN.md "Placement",
 * docs/placement.md "Online re-placement"). Collective: every rank calls every
 * function here in the same order.
 *
 *   first epoch   sm_replacer_initial: placement.file, or placement.method on
 *                 the partition's graph (FLOPs, exact traffic)
 *   epoch end     sm_replacer_after_epoch:
 *                   1. check: measured core-pair traffic == the prediction
 *                   2. if placement.every divides the epoch: the graph with the
 *                      measured compute per LC (seconds, or FLOPs when
 *                      chip.compute is flops), the method from the placement in
 *                      use (warm start: rl keeps its policy), on rank 0 with
 *                      candidates evaluated by all ranks
 *                   3. re-place only if predicted_time(current) - predicted_time(new)
 *                      > migration time (Σ moved LC bytes / link_bandwidth +
 *                      hops · hop_latency), the cost drops and every core's LCs fit
 *                      chip.core_memory; then sm_migrate
 *                   4. predict the next epoch's traffic and time for the placement in use
 */
#include <math.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "sm_cli.h"
#include "sm_common.h"
#include "sm_graph_model.h"
#include "sm_migrate.h"
#include "sm_placement.h"
#include "sm_replacer.h"

/* The configured method on r->g, all ranks evaluating; the result reaches every rank. */
static int run_method(sm_replacer *r, const int32_t *current, int32_t *out, sm_place_result *res) {
    sm_place_problem p = sm_place_problem_from_model(r->m, &r->g, &r->mesh);
    p.usable = r->ranks;
    p.seed += (uint64_t)r->replacements; /* a new search each time */
    p.current = current;
    p.policy = r->policy;
    sm_place_trace_free(&r->trace);
    p.trace = &r->trace;
    return sm_mpi_place(r->m->placement.method, &p, out, res);
}

int sm_replacer_init(sm_replacer *r, sm_model *m, long n_samples, int ranks) {
    memset(r, 0, sizeof *r);
    r->m = m;
    r->ranks = ranks;
    r->mesh = sm_mesh_from_chip(m);
    int rc = sm_graph_from_model(m, n_samples, &r->g);
    if (rc) return rc;
    r->predicted = sm_xcalloc((size_t)ranks * ranks, sizeof *r->predicted);
    r->checked = sm_xcalloc((size_t)ranks * ranks, sizeof *r->checked);
    r->predicted_time = NAN;
    if (!strcmp(m->placement.method, "rl")) r->policy = sm_rl_policy_new(m->placement.seed);
    return SM_OK;
}

void sm_replacer_free(sm_replacer *r) {
    sm_graph_free(&r->g);
    free(r->predicted);
    free(r->checked);
    sm_place_trace_free(&r->trace);
    if (r->policy) sm_rl_policy_free(r->policy);
    memset(r, 0, sizeof *r);
}

/* The prediction for the epoch about to run on placement p. */
static void predict(sm_replacer *r, const int32_t *p) {
    sm_graph_core_traffic(&r->g, p, r->ranks, r->predicted);
    sm_cost_weights w = sm_place_problem_from_model(r->m, &r->g, &r->mesh).weights;
    sm_cost_figures f;
    if (sm_cost_evaluate(&r->g, &r->mesh, p, &w, NULL, &f) == SM_OK) r->predicted_time = f.predicted_time;
}

int sm_replacer_initial(sm_replacer *r, int32_t *placement) {
    const sm_placement_params *pl = &r->m->placement;
    int rc = SM_OK;
    if (*pl->file) {
        rc = sm_placement_read(pl->file, placement, r->g.n, r->ranks);
    } else if (!strcmp(pl->method, "sequential")) {
        sm_place_sequential(placement, r->g.n, r->ranks);
    } else {
        sm_place_result res;
        rc = run_method(r, NULL, placement, &res);
        if (!rc)
            snprintf(r->initial_note, sizeof r->initial_note,
                     "placement: %s on the partition's graph: cost %.4f (sequential 4 = all weights 1), "
                     "%ld evaluations, %.2f s\n", pl->method, res.fig.cost, res.evaluations, res.seconds);
    }
    if (!rc) predict(r, placement);
    return rc;
}

/* Seconds to move the LCs that change core: each LC's bytes over one link,
 * plus the route's latency (the moves run in parallel on a real chip; summing
 * them is the conservative estimate). */
static double migration_seconds(const sm_replacer *r, const int32_t *from, const int32_t *to, double *bytes,
                                int *moved) {
    double s = 0;
    *bytes = 0;
    *moved = 0;
    for (int i = 0; i < r->g.n; i++) {
        if (from[i] == to[i]) continue;
        (*moved)++;
        const double b = sm_migrate_lc_bytes(&r->m->lcs[i]); /* what sm_migrate sends */
        *bytes += b;
        s += b / r->mesh.link_bandwidth + sm_mesh_hops(&r->mesh, from[i], to[i]) * r->mesh.hop_latency;
    }
    return s;
}

int sm_replacer_after_epoch(sm_replacer *r, int epoch, const sm_epoch_stats *st, sm_comm *comm,
                            sm_replace_report *rep) {
    memset(rep, 0, sizeof *rep);
    const int n = r->g.n, R = r->ranks;
    /* 1. the prediction made for this epoch against what was measured (rank 0 has the stats) */
    rep->predicted_time = r->predicted_time;
    rep->traffic_match = -1;
    if (sm_cli_rank() == 0 && st->core_bytes && !st->traffic_partial) { /* a resumed epoch: unknown */
        rep->traffic_match = 1;
        for (int i = 0; i < R * R; i++) rep->traffic_match &= st->core_bytes[i] == r->predicted[i];
        for (int a = 0; a < R; a++)
            for (int b = 0; b < R; b++)
                rep->hop_bytes += st->core_bytes[a * R + b] * sm_mesh_hops(&r->mesh, a, b);
        memcpy(r->checked, r->predicted, sizeof *r->checked * (size_t)R * R);
        rep->predicted_core_bytes = r->checked;
    }
    const int every = r->m->placement.every;
    if (every <= 0 || (epoch + 1) % every != 0 || epoch + 1 >= r->m->train.epochs ||
        !strcmp(r->m->placement.method, "sequential"))
        return SM_OK; /* no re-placement due, or no epoch left to profit from one */

    /* 2. the graph with measured compute, the same on every rank */
    if (!r->m->chip.compute_flops) {
        double *lc = sm_xmalloc(sizeof *lc * (size_t)n);
        if (sm_cli_rank() == 0) memcpy(lc, st->lc_compute, sizeof *lc * (size_t)n);
        MPI_Bcast(lc, n, MPI_DOUBLE, 0, MPI_COMM_WORLD);
        memcpy(r->g.compute, lc, sizeof *lc * (size_t)n);
        r->g.compute_is_flops = 0;
        free(lc);
    }
    int32_t *cur = sm_xmalloc(sizeof *cur * (size_t)n), *next = sm_xmalloc(sizeof *next * (size_t)n);
    memcpy(cur, comm->lc_core, sizeof *cur * (size_t)n);
    sm_place_result res;
    double t0 = sm_wall_seconds();
    int rc = run_method(r, cur, next, &res);
    rep->placer_seconds = sm_wall_seconds() - t0;
    rep->evaluations = res.evaluations;
    if (rc) goto out;
    r->replacements++;
    /* 3. worth it? */
    sm_cost_weights w = sm_place_problem_from_model(r->m, &r->g, &r->mesh).weights;
    sm_cost_figures now;
    rc = sm_cost_evaluate(&r->g, &r->mesh, cur, &w, NULL, &now);
    if (rc) goto out;
    int moved;
    double bytes, mig = migration_seconds(r, cur, next, &bytes, &moved);
    rep->current_time = now.predicted_time;
    rep->new_time = res.fig.predicted_time;
    rep->migration_seconds = mig;
    rep->current_cost = now.cost;
    rep->new_cost = res.fig.cost;
    rep->considered = 1;
    /* a placement some core cannot hold is never migrated to (sm_executor.h M2) */
    rep->better = moved > 0 && res.fig.cost < now.cost && res.fig.memory_violations == 0;
    if (rep->better && now.predicted_time - res.fig.predicted_time > mig) {
        sm_migration m;
        if ((rc = sm_migrate(comm, r->m, next, &m))) goto out;
        rep->replaced = 1;
        rep->migrated_lcs = m.lcs_moved;
        rep->migrated_bytes = m.bytes;
    }
out:
    /* 4. the next epoch runs on comm->lc_core */
    if (!rc) predict(r, comm->lc_core);
    free(cur);
    free(next);
    return rc;
}
