# cli/: the `spikemesh` command run as a child process (usage, bad input, resume,
# file layout). It needs the binary, found through SPIKEMESH_BUILD_DIR.
sm_add_test(test_cli SOURCES test_cli.c cli_util.c LIBS sm_train)
add_dependencies(test_cli spikemesh)
# ~75 runs of the command; under the sanitizers each takes a couple of seconds
set_tests_properties(test_cli PROPERTIES TIMEOUT 900)
# `spikemesh place` and train's online re-placement, as child processes; the
# re-placement runs under mpirun with 4 ranks (Open MPI settings as in mpi.cmake).
sm_add_test(test_place_cli SOURCES test_place_cli.c cli_util.c LIBS sm_train)
add_dependencies(test_place_cli spikemesh)
set_tests_properties(test_place_cli PROPERTIES TIMEOUT 600 ENVIRONMENT
  "${SM_TEST_ENV};SPIKEMESH_MPIEXEC=${MPIEXEC_EXECUTABLE};OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_rmaps_base_oversubscribe=1")
# Reliability (issue 5): SIGTERM and resume, a rank killed, damaged checkpoints,
# non-finite values; under mpirun with 1, 2 and 4 ranks (docs/errors.md).
sm_add_test(test_reliability SOURCES test_reliability.c cli_util.c LIBS sm_train)
add_dependencies(test_reliability spikemesh)
set_tests_properties(test_reliability PROPERTIES TIMEOUT 900 ENVIRONMENT
  "${SM_TEST_ENV};SPIKEMESH_MPIEXEC=${MPIEXEC_EXECUTABLE};OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_rmaps_base_oversubscribe=1")
# The load test (issue 5): 64 ranks oversubscribed, re-placement every epoch, no
# leak and no lost message. Not in the sanitizer build: 64 instrumented processes
# need more memory than a CI machine may have, and the same code paths run there
# under test_distributed and test_reliability. Idle ranks yield the core.
if(NOT SPIKEMESH_SANITIZE)
  sm_add_test(test_soak SOURCES test_soak.c cli_util.c LIBS sm_train)
  add_dependencies(test_soak spikemesh)
  set_tests_properties(test_soak PROPERTIES TIMEOUT 900 ENVIRONMENT
    "${SM_TEST_ENV};SPIKEMESH_MPIEXEC=${MPIEXEC_EXECUTABLE};OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_rmaps_base_oversubscribe=1;OMPI_MCA_mpi_yield_when_idle=1")
endif()
# SimGrid (docs/simgrid.md): `spikemesh platform` (also under the sanitizers), and
# training under smpirun with the SMPI build of scripts/build-smpi giving the same bits
# as under mpirun. scripts/test builds that binary and passes its path; without it
# (the sanitizer builds) that part of test_smpi is skipped.
set(SPIKEMESH_SMPI_BIN "" CACHE FILEPATH "spikemesh built for SimGrid's SMPI (scripts/build-smpi), for test_smpi")
find_program(SM_SMPIRUN smpirun)
if(SPIKEMESH_SMPI_BIN AND NOT SM_SMPIRUN)
  message(FATAL_ERROR "SPIKEMESH_SMPI_BIN is set but smpirun is not found (scripts/install-deps installs libsimgrid-dev)")
endif()
sm_add_test(test_smpi SOURCES test_smpi.c cli_util.c LIBS sm_train)
add_dependencies(test_smpi spikemesh)
set_tests_properties(test_smpi PROPERTIES TIMEOUT 300 ENVIRONMENT
  "${SM_TEST_ENV};SPIKEMESH_SMPI_BIN=${SPIKEMESH_SMPI_BIN};SPIKEMESH_SMPIRUN=${SM_SMPIRUN};SPIKEMESH_MPIEXEC=${MPIEXEC_EXECUTABLE};OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_rmaps_base_oversubscribe=1")
