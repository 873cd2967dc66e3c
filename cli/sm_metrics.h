/* sm_metrics.h — per-epoch figures of a run, kept in memory and saved as metrics.h5. */
#ifndef SM_METRICS_H
#define SM_METRICS_H

#include <stdint.h>

/* Columns of metrics.h5; validation_* are NaN when data.validation is 0. */
enum { SM_M_TRAIN_LOSS, SM_M_TRAIN_ACC, SM_M_TEST_LOSS, SM_M_TEST_ACC, SM_M_LR, SM_M_WALL,
       SM_M_RATE, SM_M_VAL_LOSS, SM_M_VAL_ACC, SM_METRIC_COLUMNS };

typedef struct {
    int n;
    int32_t *epoch;                 /* [n] */
    double *col[SM_METRIC_COLUMNS]; /* [n] each */
} sm_metrics;

void sm_metrics_append(sm_metrics *mt, int epoch, const double *row);
/* Atomic rewrite of the whole file. */
int sm_metrics_save(const sm_metrics *mt, const char *path, const char *config, uint64_t seed);
/* Read an existing metrics.h5, keeping the rows of epochs < max_epochs (a resume). */
int sm_metrics_load(sm_metrics *mt, const char *path, int max_epochs);
void sm_metrics_free(sm_metrics *mt);

#endif
