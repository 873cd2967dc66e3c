/* sm_model.h — a spiking network cut into logical cores (LCs), and the
 * single-process executor that runs a forward and a backward over them.
 *
 * A layer is: weighted op (dense or conv2d) → optional pooling of its current
 * → LIF neurons. A layer is cut along its outputs (rows of a dense layer,
 * channels of a conv layer) into LCs. Each LC owns ONE contiguous parameter
 * block (its weight rows, then its biases) with a gradient block and optimizer
 * moments of the same size, plus the neuron state of the microbatch in flight.
 * A checkpoint, a migration or a stashed weight version of an LC is therefore
 * one copy and one checksum.
 *
 * Invariants kept here:
 *   I1  initial weights depend only on (seed, layer, element) — not on the cut.
 *   I2  partial input gradients of a layer's LCs are computed separately and
 *       summed in ascending LC order, so results do not depend on placement.
 *   I3  gradients ACCUMULATE across calls until sm_model_zero_grad(): the
 *       microbatches of a minibatch sum in the order they are run.
 */
#ifndef SM_MODEL_H
#define SM_MODEL_H

#include <stdint.h>

#include "sm_config.h"
#include "sm_kernels.h"

typedef enum { SM_LAYER_DENSE = 0, SM_LAYER_CONV2D = 1 } sm_layer_kind;
typedef enum { SM_POOL_NONE = 0, SM_POOL_MAX, SM_POOL_AVG } sm_pool_kind;

typedef struct {
    sm_layer_kind kind;
    int in_c, in_h, in_w;    /* input shape (a dense layer sees in_c = N, in_h = in_w = 1) */
    int out;                 /* output neurons (dense) or channels (conv) */
    int kernel, stride, padding;
    int conv_h, conv_w;      /* spatial size of the op's output, before pooling (1x1 dense) */
    sm_pool_kind pool;
    int pool_size;
    int out_h, out_w;        /* after pooling: the neuron grid of one channel */
    int fan_in;              /* weights per output row: N, or C*k*k */
    int n_in;                /* in_c*in_h*in_w */
    int n_out;               /* out*out_h*out_w neurons */
    sm_lif_params lif;
    float init_gain;
    int n_lc;                /* how many LCs the layer is cut into */
    int n_lc_fixed;          /* 1: n_lc came from the config's `lcs` key; 0: sm_partition decides */
    int first_lc;            /* index of its first LC in sm_model.lcs */
    char name[32];           /* "<idx>_<kind>", the group name in checkpoint files */
} sm_layer;

typedef struct {
    int layer;               /* index of its layer */
    int o0, o1;              /* output rows / channels [o0, o1) */
    size_t n_weight;         /* (o1-o0) * fan_in */
    size_t n_param;          /* n_weight + (o1-o0) */
    float *param;            /* [n_param]: weight [(o1-o0), fan_in], then bias [o1-o0] */
    float *grad;             /* [n_param], accumulated (I3) */
    float *opt_m, *opt_v;    /* optimizer moments [n_param] (SGD: momentum in opt_m) */
    long step;               /* optimizer steps this LC has taken */
    /* neuron state of the microbatch in flight, kept for BPTT */
    float *mem;              /* [T, B, (o1-o0)*out_h*out_w] */
    float *spk;              /* same shape, 0/1 */
    int32_t *pool_idx;       /* max pooling: [R, o1-o0, out_h, out_w] */
} sm_lc;

typedef struct {
    int epochs, batch, eval_batch;
    int checkpoint_every;    /* epochs; 0 = only at the end */
    int threads;             /* BLAS threads per rank; 0 = detect (cli/threads.c) */
    double lr, lr_min;
    enum { SM_LR_CONSTANT = 0, SM_LR_COSINE, SM_LR_STEP } lr_schedule;
    int lr_step_epochs;      /* step schedule: multiply by lr_gamma every this many epochs */
    double lr_gamma;
    int warmup_steps;        /* linear warm-up from lr/10 over this many optimizer steps */
} sm_train_params;

typedef struct {
    int train_limit, test_limit;
    const char *source;      /* "idx", "png", "shd", "synthetic" */
    const char *train_images, *train_labels, *test_images, *test_labels;
    const char *train_dir, *test_dir;
    const char *train_file, *test_file;
    double shd_max_time;
    int synthetic_train, synthetic_test, synthetic_classes;
    int png_resize;
    double validation;       /* fraction of the training set held out */
} sm_data_params;

/* The emulated chip (DESIGN.md "Communication"): a mesh_w x mesh_h mesh of
 * cores, one per MPI rank, each with core_memory bytes. */
