/* train_cmd.c — `spikemesh train`: the epoch loop on one rank.
 *
 * Run directory (--out, default runs/<config name>-<date>-<time>):
 *   config.yaml     the effective config (file + --set overrides)
 *   metrics.h5      per-epoch loss, accuracy, learning rate, seconds (sm_metrics.h)
 *   checkpoint.h5   weights, optimizer state, step; every train.checkpoint_every
 *                   epochs and at the end, written atomically
 * Resume (--resume CKPT) restores weights, optimizer moments and the step, and
 * continues at the next epoch. Shuffling and the rate encoder are keyed by
 * (seed, epoch), so the resumed run is bit-identical to an uninterrupted one.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sm_cli.h"
#include "sm_common.h"
#include "sm_io.h"
#include "sm_metrics.h"

static const char USAGE[] =
    "usage: spikemesh train -c CONFIG [--set key.path=value ...] [--out DIR] [--resume CKPT] [-q]\n"
    "\n"
    "Train the network of CONFIG (YAML, see docs/config.md) on its data set.\n"
    "\n"
    "  -c, --config FILE     run configuration (model, data, training)\n"
    "      --set KEY=VALUE   override one config key, e.g. --set train.epochs=3 (repeatable)\n"
    "  -o, --out DIR         run directory (default runs/<config>-<date>-<time>)\n"
    "      --resume CKPT     continue from a checkpoint.h5 (at the epoch after it)\n"
    "  -q, --quiet           no progress display\n"
    "\n"
    "Writes DIR/config.yaml, DIR/metrics.h5 (per epoch) and DIR/checkpoint.h5.\n";

static int make_dirs(const char *path) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) return sm_fail("cannot create %s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST) return sm_fail("cannot create %s: %s", buf, strerror(errno));
    return SM_OK;
}

static void default_out(char *buf, size_t n, const char *config) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", config);
    char *name = basename(tmp), *dot = strrchr(name, '.');
    if (dot) *dot = 0;
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    snprintf(buf, n, "runs/%s-%04d%02d%02d-%02d%02d%02d", name, tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static int write_text(const char *path, const char *text) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return sm_fail("cannot write %s: %s", tmp, strerror(errno));
    fputs(text, f);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
        fclose(f);
        return sm_fail("cannot write %s: %s", tmp, strerror(errno));
    }
    if (fclose(f) != 0) return sm_fail("cannot write %s: %s", tmp, strerror(errno));
    if (rename(tmp, path) != 0) return sm_fail("cannot rename %s: %s", tmp, strerror(errno));
    return SM_OK;
}

/* One epoch of minibatch training; returns mean loss and accuracy. */
static void train_epoch(sm_model *m, const sm_dataset *d, int epoch, long total_steps,
                        sm_progress *prog, double *mean_loss, double *accuracy, double *last_lr) {
    const int B = m->train.batch < d->n ? m->train.batch : d->n;
    const long batches = (d->n + B - 1) / B;
    int32_t *order = sm_xcalloc((size_t)d->n, sizeof(int32_t));
    float *x = sm_falloc((size_t)m->T * B * m->n_in), *enc = sm_falloc((size_t)m->T * B * m->n_in);
    int32_t *y = sm_xcalloc((size_t)B, sizeof(int32_t));
    sm_shuffle(order, d->n, m->seed, (uint64_t)epoch);
    double loss_sum = 0.0;
    long correct = 0, seen = 0;
    for (long batch = 0; batch < batches; batch++) {
        int nb = sm_gather_batch(d, order, (int)(batch * B), B, x, y);
        const float *input = x;
        int input_static = 0;
        if (!d->T) {
            input_static = sm_model_encode(m, enc, x, order + batch * B, nb, (uint64_t)epoch);
            if (!input_static) input = enc;
        }
        sm_model_zero_grad(m);
        sm_model_forward(m, input, input_static, nb);
        correct += sm_predict(NULL, m->act[m->n_layers - 1], y, m->T, nb, m->n_classes);
        loss_sum += sm_model_backward(m, y, 1.0 / nb) * nb;
        *last_lr = sm_model_lr(m, m->step, total_steps, epoch);
        sm_model_update(m, *last_lr);
        seen += nb;
        sm_progress_update(prog, batch + 1, loss_sum / seen, (double)correct / seen, seen);
    }
    *mean_loss = loss_sum / seen;
    *accuracy = (double)correct / seen;
    free(order); free(x); free(enc); free(y);
}

