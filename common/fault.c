/* fault.c — fault injection for the reliability tests (sm_common.h,
 * sm_fault_point). Off unless the environment sets SPIKEMESH_FAULT, so a
 * normal run pays one getenv per call site and nothing else. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sm_common.h"

/* Flip every bit of the byte in the middle of the file: in a spikemesh HDF5
 * file that byte is tensor data, so only the checksums can notice. */
static void corrupt(const char *path) {
    int fd = open(path, O_RDWR);
    struct stat sb;
    if (fd < 0) return;
    if (fstat(fd, &sb) == 0 && sb.st_size > 0) {
        unsigned char b;
        off_t at = sb.st_size / 2;
        if (pread(fd, &b, 1, at) == 1) {
            b ^= 0xff;
            if (pwrite(fd, &b, 1, at) != 1) perror("SPIKEMESH_FAULT corrupt-file");
        }
    }
    close(fd);
}

void sm_fault_point(const char *point, const char *key) {
    const char *spec = getenv("SPIKEMESH_FAULT");
    if (!spec || !*spec) return;
    size_t len = strlen(point);
    if (strncmp(spec, point, len) != 0 || spec[len] != ':') return;
    const char *value = spec + len + 1;
    if (!strcmp(point, "kill") || !strcmp(point, "term")) {
        if (strcmp(value, key) != 0) return;
        int kill = !strcmp(point, "kill");
        fprintf(stderr, "SPIKEMESH_FAULT: sending %s to this process (%s)\n", kill ? "SIGKILL" : "SIGTERM", key);
        fflush(stderr);
        raise(kill ? SIGKILL : SIGTERM);
    } else if (!strcmp(point, "corrupt-file")) {
        if (strstr(key, value)) corrupt(key);
    }
}
