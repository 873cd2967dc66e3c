/* place_cmd.c — `spikemesh place`: run placers on an LC graph and compare them.
 *
 * The graph comes from a graph.h5 (--graph) or from a config (-c): its
 * partition gives FLOPs, bytes and the exact traffic per epoch
 * (sm_graph_model.h); with --stats METRICS.h5 of a run of that config, the
 * compute is the measured seconds per LC of its last epoch, the run's last
 * placement is the starting point (re-placement), and only the cores of its
 * ranks are used. Under mpirun, rank 0 runs the placers and every rank
 * evaluates candidates (place_mpi.c).
 */
#include <errno.h>
#include <math.h>
#include <mpi.h>
#include <stdlib.h>
#include <libgen.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "h5util.h"
#include "sm_cli.h"
#include "sm_common.h"
#include "sm_graph_model.h"
#include "sm_metrics.h"
#include "sm_picture.h"
#include "sm_placement.h"

static const char USAGE[] =
    "usage: spikemesh place (-c CONFIG [--set key=value ...] [--stats METRICS.h5] | --graph GRAPH.h5)\n"
    "                       --method NAME[,NAME...] [--budget EVALS] [--seed S] [--out PLACEMENT.h5]\n"
    "                       [--png MAP.png] [--csv TABLE.csv] [--trace TRACE.h5] [--graph-out GRAPH.h5]\n"
    "                       [--weights HOP_BYTES,MAX_LINK,IMBALANCE,TIME] [--curves CURVES.png] [--ranks R]\n"
    "\n"
    "Place the logical cores of a model (or of a graph file) on the mesh with one or\n"
    "more methods and print their figures side by side.\n"
    "\n"
    "  -c, --config FILE     the model and chip (the partition gives the LC graph)\n"
    "      --stats FILE      metrics.h5 of a run of CONFIG: measured compute, its placement\n"
    "                        as the starting point, its ranks as the usable cores\n"
    "      --graph FILE      graph.h5 instead of a config (docs/formats.md)\n"
    "      --ranks R         use cores 0..R-1 only: a placement for `mpirun -n R spikemesh train`\n"
    "                        on this mesh (default: every core of the mesh)\n"
    "      --method LIST     sequential zigzag hilbert random greedy sa ga scotch rl, or all\n"
    "      --budget N        cost evaluations per method (default placement.budget or 20000)\n"
    "      --seed S          placer seed (default placement.seed, which defaults to the config's\n"
    "                        seed; 1 with --graph)\n"
    "      --weights A,B,C,D the cost weights of hop-bytes, busiest link, imbalance, time\n"
    "                        (default placement.weights, or 1,1,1,1)\n"
    "  -o, --out FILE        placement.h5 of the best method (lowest cost)\n"
    "      --png FILE        a map of that placement on the mesh\n"
    "      --csv FILE        the table as CSV\n"
    "      --trace FILE      cost against evaluations per method (HDF5; `spikemesh report` draws it)\n"
    "      --curves FILE     the same as a PNG plot\n"
    "      --graph-out FILE  the LC graph as graph.h5\n";

/* --stats: measured compute, placement and ranks of the last epoch. */
static int read_stats(const char *path, const sm_model *m, sm_lc_graph *g, int32_t *current, int *ranks) {
    sm_metrics mt = {0};
    int rc = sm_metrics_load_stats(&mt, path);
    if (!rc && mt.n_stats == 0) rc = sm_error("%s: no /stats (was it written by `spikemesh train`?)", path);
    if (!rc && mt.n_lcs != m->n_lcs)
        rc = sm_error("%s: /stats has %d logical cores, the config's partition has %d (same config?)", path,
                      mt.n_lcs, m->n_lcs);
    if (!rc) {
        const int e = mt.n_stats - 1, n = mt.n_lcs;
        *ranks = mt.n_cores;
        memcpy(current, mt.placement + (size_t)e * n, sizeof *current * (size_t)n);
        for (int i = 0; !rc && i < n; i++)
            if (current[i] < 0 || current[i] >= mt.n_cores)
                rc = sm_error("%s: /stats/placement[%d][%d] = %d, expected a core in 0..%d", path, e, i,
                              current[i], mt.n_cores - 1);
        if (!m->chip.compute_flops && !rc) { /* measured seconds replace the FLOP estimate */
            for (int i = 0; i < n; i++) g->compute[i] = mt.lc_compute[(size_t)e * n + i];
            g->compute_is_flops = 0;
        }
        /* the measured traffic of LC pairs on different cores must be the graph's */
        long mismatches = 0;
        for (int i = 0; !rc && i < n; i++) {
            for (int k = 0; k < n; k++) {
                double measured = mt.lc_bytes[((size_t)e * n + i) * n + k], want = 0;
                if (current[i] == current[k]) continue; /* pointer hand-off: nothing to measure */
                for (int q = g->row[i]; q < g->row[i + 1]; q++)
                    if (g->col[q] == k) want = (double)g->bytes[q];
                mismatches += measured != want;
            }
        }
        if (mismatches)
            sm_print0("note: %ld LC pairs of %s carried other traffic than the partition predicts "
                      "(different data size or config?); the prediction is used\n", mismatches, path);
    }
    sm_metrics_free(&mt);
    return rc;
}

