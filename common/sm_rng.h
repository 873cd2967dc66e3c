/* sm_rng.h — counter-based random numbers (Philox4x32-10, Salmon et al., SC'11).
 *
 * A random value is a pure function of (key, counter): no hidden state, so a
 * value drawn for (seed, layer, element) or (seed, epoch, sample, step, pixel)
 * is the same on every rank, under every placement, and after a resume. That is
 * invariant I1 of the engine: randomness never depends on who draws it.
 */
#ifndef SM_RNG_H
#define SM_RNG_H

#include <stdint.h>

typedef struct { uint32_t v[4]; } sm_philox_ctr;
typedef struct { uint32_t v[2]; } sm_philox_key;

/* Ten rounds of Philox4x32 on one counter block. */
sm_philox_ctr sm_philox4x32(sm_philox_ctr ctr, sm_philox_key key);

/* Streams: distinct uses of the seed never share random numbers. */
enum sm_rng_stream {
    SM_STREAM_INIT_WEIGHT = 1,
    SM_STREAM_INIT_BIAS = 2,
    SM_STREAM_ENCODER = 3,
    SM_STREAM_SHUFFLE = 4,
    SM_STREAM_SYNTHETIC = 5,
    SM_STREAM_SPLIT = 6,
};

/* Four 32-bit words for (seed, stream, a, b). a and b are the caller's
 * coordinates, e.g. (layer, element index) or (sample index, step*N+pixel). */
sm_philox_ctr sm_rng_block(uint64_t seed, uint32_t stream, uint64_t a, uint64_t b);

/* One uniform float in [0, 1) with 24 random bits for coordinates (a, b);
 * uses word 0 of the block. */
float sm_rng_uniform(uint64_t seed, uint32_t stream, uint64_t a, uint64_t b);

/* Uniform double in [0,1) with 53 bits from words 0..1. */
double sm_rng_uniform_double(uint64_t seed, uint32_t stream, uint64_t a, uint64_t b);

#endif
