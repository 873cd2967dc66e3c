/* sm_cli.h — pieces shared by the subcommands of the `spikemesh` command. */
#ifndef SM_CLI_H
#define SM_CLI_H

#include <stdio.h>

#include "sm_config.h"
#include "sm_data.h"
#include "sm_model.h"
#include "sm_place.h"

/* Options common to the subcommands. */
typedef struct {
    const char *config;        /* -c */
    const char **sets;         /* --set key=value, in order */
    int n_sets;
    const char *out;           /* --out */
    const char *resume;        /* --resume */
    const char *checkpoint;    /* --checkpoint */
    const char *batch;         /* --batch */
    int quiet;                 /* -q: no progress */
    int dry_run;               /* --dry-run: print the LC table and the placement, exit */
    /* place */
    const char *graph, *stats, *method, *budget, *seed, *png, *graph_out, *csv, *trace, *weights, *curves, *ranks;
} sm_cli_options;

/* Load -c CONFIG, apply --set overrides in order, build the model, and reject
 * unknown keys. On error prints nothing: the message is in sm_errmsg(). */
int sm_cli_setup(const sm_cli_options *o, sm_cfg **cfg, sm_model *m);

/* Load the training set (unless train is NULL) and the test set named by the
 * config's data: keys, and check them against the model (input size, classes). */
int sm_cli_load_data(const sm_model *m, sm_dataset *train, sm_dataset *test);

/* Accuracy and mean loss of the model on a data set (forward only; the rate
 * encoder uses a fixed evaluation stream, so the figures are reproducible). */
typedef struct sm_progress sm_progress;
void sm_cli_evaluate(sm_model *m, const sm_dataset *d, double *accuracy, double *loss);

/* Set this rank's BLAS threads (cli/threads.c): train.threads, else
 * OPENBLAS_NUM_THREADS, else its share of the CPUs it may use. Writes the
 * reason into why [why_size]; returns the count. Collective (MPI). */
int sm_cli_set_threads(const sm_model *m, char *why, size_t why_size);

/* Progress display: a bar redrawn in place on a terminal, a plain line every
 * 10 s otherwise (stderr). Silent on ranks other than 0 and with quiet. */
sm_progress *sm_progress_new(FILE *stream, int quiet);
void sm_progress_begin(sm_progress *p, int epoch, int epochs, long batches, long samples_done_before,
                       long samples_total);
void sm_progress_update(sm_progress *p, long batch, double loss, double accuracy, long samples);
void sm_progress_end(sm_progress *p);
void sm_progress_free(sm_progress *p);

/* Write text to path atomically (a temporary file, fsync, rename); SM_EFAIL
 * with a message naming the file when it cannot. */
int sm_cli_write_text(const char *path, const char *text);

/* SM_EINPUT unless the job has exactly one MPI rank. */
int sm_cli_one_rank(const char *command);

int sm_cmd_train(int argc, char **argv);
int sm_cmd_eval(int argc, char **argv);
int sm_cmd_grad(int argc, char **argv);
int sm_cmd_bench(int argc, char **argv);
int sm_cmd_place(int argc, char **argv);
int sm_cmd_report(int argc, char **argv);
int sm_cmd_platform(int argc, char **argv);

/* Parse options for a subcommand: `allowed` lists the long names it takes
 * ("config", "set", "out", "resume", "checkpoint", "batch", "quiet", "dry-run").
 * Prints help and returns -1 for --help; SM_EINPUT on a bad option. On any
 * non-zero return nothing is left allocated; on SM_OK free o->sets after use. */
int sm_cli_parse(int argc, char **argv, const char *usage, const char *const *allowed,
                 sm_cli_options *o);

/* Candidate evaluation over all ranks (place_mpi.c): rank 0 passes
 * sm_mpi_eval_batch as sm_place_problem.batch_eval and calls sm_mpi_eval_stop
 * when the placer is done; the other ranks call sm_mpi_eval_serve meanwhile. */
typedef struct {
    const sm_lc_graph *g;
    const sm_mesh *mesh;
    sm_cost_weights w;
    sm_cost_figures ref;
    int rank, size;
} sm_mpi_eval;
void sm_mpi_eval_init(sm_mpi_eval *e, const sm_lc_graph *g, const sm_mesh *mesh, const sm_cost_weights *w,
                      const sm_cost_figures *ref);
int sm_mpi_eval_batch(void *ctx, int k, const int32_t *placements, double *costs);
void sm_mpi_eval_serve(sm_mpi_eval *e);
void sm_mpi_eval_stop(sm_mpi_eval *e);
/* Collective: sm_place(method, p) on rank 0 with candidates evaluated on every
 * rank; the placement and result reach every rank. p must be the same on every
 * rank (its batch_eval is replaced); p->ref NULL: computed here. Returns the
 * same code on every rank. */
int sm_mpi_place(const char *method, const sm_place_problem *p, int32_t *lc_core, sm_place_result *res);

/* printf to stdout on rank 0 only. */
void sm_print0(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int sm_cli_rank(void);

#endif
