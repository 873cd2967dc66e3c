sm_add_test(test_partition SOURCES test_partition.c LIBS sm_train)
