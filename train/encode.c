/* encode.c — static images to input currents or spikes over T steps.
 * x [B,D] in [0,1] ; out [T,B,D]. See sm_kernels.h for the three codes. */
#include "sm_kernels.h"

#include <math.h>
#include <string.h>

#include "sm_rng.h"

void sm_encode(float *out, const float *x, const int32_t *sample_ids, int T, int B, int D,
               sm_encoder_kind kind, uint64_t seed, uint64_t epoch) {
    const size_t BD = (size_t)B * D;
    switch (kind) {
    case SM_ENCODE_DIRECT:
        for (int t = 0; t < T; t++) memcpy(out + t * BD, x, sizeof(float) * BD);
        break;
    case SM_ENCODE_RATE:
        for (int b = 0; b < B; b++) {
            /* (epoch, sample) pick the stream of one sample; (t, d) the draw */
            uint64_t a = (epoch << 32) | (uint32_t)(sample_ids ? sample_ids[b] : b);
            for (int t = 0; t < T; t++)
                for (int d = 0; d < D; d++) {
                    float u = sm_rng_uniform(seed, SM_STREAM_ENCODER, a, (uint64_t)t * D + d);
                    out[t * BD + (size_t)b * D + d] = u < x[(size_t)b * D + d] ? 1.0f : 0.0f;
                }
        }
        break;
    case SM_ENCODE_LATENCY:
        memset(out, 0, sizeof(float) * T * BD);
        for (size_t i = 0; i < BD; i++) {
            float v = x[i];
            if (v <= 0.0f) continue;
            if (v > 1.0f) v = 1.0f;
            int t = (int)floorf((1.0f - v) * (float)(T - 1) + 0.5f);
            out[(size_t)t * BD + i] = 1.0f;
        }
        break;
    }
}
