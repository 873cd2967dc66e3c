/* eval_grad.c — `spikemesh eval` (test accuracy of a checkpoint) and
 * `spikemesh grad` (loss and every gradient of one batch, for checks against
 * an independent implementation). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sm_cli.h"
#include "sm_common.h"
#include "sm_io.h"

static const char EVAL_USAGE[] =
    "usage: spikemesh eval -c CONFIG --checkpoint CKPT [--set key.path=value ...]\n"
    "\n"
    "Evaluate the weights of CKPT on the test set named by CONFIG's data: keys;\n"
    "prints test accuracy and mean loss.\n";

static const char GRAD_USAGE[] =
    "usage: spikemesh grad -c CONFIG --checkpoint CKPT --batch BATCH.h5 --out GRADS.h5\n"
    "                      [--set key.path=value ...]\n"
    "\n"
    "One forward and backward pass of the weights in CKPT on the batch in BATCH.h5\n"
    "(/x float32 [B,C,H,W], [B,N] or spikes [T,B,N]; /y int32 [B]). Writes the mean\n"
    "loss and the gradient of every weight and bias to GRADS.h5 (/loss,\n"
    "/layers/<i>_<kind>/weight_grad, bias_grad) and prints them in short.\n";

int sm_cmd_eval(int argc, char **argv) {
    static const char *const allowed[] = {"config", "set", "checkpoint", NULL};
    sm_cli_options o;
    int rc = sm_cli_parse(argc, argv, EVAL_USAGE, allowed, &o);
    if (rc) return rc;
    sm_cfg *cfg = NULL;
    sm_model m;
    memset(&m, 0, sizeof m);
    sm_dataset test = {0};
    if (!o.checkpoint) rc = sm_error("missing --checkpoint CKPT\n%s", EVAL_USAGE);
    if (!rc) rc = sm_cli_one_rank("eval");
    if (!rc) rc = sm_cli_setup(&o, &cfg, &m);
    char why[256];
    if (!rc) sm_cli_set_threads(&m, why, sizeof why);
    if (!rc) rc = sm_checkpoint_load(&m, o.checkpoint, 0, NULL);
    if (!rc) rc = sm_cli_load_data(&m, NULL, &test); /* only the test set is needed */
    if (!rc) {
        double acc, loss, t0 = sm_wall_seconds();
        sm_cli_evaluate(&m, &test, &acc, &loss);
        sm_print0("test samples %d  accuracy %.2f%%  loss %.4f  (%.1f s)\n", test.n, 100 * acc, loss,
                  sm_wall_seconds() - t0);
    }
    sm_dataset_free(&test);
    sm_model_free(&m);
    sm_cfg_free(cfg);
    free(o.sets);
    return rc;
}

int sm_cmd_grad(int argc, char **argv) {
    static const char *const allowed[] = {"config", "set", "checkpoint", "batch", "out", NULL};
    sm_cli_options o;
    int rc = sm_cli_parse(argc, argv, GRAD_USAGE, allowed, &o);
    if (rc) return rc;
    sm_cfg *cfg = NULL;
    sm_model m;
    memset(&m, 0, sizeof m);
    float *x = NULL;
    int32_t *y = NULL;
    int B = 0, spikes = 0;
    if (!o.checkpoint || !o.batch || !o.out)
        rc = sm_error("grad needs --checkpoint, --batch and --out\n%s", GRAD_USAGE);
    if (!rc) rc = sm_cli_one_rank("grad");
    if (!rc) rc = sm_cli_setup(&o, &cfg, &m);
    char why[256];
    if (!rc) sm_cli_set_threads(&m, why, sizeof why);
    if (!rc) rc = sm_checkpoint_load(&m, o.checkpoint, 0, NULL);
    if (!rc) rc = sm_batch_load(&m, o.batch, &x, &y, &B, &spikes);
    if (!rc) {
        double loss = sm_model_grad_batch(&m, x, y, B, spikes);
        rc = sm_grads_save(&m, o.out, loss);
        if (!rc) {
            sm_print0("loss %.9g\n", loss);
            for (int l = 0; l < m.n_layers; l++) {
                const sm_layer *L = &m.layers[l];
                float *w = sm_falloc((size_t)L->out * L->fan_in), *b = sm_falloc((size_t)L->out);
                sm_layer_gather(&m, l, 1, w, b);
                double nw = 0, nb = 0;
                for (size_t i = 0; i < (size_t)L->out * L->fan_in; i++) nw += (double)w[i] * w[i];
                for (int i = 0; i < L->out; i++) nb += (double)b[i] * b[i];
                sm_print0("%-10s |weight_grad| %.9g  |bias_grad| %.9g\n", L->name, sqrt(nw), sqrt(nb));
                free(w);
                free(b);
            }
            sm_print0("wrote %s\n", o.out);
        }
    }
    free(x);
    free(y);
    sm_model_free(&m);
    sm_cfg_free(cfg);
    free(o.sets);
    return rc;
}
