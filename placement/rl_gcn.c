/* rl_gcn.c — the rl placer's policy: a 3-layer graph-convolution network with
 * a Gaussian mean head, its hand-written backward pass, the log-probability
 * and the PPO / REINFORCE surrogate losses, Adam, and the policy's state as a
 * fixed-length float array (sm_place.h). The math is in docs/placement.md, "rl".
 *
 * Sizes: n = LCs, F = SM_RL_FEATURES, D = SM_RL_HIDDEN, k = samples.
 *
 *   H0 = X                                                   [n,F]
 *   Hl = relu(Â H(l-1) Wl + H(l-1) Ul + bl)      l = 1..3    [n,D]
 *   Z  = H3 Wo + bo                                          [n,2]
 *   mu = sigmoid(logit(anchor) + Z)                          [n,2]
 *   sigma_d = exp(log_std_d) / box_d                        (d = x, y)
 *
 * Wl propagates along the traffic (Â = D^-1/2 (A/max A + I) D^-1/2), Ul keeps
 * the node's own features (a root weight, as in GraphConv), so the LCs of a
 * layer that all talk to the same neighbours still get distinct outputs.
 * Invariants:
 *   G1  the parameters do not depend on n or on the mesh: one policy places any graph.
 *   G2  backward functions accumulate (+=) into grad; the caller zeroes it.
 *   G3  with Wo = 0, mu = anchor exactly: a fresh policy proposes the anchor.
 */
#include "rl_internal.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sm_common.h"

int sm_rl_layer_offset(int l) { return l == 0 ? 0 : SM_RL_LAYER0_FLOATS + (l - 1) * SM_RL_LAYERN_FLOATS; }

static int layer_in(int l) { return l == 0 ? SM_RL_FEATURES : SM_RL_HIDDEN; }

/* ---- the policy object -------------------------------------------------- */

sm_rl_policy *sm_rl_policy_new(uint64_t seed) {
    sm_rl_policy *pol = sm_xcalloc(1, sizeof *pol);
    uint64_t s = seed ^ 0x67636e2d696e6974ull; /* "gcn-init" */
    for (int l = 0; l < SM_RL_LAYERS; l++) {
        int in = layer_in(l), D = SM_RL_HIDDEN;
        float *w = pol->param + sm_rl_layer_offset(l);
        /* Kaiming-uniform for relu over the two summed terms (W and U): bound sqrt(3/in). */
        float bound = sqrtf(3.0f / (float)in);
        for (int k = 0; k < 2 * in * D; k++) w[k] = (float)(2.0 * sm_prng_uniform(&s) - 1.0) * bound;
        /* b stays 0 */
    }
    float *wo = pol->param + SM_RL_HEAD_OFFSET;
    for (int k = 0; k < 2 * SM_RL_HIDDEN; k++) wo[k] = (float)(2.0 * sm_prng_uniform(&s) - 1.0) * 0.01f;
    pol->param[SM_RL_LOGSTD_OFFSET] = pol->param[SM_RL_LOGSTD_OFFSET + 1] = SM_RL_LOGSTD_INIT;
    return pol;
}

void sm_rl_policy_free(sm_rl_policy *pol) { free(pol); }

size_t sm_rl_policy_floats(void) { return 3 * (size_t)SM_RL_PARAMS + 3; }

/* State layout: param [P], adam_m [P], adam_v [P], step, baseline, have_baseline. */
void sm_rl_policy_get(const sm_rl_policy *pol, float *state) {
    const size_t P = SM_RL_PARAMS;
    memcpy(state, pol->param, P * sizeof *state);
    memcpy(state + P, pol->adam_m, P * sizeof *state);
    memcpy(state + 2 * P, pol->adam_v, P * sizeof *state);
    state[3 * P] = pol->step;
    state[3 * P + 1] = pol->baseline;
    state[3 * P + 2] = pol->have_baseline;
}

void sm_rl_policy_set(sm_rl_policy *pol, const float *state) {
    const size_t P = SM_RL_PARAMS;
    memcpy(pol->param, state, P * sizeof *state);
    memcpy(pol->adam_m, state + P, P * sizeof *state);
    memcpy(pol->adam_v, state + 2 * P, P * sizeof *state);
    pol->step = state[3 * P];
    pol->baseline = state[3 * P + 1];
    pol->have_baseline = state[3 * P + 2];
}

/* ---- forward ------------------------------------------------------------ */

void sm_rl_cache_init(sm_rl_cache *c, int n) {
    memset(c, 0, sizeof *c);
    c->n = n;
    size_t nd = (size_t)(n > 0 ? n : 1) * SM_RL_HIDDEN;
    for (int l = 1; l <= SM_RL_LAYERS; l++) c->h[l] = sm_falloc(nd);
    c->t = sm_falloc(nd);
    c->gh = sm_falloc(nd);
    c->gh2 = sm_falloc(nd);
    c->gt = sm_falloc(nd);
    c->mu = sm_falloc((size_t)(n > 0 ? n : 1) * 2);
}

