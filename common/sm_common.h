/* sm_common.h — errors, allocation and small helpers shared by every spikemesh library.
 *
 * Errors travel as return codes. The function that knows *why* something failed
 * records one message with sm_error() and returns SM_EINPUT (bad input: config,
 * data file, checkpoint, command line) or SM_EFAIL (a runtime failure: out of
 * memory, I/O error, MPI). Callers pass the code up unchanged; the command line
 * prints sm_errmsg() and exits with the code (2 or 1), so the codes ARE the exit
 * statuses of DESIGN.md.
 *
 * The message buffer is thread-local, so libraries stay free of global state
 * that two threads could fight over.
 */
#ifndef SM_COMMON_H
#define SM_COMMON_H

#include <stddef.h>
#include <stdint.h>

enum { SM_OK = 0, SM_EFAIL = 1, SM_EINPUT = 2 };

#if defined(__GNUC__)
#define SM_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define SM_PRINTF(a, b)
#endif

/* SM_VECTOR_CLONES before a hot kernel: GCC compiles it for the baseline
 * (x86-64-v2: SSE4.2), AVX2 (v3) and AVX-512 (v4) and picks the clone for the
 * CPU when the program starts. Results are the same bits in every clone: the
 * build turns off FMA contraction (-ffp-contract=off) and GCC never
 * vectorises a float reduction without -ffast-math, so each clone performs
 * the same IEEE operations in the same order, only more at a time. Empty
 * elsewhere (clang, other CPUs, sanitizer builds). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(SM_NO_CLONES)
#define SM_VECTOR_CLONES __attribute__((target_clones("default", "arch=x86-64-v3", "arch=x86-64-v4")))
#else
#define SM_VECTOR_CLONES
#endif

/* Record the error message (printf-style) and return SM_EINPUT, so a caller can
 * write `return sm_error("...")`. Use sm_fail() for runtime failures. */
int sm_error(const char *fmt, ...) SM_PRINTF(1, 2);
/* Same, but returns SM_EFAIL. */
int sm_fail(const char *fmt, ...) SM_PRINTF(1, 2);
/* Prepend context to the current message: "reading x.h5: " + old message. */
void sm_error_prefix(const char *fmt, ...) SM_PRINTF(1, 2);
/* The last message recorded on this thread ("" if none). Never NULL. */
const char *sm_errmsg(void);
void sm_error_clear(void);

/* Allocation that never returns NULL: on failure prints a message and aborts.
 * Used for buffers whose size the program itself chose; sizes that come from a
 * file must be checked against the file before they reach these. */
void *sm_xmalloc(size_t n);
void *sm_xcalloc(size_t count, size_t size);
void *sm_xrealloc(void *p, size_t n);
char *sm_xstrdup(const char *s);
/* 64-byte aligned zeroed allocation, freed with free(). */
float *sm_falloc(size_t count);

/* Monotonic wall-clock seconds, and this thread's CPU seconds. */
double sm_wall_seconds(void);
double sm_thread_cpu_seconds(void);

/* The peak resident memory of this process in bytes (VmHWM; -1 where /proc
 * has none), and its reset, so that a peak can be taken per epoch (Linux;
 * without the reset the peak is the process's lifetime one). */
double sm_rss_peak_bytes(void);
void sm_rss_peak_reset(void);
/* The private (anonymous) resident memory now: heap, arenas, stacks — what a
 * leak would grow. Shared memory, e.g. Open MPI's transport segments, is not
 * in it. -1 where /proc has none. */
double sm_rss_private_bytes(void);
/* Bytes malloc has handed out and not got back, over the whole process (Open
 * MPI's and libraries' allocations included): the figure a leak grows, without
 * the allocator's own slack. -1 where the C library does not say (glibc < 2.33). */
double sm_heap_bytes(void);

/* FNV-1a 64-bit checksum of a byte block (checkpoints, migrations). */
uint64_t sm_checksum64(const void *data, size_t n, uint64_t seed);

/* Fault injection for tests, off unless SPIKEMESH_FAULT = "POINT:VALUE" names
 * this point (docs/errors.md, "Injected faults"):
 *   kill:KEY, term:KEY    raise SIGKILL (SIGTERM) when key equals KEY exactly (the
 *                         executor passes "rank=R,epoch=E,round=S" after every round,
 *                         E and S counted from 0);
 *   corrupt-file:TEXT     flip the middle byte of the file `key` when its path
 *                         contains TEXT (atomic writes pass their temporary file
 *                         just before verifying it). */
void sm_fault_point(const char *point, const char *key);

#endif
