/* sm_migrate.h — moving LC state between cores (see migrate.c). All collective
 * over the comm's ranks. */
#ifndef SM_MIGRATE_H
#define SM_MIGRATE_H

#include "sm_comm.h"

typedef struct {
    int lcs_moved;
    double bytes;            /* state bytes sent, over all ranks */
} sm_migration;

/* Move every LC whose core differs in new_lc_core from its old core to its new
 * one, verify each by checksum, then install the new placement. SM_EFAIL (and
 * the old placement kept) if any checksum fails on any rank. */
int sm_migrate(sm_comm *c, sm_model *m, const int32_t *new_lc_core, sm_migration *report);
/* Bytes sm_migrate sends to move LC lc: parameters and both optimizer moments
 * (the gradient is zero between rounds and the BPTT state is rebuilt), its
 * step and a checksum. */
double sm_migrate_lc_bytes(const sm_lc *lc);
/* Copy every LC's state from its owner to `root` (for evaluation and checkpoints). */
int sm_gather_state(sm_comm *c, sm_model *m, int root);

#endif
