/* test_config.c — sm_config.h: parsing, typed getters and their messages,
 * --set overrides, unknown keys, re-emitted text. Every error test checks the
 * return code AND the parts of the message a user needs (origin, key, what
 * was expected). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sm_common.h"
#include "sm_config.h"

static sm_cfg *load(const char *text) {
    sm_cfg *c = NULL;
    int rc = sm_cfg_load_string(&c, text, "t.yaml");
    if (rc) fail_msg("load failed: %s", sm_errmsg());
    assert_non_null(c);
    return c;
}

/* The last message contains every one of the given fragments (NULL-terminated). */
static void assert_msg(const char *first, ...) {
    va_list ap;
    va_start(ap, first);
    for (const char *s = first; s; s = va_arg(ap, const char *))
        if (!strstr(sm_errmsg(), s)) fail_msg("message '%s' lacks '%s'", sm_errmsg(), s);
    va_end(ap);
}

static const char *const kinds[] = {"dense", "conv", "pool", NULL};

static void test_read_all_kinds(void **state) {
    sm_cfg *c = load("train:\n"
                     "  lr: 5e-4\n"
                     "  epochs: 12\n"
                     "  beta: 0.5\n"
                     "  shuffle: Yes\n"
                     "  amp: off\n"
                     "  big: 1e3\n"
                     "  neg: -3\n"
                     "  quoted_num: \"12\"\n"
                     "model:\n"
                     "  name: 'fmnist mlp'\n"
                     "  shape: [1, 28, 28]\n"
                     "  layers:\n"
                     "    - {kind: dense, out: 100}\n"
                     "    - kind: conv\n"
                     "      out: 10\n");
    double d;
    long i;
    int b, n;
    const char *s;
    long list[4];
    assert_int_equal(sm_cfg_double(c, "train.lr", 1, 0, 10, &d), SM_OK);
    assert_true(d == 5e-4);
    assert_int_equal(sm_cfg_double(c, "train.epochs", 0, 0, 100, &d), SM_OK); /* integer is a double */
    assert_true(d == 12.0);
    assert_int_equal(sm_cfg_double(c, "train.beta", 0, 0, 1, &d), SM_OK);
    assert_true(d == 0.5);
    assert_int_equal(sm_cfg_int(c, "train.epochs", 0, 1, 100, &i), SM_OK);
    assert_int_equal(i, 12);
    assert_int_equal(sm_cfg_int(c, "train.big", 0, 0, 100000, &i), SM_OK);
    assert_int_equal(i, 1000);
    assert_int_equal(sm_cfg_int(c, "train.neg", 0, -10, 10, &i), SM_OK);
    assert_int_equal(i, -3);
    assert_int_equal(sm_cfg_int(c, "train.quoted_num", 0, 0, 100, &i), SM_OK);
    assert_int_equal(i, 12);
    assert_int_equal(sm_cfg_bool(c, "train.shuffle", 0, &b), SM_OK);
    assert_int_equal(b, 1);
    assert_int_equal(sm_cfg_bool(c, "train.amp", 1, &b), SM_OK);
    assert_int_equal(b, 0);
    assert_int_equal(sm_cfg_string(c, "model.name", "x", NULL, &s), SM_OK);
    assert_string_equal(s, "fmnist mlp");
    assert_int_equal(sm_cfg_int_list(c, "model.shape", 1, 4, 1, 1000, list, &n), SM_OK);
    assert_int_equal(n, 3);
    assert_int_equal(list[0], 1);
    assert_int_equal(list[2], 28);
    assert_int_equal(sm_cfg_seq_len(c, "model.layers", &n), SM_OK);
    assert_int_equal(n, 2);
    assert_int_equal(sm_cfg_string_required(c, "model.layers.0.kind", kinds, &s), SM_OK);
    assert_string_equal(s, "dense");
    assert_int_equal(sm_cfg_string_required(c, "model.layers.1.kind", kinds, &s), SM_OK);
    assert_string_equal(s, "conv");
    assert_int_equal(sm_cfg_int(c, "model.layers.0.out", 0, 1, 1000, &i), SM_OK);
    assert_int_equal(i, 100);
    assert_int_equal(sm_cfg_int(c, "model.layers.1.out", 0, 1, 1000, &i), SM_OK);
    assert_int_equal(i, 10);
    assert_true(sm_cfg_has(c, "model.layers.1.out"));
    assert_false(sm_cfg_has(c, "model.layers.2.out"));
    assert_int_equal(sm_cfg_check_unused(c), SM_OK); /* everything was read */
    sm_cfg_free(c);
}

