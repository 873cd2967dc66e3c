/* model_config.c — build an sm_model from the run configuration. The getter
 * calls below ARE the schema of the model:, train:, data: and seed keys (the
 * list for users is docs/config.md); any other key is reported as unknown by
 * sm_cfg_check_unused(), which the caller runs after every reader. */
#include <stdio.h>
#include <string.h>

#include "sm_common.h"
#include "sm_model.h"
#include "sm_partition.h"

void sm_model_build_lcs(sm_model *m); /* model.c */

#define TRY(call) do { int rc_ = (call); if (rc_) return rc_; } while (0)

static const char *const ENCODERS[] = {"direct", "rate", "latency", NULL};
static const char *const RESETS[] = {"subtract", "zero", NULL};
static const char *const SURROGATES[] = {"atan", "fast_sigmoid", NULL};
static const char *const LAYER_TYPES[] = {"dense", "conv2d", NULL};
static const char *const POOLS[] = {"none", "max", "avg", NULL};
static const char *const LOSSES[] = {"ce_rate", "ce_count", "mse_count", "ce_mem", NULL};
static const char *const OPTIMIZERS[] = {"adam", "sgd", NULL};
static const char *const SCHEDULES[] = {"constant", "cosine", "step", NULL};
static const char *const SOURCES[] = {"idx", "png", "shd", "synthetic", NULL};

static int index_of(const char *const *list, const char *s) {
    for (int i = 0; list[i]; i++) if (!strcmp(list[i], s)) return i;
    return -1;
}

/* Neuron settings: the model-wide defaults under `prefix` ("model"), or a
 * layer's overrides under "model.layers.i" with the defaults as fallback. */
static int read_lif(sm_cfg *c, const char *prefix, const sm_lif_params *def, float def_gain,
                    sm_lif_params *out, float *gain) {
    char key[128];
    double v;
    const char *s;
    snprintf(key, sizeof key, "%s.beta", prefix);
    TRY(sm_cfg_double(c, key, def->beta, 0.0, 1.0, &v)); out->beta = (float)v;
    snprintf(key, sizeof key, "%s.threshold", prefix);
    TRY(sm_cfg_double(c, key, def->threshold, 1e-6, 1e6, &v)); out->threshold = (float)v;
    snprintf(key, sizeof key, "%s.reset", prefix);
    TRY(sm_cfg_string(c, key, RESETS[def->reset], RESETS, &s)); out->reset = index_of(RESETS, s);
    snprintf(key, sizeof key, "%s.surrogate", prefix);
    TRY(sm_cfg_string(c, key, SURROGATES[def->surrogate], SURROGATES, &s));
    out->surrogate = index_of(SURROGATES, s);
    snprintf(key, sizeof key, "%s.surrogate_alpha", prefix);
    TRY(sm_cfg_double(c, key, def->alpha, 1e-6, 1e6, &v)); out->alpha = (float)v;
    snprintf(key, sizeof key, "%s.surrogate_slope", prefix);
    TRY(sm_cfg_double(c, key, def->slope, 1e-6, 1e6, &v)); out->slope = (float)v;
    snprintf(key, sizeof key, "%s.init_gain", prefix);
    TRY(sm_cfg_double(c, key, def_gain, 1e-6, 1e3, &v)); *gain = (float)v;
    return SM_OK;
}

