/* cli_util.h — running the `spikemesh` command as a child process and reading
 * what it wrote (cli_util.c), shared by the command-line tests. cmocka asserts:
 * call from inside a test. */
#ifndef SM_TEST_CLI_UTIL_H
#define SM_TEST_CLI_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <hdf5.h>
#include <sys/stat.h>

extern char tmpdir[64];     /* the test's mkdtemp directory, where commands run */
extern char binary[4096];   /* $SPIKEMESH_BUILD_DIR/spikemesh */

/* What the last run() saw. */
struct cli_run {
    int status;             /* exit status (a signal fails the test inside run()) */
    char out[1 << 16], err[1 << 16];
    char cmdline[2048];
};
extern struct cli_run R;

/* Group fixtures: find the binary ($SPIKEMESH_BUILD_DIR) and tiny.yaml
 * ($SPIKEMESH_SOURCE_DIR/configs, into tiny [4096]), make tmpdir
 * (/tmp/<name>_XXXXXX), silence HDF5's error stack. -1 with a message on failure.
 * cli_teardown removes tmpdir unless SPIKEMESH_KEEP_TMP is set. */
int cli_setup(const char *name, char *tiny);
void cli_teardown(void);

/* Run spikemesh with the NULL-terminated arguments, in tmpdir, stdout and
 * stderr captured into R. Returns the exit status; exit by a signal fails. */
int run(const char *arg, ...);
/* Any command: argv[0] (found in PATH) with arguments argv[1..], NULL-terminated. */
int run_argv(const char **argv);
/* The same under `$SPIKEMESH_MPIEXEC -n np` (default mpirun). */
int run_mpi(int np, const char *arg, ...);
/* The last run exited with `status` and `where` (stdout or stderr) holds every
 * NULL-terminated needle. */
void expect_in(int status, const char *where, const char *text, ...);
#define EXPECT_ERR(status, ...) expect_in(status, "stderr", R.err, __VA_ARGS__, NULL)
#define EXPECT_OUT(status, ...) expect_in(status, "stdout", R.out, __VA_ARGS__, NULL)
/* Bad input: exit 2, a message, and nothing on stdout that looks like training. */
#define EXPECT_BAD(...) do { EXPECT_ERR(2, __VA_ARGS__); assert_null(strstr(R.out, "epoch 1/")); } while (0)

void slurp(const char *path, char *buf, size_t n);
const char *tpath(char *buf, const char *rel);   /* tmpdir/rel into buf [4200] */
void write_file(const char *path, const void *data, size_t n);
void write_text(const char *path, const char *fmt, ...);
char *read_all(const char *path, size_t *n);      /* malloc'd, NULL if unreadable */
void mkdir_p(const char *path);
int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw); /* for nftw */

/* Dataset `name` of an open file: its shape (returns rank) and, if out is not
 * NULL, its values converted to `memtype` (out must be large enough). */
int h5_read(hid_t f, const char *name, hid_t memtype, void *out, hsize_t *dims);
int64_t h5_attr_int(hid_t f, const char *obj, const char *name);
char *h5_attr_string(hid_t f, const char *obj, const char *name);  /* malloc'd */
hid_t h5_open(const char *path);
/* Every dataset path in a file (sorted by name), collected by H5Lvisit. */
typedef struct { char names[128][256]; int n; } name_list;
void list_datasets(hid_t f, name_list *l);
void *h5_raw(hid_t f, const char *name, size_t *n);  /* stored bytes, malloc'd */
/* Every dataset of two checkpoints has the same name, shape and bits; so have
 * /meta epoch and step. */
void assert_checkpoints_identical(const char *a_path, const char *b_path);
/* The same, except for the dataset `skip` (e.g. "/placement/lc_core": runs on
 * different placements hold the same math). */
void assert_checkpoints_same_math(const char *a_path, const char *b_path, const char *skip);

#endif
