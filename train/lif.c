/* lif.c — leaky integrate-and-fire neurons through time, forward and BPTT.
 *
 * Per neuron (DESIGN.md, snnTorch Leaky):
 *   r[t] = H(U[t-1] − θ)                      (= S[t-1]; no gradient)
 *   subtract: U[t] = β·U[t-1] + I[t] − r[t]·θ
 *   zero:     U[t] = (β·U[t-1] + I[t])·(1 − r[t])
 *   S[t] = H(U[t] − θ), strict;  dS/dU = surrogate(U − θ)
 * Backward, with g[t] = dL/dU[t]:
 *   g[t] = dL/dS[t]·σ'(U[t]) + dL/dU[t](direct) + c[t+1]·g[t+1],
 *   c = β (subtract) or β·(1 − r) (zero);  dL/dI[t] = g[t] (subtract), g[t]·(1 − r[t]) (zero).
 * P neurons (times samples) are independent, so the loops run over P inside t.
 */
#include "sm_kernels.h"

#include <math.h>
#include <string.h>

#include "sm_common.h"
#include "sm_parallel.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

/* The two surrogate derivatives at x = U − θ. Inlined into every vector clone
 * of the loops below (a call into the baseline function from a clone cannot
 * be inlined); sm_lif_backward_recompute calls them in a loop per kind, so
 * that the choice of kind is not made per element. */
static inline __attribute__((always_inline)) float atan_grad(float k, float half, float x) {
    const float z = k * x; /* k = π/2 · α, half = α/2 */
    return half / (1.0f + z * z);
}
static inline __attribute__((always_inline)) float fast_sigmoid_grad(float slope, float x) {
    const float d = 1.0f + slope * fabsf(x);
    return 1.0f / (d * d);
}
static inline __attribute__((always_inline)) float surrogate(const sm_lif_params *p, float u) {
    const float x = u - p->threshold;
    if (p->surrogate == SM_SURROGATE_ATAN) return atan_grad((float)M_PI * 0.5f * p->alpha, 0.5f * p->alpha, x);
    return fast_sigmoid_grad(p->slope, x);
}

float sm_surrogate_grad(const sm_lif_params *p, float u) { return surrogate(p, u); }

SM_VECTOR_CLONES
void sm_lif_forward(float *spk, float *mem, const float *cur, int cur_static,
                    int T, size_t P, const sm_lif_params *p) {
    const float beta = p->beta, thr = p->threshold;
    for (int t = 0; t < T; t++) {
        const float *I = cur_static ? cur : cur + (size_t)t * P;
        const float *prev = t ? mem + (size_t)(t - 1) * P : NULL;
        float *U = mem + (size_t)t * P, *S = spk + (size_t)t * P;
        if (p->reset == SM_RESET_SUBTRACT) {
            for (size_t i = 0; i < P; i++) {
                float up = prev ? prev[i] : 0.0f;
                float r = up > thr ? 1.0f : 0.0f;
                float u = beta * up + I[i];
                u = u - r * thr;
                U[i] = u;
                S[i] = u > thr ? 1.0f : 0.0f;
            }
        } else {
            for (size_t i = 0; i < P; i++) {
                float up = prev ? prev[i] : 0.0f;
                float u = up > thr ? 0.0f : beta * up + I[i];
                U[i] = u;
                S[i] = u > thr ? 1.0f : 0.0f;
            }
        }
    }
}

SM_VECTOR_CLONES
void sm_lif_backward(float *dcur, const float *dspk, const float *dmem, const float *mem,
                     const float *spk, int T, size_t P, const sm_lif_params *p) {
    const float beta = p->beta;
    const int zero = p->reset == SM_RESET_ZERO;
    /* dcur[t] holds g[t] until it is turned into dL/dI[t]; the carry for step
     * t reads g[t+1], which is kept in dcur[t+1] as g*(1-r) in zero mode. */
    for (int t = T - 1; t >= 0; t--) {
        float *D = dcur + (size_t)t * P;
        const float *U = mem + (size_t)t * P;
        const float *dS = dspk ? dspk + (size_t)t * P : NULL;
        const float *dM = dmem ? dmem + (size_t)t * P : NULL;
        const float *Dn = t + 1 < T ? dcur + (size_t)(t + 1) * P : NULL;
        const float *rprev = t ? spk + (size_t)(t - 1) * P : NULL; /* r[t] = S[t-1] */
        for (size_t i = 0; i < P; i++) {
            float g = 0.0f;
            if (dS) g = dS[i] * surrogate(p, U[i]);
            if (dM) g += dM[i];
            /* subtract: dU[t+1]/dU[t] = β and dL/dI[t+1] = g[t+1].
             * zero: dU[t+1]/dU[t] = β(1−r[t+1]) and dL/dI[t+1] = g[t+1](1−r[t+1]),
             * so in both modes the carry is β · dL/dI[t+1]. */
            if (Dn) g += beta * Dn[i];
            if (zero && rprev && rprev[i] > 0.5f) g = 0.0f;
            D[i] = g;
        }
    }
}