static int read_layers(sm_model *m, sm_cfg *c) {
    int n;
    TRY(sm_cfg_seq_len(c, "model.layers", &n));
    if (n == 0) return sm_error("config %s: key 'model.layers': expected a list of at least one layer",
                                sm_cfg_where(c, "model.layers"));
    sm_lif_params def = {0.95f, 1.0f, SM_RESET_SUBTRACT, SM_SURROGATE_ATAN, 2.0f, 25.0f};
    float def_gain;
    TRY(read_lif(c, "model", &def, 1.0f, &def, &def_gain));

    m->n_layers = n;
    m->layers = sm_xcalloc((size_t)n, sizeof(sm_layer));
    int C = m->in_c, H = m->in_h, W = m->in_w, spatial = 1;
    for (int i = 0; i < n; i++) {
        sm_layer *L = &m->layers[i];
        char p[64], key[128];
        const char *s;
        long v;
        snprintf(p, sizeof p, "model.layers.%d", i);
        TRY(sm_cfg_mapping(c, p));
        snprintf(key, sizeof key, "%s.type", p);
        TRY(sm_cfg_string_required(c, key, LAYER_TYPES, &s));
        L->kind = index_of(LAYER_TYPES, s);
        snprintf(key, sizeof key, "%s.out", p);
        TRY(sm_cfg_int(c, key, -1, 1, 1 << 20, &v));
        if (v < 0) return sm_error("config %s: key '%s' is required: the layer's output neurons or channels",
                                   sm_cfg_where(c, p), key);
        L->out = (int)v;
        TRY(read_lif(c, p, &def, def_gain, &L->lif, &L->init_gain));
        snprintf(key, sizeof key, "%s.lcs", p);
        L->n_lc_fixed = sm_cfg_has(c, key);
        TRY(sm_cfg_int(c, key, 1, 1, L->out, &v));
        L->n_lc = (int)v;

        L->in_c = C; L->in_h = H; L->in_w = W;
        L->n_in = C * H * W;
        if (L->kind == SM_LAYER_CONV2D) {
            if (!spatial)
                return sm_error("config %s: layer %d is conv2d but its input is flat (a dense layer "
                                "comes before it); put conv2d layers first", sm_cfg_where(c, p), i);
            snprintf(key, sizeof key, "%s.kernel", p);
            TRY(sm_cfg_int(c, key, -1, 1, 64, &v));
            if (v < 0) return sm_error("config %s: key '%s' is required for a conv2d layer",
                                       sm_cfg_where(c, p), key);
            L->kernel = (int)v;
            snprintf(key, sizeof key, "%s.stride", p);
            TRY(sm_cfg_int(c, key, 1, 1, 64, &v)); L->stride = (int)v;
            snprintf(key, sizeof key, "%s.padding", p);
            TRY(sm_cfg_int(c, key, 0, 0, 64, &v)); L->padding = (int)v;
            if (H + 2 * L->padding < L->kernel || W + 2 * L->padding < L->kernel)
                return sm_error("config %s: layer %d: kernel %d does not fit its %dx%d input "
                                "(padding %d)", sm_cfg_where(c, p), i, L->kernel, H, W, L->padding);
            L->conv_h = (H + 2 * L->padding - L->kernel) / L->stride + 1;
            L->conv_w = (W + 2 * L->padding - L->kernel) / L->stride + 1;
            L->fan_in = C * L->kernel * L->kernel;
        } else {
            L->conv_h = L->conv_w = 1;
            L->fan_in = C * H * W;
        }
        snprintf(key, sizeof key, "%s.pool", p);
        TRY(sm_cfg_string(c, key, "none", POOLS, &s));
        L->pool = index_of(POOLS, s);
        snprintf(key, sizeof key, "%s.pool_size", p);
        TRY(sm_cfg_int(c, key, 2, 1, 64, &v));
        L->pool_size = L->pool == SM_POOL_NONE ? 1 : (int)v;
        if (L->pool != SM_POOL_NONE && L->kind == SM_LAYER_DENSE)
            return sm_error("config %s: layer %d: pooling needs a conv2d layer", sm_cfg_where(c, p), i);
        if (L->conv_h < L->pool_size || L->conv_w < L->pool_size)
            return sm_error("config %s: layer %d: pool_size %d is larger than the %dx%d output",
                            sm_cfg_where(c, p), i, L->pool_size, L->conv_h, L->conv_w);
        L->out_h = L->conv_h / L->pool_size;
        L->out_w = L->conv_w / L->pool_size;
        L->n_out = L->out * L->out_h * L->out_w;
        snprintf(L->name, sizeof L->name, "%d_%s", i, LAYER_TYPES[L->kind]);
        if (L->kind == SM_LAYER_DENSE) { C = L->out; H = W = 1; spatial = 0; }
        else { C = L->out; H = L->out_h; W = L->out_w; }
    }
    m->n_classes = m->layers[n - 1].n_out;
    return SM_OK;
}

