/* main.c — the `spikemesh` command: dispatch to a subcommand and turn its
 * return code into the exit status of DESIGN.md (0 ok, 2 bad input, 1 failure). */
#include <mpi.h>
#include <stdio.h>
#include <string.h>

#include "sm_cli.h"
#include "sm_common.h"

void openblas_set_num_threads(int num_threads); /* OpenBLAS (cblas.h declares it too) */

static const char USAGE[] =
    "usage: spikemesh COMMAND [options]\n"
    "\n"
    "Train spiking neural networks on a mesh of cores (one MPI rank per core).\n"
    "\n"
    "commands:\n"
    "  train   -c CONFIG [--set key.path=value ...] [--out DIR] [--resume CKPT]\n"
    "  eval    -c CONFIG --checkpoint CKPT [--set key.path=value ...]\n"
    "  grad    -c CONFIG --checkpoint CKPT --batch BATCH.h5 --out GRADS.h5 [--set ...]\n"
    "  place   (-c CONFIG [--stats METRICS.h5] | --graph GRAPH.h5) --method NAME[,NAME...]\n"
    "          [--budget EVALS] [--seed S] [--out PLACEMENT.h5] [--png MAP.png]\n"
    "  report  RUN_DIR [--out DIR]   (PNG figures of a run)\n"
    "  platform -c CONFIG --out DIR  (the chip as a SimGrid platform, for smpirun)\n"
    "  bench   -c CONFIG [--schedules LIST] [--ranks LIST] [--batches N]   (without mpirun)\n"
    "\n"
    "`spikemesh COMMAND --help` describes one command. Exit status: 0 success,\n"
    "2 bad usage or bad input (the message names the file, line or key), 1 failure,\n"
    "128 + N: train stopped by signal N (SIGINT, SIGTERM) after writing its checkpoint.\n";

int main(int argc, char **argv) {
    /* bench is a driver that launches mpirun itself: it must not be an MPI process */
    if (argc >= 2 && !strcmp(argv[1], "bench")) {
        int rc = sm_cmd_bench(argc - 1, argv + 1);
        if (rc > 0) fprintf(stderr, "spikemesh bench: %s\n", sm_errmsg());
        return rc < 0 ? 0 : rc;
    }
    int provided; /* the kernels' worker threads never call MPI (sm_parallel.h) */
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    /* OpenBLAS single-threaded in every command: its result for a shape changes with its
     * thread count (docs/performance.md, "Threads"), and a rank's threads are the kernels'
     * pool (cli/threads.c), not OpenBLAS's */
    openblas_set_num_threads(1);
    int rc;
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        if (sm_cli_rank() == 0) fputs(USAGE, argc < 2 ? stderr : stdout);
        rc = argc < 2 ? SM_EINPUT : SM_OK;
        MPI_Finalize();
        return rc;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "train")) rc = sm_cmd_train(argc - 1, argv + 1);
    else if (!strcmp(cmd, "eval")) rc = sm_cmd_eval(argc - 1, argv + 1);
    else if (!strcmp(cmd, "grad")) rc = sm_cmd_grad(argc - 1, argv + 1);
    else if (!strcmp(cmd, "place")) rc = sm_cmd_place(argc - 1, argv + 1);
    else if (!strcmp(cmd, "report")) rc = sm_cmd_report(argc - 1, argv + 1);
    else if (!strcmp(cmd, "platform")) rc = sm_cmd_platform(argc - 1, argv + 1);
    else rc = sm_error("unknown command '%s' (expected train, eval, grad, place, report, platform or bench; see "
                       "spikemesh --help)", cmd);
    if (rc > 0 && rc < 128 && sm_cli_rank() == 0) fprintf(stderr, "spikemesh %s: %s\n", cmd, sm_errmsg());
    if (rc < 0) rc = SM_OK; /* --help */
    int world = 1;
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    /* With other ranks, a failure on one must end them all (they may wait on it); alone,
     * a plain exit says the same without Open MPI's abort banner. */
    if (rc == SM_EFAIL && world > 1) MPI_Abort(MPI_COMM_WORLD, 1);
    MPI_Finalize();
    return rc;
}
