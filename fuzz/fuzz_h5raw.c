/* fuzz_h5raw.c — the graph and placement readers on raw bytes as the HDF5
 * file: this reaches libhdf5's own on-disk parser, whose defects on damaged
 * files are libhdf5's (fuzz/README.md lists the ones found); what it finds in
 * spikemesh code is ours. Not part of the CI run for that reason. */
#include <hdf5.h>

#include "fuzz_util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_graph_and_placement(fuzz_file("raw.h5", data, size), 16);
    return 0;
}
