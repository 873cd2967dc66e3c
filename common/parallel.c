/* parallel.c — the pool of worker threads behind sm_parallel_run (sm_parallel.h).
 *
 * A run publishes (fn, ctx) and bumps `job`; each worker notices the new job
 * value, runs its share and counts itself out of `busy`. Between runs a worker
 * polls `job` for SPIN_NS, then sleeps on `wake`; the caller likewise polls
 * `busy` for SPIN_NS after its own share, then sleeps on `done`. Kernels run
 * a few per time step, so most runs find the workers still polling (a wake-up
 * from sleep costs tens of microseconds on a VM), and a pool with nothing to
 * do sleeps instead of spinning against OpenBLAS's threads.
 */
#include "sm_parallel.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "sm_common.h"

#define SPIN_NS 50000L
#define MAX_THREADS 1024 /* train.threads' limit */

static struct {
    int nt;                 /* threads, the owner included */
    pthread_t tid[MAX_THREADS];
    pthread_t owner;        /* the thread that started the workers */
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    atomic_ulong job;       /* bumped by every run (and by shutdown) */
    atomic_int busy;        /* workers still inside the current run */
    int main_waiting;       /* the owner sleeps on `done` (under mu) */
    int quit;
    sm_parallel_fn fn;      /* the current run; written before `job` is bumped */
    void *ctx;
} pool = {.nt = 1, .mu = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER,
          .done = PTHREAD_COND_INITIALIZER};

static _Thread_local int in_share; /* this thread is running a share: runs inside it are serial */

static long elapsed_ns(const struct timespec *t0) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000000000L + (t.tv_nsec - t0->tv_nsec);
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Poll until *v differs from `old` (job) or reaches 0 (busy) for SPIN_NS; 1 when it did. */
static int spin_job(unsigned long old) {
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 1;; i++) {
        if (atomic_load_explicit(&pool.job, memory_order_acquire) != old) return 1;
        cpu_relax();
        if (i % 64 == 0 && elapsed_ns(&t0) > SPIN_NS) return 0;
    }
}
static int spin_busy(void) {
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 1;; i++) {
        if (atomic_load_explicit(&pool.busy, memory_order_acquire) == 0) return 1;
        cpu_relax();
        if (i % 64 == 0 && elapsed_ns(&t0) > SPIN_NS) return 0;
    }
}

static void *worker(void *arg) {
    const int t = (int)(intptr_t)arg;
    unsigned long seen = 0; /* the pool's job count when the workers were started */
    in_share = 1;
    for (;;) {
        if (!spin_job(seen)) {
            pthread_mutex_lock(&pool.mu);
            while (atomic_load(&pool.job) == seen) pthread_cond_wait(&pool.wake, &pool.mu);
            pthread_mutex_unlock(&pool.mu);
        }
        seen = atomic_load_explicit(&pool.job, memory_order_acquire);
        if (pool.quit) return NULL;
        pool.fn(pool.ctx, t, pool.nt);
        if (atomic_fetch_sub_explicit(&pool.busy, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&pool.mu);
            if (pool.main_waiting) pthread_cond_signal(&pool.done);
            pthread_mutex_unlock(&pool.mu);
        }
    }
}

void sm_parallel_shutdown(void) {
    if (pool.nt == 1) return;
    pthread_mutex_lock(&pool.mu);
    pool.quit = 1;
    atomic_fetch_add_explicit(&pool.job, 1, memory_order_release);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.mu);
    for (int t = 1; t < pool.nt; t++) pthread_join(pool.tid[t], NULL);
    pool.nt = 1;
    pool.quit = 0;
    atomic_store(&pool.job, 0);
}

int sm_parallel_init(int threads) {
    if (threads < 1) threads = 1;
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    if (threads == pool.nt) return SM_OK;
    sm_parallel_shutdown();
    pool.owner = pthread_self();
    for (int t = 1; t < threads; t++) {
        /* nt counts the workers that exist, so a failed start leaves a working pool */
        if (pthread_create(&pool.tid[t], NULL, worker, (void *)(intptr_t)t) != 0)
            return sm_fail("cannot start thread %d of %d for the kernels: running on %d", t + 1, threads, pool.nt);
        pool.nt = t + 1;
    }
    return SM_OK;
}

int sm_parallel_threads(void) { return pool.nt; }

void sm_parallel_run(sm_parallel_fn fn, void *ctx) {
    if (pool.nt == 1 || in_share || !pthread_equal(pthread_self(), pool.owner)) {
        fn(ctx, 0, 1);
        return;
    }
    pool.fn = fn, pool.ctx = ctx;
    atomic_store_explicit(&pool.busy, pool.nt - 1, memory_order_relaxed);
    pthread_mutex_lock(&pool.mu); /* a worker between its last poll and its wait holds mu: none is missed */
    atomic_fetch_add_explicit(&pool.job, 1, memory_order_release);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.mu);
    in_share = 1;
    fn(ctx, 0, pool.nt);
    in_share = 0;
    if (!spin_busy()) {
        pthread_mutex_lock(&pool.mu);
        pool.main_waiting = 1;
        while (atomic_load(&pool.busy) != 0) pthread_cond_wait(&pool.done, &pool.mu);
        pool.main_waiting = 0;
        pthread_mutex_unlock(&pool.mu);
    }
}
