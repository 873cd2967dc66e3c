# common/: the core's memory arena (sm_arena.h invariants A1-A3).
sm_add_test(test_arena SOURCES test_arena.c LIBS sm_common)
