/* bench_cmd.c — `spikemesh bench`: the end-to-end speedup table.
 *
 * A driver, run WITHOUT mpirun: for every schedule and rank count it launches
 *   mpirun -n R <this binary> train -c CONFIG --set pipeline.schedule=S ... -q --out DIR/S-R
 * (one epoch over --batches minibatches by default), then reads each run's
 * metrics.h5 and prints, per run: wall and emulated seconds, speedup over
 * `sequential` on one rank (both clocks), bubble fraction of the emulated chip
 * (1 − Σ compute / (R · emulated time)), payload bytes moved and the share of
 * emulated time spent waiting for messages. The table is also written as
 * DIR/bench.csv and DIR/bench.h5.
 *
 * With --methods, every schedule and rank count runs once per placement method
 * (--set placement.method=M: the method places the LCs before epoch 1), and the
 * table adds the measured hop-bytes, the predicted epoch time and whether the
 * measured traffic equalled the prediction: the placers compared end to end.
 *
 * Each run gets a mesh of about sqrt(R) x sqrt(R) cores (chip.mesh_w/mesh_h)
 * and partition.max_lcs = 2R, so that every rank gets work; a --set of those
 * keys wins, since the user's overrides come last. Under Open MPI as root the driver sets the variables Open MPI
 * needs for that (and for more ranks than cores).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "h5util.h"
#include "sm_cli.h"
#include "sm_common.h"
#include "sm_io.h"
#include "sm_metrics.h"
#include "sm_place.h"

extern char **environ;

static const char USAGE[] =
    "usage: spikemesh bench -c CONFIG [--schedules LIST] [--ranks LIST] [--methods LIST] [--batches N]\n"
    "                       [--set key.path=value ...] [--out DIR]\n"
    "\n"
    "Run one training epoch of CONFIG for every schedule and rank count under mpirun and\n"
    "print the speedup table (wall and emulated time). Run it without mpirun.\n"
    "\n"
    "  --schedules LIST   comma-separated (default sequential,gpipe,1f1b,async)\n"
    "  --ranks LIST       comma-separated MPI rank counts (default 1,2,4,8,16)\n"
    "  --methods LIST     placement methods to compare, each placing the LCs before epoch 1\n"
    "                     (default: the config's placement.method alone)\n"
    "  --batches N        minibatches per epoch (default 20; sets data.train_limit)\n"
    "  --set KEY=VALUE    config override for every run (repeatable)\n"
    "  -o, --out DIR      where runs and bench.csv / bench.h5 go (default runs/bench-<config>)\n"
    "environment: SPIKEMESH_MPIRUN (default mpirun)\n";

typedef struct {
    char schedule[16], method[16];
    int ranks;
    double wall, emulated, compute, bytes, comm_share, fwd_bytes, bwd_bytes, samples, accuracy;
    double hop_bytes, predicted, matches; /* measured hop-bytes, predicted epoch s, traffic = prediction (1/0) */
    int ok;
} bench_row;

static int split_list(char *text, char **items, int max) {
    int n = 0;
    for (char *tok = strtok(text, ","); tok && n < max; tok = strtok(NULL, ",")) items[n++] = tok;
    return n;
}

/* Run argv (NULL-terminated) and wait; returns its exit status or -1. */
static int run(char **argv, const char *log) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc) return -1;
    int status;
    if (waitpid(pid, &status, 0) < 0) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int read_metrics(const char *path, bench_row *r) {
    hid_t f;
    if (sm_h5_open_read(&f, path)) return -1;
    int rank;
    hsize_t dims[8];
    int rc = sm_h5_shape(f, path, "/epoch", &rank, dims);
    if (!rc && dims[0] >= 1) {
        hsize_t n = dims[0];
        double *v = sm_xcalloc(n, sizeof(double));
        struct { const char *name; double *out; } cols[] = {
            {"/wall_seconds", &r->wall}, {"/emulated_seconds", &r->emulated},
            {"/compute_seconds", &r->compute}, {"/communication_share", &r->comm_share},
            {"/forward_bytes", &r->fwd_bytes}, {"/backward_bytes", &r->bwd_bytes},
            {"/samples_per_second", &r->samples}, {"/test_accuracy", &r->accuracy},
            {"/hop_bytes", &r->hop_bytes}, {"/predicted_seconds", &r->predicted},
            {"/traffic_matches_prediction", &r->matches}};
        for (size_t i = 0; !rc && i < sizeof cols / sizeof cols[0]; i++) {
            rc = sm_h5_read_doubles(f, path, cols[i].name, v, 1, &n);
            if (!rc) *cols[i].out = v[n - 1]; /* the last epoch */
        }
        r->samples *= r->wall; /* samples/s x s */
        r->bytes = r->fwd_bytes + r->bwd_bytes;
        free(v);
    }
    H5Fclose(f);
    return rc ? -1 : 0;
}

