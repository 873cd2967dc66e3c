/* shd.c — spike events in the Spiking Heidelberg Digits HDF5 layout.
 *
 *   /spikes/times  [n] variable-length float32 or float64, seconds
 *   /spikes/units  [n] variable-length uint16 (any integer type is accepted)
 *   /labels        [n] any integer type
 *
 * Spikes are binned into T steps over [0, t_max): a spike at time s goes to
 * step floor(s / t_max * T); spikes outside [0, t_max) (and NaN) are dropped.
 * Several spikes of one unit in one step make one bit.
 *
 * HDF5 prints its error stack by default; we switch that off for the whole
 * call and restore the caller's handler on the way out, and report errors
 * ourselves. The vlen arrays are read a block of samples at a time (a full SHD
 * training file is about a gigabyte as doubles) and reclaimed after each block.
 */
#include "sm_data.h"
#include "sm_common.h"

#include <errno.h>
#include <hdf5.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SHD_BLOCK 256 /* samples per vlen read */
#define SHD_LAYOUT "the Spiking Heidelberg Digits layout: /spikes/times, /spikes/units, /labels"

/* Everything one load holds open, so a single exit path can close it. */
typedef struct {
    const char *path;
    hid_t file, times, units, labels;
    hid_t times_mem, units_mem; /* vlen memory types: double, int32 */
} shd_file;

static void shd_close(shd_file *f) {
    if (f->times_mem >= 0) H5Tclose(f->times_mem);
    if (f->units_mem >= 0) H5Tclose(f->units_mem);
    if (f->labels >= 0) H5Dclose(f->labels);
    if (f->units >= 0) H5Dclose(f->units);
    if (f->times >= 0) H5Dclose(f->times);
    if (f->file >= 0) H5Fclose(f->file);
}

/* Open dataset `name` and check it is 1-D of a vlen (or, when vlen_base is
 * negative, plain) type whose (base) class is `cls`. Returns SM_OK with
 * *id and *n, or SM_EINPUT naming the file, the dataset and the expectation. */
static int open_dataset(shd_file *f, const char *name, int vlen, H5T_class_t cls,
                        const char *expected, hid_t *id, hsize_t *n) {
    /* H5Lexists fails on a missing intermediate group, so test each level */
    htri_t exists = 1;
    if (strchr(name + 1, '/')) exists = H5Lexists(f->file, "/spikes", H5P_DEFAULT) > 0;
    if (exists) exists = H5Lexists(f->file, name, H5P_DEFAULT) > 0;
    if (!exists) return sm_error("%s: missing dataset %s (expected %s)", f->path, name, SHD_LAYOUT);
    *id = H5Dopen2(f->file, name, H5P_DEFAULT);
    if (*id < 0) return sm_error("%s: cannot open dataset %s", f->path, name);

    hid_t type = H5Dget_type(*id), space = H5Dget_space(*id);
    int rank = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    hsize_t dims[2] = {0, 0};
    if (rank == 1) H5Sget_simple_extent_dims(space, dims, NULL);
    int type_ok = 0;
    if (type >= 0 && vlen && H5Tget_class(type) == H5T_VLEN) {
        hid_t base = H5Tget_super(type);
        type_ok = base >= 0 && H5Tget_class(base) == cls;
        if (base >= 0) H5Tclose(base);
    } else if (type >= 0 && !vlen) {
        type_ok = H5Tget_class(type) == cls;
    }
    if (type >= 0) H5Tclose(type);
    if (space >= 0) H5Sclose(space);
    if (rank != 1) return sm_error("%s: dataset %s has %d dimensions, expected 1 (%s)", f->path,
                                   name, rank, expected);
    if (!type_ok) return sm_error("%s: dataset %s has the wrong type, expected %s", f->path, name,
                                  expected);
    *n = dims[0];
    return SM_OK;
}

/* Bin samples [first, first+count) of the open file into out->events.
 * Returns SM_OK, SM_EINPUT for a bad sample, SM_EFAIL for a read error. */
static int bin_block(shd_file *f, sm_dataset *out, hsize_t first, hsize_t count, double t_max) {
    hvl_t times[SHD_BLOCK], units[SHD_BLOCK];
    hid_t file_space = H5Dget_space(f->times);
    hid_t mem_space = H5Screate_simple(1, &count, NULL);
    int rc = SM_OK;
    H5Sselect_hyperslab(file_space, H5S_SELECT_SET, &first, NULL, &count, NULL);
    if (H5Dread(f->times, f->times_mem, mem_space, file_space, H5P_DEFAULT, times) < 0) {
        rc = sm_fail("%s: cannot read /spikes/times for samples %llu..%llu", f->path,
                     (unsigned long long)first, (unsigned long long)(first + count - 1));
        goto close_spaces;
    }
    if (H5Dread(f->units, f->units_mem, mem_space, file_space, H5P_DEFAULT, units) < 0) {
        rc = sm_fail("%s: cannot read /spikes/units for samples %llu..%llu (expected integers "
                     "that fit 32 bits)", f->path, (unsigned long long)first,
                     (unsigned long long)(first + count - 1));
        goto reclaim_times;
    }

    int T = out->T, n_units = out->w;
    size_t stride = sm_dataset_event_bytes(out);
    for (hsize_t s = 0; s < count && !rc; s++) {
        long long sample = (long long)(first + s);
        if (times[s].len != units[s].len) {
            rc = sm_error("%s: sample %lld has %zu spike times but %zu units, expected equal "
                          "lengths", f->path, sample, times[s].len, units[s].len);
            break;
        }
        const double *t = times[s].p;
        const int32_t *u = units[s].p;
        uint8_t *bits = out->events + (size_t)sample * stride;
        for (size_t k = 0; k < times[s].len; k++) {
            if (u[k] < 0 || u[k] >= n_units) {
                rc = sm_error("%s: sample %lld spike %zu has unit %d, expected 0..%d", f->path,
                              sample, k, (int)u[k], n_units - 1);
                break;
            }
            if (!(t[k] >= 0 && t[k] < t_max)) continue;
            long step = (long)(t[k] / t_max * T);
            if (step >= T) step = T - 1; /* rounding just below t_max */
            size_t bit = (size_t)step * n_units + (size_t)u[k];
            bits[bit >> 3] |= (uint8_t)(1u << (bit & 7));
        }
    }
    H5Dvlen_reclaim(f->units_mem, mem_space, H5P_DEFAULT, units);
reclaim_times:
    H5Dvlen_reclaim(f->times_mem, mem_space, H5P_DEFAULT, times);
close_spaces:
    H5Sclose(mem_space);
    H5Sclose(file_space);
    return rc;
}

