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
 *
 * SIGINT / SIGTERM: the epoch stops at the next step boundary (a round of a
 * synchronous schedule; the end of the epoch for async), the checkpoint is
 * written (with /resume when inside an epoch) and the command exits with
 * 128 + the signal. A non-finite loss or gradient stops at the next step
 * boundary too, names step, layer and LC, and writes nothing (exit 1): the
 * last good checkpoint stays. docs/errors.md.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <mpi.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sm_cli.h"
#include "sm_common.h"
#include "sm_io.h"
#include "sm_executor.h"
#include "sm_metrics.h"
#include "sm_migrate.h"
#include "sm_partition.h"
#include "sm_placement.h"
#include "sm_replacer.h"

static const char USAGE[] =
    "usage: spikemesh train -c CONFIG [--set key.path=value ...] [--out DIR] [--resume CKPT] [-q]\n"
    "                       [--dry-run]\n"
    "\n"
    "Train the network of CONFIG (YAML, see docs/config.md) on its data set.\n"
    "\n"
    "  -c, --config FILE     run configuration (model, data, training)\n"
    "      --set KEY=VALUE   override one config key, e.g. --set train.epochs=3 (repeatable)\n"
    "  -o, --out DIR         run directory (default runs/<config>-<date>-<time>)\n"
    "      --resume CKPT     continue from a checkpoint.h5 (at the epoch after it)\n"
    "  -q, --quiet           no progress display\n"
    "      --dry-run         print the logical-core table and the placement, then exit\n"
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

/* The signal that asked the run to stop (0: none). */
static volatile sig_atomic_t stop_signal;
static void on_stop_signal(int sig) { stop_signal = sig; }