static int read_train(sm_model *m, sm_cfg *c) {
    sm_train_params *t = &m->train;
    long v;
    double d;
    const char *s;
    TRY(sm_cfg_mapping(c, "train"));
    TRY(sm_cfg_int(c, "train.epochs", 1, 0, 100000, &v)); t->epochs = (int)v;
    TRY(sm_cfg_int(c, "train.batch", 128, 1, 1 << 20, &v)); t->batch = (int)v;
    /* 0: the training microbatch (cli/options.c), so evaluation needs no more scratch than training */
    TRY(sm_cfg_int(c, "train.eval_batch", 0, 0, 1 << 20, &v)); t->eval_batch = (int)v;
    TRY(sm_cfg_int(c, "train.checkpoint_every", 1, 0, 100000, &v)); t->checkpoint_every = (int)v;
    TRY(sm_cfg_int(c, "train.threads", 0, 0, 1024, &v)); t->threads = (int)v;
    TRY(sm_cfg_string(c, "train.loss", "ce_rate", LOSSES, &s));
    m->loss.kind = index_of(LOSSES, s);
    TRY(sm_cfg_double(c, "train.correct_rate", 1.0, 0.0, 1.0, &d)); m->loss.correct_rate = (float)d;
    TRY(sm_cfg_double(c, "train.incorrect_rate", 0.0, 0.0, 1.0, &d)); m->loss.incorrect_rate = (float)d;
    TRY(sm_cfg_string(c, "train.optimizer", "adam", OPTIMIZERS, &s));
    m->opt.kind = index_of(OPTIMIZERS, s);
    TRY(sm_cfg_double(c, "train.lr", 1e-3, 0.0, 100.0, &t->lr));
    m->opt.lr = t->lr;
    TRY(sm_cfg_double(c, "train.lr_min", 0.0, 0.0, 100.0, &t->lr_min));
    TRY(sm_cfg_string(c, "train.lr_schedule", "constant", SCHEDULES, &s));
    t->lr_schedule = index_of(SCHEDULES, s);
    TRY(sm_cfg_int(c, "train.lr_step_epochs", 1, 1, 100000, &v)); t->lr_step_epochs = (int)v;
    TRY(sm_cfg_double(c, "train.lr_gamma", 0.1, 0.0, 1.0, &t->lr_gamma));
    TRY(sm_cfg_int(c, "train.warmup_steps", 0, 0, 1L << 30, &v)); t->warmup_steps = (int)v;
    TRY(sm_cfg_double(c, "train.momentum", 0.9, 0.0, 1.0, &m->opt.momentum));
    TRY(sm_cfg_double(c, "train.adam_beta1", 0.9, 0.0, 0.999999, &m->opt.beta1));
    TRY(sm_cfg_double(c, "train.adam_beta2", 0.999, 0.0, 0.99999999, &m->opt.beta2));
    TRY(sm_cfg_double(c, "train.adam_eps", 1e-8, 0.0, 1.0, &m->opt.eps));
    TRY(sm_cfg_double(c, "train.weight_decay", 0.0, 0.0, 1.0, &m->opt.weight_decay));
    return SM_OK;
}

static const char *const SCHEDULE_NAMES[] = {"sequential", "gpipe", "1f1b", "async", NULL};
static const char *const COMPUTE_MODES[] = {"measured", "flops", NULL};
/* The names of placement/sm_place.h (train/ does not link placement/; tests/test_place.c
 * checks that the two lists agree). */
static const char *const PLACEMENT_METHODS[] = {"sequential", "zigzag", "hilbert", "random", "greedy",
                                                "sa",         "ga",     "scotch",  "rl",     NULL};
static const char *const RL_ALGORITHMS[] = {"ppo", "reinforce", NULL};

/* chip:, pipeline:, partition:, placement: (DESIGN.md). The defaults describe
 * a 1x1 chip, so a config without them trains on one core as before. */
