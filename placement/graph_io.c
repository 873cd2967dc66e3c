/* graph_io.c — the LC graph as CSR, the mesh's links, and graph.h5
 * (sm_graph.h; DESIGN.md "Files"). */
#include "sm_graph.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "h5util.h"
#include "sm_common.h"
#include "sm_io.h"

sm_mesh sm_mesh_default(void) {
    sm_mesh m = {1, 1, 268435456.0, 1e-7, 1e9, 10.0, 1e-12};
    return m;
}

static int positive(double v) { return isfinite(v) && v > 0; }
static int non_negative(double v) { return isfinite(v) && v >= 0; }

int sm_mesh_check(const sm_mesh *m) {
    if (m->mesh_w < 1 || m->mesh_w > SM_MESH_MAX_SIDE || m->mesh_h < 1 || m->mesh_h > SM_MESH_MAX_SIDE)
        return sm_error("mesh %dx%d: each side must be in 1..%d", m->mesh_w, m->mesh_h, SM_MESH_MAX_SIDE);
    if (!positive(m->core_memory)) return sm_error("mesh: core_memory must be > 0, got %g", m->core_memory);
    if (!positive(m->link_bandwidth))
        return sm_error("mesh: link_bandwidth must be > 0, got %g", m->link_bandwidth);
    if (!positive(m->core_gflops)) return sm_error("mesh: core_gflops must be > 0, got %g", m->core_gflops);
    if (!non_negative(m->hop_latency)) return sm_error("mesh: hop_latency must be >= 0, got %g", m->hop_latency);
    if (!non_negative(m->hop_energy)) return sm_error("mesh: hop_energy must be >= 0, got %g", m->hop_energy);
    return SM_OK;
}

int sm_mesh_hops(const sm_mesh *m, int a, int b) {
    int w = m->mesh_w;
    return abs(a % w - b % w) + abs(a / w - b / w);
}

int sm_mesh_link_exists(const sm_mesh *m, int link) {
    int core = link / SM_LINK_DIRS, x = core % m->mesh_w, y = core / m->mesh_w;
    switch (link % SM_LINK_DIRS) {
    case SM_LINK_E: return x + 1 < m->mesh_w;
    case SM_LINK_W: return x > 0;
    case SM_LINK_N: return y > 0;
    default: return y + 1 < m->mesh_h;
    }
}

int sm_mesh_n_links(const sm_mesh *m) {
    return 2 * (m->mesh_w - 1) * m->mesh_h + 2 * m->mesh_w * (m->mesh_h - 1);
}

void sm_graph_free(sm_lc_graph *g) {
    free(g->compute);
    free(g->memory);
    free(g->layer);
    free(g->row);
    free(g->col);
    free(g->bytes);
    memset(g, 0, sizeof *g);
}

int64_t sm_graph_total_bytes(const sm_lc_graph *g) {
    int64_t t = 0;
    for (int k = 0; k < g->row[g->n]; k++) t += g->bytes[k];
    return t;
}

/* Check a per-LC array: finite and >= 0. `what` names it in the message. */
static int check_values(const char *what, const double *v, int n) {
    for (int i = 0; v && i < n; i++)
        if (!non_negative(v[i]))
            return sm_error("%s[%d] = %g, expected a finite number >= 0", what, i, v[i]);
    return SM_OK;
}

