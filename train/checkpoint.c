/* checkpoint.c — checkpoint.h5, batch.h5 and grads.h5 (DESIGN.md "Files").
 *
 * checkpoint.h5
 *   /meta                 attrs: format, version, epoch, step, seed, config (YAML text)
 *   /layers/<i>_<kind>/   weight [out,in] or [out,in,kh,kw] float32, bias [out]
 *   /optim                attrs: kind, step; /optim/layers/<i>_<kind>/{m,v}_{weight,bias}
 *   /placement/lc_core    int32 [n_lcs] the placement the run used (LC -> core)
 *   /placement/policy     float32 [k] the rl placer's state, when it ran (warm start on resume)
 *   /rng                  attrs: seed (all randomness is counter-based: no other state)
 *   /resume               only when a signal stopped epoch `epoch` inside: attrs round,
 *                         loss_sum, correct, seen; lc_bytes [n_lcs,n_lcs], core_bytes and
 *                         core_messages [R,R] float64 (the rounds done so far)
 *
 * Every dataset carries a uint64 "checksum" attribute (version 2; h5util.h);
 * saving verifies the written file before renaming it into place and keeps the
 * checkpoint it replaces as checkpoint.prev.h5; loading verifies every tensor
 * before using any. Version 1 files (no checksums) come from other writers,
 * e.g. the PyTorch reference (tests/ref), and are read unverified.
 */
#define _GNU_SOURCE
#include "sm_io.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "h5util.h"
#include "sm_common.h"

#define TRY(call) do { int rc_ = (call); if (rc_) return rc_; } while (0)

static void fsync_path(const char *path, int directory) {
    int fd = open(path, directory ? O_RDONLY | O_DIRECTORY : O_RDONLY);
    if (fd >= 0) { fsync(fd); close(fd); }
}

/* Write `path` through a temporary file: write, flush, close, fsync, reopen and
 * verify every dataset's checksum, then (when `previous` is set and `path`
 * exists) hard-link the old file to `previous`, and rename the temporary file
 * over `path`. Whatever fails, `path` is either the old file or the new one,
 * complete and verified. */
static int atomic_write(const char *path, const char *previous, int (*writer)(int64_t file, void *ctx),
                        void *ctx) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    sm_h5_quiet();
    hid_t file = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (file < 0) return sm_fail("%s: cannot create its temporary file %s: %s", path, tmp, strerror(errno));
    int rc = writer(file, ctx);
    if (!rc && H5Fflush(file, H5F_SCOPE_GLOBAL) < 0) rc = sm_fail("%s: flush failed (disk full?)", tmp);
    if (H5Fclose(file) < 0 && !rc) rc = sm_fail("%s: close failed (disk full?)", tmp);
    if (!rc) {
        fsync_path(tmp, 0);
        sm_fault_point("corrupt-file", tmp);
        hid_t back;
        rc = sm_h5_open_read(&back, tmp);
        if (!rc) {
            rc = sm_h5_verify_checksums(back, tmp, 1, NULL);
            H5Fclose(back);
        }
        if (rc) rc = SM_EFAIL; /* the file we just wrote reads back wrong: an I/O failure, not bad input */
    }
    if (rc) {
        unlink(tmp);
        sm_error_prefix("writing %s (the previous file is untouched): ", path);
        return rc;
    }
    if (previous && access(path, F_OK) == 0) {
        char ptmp[4200];
        snprintf(ptmp, sizeof ptmp, "%s.tmp.%d", previous, (int)getpid());
        unlink(ptmp);
        if (link(path, ptmp) != 0 || rename(ptmp, previous) != 0) {
            int e = errno;
            unlink(ptmp), unlink(tmp);
            return sm_fail("%s: cannot keep the previous file as %s: %s", path, previous, strerror(e));
        }
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return sm_fail("%s: cannot rename the temporary file into place: %s", path, strerror(e));
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    fsync_path(dirname(dir), 1);
    return SM_OK;
}

int sm_h5_atomic_write(const char *path, int (*writer)(int64_t file, void *ctx), void *ctx) {
    return atomic_write(path, NULL, writer, ctx);
}

void sm_checkpoint_previous_path(char *buf, size_t n, const char *path) {
    size_t len = strlen(path);
    if (len >= 3 && !strcmp(path + len - 3, ".h5")) snprintf(buf, n, "%.*s.prev.h5", (int)(len - 3), path);
    else snprintf(buf, n, "%s.prev", path);
}

