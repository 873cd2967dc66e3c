sm_add_test(test_cost SOURCES test_cost.c LIBS sm_placement)