int sm_graph_from_dense(sm_lc_graph *g, int n, const double *traffic, const double *compute,
                        const double *memory, const int32_t *layer) {
    memset(g, 0, sizeof *g);
    if (n < 1) return sm_error("LC graph: %d LCs, expected at least 1", n);
    int rc = check_values("compute", compute, n);
    if (!rc) rc = check_values("memory", memory, n);
    for (int i = 0; !rc && layer && i < n; i++)
        if (layer[i] < 0) rc = sm_error("layer[%d] = %d, expected a layer index >= 0", i, layer[i]);
    double total = 0;
    size_t nnz = 0;
    for (size_t k = 0; !rc && k < (size_t)n * n; k++) {
        double b = traffic[k];
        if (!non_negative(b))
            rc = sm_error("traffic[%zu][%zu] = %g, expected a finite number of bytes >= 0", k / n, k % n, b);
        else if (k / n != k % n && b > SM_GRAPH_MAX_BYTES)
            total = b;   /* too large to round: reported below */
        else if (k / n != k % n && llround(b) > 0)
            total += (double)llround(b), nnz++;
        if (total > SM_GRAPH_MAX_BYTES) break;
    }
    if (!rc && total > SM_GRAPH_MAX_BYTES)
        rc = sm_error("traffic: %g bytes in total, more than the %g this model handles", total,
                      SM_GRAPH_MAX_BYTES);
    if (rc) return rc;

    g->n = n;
    g->compute = sm_xcalloc((size_t)n, sizeof *g->compute);
    g->memory = sm_xcalloc((size_t)n, sizeof *g->memory);
    g->layer = sm_xcalloc((size_t)n, sizeof *g->layer);
    if (compute) memcpy(g->compute, compute, (size_t)n * sizeof *compute);
    if (memory) memcpy(g->memory, memory, (size_t)n * sizeof *memory);
    if (layer) memcpy(g->layer, layer, (size_t)n * sizeof *layer);
    g->row = sm_xcalloc((size_t)n + 1, sizeof *g->row);
    g->col = sm_xcalloc(nnz ? nnz : 1, sizeof *g->col);
    g->bytes = sm_xcalloc(nnz ? nnz : 1, sizeof *g->bytes);
    int k = 0;
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < n; j++) {
            long long b = llround(traffic[(size_t)i * n + j]);
            if (j != i && b > 0) g->col[k] = j, g->bytes[k] = b, k++;
        }
        g->row[i + 1] = k;
    }
    return SM_OK;
}

/* ---- graph.h5 ---------------------------------------------------------- */

/* A numeric root attribute as double. *found = 0 (and no error) when absent
 * and optional; SM_EINPUT naming the file when required and absent. */
static int read_root_number(hid_t file, const char *path, const char *name, int required,
                            double *out, int *found) {
    *found = 0;
    if (H5Aexists_by_name(file, "/", name, H5P_DEFAULT) <= 0)
        return required ? sm_error("%s: missing root attribute '%s'", path, name) : SM_OK;
    hid_t a = H5Aopen_by_name(file, "/", name, H5P_DEFAULT, H5P_DEFAULT);
    hid_t type = H5Aget_type(a), space = H5Aget_space(a);
    H5T_class_t cls = H5Tget_class(type);
    int scalar = H5Sget_simple_extent_npoints(space) == 1;
    herr_t st = (cls == H5T_INTEGER || cls == H5T_FLOAT) && scalar ? H5Aread(a, H5T_NATIVE_DOUBLE, out) : -1;
    H5Sclose(space);
    H5Tclose(type);
    H5Aclose(a);
    if (st < 0) return sm_error("%s: root attribute '%s': expected one number", path, name);
    *found = 1;
    return SM_OK;
}

static int read_mesh(hid_t file, const char *path, sm_mesh *mesh) {
    *mesh = sm_mesh_default();
    int64_t w, h;
    int found, rc = sm_h5_read_attr_int64(file, path, "/", "mesh_w", &w);
    if (!rc) rc = sm_h5_read_attr_int64(file, path, "/", "mesh_h", &h);
    if (rc) return rc;
    if (w < 1 || w > SM_MESH_MAX_SIDE || h < 1 || h > SM_MESH_MAX_SIDE)
        return sm_error("%s: mesh_w = %lld, mesh_h = %lld: each must be in 1..%d", path, (long long)w,
                        (long long)h, SM_MESH_MAX_SIDE);
    mesh->mesh_w = (int)w;
    mesh->mesh_h = (int)h;
    struct { const char *name; double *v; int required; } num[] = {
        {"core_memory", &mesh->core_memory, 1},   {"hop_latency", &mesh->hop_latency, 0},
        {"link_bandwidth", &mesh->link_bandwidth, 0}, {"core_gflops", &mesh->core_gflops, 0},
        {"hop_energy", &mesh->hop_energy, 0},
    };
    for (size_t k = 0; k < sizeof num / sizeof num[0]; k++) {
        rc = read_root_number(file, path, num[k].name, num[k].required, num[k].v, &found);
        if (rc) return rc;
    }
    rc = sm_mesh_check(mesh);
    if (rc) sm_error_prefix("%s: ", path);
    return rc;
}

static int read_compute_unit(hid_t file, const char *path, int *is_flops) {
    *is_flops = 0;
    if (H5Aexists_by_name(file, "/", "compute_unit", H5P_DEFAULT) <= 0) return SM_OK;
    char *unit;
    int rc = sm_h5_read_attr_string(file, path, "/", "compute_unit", &unit);
    if (rc) return rc;
    if (!strcmp(unit, "flops")) *is_flops = 1;
    else if (strcmp(unit, "seconds"))
        rc = sm_error("%s: root attribute compute_unit = '%s', expected 'seconds' or 'flops'", path, unit);
    free(unit);
    return rc;
}