typedef struct {
    int mesh_w, mesh_h;
    double core_memory;      /* bytes per core */
    double hop_latency;      /* seconds per hop */
    double link_bandwidth;   /* bytes per second per link */
    double core_gflops;      /* compute: flops mode */
    double hop_energy;       /* joules per byte per hop (the placer's energy figure) */
    int compute_flops;       /* 1: advance the clock by FLOPs / core_gflops; 0: measured CPU time */
} sm_chip_params;

/* Also defined by pipeline/sm_schedule.h, under the same guard. */
#ifndef SM_SCHEDULE_KIND_DEFINED
#define SM_SCHEDULE_KIND_DEFINED
typedef enum { SM_SCHED_SEQUENTIAL = 0, SM_SCHED_GPIPE, SM_SCHED_1F1B, SM_SCHED_ASYNC } sm_schedule_kind;
#endif

typedef struct {
    sm_schedule_kind schedule;
    int microbatches;        /* M per minibatch (train.batch must be divisible by it) */
    int stash;               /* async: keep the forward's weights for the backward */
} sm_pipeline_params;

typedef struct {
    int max_lcs;             /* upper bound on LCs over the whole model; 0 = mesh size */
} sm_partition_params;

typedef struct {
    const char *method;      /* a placer of placement/sm_place.h; "sequential" = LC i -> core i mod R */
    const char *file;        /* placement.h5 with /lc_core for the first epoch, or "" */
    int every;               /* re-place after every this many epochs; 0 = never */
    long budget;             /* cost evaluations per placement */
    uint64_t seed;           /* the placer's seed (default: the run's seed) */
    int rl_reinforce;        /* rl: 1 = REINFORCE with a baseline, 0 = PPO-clip */
    double migration_weight; /* scotch remap / rl: price of moving LC memory */
    double w_hop_bytes, w_max_link, w_imbalance, w_time;  /* placement.weights */
} sm_placement_params;

typedef struct {
    /* structure */
    int n_layers;
    sm_layer *layers;
    int n_lcs;
    sm_lc *lcs;
    int T;                   /* time steps */
    int in_c, in_h, in_w;    /* input sample shape; event input: in_c = units, 1, 1 */
    int n_in;                /* in_c*in_h*in_w */
    int n_classes;           /* outputs of the last layer */
    sm_encoder_kind encoder;
    sm_loss_params loss;
    sm_opt_params opt;
    uint64_t seed;
    long step;               /* optimizer steps taken */
    sm_train_params train;
    sm_data_params data;
    sm_chip_params chip;
    sm_pipeline_params pipeline;
    sm_partition_params partition;
    sm_placement_params placement;

    /* single-process executor buffers, sized for max_batch samples; kernel
     * scratch sized for scratch_batch samples and scratch_threads threads */
    int max_batch, scratch_batch, scratch_threads;
    int B;                   /* samples in the microbatch in flight */
    int input_static;        /* layer 0's input is the same at every step */
    const float *input;      /* [B,n_in] (static) or [T,B,n_in], not owned */
    float **act;             /* per layer: its output spikes [T,B,n_out] (LC blocks assembled) */
    float **dact;            /* per layer: dL/d(output spikes) [T,B,n_out] */
    float *dmem_out;         /* [T,B,K]: dL/dU of the output layer (ce_mem) */
    float *scratch[5];       /* shared LC scratch: [0] op output / its gradient, [1] current / LIF
                                input gradient, [3] static sum (sm_model_reserve_scratch); [2], [4]
                                the single-process executor's dS, dM blocks (sm_model_reserve) */
    float *conv_work;
    size_t conv_work_floats;
    float *event_work;       /* scratch of the event-driven kernels (the largest LC's) */
    uint64_t *in_bits;       /* [T*B, widest input] spike bits made from float input */
    float *in_floats;        /* [T*B, widest input] floats made from spike bits (made on first use) */
    float *lif_spk;          /* [T*B, widest block] the spikes of the LC at work (executors that
                                recompute the neuron state, and inference) */
    float *lif_mem;          /* [T*B, widest output-layer block] the output layer's membrane (the loss) */
    float *lif_work;         /* sm_lif_work_floats: sm_lif_backward_recompute's membrane */
    int32_t *lif_idx;        /* [T*B, widest block] its max-pooling indices */
    uint64_t *act_bits[2];   /* inference: a layer's input and output spikes [T*B, widest layer] */
    float *out_spk, *out_mem; /* inference: the output layer assembled from its LCs [T*B, K] */
    float *partial;          /* [R, n_in] one LC's partial input gradient (I2, conv) */
    const float *dpre;       /* the last dense LC backward's op-output gradient (scratch) */
    float *wcols;            /* [max n_weight] weight columns for sm_lc_partial_block */
} sm_model;

