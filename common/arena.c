/* arena.c — a core's local memory (see sm_arena.h for invariants A1–A3). */
#include "sm_arena.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "sm_common.h"

/* Sanitizers: poison the gaps so that overruns between LC buffers are caught
 * as they are with malloc. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SM_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define SM_ASAN 1
#endif
#ifdef SM_ASAN
#include <sanitizer/asan_interface.h>
#endif
#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define SM_VALGRIND 1
#endif
#endif

enum { ALIGN = 64 };

static size_t guard_bytes(void) {
#ifdef SM_ASAN
    return ALIGN;
#elif defined(SM_VALGRIND)
    return RUNNING_ON_VALGRIND ? ALIGN : 0;
#else
    return 0;
#endif
}

/* Tell the sanitizer (if any) that [p, p+n) may be used, or may not. Unused
 * mmap'ed pages are zero, so valgrind may take them as defined. */
static void mark(unsigned char *p, size_t n, int usable) {
    if (!n) return;
#ifdef SM_ASAN
    if (usable) ASAN_UNPOISON_MEMORY_REGION(p, n);
    else ASAN_POISON_MEMORY_REGION(p, n);
#endif
#ifdef SM_VALGRIND
    if (usable) VALGRIND_MAKE_MEM_DEFINED(p, n);
    else VALGRIND_MAKE_MEM_NOACCESS(p, n);
#endif
    (void)p, (void)usable;
}

static size_t rounded(size_t bytes) { return (bytes + ALIGN - 1) / ALIGN * ALIGN; }

size_t sm_arena_room(size_t bytes, size_t n) {
    /* each allocation wastes at most ALIGN - 1 bytes to alignment */
    return rounded(bytes) + n * (ALIGN + guard_bytes());
}

int sm_arena_init(sm_arena *a, size_t capacity, size_t size) {
    memset(a, 0, sizeof *a);
    a->capacity = capacity;
    a->guard = guard_bytes();
    if (size == 0) return SM_OK;
    /* anonymous pages: zero, and resident only once touched */
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return sm_fail("cannot map %zu bytes for the core's memory: %s", size, strerror(errno));
    a->base = p;
    a->size = size;
    mark(a->base, a->size, 0);
    return SM_OK;
}

void *sm_arena_alloc(sm_arena *a, size_t bytes) {
    size_t need = rounded(bytes ? bytes : 1);
    if (bytes > a->capacity - a->requested || need + a->guard > a->size - a->used) return NULL;
    unsigned char *p = a->base + a->used;
    a->used += need + a->guard;
    a->requested += bytes;
    mark(p, bytes ? bytes : 1, 1);
    return p;
}

float *sm_arena_floats(sm_arena *a, size_t count) { return sm_arena_alloc(a, sizeof(float) * count); }

void sm_arena_free(sm_arena *a) {
    if (a->base) {
        mark(a->base, a->size, 1);
        munmap(a->base, a->size);
    }
    memset(a, 0, sizeof *a);
}
