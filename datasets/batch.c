/* batch.c — the order in which a run visits a data set: freeing, splitting,
 * shuffling and gathering minibatches.
 *
 * Shapes: n = samples, B = batch, dim = c*h*w (static) or units (events),
 * T = steps (events only).
 *
 * I1 (DESIGN.md): every random choice here is a pure function of (seed,
 * stream, coordinates) through sm_rng, so the order is the same on every rank,
 * under every placement and after a resume.
 */
#include "sm_data.h"
#include "sm_common.h"
#include "sm_rng.h"

#include <stdlib.h>
#include <string.h>

void sm_dataset_free(sm_dataset *d) {
    if (!d) return;
    free(d->x);
    free(d->bytes);
    free(d->events);
    free(d->y);
    memset(d, 0, sizeof *d);
}

/* Fisher-Yates over order[0..n) with the uniform for position i drawn at
 * coordinates (a, i) of `stream`. */
static void fisher_yates(int32_t *order, int n, uint64_t seed, uint32_t stream, uint64_t a) {
    for (int i = 0; i < n; i++) order[i] = i;
    for (int i = n - 1; i > 0; i--) {
        double u = sm_rng_uniform_double(seed, stream, a, (uint64_t)i);
        int j = (int)(u * (i + 1));
        if (j > i) j = i; /* u < 1 makes this impossible; kept as a guard */
        int32_t tmp = order[i];
        order[i] = order[j];
        order[j] = tmp;
    }
}

/* sm_shuffle: see sm_data.h. The uniform for position i of epoch e is drawn
 * at coordinates (e, i) of SM_STREAM_SHUFFLE. */
void sm_shuffle(int32_t *order, int n, uint64_t seed, uint64_t epoch) {
    fisher_yates(order, n, seed, SM_STREAM_SHUFFLE, epoch);
}

/* A deep copy of the samples of `all` with keep[i] == want, in their original
 * order, into *part (which the caller frees with sm_dataset_free). */
static void copy_part(sm_dataset *part, const sm_dataset *all, const uint8_t *keep,
                      uint8_t want, int count) {
    *part = *all;
    part->n = count;
    part->x = NULL, part->bytes = NULL, part->events = NULL;
    part->y = sm_xmalloc((size_t)count * sizeof(int32_t));
    size_t dim = (size_t)sm_dataset_dim(all);
    /* a sample is `stride` bytes of events, bytes or floats, copied as it is */
    size_t stride = all->T > 0 ? sm_dataset_event_bytes(all) : all->bytes ? dim : dim * sizeof(float);
    uint8_t *to = sm_xmalloc((size_t)(count > 0 ? count : 1) * stride);
    const uint8_t *from = all->T > 0 ? all->events : all->bytes ? all->bytes : (const uint8_t *)all->x;
    if (all->T > 0) part->events = to;
    else if (all->bytes) part->bytes = to;
    else part->x = (float *)to;
    int k = 0;
    for (int i = 0; i < all->n; i++) {
        if (keep[i] != want) continue;
        part->y[k] = all->y[i];
        memcpy(to + (size_t)k * stride, from + (size_t)i * stride, stride);
        k++;
    }
}

/* sm_dataset_split: see sm_data.h. round(fraction*n) samples, the first ones
 * of a permutation drawn at coordinates (0, i) of SM_STREAM_SPLIT, go to
 * *second; each part keeps the original relative order of its samples. Both
 * parts keep the dimensions and n_classes of `all`. fraction is clamped to
 * [0, 1]. Cannot fail. */
void sm_dataset_split(const sm_dataset *all, double fraction, uint64_t seed,
                      sm_dataset *first, sm_dataset *second) {
    if (!(fraction > 0)) fraction = 0; /* also catches NaN */
    if (fraction > 1) fraction = 1;
    int n = all->n;
    int n_second = (int)(fraction * n + 0.5);
    if (n_second > n) n_second = n;
    int32_t *order = sm_xmalloc((size_t)(n > 0 ? n : 1) * sizeof(int32_t));
    uint8_t *in_second = sm_xcalloc((size_t)(n > 0 ? n : 1), 1);
    fisher_yates(order, n, seed, SM_STREAM_SPLIT, 0);
    for (int i = 0; i < n_second; i++) in_second[order[i]] = 1;
    copy_part(first, all, in_second, 0, n - n_second);
    copy_part(second, all, in_second, 1, n_second);
    free(order);
    free(in_second);
}

/* sm_gather_batch: see sm_data.h. Rows count..B-1 of x (the padding of a last,
 * short batch) are zeroed; y[count..B) is left untouched. A start outside
 * [0, n) copies nothing and returns 0. */
int sm_gather_batch(const sm_dataset *d, const int32_t *order, int start, int B, float *x,
                    int32_t *y) {
    int count = 0;
    if (start >= 0 && start < d->n && B > 0) count = d->n - start < B ? d->n - start : B;
    int dim = sm_dataset_dim(d);
    if (B <= 0) return 0;
    if (d->T == 0) {
        for (int b = 0; b < count; b++) {
            int i = order ? order[start + b] : start + b;
            if (d->bytes)
                for (int j = 0; j < dim; j++) x[(size_t)b * dim + j] = sm_dataset_value(d, i, j);
            else
                memcpy(x + (size_t)b * dim, d->x + (size_t)i * dim, (size_t)dim * sizeof(float));
            y[b] = d->y[i];
        }
        memset(x + (size_t)count * dim, 0, (size_t)(B - count) * dim * sizeof(float));
        return count;
    }
    /* events: x is [T][B][units]; sample b's bits are [T][units] in time order */
    memset(x, 0, (size_t)d->T * B * dim * sizeof(float));
    size_t stride = sm_dataset_event_bytes(d);
    for (int b = 0; b < count; b++) {
        int i = order ? order[start + b] : start + b;
        const uint8_t *bits = d->events + (size_t)i * stride;
        y[b] = d->y[i];
        for (int t = 0; t < d->T; t++) {
            float *row = x + ((size_t)t * B + b) * dim;
            size_t k0 = (size_t)t * dim;
            for (int u = 0; u < dim; u++) {
                size_t k = k0 + (size_t)u;
                row[u] = (float)((bits[k >> 3] >> (k & 7)) & 1);
            }
        }
    }
    return count;
}
