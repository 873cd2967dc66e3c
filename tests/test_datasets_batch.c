/* test_datasets_batch.c — synthetic data (determinism, learnability), and
 * the visiting order: shuffle, split and gather. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sm_common.h"
#include "sm_data.h"

static int same_data(const sm_dataset *a, const sm_dataset *b) {
    if (a->n != b->n || a->T != b->T || sm_dataset_dim(a) != sm_dataset_dim(b)) return 0;
    if (memcmp(a->y, b->y, (size_t)a->n * sizeof(int32_t))) return 0;
    if (a->T) return memcmp(a->events, b->events, (size_t)a->n * sm_dataset_event_bytes(a)) == 0;
    return memcmp(a->x, b->x, (size_t)a->n * sm_dataset_dim(a) * sizeof(float)) == 0;
}

static void test_synthetic_deterministic(void **state) {
    for (int T = 0; T <= 6; T += 6) {
        sm_dataset a, b, c;
        sm_synthetic(&a, 50, 1, 4, 5, T, 3, 42);
        sm_synthetic(&b, 50, 1, 4, 5, T, 3, 42);
        sm_synthetic(&c, 50, 1, 4, 5, T, 3, 43);
        assert_true(same_data(&a, &b));
        assert_false(same_data(&a, &c));
        assert_int_equal(a.n_classes, 3);
        if (T) {
            assert_int_equal(a.c * a.h, 1);
            assert_int_equal(a.w, 20);
            assert_null(a.x);
            assert_non_null(a.events);
        } else {
            assert_int_equal(a.c, 1);
            assert_int_equal(a.h, 4);
            assert_int_equal(a.w, 5);
            assert_null(a.events);
            for (int i = 0; i < 50 * 20; i++) assert_true(a.x[i] >= 0.0f && a.x[i] <= 1.0f);
        }
        int count[3] = {0};
        for (int i = 0; i < 50; i++) {
            assert_in_range(a.y[i], 0, 2);
            count[a.y[i]]++;
        }
        for (int k = 0; k < 3; k++) assert_in_range(count[k], 16, 17); /* balanced */
        sm_dataset_free(&a), sm_dataset_free(&b), sm_dataset_free(&c);
    }
}

/* Nearest class mean, fitted on the first half, scores the second half. A
 * set a classifier this simple cannot learn would not test a training loop.
 * For events the per-sample feature is the spike count of each unit. */
static double nearest_mean_accuracy(const sm_dataset *d) {
    int dim = sm_dataset_dim(d), K = d->n_classes, half = d->n / 2;
    double *feat = calloc((size_t)d->n * dim, sizeof(double));
    for (int i = 0; i < d->n; i++)
        for (int j = 0; j < dim; j++) {
            if (d->T == 0) {
                feat[(size_t)i * dim + j] = d->x[(size_t)i * dim + j];
            } else {
                for (int t = 0; t < d->T; t++) feat[(size_t)i * dim + j] += sm_dataset_event(d, i, t, j);
            }
        }
    double *mean = calloc((size_t)K * dim, sizeof(double));
    int *count = calloc((size_t)K, sizeof(int));
    for (int i = 0; i < half; i++) {
        count[d->y[i]]++;
        for (int j = 0; j < dim; j++) mean[(size_t)d->y[i] * dim + j] += feat[(size_t)i * dim + j];
    }
    for (int k = 0; k < K; k++)
        for (int j = 0; j < dim; j++) mean[(size_t)k * dim + j] /= count[k] ? count[k] : 1;
    int right = 0;
    for (int i = half; i < d->n; i++) {
        int best = 0;
        double best_dist = INFINITY;
        for (int k = 0; k < K; k++) {
            double dist = 0;
            for (int j = 0; j < dim; j++) {
                double diff = feat[(size_t)i * dim + j] - mean[(size_t)k * dim + j];
                dist += diff * diff;
            }
            if (dist < best_dist) best_dist = dist, best = k;
        }
        right += best == d->y[i];
    }
    free(feat), free(mean), free(count);
    return (double)right / (d->n - half);
}

static void test_synthetic_learnable(void **state) {
    sm_dataset d;
    sm_synthetic(&d, 400, 1, 8, 8, 0, 10, 7);
    double acc = nearest_mean_accuracy(&d);
    print_message("static accuracy %.3f\n", acc);
    assert_true(acc > 0.95);
    sm_dataset_free(&d);
    sm_synthetic(&d, 400, 1, 8, 8, 10, 10, 7);
    acc = nearest_mean_accuracy(&d);
    print_message("events accuracy %.3f\n", acc);
    assert_true(acc > 0.9);
    /* spikes are neither absent nor saturated */
    long spikes = 0;
    for (int i = 0; i < d.n; i++)
        for (int t = 0; t < d.T; t++)
            for (int u = 0; u < d.w; u++) spikes += sm_dataset_event(&d, i, t, u);
    double rate = (double)spikes / ((double)d.n * d.T * d.w);
    print_message("spike rate %.3f\n", rate);
    assert_true(rate > 0.2 && rate < 0.8);
    sm_dataset_free(&d);
}