static void test_defaults_when_absent(void **state) {
    sm_cfg *c = load("train:\n  lr: 0.1\n  opt:\nmodel: {layers: [{out: 3}]}\n");
    double d;
    long i, list[2];
    int b, n;
    const char *s;
    assert_int_equal(sm_cfg_double(c, "train.momentum", 0.9, 0, 1, &d), SM_OK);
    assert_true(d == 0.9);
    assert_int_equal(sm_cfg_int(c, "nothing.at.all", 7, 0, 10, &i), SM_OK);
    assert_int_equal(i, 7);
    assert_int_equal(sm_cfg_bool(c, "train.shuffle", 1, &b), SM_OK);
    assert_int_equal(b, 1);
    assert_int_equal(sm_cfg_string(c, "train.opt", "adam", kinds, &s), SM_OK); /* null → default */
    assert_string_equal(s, "adam");
    assert_int_equal(sm_cfg_string(c, "train.opt.kind", "sgd", NULL, &s), SM_OK); /* through a null */
    assert_string_equal(s, "sgd");
    assert_int_equal(sm_cfg_int_list(c, "model.shape", 1, 2, 0, 9, list, &n), SM_OK);
    assert_int_equal(n, 0);
    assert_int_equal(sm_cfg_seq_len(c, "model.other", &n), SM_OK);
    assert_int_equal(n, 0);
    assert_int_equal(sm_cfg_int(c, "model.layers.5.out", 4, 0, 10, &i), SM_OK); /* index past the end */
    assert_int_equal(i, 4);
    assert_int_equal(sm_cfg_mapping(c, "model.absent"), SM_OK);
    assert_false(sm_cfg_has(c, "train.opt"));
    assert_int_equal(sm_cfg_string_required(c, "model.name", NULL, &s), SM_EINPUT);
    assert_null(s);
    assert_msg("t.yaml", "'model.name'", "required", NULL);
    sm_cfg_free(c);
}

static void test_range_errors(void **state) {
    sm_cfg *c = load("a: 1\ntrain:\n  lr: 11\n  epochs: 0\n  n: -5\n");
    double d;
    long i;
    assert_int_equal(sm_cfg_double(c, "train.lr", 1, 0, 10, &d), SM_EINPUT);
    assert_string_equal(sm_errmsg(), "config t.yaml:3: key 'train.lr': expected a number in [0, 10], got '11'");
    assert_int_equal(sm_cfg_int(c, "train.epochs", 1, 1, 1000, &i), SM_EINPUT);
    assert_string_equal(sm_errmsg(),
                        "config t.yaml:4: key 'train.epochs': expected an integer in [1, 1000], got '0'");
    assert_int_equal(sm_cfg_int(c, "train.n", 1, 0, LONG_MAX, &i), SM_EINPUT);
    assert_msg("t.yaml:5", "'train.n'", "expected an integer >= 0", "'-5'", NULL);
    assert_int_equal(sm_cfg_double(c, "train.n", 1, 0, 1e308, &d), SM_EINPUT);
    assert_msg("t.yaml:5", "expected a number >= 0,", NULL);
    sm_cfg_free(c);
}

