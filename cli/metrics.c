/* metrics.c — metrics.h5 of a run: one row per epoch, rewritten whole (and
 * atomically) after every epoch, so a crash leaves the last complete file.
 *   /epoch int32 [E], /train_loss, /train_accuracy, /test_loss, /test_accuracy,
 *   /lr, /wall_seconds, /samples_per_second, /validation_loss, /validation_accuracy
 *   float64 [E]; attrs: seed, config. */
#include "sm_metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "h5util.h"
#include "sm_common.h"
#include "sm_io.h"

static const char *const COLUMNS[SM_METRIC_COLUMNS] = {
    "train_loss", "train_accuracy", "test_loss", "test_accuracy", "lr", "wall_seconds",
    "samples_per_second", "validation_loss", "validation_accuracy"};

void sm_metrics_append(sm_metrics *mt, int epoch, const double *row) {
    mt->epoch = sm_xrealloc(mt->epoch, sizeof(int32_t) * (size_t)(mt->n + 1));
    for (int c = 0; c < SM_METRIC_COLUMNS; c++) {
        mt->col[c] = sm_xrealloc(mt->col[c], sizeof(double) * (size_t)(mt->n + 1));
        mt->col[c][mt->n] = row[c];
    }
    mt->epoch[mt->n++] = epoch;
}

typedef struct { const sm_metrics *mt; const char *config; uint64_t seed; } ctx_t;

static int writer(int64_t file, void *vctx) {
    ctx_t *c = vctx;
    hsize_t n = (hsize_t)c->mt->n;
    int rc = sm_h5_write_ints(file, "/epoch", c->mt->epoch, 1, &n);
    for (int i = 0; !rc && i < SM_METRIC_COLUMNS; i++)
        rc = sm_h5_write_doubles(file, COLUMNS[i], c->mt->col[i], 1, &n);
    hid_t root = H5Gopen2(file, "/", H5P_DEFAULT);
    if (!rc) rc = sm_h5_attr_int64(root, "seed", (int64_t)c->seed);
    if (!rc) rc = sm_h5_attr_string(root, "config", c->config ? c->config : "");
    H5Gclose(root);
    return rc;
}

int sm_metrics_save(const sm_metrics *mt, const char *path, const char *config, uint64_t seed) {
    ctx_t c = {mt, config, seed};
    return sm_h5_atomic_write(path, writer, &c);
}

int sm_metrics_load(sm_metrics *mt, const char *path, int max_epochs) {
    memset(mt, 0, sizeof *mt);
    hid_t file;
    int rc = sm_h5_open_read(&file, path);
    if (rc) return rc;
    int rank;
    hsize_t dims[8];
    rc = sm_h5_shape(file, path, "/epoch", &rank, dims);
    if (!rc && rank != 1) rc = sm_error("%s: /epoch must be one-dimensional", path);
    if (!rc) {
        int n = (int)dims[0];
        int32_t *epochs = sm_xcalloc(dims[0] + 1, sizeof(int32_t));
        double *cols[SM_METRIC_COLUMNS];
        rc = sm_h5_read_ints(file, path, "/epoch", epochs, 1, dims);
        for (int c = 0; c < SM_METRIC_COLUMNS; c++) {
            cols[c] = sm_xcalloc(dims[0] + 1, sizeof(double));
            /* a column added after the file was written reads as NaN */
            if (!rc && !sm_h5_exists(file, COLUMNS[c]))
                for (hsize_t i = 0; i < dims[0]; i++) cols[c][i] = NAN;
            else if (!rc) rc = sm_h5_read_doubles(file, path, COLUMNS[c], cols[c], 1, dims);
        }
        for (int i = 0; !rc && i < n && epochs[i] < max_epochs; i++) {
            double row[SM_METRIC_COLUMNS];
            for (int c = 0; c < SM_METRIC_COLUMNS; c++) row[c] = cols[c][i];
            sm_metrics_append(mt, epochs[i], row);
        }
        free(epochs);
        for (int c = 0; c < SM_METRIC_COLUMNS; c++) free(cols[c]);
    }
    H5Fclose(file);
    return rc;
}

void sm_metrics_free(sm_metrics *mt) {
    free(mt->epoch);
    for (int c = 0; c < SM_METRIC_COLUMNS; c++) free(mt->col[c]);
    memset(mt, 0, sizeof *mt);
}
