/* h5util.c — checked HDF5 helpers (see h5util.h). */
#define _GNU_SOURCE
#include "h5util.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sm_common.h"

void sm_h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

int sm_h5_open_read(hid_t *file, const char *path) {
    sm_h5_quiet();
    if (access(path, R_OK) != 0)
        return sm_error("%s: cannot open: %s", path, strerror(errno));
    htri_t is = H5Fis_hdf5(path);
    if (is <= 0) return sm_error("%s: not an HDF5 file", path);
    *file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (*file < 0) return sm_error("%s: cannot open as HDF5 (damaged file?)", path);
    return SM_OK;
}

/* Every dataset carries SM_H5_CHECKSUM: sm_checksum64 of its elements in the
 * native type it was written from (sm_h5_verify_checksums). */
static int write_typed(hid_t loc, const char *name, hid_t type, const void *data, int rank,
                       const hsize_t *dims) {
    hid_t space = rank ? H5Screate_simple(rank, dims, NULL) : H5Screate(H5S_SCALAR);
    hid_t set = H5Dcreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    herr_t st = set >= 0 ? H5Dwrite(set, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) : -1;
    if (st >= 0) {
        size_t count = (size_t)H5Sget_simple_extent_npoints(space);
        uint64_t sum = sm_checksum64(data, count * H5Tget_size(type), 0);
        hid_t aspace = H5Screate(H5S_SCALAR);
        hid_t a = H5Acreate2(set, SM_H5_CHECKSUM, H5T_NATIVE_UINT64, aspace, H5P_DEFAULT, H5P_DEFAULT);
        st = a >= 0 ? H5Awrite(a, H5T_NATIVE_UINT64, &sum) : -1;
        if (a >= 0) H5Aclose(a);
        H5Sclose(aspace);
    }
    if (set >= 0) H5Dclose(set);
    H5Sclose(space);
    return st < 0 ? sm_fail("HDF5: cannot write dataset '%s'", name) : SM_OK;
}

int sm_h5_write_fixed_strings(hid_t loc, const char *name, const char *data, size_t width, hsize_t n) {
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, width);
    H5Tset_strpad(type, H5T_STR_NULLPAD);
    int rc = write_typed(loc, name, type, data, 1, &n);
    H5Tclose(type);
    return rc;
}

typedef struct { const char *fname; int require; int rc; long checked; } verify_ctx;

