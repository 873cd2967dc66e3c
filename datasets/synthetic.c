/* synthetic.c — a small learnable data set made from the seed alone.
 *
 * Each class k has a prototype: every value is LOW or HIGH with probability
 * 1/2, a random binary pattern, so two prototypes of dim D differ in about D/2
 * places by HIGH-LOW = 0.7. A sample is its class prototype plus uniform noise
 * in [-NOISE, NOISE), clamped to [0, 1]; NOISE < (HIGH-LOW)/2 keeps every
 * sample nearer its own prototype than any other, value by value, so the
 * classes are separable whenever the prototypes differ.
 *
 * Random coordinates (stream SM_STREAM_SYNTHETIC), with tags in the high bits
 * of `a` so that the uses never share a number:
 *   prototype value j of class k   (TAG_PROTO  | k, j)
 *   noise of value j of sample i   (TAG_NOISE  | i, j)
 *   spike of unit j, step t, sample i  (TAG_SPIKE | i, t*D + j)
 * Labels are i mod n_classes: balanced, and no randomness needed.
 */
#include "sm_data.h"
#include "sm_common.h"
#include "sm_rng.h"

#include <stdlib.h>
#include <string.h>

#define SYN_LOW 0.15f
#define SYN_HIGH 0.85f
#define SYN_NOISE 0.25f
#define TAG_PROTO (1ull << 48)
#define TAG_NOISE (2ull << 48)
#define TAG_SPIKE (3ull << 48)

static float prototype_value(uint64_t seed, int k, int j) {
    float u = sm_rng_uniform(seed, SM_STREAM_SYNTHETIC, TAG_PROTO | (uint64_t)k, (uint64_t)j);
    return u < 0.5f ? SYN_LOW : SYN_HIGH;
}

/* Sample i's value j: prototype plus noise, clamped to [0, 1]. */
static float sample_value(uint64_t seed, const float *proto, int i, int j) {
    float u = sm_rng_uniform(seed, SM_STREAM_SYNTHETIC, TAG_NOISE | (uint64_t)i, (uint64_t)j);
    float v = proto[j] + SYN_NOISE * (2.0f * u - 1.0f);
    return v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v);
}

/* sm_synthetic: see sm_data.h. Static: c x h x w images. Events (T > 0): the
 * c*h*w values become units (c = h = 1, w = c*h*w) and unit j of sample i
 * spikes at step t when a uniform drawn for (i, t, j) is below the sample's
 * value j. Invalid sizes (n < 0, a dimension or n_classes < 1, T < 0) leave
 * *out empty. Cannot fail otherwise; the caller frees with sm_dataset_free. */
void sm_synthetic(sm_dataset *out, int n, int c, int h, int w, int T, int n_classes,
                  uint64_t seed) {
    memset(out, 0, sizeof *out);
    if (n < 0 || c < 1 || h < 1 || w < 1 || T < 0 || n_classes < 1) return;
    int dim = c * h * w;
    float *protos = sm_xmalloc((size_t)n_classes * dim * sizeof(float));
    for (int k = 0; k < n_classes; k++)
        for (int j = 0; j < dim; j++) protos[(size_t)k * dim + j] = prototype_value(seed, k, j);

    out->n = n;
    out->T = T;
    out->n_classes = n_classes;
    out->y = sm_xmalloc((size_t)(n > 0 ? n : 1) * sizeof(int32_t));
    for (int i = 0; i < n; i++) out->y[i] = i % n_classes;

    if (T == 0) {
        out->c = c, out->h = h, out->w = w;
        out->x = sm_falloc((size_t)n * dim);
        for (int i = 0; i < n; i++) {
            const float *proto = protos + (size_t)out->y[i] * dim;
            for (int j = 0; j < dim; j++) out->x[(size_t)i * dim + j] = sample_value(seed, proto, i, j);
        }
    } else {
        out->c = 1, out->h = 1, out->w = dim;
        size_t stride = sm_dataset_event_bytes(out);
        out->events = sm_xcalloc((size_t)(n > 0 ? n : 1), stride);
        float *value = sm_xmalloc((size_t)dim * sizeof(float));
        for (int i = 0; i < n; i++) {
            const float *proto = protos + (size_t)out->y[i] * dim;
            uint8_t *bits = out->events + (size_t)i * stride;
            for (int j = 0; j < dim; j++) value[j] = sample_value(seed, proto, i, j);
            for (int t = 0; t < T; t++)
                for (int j = 0; j < dim; j++) {
                    size_t k = (size_t)t * dim + (size_t)j;
                    float u = sm_rng_uniform(seed, SM_STREAM_SYNTHETIC, TAG_SPIKE | (uint64_t)i, k);
                    if (u < value[j]) bits[k >> 3] |= (uint8_t)(1u << (k & 7));
                }
        }
        free(value);
    }
    free(protos);
}