/* Per-core compute and memory of a placement, for the map. */
static void core_sums(const sm_lc_graph *g, const int32_t *p, int cores, double *compute, double *memory) {
    memset(compute, 0, sizeof *compute * (size_t)cores);
    memset(memory, 0, sizeof *memory * (size_t)cores);
    for (int i = 0; i < g->n; i++) compute[p[i]] += g->compute[i], memory[p[i]] += g->memory[i];
}

/* A PNG map of placement p (per-core compute and memory, XY link loads). */
static int write_map(const char *path, const sm_lc_graph *g, const sm_mesh *mesh, const int32_t *p,
                     const char *title) {
    const int cores = sm_mesh_cores(mesh);
    double *compute = sm_xmalloc(sizeof *compute * (size_t)cores), *memory = sm_xmalloc(sizeof *memory * (size_t)cores);
    int64_t *loads = sm_xmalloc(sizeof *loads * 4 * (size_t)cores);
    core_sums(g, p, cores, compute, memory);
    int rc = sm_cost_link_loads(g, mesh, p, loads);
    if (!rc) rc = sm_picture_mesh(path, mesh, compute, g->compute_is_flops ? "FLOPs" : "s", memory, loads, title);
    free(compute);
    free(memory);
    free(loads);
    return rc;
}

/* A whole number in lo..hi, in decimal digits only (no sign, fraction, exponent or hex). */
static int parse_whole(const char *what, const char *s, long long lo, long long hi, long long *out) {
    char *end;
    errno = 0;
    long long v = *s >= '0' && *s <= '9' ? strtoll(s, &end, 10) : 0;
    if (*s < '0' || *s > '9' || errno || *end || v < lo || v > hi)
        return sm_error("--%s %s: expected a whole number in %lld..%lld", what, s, lo, hi);
    *out = v;
    return SM_OK;
}

/* An output path must name a file in a directory that exists and can be written:
 * checked before the search, so a typo does not cost the whole run. */
static int check_output(const char *what, const char *path) {
    struct stat st;
    if (!path) return SM_OK;
    if (!*path) return sm_error("--%s: empty path", what);
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return sm_error("--%s %s: is a directory, expected a file name", what, path);
    char *copy = sm_xstrdup(path);
    const char *dir = dirname(copy);
    int rc = SM_OK;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        rc = sm_error("--%s %s: the directory %s does not exist", what, path, dir);
    else if (access(dir, W_OK | X_OK) != 0)
        rc = sm_error("--%s %s: the directory %s is not writable", what, path, dir);
    free(copy);
    return rc;
}

/* Split the --method list into names (each known, none twice, none empty);
 * "all" is every method of sm_place_method_names. */
static int parse_methods(const char *arg, char ***names, int *n_names) {
    int all = 0;
    while (sm_place_method_names[all]) all++;
    *names = sm_xcalloc(strlen(arg) + (size_t)all + 2, sizeof **names);
    *n_names = 0;
    if (!strcmp(arg, "all")) {
        for (int k = 0; k < all; k++) (*names)[(*n_names)++] = sm_xstrdup(sm_place_method_names[k]);
        return SM_OK;
    }
    for (const char *t = arg;; t++) {
        size_t len = strcspn(t, ",");
        if (len == 0)
            return sm_error("--method %s: an empty name (a comma too many?); expected names separated by commas",
                            arg);
        char *name = sm_xmalloc(len + 1);
        memcpy(name, t, len);
        name[len] = 0;
        int known = sm_place_method_index(name) >= 0;
        for (int k = 0; k < *n_names; k++)
            if (!strcmp((*names)[k], name)) known = -1;
        if (known <= 0) {
            int rc = known < 0 ? sm_error("--method %s: '%s' is listed twice", arg, name)
                               : sm_error("--method: '%s' is not a placement method (sequential zigzag hilbert "
                                          "random greedy sa ga scotch rl, or all)", name);
            free(name);
            return rc;
        }
        (*names)[(*n_names)++] = name;
        t += len;
        if (!*t) return SM_OK;
    }
}

