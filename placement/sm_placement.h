/* sm_placement.h — placements (lc -> core) as plain arrays, and placement.h5.
 * No MPI: usable offline. The placers are in sm_place.h. */
#ifndef SM_PLACEMENT_H
#define SM_PLACEMENT_H

#include <stdint.h>

#include "sm_place.h"

/* LC i -> core i mod n_cores (cores numbered row-major over the mesh). */
void sm_place_sequential(int32_t *lc_core, int n_lcs, int n_cores);

/* Read /lc_core int32 [n_lcs] from a placement.h5; every entry must be a core
 * in [0, n_cores). SM_EINPUT naming the file, the entry and what was expected. */
int sm_placement_read(const char *path, int32_t *lc_core, int n_lcs, int n_cores);
/* Write /lc_core (atomically), with the mesh size as attributes. */
int sm_placement_write(const char *path, const int32_t *lc_core, int n_lcs, int mesh_w, int mesh_h);

/* What placed it, for the attributes of placement.h5. */
typedef struct {
    const char *method;
    sm_cost_figures fig;
    long evaluations;
    double seconds;
} sm_placement_info;
/* The same, with every figure of info as a root attribute (DESIGN.md "Files"). */
int sm_placement_write_info(const char *path, const int32_t *lc_core, int n_lcs, int mesh_w, int mesh_h,
                            const sm_placement_info *info);

/* Traces of cost against evaluations, one per method: /trace/<name>/evaluations
 * int64 [k] and /trace/<name>/cost float64 [k] (atomically). */
int sm_place_trace_write(const char *path, int n, const char *const *names, const sm_place_trace *traces);

#endif