int sm_cmd_train(int argc, char **argv) {
    static const char *const allowed[] = {"config", "set", "out", "resume", "quiet", NULL};
    sm_cli_options o;
    int rc = sm_cli_parse(argc, argv, USAGE, allowed, &o);
    if (rc) { free(o.sets); return rc; }

    sm_cfg *cfg = NULL;
    sm_model model;
    memset(&model, 0, sizeof model);
    sm_dataset train = {0}, test = {0}, validation = {0};
    sm_metrics metrics = {0};
    sm_progress *prog = NULL;
    int start_epoch = 0;
    char out[4096], path[4300];

    if ((rc = sm_cli_setup(&o, &cfg, &model))) goto done;
    if ((rc = sm_cli_one_rank("train"))) goto done;
    if (model.pipeline.schedule != SM_SCHED_SEQUENTIAL || model.pipeline.microbatches != 1) {
        rc = sm_error("pipeline.schedule other than sequential and pipeline.microbatches > 1 need "
                      "the pipeline executor, which this version does not have yet");
        goto done;
    }
    if (o.resume) {
        sm_checkpoint_meta meta;
        if ((rc = sm_checkpoint_load(&model, o.resume, 1, &meta))) goto done;
        start_epoch = meta.epoch;
        if (!meta.has_optimizer) {
            sm_print0("note: %s holds no optimizer state; the optimizer starts afresh\n", o.resume);
            model.step = meta.step; /* the learning-rate schedule continues where it was */
        }
        if (meta.seed != model.seed)
            sm_print0("note: %s was trained with seed %llu, the config says %llu: data order and "
                      "encoder draws from here on follow the config\n", o.resume,
                      (unsigned long long)meta.seed, (unsigned long long)model.seed);
        sm_checkpoint_meta_free(&meta);
    }
    double t0 = sm_wall_seconds();
    if ((rc = sm_cli_load_data(&model, &train, &test))) goto done;
    double load_seconds = sm_wall_seconds() - t0;
    if (model.data.validation > 0) { /* hold out a seeded share of the training set */
        sm_dataset all = train;
        sm_dataset_split(&all, model.data.validation, model.seed, &train, &validation);
        sm_dataset_free(&all);
        if (validation.n == 0 || train.n == 0) {
            rc = sm_error("data.validation = %g leaves %d training and %d validation samples",
                          model.data.validation, train.n, validation.n);
            goto done;
        }
    }
    /* Every input is read and checked before the run directory is touched: a
     * run that fails on bad input leaves the files of an earlier run as they were. */
    if (o.out) snprintf(out, sizeof out, "%s", o.out);
    else if (o.resume) { snprintf(path, sizeof path, "%s", o.resume); snprintf(out, sizeof out, "%s", dirname(path)); }
    else default_out(out, sizeof out, o.config);
    if (o.resume) {
        snprintf(path, sizeof path, "%s/metrics.h5", out);
        FILE *f = fopen(path, "rb");
        if (f) {
            fclose(f);
            if ((rc = sm_metrics_load(&metrics, path, start_epoch))) goto done;
        }
    }
    if ((rc = make_dirs(out))) goto done;
    snprintf(path, sizeof path, "%s/config.yaml", out);
    if ((rc = write_text(path, sm_cfg_text(cfg)))) goto done;
    sm_print0("spikemesh train: %s, %d layers, %d logical cores, %ld parameters; %d training and "
              "%d test samples (loaded in %.1f s)\n", o.config, model.n_layers, model.n_lcs,
              (long)({ size_t s = 0; for (int i = 0; i < model.n_lcs; i++) s += model.lcs[i].n_param; s; }),
              train.n, test.n, load_seconds);
    if (validation.n) sm_print0("validation: %d samples held out of the training set\n", validation.n);
    sm_print0("run directory: %s\n", out);

    const int epochs = model.train.epochs;
    const int B = model.train.batch < train.n ? model.train.batch : train.n;
    const long steps_per_epoch = (train.n + B - 1) / B, total_steps = steps_per_epoch * epochs;
    prog = sm_progress_new(stderr, o.quiet);
    if (start_epoch >= epochs && o.resume)
        sm_print0("checkpoint is at epoch %d of %d: nothing to train\n", start_epoch, epochs);
    if (epochs == 0 && !o.resume) { /* the initial weights, e.g. as input for `grad` */
        snprintf(path, sizeof path, "%s/metrics.h5", out);
        if ((rc = sm_metrics_save(&metrics, path, sm_cfg_text(cfg), model.seed))) goto done;
        snprintf(path, sizeof path, "%s/checkpoint.h5", out);
        if ((rc = sm_checkpoint_save(&model, path, sm_cfg_text(cfg), 0))) goto done;
    }
    for (int epoch = start_epoch; epoch < epochs; epoch++) {
        double wall0 = sm_wall_seconds(), train_loss, train_acc, test_acc, test_loss, lr = 0.0;
        sm_progress_begin(prog, epoch, epochs, steps_per_epoch, (long)epoch * train.n,
                          (long)epochs * train.n);
        train_epoch(&model, &train, epoch, total_steps, prog, &train_loss, &train_acc, &lr);
        sm_progress_end(prog);
        double wall = sm_wall_seconds() - wall0;
        sm_cli_evaluate(&model, &test, &test_acc, &test_loss);
        double val_acc = NAN, val_loss = NAN;
        if (validation.n) sm_cli_evaluate(&model, &validation, &val_acc, &val_loss);
        double row[SM_METRIC_COLUMNS] = {train_loss, train_acc, test_loss, test_acc, lr, wall,
                                         train.n / wall, val_loss, val_acc};
        sm_metrics_append(&metrics, epoch, row);
        char val[64] = "";
        if (validation.n) snprintf(val, sizeof val, "  val acc %.2f%%", 100 * val_acc);
        sm_print0("epoch %d/%d  train loss %.4f acc %.2f%%%s  test loss %.4f acc %.2f%%  lr %.2g  "
                  "%.1f s (%.0f samples/s)\n", epoch + 1, epochs, train_loss, 100 * train_acc, val,
                  test_loss, 100 * test_acc, lr, wall, train.n / wall);
        snprintf(path, sizeof path, "%s/metrics.h5", out);
        if ((rc = sm_metrics_save(&metrics, path, sm_cfg_text(cfg), model.seed))) goto done;
        int every = model.train.checkpoint_every;
        if (epoch + 1 == epochs || (every > 0 && (epoch + 1) % every == 0)) {
            snprintf(path, sizeof path, "%s/checkpoint.h5", out);
            if ((rc = sm_checkpoint_save(&model, path, sm_cfg_text(cfg), epoch + 1))) goto done;
        }
    }
    sm_print0("outputs: %s/metrics.h5, %s/checkpoint.h5, %s/config.yaml\n", out, out, out);

done:
    sm_progress_free(prog);
    sm_metrics_free(&metrics);
    sm_dataset_free(&train);
    sm_dataset_free(&test);
    sm_dataset_free(&validation);
    sm_model_free(&model);
    sm_cfg_free(cfg);
    free(o.sets);
    return rc;
}