/* A table cell for a cost: 4 decimals; with overfull cores, the cost without their
 * penalty (SM_COST_INFEASIBLE_PENALTY each, which would hide every digit that differs)
 * and "+P" (the table's footnote says what P is). */
static const char *cost_cell(char *buf, size_t n, const sm_cost_figures *f) {
    if (f->memory_violations > 0)
        snprintf(buf, n, "%.4f+P", f->cost - f->memory_violations * SM_COST_INFEASIBLE_PENALTY);
    else snprintf(buf, n, "%.4f", f->cost);
    return buf;
}

int sm_cmd_place(int argc, char **argv) {
    static const char *const allowed[] = {"config", "set", "graph", "stats", "method", "budget", "seed", "out",
                                          "png", "csv", "trace", "graph-out", "weights", "curves", "ranks", NULL};
    sm_cli_options o;
    int rc = sm_cli_parse(argc, argv, USAGE, allowed, &o);
    if (rc) return rc;
    sm_cfg *cfg = NULL;
    sm_model model;
    memset(&model, 0, sizeof model);
    sm_lc_graph g = {0};
    sm_mesh mesh = sm_mesh_default();
    sm_place_problem p;
    int32_t *current = NULL, *best = NULL, *lc_core = NULL;
    char **names = NULL;
    int n_names = 0, usable = 0;
    sm_place_trace *traces = NULL;
    sm_place_result *results = NULL;
    sm_cost_weights w = sm_cost_weights_default();
    long long budget = SM_PLACE_DEFAULT_BUDGET, seed = 1;
    int rank = sm_cli_rank(), size = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &size);

    if (!o.method) rc = sm_error("--method is required (e.g. --method sa, or --method all)\n%s", USAGE);
    else if (!!o.config == !!o.graph) rc = sm_error("give either -c CONFIG or --graph GRAPH.h5\n%s", USAGE);
    else if (o.stats && !o.config) rc = sm_error("--stats needs the run's config (-c CONFIG)");
    if (rc) goto done;
    if (o.graph) {
        rc = sm_graph_read(o.graph, &g, &mesh);
    } else {
        if ((rc = sm_cli_setup(&o, &cfg, &model))) goto done;
        sm_dataset train = {0}, test = {0};
        if ((rc = sm_cli_load_data(&model, &train, &test))) goto done;
        long n_samples = train.n - (long)(model.data.validation * train.n + 0.5);
        sm_dataset_free(&train);
        sm_dataset_free(&test);
        mesh = sm_mesh_from_chip(&model);
        rc = sm_graph_from_model(&model, n_samples, &g);
        if (!rc && o.stats) {
            current = sm_xmalloc(sizeof *current * (size_t)g.n);
            rc = read_stats(o.stats, &model, &g, current, &usable);
            if (!rc && usable > sm_mesh_cores(&mesh))
                rc = sm_error("%s: the run had %d ranks, more than the %dx%d mesh of the config", o.stats, usable,
                              mesh.mesh_w, mesh.mesh_h);
        }
    }
    if (!rc) { /* the config's placer settings, or the defaults for a graph file */
        p = o.config ? sm_place_problem_from_model(&model, &g, &mesh) : sm_place_problem_default(&g, &mesh);
        w = p.weights;
        budget = p.budget;
        seed = (long long)p.seed;
    }
    if (!rc && o.budget) rc = parse_whole("budget", o.budget, 1, 1000000000000000LL, &budget);
    if (!rc && o.seed) rc = parse_whole("seed", o.seed, 0, 1LL << 62, &seed);
    if (!rc && o.ranks && o.stats) rc = sm_error("--ranks: --stats already gives the run's ranks as the usable cores");
    if (!rc && o.ranks) { /* a placement for `mpirun -n R train` on a larger mesh: cores 0..R-1 */
        long long r;
        rc = parse_whole("ranks", o.ranks, 1, sm_mesh_cores(&mesh), &r);
        if (!rc) usable = (int)r;
    }
    if (!rc && o.weights) {
        double v[4];
        char tail;
        if (sscanf(o.weights, "%lf,%lf,%lf,%lf%c", &v[0], &v[1], &v[2], &v[3], &tail) != 4 ||
            !(v[0] >= 0 && v[1] >= 0 && v[2] >= 0 && v[3] >= 0) || !isfinite(v[0] + v[1] + v[2] + v[3]))
            rc = sm_error("--weights %s: expected four numbers >= 0 separated by commas (hop_bytes,max_link,"
                          "imbalance,time)", o.weights);
        else if (sm_cost_weights_all_zero(&(sm_cost_weights){v[0], v[1], v[2], v[3]}))
            rc = sm_error("--weights %s: every weight is 0, so every placement would cost the same; give at "
                          "least one a weight > 0", o.weights);
        else w = (sm_cost_weights){v[0], v[1], v[2], v[3]};
    }
    if (!rc) rc = parse_methods(o.method, &names, &n_names);
    if (!rc) rc = check_output("out", o.out);
    if (!rc) rc = check_output("png", o.png);
    if (!rc) rc = check_output("csv", o.csv);
    if (!rc) rc = check_output("trace", o.trace);
    if (!rc) rc = check_output("curves", o.curves);
    if (!rc) rc = check_output("graph-out", o.graph_out);
    if (rc) goto done;
    if (rank == 0) { /* an LC larger than a core's memory: no placement fits, every cost carries the penalty */
        int big = -1;
        for (int i = 0; i < g.n; i++)
            if (g.memory[i] > mesh.core_memory && (big < 0 || g.memory[i] > g.memory[big])) big = i;
        if (big >= 0)
            printf("note: LC %d needs %.0f bytes, more than a core's memory (%.0f bytes): no placement fits, and "
                   "every cost below includes the memory penalty (%g per overfull core)\n",
                   big, g.memory[big], mesh.core_memory, SM_COST_INFEASIBLE_PENALTY);
    }
    if (o.graph_out && rank == 0) {
        rc = sm_graph_write(o.graph_out, &g, &mesh);
        if (!rc) printf("wrote %s\n", o.graph_out);
    }
    if (size > 1) { /* every rank enters the evaluation protocol below, or none */
        int worst = rc;
        MPI_Allreduce(&rc, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        rc = worst;
    }
    if (rc) goto done;

    p.weights = w;
    p.budget = (long)budget;
    p.seed = (uint64_t)seed;
    p.usable = usable;
    p.current = current;
    p.progress = rank == 0 && isatty(STDERR_FILENO); /* a progress line redrawn in place */
    sm_cost_figures ref;
    if ((rc = sm_cost_reference(&g, &mesh, &w, &ref))) goto done;
    p.ref = &ref;
    traces = sm_xcalloc((size_t)n_names, sizeof *traces);
    results = sm_xcalloc((size_t)n_names, sizeof *results);
    best = sm_xmalloc(sizeof *best * (size_t)g.n);
    lc_core = sm_xmalloc(sizeof *lc_core * (size_t)g.n);
    int best_k = -1, penalised = 0;
    if (rank == 0) printf("placing %d logical cores on a %dx%d mesh (%d usable cores), budget %lld evaluations, seed %lld%s\n",
           g.n, mesh.mesh_w, mesh.mesh_h, sm_place_usable(&p), budget, seed,
           size > 1 ? " (candidates evaluated on every rank)" : "");
    if (rank == 0) printf("%-10s %14s %8s %12s %8s %9s %4s %12s %10s %8s %9s %8s\n", "method", "hop_bytes", "vs seq",
           "max_link", "top5%", "imbalance", "mem", "pred_time_s", "energy_J", "cost", "evals", "seconds");
    for (int k = 0; k < n_names; k++) {
        p.trace = &traces[k];
        rc = sm_mpi_place(names[k], &p, lc_core, &results[k]);
        if (rc) break;
        const sm_cost_figures *f = &results[k].fig;
        char cell[32];
        if (rank == 0) printf("%-10s %14.4g %7.3fx %12.4g %8.4g %9.3f %4d %12.4g %10.3g %8s %9ld %8.2f\n", names[k], f->hop_bytes,
               ref.hop_bytes > 0 ? f->hop_bytes / ref.hop_bytes : 1.0, f->max_link, f->top5_link, f->imbalance,
               f->memory_violations, f->predicted_time, f->energy, cost_cell(cell, sizeof cell, f),
               results[k].evaluations, results[k].seconds);
        fflush(stdout);
        penalised |= f->memory_violations > 0;
        if (best_k < 0 || f->cost < results[best_k].fig.cost) {
            best_k = k;
            memcpy(best, lc_core, sizeof *best * (size_t)g.n);
        }
    }
    if (!rc && rank == 0 && penalised)
        printf("+P: plus %g for each core over its memory (the mem column)\n", SM_COST_INFEASIBLE_PENALTY);
    if (rc || rank != 0) goto agree; /* rank 0 writes the outputs */
    if (n_names > 1) {
        char cell[32];
        printf("best: %s (cost %s)\n", names[best_k], cost_cell(cell, sizeof cell, &results[best_k].fig));
    }
    if (o.out) {
        sm_placement_info info = {names[best_k], results[best_k].fig, results[best_k].evaluations,
                                  results[best_k].seconds};
        rc = sm_placement_write_info(o.out, best, g.n, mesh.mesh_w, mesh.mesh_h, &info);
        if (!rc) printf("wrote %s\n", o.out);
    }
    if (!rc && o.png) {
        char title[128];
        snprintf(title, sizeof title, "%s: %d LCs on %dx%d, cost %.3f", names[best_k], g.n, mesh.mesh_w,
                 mesh.mesh_h, results[best_k].fig.cost);
        rc = write_map(o.png, &g, &mesh, best, title);
        if (!rc) printf("wrote %s\n", o.png);
    }
    if (!rc && o.trace) {
        rc = sm_place_trace_write(o.trace, n_names, (const char *const *)names, traces);
        if (!rc) printf("wrote %s\n", o.trace);
    }
    if (!rc && o.curves) {
        char title[128];
        snprintf(title, sizeof title, "best cost against evaluations: %d LCs on %dx%d", g.n, mesh.mesh_w,
                 mesh.mesh_h);
        rc = sm_picture_curves(o.curves, n_names, (const char *const *)names, traces, title);
        if (!rc) printf("wrote %s\n", o.curves);
    }
    if (!rc && o.csv) {
        FILE *f = fopen(o.csv, "w");
        if (!f) rc = sm_fail("cannot write %s: %s", o.csv, strerror(errno));
        else {
            /* evals_to_sa: the evaluations after which a method's best cost first reached sa's
             * final cost (-1: never, or sa did not run) — how fast it gets as good as sa */
            int sa = -1;
            for (int k = 0; k < n_names; k++) if (!strcmp(names[k], "sa")) sa = k;
            fprintf(f, "method,lcs,mesh_w,mesh_h,usable,budget,seed,hop_bytes,max_link,mean_link,top5_link,imbalance,"
                       "memory_violations,max_core_memory,predicted_time,energy,cost,evaluations,seconds,"
                       "evals_to_sa\n");
            for (int k = 0; k < n_names; k++) {
                const sm_cost_figures *q = &results[k].fig;
                long to_sa = -1;
                for (int i = 0; sa >= 0 && to_sa < 0 && i < traces[k].n; i++)
                    if (traces[k].points[i].cost <= results[sa].fig.cost * (1 + 1e-12))
                        to_sa = traces[k].points[i].evaluations;
                fprintf(f, "%s,%d,%d,%d,%d,%lld,%lld,%.17g,%.17g,%.17g,%.17g,%.17g,%d,%.17g,%.17g,%.17g,%.17g,%ld,%.6f,%ld\n",
                        names[k], g.n, mesh.mesh_w, mesh.mesh_h, sm_place_usable(&p), budget, seed, q->hop_bytes,
                        q->max_link, q->mean_link, q->top5_link, q->imbalance, q->memory_violations,
                        q->max_core_memory, q->predicted_time, q->energy, q->cost, results[k].evaluations,
                        results[k].seconds, to_sa);
            }
            if (fclose(f) != 0) rc = sm_fail("cannot write %s: %s", o.csv, strerror(errno));
            else printf("wrote %s\n", o.csv);
        }
    }

agree:
    if (size > 1) {
        int worst = rc;
        MPI_Allreduce(&rc, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        if (worst && !rc) sm_fail("rank 0 failed (see its message)");
        rc = worst;
    }
done:
    for (int k = 0; traces && k < n_names; k++) sm_place_trace_free(&traces[k]);
    for (int k = 0; k < n_names; k++) free(names[k]);
    free(names);
    free(traces);
    free(results);
    free(best);
    free(lc_core);
    free(current);
    sm_graph_free(&g);
    sm_model_free(&model);
    sm_cfg_free(cfg);
    free(o.sets);
    return rc;
}