static herr_t verify_one(hid_t root, const char *name, const H5O_info_t *info, void *vctx) {
    verify_ctx *c = vctx;
    if (info->type != H5O_TYPE_DATASET) return 0;
    hid_t set = H5Dopen2(root, name, H5P_DEFAULT);
    if (set < 0) { c->rc = sm_error("%s: cannot open dataset /%s (damaged file?)", c->fname, name); return 1; }
    int rc = SM_OK;
    if (H5Aexists(set, SM_H5_CHECKSUM) <= 0) {
        if (c->require) rc = sm_error("%s: dataset /%s has no '%s' attribute (every dataset of this file "
                                      "must carry one)", c->fname, name, SM_H5_CHECKSUM);
        H5Dclose(set);
        c->rc = rc;
        return rc ? 1 : 0;
    }
    uint64_t want = 0;
    hid_t a = H5Aopen(set, SM_H5_CHECKSUM, H5P_DEFAULT);
    if (a < 0 || H5Aread(a, H5T_NATIVE_UINT64, &want) < 0)
        rc = sm_error("%s: cannot read the checksum of dataset /%s (damaged file?)", c->fname, name);
    if (a >= 0) H5Aclose(a);
    hid_t ftype = H5Dget_type(set), space = H5Dget_space(set);
    hid_t mtype = ftype >= 0 ? H5Tget_native_type(ftype, H5T_DIR_ASCEND) : -1;
    hssize_t count = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
    size_t esize = mtype >= 0 ? H5Tget_size(mtype) : 0;
    /* the size comes from the file: bound it by the file's own size before allocating */
    hsize_t storage = H5Dget_storage_size(set);
    if (!rc && (mtype < 0 || count < 0 || esize == 0 || esize > 16 || (hsize_t)count * esize > storage + 64))
        rc = sm_error("%s: dataset /%s has an unreadable type or shape (damaged file?)", c->fname, name);
    if (!rc) {
        void *buf = sm_xmalloc((size_t)count * esize + 1);
        if (H5Dread(set, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
            rc = sm_error("%s: cannot read dataset /%s (damaged or truncated file?)", c->fname, name);
        else if (sm_checksum64(buf, (size_t)count * esize, 0) != want)
            rc = sm_error("%s: dataset /%s does not match its checksum: the file is damaged", c->fname, name);
        free(buf);
    }
    if (mtype >= 0) H5Tclose(mtype);
    if (ftype >= 0) H5Tclose(ftype);
    if (space >= 0) H5Sclose(space);
    H5Dclose(set);
    c->checked++;
    c->rc = rc;
    return rc ? 1 : 0;
}

int sm_h5_verify_checksums(hid_t file, const char *fname, int require, long *checked) {
    verify_ctx c = {fname, require, SM_OK, 0};
    herr_t st = H5Ovisit2(file, H5_INDEX_NAME, H5_ITER_INC, verify_one, &c, H5O_INFO_BASIC);
    if (checked) *checked = c.checked;
    if (c.rc) return c.rc;
    return st < 0 ? sm_error("%s: cannot walk the file's objects (damaged file?)", fname) : SM_OK;
}

int sm_h5_write_floats(hid_t loc, const char *name, const float *data, int rank, const hsize_t *dims) {
    return write_typed(loc, name, H5T_NATIVE_FLOAT, data, rank, dims);
}
int sm_h5_write_doubles(hid_t loc, const char *name, const double *data, int rank, const hsize_t *dims) {
    return write_typed(loc, name, H5T_NATIVE_DOUBLE, data, rank, dims);
}
int sm_h5_write_ints(hid_t loc, const char *name, const int32_t *data, int rank, const hsize_t *dims) {
    return write_typed(loc, name, H5T_NATIVE_INT32, data, rank, dims);
}
int sm_h5_write_int64s(hid_t loc, const char *name, const int64_t *data, int rank, const hsize_t *dims) {
    return write_typed(loc, name, H5T_NATIVE_INT64, data, rank, dims);
}
int sm_h5_write_scalar_double(hid_t loc, const char *name, double v) {
    return write_typed(loc, name, H5T_NATIVE_DOUBLE, &v, 0, NULL);
}

static int write_attr(hid_t loc, const char *name, hid_t type, const void *value) {
    hid_t space = H5Screate(H5S_SCALAR);
    if (H5Aexists(loc, name) > 0) H5Adelete(loc, name);
    hid_t a = H5Acreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t st = a >= 0 ? H5Awrite(a, type, value) : -1;
    if (a >= 0) H5Aclose(a);
    H5Sclose(space);
    return st < 0 ? sm_fail("HDF5: cannot write attribute '%s'", name) : SM_OK;
}

int sm_h5_attr_string(hid_t loc, const char *name, const char *value) {
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    H5Tset_cset(type, H5T_CSET_UTF8);
    int rc = write_attr(loc, name, type, &value);
    H5Tclose(type);
    return rc;
}
int sm_h5_attr_int64(hid_t loc, const char *name, int64_t value) {
    return write_attr(loc, name, H5T_NATIVE_INT64, &value);
}
int sm_h5_attr_double(hid_t loc, const char *name, double value) {
    return write_attr(loc, name, H5T_NATIVE_DOUBLE, &value);
}

hid_t sm_h5_group(hid_t file, const char *path) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; ; p++) {
        if (*p == '/' || *p == 0) {
            char saved = *p;
            *p = 0;
            if (H5Lexists(file, buf, H5P_DEFAULT) <= 0) {
                hid_t g = H5Gcreate2(file, buf, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
                if (g < 0) return -1;
                H5Gclose(g);
            }
            *p = saved;
            if (!saved) break;
        }
    }
    return H5Gopen2(file, path, H5P_DEFAULT);
}

int sm_h5_exists(hid_t file, const char *path) {
    /* check each component, since H5Lexists fails on a missing intermediate */
    char buf[512];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; ; p++) {
        if (*p == '/' || *p == 0) {
            char saved = *p;
            *p = 0;
            if (H5Lexists(file, buf, H5P_DEFAULT) <= 0) return 0;
            *p = saved;
            if (!saved) return 1;
        }
    }
}

