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

#include "sm_common.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

float sm_surrogate_grad(const sm_lif_params *p, float u) {
    float x = u - p->threshold;
    if (p->surrogate == SM_SURROGATE_ATAN) {
        float z = (float)M_PI * 0.5f * p->alpha * x;
        return 0.5f * p->alpha / (1.0f + z * z);
    }
    float d = 1.0f + p->slope * fabsf(x);
    return 1.0f / (d * d);
}

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
            if (dS) g = dS[i] * sm_surrogate_grad(p, U[i]);
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
