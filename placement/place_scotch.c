/* place_scotch.c — the `scotch` method: static mapping of the LC graph onto the
 * mesh by libscotch 7 (SCOTCH_graphMap), or re-mapping from the placement in use
 * with a migration cost (SCOTCH_graphRemap). docs/placement.md, "scotch".
 *
 * What Scotch sees:
 *   graph   one vertex per LC, load = its compute (scaled to integers, >= 1);
 *           one undirected edge per pair of LCs that talk, weight = bytes i→j +
 *           bytes j→i, so Σ weight · hops = hop_bytes of the cost model.
 *   target  a set of cores T: the whole w x h mesh (SCOTCH_archMesh2, terminal t
 *           = core t, row-major), or a sub-architecture of it (SCOTCH_archSub,
 *           terminal k = T[k]) when only some cores may or should be used.
 *   remap   old part = p->current; migration cost of LC i = migration_weight ·
 *           memory_i / w_hop_bytes in hop-bytes, which is the sm_place.h price
 *           "migration_weight · bytes moved / ref.hop_bytes" in the units of the
 *           hop_bytes term (w_hop_bytes · hop_bytes / ref.hop_bytes).
 *
 * Integers. SCOTCH_Num is 32-bit here and Scotch sums communication and
 * migration costs in it. One factor s (<= 1) turns hop-bytes into Scotch units
 * for both edge weights and migration costs, chosen so that Σ weight · diameter
 * (both arcs of every edge) + Σ migration stays below 2^29; the migration ratio
 * passed to Scotch is then exactly 1 (Scotch turns it into the fraction
 * round(100 · ratio) / 100, so other values would be rounded). A migration that
 * costs more than all communication could ever save is capped at that amount,
 * which changes no decision and keeps the sum small.
 *
 * Candidates (a fresh mapping, no `current`):
 *   A  Scotch on all usable cores [0, usable);
 *   B  when there are fewer LCs than usable cores: Scotch on the most compact
 *      block of cores (columns 0..a-1 of rows 0..b-1, a·b >= n, within the usable
 *      prefix). Scotch balances load over every terminal it is given, so on a
 *      large mesh it spreads a small graph thin; the block keeps partners close.
 *   and for each, when a core holds more than sm_place_slots LCs, a variant
 *   with the excess LCs moved to the nearest free core (sm_place_nearest_free).
 * Each candidate goes through sm_place_repair (memory feasibility), is evaluated
 * once while the budget lasts, and the cheapest is returned (ties: the first, in
 * the order above). A re-mapping has one candidate: the cost model does not see
 * migration, so it could not choose fairly between them.
 * Evaluations: 1 to 4.
 *
 * Determinism: every call runs in its own SCOTCH_Context with a private random
 * generator seeded from p->seed, the deterministic option on and one thread, so
 * the same problem gives the same placement, and the global state of libscotch
 * (SCOTCH_randomSeed) is not touched.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <scotch.h>

#include "place_internal.h"
#include "sm_common.h"

#define SCOTCH_COST_LIMIT (1 << 29) /* Σ communication + migration, in Scotch units */
#define SCOTCH_LOAD_LIMIT (1 << 24) /* Σ vertex loads */
#define SCOTCH_IMBALANCE 0.05
#define MAX_CANDIDATES 4

typedef struct { int a, b; int64_t bytes; } lc_pair; /* a < b */

static int pair_cmp(const void *x, const void *y) {
    const lc_pair *p = x, *q = y;
    if (p->a != q->a) return p->a < q->a ? -1 : 1;
    return (p->b > q->b) - (p->b < q->b);
}

/* The Scotch arrays of the symmetric LC graph (base 0), all owned by the struct. */
typedef struct {
    SCOTCH_Num vertnbr, edgenbr;
    SCOTCH_Num *verttab, *velotab, *edgetab, *edlotab;
    SCOTCH_Num *vmlotab; /* [n] migration costs, or NULL */
} scotch_graph;

static void graph_free(scotch_graph *s) {
    free(s->verttab); free(s->velotab); free(s->edgetab); free(s->edlotab); free(s->vmlotab);
    memset(s, 0, sizeof *s);
}

static SCOTCH_Num to_num(double v, SCOTCH_Num least) {
    v = nearbyint(v);
    return v < least ? least : (SCOTCH_Num)v;
}

/* Build s from g: pairs merged, loads from compute; migration[n] (hop-bytes
 * units, NULL: no re-mapping) into vmlotab. `diameter` = longest route in hops.
 * SM_EINPUT when the graph has more edges than SCOTCH_Num can count. */