const char *sm_h5_dims_str(char *buf, size_t n, int rank, const hsize_t *dims) {
    size_t at = 0;
    at += snprintf(buf + at, n - at, "[");
    for (int i = 0; i < rank && at < n; i++)
        at += snprintf(buf + at, n - at, "%s%llu", i ? "," : "", (unsigned long long)dims[i]);
    if (at < n) snprintf(buf + at, n - at, "]");
    return buf;
}

int sm_h5_shape(hid_t file, const char *fname, const char *name, int *rank, hsize_t *dims) {
    if (!sm_h5_exists(file, name)) return sm_error("%s: missing dataset %s", fname, name);
    hid_t set = H5Dopen2(file, name, H5P_DEFAULT);
    if (set < 0) return sm_error("%s: %s is not a dataset", fname, name);
    hid_t space = H5Dget_space(set);
    int r = H5Sget_simple_extent_ndims(space);
    if (r < 0 || r > 8) {
        H5Sclose(space); H5Dclose(set);
        return sm_error("%s: %s has an unsupported shape (rank %d)", fname, name, r);
    }
    H5Sget_simple_extent_dims(space, dims, NULL);
    *rank = r;
    H5Sclose(space);
    H5Dclose(set);
    return SM_OK;
}

static int read_typed(hid_t file, const char *fname, const char *name, hid_t mem_type, void *out,
                      int rank, const hsize_t *dims) {
    int r;
    hsize_t got[8];
    int rc = sm_h5_shape(file, fname, name, &r, got);
    if (rc) return rc;
    int same = r == rank;
    for (int i = 0; same && i < rank; i++) same = got[i] == dims[i];
    if (!same) {
        char want[128], have[128];
        return sm_error("%s: dataset %s has shape %s, expected %s", fname, name,
                        sm_h5_dims_str(have, sizeof have, r, got), sm_h5_dims_str(want, sizeof want, rank, dims));
    }
    hid_t set = H5Dopen2(file, name, H5P_DEFAULT);
    hid_t type = H5Dget_type(set);
    H5T_class_t cls = H5Tget_class(type);
    size_t esize = H5Tget_size(type);
    H5Tclose(type);
    if (cls != H5T_INTEGER && cls != H5T_FLOAT) {
        H5Dclose(set);
        return sm_error("%s: dataset %s is not numeric", fname, name);
    }
    if (esize == 0 || esize > 16) { /* a damaged type would make libhdf5 allocate n x size to convert */
        H5Dclose(set);
        return sm_error("%s: dataset %s has %zu-byte numbers, expected 1 to 16 (damaged file?)", fname, name, esize);
    }
    if (mem_type == H5T_NATIVE_INT32) {
        /* Integers only, and each within int32: libhdf5 would truncate 1.7 to 1 and clamp
         * 2^40 to 2^31 − 1 without a word. Read as int64 and check. */
        if (cls != H5T_INTEGER) {
            H5Dclose(set);
            return sm_error("%s: dataset %s holds floating-point numbers, expected integers", fname, name);
        }
        size_t count = 1;
        for (int i = 0; i < rank; i++) count *= (size_t)dims[i];
        int64_t *wide = sm_xmalloc(sizeof *wide * (count ? count : 1));
        herr_t st = H5Dread(set, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, wide);
        H5Dclose(set);
        int rc = st < 0 ? sm_error("%s: cannot read dataset %s (damaged file?)", fname, name) : SM_OK;
        for (size_t i = 0; !rc && i < count; i++) {
            if (wide[i] < INT32_MIN || wide[i] > INT32_MAX)
                rc = sm_error("%s: dataset %s: element %zu is %lld, outside the 32-bit integers", fname, name, i,
                              (long long)wide[i]);
            else ((int32_t *)out)[i] = (int32_t)wide[i];
        }
        free(wide);
        return rc;
    }
    herr_t st = H5Dread(set, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out);
    H5Dclose(set);
    return st < 0 ? sm_error("%s: cannot read dataset %s (damaged file?)", fname, name) : SM_OK;
}

