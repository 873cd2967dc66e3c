/* report.c — `spikemesh report RUN_DIR [--out DIR]`: PNG figures of a training
 * run, from what `train` left in its run directory:
 *
 *   RUN_DIR/metrics.h5      /stats/placement int32 [E, n], /stats/lc_compute_seconds
 *                           [E, n], /stats/core_peak_bytes [E, R], /stats/core_bytes
 *                           [E, R, R] (sender row), /stats/epoch int32 [E] (optional);
 *                           root attributes mesh_w, mesh_h (optional, preferred)
 *   RUN_DIR/config.yaml     chip.mesh_w, chip.mesh_h, chip.core_memory (else the
 *                           config text stored in metrics.h5)
 *   RUN_DIR/place_trace.h5  /trace/<method>/evaluations int64 [k], /cost float64 [k]
 *                           (optional: written when train re-places)
 *
 * Writes, into --out (default RUN_DIR), for the last epoch, every epoch whose
 * placement differs from the epoch before, and (when there was such a change)
 * the first epoch, so that the placement before the first move can be compared:
 *   mesh_epochN.png     per core: compute = Σ lc_compute_seconds of its LCs, memory =
 *                       core_peak_bytes (cores without a rank: no data); link loads
 *                       = core_bytes routed XY;
 *   traffic_epochN.png  core_bytes as a heatmap;
 * and curves.png from place_trace.h5. N counts epochs from 1, as train's progress
 * lines do (/stats/epoch + 1).
 * Prints each file it wrote. SM_EINPUT naming the file on a missing or bad
 * input file, SM_EFAIL when a picture cannot be written. No MPI.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "h5util.h"
#include "sm_cli.h"
#include "sm_common.h"
#include "sm_cost.h"
#include "sm_graph.h"
#include "sm_metrics.h"
#include "sm_picture.h"

static const char USAGE[] =
    "usage: spikemesh report RUN_DIR [--out DIR]\n"
    "\n"
    "Draw PNG figures of a training run directory (the --out of `spikemesh train`):\n"
    "mesh_epochN.png (per-core compute and memory, link loads) and traffic_epochN.png\n"
    "(bytes between cores) for the last epoch and every epoch whose placement changed,\n"
    "and curves.png (placer cost against evaluations) when RUN_DIR/place_trace.h5 exists.\n"
    "\n"
    "  -o, --out DIR   where the PNG files go (default RUN_DIR; created if missing)\n";

/* ---- inputs --------------------------------------------------------------- */

/* Mesh size and core memory: chip.* of RUN_DIR/config.yaml, or of the config
 * text in metrics.h5; the root attributes mesh_w, mesh_h of metrics.h5 win. */
static int read_mesh(const char *run, const char *metrics, hid_t file, sm_mesh *mesh) {
    char path[4096];
    snprintf(path, sizeof path, "%s/config.yaml", run);
    sm_cfg *cfg = NULL;
    int rc;
    if (access(path, F_OK) == 0) {
        rc = sm_cfg_load(&cfg, path);
    } else {
        char *text = NULL;
        rc = sm_h5_read_attr_string(file, metrics, "/", "config", &text);
        if (rc) {
            free(text);
            return sm_error("%s is missing and %s has no config attribute: the mesh size is unknown",
                            path, metrics);
        }
        snprintf(path, sizeof path, "%s (attribute config)", metrics);
        rc = sm_cfg_load_string(&cfg, text, path);
        free(text);
    }
    long w = 1, h = 1;
    double memory = 256.0 * 1024 * 1024;
    if (!rc) rc = sm_cfg_int(cfg, "chip.mesh_w", 1, 1, SM_MESH_MAX_SIDE, &w);
    if (!rc) rc = sm_cfg_int(cfg, "chip.mesh_h", 1, 1, SM_MESH_MAX_SIDE, &h);
    if (!rc) rc = sm_cfg_double(cfg, "chip.core_memory", memory, 1024, 1e15, &memory);
    sm_cfg_free(cfg);
    if (rc) return rc;
    int64_t aw = 0, ah = 0;
    if (H5Aexists_by_name(file, "/", "mesh_w", H5P_DEFAULT) > 0 &&
        H5Aexists_by_name(file, "/", "mesh_h", H5P_DEFAULT) > 0) {
        rc = sm_h5_read_attr_int64(file, metrics, "/", "mesh_w", &aw);
        if (!rc) rc = sm_h5_read_attr_int64(file, metrics, "/", "mesh_h", &ah);
        if (rc) return rc;
        if (aw < 1 || ah < 1 || aw > SM_MESH_MAX_SIDE || ah > SM_MESH_MAX_SIDE)
            return sm_error("%s: attributes mesh_w, mesh_h = %lld, %lld, expected 1..%d", metrics,
                            (long long)aw, (long long)ah, SM_MESH_MAX_SIDE);
        w = aw, h = ah;
    }
    *mesh = sm_mesh_default();
    mesh->mesh_w = (int)w, mesh->mesh_h = (int)h, mesh->core_memory = memory;
    return SM_OK;
}

