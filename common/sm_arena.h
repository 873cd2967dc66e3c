/* sm_arena.h — a core's local memory: a bump allocator over one block of at
 * most `capacity` bytes (chip.core_memory), from which a rank allocates the
 * state of the LCs it hosts (docs/errors.md, "Memory budgets").
 *
 * The caller knows what it will need before it starts (the executor sums its
 * LCs' parameter, optimizer and BPTT bytes and checks them against the budget
 * first), so the block is mapped once, `size` bytes with room for alignment,
 * and carved without any later malloc. Allocations are 64-byte aligned and
 * zeroed, and are never freed one by one: sm_arena_free releases them all.
 *
 * Invariants: A1 requested <= capacity (the budget counts the bytes asked
 * for, not alignment) and used <= size; A2 every pointer returned lies in
 * [base, base + size) and is 64-byte aligned; A3 a request that does not fit
 * either returns NULL and changes nothing. Under AddressSanitizer or valgrind
 * the bytes between and after allocations are unaddressable, so an overrun of
 * one LC's buffer into the next is still caught.
 */
#ifndef SM_ARENA_H
#define SM_ARENA_H

#include <stddef.h>

typedef struct {
    unsigned char *base;
    size_t capacity;   /* the budget: chip.core_memory */
    size_t size;       /* bytes of the block (<= capacity) */
    size_t used;       /* bytes of the block handed out, alignment and guards included */
    size_t requested;  /* bytes asked for: the arena use reported in metrics.h5 */
    size_t guard;      /* bytes left unaddressable after each allocation (sanitizers only) */
} sm_arena;

/* Room for `n` allocations of `bytes` in total: what sm_arena_init's size must
 * be (alignment and guards included). */
size_t sm_arena_room(size_t bytes, size_t n);
/* A budget of `capacity` bytes over a block of `size` bytes (sm_arena_room of
 * what will be asked). SM_EFAIL (message recorded) if the system cannot map it. */
int sm_arena_init(sm_arena *a, size_t capacity, size_t size);
/* `bytes` zeroed bytes, or NULL if they exceed the budget or the block (A3). */
void *sm_arena_alloc(sm_arena *a, size_t bytes);
float *sm_arena_floats(sm_arena *a, size_t count);
void sm_arena_free(sm_arena *a);

#endif