int sm_h5_read_floats(hid_t file, const char *fname, const char *name, float *out, int rank,
                      const hsize_t *dims) {
    return read_typed(file, fname, name, H5T_NATIVE_FLOAT, out, rank, dims);
}
int sm_h5_read_ints(hid_t file, const char *fname, const char *name, int32_t *out, int rank,
                    const hsize_t *dims) {
    return read_typed(file, fname, name, H5T_NATIVE_INT32, out, rank, dims);
}
int sm_h5_read_doubles(hid_t file, const char *fname, const char *name, double *out, int rank,
                       const hsize_t *dims) {
    return read_typed(file, fname, name, H5T_NATIVE_DOUBLE, out, rank, dims);
}
int sm_h5_read_scalar_double(hid_t file, const char *fname, const char *name, double *out) {
    int r;
    hsize_t got[8];
    int rc = sm_h5_shape(file, fname, name, &r, got);
    if (rc) return rc;
    if (!(r == 0 || (r == 1 && got[0] == 1)))
        return sm_error("%s: dataset %s should be a scalar", fname, name);
    return read_typed(file, fname, name, H5T_NATIVE_DOUBLE, out, r, got);
}

int sm_h5_read_attr_string(hid_t file, const char *fname, const char *obj, const char *name, char **out) {
    *out = NULL;
    if (!sm_h5_exists(file, obj) || H5Aexists_by_name(file, obj, name, H5P_DEFAULT) <= 0)
        return sm_error("%s: missing attribute '%s' on %s", fname, name, obj);
    hid_t a = H5Aopen_by_name(file, obj, name, H5P_DEFAULT, H5P_DEFAULT);
    hid_t type = H5Aget_type(a);
    int rc = SM_OK;
    if (H5Tget_class(type) != H5T_STRING) {
        rc = sm_error("%s: attribute '%s' on %s is not a string", fname, name, obj);
    } else if (H5Tis_variable_str(type) > 0) {
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(type));
        char *s = NULL;
        if (H5Aread(a, mt, &s) < 0 || !s) rc = sm_error("%s: cannot read attribute '%s'", fname, name);
        else { *out = sm_xstrdup(s); H5free_memory(s); }
        H5Tclose(mt);
    } else {
        size_t n = H5Tget_size(type);
        char *s = sm_xcalloc(n + 1, 1);
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, n);
        if (H5Aread(a, mt, s) < 0) { free(s); rc = sm_error("%s: cannot read attribute '%s'", fname, name); }
        else *out = s;
        H5Tclose(mt);
    }
    H5Tclose(type);
    H5Aclose(a);
    return rc;
}

int sm_h5_read_attr_double(hid_t file, const char *fname, const char *obj, const char *name, double *out) {
    if (!sm_h5_exists(file, obj) || H5Aexists_by_name(file, obj, name, H5P_DEFAULT) <= 0)
        return sm_error("%s: missing attribute '%s' on %s", fname, name, obj);
    hid_t a = H5Aopen_by_name(file, obj, name, H5P_DEFAULT, H5P_DEFAULT);
    hid_t type = H5Aget_type(a), space = H5Aget_space(a);
    H5T_class_t cls = H5Tget_class(type);
    int scalar = H5Sget_simple_extent_npoints(space) == 1;
    H5Tclose(type);
    H5Sclose(space);
    herr_t st = scalar && (cls == H5T_FLOAT || cls == H5T_INTEGER) ? H5Aread(a, H5T_NATIVE_DOUBLE, out) : -1;
    H5Aclose(a);
    return st < 0 ? sm_error("%s: attribute '%s' on %s: expected a number", fname, name, obj) : SM_OK;
}

int sm_h5_read_attr_int64(hid_t file, const char *fname, const char *obj, const char *name, int64_t *out) {
    if (!sm_h5_exists(file, obj) || H5Aexists_by_name(file, obj, name, H5P_DEFAULT) <= 0)
        return sm_error("%s: missing attribute '%s' on %s", fname, name, obj);
    hid_t a = H5Aopen_by_name(file, obj, name, H5P_DEFAULT, H5P_DEFAULT);
    hid_t type = H5Aget_type(a);
    int numeric = H5Tget_class(type) == H5T_INTEGER;
    H5Tclose(type);
    herr_t st = numeric ? H5Aread(a, H5T_NATIVE_INT64, out) : -1;
    H5Aclose(a);
    return st < 0 ? sm_error("%s: attribute '%s' on %s: expected an integer", fname, name, obj) : SM_OK;
}