static void catch_stop_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* checkpoint.h5 on rank 0 (which holds every LC's state): the rl policy when
 * the placer has one, and an interrupted epoch's partial figures (NULL: none). */
static int save_checkpoint(const char *out, const sm_model *model, sm_cfg *cfg, int epoch,
                           const sm_comm *comm, const sm_replacer *placer, const sm_checkpoint_partial *partial) {
    char path[4300];
    snprintf(path, sizeof path, "%s/checkpoint.h5", out);
    float *policy = NULL;
    sm_placer_state ps = {NULL, 0};
    if (placer->policy) { /* rl: its trained policy warm-starts a resumed run */
        ps.n = sm_rl_policy_floats();
        policy = sm_xmalloc(sizeof *policy * ps.n);
        sm_rl_policy_get(placer->policy, policy);
        ps.policy = policy;
    }
    int rc = sm_checkpoint_save(model, path, sm_cfg_text(cfg), epoch, comm->lc_core,
                                placer->policy ? &ps : NULL, partial);
    free(policy);
    return rc;
}

/* Progress on rank 0, counted in minibatches of train.batch samples. */
typedef struct { sm_progress *prog; int batch; } progress_ctx;
static void on_progress(void *ctx, long samples_done, long samples_total) {
    progress_ctx *p = ctx;
    sm_progress_update(p->prog, samples_done / p->batch, NAN, NAN, samples_done);
    (void)samples_total;
}

/* The starting placement must fit every core's memory (sm_executor.h M2);
 * the message says where the placement came from. */
static int check_memory(const sm_model *m, const int32_t *lc_core, int ranks) {
    int rc = sm_executor_check_memory(m, lc_core, ranks);
    if (rc && *m->placement.file) sm_error_prefix("placement.file %s: ", m->placement.file);
    else if (rc) sm_error_prefix("the %s placement on %d rank%s: ", m->placement.method, ranks, ranks == 1 ? "" : "s");
    return rc;
}

/* Every rank learns whether any rank failed; a rank that did not fail itself
 * says so (its own message names nothing useful). */
static int agree(int rc) {
    int worst = rc;
    MPI_Allreduce(&rc, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (worst && !rc) sm_fail("another rank failed (see its message)");
    return worst;
}

int sm_cmd_train(int argc, char **argv) {
    static const char *const allowed[] = {"config", "set", "out", "resume", "quiet", "dry-run", NULL};
    sm_cli_options o;
    int rc = sm_cli_parse(argc, argv, USAGE, allowed, &o);
    if (rc) return rc;

    sm_cfg *cfg = NULL;
    sm_model model;
    memset(&model, 0, sizeof model);
    sm_dataset train = {0}, test = {0}, validation = {0};
    sm_metrics metrics = {0};
    sm_progress *prog = NULL;
    int start_epoch = 0;
    char out[4096], path[4300];
    sm_comm comm = {0};
    sm_executor *exec = NULL;
    int32_t *placement = NULL;
    sm_replacer placer = {0};
    sm_checkpoint_meta meta = {0};

    if ((rc = sm_cli_setup(&o, &cfg, &model))) goto done;
    if (o.dry_run) { /* the partition and placement, without data or training */
        int ranks = 1;
        MPI_Comm_size(MPI_COMM_WORLD, &ranks);
        if (sm_cli_rank() == 0) {
            sm_partition_print(stdout, &model, sm_model_static_input(&model));
            placement = sm_xcalloc((size_t)model.n_lcs, sizeof(int32_t));
            if (*model.placement.file)
                rc = sm_placement_read(model.placement.file, placement, model.n_lcs, ranks);
            else
                sm_place_sequential(placement, model.n_lcs, ranks);
            if (!rc && (long)model.chip.mesh_w * model.chip.mesh_h < ranks)
                rc = sm_error("chip.mesh_w x chip.mesh_h = %d x %d cores, but the job has %d MPI ranks "
                              "(one rank per core)", model.chip.mesh_w, model.chip.mesh_h, ranks);
            if (!rc) rc = check_memory(&model, placement, ranks);
            if (!rc && model.layers[model.n_layers - 1].n_lc != 1)
                rc = sm_error("the output layer (%s) must be one logical core (the loss needs all its "
                              "outputs together); remove its 'lcs' setting",
                              model.layers[model.n_layers - 1].name);
            if (!rc) {
                printf("placement on %d rank(s) of a %dx%d mesh (%s): LC -> core (x,y)\n", ranks,
                       model.chip.mesh_w, model.chip.mesh_h,
                       *model.placement.file ? model.placement.file : "sequential");
                if (!*model.placement.file && strcmp(model.placement.method, "sequential"))
                    printf("(placement.method %s runs at the start of training, on the graph of one epoch "
                           "of the data set; `spikemesh place -c CONFIG --method %s` shows its result)\n",
                           model.placement.method, model.placement.method);
                for (int i = 0; i < model.n_lcs; i++)
                    printf("  %4d -> %3d (%d,%d)%s", i, placement[i], placement[i] % model.chip.mesh_w,
                           placement[i] / model.chip.mesh_w, (i + 1) % 4 == 0 || i + 1 == model.n_lcs ? "\n" : "");
            }
        }
        rc = agree(rc);
        goto done;
    }
    if (o.resume) {
        if ((rc = sm_checkpoint_load(&model, o.resume, 1, &meta))) goto done;
        start_epoch = meta.epoch;
        if (!meta.has_optimizer) {
            sm_print0("note: %s holds no optimizer state; the optimizer starts afresh\n", o.resume);
            model.step = meta.step; /* the learning-rate schedule continues where it was */
            for (int i = 0; i < model.n_lcs; i++) model.lcs[i].step = meta.step;
        }
        if (meta.seed != model.seed)
            sm_print0("note: %s was trained with seed %llu, the config says %llu: data order and "
                      "encoder draws from here on follow the config\n", o.resume,
                      (unsigned long long)meta.seed, (unsigned long long)model.seed);
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
    /* the chip, the placement and the executor's own checks, also before any file */
    if ((rc = sm_comm_init(&comm, MPI_COMM_WORLD, &model.chip, model.n_lcs))) goto done;
    placement = sm_xcalloc((size_t)model.n_lcs, sizeof(int32_t));
    if ((rc = sm_replacer_init(&placer, &model, train.n, comm.size))) goto done;
    if (model.placement.every > 0 && !strcmp(model.placement.method, "sequential"))
        sm_print0("note: placement.every = %d has no effect with placement.method sequential (set a placer, "
                  "e.g. sa)\n", model.placement.every);
    if (o.resume && placer.policy) { /* rl: continue with the policy the checkpoint holds */
        size_t k = sm_rl_policy_floats();
        float *policy = sm_xmalloc(sizeof *policy * k);
        int found = 0;
        rc = sm_checkpoint_read_policy(o.resume, policy, k, &found);
        if (!rc && found) sm_rl_policy_set(placer.policy, policy);
        if (!rc && found) sm_print0("placement: rl policy restored from %s\n", o.resume);
        free(policy);
        if (rc) goto done;
    }
    rc = sm_replacer_initial(&placer, placement);
    if (!rc) rc = check_memory(&model, placement, comm.size);
    if (!rc) rc = sm_comm_set_placement(&comm, placement);
    if (!rc) rc = sm_executor_new(&exec, &model, &comm, &train);
    if (!rc && meta.partial.round > 0) { /* the checkpoint stopped inside epoch start_epoch */
        const sm_checkpoint_partial *pa = &meta.partial;
        if (model.pipeline.schedule == SM_SCHED_ASYNC || pa->round >= sm_executor_steps_per_epoch(exec))
            rc = sm_error("%s: /resume says epoch %d stopped after round %ld, which this config's schedule "
                          "(%s, %ld rounds per epoch) cannot resume from: resume with the config it was written with",
                          o.resume, start_epoch + 1, pa->round, sm_schedule_name(model.pipeline.schedule),
                          sm_executor_steps_per_epoch(exec));
        int same_cores = pa->ranks == comm.size &&
                         !memcmp(pa->lc_core, comm.lc_core, sizeof(int32_t) * (size_t)model.n_lcs);
        sm_epoch_resume r = {pa->round, pa->loss_sum, pa->correct, pa->seen, pa->lc_bytes,
                             same_cores ? pa->core_bytes : NULL, same_cores ? pa->core_messages : NULL};
        if (!rc) sm_executor_resume_at(exec, &r);
        if (!rc) sm_print0("resuming inside epoch %d, after step %ld of %ld\n", start_epoch + 1, pa->round,
                           sm_executor_steps_per_epoch(exec));
    }
    if (rc) goto done;
    catch_stop_signals();
    sm_executor_watch(exec, &stop_signal);
    if (sm_cli_rank() == 0) {
        rc = make_dirs(out);
        snprintf(path, sizeof path, "%s/config.yaml", out);
        if (!rc) rc = sm_cli_write_text(path, sm_cfg_text(cfg));
    }
    if ((rc = agree(rc))) goto done;
    sm_print0("spikemesh train: %s, %d layers, %d logical cores, %ld parameters; %d training and "
              "%d test samples (loaded in %.1f s)\n", o.config, model.n_layers, model.n_lcs,
              (long)({ size_t s = 0; for (int i = 0; i < model.n_lcs; i++) s += model.lcs[i].n_param; s; }),
              train.n, test.n, load_seconds);
    if (validation.n) sm_print0("validation: %d samples held out of the training set\n", validation.n);
    sm_print0("run directory: %s\n", out);

    const int epochs = model.train.epochs;
    const int root = sm_cli_rank() == 0;
    sm_print0("pipeline: %s schedule, %d microbatches of %d samples, %d ranks on a %dx%d mesh\n",
              sm_schedule_name(model.pipeline.schedule), model.pipeline.microbatches,
              model.train.batch / model.pipeline.microbatches, comm.size, model.chip.mesh_w,
              model.chip.mesh_h);
    if (placer.initial_note[0]) sm_print0("%s", placer.initial_note);
    char why[256];
    const int threads = sm_cli_set_threads(&model, why, sizeof why);
    sm_model_reserve_scratch(&model, model.scratch_batch); /* the kernels' scratch has a part per thread */
    sm_print0("threads: %d thread%s per rank (%s)\n", threads, threads == 1 ? "" : "s", why);
    const long steps_per_epoch = sm_executor_steps_per_epoch(exec), total_steps = steps_per_epoch * epochs;
    const long batches = train.n / model.train.batch; /* a last partial minibatch is dropped */
    prog = sm_progress_new(stderr, o.quiet);
    if (start_epoch >= epochs && o.resume)
        sm_print0("checkpoint is at epoch %d of %d: nothing to train\n", start_epoch, epochs);
    if (epochs == 0 && !o.resume && root) { /* the initial weights, e.g. as input for `grad` */
        snprintf(path, sizeof path, "%s/metrics.h5", out);
        rc = sm_metrics_save(&metrics, path, sm_cfg_text(cfg), model.seed);
        if (!rc) rc = save_checkpoint(out, &model, cfg, 0, &comm, &placer, NULL);
    }
    if ((rc = agree(rc))) goto done;
    for (int epoch = start_epoch; epoch < epochs; epoch++) {
        sm_epoch_stats st;
        sm_progress_begin(prog, epoch, epochs, batches, (long)epoch * train.n, (long)epochs * train.n);
        progress_ctx pc = {prog, model.train.batch};
        rc = sm_executor_epoch(exec, epoch, total_steps, &st, on_progress, &pc);
        sm_progress_end(prog);
        if ((rc = agree(rc))) goto done;
        if (st.nonfinite_step >= 0) { /* nothing of this epoch is kept: the last checkpoint stays */
            const sm_lc *lc = &model.lcs[st.nonfinite_lc];
            snprintf(path, sizeof path, "%s/checkpoint.h5", out);
            rc = sm_fail("non-finite %s at optimizer step %ld (epoch %d), layer %d (%s), logical core %d: "
                         "training stopped; %s%s is left as it was (lower train.lr?)",
                         st.nonfinite_grad ? "gradient" : "loss", st.nonfinite_step, epoch + 1, lc->layer,
                         model.layers[lc->layer].name, st.nonfinite_lc,
                         access(path, F_OK) == 0 ? "the last checkpoint " : "no checkpoint was written yet; ",
                         access(path, F_OK) == 0 ? path : out);
            goto done;
        }
        if (st.stopped) { /* a signal, inside the epoch: checkpoint the rounds done and stop */
            if ((rc = agree(sm_gather_state(&comm, &model, 0)))) goto done;
            if (root) {
                model.step = model.lcs[0].step;
                sm_checkpoint_partial pa = {st.rounds_done, st.loss_sum, st.correct, st.samples,
                                            model.n_lcs, comm.size, st.lc_bytes, st.core_bytes,
                                            st.core_messages, NULL};
                rc = save_checkpoint(out, &model, cfg, epoch, &comm, &placer, &pa);
            }
            if ((rc = agree(rc))) goto done;
            sm_print0("\nstopped by signal %d after step %ld of %ld in epoch %d: checkpoint %s/checkpoint.h5 "
                      "written; continue with --resume %s/checkpoint.h5\n", (int)stop_signal, st.rounds_done,
                      st.rounds, epoch + 1, out, out);
            rc = 128 + stop_signal;
            goto done;
        }
        /* the placement this epoch ran on, before a re-placement changes it */
        memcpy(placement, comm.lc_core, sizeof(int32_t) * (size_t)model.n_lcs);
        sm_replace_report rep;
        if ((rc = agree(sm_replacer_after_epoch(&placer, epoch, &st, &comm, &rep)))) goto done;
        /* rank 0 evaluates and writes: it needs every LC's current state */
        if ((rc = agree(sm_gather_state(&comm, &model, 0)))) goto done;
        if (root) {
            model.step = model.lcs[0].step;
            double test_acc, test_loss, val_acc = NAN, val_loss = NAN;
            sm_cli_evaluate(&model, &test, &test_acc, &test_loss);
            if (validation.n) sm_cli_evaluate(&model, &validation, &val_acc, &val_loss);
            /* what communication costs the emulated chip: its time with real
             * links against its time with free ones (same ops, same order) */
            double comm_share = st.emulated_seconds > 0
                                    ? 1.0 - st.emulated_free_seconds / st.emulated_seconds : 0.0;
            double row[SM_METRIC_COLUMNS] = {st.loss, st.accuracy, test_loss, test_acc, st.last_lr,
                                             st.wall_seconds, st.samples / st.wall_seconds, val_loss,
                                             val_acc, st.emulated_seconds,
                                             comm_share,
                                             st.forward_bytes, st.backward_bytes,
                                             st.compute_seconds, (double)comm.size,
                                             rep.predicted_time, rep.traffic_match < 0 ? NAN : rep.traffic_match,
                                             rep.hop_bytes, rep.migrated_lcs, rep.migrated_bytes};
            sm_metrics_append(&metrics, epoch, row);
            sm_metrics_append_stats(&metrics, epoch, &st, placement, model.n_lcs, comm.size);
            if (rep.predicted_core_bytes) sm_metrics_set_predicted(&metrics, rep.predicted_core_bytes);
            metrics.mesh_w = model.chip.mesh_w;
            metrics.mesh_h = model.chip.mesh_h;
            char val[64] = "";
            if (validation.n) snprintf(val, sizeof val, "  val acc %.2f%%", 100 * val_acc);
            sm_print0("epoch %d/%d  train loss %.4f acc %.2f%%%s  test loss %.4f acc %.2f%%  lr %.2g  "
                      "%.1f s (%.0f samples/s)  emulated %.3g s (%.0f samples/s)\n", epoch + 1, epochs,
                      st.loss, 100 * st.accuracy, val, test_loss, 100 * test_acc, st.last_lr,
                      st.wall_seconds, st.samples / st.wall_seconds, st.emulated_seconds,
                      st.samples / st.emulated_seconds);
            if (comm.size > 1)
                sm_print0("  placement: measured traffic %s the prediction; hop-bytes %.4g; predicted %.3g s, "
                          "emulated %.3g s\n", rep.traffic_match ? "equals" : "DIFFERS FROM", rep.hop_bytes,
                          rep.predicted_time, st.emulated_seconds);
            if (rep.considered)
                sm_print0("  re-placement (%s, %ld evaluations, %.2f s): cost %.4f -> %.4f, predicted epoch "
                          "%.4g -> %.4g s, migration %.3g s: %s\n", model.placement.method, rep.evaluations,
                          rep.placer_seconds, rep.current_cost, rep.new_cost, rep.current_time, rep.new_time,
                          rep.migration_seconds,
                          rep.replaced ? "migrated"
                          : rep.better ? "kept (the time gained does not pay for the migration)"
                                       : "kept (nothing cheaper found)");
            if (rep.replaced)
                sm_print0("  migrated %d logical cores (%.3g MB, checksums verified)\n", rep.migrated_lcs,
                          rep.migrated_bytes / 1e6);
            snprintf(path, sizeof path, "%s/metrics.h5", out);
            rc = sm_metrics_save(&metrics, path, sm_cfg_text(cfg), model.seed);
            if (!rc && rep.considered) {
                snprintf(path, sizeof path, "%s/place_trace.h5", out);
                const char *name = model.placement.method;
                rc = sm_place_trace_write(path, 1, &name, &placer.trace);
            }
            int every = model.train.checkpoint_every;
            if (!rc && (epoch + 1 == epochs || (every > 0 && (epoch + 1) % every == 0) || stop_signal))
                rc = save_checkpoint(out, &model, cfg, epoch + 1, &comm, &placer, NULL);
        }
        if ((rc = agree(rc))) goto done;
        int sig = stop_signal; /* the same on every rank? the flag is per process: agree on it */
        MPI_Allreduce(MPI_IN_PLACE, &sig, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        if (sig && epoch + 1 < epochs) {
            sm_print0("\nstopped by signal %d at the end of epoch %d: checkpoint %s/checkpoint.h5 written; "
                      "continue with --resume %s/checkpoint.h5\n", sig, epoch + 1, out, out);
            rc = 128 + sig;
            goto done;
        }
        /* after a migration the executor's local LC lists follow the new placement; it
         * is rebuilt only now because st (read above) points into its buffers */
        if (rep.replaced) {
            sm_executor_free(exec);
            exec = NULL;
            if ((rc = agree(sm_executor_new(&exec, &model, &comm, &train)))) goto done;
        }
    }
    sm_print0("outputs: %s/metrics.h5, %s/checkpoint.h5, %s/config.yaml\n", out, out, out);

done:
    sm_checkpoint_meta_free(&meta);
    sm_executor_free(exec);
    sm_replacer_free(&placer);
    sm_comm_free(&comm);
    free(placement);
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
