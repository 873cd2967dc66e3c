/* cli_util.c — running the `spikemesh` command as a child process and reading
 * what it wrote, for the tests of the command line (test_cli.c, test_place_cli.c). */
#define _GNU_SOURCE
#include "cli_util.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- running the command -------------------------------------------------- */

struct cli_run R;
char tmpdir[64];
char binary[4096];



void slurp(const char *path, char *buf, size_t n) {
    FILE *f = fopen(path, "rb");
    size_t len = 0;
    if (f) { len = fread(buf, 1, n - 1, f); fclose(f); }
    buf[len] = 0;
}

/* Run argv (argv[0] the program, NULL-terminated) in tmpdir, stdout and
 * stderr captured into R. Returns the exit status; exit by a signal fails. */
int run_argv(const char **argv) {
    R.cmdline[0] = 0;
    for (int i = 1; argv[i]; i++) {
        strncat(R.cmdline, argv[i], sizeof R.cmdline - strlen(R.cmdline) - 2);
        strncat(R.cmdline, " ", sizeof R.cmdline - strlen(R.cmdline) - 1);
    }
    char out_path[128], err_path[128];
    snprintf(out_path, sizeof out_path, "%s/.stdout", tmpdir);
    snprintf(err_path, sizeof err_path, "%s/.stderr", tmpdir);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0 || chdir(tmpdir) != 0) _exit(127);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    slurp(out_path, R.out, sizeof R.out);
    slurp(err_path, R.err, sizeof R.err);
    if (WIFSIGNALED(st))
        fail_msg("%s %s: killed by signal %d\nstderr:\n%s", argv[0], R.cmdline, WTERMSIG(st), R.err);
    assert_true(WIFEXITED(st));
    R.status = WEXITSTATUS(st);
    if (R.status == 127) fail_msg("cannot run %s", argv[0]);
    return R.status;
}

int run(const char *arg, ...) {
    const char *argv[64];
    int argc = 0;
    argv[argc++] = binary;
    va_list ap;
    va_start(ap, arg);
    for (const char *a = arg; a && argc < 63; a = va_arg(ap, const char *)) argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    return run_argv(argv);
}

int run_mpi(int np, const char *arg, ...) {
    const char *argv[72];
    char n[16];
    snprintf(n, sizeof n, "%d", np);
    const char *mpiexec = getenv("SPIKEMESH_MPIEXEC");
    int argc = 0;
    argv[argc++] = mpiexec && *mpiexec ? mpiexec : "mpirun";
    argv[argc++] = "-n";
    argv[argc++] = n;
    argv[argc++] = binary;
    va_list ap;
    va_start(ap, arg);
    for (const char *a = arg; a && argc < 71; a = va_arg(ap, const char *)) argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    return run_argv(argv);
}

/* The last run exited with `status` and `where` (stdout or stderr) holds every
 * NULL-terminated needle. */
void expect_in(int status, const char *where, const char *text, ...) {
    if (R.status != status)
        fail_msg("spikemesh %s: exit %d, expected %d\nstdout:\n%s\nstderr:\n%s", R.cmdline, R.status,
                 status, R.out, R.err);
    va_list ap;
    va_start(ap, text);
    for (const char *s = va_arg(ap, const char *); s; s = va_arg(ap, const char *))
        if (!strstr(text, s))
            fail_msg("spikemesh %s: %s lacks '%s':\n%s", R.cmdline, where, s, text);
    va_end(ap);
}

/* ---- files ----------------------------------------------------------------- */

const char *tpath(char *buf, const char *rel) {
    snprintf(buf, 4200, "%s/%s", tmpdir, rel);
    return buf;
}

void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) fail_msg("cannot write %s", path);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

void write_text(const char *path, const char *fmt, ...) {
    char buf[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    write_file(path, buf, (size_t)n);
}

/* The whole file (malloc'd, *n bytes); NULL when absent. */
char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    assert_int_equal(fread(buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    buf[len] = 0;
    *n = (size_t)len;
    return buf;
}

void mkdir_p(const char *path) {
    char buf[4200];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') { *p = 0; mkdir(buf, 0777); *p = '/'; }
    mkdir(buf, 0777);
}

int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    return remove(path);
}

/* ---- reading HDF5 results ------------------------------------------------ */

/* Dataset `name` of an open file: its shape (returns rank) and, if out is not
 * NULL, its values converted to `memtype` (out must be large enough). */
int h5_read(hid_t f, const char *name, hid_t memtype, void *out, hsize_t *dims) {
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) fail_msg("missing dataset %s", name);
    hid_t s = H5Dget_space(d);
    int rank = H5Sget_simple_extent_ndims(s);
    assert_true(rank >= 0 && rank <= 8);
    H5Sget_simple_extent_dims(s, dims, NULL);
    if (out) assert_true(H5Dread(d, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) >= 0);
    H5Sclose(s);
    H5Dclose(d);
    return rank;
}

int64_t h5_attr_int(hid_t f, const char *obj, const char *name) {
    int64_t v = -1;
    hid_t a = H5Aopen_by_name(f, obj, name, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) fail_msg("missing attribute %s on %s", name, obj);
    assert_true(H5Aread(a, H5T_NATIVE_INT64, &v) >= 0);
    H5Aclose(a);
    return v;
}

