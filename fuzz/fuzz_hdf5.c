/* fuzz_hdf5.c — spikemesh's HDF5 readers: checkpoint.h5 (against the tiny
 * model), graph.h5, placement.h5 and batch.h5.
 *
 * Structure-aware: the input is a list of records, each naming an object from
 * the paths these readers look for (or a raw name), a type, a shape and the
 * bytes of its values; the harness builds that file with libhdf5 and hands it
 * to every reader. So the readers meet wrong types, ranks, shapes, sizes,
 * values (NaN, negative, out of range), missing and extra objects, strings
 * where numbers belong — what a damaged or foreign file holds — without
 * fuzzing libhdf5's own on-disk parser (not ours to fix; fuzz/README.md).
 *
 * Record: [path k][kind][rank][dims ... (rank bytes)][value bytes ...] where
 * kind & 7 picks the type (float32, float64, int32, int64, uint8, int16,
 * string attribute, int attribute) and kind & 8 makes it an attribute of the
 * parent group instead of a dataset. */
#include <hdf5.h>

#include "fuzz_util.h"
#include "sm_common.h"
#include "sm_config.h"
#include "sm_io.h"
#include "sm_model.h"

static const char *const PATHS[] = {
    "/meta", "/layers/0_conv2d/weight", "/layers/0_conv2d/bias", "/layers/1_dense/weight",
    "/layers/1_dense/bias", "/layers/2_dense/weight", "/layers/2_dense/bias", "/optim",
    "/optim/layers/0_conv2d/m_weight", "/optim/layers/0_conv2d/v_weight", "/placement/lc_core",
    "/placement/policy", "/resume", "/resume/lc_bytes", "/resume/core_bytes", "/resume/core_messages",
    "/compute", "/memory", "/traffic", "/layer", "/lc_core", "/x", "/y", "/loss",
};
static const char *const ATTRS[] = {"format", "version", "epoch", "step", "seed", "config", "kind",
                                    "mesh_w", "mesh_h", "round", "loss_sum", "correct", "seen",
                                    "compute_unit", "core_memory", "checksum"};
#define N_PATHS (sizeof PATHS / sizeof *PATHS)
#define N_ATTRS (sizeof ATTRS / sizeof *ATTRS)

static sm_model model; /* tiny, built once */

static const char TINY[] =
    "seed: 3\nmodel:\n  input: [1, 8, 8]\n  time_steps: 6\n  encoder: direct\n  layers:\n"
    "    - {type: conv2d, out: 4, kernel: 3, padding: 1, pool: max, pool_size: 2}\n"
    "    - {type: dense, out: 16}\n    - {type: dense, out: 4}\n"
    "train: {epochs: 1, batch: 32, optimizer: adam, lr: 0.002}\n"
    "data: {source: synthetic, synthetic_train: 64, synthetic_test: 64}\n";

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    sm_cfg *cfg = NULL;
    if (sm_cfg_load_string(&cfg, TINY, "tiny") || sm_model_from_config(&model, cfg)) abort();
    sm_cfg_free(cfg);
    return 0;
}

/* Make the groups above `path` (not the last component). */
static void make_parents(hid_t f, const char *path) {
    char buf[128];
    for (const char *p = strchr(path + 1, '/'); p; p = strchr(p + 1, '/')) {
        snprintf(buf, sizeof buf, "%.*s", (int)(p - path), path);
        if (H5Lexists(f, buf, H5P_DEFAULT) <= 0) {
            hid_t g = H5Gcreate2(f, buf, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
            if (g >= 0) H5Gclose(g);
        }
    }
}

static void build(const char *path, const uint8_t *d, size_t n) {
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) abort();
    size_t i = 0;
    while (i + 3 <= n) {
        const char *name = PATHS[d[i] % N_PATHS];
        int kind = d[i + 1], rank = d[i + 2] % 4;
        i += 3;
        if (i + (size_t)rank > n) break;
        hsize_t dims[4];
        size_t count = 1;
        for (int r = 0; r < rank; r++) dims[r] = d[i + r] % 70, count *= dims[r];
        i += (size_t)rank;
        const hid_t types[] = {H5T_NATIVE_FLOAT, H5T_NATIVE_DOUBLE, H5T_NATIVE_INT32,
                               H5T_NATIVE_INT64, H5T_NATIVE_UINT8, H5T_NATIVE_INT16};
        int t = kind & 7;
        if (kind & 8 || t >= 6) { /* an attribute on the object `name` (or its parent) */
            const char *aname = ATTRS[(kind >> 4) % N_ATTRS];
            if (H5Lexists(f, name, H5P_DEFAULT) <= 0) {
                make_parents(f, name);
                hid_t g = H5Gcreate2(f, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
                if (g >= 0) H5Gclose(g);
            }
            hid_t o = H5Oopen(f, name, H5P_DEFAULT);
            if (o < 0) continue;
            hid_t space = H5Screate(H5S_SCALAR), type;
            char str[32] = "";
            uint8_t buf[8] = {0};
            size_t take = n - i < 8 ? n - i : 8;
            memcpy(buf, d + i, take);
            i += take;
            if (t == 6) {
                memcpy(str, buf, take);
                if (buf[0] & 1) strcpy(str, "spikemesh-checkpoint");
                type = H5Tcopy(H5T_C_S1);
                H5Tset_size(type, H5T_VARIABLE);
            } else {
                type = H5Tcopy(t == 7 ? H5T_NATIVE_INT64 : types[t]);
            }
            if (H5Aexists(o, aname) > 0) H5Adelete(o, aname);
            hid_t a = H5Acreate2(o, aname, type, space, H5P_DEFAULT, H5P_DEFAULT);
            if (a >= 0) {
                const char *s = str;
                H5Awrite(a, type, t == 6 ? (const void *)&s : (const void *)buf);
                H5Aclose(a);
            }
            H5Tclose(type), H5Sclose(space), H5Oclose(o);
            continue;
        }
        if (H5Lexists(f, name, H5P_DEFAULT) > 0) continue;
        make_parents(f, name);
        size_t esize = H5Tget_size(types[t]), bytes = count * esize;
        uint8_t *vals = calloc(bytes + 1, 1);
        size_t take = n - i < bytes ? n - i : bytes;
        memcpy(vals, d + i, take); /* values from the input, the rest zeros */
        i += take;
        hid_t space = rank ? H5Screate_simple(rank, dims, NULL) : H5Screate(H5S_SCALAR);
        hid_t set = H5Dcreate2(f, name, types[t], space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (set >= 0) {
            H5Dwrite(set, types[t], H5S_ALL, H5S_ALL, H5P_DEFAULT, vals);
            H5Dclose(set);
        }
        H5Sclose(space);
        free(vals);
    }
    H5Fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file("in.h5", data, 0);
    build(path, data, size);
    sm_checkpoint_meta meta;
    if (sm_checkpoint_load(&model, path, 1, &meta) == SM_OK) sm_checkpoint_meta_free(&meta);
    sm_error_clear();
    fuzz_graph_and_placement(path, 4);
    float *x = NULL;
    int32_t *y = NULL;
    int B, spikes;
    if (sm_batch_load(&model, path, &x, &y, &B, &spikes) == SM_OK) free(x), free(y);
    sm_error_clear();
    return 0;
}
