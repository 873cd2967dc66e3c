/* init.c — PyTorch-default initialisation, drawn element by element from the
 * counter RNG so that a slice of a layer needs nothing but its own range. */
#include "sm_kernels.h"

#include <math.h>

#include "sm_rng.h"

void sm_init_slice(float *w, float *b, uint64_t seed, int layer, int o0, int o1, int fan_in,
                   float gain) {
    const float bound_w = gain / sqrtf((float)fan_in);
    const float bound_b = 1.0f / sqrtf((float)fan_in);
    for (int o = o0; o < o1; o++) {
        for (int j = 0; j < fan_in; j++) {
            uint64_t element = (uint64_t)o * fan_in + j;
            float u = sm_rng_uniform(seed, SM_STREAM_INIT_WEIGHT, (uint64_t)layer, element);
            w[(size_t)(o - o0) * fan_in + j] = (2.0f * u - 1.0f) * bound_w;
        }
        float u = sm_rng_uniform(seed, SM_STREAM_INIT_BIAS, (uint64_t)layer, (uint64_t)o);
        if (b) b[o - o0] = (2.0f * u - 1.0f) * bound_b;
    }
}
