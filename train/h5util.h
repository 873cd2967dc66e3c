/* h5util.h — small checked wrappers over the HDF5 C API, internal to train/
 * and the command line. All readers name the file and dataset in messages. */
#ifndef SM_H5UTIL_H
#define SM_H5UTIL_H

#include <hdf5.h>
#include <stdint.h>

/* Silence HDF5's own error printing (we report our own messages). */
void sm_h5_quiet(void);
/* Open an existing file read-only; SM_EINPUT naming the path when missing or not HDF5. */
int sm_h5_open_read(hid_t *file, const char *path);

/* The attribute every sm_h5_write_* dataset carries: uint64 sm_checksum64 of its
 * elements in their native type. */
#define SM_H5_CHECKSUM "checksum"

int sm_h5_write_floats(hid_t loc, const char *name, const float *data, int rank, const hsize_t *dims);
int sm_h5_write_doubles(hid_t loc, const char *name, const double *data, int rank, const hsize_t *dims);
int sm_h5_write_ints(hid_t loc, const char *name, const int32_t *data, int rank, const hsize_t *dims);
int sm_h5_write_int64s(hid_t loc, const char *name, const int64_t *data, int rank, const hsize_t *dims);
int sm_h5_write_scalar_double(hid_t loc, const char *name, double v);
/* n fixed-length strings of `width` bytes each (NUL-padded), data [n · width]. */
int sm_h5_write_fixed_strings(hid_t loc, const char *name, const char *data, size_t width, hsize_t n);
int sm_h5_attr_string(hid_t loc, const char *name, const char *value);
int sm_h5_attr_int64(hid_t loc, const char *name, int64_t value);
int sm_h5_attr_double(hid_t loc, const char *name, double value);
/* Create the groups of a path like "/layers/0_dense" as needed; returns the group (close it). */
hid_t sm_h5_group(hid_t file, const char *path);

/* Shape of a dataset: *rank and dims (up to 8). SM_EINPUT if it is missing. */
int sm_h5_shape(hid_t file, const char *fname, const char *name, int *rank, hsize_t *dims);
/* Read a float (int32, double) dataset whose shape must be exactly dims[rank]
 * (converting from any numeric type HDF5 can convert). */
int sm_h5_read_floats(hid_t file, const char *fname, const char *name, float *out, int rank,
                      const hsize_t *dims);
int sm_h5_read_ints(hid_t file, const char *fname, const char *name, int32_t *out, int rank,
                    const hsize_t *dims);
int sm_h5_read_doubles(hid_t file, const char *fname, const char *name, double *out, int rank,
                       const hsize_t *dims);
int sm_h5_read_scalar_double(hid_t file, const char *fname, const char *name, double *out);
/* Attributes of an object: string (malloc'd) and integer. SM_EINPUT naming it when absent. */
int sm_h5_read_attr_string(hid_t file, const char *fname, const char *obj, const char *name, char **out);
int sm_h5_read_attr_int64(hid_t file, const char *fname, const char *obj, const char *name, int64_t *out);
int sm_h5_read_attr_double(hid_t file, const char *fname, const char *obj, const char *name, double *out);
int sm_h5_exists(hid_t file, const char *path);
/* Read every dataset of the file and compare it with its SM_H5_CHECKSUM.
 * A dataset without one is an error when require (spikemesh's own files),
 * skipped otherwise. SM_EINPUT naming the file and the first bad dataset.
 * *checked (may be NULL): datasets verified. */
int sm_h5_verify_checksums(hid_t file, const char *fname, int require, long *checked);
/* "[2,3,4]" into buf. */
const char *sm_h5_dims_str(char *buf, size_t n, int rank, const hsize_t *dims);

#endif