/* The load proper, with HDF5's printing already off. */
static int shd_read(sm_dataset *out, shd_file *f, int T, double t_max, int units, int limit) {
    struct stat st;
    if (stat(f->path, &st) != 0) return sm_error("%s: cannot open: %s", f->path, strerror(errno));
    if (H5Fis_hdf5(f->path) <= 0)
        return sm_error("%s: not an HDF5 file (expected %s)", f->path, SHD_LAYOUT);
    f->file = H5Fopen(f->path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f->file < 0) return sm_error("%s: cannot open as HDF5 (corrupt file?)", f->path);

    hsize_t n_times, n_units, n_labels;
    int rc = open_dataset(f, "/spikes/times", 1, H5T_FLOAT, "variable-length floats, one array "
                          "of seconds per sample", &f->times, &n_times);
    if (!rc) rc = open_dataset(f, "/spikes/units", 1, H5T_INTEGER, "variable-length integers, "
                               "one array of unit indices per sample", &f->units, &n_units);
    if (!rc) rc = open_dataset(f, "/labels", 0, H5T_INTEGER, "integer labels [n]", &f->labels,
                               &n_labels);
    if (rc) return rc;
    if (n_times != n_units || n_times != n_labels)
        return sm_error("%s: count mismatch: /spikes/times has %llu samples, /spikes/units %llu, "
                        "/labels %llu, expected the same", f->path, (unsigned long long)n_times,
                        (unsigned long long)n_units, (unsigned long long)n_labels);
    if (n_times == 0) return sm_error("%s: no samples, expected at least one", f->path);
    if (n_times > INT_MAX) return sm_error("%s: %llu samples, expected at most %d", f->path,
                                           (unsigned long long)n_times, INT_MAX);

    hsize_t n = limit > 0 && (hsize_t)limit < n_times ? (hsize_t)limit : n_times;
    out->n = (int)n;
    out->c = 1, out->h = 1, out->w = units;
    out->T = T;
    out->y = sm_xmalloc((size_t)n * sizeof(int32_t));
    out->events = sm_xcalloc((size_t)n, sm_dataset_event_bytes(out));

    hsize_t zero = 0;
    hid_t file_space = H5Dget_space(f->labels), mem_space = H5Screate_simple(1, &n, NULL);
    H5Sselect_hyperslab(file_space, H5S_SELECT_SET, &zero, NULL, &n, NULL);
    herr_t read = H5Dread(f->labels, H5T_NATIVE_INT32, mem_space, file_space, H5P_DEFAULT, out->y);
    H5Sclose(mem_space);
    H5Sclose(file_space);
    if (read < 0) return sm_error("%s: cannot read /labels as 32-bit integers", f->path);
    for (hsize_t i = 0; i < n; i++) {
        if (out->y[i] < 0)
            return sm_error("%s: sample %llu has label %d, expected a label >= 0", f->path,
                            (unsigned long long)i, out->y[i]);
        if (out->y[i] + 1 > out->n_classes) out->n_classes = out->y[i] + 1;
    }

    f->times_mem = H5Tvlen_create(H5T_NATIVE_DOUBLE);
    f->units_mem = H5Tvlen_create(H5T_NATIVE_INT32);
    for (hsize_t first = 0; first < n && !rc; first += SHD_BLOCK) {
        hsize_t count = n - first < SHD_BLOCK ? n - first : SHD_BLOCK;
        rc = bin_block(f, out, first, count, t_max);
    }
    return rc;
}

/* sm_shd_load: see sm_data.h. Returns SM_EINPUT for bad arguments (T, t_max,
 * units not positive, or T*units bits too large), a missing or non-HDF5 file,
 * a missing or misshapen dataset, a bad unit or label; SM_EFAIL for a failed
 * read. On error *out is zeroed. */
int sm_shd_load(sm_dataset *out, const char *path, int T, double t_max, int units, int limit) {
    memset(out, 0, sizeof *out);
    if (T < 1 || units < 1 || !(t_max > 0))
        return sm_error("%s: spike binning needs T >= 1, t_max > 0 and units >= 1, got T=%d "
                        "t_max=%g units=%d", path, T, t_max, units);
    if ((uint64_t)T * (uint64_t)units > (1ull << 34))
        return sm_error("%s: T=%d x units=%d is too many bits per sample", path, T, units);

    H5E_auto2_t old_func;
    void *old_data;
    H5Eget_auto2(H5E_DEFAULT, &old_func, &old_data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);

    shd_file f = {path, -1, -1, -1, -1, -1, -1};
    int rc = shd_read(out, &f, T, t_max, units, limit);
    shd_close(&f);

    H5Eset_auto2(H5E_DEFAULT, old_func, old_data);
    if (rc) sm_dataset_free(out);
    return rc;
}