/* A string attribute (variable or fixed length), malloc'd. */
char *h5_attr_string(hid_t f, const char *obj, const char *name) {
    hid_t a = H5Aopen_by_name(f, obj, name, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) fail_msg("missing attribute %s on %s", name, obj);
    hid_t t = H5Aget_type(a);
    assert_int_equal(H5Tget_class(t), H5T_STRING);
    char *s;
    if (H5Tis_variable_str(t) > 0) {
        char *v = NULL;
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(t));
        assert_true(H5Aread(a, mt, &v) >= 0);
        s = strdup(v);
        H5free_memory(v);
        H5Tclose(mt);
    } else {
        size_t n = H5Tget_size(t);
        s = calloc(n + 1, 1);
        assert_true(H5Aread(a, t, s) >= 0);
    }
    H5Tclose(t);
    H5Aclose(a);
    return s;
}

hid_t h5_open(const char *path) {
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) fail_msg("cannot open %s as HDF5", path);
    return f;
}


static herr_t collect_dataset(hid_t g, const char *name, const H5L_info_t *info, void *vlist) {
    name_list *l = vlist;
    H5O_info_t oi;
    if (H5Oget_info_by_name(g, name, &oi, H5P_DEFAULT) < 0) return -1;
    if (oi.type == H5O_TYPE_DATASET && l->n < 128) snprintf(l->names[l->n++], 256, "/%s", name);
    return 0;
}

void list_datasets(hid_t f, name_list *l) {
    l->n = 0;
    assert_true(H5Lvisit(f, H5_INDEX_NAME, H5_ITER_INC, collect_dataset, l) >= 0);
}

/* The stored bytes of a dataset, in its own file type. */
void *h5_raw(hid_t f, const char *name, size_t *n) {
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) fail_msg("missing dataset %s", name);
    hid_t t = H5Dget_type(d), s = H5Dget_space(d);
    *n = H5Tget_size(t) * (size_t)H5Sget_simple_extent_npoints(s);
    void *buf = malloc(*n ? *n : 1);
    assert_true(H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
    H5Tclose(t);
    H5Sclose(s);
    H5Dclose(d);
    return buf;
}

/* Every dataset of two checkpoints — weights, biases, optimizer moments,
 * placement — has the same name, shape and bits; so have /meta epoch and step. */
void assert_checkpoints_same_math(const char *a_path, const char *b_path, const char *skip) {
    hid_t a = h5_open(a_path), b = h5_open(b_path);
    name_list *la = malloc(sizeof *la), *lb = malloc(sizeof *lb);
    list_datasets(a, la);
    list_datasets(b, lb);
    assert_int_equal(la->n, lb->n);
    assert_true(la->n >= 6 * 3 + 1); /* 3 layers x (weight, bias, m, v pairs) + lc_core */
    for (int i = 0; i < la->n; i++) {
        assert_string_equal(la->names[i], lb->names[i]);
        if (skip && !strcmp(la->names[i], skip)) continue;
        size_t na, nb;
        void *da = h5_raw(a, la->names[i], &na), *db = h5_raw(b, lb->names[i], &nb);
        assert_int_equal(na, nb);
        if (memcmp(da, db, na) != 0)
            fail_msg("%s differs between %s and %s", la->names[i], a_path, b_path);
        free(da);
        free(db);
    }
    assert_int_equal(h5_attr_int(a, "/meta", "epoch"), h5_attr_int(b, "/meta", "epoch"));
    assert_int_equal(h5_attr_int(a, "/meta", "step"), h5_attr_int(b, "/meta", "step"));
    assert_int_equal(h5_attr_int(a, "/optim", "step"), h5_attr_int(b, "/optim", "step"));
    free(la);
    free(lb);
    H5Fclose(a);
    H5Fclose(b);
}

void assert_checkpoints_identical(const char *a_path, const char *b_path) {
    assert_checkpoints_same_math(a_path, b_path, NULL);
}

int cli_setup(const char *name, char *tiny) {
    const char *build = getenv("SPIKEMESH_BUILD_DIR"), *source = getenv("SPIKEMESH_SOURCE_DIR");
    if (!build || !source) {
        fprintf(stderr, "SPIKEMESH_BUILD_DIR and SPIKEMESH_SOURCE_DIR must be set (ctest sets them)\n");
        return -1;
    }
    snprintf(binary, sizeof binary, "%s/spikemesh", build);
    snprintf(tiny, 4096, "%s/configs/tiny.yaml", source);
    if (access(binary, X_OK) != 0) {
        fprintf(stderr, "%s is not built\n", binary);
        return -1;
    }
    snprintf(tmpdir, sizeof tmpdir, "/tmp/%s_XXXXXX", name);
    if (!mkdtemp(tmpdir)) return -1;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* the tests read files that may be missing on purpose */
    return 0;
}

void cli_teardown(void) {
    if (tmpdir[0] && !getenv("SPIKEMESH_KEEP_TMP")) nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}
