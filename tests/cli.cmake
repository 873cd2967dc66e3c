# cli/: the `spikemesh` command run as a child process (usage, bad input, resume,
# file layout). It needs the binary, found through SPIKEMESH_BUILD_DIR.
sm_add_test(test_cli SOURCES test_cli.c LIBS sm_train)
add_dependencies(test_cli spikemesh)
# ~75 runs of the command; under the sanitizers each takes a couple of seconds
set_tests_properties(test_cli PROPERTIES TIMEOUT 900)