static void test_wrong_types(void **state) {
    sm_cfg *c = load("train:\n  lr: abc\n  epochs: 1.5\n  opt: {kind: adam}\n  flag: maybe\n  seq: [1, x]\n"
                     "  name: [a]\n");
    double d;
    long i, list[4];
    int b, n;
    const char *s;
    assert_int_equal(sm_cfg_double(c, "train.lr", 1, 0, 10, &d), SM_EINPUT);
    assert_string_equal(sm_errmsg(), "config t.yaml:2: key 'train.lr': expected a number in [0, 10], got 'abc'");
    assert_true(d == 1); /* out holds the default on error */
    assert_int_equal(sm_cfg_int(c, "train.epochs", 1, 0, 10, &i), SM_EINPUT);
    assert_msg("t.yaml:3", "'train.epochs'", "expected an integer", "'1.5'", NULL);
    assert_int_equal(sm_cfg_double(c, "train.opt", 1, 0, 10, &d), SM_EINPUT);
    assert_msg("t.yaml:4", "'train.opt'", "expected a number", "got a mapping", NULL);
    assert_int_equal(sm_cfg_bool(c, "train.flag", 0, &b), SM_EINPUT);
    assert_msg("t.yaml:5", "'train.flag'", "expected a boolean", "'maybe'", NULL);
    assert_int_equal(sm_cfg_int_list(c, "train.seq", 1, 4, 0, 9, list, &n), SM_EINPUT);
    assert_msg("t.yaml:6", "'train.seq.1'", "expected an integer in [0, 9]", "'x'", NULL);
    assert_int_equal(sm_cfg_int_list(c, "train.seq", 3, 4, 0, 9, list, &n), SM_EINPUT);
    assert_msg("'train.seq'", "expected 3 to 4 items, got 2", NULL);
    assert_int_equal(sm_cfg_int_list(c, "train.lr", 1, 4, 0, 9, list, &n), SM_EINPUT);
    assert_msg("'train.lr'", "expected a sequence", NULL);
    assert_int_equal(sm_cfg_string(c, "train.name", "x", NULL, &s), SM_EINPUT);
    assert_msg("t.yaml:7", "expected a string, got a sequence", NULL);
    assert_int_equal(sm_cfg_seq_len(c, "train.opt", &n), SM_EINPUT);
    assert_msg("expected a sequence, got a mapping", NULL);
    assert_int_equal(sm_cfg_mapping(c, "train.seq"), SM_EINPUT);
    assert_msg("expected a mapping, got a sequence", NULL);
    /* a scalar in the middle of a path */
    assert_int_equal(sm_cfg_double(c, "train.lr.x", 1, 0, 10, &d), SM_EINPUT);
    assert_msg("t.yaml:2", "key 'train.lr'", "expected a mapping", NULL);
    assert_int_equal(sm_cfg_double(c, "train.seq.first", 1, 0, 10, &d), SM_EINPUT);
    assert_msg("t.yaml:6", "key 'train.seq'", "expected a mapping", "got a sequence", NULL);
    sm_cfg_free(c);
}

static void test_choices(void **state) {
    sm_cfg *c = load("layer: lstm\n");
    const char *s;
    assert_int_equal(sm_cfg_string(c, "layer", "dense", kinds, &s), SM_EINPUT);
    assert_string_equal(sm_errmsg(),
                        "config t.yaml:1: key 'layer': expected one of 'dense', 'conv', 'pool', got 'lstm'");
    assert_int_equal(sm_cfg_string_required(c, "kind", kinds, &s), SM_EINPUT);
    assert_msg("config t.yaml: key 'kind'", "required", "'dense', 'conv', 'pool'", NULL);
    sm_cfg_free(c);
}

static void test_unknown_key(void **state) {
    sm_cfg *c = load("train:\n  lr: 0.1\n  epochs: 3\n\n  lrr: 0.2\n");
    double d;
    long i;
    sm_cfg_double(c, "train.lr", 1, 0, 10, &d);
    assert_int_equal(sm_cfg_check_unused(c), SM_EINPUT);
    assert_msg("config t.yaml:3: unknown key 'train.epochs'", NULL); /* first in document order */
    sm_cfg_int(c, "train.epochs", 1, 0, 10, &i);
    assert_int_equal(sm_cfg_check_unused(c), SM_EINPUT);
    assert_string_equal(sm_errmsg(), "config t.yaml:5: unknown key 'train.lrr' (did you mean 'train.lr'?)");
    sm_cfg_free(c);

    /* a whole unknown section is named once; no suggestion when nothing is close;
     * a parent seen by a getter does not make its children known */
    c = load("model: {out: 3}\nplacement:\n  method: greedy\n");
    sm_cfg_int(c, "model.out", 1, 0, 10, &i);
    sm_cfg_int(c, "model.in", 1, 0, 10, &i);
    assert_int_equal(sm_cfg_check_unused(c), SM_EINPUT);
    assert_string_equal(sm_errmsg(), "config t.yaml:2: unknown key 'placement'");
    sm_cfg_free(c);

    /* sm_cfg_seq_len marks the sequence, not its items; an empty mapping
     * passed through by a getter is known */
    c = load("layers:\n  - {out: 1}\n  - {out: 2, outt: 3}\nopt: {}\n");
    int n;
    sm_cfg_seq_len(c, "layers", &n);
    assert_int_equal(sm_cfg_check_unused(c), SM_EINPUT);
    assert_msg("unknown key 'layers.0'", NULL);
    sm_cfg_int(c, "layers.0.out", 1, 0, 10, &i);
    sm_cfg_int(c, "layers.1.out", 1, 0, 10, &i);
    assert_int_equal(sm_cfg_check_unused(c), SM_EINPUT);
    assert_string_equal(sm_errmsg(), "config t.yaml:3: unknown key 'layers.1.outt' (did you mean 'layers.1.out'?)");
    sm_cfg_int(c, "layers.1.outt", 1, 0, 10, &i);
    assert_int_equal(sm_cfg_check_unused(c), SM_EINPUT);
    assert_msg("t.yaml:4: unknown key 'opt'", NULL);
    sm_cfg_string(c, "opt.kind", "adam", NULL, &(const char *){0});
    assert_int_equal(sm_cfg_check_unused(c), SM_OK);
    sm_cfg_free(c);

    /* sm_cfg_mapping marks an empty mapping; a key from --set is named by its --set */
    c = load("extra: {}\n");
    assert_int_equal(sm_cfg_mapping(c, "extra"), SM_OK);
    assert_int_equal(sm_cfg_check_unused(c), SM_OK);
    assert_int_equal(sm_cfg_set(c, "train.lrr=1"), SM_OK);
    assert_int_equal(sm_cfg_check_unused(c), SM_EINPUT);
    assert_string_equal(sm_errmsg(), "--set train.lrr=1: unknown key 'train'");
    sm_cfg_free(c);
}