/* Build a model from a config (model., train., data., seed keys), allocate its
 * LCs and workspaces for max_batch samples, and initialise the weights (I1).
 * Returns SM_EINPUT with a message naming the key on a bad config. */
int sm_model_from_config(sm_model *m, sm_cfg *cfg);
void sm_model_free(sm_model *m);

/* Resize the workspaces of the single-process executor (sm_model_forward /
 * sm_model_backward) for up to max_batch samples; includes the scratch. */
void sm_model_reserve(sm_model *m, int max_batch);
/* Resize only the kernels' scratch (what sm_lc_forward_io / sm_lc_backward_io
 * need): for executors that keep neuron state and activations themselves. */
void sm_model_reserve_scratch(sm_model *m, int max_batch);
/* The most neurons any layer takes in or gives out (at least 1): the width of
 * the scratch that holds a whole layer's input or output. */
size_t sm_model_widest_layer(const sm_model *m);
/* Is layer 0's input the same at every step (direct encoder on static images)?
 * Then its current is computed once per sample. Event data (shd) never is. */
int sm_model_static_input(const sm_model *m);

/* Forward through every LC in ascending order. input: [B,n_in] pixels when
 * input_static (the direct encoder: the same current at every step) or
 * [T,B,n_in] otherwise. The output layer's spikes are m->act[n_layers-1]. */
void sm_model_forward(sm_model *m, const float *input, int input_static, int B);

/* Loss of the last forward (scale * Σ_b loss_b), and its gradient seeds. Then
 * BPTT through every LC, accumulating into grad (I3). Returns the loss. */
double sm_model_backward(sm_model *m, const int32_t *y, double scale);
/* The loss of the last forward only (evaluation): scale * Σ_b loss_b. */
double sm_model_loss(const sm_model *m, const int32_t *y, double scale);

/* Inference (evaluation): the forward of every LC on input ([B,n_in] pixels
 * when input_static, else [T,B,n_in]), keeping only each layer's spikes as
 * bits to feed the next: memory of the same order as one training
 * microbatch's scratch, nothing per LC. Returns scale * Σ_b loss_b against y
 * and adds the correct predictions to *correct. The same kernels on the same
 * data as sm_model_forward: the same loss and predictions, bit for bit. */
double sm_model_infer(sm_model *m, const float *input, int input_static, int B, const int32_t *y, double scale,
                      long *correct);

/* One LC's share of the forward/backward (the executor's unit of work).
 * sm_lc_forward reads layer l-1's assembled spikes (or the input) and writes
 * the LC's block of m->act[l]. sm_lc_backward reads its block of m->dact[l]
 * and, unless l == 0, writes its partial input gradient into m->partial. */
void sm_lc_forward(sm_model *m, int lc);
void sm_lc_backward(sm_model *m, int lc);

/* The buffers one LC computes with for one microbatch: what the pipeline
 * executor keeps per microbatch in flight. */
typedef struct {
    int B;                   /* samples */
    int in_static;           /* in is [B,n_in], fed at every step (layer 0, direct encoder) */
    const float *in;         /* the layer input [R,n_in], R = B (static) or T*B; may be NULL when
                                in_bits holds it */
    const uint64_t *in_bits; /* or NULL: the same input (spikes) as bits [R, n_in] (sm_spikes_pack) */
    const float *param;      /* weights then biases to compute with (live or stashed) */
    float *mem, *spk;        /* [T,B,block] neuron state, block = rows*out_h*out_w */
    uint8_t *spk_bits;       /* with mem and spk NULL: the forward writes the spikes only as bits,
                                spike (t, b, i) bit (t·B + b)·block + i (sm_lif_forward_bits; B·block
                                a multiple of 8) */
    int32_t *pool_idx;       /* [R,rows,out_h,out_w] with max pooling, else NULL */
    float *cur;              /* NULL (model scratch), or where the forward leaves the LC's input
                                current after pooling, [R,block] */
    int cur_ready;           /* 1: cur and pool_idx already hold this microbatch's current (a
                                recomputation): the forward runs only the neurons */
} sm_lc_io;
/* The LC's input current after pooling for io's microbatch (the op and the
 * pooling of sm_lc_forward_io, without the neurons): io->cur when given, else
 * model scratch (valid until the next LC call). */
