/* common.c — the implementation of sm_common.h and sm_rng.h. */
#define _GNU_SOURCE
#include "sm_common.h"
#include "sm_rng.h"

#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static _Thread_local char error_message[2048];

static int record(int code, const char *fmt, va_list ap) {
    vsnprintf(error_message, sizeof error_message, fmt, ap);
    return code;
}

int sm_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int code = record(SM_EINPUT, fmt, ap);
    va_end(ap);
    return code;
}

int sm_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int code = record(SM_EFAIL, fmt, ap);
    va_end(ap);
    return code;
}

void sm_error_prefix(const char *fmt, ...) {
    char prefix[1024], old[sizeof error_message];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, error_message, sizeof old);
    size_t n = strlen(prefix);
    if (n >= sizeof error_message) n = sizeof error_message - 1;
    memcpy(error_message, prefix, n);
    size_t rest = sizeof error_message - 1 - n, m = strlen(old);
    if (m > rest) m = rest;
    memcpy(error_message + n, old, m);
    error_message[n + m] = 0;
}

const char *sm_errmsg(void) { return error_message; }
void sm_error_clear(void) { error_message[0] = 0; }

static void out_of_memory(size_t n) {
    fprintf(stderr, "spikemesh: out of memory allocating %zu bytes\n", n);
    abort();
}

void *sm_xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) out_of_memory(n);
    return p;
}

void *sm_xcalloc(size_t count, size_t size) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) out_of_memory(count * size);
    return p;
}

void *sm_xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) out_of_memory(n);
    return q;
}

char *sm_xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    return memcpy(sm_xmalloc(n), s, n);
}

float *sm_falloc(size_t count) {
    size_t bytes = (count * sizeof(float) + 63) / 64 * 64;
    void *p = NULL;
    if (posix_memalign(&p, 64, bytes ? bytes : 64)) out_of_memory(bytes);
    memset(p, 0, bytes ? bytes : 64);
    return p;
}

double sm_wall_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double sm_thread_cpu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void sm_rss_peak_reset(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w"); /* "5": reset the peak RSS (Linux >= 4.0) */
    if (!f) return;
    fputs("5", f);
    fclose(f);
}

/* A "Key:   123 kB" line of /proc/self/status, in bytes; -1 if absent. */
static double proc_status_bytes(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    const size_t k = strlen(key);
    double kib = -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, k) && line[k] == ':') { kib = strtod(line + k + 1, NULL); break; }
    fclose(f);
    return kib < 0 ? -1 : kib * 1024.0;
}

double sm_rss_peak_bytes(void) { return proc_status_bytes("VmHWM"); }

double sm_rss_private_bytes(void) { return proc_status_bytes("RssAnon"); }

double sm_heap_bytes(void) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    struct mallinfo2 mi = mallinfo2();
    return (double)(mi.uordblks + mi.hblkhd);
#else
    return -1;
#endif
}

uint64_t sm_checksum64(const void *data, size_t n, uint64_t seed) {
    const unsigned char *p = data;
    uint64_t h = 1469598103934665603ull ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* ---- Philox4x32-10 ---------------------------------------------------- */

static inline uint32_t mulhilo(uint32_t a, uint32_t b, uint32_t *hi) {
    uint64_t p = (uint64_t)a * b;
    *hi = (uint32_t)(p >> 32);
    return (uint32_t)p;
}

sm_philox_ctr sm_philox4x32(sm_philox_ctr c, sm_philox_key k) {
    for (int round = 0; round < 10; round++) {
        uint32_t hi0, hi1;
        uint32_t lo0 = mulhilo(0xD2511F53u, c.v[0], &hi0);
        uint32_t lo1 = mulhilo(0xCD9E8D57u, c.v[2], &hi1);
        sm_philox_ctr n = {{hi1 ^ c.v[1] ^ k.v[0], lo1, hi0 ^ c.v[3] ^ k.v[1], lo0}};
        c = n;
        k.v[0] += 0x9E3779B9u;
        k.v[1] += 0xBB67AE85u;
    }
    return c;
}

sm_philox_ctr sm_rng_block(uint64_t seed, uint32_t stream, uint64_t a, uint64_t b) {
    /* The key carries seed; the counter carries (a, b) with the stream folded
     * into the high bits of a (coordinates used here stay far below 2^56). */
    sm_philox_key key = {{(uint32_t)seed, (uint32_t)(seed >> 32)}};
    uint64_t hi = a ^ ((uint64_t)stream << 56);
    sm_philox_ctr ctr = {{(uint32_t)b, (uint32_t)(b >> 32), (uint32_t)hi, (uint32_t)(hi >> 32)}};
    return sm_philox4x32(ctr, key);
}

float sm_rng_uniform(uint64_t seed, uint32_t stream, uint64_t a, uint64_t b) {
    sm_philox_ctr r = sm_rng_block(seed, stream, a, b);
    return (float)(r.v[0] >> 8) * (1.0f / 16777216.0f);
}

double sm_rng_uniform_double(uint64_t seed, uint32_t stream, uint64_t a, uint64_t b) {
    sm_philox_ctr r = sm_rng_block(seed, stream, a, b);
    uint64_t bits = ((uint64_t)r.v[0] << 21) ^ (uint64_t)(r.v[1] >> 11);
    return (double)(bits & ((1ull << 53) - 1)) * (1.0 / 9007199254740992.0);
}