static void test_load_errors(void **state) {
    sm_cfg *c = (sm_cfg *)1;
    assert_int_equal(sm_cfg_load_string(&c, "a: 1\ntrain:\n  lr: 1\n  lr: 2\n", "d.yaml"), SM_EINPUT);
    assert_null(c);
    assert_string_equal(sm_errmsg(), "config d.yaml:4: duplicate key 'train.lr' (first at line 3)");

    assert_int_equal(sm_cfg_load_string(&c, "a: 1\nb: [1, 2\nc: 3\n", "s.yaml"), SM_EINPUT);
    assert_null(c);
    assert_msg("config s.yaml:3: did not find expected ',' or ']'", NULL);
    assert_int_equal(sm_cfg_load_string(&c, "a: 1\nb:\n  c: 1\n d: 2\n", "s.yaml"), SM_EINPUT);
    assert_msg("config s.yaml:4: ", NULL);
    assert_int_equal(sm_cfg_load_string(&c, "a: &x 1\nb: *x\n", "s.yaml"), SM_EINPUT);
    assert_msg("config s.yaml:1: anchors", NULL);
    assert_int_equal(sm_cfg_load_string(&c, "a: 1\n---\nb: 2\n", "s.yaml"), SM_EINPUT);
    assert_msg("config s.yaml:2: ", "more than one", NULL);
    assert_int_equal(sm_cfg_load_string(&c, "- 1\n- 2\n", "s.yaml"), SM_EINPUT);
    assert_msg("config s.yaml:1: the top level must be a mapping", NULL);
    assert_int_equal(sm_cfg_load_string(&c, "a: !!str 1\n", "s.yaml"), SM_EINPUT);
    assert_msg("config s.yaml:1: tags", NULL);

    /* an empty file (or only comments) is an empty mapping */
    assert_int_equal(sm_cfg_load_string(&c, "# nothing\n", "e.yaml"), SM_OK);
    assert_false(sm_cfg_has(c, "a"));
    assert_int_equal(sm_cfg_check_unused(c), SM_OK);
    sm_cfg_free(c);
    assert_int_equal(sm_cfg_load_string(&c, "", "e.yaml"), SM_OK);
    assert_string_equal(sm_cfg_text(c), "{}\n");
    sm_cfg_free(c);
}