int sm_graph_read(const char *path, sm_lc_graph *g, sm_mesh *mesh) {
    memset(g, 0, sizeof *g);
    hid_t file;
    int rc = sm_h5_open_read(&file, path);
    if (rc) return rc;
    int rank, n = 0, is_flops = 0;
    hsize_t dims[8];
    double *compute = NULL, *memory = NULL, *traffic = NULL;
    int32_t *layer = NULL;
    rc = sm_h5_shape(file, path, "/compute", &rank, dims);
    if (!rc && (rank != 1 || dims[0] < 1 || dims[0] > 65536))
        rc = sm_error("%s: /compute must be float64 [n] with 1 <= n <= 65536 (one entry per LC)", path);
    if (!rc) {
        n = (int)dims[0];
        hsize_t d1[1] = {(hsize_t)n}, d2[2] = {(hsize_t)n, (hsize_t)n};
        compute = sm_xmalloc((size_t)n * sizeof *compute);
        memory = sm_xmalloc((size_t)n * sizeof *memory);
        layer = sm_xmalloc((size_t)n * sizeof *layer);
        traffic = sm_xmalloc((size_t)n * n * sizeof *traffic);
        rc = sm_h5_read_doubles(file, path, "/compute", compute, 1, d1);
        if (!rc) rc = sm_h5_read_doubles(file, path, "/memory", memory, 1, d1);
        if (!rc) rc = sm_h5_read_doubles(file, path, "/traffic", traffic, 2, d2);
        if (!rc) rc = sm_h5_read_ints(file, path, "/layer", layer, 1, d1);
    }
    if (!rc) rc = read_mesh(file, path, mesh);
    if (!rc) rc = read_compute_unit(file, path, &is_flops);
    H5Fclose(file);
    if (!rc) {
        rc = sm_graph_from_dense(g, n, traffic, compute, memory, layer);
        if (rc) sm_error_prefix("%s: /", path);   /* "x.h5: /traffic[2][3] = -1, ..." */
        g->compute_is_flops = is_flops;
    }
    free(compute);
    free(memory);
    free(layer);
    free(traffic);
    return rc;
}

typedef struct { const sm_lc_graph *g; const sm_mesh *mesh; } write_ctx;

static int writer(int64_t file, void *vctx) {
    const write_ctx *c = vctx;
    const sm_lc_graph *g = c->g;
    int n = g->n;
    hsize_t d1[1] = {(hsize_t)n}, d2[2] = {(hsize_t)n, (hsize_t)n};
    double *traffic = sm_xcalloc((size_t)n * n, sizeof *traffic);
    for (int i = 0; i < n; i++)
        for (int k = g->row[i]; k < g->row[i + 1]; k++) traffic[(size_t)i * n + g->col[k]] = (double)g->bytes[k];
    int rc = sm_h5_write_doubles(file, "/compute", g->compute, 1, d1);
    if (!rc) rc = sm_h5_write_doubles(file, "/memory", g->memory, 1, d1);
    if (!rc) rc = sm_h5_write_doubles(file, "/traffic", traffic, 2, d2);
    if (!rc) rc = sm_h5_write_ints(file, "/layer", g->layer, 1, d1);
    free(traffic);
    hid_t root = H5Gopen2(file, "/", H5P_DEFAULT);
    const sm_mesh *m = c->mesh;
    if (!rc) rc = sm_h5_attr_int64(root, "mesh_w", m->mesh_w);
    if (!rc) rc = sm_h5_attr_int64(root, "mesh_h", m->mesh_h);
    if (!rc) rc = sm_h5_attr_double(root, "core_memory", m->core_memory);
    if (!rc) rc = sm_h5_attr_double(root, "hop_latency", m->hop_latency);
    if (!rc) rc = sm_h5_attr_double(root, "link_bandwidth", m->link_bandwidth);
    if (!rc) rc = sm_h5_attr_double(root, "core_gflops", m->core_gflops);
    if (!rc) rc = sm_h5_attr_double(root, "hop_energy", m->hop_energy);
    if (!rc) rc = sm_h5_attr_string(root, "compute_unit", g->compute_is_flops ? "flops" : "seconds");
    H5Gclose(root);
    return rc;
}

int sm_graph_write(const char *path, const sm_lc_graph *g, const sm_mesh *mesh) {
    write_ctx c = {g, mesh};
    return sm_h5_atomic_write(path, writer, &c);
}
