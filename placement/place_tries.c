/* place_tries.c — what a search need not evaluate: the classes of
 * interchangeable LCs (a swap of two of them changes nothing) and the memory
 * check of a try (one that overfills a core is never accepted). Every search
 * of sm_place.h that walks by swaps and moves — sa, the local search, rl's
 * descent and swap search — refuses both kinds of try without spending an
 * evaluation on them, so that "evaluations" counts the same thing for each:
 * tries that could change the placement. docs/placement.md, "Tries no search
 * evaluates".
 */
#define _GNU_SOURCE /* qsort_r */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "place_internal.h"
#include "sm_common.h"

/* Two LCs are interchangeable when they have the same compute and memory, send
 * the same bytes to the same LCs and receive the same bytes from the same LCs
 * (the slices of one layer, typically). Swapping two such LCs gives the same
 * placement up to their names, so every term of the cost is unchanged: such a
 * try can be skipped without evaluating it. cls[i] = the lowest id of i's
 * class. Exact (hashes only group candidates); conservative: two LCs that
 * exchange traffic with each other are never put in one class. */
static uint64_t mix(uint64_t h, uint64_t v) {
    h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    return h * 0xff51afd7ed558ccdull;
}
static uint64_t double_bits(double v) {
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b;
}
typedef struct {
    const sm_lc_graph *g;
    const int *trow, *tcol; /* transpose of g (senders of each LC, ascending) */
    const int64_t *tbytes;
    const uint64_t *hash;
} class_ctx;
static int same_class(const class_ctx *x, int i, int j) {
    const sm_lc_graph *g = x->g;
    if (double_bits(g->compute[i]) != double_bits(g->compute[j]) ||
        double_bits(g->memory[i]) != double_bits(g->memory[j]))
        return 0;
    int li = g->row[i + 1] - g->row[i], lj = g->row[j + 1] - g->row[j];
    if (li != lj || memcmp(g->col + g->row[i], g->col + g->row[j], sizeof *g->col * (size_t)li) ||
        memcmp(g->bytes + g->row[i], g->bytes + g->row[j], sizeof *g->bytes * (size_t)li))
        return 0;
    li = x->trow[i + 1] - x->trow[i], lj = x->trow[j + 1] - x->trow[j];
    return li == lj && !memcmp(x->tcol + x->trow[i], x->tcol + x->trow[j], sizeof *x->tcol * (size_t)li) &&
           !memcmp(x->tbytes + x->trow[i], x->tbytes + x->trow[j], sizeof *x->tbytes * (size_t)li);
}
static int by_hash(const void *a, const void *b, void *ctx) {
    const uint64_t *h = ((const class_ctx *)ctx)->hash;
    int i = *(const int *)a, j = *(const int *)b;
    return h[i] < h[j] ? -1 : h[i] > h[j] ? 1 : i - j;
}
void sm_place_classes(const sm_lc_graph *g, int *cls) {
    const int n = g->n, nnz = g->row[n];
    int *trow = sm_xcalloc((size_t)n + 1, sizeof *trow), *tcol = sm_xmalloc(sizeof *tcol * (size_t)(nnz + 1));
    int64_t *tbytes = sm_xmalloc(sizeof *tbytes * (size_t)(nnz + 1));
    int *fill = sm_xmalloc(sizeof *fill * (size_t)(n + 1)), *order = sm_xmalloc(sizeof *order * (size_t)n);
    uint64_t *hash = sm_xmalloc(sizeof *hash * (size_t)n);
    for (int k = 0; k < nnz; k++) trow[g->col[k] + 1]++;
    for (int i = 0; i < n; i++) trow[i + 1] += trow[i];
    memcpy(fill, trow, sizeof *fill * (size_t)n);
    for (int i = 0; i < n; i++) /* ascending senders per row */
        for (int k = g->row[i]; k < g->row[i + 1]; k++) tcol[fill[g->col[k]]] = i, tbytes[fill[g->col[k]]++] = g->bytes[k];
    for (int i = 0; i < n; i++) {
        uint64_t h = mix(mix(0, double_bits(g->compute[i])), double_bits(g->memory[i]));
        for (int k = g->row[i]; k < g->row[i + 1]; k++) h = mix(mix(h, (uint64_t)g->col[k]), (uint64_t)g->bytes[k]);
        h = mix(h, UINT64_MAX);
        for (int k = trow[i]; k < trow[i + 1]; k++) h = mix(mix(h, (uint64_t)tcol[k]), (uint64_t)tbytes[k]);
        hash[i] = h, order[i] = i, cls[i] = i;
    }
    class_ctx x = {g, trow, tcol, tbytes, hash};
    qsort_r(order, (size_t)n, sizeof *order, by_hash, &x);
    for (int a = 0; a < n; a++) { /* within a run of equal hashes: join the first earlier LC of the same class */
        int i = order[a];
        for (int b = a - 1; b >= 0 && hash[order[b]] == hash[i]; b--)
            if (cls[order[b]] == order[b] && same_class(&x, order[b], i)) {
                cls[i] = order[b];
                break;
            }
    }
    free(trow), free(tcol), free(tbytes), free(fill), free(order), free(hash);
}