/* The on-disk shape of a layer's weight: [out, fan_in] or [out, C, k, k]. */
static int weight_dims(const sm_layer *L, hsize_t *dims) {
    dims[0] = (hsize_t)L->out;
    if (L->kind == SM_LAYER_DENSE) { dims[1] = (hsize_t)L->fan_in; return 2; }
    dims[1] = (hsize_t)L->in_c;
    dims[2] = dims[3] = (hsize_t)L->kernel;
    return 4;
}

typedef struct {
    const sm_model *m;
    const char *config;
    int epoch;
    double loss;
    const int32_t *lc_core;
    const sm_placer_state *placer;
    const sm_checkpoint_partial *partial;
} save_ctx;

static int write_layer_pair(hid_t file, const sm_model *m, int l, int which, const char *group,
                            const char *wname, const char *bname) {
    const sm_layer *L = &m->layers[l];
    float *w = sm_falloc((size_t)L->out * L->fan_in), *b = sm_falloc((size_t)L->out);
    sm_layer_gather(m, l, which, w, b);
    hsize_t dims[4], bdim = (hsize_t)L->out;
    int rank = weight_dims(L, dims);
    hid_t g = sm_h5_group(file, group);
    int rc = g < 0 ? sm_fail("cannot create group %s", group) : SM_OK;
    if (!rc) rc = sm_h5_write_floats(g, wname, w, rank, dims);
    if (!rc) rc = sm_h5_write_floats(g, bname, b, 1, &bdim);
    if (g >= 0) H5Gclose(g);
    free(w);
    free(b);
    return rc;
}

static int write_checkpoint(int64_t file, void *vctx) {
    save_ctx *c = vctx;
    const sm_model *m = c->m;
    char path[256];
    hid_t meta = sm_h5_group(file, "/meta");
    TRY(sm_h5_attr_string(meta, "format", SM_CHECKPOINT_FORMAT));
    TRY(sm_h5_attr_int64(meta, "version", SM_CHECKPOINT_VERSION));
    TRY(sm_h5_attr_int64(meta, "epoch", c->epoch));
    TRY(sm_h5_attr_int64(meta, "step", m->step));
    TRY(sm_h5_attr_int64(meta, "seed", (int64_t)m->seed));
    TRY(sm_h5_attr_string(meta, "config", c->config ? c->config : ""));
    H5Gclose(meta);
    for (int l = 0; l < m->n_layers; l++) {
        snprintf(path, sizeof path, "/layers/%s", m->layers[l].name);
        TRY(write_layer_pair(file, m, l, 0, path, "weight", "bias"));
        snprintf(path, sizeof path, "/optim/layers/%s", m->layers[l].name);
        TRY(write_layer_pair(file, m, l, 2, path, "m_weight", "m_bias"));
        TRY(write_layer_pair(file, m, l, 3, path, "v_weight", "v_bias"));
    }
    hid_t optim = sm_h5_group(file, "/optim");
    TRY(sm_h5_attr_string(optim, "kind", m->opt.kind == SM_OPT_ADAM ? "adam" : "sgd"));
    TRY(sm_h5_attr_int64(optim, "step", m->step));
    H5Gclose(optim);
    hid_t place = sm_h5_group(file, "/placement");
    int32_t *lc_core = sm_xcalloc((size_t)m->n_lcs, sizeof(int32_t));
    if (c->lc_core) memcpy(lc_core, c->lc_core, sizeof(int32_t) * (size_t)m->n_lcs);
    hsize_t n = (hsize_t)m->n_lcs;
    int rc = sm_h5_write_ints(place, "lc_core", lc_core, 1, &n);
    free(lc_core);
    if (!rc && c->placer && c->placer->n) {
        hsize_t k = (hsize_t)c->placer->n;
        rc = sm_h5_write_floats(place, "policy", c->placer->policy, 1, &k);
    }
    H5Gclose(place);
    TRY(rc);
    hid_t rng = sm_h5_group(file, "/rng");
    TRY(sm_h5_attr_int64(rng, "seed", (int64_t)m->seed));
    H5Gclose(rng);
    const sm_checkpoint_partial *pa = c->partial;
    if (pa && pa->round > 0) {
        hid_t g = sm_h5_group(file, "/resume");
        hsize_t nn[2] = {(hsize_t)pa->n_lcs, (hsize_t)pa->n_lcs}, rr[2] = {(hsize_t)pa->ranks, (hsize_t)pa->ranks};
        rc = sm_h5_attr_int64(g, "round", pa->round);
        if (!rc) rc = sm_h5_attr_double(g, "loss_sum", pa->loss_sum);
        if (!rc) rc = sm_h5_attr_int64(g, "correct", pa->correct);
        if (!rc) rc = sm_h5_attr_int64(g, "seen", pa->seen);
        if (!rc) rc = sm_h5_write_doubles(g, "lc_bytes", pa->lc_bytes, 2, nn);
        if (!rc) rc = sm_h5_write_doubles(g, "core_bytes", pa->core_bytes, 2, rr);
        if (!rc) rc = sm_h5_write_doubles(g, "core_messages", pa->core_messages, 2, rr);
        H5Gclose(g);
        TRY(rc);
    }
    return SM_OK;
}

