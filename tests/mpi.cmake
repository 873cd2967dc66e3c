# The command under a real mpirun (one rank in this version). Open MPI refuses root
# unless told, and needs oversubscription when ranks exceed cores; set only for it.
set(SM_MPI_ENV ${SM_TEST_ENV} "OMPI_ALLOW_RUN_AS_ROOT=1" "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"
    "OMPI_MCA_rmaps_base_oversubscribe=1")
add_test(NAME mpirun_train_tiny-np1
  COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} 1 $<TARGET_FILE:spikemesh>
          train -c ${PROJECT_SOURCE_DIR}/configs/tiny.yaml -q --out ${CMAKE_CURRENT_BINARY_DIR}/mpirun_tiny)
set_tests_properties(mpirun_train_tiny-np1 PROPERTIES ENVIRONMENT "${SM_MPI_ENV}" TIMEOUT 120
  PASS_REGULAR_EXPRESSION "epoch 3/3 .*test loss")
