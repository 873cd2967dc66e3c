/* optim.c — Adam and SGD with momentum, with PyTorch's update rules so a
 * checkpoint behaves the same when trained further by either engine.
 * All arrays [n]; scalars in double, arithmetic on the arrays in float. */
#include "sm_kernels.h"

#include <math.h>

#include "sm_common.h"

SM_VECTOR_CLONES
void sm_adam_update(float *restrict p, const float *restrict g, float *restrict m, float *restrict v, size_t n,
                    const sm_opt_params *o, double lr, long step) {
    const float b1 = (float)o->beta1, b2 = (float)o->beta2, wd = (float)o->weight_decay;
    const double bc1 = 1.0 - pow(o->beta1, (double)step);
    const double bc2 = 1.0 - pow(o->beta2, (double)step);
    const float step_size = (float)(lr / bc1);
    const float sqrt_bc2 = (float)sqrt(bc2);
    const float eps = (float)o->eps;
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] + wd * p[i];
        m[i] = m[i] * b1 + (1.0f - b1) * gi;
        v[i] = v[i] * b2 + (1.0f - b2) * gi * gi;
        float denom = sqrtf(v[i]) / sqrt_bc2 + eps;
        p[i] -= step_size * (m[i] / denom);
    }
}

SM_VECTOR_CLONES
void sm_sgd_update(float *restrict p, const float *restrict g, float *restrict m, size_t n,
                   const sm_opt_params *o, double lr, long step) {
    const float mu = (float)o->momentum, wd = (float)o->weight_decay, rate = (float)lr;
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] + wd * p[i];
        m[i] = (step == 1 || mu == 0.0f) ? gi : m[i] * mu + gi;
        p[i] -= rate * m[i];
    }
}
