/* sm_parallel.h — the threads of one rank (docs/performance.md, "Threads").
 *
 * A rank that owns several CPUs runs its own kernels on all of them: the
 * calling thread and sm_parallel_threads() − 1 workers of a small pool. A
 * kernel hands the pool one function; thread t of nt runs fn(ctx, t, nt) and
 * picks its share of the work from (t, nt) — a contiguous range of rows, or of
 * weights — with sm_parallel_range. sm_parallel_run returns when every share
 * is done.
 *
 * Bits do not depend on the thread count. Each kernel splits its work only
 * where the shares are independent sums: rows whose results depend on the row
 * alone (E1 of event.c), or slices of a gradient whose every element is still
 * summed by one thread in the single-threaded order.
 *
 * Workers wait passively: they spin for a few microseconds after a job, then
 * sleep on a condition variable, so they never steal the CPUs OpenBLAS's own
 * threads compute on (our kernels and OpenBLAS's never run at the same time).
 * Only the thread that called sm_parallel_init may call sm_parallel_run; a run
 * from inside a share runs serially (nt = 1). Workers never call MPI.
 */
#ifndef SM_PARALLEL_H
#define SM_PARALLEL_H

#include <stddef.h>

typedef void (*sm_parallel_fn)(void *ctx, int t, int nt);

/* Run with `threads` threads in all (>= 1; the workers are started or stopped
 * to match). Returns SM_OK, or SM_EFAIL when a thread cannot be started (the
 * pool then keeps the threads it has). */
int sm_parallel_init(int threads);
/* The threads kernels split their work over (1 until sm_parallel_init). */
int sm_parallel_threads(void);
/* fn(ctx, t, nt) for t = 0 .. nt−1, t = 0 on the calling thread. */
void sm_parallel_run(sm_parallel_fn fn, void *ctx);
/* Stop the workers (sm_parallel_threads() is 1 again). */
void sm_parallel_shutdown(void);

/* Share t of nt of the range [0, n): [*lo, *hi), contiguous, sizes differing by
 * at most one, in order of t. With align > 1 the boundaries are multiples of
 * align (but the last, n). */
static inline void sm_parallel_range(size_t n, int t, int nt, size_t align, size_t *lo, size_t *hi) {
    const size_t units = (n + align - 1) / align;
    const size_t a = units * (size_t)t / (size_t)nt, b = units * (size_t)(t + 1) / (size_t)nt;
    *lo = a * align < n ? a * align : n;
    *hi = b * align < n ? b * align : n;
}

#endif