static void test_set(void **state) {
    sm_cfg *c = load("train:\n  lr: 0.1\nmodel:\n  layers:\n    - {out: 3}\n    - {out: 4}\n");
    double d;
    long i, list[8];
    int n;
    const char *s;
    assert_int_equal(sm_cfg_set(c, "train.lr=0.5"), SM_OK); /* existing key */
    assert_int_equal(sm_cfg_set(c, "train.sched.kind=cosine"), SM_OK); /* new nested keys */
    assert_int_equal(sm_cfg_set(c, "model.layers.0.out=7"), SM_OK); /* under a sequence item */
    assert_int_equal(sm_cfg_set(c, "model.shape=[1,2,3]"), SM_OK);
    assert_int_equal(sm_cfg_set(c, "model.name="), SM_OK);
    assert_int_equal(sm_cfg_double(c, "train.lr", 1, 0, 10, &d), SM_OK);
    assert_true(d == 0.5);
    assert_string_equal(sm_cfg_where(c, "train.lr"), "--set train.lr=0.5");
    assert_int_equal(sm_cfg_string(c, "train.sched.kind", "x", NULL, &s), SM_OK);
    assert_string_equal(s, "cosine");
    assert_int_equal(sm_cfg_int(c, "model.layers.0.out", 0, 0, 10, &i), SM_OK);
    assert_int_equal(i, 7);
    assert_int_equal(sm_cfg_int(c, "model.layers.1.out", 0, 0, 10, &i), SM_OK);
    assert_int_equal(i, 4);
    assert_string_equal(sm_cfg_where(c, "model.layers.1.out"), "t.yaml:6");
    assert_int_equal(sm_cfg_int_list(c, "model.shape", 3, 3, 0, 9, list, &n), SM_OK);
    assert_int_equal(n, 3);
    assert_int_equal(list[0] * 100 + list[1] * 10 + list[2], 123);
    assert_int_equal(sm_cfg_string(c, "model.name", "x", NULL, &s), SM_OK);
    assert_string_equal(s, "");

    /* a string read before a --set stays valid after it */
    assert_int_equal(sm_cfg_set(c, "train.sched.kind={a: 1}"), SM_OK);
    assert_string_equal(s, "");
    assert_int_equal(sm_cfg_double(c, "train.sched.kind", 1, 0, 10, &d), SM_EINPUT);
    assert_string_equal(sm_errmsg(),
                        "--set train.sched.kind={a: 1}: key 'train.sched.kind': expected a number in [0, 10], "
                        "got a mapping");

    /* errors name the assignment */
    assert_int_equal(sm_cfg_set(c, "model.layers.2.out=7"), SM_EINPUT);
    assert_msg("--set model.layers.2.out=7", "'model.layers'", "index 2 does not exist", NULL);
    assert_int_equal(sm_cfg_set(c, "model.layers.x=7"), SM_EINPUT);
    assert_msg("--set model.layers.x=7", "not an index", NULL);
    assert_int_equal(sm_cfg_set(c, "train.lr.x=7"), SM_EINPUT);
    assert_msg("--set train.lr.x=7", "key 'train.lr'", "expected a mapping", NULL);
    assert_int_equal(sm_cfg_set(c, "train.lr"), SM_EINPUT);
    assert_string_equal(sm_errmsg(), "--set train.lr: expected key.path=value");
    assert_int_equal(sm_cfg_set(c, "=3"), SM_EINPUT);
    assert_msg("--set =3", "empty", NULL);
    assert_int_equal(sm_cfg_set(c, "a..b=3"), SM_EINPUT);
    assert_msg("--set a..b=3", "empty", NULL);
    assert_int_equal(sm_cfg_set(c, "a=[1, 2"), SM_EINPUT);
    assert_string_equal(sm_errmsg(), "--set a=[1, 2: did not find expected ',' or ']' (while parsing a flow sequence)");
    assert_int_equal(sm_cfg_set(c, "a={x: 1, x: 2}"), SM_EINPUT);
    assert_msg("--set a={x: 1, x: 2}: duplicate key 'a.x'", NULL);
    assert_false(sm_cfg_has(c, "a")); /* a failed --set changes nothing */
    assert_int_equal(sm_cfg_double(c, "train.lr", 1, 0, 10, &d), SM_OK);
    assert_true(d == 0.5);
    sm_cfg_free(c);
}

