/* placement_io.c — the sequential placement and placement.h5 (DESIGN.md "Files"). */
#include "sm_placement.h"

#include <hdf5.h>

#include <stdlib.h>

#include "h5util.h"
#include "sm_common.h"
#include "sm_io.h"

void sm_place_sequential(int32_t *lc_core, int n_lcs, int n_cores) {
    for (int i = 0; i < n_lcs; i++) lc_core[i] = i % n_cores;
}

int sm_placement_read(const char *path, int32_t *lc_core, int n_lcs, int n_cores) {
    hid_t file;
    int rc = sm_h5_open_read(&file, path);
    if (rc) return rc;
    int rank;
    hsize_t dims[8];
    rc = sm_h5_shape(file, path, "/lc_core", &rank, dims);
    if (!rc && (rank != 1 || dims[0] != (hsize_t)n_lcs)) {
        char have[128];
        rc = sm_error("%s: /lc_core must be int32 [%d] (one core per logical core of the model), the file has %s",
                      path, n_lcs, sm_h5_dims_str(have, sizeof have, rank, dims));
    }
    hsize_t n = (hsize_t)n_lcs;
    if (!rc) rc = sm_h5_read_ints(file, path, "/lc_core", lc_core, 1, &n);
    H5Fclose(file);
    for (int i = 0; !rc && i < n_lcs; i++)
        if (lc_core[i] < 0 || lc_core[i] >= n_cores)
            rc = sm_error("%s: /lc_core[%d] = %d, expected a core in 0..%d (one per MPI rank)", path,
                          i, lc_core[i], n_cores - 1);
    return rc;
}

typedef struct { const int32_t *lc_core; int n, w, h; const sm_placement_info *info; } write_ctx;

static int writer(int64_t file, void *vctx) {
    write_ctx *c = vctx;
    hsize_t n = (hsize_t)c->n;
    int rc = sm_h5_write_ints(file, "/lc_core", c->lc_core, 1, &n);
    hid_t root = H5Gopen2(file, "/", H5P_DEFAULT);
    if (!rc) rc = sm_h5_attr_int64(root, "mesh_w", c->w);
    if (!rc) rc = sm_h5_attr_int64(root, "mesh_h", c->h);
    const sm_placement_info *in = c->info;
    if (in && !rc) {
        const struct { const char *name; double v; } a[] = {
            {"hop_bytes", in->fig.hop_bytes},   {"max_link", in->fig.max_link},
            {"mean_link", in->fig.mean_link},   {"top5_link", in->fig.top5_link},
            {"imbalance", in->fig.imbalance},   {"predicted_time", in->fig.predicted_time},
            {"energy", in->fig.energy},         {"max_core_memory", in->fig.max_core_memory},
            {"cost", in->fig.cost},             {"seconds", in->seconds}};
        for (size_t k = 0; !rc && k < sizeof a / sizeof a[0]; k++) rc = sm_h5_attr_double(root, a[k].name, a[k].v);
        if (!rc) rc = sm_h5_attr_int64(root, "memory_violations", in->fig.memory_violations);
        if (!rc) rc = sm_h5_attr_int64(root, "max_hops", in->fig.max_hops);
        if (!rc) rc = sm_h5_attr_int64(root, "evaluations", in->evaluations);
        if (!rc) rc = sm_h5_attr_string(root, "method", in->method);
    }
    H5Gclose(root);
    return rc;
}

int sm_placement_write(const char *path, const int32_t *lc_core, int n_lcs, int mesh_w, int mesh_h) {
    write_ctx c = {lc_core, n_lcs, mesh_w, mesh_h, NULL};
    return sm_h5_atomic_write(path, writer, &c);
}

int sm_placement_write_info(const char *path, const int32_t *lc_core, int n_lcs, int mesh_w, int mesh_h,
                            const sm_placement_info *info) {
    write_ctx c = {lc_core, n_lcs, mesh_w, mesh_h, info};
    return sm_h5_atomic_write(path, writer, &c);
}

typedef struct { int n; const char *const *names; const sm_place_trace *traces; } trace_ctx;

static int trace_writer(int64_t file, void *vctx) {
    trace_ctx *c = vctx;
    int rc = SM_OK;
    hid_t top = H5Gcreate2(file, "/trace", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (top < 0) return sm_fail("cannot create /trace");
    for (int k = 0; !rc && k < c->n; k++) {
        const sm_place_trace *t = &c->traces[k];
        hid_t grp = H5Gcreate2(top, c->names[k], H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (grp < 0) { rc = sm_fail("cannot create /trace/%s", c->names[k]); break; }
        int64_t *ev = sm_xmalloc(sizeof *ev * (size_t)(t->n + 1));
        double *cost = sm_xmalloc(sizeof *cost * (size_t)(t->n + 1));
        for (int i = 0; i < t->n; i++) ev[i] = t->points[i].evaluations, cost[i] = t->points[i].cost;
        hsize_t dims = (hsize_t)t->n;
        rc = sm_h5_write_int64s(grp, "evaluations", ev, 1, &dims);
        if (!rc) rc = sm_h5_write_doubles(grp, "cost", cost, 1, &dims);
        free(ev);
        free(cost);
        H5Gclose(grp);
    }
    H5Gclose(top);
    return rc;
}

int sm_place_trace_write(const char *path, int n, const char *const *names, const sm_place_trace *traces) {
    trace_ctx c = {n, names, traces};
    return sm_h5_atomic_write(path, trace_writer, &c);
}
