/* fuzz_idx.c — the IDX reader (sm_idx_load), raw and gzip: the input is split
 * at its first byte into an images file and a labels file. */
#include "fuzz_util.h"
#include "sm_common.h"
#include "sm_data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    size_t cut = 1 + (size > 1 ? data[0] * (size - 1) / 255 : 0);
    char images[128];
    snprintf(images, sizeof images, "%s", fuzz_file("images.idx", data + 1, cut - 1));
    const char *labels = fuzz_file("labels.idx", data + cut, size - cut);
    sm_dataset d;
    memset(&d, 0, sizeof d);
    if (sm_idx_load(&d, images, labels, 0) == SM_OK) sm_dataset_free(&d);
    sm_error_clear();
    return 0;
}
