# The pipeline executor over MPI, on 1, 2 and 4 ranks (-np1, -np2, -np4). With
# more than one rank a failing cmocka assertion aborts the job, so no rank is
# left waiting in a collective.
add_executable(test_distributed test_distributed.c)
target_link_libraries(test_distributed PRIVATE sm_executor sm_reference sm_placement PkgConfig::CMOCKA)
foreach(np 1 2 4)
  add_test(NAME test_distributed-np${np}
    COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${np} $<TARGET_FILE:test_distributed>)
  set_tests_properties(test_distributed-np${np} PROPERTIES TIMEOUT 600
    ENVIRONMENT "${SM_TEST_ENV};OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_rmaps_base_oversubscribe=1;CMOCKA_TEST_ABORT=1")
endforeach()
