/* fuzz_png.c — the PNG folder reader (sm_png_folder_load) on one file
 * root/a/x.png holding the input, read as gray 8x8 with resizing and without. */
#include "fuzz_util.h"
#include "sm_common.h"
#include "sm_data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file("x.png", data, size);
    char root[128], cls[160], file[200];
    snprintf(root, sizeof root, "%.*s/png", (int)(strrchr(path, '/') - path), path);
    snprintf(cls, sizeof cls, "%s/a", root);
    snprintf(file, sizeof file, "%s/x.png", cls);
    static int made;
    if (!made) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "mkdir -p %s", cls);
        if (system(cmd) != 0) abort();
        made = 1;
    }
    if (rename(path, file) != 0) abort();
    for (int resize = 0; resize < 2; resize++) {
        sm_dataset d;
        memset(&d, 0, sizeof d);
        if (sm_png_folder_load(&d, root, resize ? 3 : 1, 8, 8, resize, 0) == SM_OK) sm_dataset_free(&d);
        sm_error_clear();
    }
    return 0;
}