/* Speedups are over `sequential` on one rank (the first such run: the first
 * placement method) when the table has it, else the first run. */
static const bench_row *baseline(const bench_row *rows, int n) {
    for (int i = 0; i < n; i++)
        if (rows[i].ok && rows[i].ranks == 1 && !strcmp(rows[i].schedule, "sequential")) return &rows[i];
    return &rows[0];
}

/* A [N] dataset of 16-byte strings: field `offset` of each row. */
static int write_names(int64_t file, const char *name, const bench_row *rows, int n, size_t offset) {
    char *names = sm_xcalloc((size_t)n + 1, 16);
    for (int i = 0; i < n; i++) memcpy(names + 16 * i, (const char *)&rows[i] + offset, 16);
    int rc = sm_h5_write_fixed_strings(file, name, names, 16, (hsize_t)n);
    free(names);
    return rc;
}

typedef struct { const bench_row *rows; int n; } h5ctx;

static int write_h5(int64_t file, void *vctx) {
    h5ctx *c = vctx;
    hsize_t n = (hsize_t)c->n;
    double *col = sm_xcalloc((size_t)c->n + 1, sizeof(double));
    int32_t *ranks = sm_xcalloc((size_t)c->n + 1, sizeof(int32_t));
    int rc = SM_OK;
    for (int i = 0; i < c->n; i++) ranks[i] = c->rows[i].ranks;
    rc = sm_h5_write_ints(file, "/ranks", ranks, 1, &n);
#define COLUMN(name, field) \
    for (int i = 0; i < c->n; i++) col[i] = c->rows[i].field; \
    if (!rc) rc = sm_h5_write_doubles(file, name, col, 1, &n);
    COLUMN("/wall_seconds", wall)
    COLUMN("/emulated_seconds", emulated)
    COLUMN("/compute_seconds", compute)
    COLUMN("/bytes", bytes)
    COLUMN("/forward_bytes", fwd_bytes)
    COLUMN("/backward_bytes", bwd_bytes)
    COLUMN("/communication_share", comm_share)
    COLUMN("/hop_bytes", hop_bytes)
    COLUMN("/predicted_seconds", predicted)
    COLUMN("/traffic_matches_prediction", matches)
#undef COLUMN
    if (!rc) rc = write_names(file, "/schedule", c->rows, c->n, offsetof(bench_row, schedule));
    if (!rc) rc = write_names(file, "/placement", c->rows, c->n, offsetof(bench_row, method));
    free(col); free(ranks);
    return rc;
}

