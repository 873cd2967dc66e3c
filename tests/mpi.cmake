# The command under a real mpirun (one rank in this version). Open MPI refuses root
# unless told, and needs oversubscription when ranks exceed cores; set only for it.
set(SM_MPI_ENV ${SM_TEST_ENV} "OMPI_ALLOW_RUN_AS_ROOT=1" "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"
    "OMPI_MCA_rmaps_base_oversubscribe=1")
add_test(NAME mpirun_train_tiny-np1
  COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} 1 $<TARGET_FILE:spikemesh>
          train -c ${PROJECT_SOURCE_DIR}/configs/tiny.yaml -q --out ${CMAKE_CURRENT_BINARY_DIR}/mpirun_tiny)
set_tests_properties(mpirun_train_tiny-np1 PROPERTIES ENVIRONMENT "${SM_MPI_ENV}" TIMEOUT 120
  PASS_REGULAR_EXPRESSION "epoch 3/3 .*test loss")

# Valgrind memcheck of a small 2-rank training with online re-placement and
# checkpoints (issue 5): no error in spikemesh code. Suppressions only for
# Open MPI's own (tests/valgrind-openmpi.supp, a comment each). Leaks are the
# LeakSanitizer pass's job (Open MPI leaks dozens of blocks at exit). Not in the
# sanitizer build: valgrind and ASan do not mix.
find_program(VALGRIND valgrind)
if(VALGRIND AND NOT SPIKEMESH_SANITIZE)
  add_test(NAME valgrind_train_np2
    COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} 2
            ${VALGRIND} --error-exitcode=3 --errors-for-leak-kinds=none --num-callers=30
            --suppressions=${CMAKE_CURRENT_SOURCE_DIR}/valgrind-openmpi.supp
            $<TARGET_FILE:spikemesh> train -c ${PROJECT_SOURCE_DIR}/configs/tiny.yaml -q
            --set chip.mesh_w=2 --set train.epochs=2 --set train.checkpoint_every=1
            --set placement.method=greedy --set placement.every=1
            --out ${CMAKE_CURRENT_BINARY_DIR}/valgrind_tiny)
  # the exit status decides (valgrind exits 3 on an error; mpirun passes it on)
  set_tests_properties(valgrind_train_np2 PROPERTIES ENVIRONMENT "${SM_MPI_ENV}" TIMEOUT 600)
endif()
