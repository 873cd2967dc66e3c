/* migrate.c — moving whole LC states between cores: migration to a new
 * placement, and gathering every LC to one rank (evaluation, checkpoints).
 *
 * An LC's state is its parameter block and both optimizer moments (its
 * gradient block is zero between optimizer steps, where moves happen) and its
 * step count. All randomness is counter-based (keyed by seed, epoch, sample),
 * so there are no RNG streams to carry. Every move sends a checksum computed
 * by the sender; the receiver recomputes it on what arrived and refuses a
 * mismatch.
 *
 * Moves run over the LCs in ascending order on every rank, each with a
 * blocking send/receive between its two cores: one global order, so no cycle
 * of waits can form.
 */
#include <stdlib.h>
#include <string.h>

#include "sm_comm.h"
#include "sm_common.h"
#include "sm_migrate.h"

enum { TAG_STATE = 11 };

static size_t state_floats(const sm_lc *lc) { return 3 * lc->n_param; }

double sm_migrate_lc_bytes(const sm_lc *lc) { return (double)(sizeof(float) * state_floats(lc) + 2 * sizeof(uint64_t)); }

static uint64_t state_checksum(const float *block, size_t n, long step) {
    uint64_t h = sm_checksum64(block, sizeof(float) * n, 0);
    return sm_checksum64(&step, sizeof step, h);
}

/* Send the state of LC lc to rank `to`; returns bytes sent. */
static double send_state(sm_comm *c, const sm_lc *lc, int to) {
    const size_t n = state_floats(lc);
    const size_t bytes = sizeof(float) * n + 2 * sizeof(uint64_t);
    char *buf = sm_xmalloc(bytes);
    float *f = (float *)buf;
    memcpy(f, lc->param, sizeof(float) * lc->n_param);
    memcpy(f + lc->n_param, lc->opt_m, sizeof(float) * lc->n_param);
    memcpy(f + 2 * lc->n_param, lc->opt_v, sizeof(float) * lc->n_param);
    uint64_t tail[2] = {(uint64_t)lc->step, state_checksum(f, n, lc->step)};
    memcpy(buf + sizeof(float) * n, tail, sizeof tail);
    SM_MPI(MPI_Send(buf, (int)bytes, MPI_BYTE, to, TAG_STATE, c->comm));
    free(buf);
    return (double)bytes;
}

/* Receive the state of LC id from rank `from` and verify its checksum. */
static int receive_state(sm_comm *c, sm_lc *lc, int id, int from) {
    const size_t n = state_floats(lc);
    const size_t bytes = sizeof(float) * n + 2 * sizeof(uint64_t);
    char *buf = sm_xmalloc(bytes);
    SM_MPI(MPI_Recv(buf, (int)bytes, MPI_BYTE, from, TAG_STATE, c->comm, MPI_STATUS_IGNORE));
    const float *f = (const float *)buf;
    uint64_t tail[2];
    memcpy(tail, buf + sizeof(float) * n, sizeof tail);
    int rc = SM_OK;
    if (state_checksum(f, n, (long)tail[0]) != tail[1]) {
        rc = sm_fail("LC %d: state received from core %d does not match its checksum", id, from);
    } else {
        memcpy(lc->param, f, sizeof(float) * lc->n_param);
        memcpy(lc->opt_m, f + lc->n_param, sizeof(float) * lc->n_param);
        memcpy(lc->opt_v, f + 2 * lc->n_param, sizeof(float) * lc->n_param);
        lc->step = (long)tail[0];
    }
    free(buf);
    return rc;
}

int sm_migrate(sm_comm *c, sm_model *m, const int32_t *new_lc_core, sm_migration *report) {
    for (int i = 0; i < m->n_lcs; i++)
        if (new_lc_core[i] < 0 || new_lc_core[i] >= c->size)
            return sm_error("placement: LC %d is placed on core %d, but the job has cores 0..%d",
                            i, new_lc_core[i], c->size - 1);
    double bytes = 0;
    int moved = 0, rc = SM_OK;
    for (int i = 0; i < m->n_lcs; i++) {
        const int from = c->lc_core[i], to = new_lc_core[i];
        if (from == to) continue;
        moved++;
        if (c->rank == from) bytes += send_state(c, &m->lcs[i], to);
        if (c->rank == to && !rc) rc = receive_state(c, &m->lcs[i], i, from);
        else if (c->rank == to) { /* keep the pairing even after a failure */
            sm_lc scratch = m->lcs[i];
            scratch.param = sm_falloc(scratch.n_param);
            scratch.opt_m = sm_falloc(scratch.n_param);
            scratch.opt_v = sm_falloc(scratch.n_param);
            receive_state(c, &scratch, i, from);
            free(scratch.param); free(scratch.opt_m); free(scratch.opt_v);
        }
    }
    /* every rank agrees on the outcome before the placement changes */
    int bad = rc != SM_OK, any_bad = 0;
    SM_MPI(MPI_Allreduce(&bad, &any_bad, 1, MPI_INT, MPI_MAX, c->comm));
    double total = 0;
    SM_MPI(MPI_Allreduce(&bytes, &total, 1, MPI_DOUBLE, MPI_SUM, c->comm));
    if (report) { report->lcs_moved = moved; report->bytes = total; }
    if (any_bad) return rc ? rc : sm_fail("LC migration failed on another rank (checksum mismatch)");
    memcpy(c->lc_core, new_lc_core, sizeof(int32_t) * (size_t)m->n_lcs);
    return SM_OK;
}

int sm_gather_state(sm_comm *c, sm_model *m, int root) {
    int rc = SM_OK;
    for (int i = 0; i < m->n_lcs; i++) {
        const int owner = c->lc_core[i];
        if (owner == root) continue;
        if (c->rank == owner) send_state(c, &m->lcs[i], root);
        if (c->rank == root) {
            int r = receive_state(c, &m->lcs[i], i, owner);
            if (!rc) rc = r;
        }
    }
    return rc;
}