/* /stats/epoch [E] when present, else 0..E-1. */
static int read_epochs(hid_t file, const char *metrics, int E, int32_t *epoch) {
    for (int e = 0; e < E; e++) epoch[e] = e;
    if (!sm_h5_exists(file, "/stats/epoch")) return SM_OK;
    hsize_t d = (hsize_t)E;
    return sm_h5_read_ints(file, metrics, "/stats/epoch", epoch, 1, &d);
}

/* Every value of a[k] finite and >= 0; SM_EINPUT naming file and dataset. */
static int check_stat(const double *a, size_t k, const char *metrics, const char *name) {
    for (size_t i = 0; i < k; i++)
        if (!isfinite(a[i]) || a[i] < 0)
            return sm_error("%s: /stats/%s[%zu] = %g, expected a finite number >= 0", metrics, name, i, a[i]);
    return SM_OK;
}

/* place_trace.h5 into names[*n] (malloc'd) and traces[*n]; SM_EINPUT naming the
 * file and dataset on a bad shape or value. */
static int read_traces(const char *path, int *n, char ***names, sm_place_trace **traces) {
    *n = 0, *names = NULL, *traces = NULL;
    hid_t file;
    int rc = sm_h5_open_read(&file, path);
    if (rc) return rc;
    H5G_info_t info;
    hid_t grp = sm_h5_exists(file, "/trace") ? H5Gopen2(file, "/trace", H5P_DEFAULT) : -1;
    if (grp < 0 || H5Gget_info(grp, &info) < 0) {
        if (grp >= 0) H5Gclose(grp);
        H5Fclose(file);
        return sm_error("%s: no /trace group (expected /trace/<method>/evaluations and /cost)", path);
    }
    const int count = (int)info.nlinks;
    *names = sm_xcalloc((size_t)count + 1, sizeof(char *));
    *traces = sm_xcalloc((size_t)count + 1, sizeof(sm_place_trace));
    for (int k = 0; !rc && k < count; k++) {
        char name[256], ev[300], co[300];
        if (H5Lget_name_by_idx(grp, ".", H5_INDEX_NAME, H5_ITER_INC, (hsize_t)k, name, sizeof name,
                               H5P_DEFAULT) < 0) {
            rc = sm_error("%s: cannot read the name of /trace entry %d", path, k);
            break;
        }
        (*names)[k] = sm_xstrdup(name);
        *n = k + 1;
        snprintf(ev, sizeof ev, "/trace/%s/evaluations", name);
        snprintf(co, sizeof co, "/trace/%s/cost", name);
        int re, rk;
        hsize_t de[8], dc[8];
        rc = sm_h5_shape(file, path, ev, &re, de);
        if (!rc) rc = sm_h5_shape(file, path, co, &rk, dc);
        if (!rc && (re != 1 || rk != 1 || de[0] != dc[0]))
            rc = sm_error("%s: %s and %s must be one-dimensional and of the same length", path, ev, co);
        if (rc) break;
        sm_place_trace *t = &(*traces)[k];
        double *e = sm_xcalloc(de[0] + 1, sizeof(double));
        t->points = sm_xcalloc(de[0] + 1, sizeof(sm_place_point));
        t->n = t->cap = (int)de[0];
        rc = sm_h5_read_doubles(file, path, ev, e, 1, de);
        double *c = sm_xcalloc(dc[0] + 1, sizeof(double));
        if (!rc) rc = sm_h5_read_doubles(file, path, co, c, 1, dc);
        for (int i = 0; !rc && i < t->n; i++) {
            if (!(e[i] >= 0 && e[i] < 9e15) || !isfinite(c[i]))
                rc = sm_error("%s: %s point %d: %g evaluations, cost %g; expected evaluations >= 0 and "
                              "a finite cost", path, name, i, e[i], c[i]);
            t->points[i].evaluations = (long)e[i];
            t->points[i].cost = c[i];
        }
        free(e);
        free(c);
    }
    H5Gclose(grp);
    H5Fclose(file);
    if (!rc && count == 0) rc = sm_error("%s: /trace holds no method", path);
    return rc;
}

