/* options.c — option parsing, config set-up and data loading shared by the
 * subcommands. */
#include <errno.h>
#include <getopt.h>
#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sm_cli.h"
#include "sm_common.h"
#include "sm_partition.h"

int sm_cli_rank(void) {
    int rank = 0, up = 0;
    MPI_Initialized(&up);
    if (up) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    return rank;
}

void sm_print0(const char *fmt, ...) {
    if (sm_cli_rank() != 0) return;
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

static int allowed_has(const char *const *allowed, const char *name) {
    for (int i = 0; allowed[i]; i++) if (!strcmp(allowed[i], name)) return 1;
    return 0;
}

static int parse(int argc, char **argv, const char *usage, const char *const *allowed,
                 sm_cli_options *o) {
    static const struct option longopts[] = {
        {"config", required_argument, 0, 'c'},  {"set", required_argument, 0, 's'},
        {"out", required_argument, 0, 'o'},     {"resume", required_argument, 0, 'r'},
        {"checkpoint", required_argument, 0, 'k'}, {"batch", required_argument, 0, 'b'},
        {"quiet", no_argument, 0, 'q'},         {"help", no_argument, 0, 'h'},
        {"dry-run", no_argument, 0, 'd'},
        {"graph", required_argument, 0, 'G'},   {"stats", required_argument, 0, 'S'},
        {"method", required_argument, 0, 'm'},  {"budget", required_argument, 0, 'B'},
        {"seed", required_argument, 0, 'e'},    {"png", required_argument, 0, 'p'},
        {"graph-out", required_argument, 0, 'g'}, {"csv", required_argument, 0, 'v'},
        {"trace", required_argument, 0, 't'},   {"weights", required_argument, 0, 'w'},
        {"curves", required_argument, 0, 'C'},  {"ranks", required_argument, 0, 'R'},
        {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    o->sets = sm_xcalloc((size_t)argc + 1, sizeof(char *));
    optind = 1;
    opterr = 0;
    int ch, index;
    while ((ch = getopt_long(argc, argv, ":c:o:qh", longopts, &index)) != -1) {
        const char *name = NULL;
        switch (ch) {
        case 'c': name = "config"; o->config = optarg; break;
        case 's': name = "set"; o->sets[o->n_sets++] = optarg; break;
        case 'o': name = "out"; o->out = optarg; break;
        case 'r': name = "resume"; o->resume = optarg; break;
        case 'k': name = "checkpoint"; o->checkpoint = optarg; break;
        case 'b': name = "batch"; o->batch = optarg; break;
        case 'q': name = "quiet"; o->quiet = 1; break;
        case 'd': name = "dry-run"; o->dry_run = 1; break;
        case 'G': name = "graph"; o->graph = optarg; break;
        case 'S': name = "stats"; o->stats = optarg; break;
        case 'm': name = "method"; o->method = optarg; break;
        case 'B': name = "budget"; o->budget = optarg; break;
        case 'e': name = "seed"; o->seed = optarg; break;
        case 'p': name = "png"; o->png = optarg; break;
        case 'g': name = "graph-out"; o->graph_out = optarg; break;
        case 'v': name = "csv"; o->csv = optarg; break;
        case 't': name = "trace"; o->trace = optarg; break;
        case 'w': name = "weights"; o->weights = optarg; break;
        case 'C': name = "curves"; o->curves = optarg; break;
        case 'R': name = "ranks"; o->ranks = optarg; break;
        case 'h':
            if (sm_cli_rank() == 0) fputs(usage, stdout);
            return -1;
        case ':':
            return sm_error("option '%s' needs a value\n%s", argv[optind - 1], usage);
        default:
            return sm_error("unknown option '%s'\n%s", argv[optind - 1], usage);
        }
        if (!allowed_has(allowed, name))
            return sm_error("option --%s does not apply to this command\n%s", name, usage);
    }
    if (optind < argc) return sm_error("unexpected argument '%s'\n%s", argv[optind], usage);
    return SM_OK;
}

int sm_cli_parse(int argc, char **argv, const char *usage, const char *const *allowed,
                 sm_cli_options *o) {
    int rc = parse(argc, argv, usage, allowed, o);
    if (rc) { /* --help or a bad option: the caller returns at once, nothing to free */
        free(o->sets);
        o->sets = NULL;
    }
    return rc;
}

int sm_cli_one_rank(const char *command) {
    int ranks = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    if (ranks > 1)
        return sm_error("%s runs on one MPI rank in this version (got %d); run it without mpirun "
                        "or with -n 1", command, ranks);
    return SM_OK;
}

int sm_cli_setup(const sm_cli_options *o, sm_cfg **cfg, sm_model *m) {
    *cfg = NULL;
    if (!o->config) return sm_error("missing -c CONFIG (a YAML file, see configs/)");
    int rc = sm_cfg_load(cfg, o->config);
    for (int i = 0; !rc && i < o->n_sets; i++) rc = sm_cfg_set(*cfg, o->sets[i]);
    if (!rc) rc = sm_model_from_config(m, *cfg);
    if (!rc) {
        rc = sm_cfg_check_unused(*cfg);
        if (rc) sm_model_free(m);
    }
    if (rc) {
        sm_cfg_free(*cfg);
        *cfg = NULL;
    }
    return rc;
}

/* Check a loaded set against the model: input size and classes. */
static int check_data(const sm_model *m, const sm_dataset *d, const char *what) {
    const sm_layer *last = &m->layers[m->n_layers - 1];
    if (d->n <= 0) return sm_error("%s: the data set is empty", what);
    if (sm_dataset_dim(d) != m->n_in)
        return sm_error("%s: samples hold %d values (%dx%dx%d) but model.input asks for %d "
                        "(%dx%dx%d)", what, sm_dataset_dim(d), d->c, d->h, d->w, m->n_in,
                        m->in_c, m->in_h, m->in_w);
    if (d->T && d->T != m->T)
        return sm_error("%s: event data binned into %d steps, model.time_steps is %d", what, d->T, m->T);
    if (d->n_classes > m->n_classes)
        return sm_error("%s: labels go up to %d but the last layer (%s) has %d outputs; set its "
                        "'out' to at least %d", what, d->n_classes - 1, last->name, m->n_classes,
                        d->n_classes);
    return SM_OK;
}

int sm_cli_load_data(const sm_model *m, sm_dataset *train, sm_dataset *test) {
    const sm_data_params *p = &m->data;
    sm_dataset unused;
    const int want_train = train != NULL;
    if (!train) train = &unused;
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    int rc = SM_OK;
    if (!strcmp(p->source, "idx")) {
        if (want_train) rc = sm_idx_load(train, p->train_images, p->train_labels, p->train_limit);
        if (!rc) rc = sm_idx_load(test, p->test_images, p->test_labels, p->test_limit);
    } else if (!strcmp(p->source, "png")) {
        if ((want_train && !*p->train_dir) || !*p->test_dir)
            return sm_error("data.source png needs data.train_dir and data.test_dir");
        if (want_train)
            rc = sm_png_folder_load(train, p->train_dir, m->in_c, m->in_h, m->in_w, p->png_resize, p->train_limit);
        if (!rc) rc = sm_png_folder_load(test, p->test_dir, m->in_c, m->in_h, m->in_w, p->png_resize, p->test_limit);
    } else if (!strcmp(p->source, "shd")) {
        if ((want_train && !*p->train_file) || !*p->test_file)
            return sm_error("data.source shd needs data.train_file and data.test_file");
        if (want_train) rc = sm_shd_load(train, p->train_file, m->T, p->shd_max_time, m->n_in, p->train_limit);
        if (!rc) rc = sm_shd_load(test, p->test_file, m->T, p->shd_max_time, m->n_in, p->test_limit);
    } else { /* synthetic: one draw, split so that train and test share prototypes */
        sm_dataset all;
        int classes = p->synthetic_classes ? p->synthetic_classes : m->n_classes;
        int n = p->synthetic_train + p->synthetic_test;
        sm_synthetic(&all, n, m->in_c, m->in_h, m->in_w, 0, classes, m->seed);
        sm_dataset_split(&all, (double)p->synthetic_test / n, m->seed, train, test);
        sm_dataset_free(&all);
    }
    if (!rc && want_train) rc = check_data(m, train, "training set");
    if (!rc) rc = check_data(m, test, "test set");
    if (rc || !want_train) sm_dataset_free(train);
    if (rc) sm_dataset_free(test);
    return rc;
}

void sm_cli_evaluate(sm_model *m, const sm_dataset *d, double *accuracy, double *loss) {
    const int want = m->train.eval_batch > 0 ? m->train.eval_batch : sm_micro_batch(m);
    const int B = want < d->n ? want : d->n;
    const size_t n_in = (size_t)m->n_in;
    float *x = sm_falloc((size_t)m->T * B * n_in);
    float *enc = sm_falloc((size_t)m->T * B * n_in);
    int32_t *y = sm_xcalloc((size_t)B, sizeof(int32_t)), *ids = sm_xcalloc((size_t)B, sizeof(int32_t));
    long correct = 0;
    double total = 0.0;
    for (int start = 0; start < d->n; start += B) {
        int nb = sm_gather_batch(d, NULL, start, B, x, y);
        for (int b = 0; b < nb; b++) ids[b] = start + b;
        const float *input = x;
        int input_static = 0;
        if (!d->T) {
            input_static = sm_model_encode(m, enc, x, ids, nb, 0xFFFFF /* evaluation stream */);
            if (!input_static) input = enc;
        }
        total += sm_model_infer(m, input, input_static, nb, y, 1.0, &correct);
    }
    *accuracy = (double)correct / d->n;
    *loss = total / d->n;
    free(x); free(enc); free(y); free(ids);
}

int sm_cli_write_text(const char *path, const char *text) {
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
