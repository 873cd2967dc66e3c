/* test_reference.c — the engine against the independent PyTorch reference.
 *
 * For every case under tests/data/ref/<case>/ (written by tests/ref/make_ref.py
 * in float64 autograd): load config.yaml, checkpoint.h5 and batch.h5, run the
 * `grad` code path (sm_model_grad_batch), and require the loss, the forward
 * spikes of every layer, and every weight and bias gradient to match
 * grads.h5: each element within 1e-5 relative or 1e-6 absolute.
 * Then run the `spikemesh grad` command on the same files and require its
 * GRADS.h5 to match the reference the same way. */
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "h5util.h"
#include "sm_common.h"
#include "sm_io.h"
#include "sm_model.h"

static char ref_dir[4096];

static int within(double got, double want) {
    double err = fabs(got - want);
    return err <= 1e-6 || err <= 1e-5 * fabs(want);
}

/* Compare float array got[n] with dataset `name` of file; returns mismatches. */
static int compare_dataset(hid_t file, const char *fname, const char *name, const float *got,
                           size_t n, double *worst_rel) {
    int rank;
    hsize_t dims[8];
    if (sm_h5_shape(file, fname, name, &rank, dims)) fail_msg("%s", sm_errmsg());
    size_t count = 1;
    for (int i = 0; i < rank; i++) count *= dims[i];
    assert_int_equal(count, n);
    float *want = sm_falloc(n);
    if (sm_h5_read_floats(file, fname, name, want, rank, dims)) fail_msg("%s", sm_errmsg());
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        double rel = fabs(got[i] - want[i]) / fmax(fabs(want[i]), 1e-30);
        if (!within(got[i], want[i])) {
            if (bad < 3) print_error("  %s [%zu]: engine %.9g reference %.9g\n", name, i, got[i], want[i]);
            bad++;
        } else if (fabs(got[i] - want[i]) > 1e-6 && rel > *worst_rel) {
            *worst_rel = rel;
        }
    }
    free(want);
    return bad;
}

/* Check the gradients stored in `grads_path` (or in the model) against the case. */
static int compare_case(const char *dir, const sm_model *m, double loss, const char *grads_from) {
    char path[4300];
    snprintf(path, sizeof path, "%s/grads.h5", dir);
    hid_t file, other = -1;
    if (sm_h5_open_read(&file, path)) fail_msg("%s", sm_errmsg());
    if (grads_from && sm_h5_open_read(&other, grads_from)) fail_msg("%s", sm_errmsg());
    double want_loss, got_loss = loss;
    if (sm_h5_read_scalar_double(file, path, "/loss", &want_loss)) fail_msg("%s", sm_errmsg());
    if (other >= 0 && sm_h5_read_scalar_double(other, grads_from, "/loss", &got_loss))
        fail_msg("%s", sm_errmsg());
    int bad = 0;
    double worst = 0;
    if (!within(got_loss, want_loss)) {
        print_error("  loss: engine %.12g reference %.12g\n", got_loss, want_loss);
        bad++;
    }
    long compared = 0;
    for (int l = 0; l < m->n_layers; l++) {
        const sm_layer *L = &m->layers[l];
        size_t nw = (size_t)L->out * L->fan_in;
        float *w = sm_falloc(nw), *b = sm_falloc((size_t)L->out);
        char name[128];
        if (other >= 0) {
            hsize_t dims[8];
            int rank;
            snprintf(name, sizeof name, "/layers/%s/weight_grad", L->name);
            sm_h5_shape(other, grads_from, name, &rank, dims);
            if (sm_h5_read_floats(other, grads_from, name, w, rank, dims)) fail_msg("%s", sm_errmsg());
            snprintf(name, sizeof name, "/layers/%s/bias_grad", L->name);
            sm_h5_shape(other, grads_from, name, &rank, dims);
            if (sm_h5_read_floats(other, grads_from, name, b, rank, dims)) fail_msg("%s", sm_errmsg());
        } else {
            sm_layer_gather(m, l, 1, w, b);
            /* the forward spikes of the layer, exactly */
            snprintf(name, sizeof name, "/forward/%s/spikes", L->name);
            if (sm_h5_exists(file, name))
                bad += compare_dataset(file, path, name, m->act[l], (size_t)m->T * m->B * L->n_out, &worst);
        }
        snprintf(name, sizeof name, "/layers/%s/weight_grad", L->name);
        bad += compare_dataset(file, path, name, w, nw, &worst);
        snprintf(name, sizeof name, "/layers/%s/bias_grad", L->name);
        bad += compare_dataset(file, path, name, b, (size_t)L->out, &worst);
        for (size_t i = 0; i < nw; i++) compared += w[i] != 0.0f;
        free(w);
        free(b);
    }
    H5Fclose(file);
    if (other >= 0) H5Fclose(other);
    print_message("  %-34s loss %.9f  %ld non-zero weight gradients  worst relative error %.2g%s\n",
                  strrchr(dir, '/') + 1, want_loss, compared, worst, grads_from ? " (spikemesh grad)" : "");
    assert_true(compared > 0);
    return bad;
}