static void free_traces(int n, char **names, sm_place_trace *traces) {
    for (int k = 0; k < n; k++) {
        free(names[k]);
        sm_place_trace_free(&traces[k]);
    }
    free(names);
    free(traces);
}

/* ---- figures -------------------------------------------------------------- */

/* The mesh map and the heatmap of stats epoch e. */
static int draw_epoch(const char *out, const sm_metrics *mt, const sm_mesh *mesh, int e, int epoch_no) {
    const int cores = sm_mesh_cores(mesh), n = mt->n_lcs, R = mt->n_cores;
    const size_t RR = (size_t)R * R;
    const int32_t *place = mt->placement + (size_t)e * n;
    const double *bytes = mt->core_bytes + (size_t)e * RR;
    double *compute = sm_xcalloc((size_t)cores, sizeof(double));
    double *memory = sm_xcalloc((size_t)cores, sizeof(double));
    int64_t *loads = sm_xcalloc((size_t)cores * SM_LINK_DIRS, sizeof(int64_t));
    int32_t *identity = sm_xmalloc(sizeof(int32_t) * (size_t)R);
    for (int i = 0; i < n; i++) compute[place[i]] += mt->lc_compute[(size_t)e * n + i];
    for (int c = 0; c < R; c++) memory[c] = mt->core_peak_bytes[(size_t)e * R + c], identity[c] = c;
    for (int c = R; c < cores; c++) compute[c] = memory[c] = NAN; /* no rank: drawn as "no data" */
    /* the cores as the "LCs" of a graph, each on itself: XY link loads of core_bytes */
    sm_lc_graph g;
    int rc = sm_graph_from_dense(&g, R, bytes, NULL, NULL, NULL);
    if (!rc) {
        rc = sm_cost_link_loads(&g, mesh, identity, loads);
        sm_graph_free(&g);
    }
    double hop_bytes = 0;
    for (int a = 0; a < R; a++)
        for (int b = 0; b < R; b++) hop_bytes += bytes[(size_t)a * R + b] * sm_mesh_hops(mesh, a, b);
    char path[4096], title[256];
    if (!rc) {
        snprintf(path, sizeof path, "%s/mesh_epoch%d.png", out, epoch_no);
        snprintf(title, sizeof title, "epoch %d: %d LCs on %d ranks of a %dx%d mesh, %.3g byte-hops", epoch_no,
                 n, R, mesh->mesh_w, mesh->mesh_h, hop_bytes);
        rc = sm_picture_mesh(path, mesh, compute, "s", memory, loads, title);
        if (!rc) printf("wrote %s\n", path);
    }
    if (!rc) {
        snprintf(path, sizeof path, "%s/traffic_epoch%d.png", out, epoch_no);
        snprintf(title, sizeof title, "epoch %d: bytes sent between cores", epoch_no);
        rc = sm_picture_heatmap(path, bytes, R, title);
        if (!rc) printf("wrote %s\n", path);
    }
    free(compute); free(memory); free(loads); free(identity);
    return rc;
}