static int graph_build(const sm_lc_graph *g, int diameter, const double *migration, scotch_graph *s) {
    const int n = g->n, nnz = g->row[n];
    memset(s, 0, sizeof *s);
    lc_pair *pairs = sm_xmalloc(sizeof(lc_pair) * (size_t)(nnz > 0 ? nnz : 1));
    for (int i = 0; i < n; i++)
        for (int k = g->row[i]; k < g->row[i + 1]; k++) {
            int j = g->col[k];
            pairs[k] = (lc_pair){i < j ? i : j, i < j ? j : i, g->bytes[k]};
        }
    qsort(pairs, (size_t)nnz, sizeof *pairs, pair_cmp);
    int m = 0; /* undirected edges */
    double comm = 0.0; /* Σ bytes, both directions */
    for (int k = 0; k < nnz; k++) {
        if (m > 0 && pairs[m - 1].a == pairs[k].a && pairs[m - 1].b == pairs[k].b)
            pairs[m - 1].bytes += pairs[k].bytes;
        else
            pairs[m++] = pairs[k];
        comm += (double)pairs[k].bytes;
    }
    if (m > SCOTCH_NUMMAX / 2 - 1) {
        free(pairs);
        return sm_error("scotch: the LC graph has %d communicating pairs, more than libscotch "
                        "can index (%d)", m, SCOTCH_NUMMAX / 2 - 1);
    }
    const double diam = diameter > 0 ? diameter : 1;
    /* a move can save at most all of the communication: cap each migration there */
    double migration_total = 0.0, cap = comm * diam + 1.0;
    for (int i = 0; migration && i < n; i++) migration_total += fmin(migration[i], cap);
    /* edges rounding up to 1 add at most 2m·diam units */
    double room = (double)SCOTCH_COST_LIMIT - 2.0 * m * diam;
    double need = 2.0 * comm * diam + migration_total;
    double scale = need > 0 && room > 0 ? fmin(1.0, room / need) : 1.0;
    if (room <= 0) scale = 0.0; /* so many edges that each gets weight 1 */

    int *fill = sm_xcalloc((size_t)n + 1, sizeof(int));
    for (int k = 0; k < m; k++) fill[pairs[k].a]++, fill[pairs[k].b]++;
    s->vertnbr = n;
    s->edgenbr = 2 * m;
    s->verttab = sm_xmalloc(sizeof(SCOTCH_Num) * ((size_t)n + 1));
    s->velotab = sm_xmalloc(sizeof(SCOTCH_Num) * (size_t)(n > 0 ? n : 1));
    s->edgetab = sm_xmalloc(sizeof(SCOTCH_Num) * (size_t)(2 * m + 1));
    s->edlotab = sm_xmalloc(sizeof(SCOTCH_Num) * (size_t)(2 * m + 1));
    s->verttab[0] = 0;
    for (int i = 0; i < n; i++) s->verttab[i + 1] = s->verttab[i] + fill[i];
    for (int i = 0; i < n; i++) fill[i] = s->verttab[i]; /* next free slot of vertex i */
    for (int k = 0; k < m; k++) {
        SCOTCH_Num w = to_num((double)pairs[k].bytes * scale, 1);
        int a = pairs[k].a, b = pairs[k].b;
        s->edgetab[fill[a]] = b, s->edlotab[fill[a]++] = w;
        s->edgetab[fill[b]] = a, s->edlotab[fill[b]++] = w;
    }
    free(fill);
    free(pairs);

    double compute = 0.0;
    for (int i = 0; i < n; i++) compute += g->compute[i] > 0 ? g->compute[i] : 0.0;
    for (int i = 0; i < n; i++)
        s->velotab[i] = compute > 0 && isfinite(compute) && g->compute[i] > 0
                            ? to_num(g->compute[i] / compute * SCOTCH_LOAD_LIMIT, 1) : 1;
    if (migration) {
        s->vmlotab = sm_xmalloc(sizeof(SCOTCH_Num) * (size_t)(n > 0 ? n : 1));
        for (int i = 0; i < n; i++) s->vmlotab[i] = to_num(fmin(migration[i], cap) * scale, 0);
    }
    return SM_OK;
}

/* Map s onto the target cores[k] (k < n_cores, ascending; all cores of the mesh
 * when n_cores == mesh size), writing cores into lc_core. With old (cores, or
 * NULL) and s->vmlotab, a re-mapping. SM_EFAIL when libscotch refuses. */