static int load_case(const char *dir, sm_model *m, float **x, int32_t **y, int *B, int *spikes) {
    char path[4300];
    snprintf(path, sizeof path, "%s/config.yaml", dir);
    sm_cfg *cfg;
    int rc = sm_cfg_load(&cfg, path);
    if (!rc) rc = sm_model_from_config(m, cfg);
    if (!rc) rc = sm_cfg_check_unused(cfg);
    sm_cfg_free(cfg);
    snprintf(path, sizeof path, "%s/checkpoint.h5", dir);
    if (!rc) rc = sm_checkpoint_load(m, path, 0, NULL);
    snprintf(path, sizeof path, "%s/batch.h5", dir);
    if (!rc) rc = sm_batch_load(m, path, x, y, B, spikes);
    return rc;
}

static int list_cases(char names[][256], int max) {
    DIR *d = opendir(ref_dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max)
        if (e->d_name[0] != '.') snprintf(names[n++], 256, "%s", e->d_name);
    closedir(d);
    qsort(names, (size_t)n, 256, (int (*)(const void *, const void *))strcmp);
    return n;
}

static void test_engine_matches_reference(void **state) {
    (void)state;
    char names[64][256];
    int n = list_cases(names, 64), failures = 0;
    assert_true(n >= 7); /* MLP and conv, both surrogates, both resets, every loss, events */
    for (int i = 0; i < n; i++) {
        char dir[4400];
        snprintf(dir, sizeof dir, "%s/%s", ref_dir, names[i]);
        sm_model m;
        float *x = NULL;
        int32_t *y = NULL;
        int B, spikes;
        if (load_case(dir, &m, &x, &y, &B, &spikes)) fail_msg("%s: %s", dir, sm_errmsg());
        double loss = sm_model_grad_batch(&m, x, y, B, spikes);
        int bad = compare_case(dir, &m, loss, NULL);
        if (bad) print_error("%s: %d mismatches\n", names[i], bad);
        failures += bad;
        free(x);
        free(y);
        sm_model_free(&m);
    }
    assert_int_equal(failures, 0);
}

static void test_grad_command_matches_reference(void **state) {
    (void)state;
    const char *build = getenv("SPIKEMESH_BUILD_DIR");
    if (!build) skip();
    char names[64][256];
    int n = list_cases(names, 64), failures = 0;
    char out[] = "/tmp/sm_gradXXXXXX";
    assert_non_null(mkdtemp(out));
    for (int i = 0; i < n; i++) {
        char dir[4400], cmd[20000], grads[4600];
        snprintf(dir, sizeof dir, "%s/%s", ref_dir, names[i]);
        snprintf(grads, sizeof grads, "%s/%s.h5", out, names[i]);
        snprintf(cmd, sizeof cmd,
                 "'%s/spikemesh' grad -c '%s/config.yaml' --checkpoint '%s/checkpoint.h5' "
                 "--batch '%s/batch.h5' --out '%s' > '%s.log' 2>&1",
                 build, dir, dir, dir, grads, grads);
        int status = system(cmd);
        if (status != 0) fail_msg("%s failed (status %d), see %s.log", cmd, status, grads);
        sm_model m;
        float *x = NULL;
        int32_t *y = NULL;
        int B, spikes;
        if (load_case(dir, &m, &x, &y, &B, &spikes)) fail_msg("%s", sm_errmsg());
        failures += compare_case(dir, &m, 0.0, grads);
        free(x);
        free(y);
        sm_model_free(&m);
        unlink(grads);
        snprintf(cmd, sizeof cmd, "%s.log", grads);
        unlink(cmd);
    }
    rmdir(out);
    assert_int_equal(failures, 0);
}

int main(void) {
    const char *src = getenv("SPIKEMESH_SOURCE_DIR");
    snprintf(ref_dir, sizeof ref_dir, "%s/tests/data/ref", src ? src : ".");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_engine_matches_reference),
        cmocka_unit_test(test_grad_command_matches_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