int sm_checkpoint_save(const sm_model *m, const char *path, const char *config_text, int epoch,
                       const int32_t *lc_core, const sm_placer_state *placer,
                       const sm_checkpoint_partial *partial) {
    save_ctx c = {m, config_text, epoch, 0.0, lc_core, placer, partial};
    char previous[4200];
    sm_checkpoint_previous_path(previous, sizeof previous, path);
    return atomic_write(path, previous, write_checkpoint, &c);
}

int sm_checkpoint_read_policy(const char *path, float *policy, size_t n, int *found) {
    hid_t file;
    *found = 0;
    int rc = sm_h5_open_read(&file, path);
    if (rc) return rc;
    if (sm_h5_exists(file, "/placement") && sm_h5_exists(file, "/placement/policy")) {
        int rank;
        hsize_t dims[8];
        rc = sm_h5_shape(file, path, "/placement/policy", &rank, dims);
        if (!rc && (rank != 1 || dims[0] != (hsize_t)n))
            rc = sm_error("%s: /placement/policy must be float32 [%zu] (the rl placer's state)", path, n);
        if (!rc) rc = sm_h5_read_floats(file, path, "/placement/policy", policy, 1, dims);
        *found = !rc;
    }
    H5Fclose(file);
    return rc;
}

static int read_layer_pair(hid_t file, const char *fname, sm_model *m, int l, int which,
                           const char *group, const char *wname, const char *bname) {
    const sm_layer *L = &m->layers[l];
    hsize_t dims[4], bdim = (hsize_t)L->out;
    int rank = weight_dims(L, dims);
    char wpath[300], bpath[300];
    snprintf(wpath, sizeof wpath, "%s/%s", group, wname);
    snprintf(bpath, sizeof bpath, "%s/%s", group, bname);
    float *w = sm_falloc((size_t)L->out * L->fan_in), *b = sm_falloc((size_t)L->out);
    int rc = sm_h5_read_floats(file, fname, wpath, w, rank, dims);
    if (!rc) rc = sm_h5_read_floats(file, fname, bpath, b, 1, &bdim);
    if (!rc) sm_layer_scatter(m, l, which, w, b);
    free(w);
    free(b);
    return rc;
}

/* /resume: an epoch stopped inside (sm_checkpoint_partial). */
static int read_partial(hid_t file, const char *path, const sm_model *m, sm_checkpoint_partial *pa) {
    int64_t round, correct, seen;
    double loss_sum;
    int rank;
    hsize_t dims[8];
    TRY(sm_h5_read_attr_int64(file, path, "/resume", "round", &round));
    TRY(sm_h5_read_attr_int64(file, path, "/resume", "correct", &correct));
    TRY(sm_h5_read_attr_int64(file, path, "/resume", "seen", &seen));
    TRY(sm_h5_read_attr_double(file, path, "/resume", "loss_sum", &loss_sum));
    if (round < 1 || correct < 0 || seen < correct || !isfinite(loss_sum))
        return sm_error("%s: /resume holds round %lld, correct %lld, seen %lld, loss_sum %g: expected "
                        "round >= 1, 0 <= correct <= seen and a finite loss", path, (long long)round,
                        (long long)correct, (long long)seen, loss_sum);
    TRY(sm_h5_shape(file, path, "/resume/core_bytes", &rank, dims));
    if (rank != 2 || dims[0] != dims[1] || dims[0] < 1 || dims[0] > 1u << 16)
        return sm_error("%s: /resume/core_bytes must be float64 [R,R] with 1 <= R <= 65536", path);
    pa->round = (long)round, pa->correct = (long)correct, pa->seen = (long)seen, pa->loss_sum = loss_sum;
    pa->n_lcs = m->n_lcs, pa->ranks = (int)dims[0];
    hsize_t nn[2] = {(hsize_t)m->n_lcs, (hsize_t)m->n_lcs};
    pa->lc_bytes = sm_xmalloc(sizeof(double) * (size_t)m->n_lcs * (size_t)m->n_lcs);
    pa->core_bytes = sm_xmalloc(sizeof(double) * (size_t)dims[0] * dims[0]);
    pa->core_messages = sm_xmalloc(sizeof(double) * (size_t)dims[0] * dims[0]);
    TRY(sm_h5_read_doubles(file, path, "/resume/lc_bytes", pa->lc_bytes, 2, nn));
    TRY(sm_h5_read_doubles(file, path, "/resume/core_bytes", pa->core_bytes, 2, dims));
    TRY(sm_h5_read_doubles(file, path, "/resume/core_messages", pa->core_messages, 2, dims));
    hsize_t n = (hsize_t)m->n_lcs;
    pa->lc_core = sm_xmalloc(sizeof(int32_t) * (size_t)m->n_lcs);
    TRY(sm_h5_read_ints(file, path, "/placement/lc_core", pa->lc_core, 1, &n));
    return SM_OK;
}