/* Read every key of the round-trip document; the results go into a string. */
static void read_everything(sm_cfg *c, char *out, size_t cap) {
    double d;
    long i, list[8];
    int b, n, m;
    const char *s, *s2, *s3, *s4;
    assert_int_equal(sm_cfg_double(c, "train.lr", 0, 0, 10, &d), SM_OK);
    assert_int_equal(sm_cfg_int(c, "train.epochs", 0, 0, 100, &i), SM_OK);
    assert_int_equal(sm_cfg_bool(c, "train.shuffle", 0, &b), SM_OK);
    assert_int_equal(sm_cfg_string(c, "train.note", "", NULL, &s), SM_OK);
    assert_int_equal(sm_cfg_string(c, "train.colon", "", NULL, &s2), SM_OK);
    assert_int_equal(sm_cfg_string(c, "train.numstr", "", NULL, &s3), SM_OK);
    assert_int_equal(sm_cfg_string(c, "train.empty", "default", NULL, &s4), SM_OK);
    assert_int_equal(sm_cfg_int_list(c, "model.shape", 0, 8, -100, 100, list, &n), SM_OK);
    assert_int_equal(sm_cfg_seq_len(c, "model.layers", &m), SM_OK);
    int len = snprintf(out, cap, "%.17g|%ld|%d|%s|%s|%s|%s|%d:", d, i, b, s, s2, s3, s4, n);
    for (int k = 0; k < n; k++) len += snprintf(out + len, cap - (size_t)len, "%ld,", list[k]);
    for (int k = 0; k < m; k++) {
        char path[64];
        long out_features;
        snprintf(path, sizeof path, "model.layers.%d.kind", k);
        assert_int_equal(sm_cfg_string_required(c, path, kinds, &s), SM_OK);
        snprintf(path, sizeof path, "model.layers.%d.out", k);
        assert_int_equal(sm_cfg_int(c, path, 0, 0, 1000, &out_features), SM_OK);
        len += snprintf(out + len, cap - (size_t)len, "[%s %ld]", s, out_features);
    }
    assert_int_equal(sm_cfg_mapping(c, "model.extra"), SM_OK);
    assert_int_equal(sm_cfg_seq_len(c, "model.none", &n), SM_OK);
    assert_int_equal(sm_cfg_check_unused(c), SM_OK);
}

static void test_text_round_trip(void **state) {
    sm_cfg *c = load("train:\n"
                     "  lr: 5e-4\n"
                     "  epochs: 3\n"
                     "  shuffle: on\n"
                     "  note: \"two\\nlines \\\"quoted\\\" # not a comment\"\n"
                     "  colon: 'a: b'\n"
                     "  numstr: '-12'\n"
                     "  empty: ''\n"
                     "model:\n"
                     "  shape: [1, -2, 3]\n"
                     "  layers: [{kind: dense, out: 5}, {kind: conv, out: 6}]\n"
                     "  extra: {}\n"
                     "  none: []\n");
    assert_int_equal(sm_cfg_set(c, "train.epochs=9"), SM_OK);
    assert_int_equal(sm_cfg_set(c, "model.layers.1={kind: pool, out: 2}"), SM_OK);
    char before[512], after[512];
    read_everything(c, before, sizeof before);
    assert_string_equal(before, "0.00050000000000000001|9|1|two\nlines \"quoted\" # not a comment|a: b|-12||3:1,-2,3,"
                                "[dense 5][pool 2]");
    const char *text = sm_cfg_text(c);
    sm_cfg *again = NULL;
    if (sm_cfg_load_string(&again, text, "text")) fail_msg("reload: %s\n%s", sm_errmsg(), text);
    read_everything(again, after, sizeof after);
    assert_string_equal(before, after);
    assert_string_equal(text, sm_cfg_text(again)); /* a fixed point */
    sm_cfg_free(again);
    sm_cfg_free(c);
}

static void test_load_file(void **state) {
    char path[] = "/tmp/sm_config_test_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "# a run\ntrain:\n  lr: 0.25\n  epochs: x\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    sm_cfg *c = NULL;
    assert_int_equal(sm_cfg_load(&c, path), SM_OK);
    double d;
    long i;
    assert_int_equal(sm_cfg_double(c, "train.lr", 1, 0, 1, &d), SM_OK);
    assert_true(d == 0.25);
    char where[256];
    snprintf(where, sizeof where, "%s:3", path);
    assert_string_equal(sm_cfg_where(c, "train.lr"), where);
    assert_string_equal(sm_cfg_where(c, "train.absent"), path);
    assert_int_equal(sm_cfg_int(c, "train.epochs", 1, 1, 9, &i), SM_EINPUT);
    snprintf(where, sizeof where, "config %s:4: key 'train.epochs': expected an integer in [1, 9], got 'x'", path);
    assert_string_equal(sm_errmsg(), where);
    sm_cfg_free(c);
    unlink(path);

    c = (sm_cfg *)1;
    assert_int_equal(sm_cfg_load(&c, path), SM_EINPUT); /* now missing */
    assert_null(c);
    assert_msg(path, NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_all_kinds), cmocka_unit_test(test_defaults_when_absent),
        cmocka_unit_test(test_range_errors),   cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_choices),        cmocka_unit_test(test_unknown_key),
        cmocka_unit_test(test_load_errors),    cmocka_unit_test(test_set),
        cmocka_unit_test(test_text_round_trip), cmocka_unit_test(test_load_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
