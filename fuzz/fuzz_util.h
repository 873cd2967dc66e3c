/* fuzz_util.h — shared by the libFuzzer harnesses (fuzz/README.md): the
 * readers take paths, so each input is written to a private temporary file. */
#ifndef SM_FUZZ_UTIL_H
#define SM_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sm_common.h"
#include "sm_graph.h"
#include "sm_placement.h"

/* Write data to a file named `name` in this process's scratch directory and
 * return its path (static buffer, valid until the next call). */
static inline const char *fuzz_file(const char *name, const uint8_t *data, size_t size) {
    static char dir[64], path[128];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/spikemesh-fuzz-%d", (int)getpid());
        char cmd[96];
        snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
        if (system(cmd) != 0) abort();
    }
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    fclose(f);
    return path;
}

/* The graph and placement readers on the file at `path` (placement for n <= 16
 * LCs on n cores): each returns SM_OK or a message; anything else is a finding. */
static inline void fuzz_graph_and_placement(const char *path, int n) {
    sm_lc_graph g;
    sm_mesh mesh;
    if (sm_graph_read(path, &g, &mesh) == SM_OK) sm_graph_free(&g);
    sm_error_clear();
    int32_t lc_core[16];
    sm_placement_read(path, lc_core, n, n);
    sm_error_clear();
}

#endif