void sm_rl_cache_free(sm_rl_cache *c) {
    for (int l = 1; l <= SM_RL_LAYERS; l++) free(c->h[l]);
    free(c->t);
    free(c->gh);
    free(c->gh2);
    free(c->gt);
    free(c->mu);
    memset(c, 0, sizeof *c);
}

/* out [n,D] += Â in [n,D] (CSR rows of Â); out and in do not overlap. Each row
 * is summed in a local accumulator in CSR order, so the result is the same
 * whatever the vector width. */
static void adj_matmul_add(float *restrict out, const sm_rl_graph *gr, const float *restrict in) {
    enum { D = SM_RL_HIDDEN };
    for (int i = 0; i < gr->n; i++) {
        float acc[D];
        memcpy(acc, out + (size_t)i * D, sizeof acc);
        for (int k = gr->arow[i]; k < gr->arow[i + 1]; k++) {
            const float a = gr->aval[k], *src = in + (size_t)gr->acol[k] * D;
            for (int d = 0; d < D; d++) acc[d] += a * src[d];
        }
        memcpy(out + (size_t)i * D, acc, sizeof acc);
    }
}

static inline float sigmoidf(float z) { return 1.0f / (1.0f + expf(-z)); }

void sm_rl_forward(const sm_rl_policy *pol, const sm_rl_graph *gr, sm_rl_cache *c) {
    const int n = gr->n, D = SM_RL_HIDDEN;
    c->h[0] = gr->x;
    if (n == 0) return;
    for (int l = 0; l < SM_RL_LAYERS; l++) {
        const int in = layer_in(l);
        const float *W = pol->param + sm_rl_layer_offset(l), *U = W + in * D, *b = U + in * D;
        const float *hin = c->h[l];
        float *out = c->h[l + 1];
        /* t = H W ; out = H U ; out += Â t + b ; relu */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, D, in, 1.0f, hin, in, W, D, 0.0f, c->t, D);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, D, in, 1.0f, hin, in, U, D, 0.0f, out, D);
        adj_matmul_add(out, gr, c->t);
        for (int i = 0; i < n; i++)
            for (int d = 0; d < D; d++) {
                float v = out[(size_t)i * D + d] + b[d];
                out[(size_t)i * D + d] = v > 0 ? v : 0;
            }
    }
    const float *Wo = pol->param + SM_RL_HEAD_OFFSET, *bo = Wo + 2 * D, *h = c->h[SM_RL_LAYERS];
    for (int i = 0; i < n; i++)
        for (int a = 0; a < 2; a++) {
            float z = bo[a];
            for (int d = 0; d < D; d++) z += h[(size_t)i * D + d] * Wo[d * 2 + a];
            c->mu[i * 2 + a] = sigmoidf(gr->anchor_logit[i * 2 + a] + z);
        }
}

/* ---- backward ----------------------------------------------------------- */

void sm_rl_backward(const sm_rl_policy *pol, const sm_rl_graph *gr, const sm_rl_cache *c, const float *dmu,
                    float *grad) {
    const int n = gr->n, D = SM_RL_HIDDEN;
    if (n == 0) return;
    const float *Wo = pol->param + SM_RL_HEAD_OFFSET, *h3 = c->h[SM_RL_LAYERS];
    float *gWo = grad + SM_RL_HEAD_OFFSET, *gbo = gWo + 2 * D;
    float *gh = c->gh, *gnext = c->gh2;
    /* dz = dmu · mu (1 − mu); gWo += H3ᵀ dz; gbo += Σ dz; gH3 = dz Woᵀ */
    for (int i = 0; i < n; i++) {
        float dz[2];
        for (int a = 0; a < 2; a++) {
            float m = c->mu[i * 2 + a];
            dz[a] = dmu[i * 2 + a] * m * (1.0f - m);
            gbo[a] += dz[a];
        }
        for (int d = 0; d < D; d++) {
            float hv = h3[(size_t)i * D + d];
            gWo[d * 2] += hv * dz[0];
            gWo[d * 2 + 1] += hv * dz[1];
            gh[(size_t)i * D + d] = dz[0] * Wo[d * 2] + dz[1] * Wo[d * 2 + 1];
        }
    }
    for (int l = SM_RL_LAYERS - 1; l >= 0; l--) {
        const int in = layer_in(l);
        const float *W = pol->param + sm_rl_layer_offset(l), *U = W + in * D;
        float *gW = grad + sm_rl_layer_offset(l), *gU = gW + in * D, *gb = gU + in * D;
        const float *hin = c->h[l], *hout = c->h[l + 1];
        /* gP = gH ⊙ relu'(P), in place in gh */
        for (size_t k = 0; k < (size_t)n * D; k++)
            if (hout[k] <= 0) gh[k] = 0;
        for (int i = 0; i < n; i++)
            for (int d = 0; d < D; d++) gb[d] += gh[(size_t)i * D + d];
        /* gT = Âᵀ gP = Â gP (symmetric) */
        memset(c->gt, 0, sizeof(float) * (size_t)n * D);
        adj_matmul_add(c->gt, gr, gh);
        /* gU += Hinᵀ gP ; gW += Hinᵀ gT */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, in, D, n, 1.0f, hin, in, gh, D, 1.0f, gU, D);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, in, D, n, 1.0f, hin, in, c->gt, D, 1.0f, gW, D);
        if (l == 0) break;
        /* gHin = gP Uᵀ + gT Wᵀ */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, in, D, 1.0f, gh, D, U, D, 0.0f, gnext, in);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, in, D, 1.0f, c->gt, D, W, D, 1.0f, gnext, in);
        float *tmp = gh;
        gh = gnext;
        gnext = tmp;
    }
}