static int read_distributed(sm_model *m, sm_cfg *c) {
    long v;
    const char *s;
    sm_chip_params *chip = &m->chip;
    TRY(sm_cfg_mapping(c, "chip"));
    TRY(sm_cfg_int(c, "chip.mesh_w", 1, 1, 4096, &v)); chip->mesh_w = (int)v;
    TRY(sm_cfg_int(c, "chip.mesh_h", 1, 1, 4096, &v)); chip->mesh_h = (int)v;
    TRY(sm_cfg_double(c, "chip.core_memory", 256.0 * 1024 * 1024, 1024, 1e15, &chip->core_memory));
    TRY(sm_cfg_double(c, "chip.hop_latency", 1e-7, 0, 1, &chip->hop_latency));
    TRY(sm_cfg_double(c, "chip.link_bandwidth", 1e9, 1, 1e15, &chip->link_bandwidth));
    TRY(sm_cfg_double(c, "chip.core_gflops", 10.0, 1e-6, 1e6, &chip->core_gflops));
    TRY(sm_cfg_double(c, "chip.hop_energy", 1e-12, 0, 1, &chip->hop_energy));
    TRY(sm_cfg_string(c, "chip.compute", "measured", COMPUTE_MODES, &s));
    chip->compute_flops = index_of(COMPUTE_MODES, s) == 1;

    sm_pipeline_params *p = &m->pipeline;
    TRY(sm_cfg_mapping(c, "pipeline"));
    TRY(sm_cfg_string(c, "pipeline.schedule", "sequential", SCHEDULE_NAMES, &s));
    p->schedule = index_of(SCHEDULE_NAMES, s);
    TRY(sm_cfg_int(c, "pipeline.microbatches", 1, 1, 1 << 20, &v)); p->microbatches = (int)v;
    TRY(sm_cfg_bool(c, "pipeline.stash", 1, &p->stash));
    if (m->train.batch % p->microbatches)
        return sm_error("config %s: key 'pipeline.microbatches': %d does not divide train.batch = %d",
                        sm_cfg_where(c, "pipeline.microbatches"), p->microbatches, m->train.batch);

    TRY(sm_cfg_mapping(c, "partition"));
    TRY(sm_cfg_int(c, "partition.max_lcs", 0, 0, 1 << 20, &v)); m->partition.max_lcs = (int)v;

    TRY(sm_cfg_mapping(c, "placement"));
    TRY(sm_cfg_string(c, "placement.method", "sequential", PLACEMENT_METHODS, &m->placement.method));
    TRY(sm_cfg_string(c, "placement.file", "", NULL, &m->placement.file));
    sm_placement_params *pl = &m->placement;
    TRY(sm_cfg_int(c, "placement.every", 0, 0, 1 << 20, &v)); pl->every = (int)v;
    TRY(sm_cfg_int(c, "placement.budget", 20000, 1, 1L << 40, &pl->budget));
    TRY(sm_cfg_int(c, "placement.seed", (long)m->seed, 0, 1L << 62, &v)); pl->seed = (uint64_t)v;
    TRY(sm_cfg_string(c, "placement.rl_algorithm", "ppo", RL_ALGORITHMS, &s));
    pl->rl_reinforce = index_of(RL_ALGORITHMS, s) == 1;
    TRY(sm_cfg_double(c, "placement.migration_weight", 0.0, 0, 1e12, &pl->migration_weight));
    TRY(sm_cfg_mapping(c, "placement.weights"));
    TRY(sm_cfg_double(c, "placement.weights.hop_bytes", 1, 0, 1e12, &pl->w_hop_bytes));
    TRY(sm_cfg_double(c, "placement.weights.max_link", 1, 0, 1e12, &pl->w_max_link));
    TRY(sm_cfg_double(c, "placement.weights.imbalance", 1, 0, 1e12, &pl->w_imbalance));
    TRY(sm_cfg_double(c, "placement.weights.time", 1, 0, 1e12, &pl->w_time));
    if (pl->w_hop_bytes + pl->w_max_link + pl->w_imbalance + pl->w_time <= 0)
        return sm_error("config %s: key 'placement.weights': every weight is 0, so every placement would cost "
                        "the same; give at least one a weight > 0", sm_cfg_where(c, "placement.weights"));
    return SM_OK;
}

#define FMNIST "/usr/share/datasets/fashion-mnist/"

