/* placement_io.c — the sequential placement and placement.h5 (DESIGN.md "Files"). */
#include "sm_placement.h"

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
    if (!rc && (rank != 1 || dims[0] != (hsize_t)n_lcs))
        rc = sm_error("%s: /lc_core must be int32 [%d] (one core per logical core of the model)",
                      path, n_lcs);
    hsize_t n = (hsize_t)n_lcs;
    if (!rc) rc = sm_h5_read_ints(file, path, "/lc_core", lc_core, 1, &n);
    H5Fclose(file);
    for (int i = 0; !rc && i < n_lcs; i++)
        if (lc_core[i] < 0 || lc_core[i] >= n_cores)
            rc = sm_error("%s: /lc_core[%d] = %d, expected a core in 0..%d (one per MPI rank)", path,
                          i, lc_core[i], n_cores - 1);
    return rc;
}

typedef struct { const int32_t *lc_core; int n, w, h; } write_ctx;

static int writer(int64_t file, void *vctx) {
    write_ctx *c = vctx;
    hsize_t n = (hsize_t)c->n;
    int rc = sm_h5_write_ints(file, "/lc_core", c->lc_core, 1, &n);
    hid_t root = H5Gopen2(file, "/", H5P_DEFAULT);
    if (!rc) rc = sm_h5_attr_int64(root, "mesh_w", c->w);
    if (!rc) rc = sm_h5_attr_int64(root, "mesh_h", c->h);
    H5Gclose(root);
    return rc;
}

int sm_placement_write(const char *path, const int32_t *lc_core, int n_lcs, int mesh_w, int mesh_h) {
    write_ctx c = {lc_core, n_lcs, mesh_w, mesh_h};
    return sm_h5_atomic_write(path, writer, &c);
}
