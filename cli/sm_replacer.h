/* sm_replacer.h — placement inside `spikemesh train`: the first placement and
 * the re-placement between epochs (replace.c has the state machine). */
#ifndef SM_REPLACER_H
#define SM_REPLACER_H

#include "sm_comm.h"
#include "sm_executor.h"
#include "sm_graph.h"
#include "sm_model.h"
#include "sm_place.h"

typedef struct {
    sm_model *m;
    int ranks;                /* usable cores: one per rank */
    sm_lc_graph g;            /* partition graph; compute replaced by measurements */
    sm_mesh mesh;
    sm_rl_policy *policy;     /* rl: kept across re-placements (warm start) */
    sm_place_trace trace;     /* of the last search */
    double *predicted;        /* [R·R] traffic predicted for the epoch about to run */
    double *checked;          /* [R·R] the prediction the last epoch was checked against */
    double predicted_time;    /* seconds, the cost model's figure for that epoch */
    int replacements;         /* searches run so far */
    char initial_note[256];   /* what sm_replacer_initial did, for the log ("" when nothing to say) */
} sm_replacer;

/* What happened at an epoch's end (rank 0 has the measured parts). */
typedef struct {
    double predicted_time;          /* the prediction for the epoch just run */
    int traffic_match;              /* 1: measured core-pair bytes == predicted exactly; 0: not; -1 unknown */
    const double *predicted_core_bytes; /* [R·R] (rank 0), owned by the replacer */
    double hop_bytes;               /* measured Σ core bytes · hops (rank 0) */
    int considered;                 /* a search ran */
    long evaluations;
    double placer_seconds;
    double current_cost, new_cost, current_time, new_time, migration_seconds;
    int better;                     /* the search found a cheaper placement */
    int replaced;                   /* ... and its time gain paid for the migration: moved */
    int migrated_lcs;
    double migrated_bytes;
} sm_replace_report;

/* Build the graph for one epoch of n_samples. Collective. */
int sm_replacer_init(sm_replacer *r, sm_model *m, long n_samples, int ranks);
void sm_replacer_free(sm_replacer *r);
/* The first placement: placement.file, sequential, or the method on the
 * partition's graph (said in r->initial_note, printed by the caller once the
 * run's header is out). Collective; placement[n_lcs] is the same on every rank. */
int sm_replacer_initial(sm_replacer *r, int32_t *placement);
/* After an epoch: check the prediction, maybe re-place and migrate (comm's
 * placement changes then), predict the next epoch. Collective. */
int sm_replacer_after_epoch(sm_replacer *r, int epoch, const sm_epoch_stats *st, sm_comm *comm,
                            sm_replace_report *rep);

#endif