static int scotch_map(const sm_place_problem *p, scotch_graph *s, const int *cores, int n_cores,
                      const int32_t *old, int32_t *lc_core) {
    const sm_mesh *mesh = p->mesh;
    const int n = p->g->n;
    SCOTCH_Context context;
    SCOTCH_Graph graph, bound;
    SCOTCH_Arch mesh_arch, sub_arch;
    SCOTCH_Strat strat;
    SCOTCH_contextInit(&context);
    SCOTCH_graphInit(&graph);
    SCOTCH_graphInit(&bound);
    SCOTCH_archInit(&mesh_arch);
    SCOTCH_archInit(&sub_arch);
    SCOTCH_stratInit(&strat);
    SCOTCH_Num *part = sm_xmalloc(sizeof(SCOTCH_Num) * (size_t)n);
    const SCOTCH_Arch *target = &mesh_arch;
    const char *step = "SCOTCH_contextRandomClone";
    int err = SCOTCH_contextRandomClone(&context);
    if (!err) {
        SCOTCH_contextRandomSeed(&context, (SCOTCH_Num)((p->seed ^ (p->seed >> 31)) & 0x7fffffff));
        step = "SCOTCH_contextOptionSetNum";
        err = SCOTCH_contextOptionSetNum(&context, SCOTCH_OPTIONNUMDETERMINISTIC, 1);
    }
    if (!err) step = "SCOTCH_contextThreadSpawn", err = SCOTCH_contextThreadSpawn(&context, 1, NULL);
    if (!err) {
        step = "SCOTCH_graphBuild";
        err = SCOTCH_graphBuild(&graph, 0, s->vertnbr, s->verttab, s->verttab + 1, s->velotab, NULL,
                                s->edgenbr, s->edgetab, s->edlotab);
    }
    if (!err) step = "SCOTCH_contextBindGraph", err = SCOTCH_contextBindGraph(&context, &graph, &bound);
    if (!err) step = "SCOTCH_archMesh2", err = SCOTCH_archMesh2(&mesh_arch, mesh->mesh_w, mesh->mesh_h);
    if (!err && n_cores < sm_mesh_cores(mesh)) {
        SCOTCH_Num *list = sm_xmalloc(sizeof(SCOTCH_Num) * (size_t)n_cores);
        for (int k = 0; k < n_cores; k++) list[k] = cores[k];
        step = "SCOTCH_archSub";
        err = SCOTCH_archSub(&sub_arch, &mesh_arch, n_cores, list);
        free(list); /* the sub-architecture keeps its own copy */
        target = &sub_arch;
    }
    if (!err) {
        step = "SCOTCH_stratGraphMapBuild";
        SCOTCH_Num flags = SCOTCH_STRATQUALITY | (old ? SCOTCH_STRATREMAP : 0);
        err = SCOTCH_stratGraphMapBuild(&strat, flags, n_cores, SCOTCH_IMBALANCE);
    }
    if (!err && !old) step = "SCOTCH_graphMap", err = SCOTCH_graphMap(&bound, target, &strat, part);
    if (!err && old) {
        /* old parts as terminal numbers of the target; -1: not on the target */
        int *terminal = sm_xmalloc(sizeof(int) * (size_t)sm_mesh_cores(mesh));
        for (int c = 0; c < sm_mesh_cores(mesh); c++) terminal[c] = -1;
        for (int k = 0; k < n_cores; k++) terminal[cores[k]] = k;
        SCOTCH_Num *old_part = sm_xmalloc(sizeof(SCOTCH_Num) * (size_t)n);
        for (int i = 0; i < n; i++)
            old_part[i] = old[i] >= 0 && old[i] < sm_mesh_cores(mesh) ? terminal[old[i]] : -1;
        step = "SCOTCH_graphRemap";
        err = SCOTCH_graphRemap(&bound, target, old_part, 1.0, s->vmlotab, &strat, part);
        free(old_part);
        free(terminal);
    }
    SCOTCH_stratExit(&strat);
    SCOTCH_archExit(&sub_arch);
    SCOTCH_archExit(&mesh_arch);
    SCOTCH_graphExit(&bound);
    SCOTCH_graphExit(&graph);
    SCOTCH_contextExit(&context);
    int rc = SM_OK;
    if (err)
        rc = sm_fail("scotch: %s failed for %d LCs on %d cores of a %dx%d mesh; libscotch printed "
                     "the reason on stderr", step, n, n_cores, mesh->mesh_w, mesh->mesh_h);
    for (int i = 0; !rc && i < n; i++) {
        if (part[i] < 0 || part[i] >= n_cores)
            rc = sm_fail("scotch: libscotch mapped LC %d to terminal %d, outside the %d target "
                         "cores", i, (int)part[i], n_cores);
        else
            lc_core[i] = cores[part[i]];
    }
    free(part);
    return rc;
}

/* The most compact block of cores holding n LCs one per core: columns 0..a-1
 * of rows 0..b-1 with a·b >= n, inside the usable prefix, smallest a + b (then
 * smallest area, then widest). Writes its cores (ascending) and returns how
 * many; returns `usable` (and writes nothing) when no block is smaller. */