/* ---- without keeping the membrane (lean BPTT) ----------------------------- */

/* One step of the neurons: U = the membrane after the step, from the one
 * before (up; 0 before the first step) and the current; the same operations
 * as sm_lif_forward. restrict and the first step apart let GCC vectorise it. */
static inline __attribute__((always_inline)) void lif_step(float *restrict U, float *restrict S,
                                                            const float *restrict up, const float *restrict I,
                                                            size_t n, const sm_lif_params *p) {
    const float beta = p->beta, thr = p->threshold;
    if (p->reset == SM_RESET_SUBTRACT) {
        if (up) {
            for (size_t i = 0; i < n; i++) {
                float r = up[i] > thr ? 1.0f : 0.0f;
                float u = beta * up[i] + I[i];
                U[i] = u - r * thr;
            }
        } else { /* up = 0, as sm_lif_forward's first step */
            const float r = 0.0f > thr ? 1.0f : 0.0f;
            for (size_t i = 0; i < n; i++) {
                float u = beta * 0.0f + I[i];
                U[i] = u - r * thr;
            }
        }
    } else {
        if (up) {
            for (size_t i = 0; i < n; i++) U[i] = up[i] > thr ? 0.0f : beta * up[i] + I[i];
        } else {
            const int reset = 0.0f > thr;
            for (size_t i = 0; i < n; i++) U[i] = reset ? 0.0f : beta * 0.0f + I[i];
        }
    }
    if (S)
        for (size_t i = 0; i < n; i++) S[i] = U[i] > thr ? 1.0f : 0.0f;
}

/* Both split the neurons over the threads in whole chunks: each neuron's
 * steps are its own, so any split gives the same bits. */
typedef struct {
    float *spk, *state, *dcur, *work;
    uint8_t *bits;
    const float *cur, *dspk, *dmem;
    int cur_static, T;
    size_t P;
    const sm_lif_params *p;
} lif_job;

/* bits [n / 8] = (U > thr) of n neurons, n a multiple of 8: neuron j is bit j % 8 of byte j / 8. */
static void pack_above(uint8_t *restrict bits, const float *restrict U, size_t n, float thr) {
    for (size_t b = 0; b < n / 8; b++) {
        const float *u = U + 8 * b;
        bits[b] = (uint8_t)((u[0] > thr) | (u[1] > thr) << 1 | (u[2] > thr) << 2 | (u[3] > thr) << 3 |
                            (u[4] > thr) << 4 | (u[5] > thr) << 5 | (u[6] > thr) << 6 | (u[7] > thr) << 7);
    }
}
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(SM_NO_CLONES)
#include <immintrin.h>
/* The same, 16 neurons with one compare into a mask register (ordered '>':
 * false for NaN, as the scalar compare), then the rest as above. */
__attribute__((target("avx512f"))) static void pack_above_avx512(uint8_t *bits, const float *U, size_t n,
                                                                   float thr) {
    const __m512 t = _mm512_set1_ps(thr);
    size_t b = 0;
    for (; 16 * b + 16 <= n; b++) {
        const __mmask16 k = _mm512_cmp_ps_mask(_mm512_loadu_ps(U + 16 * b), t, _CMP_GT_OQ);
        memcpy(bits + 2 * b, &k, 2); /* bit i of the mask is neuron i: little-endian bytes */
    }
    pack_above(bits + 2 * b, U + 16 * b, n - 16 * b, thr);
}
#define HAVE_PACK_AVX512 1
#endif

/* The forward of both: spikes as floats (j->spk) or as bits (j->bits). */
SM_VECTOR_CLONES
static void lif_forward_share(void *v, int t, int nt) {
    const lif_job *j = v;
    const size_t P = j->P;
    size_t p0, p1;
    sm_parallel_range(P, t, nt, SM_LIF_CHUNK, &p0, &p1);
#ifdef HAVE_PACK_AVX512
    const int avx512 = __builtin_cpu_supports("avx512f");
#endif
    /* U[t] needs only U[t-1]: a chunk of neurons goes through every step in two
     * buffers taken in turn, so that each step reads one and writes the other */
    float buf[2][SM_LIF_CHUNK];
    for (size_t i0 = p0; i0 < p1; i0 += SM_LIF_CHUNK) {
        const size_t n = p1 - i0 < SM_LIF_CHUNK ? p1 - i0 : SM_LIF_CHUNK;
        for (int s = 0; s < j->T; s++) {
            const float *I = j->cur_static ? j->cur : j->cur + (size_t)s * P;
            float *U = buf[s & 1];
            lif_step(U, j->spk ? j->spk + (size_t)s * P + i0 : NULL, s ? buf[(s - 1) & 1] : NULL, I + i0, n, j->p);
            if (!j->bits) continue;
            uint8_t *out = j->bits + ((size_t)s * P + i0) / 8; /* P and i0 are multiples of 8 */
#ifdef HAVE_PACK_AVX512
            if (avx512) pack_above_avx512(out, U, n, j->p->threshold);
            else
#endif
                pack_above(out, U, n, j->p->threshold);
        }
        if (j->T > 0) memcpy(j->state + i0, buf[(j->T - 1) & 1], sizeof(float) * n);
    }
}

