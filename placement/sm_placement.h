/* sm_placement.h — placements (lc -> core) as plain arrays, and placement.h5.
 * No MPI: usable offline. The placers themselves arrive with their own issue. */
#ifndef SM_PLACEMENT_H
#define SM_PLACEMENT_H

#include <stdint.h>

/* LC i -> core i mod n_cores (cores numbered row-major over the mesh). */
void sm_place_sequential(int32_t *lc_core, int n_lcs, int n_cores);

/* Read /lc_core int32 [n_lcs] from a placement.h5; every entry must be a core
 * in [0, n_cores). SM_EINPUT naming the file, the entry and what was expected. */
int sm_placement_read(const char *path, int32_t *lc_core, int n_lcs, int n_cores);
/* Write /lc_core (atomically), with the mesh size as attributes. */
int sm_placement_write(const char *path, const int32_t *lc_core, int n_lcs, int mesh_w, int mesh_h);

#endif
