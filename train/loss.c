/* loss.c — losses on the output layer's spikes (or membrane), with their
 * gradients. Sums run in double; each returns scale · Σ_b loss_b.
 * Shapes: spk, mem, dspk, dmem [T,B,K] ; y [B]. */
#include "sm_kernels.h"

#include <math.h>
#include <string.h>

/* Cross-entropy of logits z[K] against class y; p[K] gets softmax(z). */
static double cross_entropy(const double *z, int K, int y, double *p) {
    double zmax = z[0];
    for (int k = 1; k < K; k++) if (z[k] > zmax) zmax = z[k];
    double sum = 0.0;
    for (int k = 0; k < K; k++) { p[k] = exp(z[k] - zmax); sum += p[k]; }
    for (int k = 0; k < K; k++) p[k] /= sum;
    return log(sum) + zmax - z[y];
}

double sm_loss(const sm_loss_params *lp, const float *spk, const float *mem, const int32_t *y,
               int T, int B, int K, double scale, float *dspk, float *dmem) {
    const size_t TBK = (size_t)T * B * K;
    double total = 0.0, z[K], p[K];
    if (dspk) memset(dspk, 0, sizeof(float) * TBK);
    if (dmem) memset(dmem, 0, sizeof(float) * TBK);

    switch (lp->kind) {
    case SM_LOSS_CE_RATE: /* (1/T) Σ_t CE(S[t,b], y) */
        for (int t = 0; t < T; t++)
            for (int b = 0; b < B; b++) {
                const float *s = spk + ((size_t)t * B + b) * K;
                for (int k = 0; k < K; k++) z[k] = s[k];
                total += cross_entropy(z, K, y[b], p) / T;
                if (dspk) {
                    float *d = dspk + ((size_t)t * B + b) * K;
                    for (int k = 0; k < K; k++) d[k] = (float)(scale / T * (p[k] - (k == y[b])));
                }
            }
        break;
    case SM_LOSS_CE_COUNT:
    case SM_LOSS_MSE_COUNT:
    case SM_LOSS_CE_MEM: {
        const float *src = lp->kind == SM_LOSS_CE_MEM ? mem : spk;
        float *dst = lp->kind == SM_LOSS_CE_MEM ? dmem : dspk;
        for (int b = 0; b < B; b++) {
            double g[K];
            for (int k = 0; k < K; k++) z[k] = 0.0;
            for (int t = 0; t < T; t++)
                for (int k = 0; k < K; k++) z[k] += src[((size_t)t * B + b) * K + k];
            if (lp->kind == SM_LOSS_MSE_COUNT) {
                /* mean over K of (count − target)² / T, target = rate·T */
                for (int k = 0; k < K; k++) {
                    double target = (k == y[b] ? lp->correct_rate : lp->incorrect_rate) * T;
                    double diff = z[k] - target;
                    total += diff * diff / ((double)K * T);
                    g[k] = scale * 2.0 * diff / ((double)K * T);
                }
            } else {
                total += cross_entropy(z, K, y[b], p);
                for (int k = 0; k < K; k++) g[k] = scale * (p[k] - (k == y[b]));
            }
            if (dst)
                for (int t = 0; t < T; t++)
                    for (int k = 0; k < K; k++) dst[((size_t)t * B + b) * K + k] = (float)g[k];
        }
        break;
    }
    }
    return total * scale;
}

int sm_predict(int32_t *pred, const float *spk, const int32_t *y, int T, int B, int K) {
    int correct = 0;
    for (int b = 0; b < B; b++) {
        int best = 0;
        float best_count = -1.0f;
        for (int k = 0; k < K; k++) {
            float c = 0.0f;
            for (int t = 0; t < T; t++) c += spk[((size_t)t * B + b) * K + k];
            if (c > best_count) { best_count = c; best = k; }
        }
        if (pred) pred[b] = best;
        if (y && best == y[b]) correct++;
    }
    return correct;
}
