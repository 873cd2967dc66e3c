/* metrics.c — metrics.h5 of a run: one row per epoch, rewritten whole (and
 * atomically) after every epoch, so a crash leaves the last complete file.
 *   /epoch int32 [E], /train_loss, /train_accuracy, /test_loss, /test_accuracy,
 *   /lr, /wall_seconds, /samples_per_second, /validation_loss, /validation_accuracy,
 *   /emulated_seconds, /communication_share, /forward_bytes, /backward_bytes,
 *   /compute_seconds (summed over ranks), /ranks
 *   float64 [E]; attrs: seed, config.
 *   /stats/epoch int32 [E2] (the epochs trained by this process), /stats/lc_compute_seconds
 *   [E2,n_lcs], /stats/core_peak_bytes [E2,R] (arena use), /stats/core_rss_bytes [E2,R]
 *   (each rank's peak resident memory in the epoch), /stats/core_private_bytes [E2,R] (its
 *   private resident memory at the epoch's end), /stats/core_heap_bytes [E2,R] (its malloc'ed
 *   bytes then), /stats/core_bytes and /stats/core_messages
 *   [E2,R,R] (sender row, receiver column), /stats/lc_bytes [E2,n_lcs,n_lcs],
 *   /stats/placement int32 [E2,n_lcs]. */
#include "sm_metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "h5util.h"
#include "sm_common.h"
#include "sm_io.h"

static const char *const COLUMNS[SM_METRIC_COLUMNS] = {
    "train_loss", "train_accuracy", "test_loss", "test_accuracy", "lr", "wall_seconds",
    "samples_per_second", "validation_loss", "validation_accuracy", "emulated_seconds",
    "communication_share", "forward_bytes", "backward_bytes", "compute_seconds", "ranks",
    "predicted_seconds", "traffic_matches_prediction", "hop_bytes", "migrated_lcs", "migrated_bytes"};

void sm_metrics_append(sm_metrics *mt, int epoch, const double *row) {
    mt->epoch = sm_xrealloc(mt->epoch, sizeof(int32_t) * (size_t)(mt->n + 1));
    for (int c = 0; c < SM_METRIC_COLUMNS; c++) {
        mt->col[c] = sm_xrealloc(mt->col[c], sizeof(double) * (size_t)(mt->n + 1));
        mt->col[c][mt->n] = row[c];
    }
    mt->epoch[mt->n++] = epoch;
}

static double *grow(double *a, int rows, size_t row) {
    return sm_xrealloc(a, sizeof(double) * (size_t)rows * row);
}

void sm_metrics_append_stats(sm_metrics *mt, int epoch, const sm_epoch_stats *st,
                             const int32_t *lc_core, int n_lcs, int n_cores) {
    if (mt->n_stats && (mt->n_lcs != n_lcs || mt->n_cores != n_cores)) return;
    mt->n_lcs = n_lcs;
    mt->n_cores = n_cores;
    const int k = mt->n_stats++;
    const size_t n = (size_t)n_lcs, R = (size_t)n_cores;
    mt->stats_epoch = sm_xrealloc(mt->stats_epoch, sizeof(int32_t) * (size_t)mt->n_stats);
    mt->stats_epoch[k] = epoch;
    mt->lc_compute = grow(mt->lc_compute, mt->n_stats, n);
    mt->core_peak_bytes = grow(mt->core_peak_bytes, mt->n_stats, R);
    mt->core_rss_bytes = grow(mt->core_rss_bytes, mt->n_stats, R);
    mt->core_private_bytes = grow(mt->core_private_bytes, mt->n_stats, R);
    mt->core_heap_bytes = grow(mt->core_heap_bytes, mt->n_stats, R);
    mt->core_bytes = grow(mt->core_bytes, mt->n_stats, R * R);
    mt->core_messages = grow(mt->core_messages, mt->n_stats, R * R);
    mt->lc_bytes = grow(mt->lc_bytes, mt->n_stats, n * n);
    mt->placement = sm_xrealloc(mt->placement, sizeof(int32_t) * (size_t)mt->n_stats * n);
    memcpy(mt->lc_compute + k * n, st->lc_compute, sizeof(double) * n);
    memcpy(mt->core_peak_bytes + k * R, st->core_peak_bytes, sizeof(double) * R);
    memcpy(mt->core_rss_bytes + k * R, st->core_rss_bytes, sizeof(double) * R);
    memcpy(mt->core_private_bytes + k * R, st->core_private_bytes, sizeof(double) * R);
    memcpy(mt->core_heap_bytes + k * R, st->core_heap_bytes, sizeof(double) * R);
    memcpy(mt->core_bytes + k * R * R, st->core_bytes, sizeof(double) * R * R);
    memcpy(mt->core_messages + k * R * R, st->core_messages, sizeof(double) * R * R);
    memcpy(mt->lc_bytes + k * n * n, st->lc_bytes, sizeof(double) * n * n);
    memcpy(mt->placement + k * n, lc_core, sizeof(int32_t) * n);
    mt->predicted_core_bytes = grow(mt->predicted_core_bytes, mt->n_stats, R * R);
    for (size_t i = 0; i < R * R; i++) mt->predicted_core_bytes[k * R * R + i] = NAN;
}

void sm_metrics_set_predicted(sm_metrics *mt, const double *core_bytes) {
    if (!mt->n_stats) return;
    const size_t R = (size_t)mt->n_cores;
    memcpy(mt->predicted_core_bytes + (size_t)(mt->n_stats - 1) * R * R, core_bytes, sizeof(double) * R * R);
}

