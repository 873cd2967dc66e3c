sm_add_test(test_kernels SOURCES test_kernels.c LIBS sm_train)
sm_add_test(test_reference SOURCES test_reference.c LIBS sm_train)
sm_add_test(test_learning SOURCES test_learning.c LIBS sm_train)
sm_add_test(test_event SOURCES test_event.c LIBS sm_train)
