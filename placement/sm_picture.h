/* sm_picture.h — PNG pictures of placements and searches (libpng), for
 * `spikemesh place --png` and `spikemesh report`. No MPI. Every function writes
 * the file atomically (temporary file, rename) and returns SM_OK, or SM_EFAIL
 * with a message naming the file when it cannot be written; SM_EINPUT on
 * inconsistent arguments (NULL arrays, n <= 0). Text is drawn with a built-in
 * bitmap font, so the pictures need no font files.
 */
#ifndef SM_PICTURE_H
#define SM_PICTURE_H

#include <stdint.h>

#include "sm_graph.h"
#include "sm_place.h"

/* The mesh seen from above: one square per core, filled by its compute (a
 * colour scale from the least to the most loaded core) with a bar for its
 * memory against core_memory (red when over); the two directed links between
 * neighbours drawn as arrows whose colour and width follow their load in bytes.
 * core_compute, core_memory [cores]; link_loads [4·cores] (ids of sm_graph.h),
 * any may be NULL (not drawn); a NaN compute or memory entry means "no data" (a
 * core without a rank) and is drawn light grey. A legend gives the scales' end values,
 * the compute's in compute_unit ("FLOPs", "s"; NULL: no unit shown). */
int sm_picture_mesh(const char *path, const sm_mesh *mesh, const double *core_compute, const char *compute_unit,
                    const double *core_memory, const int64_t *link_loads, const char *title);

/* A heatmap of an n×n matrix (row = sender, column = receiver; bytes), on a
 * logarithmic colour scale with zero drawn white, with axis ticks and a legend. */
int sm_picture_heatmap(const char *path, const double *matrix, int n, const char *title);

/* Cost against evaluations, one line per trace (log-scaled evaluations axis),
 * with a legend of the names. */
int sm_picture_curves(const char *path, int n_curves, const char *const *names,
                      const sm_place_trace *traces, const char *title);

#endif