static int report(const char *run, const char *out) {
    char metrics[4096], path[4096];
    snprintf(metrics, sizeof metrics, "%s/metrics.h5", run);
    sm_metrics mt;
    memset(&mt, 0, sizeof mt);
    int rc = sm_metrics_load_stats(&mt, metrics);
    if (rc) return rc;
    if (mt.n_stats <= 0) {
        sm_metrics_free(&mt);
        return sm_error("%s: no /stats (the run has not finished an epoch, or predates stats)", metrics);
    }
    const int E = mt.n_stats, n = mt.n_lcs, R = mt.n_cores;
    sm_mesh mesh;
    int32_t *epoch = sm_xcalloc((size_t)E, sizeof(int32_t));
    hid_t file;
    rc = sm_h5_open_read(&file, metrics);
    if (!rc) {
        rc = read_mesh(run, metrics, file, &mesh);
        if (!rc) rc = read_epochs(file, metrics, E, epoch);
        H5Fclose(file);
    }
    if (!rc && R > sm_mesh_cores(&mesh))
        rc = sm_error("%s: stats of %d cores, but the mesh is %dx%d", metrics, R, mesh.mesh_w, mesh.mesh_h);
    for (size_t i = 0; !rc && i < (size_t)E * n; i++)
        if (mt.placement[i] < 0 || mt.placement[i] >= R)
            rc = sm_error("%s: /stats/placement[%zu][%zu] = %d, expected a core in 0..%d", metrics, i / n, i % n,
                          mt.placement[i], R - 1);
    if (!rc) rc = check_stat(mt.lc_compute, (size_t)E * n, metrics, "lc_compute_seconds");
    if (!rc) rc = check_stat(mt.core_peak_bytes, (size_t)E * R, metrics, "core_peak_bytes");
    if (!rc) rc = check_stat(mt.core_bytes, (size_t)E * R * R, metrics, "core_bytes");
    /* every input is read and checked before the first picture is written */
    int n_traces = 0;
    char **names = NULL;
    sm_place_trace *traces = NULL;
    snprintf(path, sizeof path, "%s/place_trace.h5", run);
    const int has_trace = access(path, F_OK) == 0;
    if (!rc && has_trace) rc = read_traces(path, &n_traces, &names, &traces);
    if (!rc && mkdir(out, 0777) != 0 && errno != EEXIST)
        rc = sm_fail("cannot create %s: %s", out, strerror(errno));

    /* the epochs to draw: each change of placement, the last, and the first when it changed */
    char *want = sm_xcalloc((size_t)E, 1);
    for (int e = 1; e < E; e++)
        if (memcmp(mt.placement + (size_t)e * n, mt.placement + (size_t)(e - 1) * n, sizeof(int32_t) * (size_t)n))
            want[e] = want[0] = 1;
    want[E - 1] = 1;
    for (int e = 0; !rc && e < E; e++)
        if (want[e]) rc = draw_epoch(out, &mt, &mesh, e, epoch[e] + 1);
    if (!rc && has_trace) {
        snprintf(path, sizeof path, "%s/curves.png", out);
        rc = sm_picture_curves(path, n_traces, (const char *const *)names, traces,
                               "placer: cost against evaluations");
        if (!rc) printf("wrote %s\n", path);
    }
    free_traces(n_traces, names, traces);
    free(want);
    free(epoch);
    sm_metrics_free(&mt);
    return rc;
}

int sm_cmd_report(int argc, char **argv) {
    const char *run = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(USAGE, stdout);
            return -1;
        } else if (!strcmp(a, "--out") || !strcmp(a, "-o")) {
            if (i + 1 >= argc) return sm_error("option '%s' needs a value\n%s", a, USAGE);
            out = argv[++i];
        } else if (!strncmp(a, "--out=", 6)) {
            out = a + 6;
        } else if (a[0] == '-' && a[1]) {
            return sm_error("unknown option '%s'\n%s", a, USAGE);
        } else if (run) {
            return sm_error("unexpected argument '%s' (one RUN_DIR only)\n%s", a, USAGE);
        } else {
            run = a;
        }
    }
    if (!run) return sm_error("missing RUN_DIR (the --out directory of `spikemesh train`)\n%s", USAGE);
    struct stat st;
    if (stat(run, &st) != 0 || !S_ISDIR(st.st_mode))
        return sm_error("%s: not a directory (expected a run directory of `spikemesh train`)", run);
    return report(run, out && *out ? out : run);
}
