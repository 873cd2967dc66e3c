# The configuration tree (train/config.c): pure C, no MPI.
sm_add_test(test_config SOURCES test_config.c LIBS sm_config)
