/* sm_graph.h — what a placer sees: the LC graph (compute, memory, layer, traffic
 * between LCs) and the mesh it is placed on, and graph.h5 (DESIGN.md "Files").
 * Plain arrays, no MPI, no globals. docs/cost-model.md has the formulas.
 *
 * The mesh: cores numbered row-major, core c at x = c % mesh_w, y = c / mesh_w
 * (row 0 at the top, as in the PNG maps). Between two neighbouring cores there
 * are two directed links, one each way. Link ids: 4 per core, named by the
 * direction they leave the core in:
 *
 *     link = 4 * core + dir,  dir  E: to x+1   W: to x-1   N: to y-1   S: to y+1
 *
 * A link that would leave the mesh does not exist (its load is always 0 and
 * it is left out of every link figure). A w x h mesh has
 * 2(w-1)h + 2w(h-1) links.
 */
#ifndef SM_GRAPH_H
#define SM_GRAPH_H

#include <stdint.h>

enum { SM_LINK_E = 0, SM_LINK_W = 1, SM_LINK_N = 2, SM_LINK_S = 3, SM_LINK_DIRS = 4 };

/* Largest mesh side accepted (keeps hops below 2^13 and Σ bytes·hops in int64). */
#define SM_MESH_MAX_SIDE 4096
/* Largest total traffic of a graph, in bytes per epoch (2^48, about 281 TB):
 * with SM_MESH_MAX_SIDE, Σ bytes·hops stays below 2^61. */
#define SM_GRAPH_MAX_BYTES 281474976710656.0

typedef struct {
    int n;              /* LCs */
    double *compute;    /* [n] seconds per epoch (measured), or FLOPs when compute_is_flops */
    double *memory;     /* [n] bytes */
    int32_t *layer;     /* [n] */
    int compute_is_flops; /* 0: compute is seconds; 1: FLOPs, run at sm_mesh.core_gflops */
    /* Traffic as CSR over sources: row[i] .. row[i+1]-1 index the LCs j that LC i
     * sends to (ascending j), with bytes[k] bytes i -> j per epoch. Whole bytes in
     * int64 so that link loads add up exactly in any order. Only j != i and
     * bytes > 0 are stored: an LC does not message itself. */
    int *row;           /* [n+1] */
    int *col;           /* [nnz] destination LC */
    int64_t *bytes;     /* [nnz] */
} sm_lc_graph;

typedef struct {
    int mesh_w, mesh_h;
    double core_memory;    /* bytes of local memory per core */
    double hop_latency;    /* seconds per hop of a message */
    double link_bandwidth; /* bytes per second of one directed link */
    double core_gflops;    /* GFLOP/s of a core; used only when the graph's compute is FLOPs */
    double hop_energy;     /* joules per byte per hop */
} sm_mesh;

/* The defaults of the chip.* config keys (docs/config.md): 1x1 mesh, 256 MiB,
 * 1e-7 s per hop, 1e9 B/s, 10 GFLOP/s, and 1e-12 J per byte per hop. */
sm_mesh sm_mesh_default(void);
/* SM_EINPUT with a message when a side is outside 1..SM_MESH_MAX_SIDE or a
 * rate is not a positive finite number (hop_latency, hop_energy may be 0). */
int sm_mesh_check(const sm_mesh *mesh);

static inline int sm_mesh_cores(const sm_mesh *m) { return m->mesh_w * m->mesh_h; }
/* Manhattan distance = hops of the XY route between cores a and b. */
int sm_mesh_hops(const sm_mesh *m, int a, int b);
/* 1 if link id `link` (4 * core + dir) exists in the mesh. */
int sm_mesh_link_exists(const sm_mesh *m, int link);
/* The number of links that exist: 2(w-1)h + 2w(h-1). */
int sm_mesh_n_links(const sm_mesh *m);

/* Build g from dense traffic [n*n] (bytes i -> j at traffic[i*n + j]); compute,
 * memory and layer [n] are copied (NULL = all zeros). Traffic is rounded to
 * whole bytes; the diagonal is ignored. SM_EINPUT naming the array and index
 * when a value is negative, NaN or infinite, or the total traffic exceeds
 * SM_GRAPH_MAX_BYTES; g is then left empty. Free with sm_graph_free. */
int sm_graph_from_dense(sm_lc_graph *g, int n, const double *traffic, const double *compute,
                        const double *memory, const int32_t *layer);
void sm_graph_free(sm_lc_graph *g);
/* Total bytes of all traffic. */
int64_t sm_graph_total_bytes(const sm_lc_graph *g);

/* graph.h5: /compute float64 [n], /memory float64 [n], /traffic float64 [n,n]
 * (bytes i -> j), /layer int32 [n]; root attributes mesh_w, mesh_h (integers),
 * core_memory (number). Optional root attributes, defaults of sm_mesh_default
 * when absent: hop_latency, link_bandwidth, core_gflops, hop_energy (numbers) and
 * compute_unit ("seconds" or "flops"; default seconds).
 * Read: every shape and value is checked; SM_EINPUT naming the file, dataset or
 * attribute and index. On success g is owned by the caller (sm_graph_free). */
int sm_graph_read(const char *path, sm_lc_graph *g, sm_mesh *mesh);
/* Write all of the above (atomically: temporary file, fsync, rename). */
int sm_graph_write(const char *path, const sm_lc_graph *g, const sm_mesh *mesh);

#endif