static void test_synthetic_invalid_sizes_empty(void **state) {
    sm_dataset d;
    sm_synthetic(&d, 10, 0, 4, 4, 0, 2, 1);
    assert_int_equal(d.n, 0);
    assert_null(d.x);
    sm_dataset_free(&d);
}

static int is_permutation(const int32_t *order, int n) {
    char *seen = calloc((size_t)n + 1, 1);
    int ok = 1;
    for (int i = 0; i < n && ok; i++) {
        if (order[i] < 0 || order[i] >= n || seen[order[i]]) ok = 0;
        else seen[order[i]] = 1;
    }
    free(seen);
    return ok;
}

static void test_shuffle(void **state) {
    enum { N = 1000 };
    int32_t a[N], b[N], c[N], d[N];
    sm_shuffle(a, N, 5, 0);
    sm_shuffle(b, N, 5, 0);
    sm_shuffle(c, N, 5, 1);
    sm_shuffle(d, N, 6, 0);
    assert_true(is_permutation(a, N));
    assert_true(is_permutation(c, N));
    assert_memory_equal(a, b, sizeof a);
    assert_memory_not_equal(a, c, sizeof a);
    assert_memory_not_equal(a, d, sizeof a);
    int moved = 0;
    for (int i = 0; i < N; i++) moved += a[i] != i;
    assert_true(moved > N / 2);

    /* uniform: over many epochs, every element lands in every slot about equally
     * (a biased variant, e.g. j drawn from [0, i) instead of [0, i], fails this) */
    enum { M = 4, EPOCHS = 8000 };
    int hits[M][M] = {{0}};
    int32_t small[M];
    for (int e = 0; e < EPOCHS; e++) {
        sm_shuffle(small, M, 99, (uint64_t)e);
        for (int slot = 0; slot < M; slot++) hits[slot][small[slot]]++;
    }
    for (int slot = 0; slot < M; slot++)
        for (int v = 0; v < M; v++) assert_in_range(hits[slot][v], EPOCHS / M - 200, EPOCHS / M + 200);

    sm_shuffle(small, 1, 1, 1);
    assert_int_equal(small[0], 0);
    sm_shuffle(small, 0, 1, 1); /* must not touch anything */
}

/* n samples of dim 2 whose values are (i, -i): identity is visible in the data */
static void numbered(sm_dataset *d, int n) {
    memset(d, 0, sizeof *d);
    d->n = n, d->c = 1, d->h = 1, d->w = 2, d->n_classes = 3;
    d->x = sm_falloc((size_t)n * 2);
    d->y = sm_xmalloc((size_t)n * sizeof(int32_t));
    for (int i = 0; i < n; i++) d->x[2 * i] = (float)i, d->x[2 * i + 1] = (float)-i, d->y[i] = i % 3;
}

static void test_split(void **state) {
    enum { N = 101 };
    sm_dataset all, first, second, first2, second2, first3, second3;
    numbered(&all, N);
    sm_dataset_split(&all, 0.2, 11, &first, &second);
    assert_int_equal(second.n, 20); /* round(0.2 * 101) */
    assert_int_equal(first.n, 81);
    assert_int_equal(first.n_classes, 3);
    assert_int_equal(second.w, 2);
    char seen[N] = {0};
    const sm_dataset *parts[2] = {&first, &second};
    for (int p = 0; p < 2; p++) {
        int last = -1;
        for (int i = 0; i < parts[p]->n; i++) {
            int id = (int)parts[p]->x[2 * i];
            assert_true(parts[p]->x[2 * i + 1] == (float)-id);
            assert_int_equal(parts[p]->y[i], id % 3);
            assert_int_equal(seen[id], 0); /* disjoint */
            seen[id] = 1;
            assert_true(id > last); /* original order kept */
            last = id;
        }
    }
    for (int i = 0; i < N; i++) assert_int_equal(seen[i], 1); /* together: everything */
    /* the second part is not just the tail */
    assert_true((int)second.x[0] < N - 20);

    sm_dataset_split(&all, 0.2, 11, &first2, &second2);
    assert_true(same_data(&second, &second2));
    assert_true(same_data(&first, &first2));
    sm_dataset_split(&all, 0.2, 12, &first3, &second3);
    assert_false(same_data(&second, &second3));
    sm_dataset_free(&first), sm_dataset_free(&second);
    sm_dataset_free(&first2), sm_dataset_free(&second2);
    sm_dataset_free(&first3), sm_dataset_free(&second3);

    sm_dataset_split(&all, 0.0, 1, &first, &second);
    assert_int_equal(first.n, N);
    assert_int_equal(second.n, 0);
    assert_true(same_data(&first, &all));
    sm_dataset_free(&first), sm_dataset_free(&second);
    sm_dataset_free(&all);

    /* events are split too */
    sm_synthetic(&all, 30, 1, 1, 9, 3, 2, 4);
    sm_dataset_split(&all, 0.5, 2, &first, &second);
    assert_int_equal(first.n + second.n, 30);
    assert_int_equal(second.T, 3);
    long bits_all = 0, bits_parts = 0;
    for (int i = 0; i < 30; i++)
        for (int t = 0; t < 3; t++)
            for (int u = 0; u < 9; u++) bits_all += sm_dataset_event(&all, i, t, u);
    for (int p = 0; p < 2; p++) {
        const sm_dataset *q = p ? &second : &first;
        for (int i = 0; i < q->n; i++)
            for (int t = 0; t < 3; t++)
                for (int u = 0; u < 9; u++) bits_parts += sm_dataset_event(q, i, t, u);
    }
    assert_int_equal(bits_all, bits_parts);
    sm_dataset_free(&first), sm_dataset_free(&second), sm_dataset_free(&all);
}