static int load_checkpoint(hid_t file, const char *path, sm_model *m, int with_optimizer,
                           sm_checkpoint_meta *meta) {
    char *format = NULL;
    int64_t version, epoch = 0, step = 0, seed = 0;
    TRY(sm_h5_read_attr_string(file, path, "/meta", "format", &format));
    int bad = strcmp(format, SM_CHECKPOINT_FORMAT) != 0;
    free(format);
    if (bad) return sm_error("%s: /meta format is not '%s': not a spikemesh checkpoint", path,
                             SM_CHECKPOINT_FORMAT);
    TRY(sm_h5_read_attr_int64(file, path, "/meta", "version", &version));
    if (version != 1 && version != SM_CHECKPOINT_VERSION)
        return sm_error("%s: checkpoint version %lld, this build reads versions 1 and %d", path,
                        (long long)version, SM_CHECKPOINT_VERSION);
    /* version 1: written by other tools (tests/ref), no checksums; 2: spikemesh's own, every
     * tensor checked before any of it is used */
    if (version >= 2) {
        int rc = sm_h5_verify_checksums(file, path, 1, NULL);
        if (rc) {
            char previous[4200];
            sm_checkpoint_previous_path(previous, sizeof previous, path);
            if (access(previous, R_OK) == 0)
                sm_error_prefix("the checkpoint is refused (the previous one, %s, may be intact): ", previous);
            return rc;
        }
    }
    TRY(sm_h5_read_attr_int64(file, path, "/meta", "epoch", &epoch));
    TRY(sm_h5_read_attr_int64(file, path, "/meta", "step", &step));
    TRY(sm_h5_read_attr_int64(file, path, "/meta", "seed", &seed));
    if (epoch < 0 || step < 0) return sm_error("%s: /meta epoch and step must be >= 0", path);
    char group[256];
    for (int l = 0; l < m->n_layers; l++) {
        snprintf(group, sizeof group, "/layers/%s", m->layers[l].name);
        if (!sm_h5_exists(file, group))
            return sm_error("%s: missing group %s: the checkpoint does not match the config's "
                            "layer %d (%s)", path, group, l, m->layers[l].name);
        TRY(read_layer_pair(file, path, m, l, 0, group, "weight", "bias"));
    }
    int has_opt = sm_h5_exists(file, "/optim");
    if (with_optimizer && has_opt) {
        char *kind = NULL;
        int64_t opt_step;
        TRY(sm_h5_read_attr_string(file, path, "/optim", "kind", &kind));
        int mismatch = strcmp(kind, m->opt.kind == SM_OPT_ADAM ? "adam" : "sgd") != 0;
        free(kind);
        if (mismatch)
            return sm_error("%s: optimizer state is for another optimizer than train.optimizer", path);
        TRY(sm_h5_read_attr_int64(file, path, "/optim", "step", &opt_step));
        for (int l = 0; l < m->n_layers; l++) {
            snprintf(group, sizeof group, "/optim/layers/%s", m->layers[l].name);
            TRY(read_layer_pair(file, path, m, l, 2, group, "m_weight", "m_bias"));
            TRY(read_layer_pair(file, path, m, l, 3, group, "v_weight", "v_bias"));
        }
        m->step = (long)opt_step;
        for (int i = 0; i < m->n_lcs; i++) m->lcs[i].step = m->step;
    }
    if (meta) {
        meta->epoch = (int)epoch;
        meta->step = (long)step;
        meta->seed = (uint64_t)seed;
        meta->has_optimizer = has_opt;
        char *config = NULL;
        if (sm_h5_read_attr_string(file, path, "/meta", "config", &config)) config = sm_xstrdup("");
        meta->config = config;
        if (sm_h5_exists(file, "/resume")) TRY(read_partial(file, path, m, &meta->partial));
    }
    return SM_OK;
}

