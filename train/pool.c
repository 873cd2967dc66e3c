/* pool.c — non-overlapping max and average pooling (kernel = stride = p,
 * floor output size, no padding), applied to a layer's current before its LIF.
 * Shapes: in [R,Ch,H,W] ; out, idx [R,Ch,Ho,Wo] with Ho = H/p, Wo = W/p. */
#include "sm_kernels.h"

#include "sm_common.h"

SM_VECTOR_CLONES
void sm_maxpool_forward(float *out, int32_t *idx, const float *in, int R, int Ch, int H, int W, int p) {
    const int Ho = H / p, Wo = W / p;
    for (size_t plane = 0; plane < (size_t)R * Ch; plane++)
        sm_maxpool_plane(out + plane * Ho * Wo, idx + plane * Ho * Wo, in + plane * H * W, W, W, Ho, Wo, p, 0, 0.0f);
}

void sm_maxpool_backward(float *din, const float *dout, const int32_t *idx,
                         int R, int Ch, int H, int W, int p) {
    const int HoWo = (H / p) * (W / p);
    for (size_t plane = 0; plane < (size_t)R * Ch; plane++) {
        float *d = din + plane * H * W;
        const float *g = dout + plane * HoWo;
        const int32_t *ix = idx + plane * HoWo;
        for (int i = 0; i < HoWo; i++) d[ix[i]] += g[i];
    }
}

void sm_avgpool_forward(float *out, const float *in, int R, int Ch, int H, int W, int p) {
    const int Ho = H / p, Wo = W / p;
    const float inv = 1.0f / (float)(p * p);
    for (size_t plane = 0; plane < (size_t)R * Ch; plane++) {
        const float *src = in + plane * H * W;
        float *o = out + plane * Ho * Wo;
        for (int oy = 0; oy < Ho; oy++)
            for (int ox = 0; ox < Wo; ox++) {
                float acc = 0.0f;
                for (int dy = 0; dy < p; dy++)
                    for (int dx = 0; dx < p; dx++) acc += src[(oy * p + dy) * W + ox * p + dx];
                o[oy * Wo + ox] = acc * inv;
            }
    }
}

void sm_avgpool_backward(float *din, const float *dout, int R, int Ch, int H, int W, int p) {
    const int Ho = H / p, Wo = W / p;
    const float inv = 1.0f / (float)(p * p);
    for (size_t plane = 0; plane < (size_t)R * Ch; plane++) {
        float *d = din + plane * H * W;
        const float *g = dout + plane * Ho * Wo;
        for (int oy = 0; oy < Ho; oy++)
            for (int ox = 0; ox < Wo; ox++) {
                float share = g[oy * Wo + ox] * inv;
                for (int dy = 0; dy < p; dy++)
                    for (int dx = 0; dx < p; dx++) d[(oy * p + dy) * W + ox * p + dx] += share;
            }
    }
}
