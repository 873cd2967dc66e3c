/* threads.c — how many threads each rank computes with (docs/performance.md,
 * "Threads").
 *
 * A rank runs its kernels, the dense ones included, on a pool of threads
 * (sm_parallel.h); OpenBLAS runs single-threaded inside them (dense.c: its own
 * threads would change the bits with their count). A rank must not take more
 * than its share of the node: ranks that share CPUs would fight over them. So
 * each rank takes train.threads when the config sets it; else
 * OPENBLAS_NUM_THREADS when the environment sets it; else, when the rank is
 * bound to some of the node's CPUs (mpirun binds each rank to a core by
 * default), the CPUs it is bound to, and when it may run anywhere, the node's
 * CPUs divided among this job's ranks on the node, at least one. The bits of a
 * run do not depend on the count. Built for SimGrid's SMPI (SM_SMPI), a rank
 * has one thread: SMPI's ranks are actors of one process, and threads of their
 * own would run outside the simulation.
 */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include <mpi.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sm_cli.h"
#include "sm_common.h"
#include "sm_parallel.h"

int sm_cli_set_threads(const sm_model *m, char *why, size_t why_size) {
    int threads = m->train.threads;
#ifdef SM_SMPI /* SMPI's ranks are actors of one process: a rank's own threads would escape the simulation */
    if (threads > 1) snprintf(why, why_size, "SimGrid's SMPI: one per rank, train.threads %d ignored", threads);
    else snprintf(why, why_size, "SimGrid's SMPI: one per rank");
    threads = 1;
#else
    const char *env = getenv("OPENBLAS_NUM_THREADS");
    if (threads > 0) {
        snprintf(why, why_size, "train.threads");
    } else if (env && atoi(env) > 0) {
        threads = atoi(env);
        snprintf(why, why_size, "OPENBLAS_NUM_THREADS");
    } else {
        cpu_set_t set;
        const long online = sysconf(_SC_NPROCESSORS_ONLN);
        const int cpus = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
        MPI_Comm node;
        int here = 1;
        if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) == MPI_SUCCESS) {
            MPI_Comm_size(node, &here);
            MPI_Comm_free(&node);
        }
        const int bound = online > 0 && cpus < online;
        threads = bound ? cpus : cpus / here;
        if (threads < 1) threads = 1;
        snprintf(why, why_size, "%s %d of %ld CPUs, %d rank%s on this node", bound ? "bound to" : "may use", cpus,
                 online, here, here == 1 ? "" : "s");
    }
#endif
    if (sm_parallel_init(threads)) { /* OpenBLAS runs single-threaded inside each (main.c, dense.c) */ /* the pool keeps the threads it could start */
        snprintf(why + strlen(why), why_size - strlen(why), "; %s", sm_errmsg());
        sm_error_clear();
    }
    return sm_parallel_threads();
}