void sm_lif_forward_bits(uint8_t *bits, float *state, const float *cur, int cur_static, int T, size_t P,
                         const sm_lif_params *p) {
    lif_job j = {.bits = bits, .state = state, .cur = cur, .cur_static = cur_static, .T = T, .P = P, .p = p};
    sm_parallel_run(lif_forward_share, &j);
}

void sm_lif_forward_spikes(float *spk, float *state, const float *cur, int cur_static, int T, size_t P,
                           const sm_lif_params *p) {
    lif_job j = {.spk = spk, .state = state, .cur = cur, .cur_static = cur_static, .T = T, .P = P, .p = p};
    sm_parallel_run(lif_forward_share, &j);
}

SM_VECTOR_CLONES
static void lif_backward_share(void *v, int th, int nt) {
    const lif_job *job = v;
    const sm_lif_params *p = job->p;
    const float *cur = job->cur, *dspk = job->dspk, *dmem = job->dmem;
    const int T = job->T, cur_static = job->cur_static;
    const size_t P = job->P;
    const float beta = p->beta, thr = p->threshold;
    const int zero = p->reset == SM_RESET_ZERO;
    float *work = job->work + (size_t)th * T * SM_LIF_CHUNK, *dcur = job->dcur;
    size_t p0, p1;
    sm_parallel_range(P, th, nt, SM_LIF_CHUNK, &p0, &p1);
    for (size_t i0 = p0; i0 < p1; i0 += SM_LIF_CHUNK) {
        const size_t n = p1 - i0 < SM_LIF_CHUNK ? p1 - i0 : SM_LIF_CHUNK;
        /* the chunk's membrane over all steps, as sm_lif_forward computes it */
        for (int t = 0; t < T; t++)
            lif_step(work + (size_t)t * SM_LIF_CHUNK, NULL, t ? work + (size_t)(t - 1) * SM_LIF_CHUNK : NULL,
                     (cur_static ? cur : cur + (size_t)t * P) + i0, n, p);
        /* then BPTT through it, as sm_lif_backward (r[t] = S[t-1] = U[t-1] > θ): the
         * same operations on each g in the same order, one vectorisable pass each */
        const int atan_kind = p->surrogate == SM_SURROGATE_ATAN;
        const float k = (float)M_PI * 0.5f * p->alpha, half = 0.5f * p->alpha, slope = p->slope;
        for (int t = T - 1; t >= 0; t--) {
            float *restrict D = dcur + (size_t)t * P + i0;
            const float *restrict U = work + (size_t)t * SM_LIF_CHUNK;
            const float *restrict dS = dspk ? dspk + (size_t)t * P + i0 : NULL;
            const float *restrict dM = dmem ? dmem + (size_t)t * P + i0 : NULL;
            const float *restrict Dn = t + 1 < T ? dcur + (size_t)(t + 1) * P + i0 : NULL;
            const float *restrict Up = t ? work + (size_t)(t - 1) * SM_LIF_CHUNK : NULL;
            if (dS && atan_kind && !dM && Dn && !zero) { /* the usual case in one pass: the same two
                                                          * roundings as the passes below */
                for (size_t j = 0; j < n; j++) D[j] = dS[j] * atan_grad(k, half, U[j] - thr) + beta * Dn[j];
                continue;
            }
            if (!dS) {
                for (size_t j = 0; j < n; j++) D[j] = 0.0f;
            } else if (atan_kind) { /* surrogate(), one kind per loop */
                for (size_t j = 0; j < n; j++) D[j] = dS[j] * atan_grad(k, half, U[j] - thr);
            } else {
                for (size_t j = 0; j < n; j++) D[j] = dS[j] * fast_sigmoid_grad(slope, U[j] - thr);
            }
            if (dM)
                for (size_t j = 0; j < n; j++) D[j] += dM[j];
            if (Dn)
                for (size_t j = 0; j < n; j++) D[j] += beta * Dn[j];
            if (zero && Up)
                for (size_t j = 0; j < n; j++) D[j] = Up[j] > thr ? 0.0f : D[j];
        }
    }
}


void sm_lif_backward_recompute(float *dcur, const float *dspk, const float *dmem, const float *cur, int cur_static,
                               int T, size_t P, const sm_lif_params *p, float *work) {
    lif_job j = {.dcur = dcur, .work = work, .cur = cur, .dspk = dspk, .dmem = dmem, .cur_static = cur_static,
                 .T = T, .P = P, .p = p};
    sm_parallel_run(lif_backward_share, &j);
}

SM_VECTOR_CLONES
void sm_sum_steps(float *restrict sum, const float *restrict d, int T, size_t P) {
    memcpy(sum, d, sizeof(float) * P);
    for (int t = 1; t < T; t++) {
        const float *restrict dt = d + (size_t)t * P;
        for (size_t i = 0; i < P; i++) sum[i] += dt[i];
    }
}
