/* sm_io.h — the HDF5 files of DESIGN.md ("Files"): checkpoint.h5, batch.h5,
 * grads.h5. Every reader checks what it reads (format, dataset presence,
 * shapes against the model) and fails with SM_EINPUT and a message naming the
 * file, the dataset and what was expected. Writers go through a temporary file
 * that is flushed, synced and renamed: a crash never leaves a half file and
 * never destroys the previous one. */
#ifndef SM_IO_H
#define SM_IO_H

#include <stdint.h>

#include "sm_model.h"

#define SM_CHECKPOINT_FORMAT "spikemesh-checkpoint"
#define SM_CHECKPOINT_VERSION 2 /* 2: a checksum on every dataset; 1 (no checksums) is still read */

/* An epoch stopped at a round boundary (a signal): the rounds done and what
 * they had accumulated, so that resuming finishes the epoch with the same
 * figures (checkpoint.h5 /resume). round = 0: at an epoch boundary. */
typedef struct {
    long round;
    double loss_sum;
    long correct, seen;
    int n_lcs, ranks;
    double *lc_bytes;                  /* [n_lcs][n_lcs] */
    double *core_bytes, *core_messages; /* [ranks][ranks] */
    int32_t *lc_core;                  /* loaded only: the placement those rounds ran on */
} sm_checkpoint_partial;

typedef struct {
    int epoch;              /* epochs completed */
    long step;              /* optimizer steps taken */
    uint64_t seed;
    int has_optimizer;      /* /optim present */
    char *config;           /* YAML text stored in /meta (owned; free()) */
    sm_checkpoint_partial partial; /* round > 0: epoch `epoch` was stopped inside (arrays owned) */
} sm_checkpoint_meta;

/* The placer's learned state (the rl policy as sm_rl_policy_get floats). */
typedef struct {
    const float *policy;
    size_t n;
} sm_placer_state;

/* Write weights, optimizer state, step, the config text, the placement
 * (lc_core [n_lcs], or NULL for a single core: all zeros) and, when placer is
 * not NULL, /placement/policy float32 [n]. Atomic and verified: the file is
 * read back and every checksum checked before it replaces `path`, whose old
 * content is kept as sm_checkpoint_previous_path(path). */
int sm_checkpoint_save(const sm_model *m, const char *path, const char *config_text, int epoch,
                       const int32_t *lc_core, const sm_placer_state *placer,
                       const sm_checkpoint_partial *partial);
/* The name the previous checkpoint keeps when a new one replaces it:
 * DIR/checkpoint.h5 -> DIR/checkpoint.prev.h5. */
void sm_checkpoint_previous_path(char *buf, size_t n, const char *path);
/* Read /placement/policy into policy [n]: *found = 1 when present with n entries,
 * 0 when the checkpoint has none (a run without the rl placer). SM_EINPUT naming
 * the file when it has another length (a policy of another spikemesh version). */
int sm_checkpoint_read_policy(const char *path, float *policy, size_t n, int *found);
/* Read weights (and optimizer state + step when present and with_optimizer)
 * into an already built model, checking every shape. meta may be NULL. */
int sm_checkpoint_load(sm_model *m, const char *path, int with_optimizer, sm_checkpoint_meta *meta);
void sm_checkpoint_meta_free(sm_checkpoint_meta *meta);

/* batch.h5: /x float32 [B,C,H,W] or [B,N] (static) or [T,B,N] (spikes), /y
 * int32 [B]. *x is [B,n_in] (static, *is_spikes = 0) or [T,B,n_in] (spikes). */
int sm_batch_load(const sm_model *m, const char *path, float **x, int32_t **y, int *B, int *is_spikes);

/* grads.h5: /loss (float64 scalar) and /layers/<idx>_<kind>/weight_grad, bias_grad. Atomic. */
int sm_grads_save(const sm_model *m, const char *path, double loss);

/* Write a file through `path.tmp` + fsync + rename: the writer callback
 * receives an open HDF5 file id (hid_t as int64_t). */
int sm_h5_atomic_write(const char *path, int (*writer)(int64_t file, void *ctx), void *ctx);

#endif