static int write_stats(hid_t file, const sm_metrics *mt) {
    if (!mt->n_stats) return SM_OK;
    hid_t g = sm_h5_group(file, "/stats");
    hsize_t E = (hsize_t)mt->n_stats, n = (hsize_t)mt->n_lcs, R = (hsize_t)mt->n_cores;
    hsize_t d1[1] = {E}, dn[2] = {E, n}, dR[2] = {E, R}, dRR[3] = {E, R, R}, dnn[3] = {E, n, n};
    int rc = sm_h5_write_ints(g, "epoch", mt->stats_epoch, 1, d1);
    if (!rc) rc = sm_h5_write_doubles(g, "lc_compute_seconds", mt->lc_compute, 2, dn);
    if (!rc) rc = sm_h5_write_doubles(g, "core_peak_bytes", mt->core_peak_bytes, 2, dR);
    if (!rc && mt->core_rss_bytes) rc = sm_h5_write_doubles(g, "core_rss_bytes", mt->core_rss_bytes, 2, dR);
    if (!rc && mt->core_private_bytes)
        rc = sm_h5_write_doubles(g, "core_private_bytes", mt->core_private_bytes, 2, dR);
    if (!rc && mt->core_heap_bytes) rc = sm_h5_write_doubles(g, "core_heap_bytes", mt->core_heap_bytes, 2, dR);
    if (!rc) rc = sm_h5_write_doubles(g, "core_bytes", mt->core_bytes, 3, dRR);
    if (!rc) rc = sm_h5_write_doubles(g, "core_messages", mt->core_messages, 3, dRR);
    if (!rc) rc = sm_h5_write_doubles(g, "lc_bytes", mt->lc_bytes, 3, dnn);
    if (!rc) rc = sm_h5_write_ints(g, "placement", mt->placement, 2, dn);
    if (!rc) rc = sm_h5_write_doubles(g, "predicted_core_bytes", mt->predicted_core_bytes, 3, dRR);
    H5Gclose(g);
    return rc;
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
    if (!rc && c->mt->mesh_w > 0) rc = sm_h5_attr_int64(root, "mesh_w", c->mt->mesh_w);
    if (!rc && c->mt->mesh_h > 0) rc = sm_h5_attr_int64(root, "mesh_h", c->mt->mesh_h);
    H5Gclose(root);
    if (!rc) rc = write_stats(file, c->mt);
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
    free(mt->stats_epoch); free(mt->lc_compute); free(mt->core_peak_bytes); free(mt->core_rss_bytes); free(mt->core_private_bytes); free(mt->core_heap_bytes); free(mt->core_bytes);
    free(mt->core_messages); free(mt->lc_bytes); free(mt->placement); free(mt->predicted_core_bytes);
    for (int c = 0; c < SM_METRIC_COLUMNS; c++) free(mt->col[c]);
    memset(mt, 0, sizeof *mt);
}

/* Read /stats/<name> of shape [E, d1 (, d2)] into a new array; d_want[0] is E
 * (0: take the file's), the others must match when non-zero. */
static int read_stat(hid_t file, const char *path, const char *name, int rank_want, hsize_t *d, int is_int,
                     void **out) {
    int rank;
    hsize_t dims[8];
    char full[64];
    snprintf(full, sizeof full, "/stats/%s", name);
    int rc = sm_h5_shape(file, path, full, &rank, dims);
    if (rc) return rc;
    int bad = rank != rank_want;
    for (int k = 0; !bad && k < rank; k++) {
        if (d[k] && dims[k] != d[k]) bad = 1;
        d[k] = dims[k];
    }
    if (bad) return sm_error("%s: %s has an unexpected shape (another run's file?)", path, full);
    size_t count = 1;
    for (int k = 0; k < rank; k++) count *= d[k];
    *out = sm_xcalloc(count + 1, is_int ? sizeof(int32_t) : sizeof(double));
    return is_int ? sm_h5_read_ints(file, path, full, *out, rank, d)
                  : sm_h5_read_doubles(file, path, full, *out, rank, d);
}

int sm_metrics_load_stats(sm_metrics *mt, const char *path) {
    hid_t file;
    int rc = sm_h5_open_read(&file, path);
    if (rc) return rc;
    if (!sm_h5_exists(file, "/stats")) {
        H5Fclose(file);
        return SM_OK; /* a run without stats: n_stats stays 0 */
    }
    hsize_t dn[2] = {0, 0};
    void *placement = NULL, *lc_compute = NULL, *core_peak = NULL, *core_bytes = NULL, *lc_bytes = NULL;
    rc = read_stat(file, path, "placement", 2, dn, 1, &placement);
    hsize_t dc[2] = {dn[0], dn[1]}, dR[2] = {dn[0], 0}, dRR[3] = {dn[0], 0, 0}, dnn[3] = {dn[0], dn[1], dn[1]};
    if (!rc) rc = read_stat(file, path, "lc_compute_seconds", 2, dc, 0, &lc_compute);
    if (!rc) rc = read_stat(file, path, "core_peak_bytes", 2, dR, 0, &core_peak);
    dRR[1] = dRR[2] = dR[1];
    if (!rc) rc = read_stat(file, path, "core_bytes", 3, dRR, 0, &core_bytes);
    if (!rc) rc = read_stat(file, path, "lc_bytes", 3, dnn, 0, &lc_bytes);
    H5Fclose(file);
    if (rc) {
        free(placement); free(lc_compute); free(core_peak); free(core_bytes); free(lc_bytes);
        return rc;
    }
    mt->n_stats = (int)dn[0];
    mt->n_lcs = (int)dn[1];
    mt->n_cores = (int)dR[1];
    mt->placement = placement;
    mt->lc_compute = lc_compute;
    mt->core_peak_bytes = core_peak;
    mt->core_bytes = core_bytes;
    mt->lc_bytes = lc_bytes;
    return SM_OK;
}