static int compact_block(const sm_place_problem *p, int *cores) {
    const int w = p->mesh->mesh_w, h = p->mesh->mesh_h, n = p->g->n, usable = sm_place_usable(p);
    int best_a = 0, best_b = 0;
    for (int a = w; a >= 1; a--) {
        int b = (n + a - 1) / a;
        if (b > h || (b - 1) * w + a - 1 >= usable) continue; /* leaves the usable cores */
        if (!best_a || a + b < best_a + best_b || (a + b == best_a + best_b && a * b < best_a * best_b))
            best_a = a, best_b = b;
    }
    if (!best_a || best_a * best_b >= usable) return usable;
    int k = 0;
    for (int y = 0; y < best_b; y++)
        for (int x = 0; x < best_a; x++) cores[k++] = y * w + x;
    return k;
}

/* Move the LCs beyond sm_place_slots on a core (the highest ids of that core)
 * to the nearest core with a free slot and memory room. Returns how many moved. */
static int spread_excess(const sm_place_problem *p, int32_t *lc_core) {
    const int n = p->g->n, cores = sm_mesh_cores(p->mesh), slots = sm_place_slots(p);
    const int w = p->mesh->mesh_w;
    int *load = sm_xcalloc((size_t)cores, sizeof(int));
    double *mem = sm_xcalloc((size_t)cores, sizeof(double));
    int *excess = sm_xmalloc(sizeof(int) * (size_t)n);
    int n_excess = 0, moved = 0;
    for (int i = 0; i < n; i++) {
        int c = lc_core[i];
        if (load[c] < slots) load[c]++, mem[c] += p->g->memory[i];
        else excess[n_excess++] = i;
    }
    for (int k = 0; k < n_excess; k++) {
        int i = excess[k], c = lc_core[i];
        int to = sm_place_nearest_free(p, c % w, c / w, p->g->memory[i], load, mem);
        if (to < 0) to = c;
        moved += to != c;
        lc_core[i] = to;
        load[to]++, mem[to] += p->g->memory[i];
    }
    free(load); free(mem); free(excess);
    return moved;
}

int sm_place_scotch(const sm_place_problem *p, int32_t *lc_core, long *evals) {
    *evals = 0;
    sm_evals e;
    int rc = sm_evals_init(&e, p);
    if (rc) return rc;
    const sm_mesh *mesh = p->mesh;
    const int n = p->g->n, usable = sm_place_usable(p);
    if (n <= 0) return SM_OK;
    const int remap = p->current && p->migration_weight > 0;

    /* candidates[k·n ...], in order of preference on equal cost */
    int32_t *cand = sm_xmalloc(sizeof(int32_t) * (size_t)n * MAX_CANDIDATES);
    int n_cand = 0;
    if (usable == 1) {
        for (int i = 0; i < n; i++) cand[i] = 0;
        n_cand = 1;
    } else {
        double *migration = NULL;
        if (remap) {
            migration = sm_xmalloc(sizeof(double) * (size_t)n);
            double w_hb = p->weights.hop_bytes > 0 ? p->weights.hop_bytes : 1.0;
            for (int i = 0; i < n; i++)
                migration[i] = p->migration_weight / w_hb * (p->g->memory[i] > 0 ? p->g->memory[i] : 0);
        }
        scotch_graph s;
        rc = graph_build(p->g, mesh->mesh_w + mesh->mesh_h - 2, migration, &s);
        free(migration);
        int *cores = sm_xmalloc(sizeof(int) * (size_t)usable);
        for (int c = 0; c < usable; c++) cores[c] = c;
        if (!rc) rc = scotch_map(p, &s, cores, usable, remap ? p->current : NULL, cand);
        if (!rc) n_cand = 1;
        int n_block = remap ? usable : compact_block(p, cores);
        if (!rc && n_block < usable) {
            rc = scotch_map(p, &s, cores, n_block, NULL, cand + (size_t)n);
            if (!rc) n_cand = 2;
        }
        free(cores);
        graph_free(&s);
        if (rc) {
            free(cand);
            return rc;
        }
        for (int k = 0, base = n_cand; !remap && k < base; k++) {
            int32_t *next = cand + (size_t)n_cand * n;
            memcpy(next, cand + (size_t)k * n, sizeof(int32_t) * (size_t)n);
            if (spread_excess(p, next)) n_cand++;
        }
    }
    double best = INFINITY;
    for (int k = 0; k < n_cand && (k == 0 || sm_evals_left(&e) > 0); k++) {
        int32_t *c = cand + (size_t)k * n;
        sm_place_repair(p, c);
        int seen = 0;
        for (int j = 0; j < k && !seen; j++)
            seen = !memcmp(c, cand + (size_t)j * n, sizeof(int32_t) * (size_t)n);
        if (seen) continue;
        double cost = sm_evals_full(&e, c, NULL);
        if (cost < best) {
            best = cost;
            memcpy(lc_core, c, sizeof(int32_t) * (size_t)n);
        }
    }
    free(cand);
    *evals = e.n;
    return SM_OK;
}
