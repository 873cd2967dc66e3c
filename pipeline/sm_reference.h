/* sm_reference.h — the single-process reference executor of the schedules:
 * the math the distributed executor must reproduce bit for bit, written
 * without comm/ (no mailbox, no packing, no placement).
 *
 * Synchronous schedules reduce to minibatch SGD with gradient accumulation
 * over microbatches in ascending order: for each minibatch, for mb = 0..M-1,
 * a whole-model forward and backward of microbatch mb (sm_model_forward /
 * sm_model_backward with scale 1/B), then one update of every LC.
 * async walks the stage op lists with whole layers as stages, keeping each
 * layer's neuron state, inputs and (with stash) weight copies per microbatch,
 * and updates after every backward with scale 1/B_micro.
 * Both drop a last partial minibatch, as the executor does. */
#ifndef SM_REFERENCE_H
#define SM_REFERENCE_H

#include "sm_data.h"
#include "sm_model.h"

/* Train one epoch on one process. Returns SM_OK or an error from the schedule. */
int sm_reference_epoch(sm_model *m, const sm_dataset *d, int epoch, long total_steps);
/* Optimizer steps per epoch under the model's schedule (as sm_executor_steps_per_epoch). */
long sm_reference_steps_per_epoch(const sm_model *m, const sm_dataset *d);

#endif