static int read_data(sm_model *m, sm_cfg *c) {
    sm_data_params *d = &m->data;
    long v;
    TRY(sm_cfg_mapping(c, "data"));
    TRY(sm_cfg_string(c, "data.source", "idx", SOURCES, &d->source));
    TRY(sm_cfg_string(c, "data.train_images", FMNIST "train-images-idx3-ubyte.gz", NULL, &d->train_images));
    TRY(sm_cfg_string(c, "data.train_labels", FMNIST "train-labels-idx1-ubyte.gz", NULL, &d->train_labels));
    TRY(sm_cfg_string(c, "data.test_images", FMNIST "t10k-images-idx3-ubyte.gz", NULL, &d->test_images));
    TRY(sm_cfg_string(c, "data.test_labels", FMNIST "t10k-labels-idx1-ubyte.gz", NULL, &d->test_labels));
    TRY(sm_cfg_string(c, "data.train_dir", "", NULL, &d->train_dir));
    TRY(sm_cfg_string(c, "data.test_dir", "", NULL, &d->test_dir));
    TRY(sm_cfg_string(c, "data.train_file", "", NULL, &d->train_file));
    TRY(sm_cfg_string(c, "data.test_file", "", NULL, &d->test_file));
    TRY(sm_cfg_double(c, "data.shd_max_time", 1.0, 1e-6, 1e6, &d->shd_max_time));
    TRY(sm_cfg_int(c, "data.train_limit", 0, 0, 1L << 30, &v)); d->train_limit = (int)v;
    TRY(sm_cfg_int(c, "data.test_limit", 0, 0, 1L << 30, &v)); d->test_limit = (int)v;
    TRY(sm_cfg_int(c, "data.synthetic_train", 512, 1, 1L << 24, &v)); d->synthetic_train = (int)v;
    TRY(sm_cfg_int(c, "data.synthetic_test", 128, 1, 1L << 24, &v)); d->synthetic_test = (int)v;
    TRY(sm_cfg_int(c, "data.synthetic_classes", 0, 0, 1 << 16, &v)); d->synthetic_classes = (int)v;
    TRY(sm_cfg_bool(c, "data.png_resize", 0, &d->png_resize));
    TRY(sm_cfg_double(c, "data.validation", 0.0, 0.0, 0.9, &d->validation));
    return SM_OK;
}

int sm_model_from_config(sm_model *m, sm_cfg *c) {
    memset(m, 0, sizeof *m);
    long v, shape[3];
    int n;
    const char *s;
    int rc;
    TRY(sm_cfg_int(c, "seed", 1, 0, (1L << 62), &v));
    m->seed = (uint64_t)v;
    TRY(sm_cfg_mapping(c, "model"));
    TRY(sm_cfg_int_list(c, "model.input", 1, 3, 1, 1 << 20, shape, &n));
    if (n == 0) return sm_error("config %s: key 'model.input' is required: [C, H, W] for images or "
                                "[N] for flat or event input", sm_cfg_where(c, "model"));
    if (n == 2) return sm_error("config %s: key 'model.input': expected [C, H, W] or [N], got 2 values",
                                sm_cfg_where(c, "model.input"));
    m->in_c = (int)shape[0];
    m->in_h = n == 3 ? (int)shape[1] : 1;
    m->in_w = n == 3 ? (int)shape[2] : 1;
    m->n_in = m->in_c * m->in_h * m->in_w;
    TRY(sm_cfg_int(c, "model.time_steps", 25, 1, 100000, &v)); m->T = (int)v;
    TRY(sm_cfg_string(c, "model.encoder", "direct", ENCODERS, &s));
    m->encoder = index_of(ENCODERS, s);
    if ((rc = read_layers(m, c)) || (rc = read_train(m, c)) || (rc = read_data(m, c)) ||
        (rc = read_distributed(m, c))) {
        sm_model_free(m);
        return rc;
    }
    /* event data is fed as it is; static images under the direct encoder are static */
    int input_static = sm_model_static_input(m);
    if ((rc = sm_partition(m, input_static))) {
        sm_model_free(m);
        return rc;
    }
    sm_model_build_lcs(m);
    return SM_OK;
}
