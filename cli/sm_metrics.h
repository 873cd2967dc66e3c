/* sm_metrics.h — per-epoch figures of a run, kept in memory and saved as metrics.h5. */
#ifndef SM_METRICS_H
#define SM_METRICS_H

#include <stdint.h>

/* Columns of metrics.h5; validation_* are NaN when data.validation is 0. */
enum { SM_M_TRAIN_LOSS, SM_M_TRAIN_ACC, SM_M_TEST_LOSS, SM_M_TEST_ACC, SM_M_LR, SM_M_WALL,
       SM_M_RATE, SM_M_VAL_LOSS, SM_M_VAL_ACC, SM_M_EMULATED, SM_M_COMM_SHARE, SM_M_FWD_BYTES,
       SM_M_BWD_BYTES, SM_M_COMPUTE, SM_M_RANKS,
       /* placement (train's placer, docs/placement.md "Online"): the predicted epoch time of
        * the placement used, whether its measured core-pair traffic equalled the prediction
        * exactly (1/0), the measured hop-bytes, and the LCs and bytes migrated after the epoch */
       SM_M_PREDICTED, SM_M_TRAFFIC_MATCH, SM_M_HOP_BYTES, SM_M_MIGRATED_LCS, SM_M_MIGRATED_BYTES,
       SM_METRIC_COLUMNS };



typedef struct {
    int n;
    int32_t *epoch;                 /* [n] */
    double *col[SM_METRIC_COLUMNS]; /* [n] each */
    /* per-epoch matrices of the epochs trained in this process (not reloaded on resume) */
    int n_stats, n_lcs, n_cores;
    int32_t *stats_epoch;           /* [n_stats] */
    double *lc_compute;             /* [n_stats][n_lcs] seconds */
    double *core_peak_bytes;        /* [n_stats][n_cores] arena use */
    double *core_rss_bytes;         /* [n_stats][n_cores] peak resident memory of each rank */
    double *core_private_bytes;     /* [n_stats][n_cores] private resident memory at the epoch's end */
    double *core_heap_bytes;        /* [n_stats][n_cores] malloc'ed bytes in use at the epoch's end */
    double *core_bytes;             /* [n_stats][n_cores][n_cores] payload bytes sent */
    double *core_messages;          /* [n_stats][n_cores][n_cores] */
    double *lc_bytes;               /* [n_stats][n_lcs][n_lcs] */
    int32_t *placement;             /* [n_stats][n_lcs] the placement used */
    double *predicted_core_bytes;   /* [n_stats][n_cores][n_cores] traffic predicted for it */
    int mesh_w, mesh_h;             /* root attributes (0: not known) */
} sm_metrics;

void sm_metrics_append(sm_metrics *mt, int epoch, const double *row);
/* Keep an epoch's matrices (from sm_executor_epoch on rank 0) and its placement. */
#include "sm_executor.h"
void sm_metrics_append_stats(sm_metrics *mt, int epoch, const sm_epoch_stats *st,
                             const int32_t *lc_core, int n_lcs, int n_cores);
/* The traffic per core pair [R·R] predicted for the last appended epoch. */
void sm_metrics_set_predicted(sm_metrics *mt, const double *core_bytes);
/* Read the /stats matrices of a metrics.h5 (all epochs) into mt (after
 * sm_metrics_load, or into a zeroed mt). SM_EINPUT naming the file on a bad shape. */
int sm_metrics_load_stats(sm_metrics *mt, const char *path);
/* Atomic rewrite of the whole file. */
int sm_metrics_save(const sm_metrics *mt, const char *path, const char *config, uint64_t seed);
/* Read an existing metrics.h5, keeping the rows of epochs < max_epochs (a resume). */
int sm_metrics_load(sm_metrics *mt, const char *path, int max_epochs);
void sm_metrics_free(sm_metrics *mt);

#endif