const float *sm_lc_current_io(sm_model *m, const sm_lc *lc, const sm_lc_io *io);
/* Forward of one LC on io (uses the model's scratch; sm_model_reserve first).
 * io->mem NULL: only the spikes are written (the membrane is not kept).
 * A layer whose input is spikes runs on the event-driven kernels when at most
 * SM_EVENT_MAX_DENSITY of the microbatch's input spikes fire, else on the
 * dense ones: a function of the data alone, so every executor, rank count and
 * placement takes the same path (docs/performance.md). */
void sm_lc_forward_io(sm_model *m, const sm_lc *lc, const sm_lc_io *io);
/* Backward of one LC: dS [T,B,block] dL/dS (NULL = none), dM [T,B,block] dL/dU
 * (ce_mem; NULL = none). Accumulates into grad [n_param]. With io->mem NULL
 * the membrane is recomputed from the current, which sm_lc_current_io must
 * have just computed for this microbatch (lean BPTT). For a conv layer,
 * when partial is not NULL, OVERWRITES it with this LC's partial input
 * gradient [R,n_in]. For a dense layer the partial is left to
 * sm_lc_partial_block; *dpre (if dpre is not NULL) then points at the gradient
 * of the op's output [R,rows] (model scratch: valid until the next LC call). */
void sm_lc_backward_io(sm_model *m, const sm_lc *lc, const sm_lc_io *io, const float *dS,
                       const float *dM, float *grad, float *partial, const float **dpre);
/* Columns of LC `lc`'s partial input gradient that belong to LC j of the
 * previous layer: out [R, block_j]. Dense: dpre . (weights of param restricted
 * to block j's columns), via sm_dense_partial_block; conv: the block of the
 * full partial. wcols is scratch of at least rows*block_j floats. */
void sm_lc_partial_block(const sm_model *m, const sm_lc *lc, const float *param, const float *dpre,
                         const float *partial, int R, int j, float *out, float *wcols);
/* Does LC k (of a dense layer) send LC j (of the layer before) the factors of
 * its partial gradient block — its op-output gradient [R,rows_k] and its
 * weight columns [rows_k,block_j] — instead of their product [R,block_j]?
 * Yes when the factors are smaller: R*rows_k + rows_k*block_j < R*block_j.
 * A function of the partition only (never of the placement), and the
 * receiver multiplies them with the same kernel the sender would have used. */
int sm_grad_factored(const sm_model *m, int k, int j, int R);
/* Size of LC j's block of its layer's output (rows * out_h * out_w) and its offset. */
size_t sm_lc_block(const sm_model *m, int j);
size_t sm_lc_block_offset(const sm_model *m, int j);
/* Copy `rows` rows of `block` floats between arrays with row strides. */
void sm_block_copy(float *dst, size_t dst_row, const float *src, size_t src_row, size_t rows,
                   size_t block);

/* The `grad` code path: zero the gradients, encode a batch (static x [B,n_in]
 * with sample ids 0..B-1 and epoch 0, or spikes [T,B,n_in] as they are), run
 * forward and backward with scale 1/B. Returns the mean loss; gradients are
 * left in every LC's grad block. */
double sm_model_grad_batch(sm_model *m, const float *x, const int32_t *y, int B, int is_spikes);

void sm_model_zero_grad(sm_model *m);
/* One optimizer step on every LC with the learning rate lr. */
void sm_model_update(sm_model *m, double lr);
/* One optimizer step on one LC (its step count + 1), then its gradient is zeroed. */
void sm_lc_update(sm_model *m, sm_lc *lc, double lr);
/* Learning rate of the schedule at optimizer step `step` of `total_steps`. */
double sm_model_lr(const sm_model *m, long step, long total_steps, int epoch);

/* Gather a whole layer's weight [out, fan_in] and bias [out] from its LCs
 * (and back). which: 0 = parameters, 1 = gradient, 2 = opt_m, 3 = opt_v. */
void sm_layer_gather(const sm_model *m, int layer, int which, float *w, float *b);
void sm_layer_scatter(sm_model *m, int layer, int which, const float *w, const float *b);

/* Checksum over every LC's parameters (and optimizer state when with_opt). */
uint64_t sm_model_checksum(const sm_model *m, int with_opt);

/* Encode a static batch x [B,n_in] for the configured encoder into out
 * [T,B,n_in]; returns 1 when no encoding is needed (direct: use x as static). */
int sm_model_encode(const sm_model *m, float *out, const float *x, const int32_t *sample_ids,
                    int B, uint64_t epoch);

#endif
