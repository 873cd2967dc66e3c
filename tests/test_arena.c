/* test_arena.c — the core's memory (common/sm_arena.h): invariants A1–A3. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "sm_arena.h"
#include "sm_common.h"

/* A2: aligned, zeroed, inside the block; A1: the budget counts what was asked. */
static void test_alloc_within_budget(void **state) {
    (void)state;
    sm_arena a;
    const size_t sizes[] = {1, 63, 64, 100, 4096};
    size_t total = 0;
    for (size_t k = 0; k < 5; k++) total += sizes[k];
    assert_int_equal(sm_arena_init(&a, total, sm_arena_room(total, 5)), SM_OK);
    unsigned char *prev_end = a.base;
    for (size_t k = 0; k < 5; k++) {
        unsigned char *p = sm_arena_alloc(&a, sizes[k]);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 64, 0);
        assert_true(p >= prev_end && p + sizes[k] <= a.base + a.size);
        for (size_t i = 0; i < sizes[k]; i++) assert_int_equal(p[i], 0);
        memset(p, 0xab, sizes[k]);
        prev_end = p + sizes[k];
    }
    assert_int_equal(a.requested, total);
    assert_true(a.used <= a.size);
    sm_arena_free(&a);
    assert_null(a.base);
}

/* A3: a request over the budget, or over the block, is refused and changes nothing. */
static void test_refusal_changes_nothing(void **state) {
    (void)state;
    sm_arena a;
    assert_int_equal(sm_arena_init(&a, 1000, sm_arena_room(4096, 2)), SM_OK);
    assert_non_null(sm_arena_alloc(&a, 600));
    const size_t used = a.used, requested = a.requested;
    assert_null(sm_arena_alloc(&a, 401)); /* 600 + 401 > the budget of 1000 */
    assert_int_equal(a.used, used);
    assert_int_equal(a.requested, requested);
    assert_non_null(sm_arena_alloc(&a, 400)); /* exactly the budget */
    assert_null(sm_arena_alloc(&a, 1));
    sm_arena_free(&a);
    /* a budget larger than the block: the block decides */
    assert_int_equal(sm_arena_init(&a, 1 << 20, sm_arena_room(100, 1)), SM_OK);
    assert_non_null(sm_arena_alloc(&a, 100));
    assert_null(sm_arena_alloc(&a, a.size));
    sm_arena_free(&a);
    /* nothing to hold */
    assert_int_equal(sm_arena_init(&a, 10, 0), SM_OK);
    assert_null(sm_arena_alloc(&a, 1));
    sm_arena_free(&a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_within_budget),
        cmocka_unit_test(test_refusal_changes_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