int sm_checkpoint_load(sm_model *m, const char *path, int with_optimizer, sm_checkpoint_meta *meta) {
    hid_t file;
    if (meta) memset(meta, 0, sizeof *meta);
    TRY(sm_h5_open_read(&file, path));
    int rc = load_checkpoint(file, path, m, with_optimizer, meta);
    H5Fclose(file);
    if (rc) sm_checkpoint_meta_free(meta);
    return rc;
}

void sm_checkpoint_meta_free(sm_checkpoint_meta *meta) {
    if (!meta) return;
    free(meta->config);
    free(meta->partial.lc_bytes), free(meta->partial.core_bytes), free(meta->partial.core_messages);
    free(meta->partial.lc_core);
    memset(meta, 0, sizeof *meta);
}

int sm_batch_load(const sm_model *m, const char *path, float **x, int32_t **y, int *B, int *is_spikes) {
    hid_t file;
    int rank, yrank, rc;
    hsize_t dims[8], ydims[8];
    *x = NULL;
    *y = NULL;
    TRY(sm_h5_open_read(&file, path));
    if ((rc = sm_h5_shape(file, path, "/x", &rank, dims)) ||
        (rc = sm_h5_shape(file, path, "/y", &yrank, ydims))) {
        H5Fclose(file);
        return rc;
    }
    char shape[128];
    sm_h5_dims_str(shape, sizeof shape, rank, dims);
    /* Static: [B,C,H,W] or [B,N] with C*H*W = N = n_in. Spikes: [T,B,N]. */
    int spikes = 0;
    hsize_t samples = dims[0];
    if (rank == 4 && (int)dims[1] == m->in_c && (int)dims[2] == m->in_h && (int)dims[3] == m->in_w) {
    } else if (rank == 2 && dims[1] == (hsize_t)m->n_in) {
    } else if (rank == 3 && dims[0] == (hsize_t)m->T && dims[2] == (hsize_t)m->n_in) {
        spikes = 1;
        samples = dims[1];
    } else {
        H5Fclose(file);
        return sm_error("%s: /x has shape %s, expected [B,%d,%d,%d] or [B,%d] (static input) or "
                        "[%d,B,%d] (spikes over T = %d steps)", path, shape, m->in_c, m->in_h,
                        m->in_w, m->n_in, m->T, m->n_in, m->T);
    }
    if (samples == 0 || samples > (1u << 24)) {
        H5Fclose(file);
        return sm_error("%s: /x holds %llu samples, expected 1 to 16777216", path,
                        (unsigned long long)samples);
    }
    if (yrank != 1 || ydims[0] != samples) {
        H5Fclose(file);
        return sm_error("%s: /y must be int32 [%llu] (one label per sample of /x)", path,
                        (unsigned long long)samples);
    }
    size_t count = 1;
    for (int i = 0; i < rank; i++) count *= dims[i];
    *x = sm_falloc(count);
    *y = sm_xcalloc(samples, sizeof(int32_t));
    rc = sm_h5_read_floats(file, path, "/x", *x, rank, dims);
    if (!rc) rc = sm_h5_read_ints(file, path, "/y", *y, 1, ydims);
    H5Fclose(file);
    for (hsize_t i = 0; !rc && i < samples; i++)
        if ((*y)[i] < 0 || (*y)[i] >= m->n_classes)
            rc = sm_error("%s: /y[%llu] = %d is not a class of the model (0..%d)", path,
                          (unsigned long long)i, (*y)[i], m->n_classes - 1);
    if (rc) {
        free(*x); free(*y);
        *x = NULL; *y = NULL;
        return rc;
    }
    *B = (int)samples;
    *is_spikes = spikes;
    return SM_OK;
}

static int write_grads(int64_t file, void *vctx) {
    save_ctx *c = vctx;
    char path[256];
    TRY(sm_h5_write_scalar_double(file, "/loss", c->loss));
    for (int l = 0; l < c->m->n_layers; l++) {
        snprintf(path, sizeof path, "/layers/%s", c->m->layers[l].name);
        TRY(write_layer_pair(file, c->m, l, 1, path, "weight_grad", "bias_grad"));
    }
    return SM_OK;
}

int sm_grads_save(const sm_model *m, const char *path, double loss) {
    save_ctx c = {m, NULL, 0, loss, NULL, NULL, NULL};
    return sm_h5_atomic_write(path, write_grads, &c);
}