/* ---- log-probability and surrogates ------------------------------------ */

void sm_rl_sigma(const sm_rl_policy *pol, const sm_rl_graph *gr, double sigma[2]) {
    sigma[0] = exp((double)pol->param[SM_RL_LOGSTD_OFFSET]) / gr->box_w;
    sigma[1] = exp((double)pol->param[SM_RL_LOGSTD_OFFSET + 1]) / gr->box_h;
}

#define HALF_LOG_2PI 0.91893853320467274178

double sm_rl_logprob(const float *mu, const double sigma[2], const float *a, int n, double *lp) {
    double total = 0, log_sigma[2] = {log(sigma[0]), log(sigma[1])};
    for (int i = 0; i < n; i++) {
        double s = 0;
        for (int d = 0; d < 2; d++) {
            double z = ((double)a[i * 2 + d] - mu[i * 2 + d]) / sigma[d];
            s += -0.5 * z * z - log_sigma[d] - HALF_LOG_2PI;
        }
        if (lp) lp[i] = s;
        total += s;
    }
    return total;
}

/* d lp_i / d mu_id = (a − mu) / sigma²;  d lp_i / d log_std_d = (a − mu)² / sigma² − 1. */
double sm_rl_surrogate(sm_rl_algorithm algo, const float *mu, const double sigma[2], int n, int k,
                       const float *a, const double *old_lp, const double *adv, double clip_eps, float *dmu,
                       double dlogstd[2]) {
    double *gmu = sm_xcalloc((size_t)n * 2, sizeof *gmu), *lp = sm_xmalloc(sizeof *lp * (size_t)n);
    double loss = 0, scale = 1.0 / ((double)k * n);
    for (int s = 0; s < k; s++) {
        const float *as = a + (size_t)s * n * 2;
        sm_rl_logprob(mu, sigma, as, n, lp);
        for (int i = 0; i < n; i++) {
            double g; /* dL / d lp_si */
            if (algo == SM_RL_REINFORCE) {
                loss -= scale * adv[s] * lp[i];
                g = -scale * adv[s];
            } else {
                double r = exp(lp[i] - old_lp[(size_t)s * n + i]);
                double rc = r < 1 - clip_eps ? 1 - clip_eps : r > 1 + clip_eps ? 1 + clip_eps : r;
                double un = r * adv[s], cl = rc * adv[s];
                loss -= scale * (un < cl ? un : cl);
                g = un <= cl ? -scale * adv[s] * r : 0;
            }
            if (g == 0) continue;
            for (int d = 0; d < 2; d++) {
                double z = ((double)as[i * 2 + d] - mu[i * 2 + d]) / sigma[d];
                gmu[i * 2 + d] += g * z / sigma[d];
                dlogstd[d] += g * (z * z - 1);
            }
        }
    }
    for (int k2 = 0; k2 < 2 * n; k2++) dmu[k2] = (float)gmu[k2];
    free(gmu);
    free(lp);
    return loss;
}

/* ---- Adam --------------------------------------------------------------- */

void sm_rl_adam(sm_rl_policy *pol, const float *grad, float lr) {
    const float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
    pol->step += 1;
    const float c1 = 1.0f - powf(b1, pol->step), c2 = 1.0f - powf(b2, pol->step);
    for (int k = 0; k < SM_RL_PARAMS; k++) {
        float g = grad[k];
        pol->adam_m[k] = b1 * pol->adam_m[k] + (1 - b1) * g;
        pol->adam_v[k] = b2 * pol->adam_v[k] + (1 - b2) * g * g;
        pol->param[k] -= lr * (pol->adam_m[k] / c1) / (sqrtf(pol->adam_v[k] / c2) + eps);
    }
    for (int d = 0; d < 2; d++) {
        float *s = pol->param + SM_RL_LOGSTD_OFFSET + d;
        if (*s < SM_RL_LOGSTD_MIN) *s = SM_RL_LOGSTD_MIN;
        if (*s > SM_RL_LOGSTD_MAX) *s = SM_RL_LOGSTD_MAX;
    }
}