static void test_gather_static(void **state) {
    sm_dataset d;
    numbered(&d, 10);
    const int32_t order[10] = {9, 3, 0, 7, 1, 2, 8, 4, 6, 5};
    float x[4 * 2];
    int32_t y[4];
    assert_int_equal(sm_gather_batch(&d, order, 4, 4, x, y), 4);
    for (int b = 0; b < 4; b++) {
        assert_true(x[2 * b] == (float)order[4 + b]);
        assert_true(x[2 * b + 1] == (float)-order[4 + b]);
        assert_int_equal(y[b], order[4 + b] % 3);
    }
    /* last, short batch: 2 samples, the rest of x zeroed */
    for (int i = 0; i < 8; i++) x[i] = 77.0f;
    assert_int_equal(sm_gather_batch(&d, order, 8, 4, x, y), 2);
    assert_true(x[0] == 6.0f && x[2] == 5.0f);
    for (int i = 4; i < 8; i++) assert_true(x[i] == 0.0f);
    /* identity order */
    assert_int_equal(sm_gather_batch(&d, NULL, 1, 3, x, y), 3);
    assert_true(x[0] == 1.0f && x[2] == 2.0f && x[4] == 3.0f);
    assert_int_equal(sm_gather_batch(&d, NULL, 10, 3, x, y), 0);
    sm_dataset_free(&d);
}

static void test_gather_events(void **state) {
    /* 3 samples, T = 2, 3 units; sample i spikes at (t, u) when (i + t + u) % 2 == 0 */
    enum { NS = 3, T = 2, U = 3 };
    sm_dataset d;
    memset(&d, 0, sizeof d);
    d.n = NS, d.c = 1, d.h = 1, d.w = U, d.T = T, d.n_classes = 2;
    size_t stride = (T * U + 7) / 8;
    d.events = sm_xcalloc(NS, stride);
    d.y = sm_xmalloc(NS * sizeof(int32_t));
    for (int i = 0; i < NS; i++) {
        d.y[i] = i % 2;
        for (int t = 0; t < T; t++)
            for (int u = 0; u < U; u++)
                if ((i + t + u) % 2 == 0) {
                    int k = t * U + u;
                    d.events[i * stride + k / 8] |= (uint8_t)(1 << (k % 8));
                }
    }
    const int32_t order[NS] = {2, 0, 1};
    float x[T * 4 * U];
    int32_t y[4];
    for (int i = 0; i < T * 4 * U; i++) x[i] = 5.0f;
    assert_int_equal(sm_gather_batch(&d, order, 0, 4, x, y), 3); /* B = 4, n = 3 */
    for (int t = 0; t < T; t++)
        for (int b = 0; b < 4; b++)
            for (int u = 0; u < U; u++) {
                float want = b < 3 && (order[b] + t + u) % 2 == 0 ? 1.0f : 0.0f;
                assert_true(x[(t * 4 + b) * U + u] == want);
            }
    for (int b = 0; b < 3; b++) assert_int_equal(y[b], order[b] % 2);
    sm_dataset_free(&d);
    assert_null(d.events);
    sm_dataset_free(&d); /* freeing twice is harmless */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_synthetic_deterministic),
        cmocka_unit_test(test_synthetic_learnable),
        cmocka_unit_test(test_synthetic_invalid_sizes_empty),
        cmocka_unit_test(test_shuffle),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_gather_static),
        cmocka_unit_test(test_gather_events),
    };
    return cmocka_run_group_tests_name("datasets_batch", tests, NULL, NULL);
}
