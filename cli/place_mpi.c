/* place_mpi.c — spreading a placer's candidate evaluations over the MPI ranks
 * (sm_place_problem.batch_eval). placement/ has no MPI; this is the bridge.
 *
 * Rank 0 runs the placer; every other rank sits in sm_mpi_eval_serve. For a
 * batch, rank 0 broadcasts k and the k placements; rank r evaluates candidates
 * r, r + R, r + 2R, ... with sm_cost_evaluate against the same reference; the
 * costs come back by a sum-reduction in which every slot has exactly one
 * non-zero contribution (x + 0.0 = x exactly), so the result is bit-identical
 * to a serial evaluation whatever R is. k = -1 ends the service.
 *
 * Every rank must hold the same graph, mesh, weights and reference (train and
 * place build them deterministically from the same inputs on every rank).
 * sm_mpi_place wraps the whole protocol around one sm_place call.
 */
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

#include "sm_cli.h"
#include "sm_common.h"

void sm_mpi_eval_init(sm_mpi_eval *e, const sm_lc_graph *g, const sm_mesh *mesh, const sm_cost_weights *w,
                      const sm_cost_figures *ref) {
    e->g = g;
    e->mesh = mesh;
    e->w = *w;
    e->ref = *ref;
    MPI_Comm_rank(MPI_COMM_WORLD, &e->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &e->size);
}

/* Evaluate this rank's share of the batch into costs (zeros elsewhere) and reduce to rank 0. */
static int share(sm_mpi_eval *e, int k, int32_t *placements, double *costs) {
    const int n = e->g->n;
    MPI_Bcast(placements, k * n, MPI_INT32_T, 0, MPI_COMM_WORLD);
    double *mine = sm_xcalloc((size_t)k, sizeof *mine);
    int rc = SM_OK;
    for (int i = e->rank; i < k; i += e->size) {
        sm_cost_figures f;
        if (sm_cost_evaluate(e->g, e->mesh, placements + (size_t)i * n, &e->w, &e->ref, &f)) rc = SM_EFAIL;
        mine[i] = f.cost;
    }
    MPI_Reduce(mine, costs, k, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
    free(mine);
    int worst = rc;
    MPI_Allreduce(&rc, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return worst;
}

int sm_mpi_eval_batch(void *ctx, int k, const int32_t *placements, double *costs) {
    sm_mpi_eval *e = ctx;
    MPI_Bcast(&k, 1, MPI_INT, 0, MPI_COMM_WORLD);
    return share(e, k, (int32_t *)placements, costs);
}

void sm_mpi_eval_serve(sm_mpi_eval *e) {
    for (;;) {
        int k;
        MPI_Bcast(&k, 1, MPI_INT, 0, MPI_COMM_WORLD);
        if (k < 0) return;
        int32_t *placements = sm_xmalloc(sizeof *placements * (size_t)k * (size_t)e->g->n + 1);
        share(e, k, placements, NULL);
        free(placements);
    }
}

void sm_mpi_eval_stop(sm_mpi_eval *e) {
    (void)e;
    int k = -1;
    MPI_Bcast(&k, 1, MPI_INT, 0, MPI_COMM_WORLD);
}

int sm_mpi_place(const char *method, const sm_place_problem *p, int32_t *lc_core, sm_place_result *res) {
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    sm_cost_figures ref;
    int rc = p->ref ? (ref = *p->ref, SM_OK) : sm_cost_reference(p->g, p->mesh, &p->weights, &ref);
    if (rc) return rc; /* the same inputs on every rank: all fail alike */
    sm_place_problem q = *p;
    q.ref = &ref;
    sm_mpi_eval me;
    sm_mpi_eval_init(&me, p->g, p->mesh, &p->weights, &ref);
    if (size > 1) q.batch_eval = sm_mpi_eval_batch, q.batch_ctx = &me;
    if (rank == 0) {
        rc = sm_place(method, &q, lc_core, res);
        if (size > 1) sm_mpi_eval_stop(&me);
    } else {
        sm_mpi_eval_serve(&me);
    }
    int worst = rc;
    MPI_Allreduce(&rc, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (worst && !rc) sm_fail("rank 0's placer failed (see its message)");
    if (worst) return worst;
    MPI_Bcast(lc_core, p->g->n, MPI_INT32_T, 0, MPI_COMM_WORLD);
    MPI_Bcast(res, (int)sizeof *res, MPI_BYTE, 0, MPI_COMM_WORLD);
    return SM_OK;
}