int sm_cmd_bench(int argc, char **argv) {
    const char *config = NULL, *out_dir = NULL, *mpirun = getenv("SPIKEMESH_MPIRUN");
    char schedules_text[256] = "sequential,gpipe,1f1b,async", ranks_text[256] = "1,2,4,8,16", methods_text[256] = "";
    int batches = 20;
    const char **sets = sm_xcalloc((size_t)argc + 1, sizeof(char *));
    int n_sets = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { fputs(USAGE, stdout); free(sets); return -1; }
        if (!v) { free(sets); return sm_error("option '%s' needs a value\n%s", a, USAGE); }
        if (!strcmp(a, "-c") || !strcmp(a, "--config")) config = v;
        else if (!strcmp(a, "--schedules")) snprintf(schedules_text, sizeof schedules_text, "%s", v);
        else if (!strcmp(a, "--ranks")) snprintf(ranks_text, sizeof ranks_text, "%s", v);
        else if (!strcmp(a, "--methods")) snprintf(methods_text, sizeof methods_text, "%s", v);
        else if (!strcmp(a, "--batches")) batches = atoi(v);
        else if (!strcmp(a, "--set")) sets[n_sets++] = v;
        else if (!strcmp(a, "-o") || !strcmp(a, "--out")) out_dir = v;
        else { free(sets); return sm_error("unknown option '%s'\n%s", a, USAGE); }
        i++;
    }
    if (!config) { free(sets); return sm_error("missing -c CONFIG\n%s", USAGE); }
    if (batches < 1) { free(sets); return sm_error("--batches must be at least 1"); }
    /* check the config (and overrides) once, here, with a clear message */
    sm_cli_options o = {.config = config, .sets = sets, .n_sets = n_sets};
    sm_cfg *cfg;
    sm_model model;
    int rc = sm_cli_setup(&o, &cfg, &model);
    if (rc) { free(sets); return rc; }
    const int batch = model.train.batch;
    char config_method[16];
    snprintf(config_method, sizeof config_method, "%s", model.placement.method);
    sm_model_free(&model);
    sm_cfg_free(cfg);

    char *sched[8], *rank_items[16], *methods[16];
    int n_sched = split_list(schedules_text, sched, 8), n_ranks = split_list(ranks_text, rank_items, 16);
    int n_methods = split_list(methods_text, methods, 16), given_methods = n_methods > 0;
    for (int i = 0; i < n_methods; i++) {
        if (sm_place_method_index(methods[i]) < 0) {
            free(sets);
            return sm_error("--methods: unknown placement method '%s' (sequential zigzag hilbert random greedy sa "
                            "ga scotch rl)", methods[i]);
        }
    }
    if (!given_methods) methods[n_methods++] = config_method;
    for (int i = 0; i < n_sched; i++) {
        sm_schedule_kind k;
        if (sm_schedule_parse(sched[i], &k)) { free(sets); return sm_error("--schedules: unknown schedule '%s' (sequential, gpipe, 1f1b, async)", sched[i]); }
    }
    char dir[4096], self[4096];
    if (out_dir) snprintf(dir, sizeof dir, "%s", out_dir);
    else {
        const char *base = strrchr(config, '/') ? strrchr(config, '/') + 1 : config;
        snprintf(dir, sizeof dir, "runs/bench-%.*s", (int)strcspn(base, "."), base);
    }
    mkdir("runs", 0777);
    if (mkdir(dir, 0777) && errno != EEXIST) { free(sets); return sm_fail("cannot create %s: %s", dir, strerror(errno)); }
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) { free(sets); return sm_fail("cannot find the spikemesh binary (/proc/self/exe)"); }
    self[len] = 0;
    if (!mpirun) mpirun = "mpirun";
    if (getuid() == 0) { /* Open MPI refuses root unless told (MPICH ignores these) */
        setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 0);
        setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 0);
    }
    setenv("OMPI_MCA_rmaps_base_oversubscribe", "1", 0);

    bench_row *rows = sm_xcalloc((size_t)(n_sched * n_ranks * n_methods) + 1, sizeof(bench_row));
    int n_rows = 0;
    printf("%-10s %5s %-10s %9s %10s %9s %9s %8s %12s %12s %11s %6s %8s\n", "schedule", "ranks", "placement",
           "wall s", "emulated s", "speedup", "emu-spdup", "bubble", "bytes", "hop-bytes", "traffic", "comm",
           "test acc");
    fflush(stdout);
    for (int s = 0; s < n_sched; s++)
        for (int r = 0; r < n_ranks; r++)
        for (int m = 0; m < n_methods; m++) {
            bench_row *row = &rows[n_rows++];
            snprintf(row->schedule, sizeof row->schedule, "%s", sched[s]);
            snprintf(row->method, sizeof row->method, "%s", methods[m]);
            row->ranks = atoi(rank_items[r]);
            char run_dir[4400], log[4500], metrics[4500], np[16], limit[64], sched_set[64], lcs[64], method_set[64];
            if (given_methods) snprintf(run_dir, sizeof run_dir, "%s/%s-%d-%s", dir, sched[s], row->ranks, methods[m]);
            else snprintf(run_dir, sizeof run_dir, "%s/%s-%d", dir, sched[s], row->ranks);
            snprintf(method_set, sizeof method_set, "placement.method=%s", methods[m]);
            snprintf(log, sizeof log, "%s.log", run_dir);
            snprintf(metrics, sizeof metrics, "%s/metrics.h5", run_dir);
            snprintf(np, sizeof np, "%d", row->ranks);
            snprintf(limit, sizeof limit, "data.train_limit=%d", batches * batch);
            snprintf(sched_set, sizeof sched_set, "pipeline.schedule=%s", sched[s]);
            int w = 1;
            while (w * w < row->ranks) w++;
            char mw[48], mh[48];
            snprintf(mw, sizeof mw, "chip.mesh_w=%d", w);
            snprintf(mh, sizeof mh, "chip.mesh_h=%d", (row->ranks + w - 1) / w);
            snprintf(lcs, sizeof lcs, "partition.max_lcs=%d", 2 * row->ranks);
            char *args[64 + 2 * n_sets];
            int a = 0;
            args[a++] = (char *)mpirun; args[a++] = "-n"; args[a++] = np; args[a++] = self;
            args[a++] = "train"; args[a++] = "-c"; args[a++] = (char *)config;
            args[a++] = "-q"; args[a++] = "--out"; args[a++] = run_dir;
            args[a++] = "--set"; args[a++] = "train.epochs=1";
            args[a++] = "--set"; args[a++] = limit;
            args[a++] = "--set"; args[a++] = sched_set;
            args[a++] = "--set"; args[a++] = mw;
            args[a++] = "--set"; args[a++] = mh;
            args[a++] = "--set"; args[a++] = lcs;
            if (given_methods) { args[a++] = "--set"; args[a++] = method_set; }
            for (int i = 0; i < n_sets; i++) { args[a++] = "--set"; args[a++] = (char *)sets[i]; }
            args[a] = NULL;
            int status = run(args, log);
            row->ok = status == 0 && read_metrics(metrics, row) == 0;
            const bench_row *base = baseline(rows, n_rows);
            if (!row->ok) {
                printf("%-10s %5d %-10s  failed (exit %d): see %s\n", row->schedule, row->ranks, row->method, status,
                       log);
            } else {
                double bubble = 1.0 - row->compute / (row->ranks * row->emulated);
                printf("%-10s %5d %-10s %9.3g %10.4g %8.2fx %8.2fx %7.1f%% %12.4g %12.4g %11s %5.1f%% %7.2f%%\n",
                       row->schedule, row->ranks, row->method, row->wall, row->emulated,
                       base->ok ? base->wall / row->wall : NAN, base->ok ? base->emulated / row->emulated : NAN,
                       100 * bubble, row->bytes, row->hop_bytes, row->matches > 0 ? "=predicted" : "DIFFERS",
                       100 * row->comm_share, 100 * row->accuracy);
            }
            fflush(stdout);
        }
    /* CSV and HDF5 */
    char path[4500];
    snprintf(path, sizeof path, "%s/bench.csv", dir);
    FILE *csv = fopen(path, "w");
    if (csv) {
        fprintf(csv, "schedule,ranks,wall_seconds,emulated_seconds,speedup_wall,speedup_emulated,bubble_fraction,bytes,forward_bytes,backward_bytes,communication_share,test_accuracy,placement,hop_bytes,predicted_seconds,traffic_matches_prediction\n");
        for (int i = 0; i < n_rows; i++) {
            const bench_row *r = &rows[i], *b = baseline(rows, n_rows);
            if (!r->ok) continue;
            fprintf(csv, "%s,%d,%.6g,%.6g,%.4f,%.4f,%.4f,%.0f,%.0f,%.0f,%.4f,%.4f,%s,%.0f,%.6g,%d\n", r->schedule,
                    r->ranks, r->wall, r->emulated, b->wall / r->wall, b->emulated / r->emulated,
                    1.0 - r->compute / (r->ranks * r->emulated), r->bytes, r->fwd_bytes, r->bwd_bytes,
                    r->comm_share, r->accuracy, r->method, r->hop_bytes, r->predicted, r->matches > 0);
        }
        fclose(csv);
    }
    h5ctx hc = {rows, n_rows};
    snprintf(path, sizeof path, "%s/bench.h5", dir);
    rc = sm_h5_atomic_write(path, write_h5, &hc);
    if (!rc) printf("tables: %s/bench.csv, %s/bench.h5; runs and logs in %s\n", dir, dir, dir);
    int failures = 0;
    for (int i = 0; i < n_rows; i++) failures += !rows[i].ok;
    free(rows);
    free(sets);
    if (!rc && failures) rc = sm_fail("%d of %d runs failed (their logs are in %s)", failures, n_rows, dir);
    return rc;
}
