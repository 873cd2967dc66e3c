/* sm_config.h — the run configuration: a YAML document kept as a tree whose
 * every node remembers where it came from (file and line, or the --set that
 * made it), read through typed getters that validate as they read.
 *
 * The schema is the set of getter calls the program makes: every key of the
 * document must be asked for by some getter, and sm_cfg_check_unused() names
 * the first key nobody asked for ("unknown key"). Every getter error names the
 * origin, the full key path, what was expected and what was found, e.g.
 *   config configs/a.yaml:12: key 'train.lr': expected a number in [0, 10], got 'abc'
 * and returns SM_EINPUT. Paths are dotted; sequence items are indexed by
 * number: "model.layers.1.out".
 */
#ifndef SM_CONFIG_H
#define SM_CONFIG_H

#include <stddef.h>

typedef struct sm_cfg sm_cfg;

/* Parse a YAML file (libyaml). The top level must be a mapping. Duplicate keys
 * are an error. On error *out is NULL and the message names file and line. */
int sm_cfg_load(sm_cfg **out, const char *path);
/* Same from text; `name` is used as the file name in messages. */
int sm_cfg_load_string(sm_cfg **out, const char *text, const char *name);
void sm_cfg_free(sm_cfg *c);

/* Apply one "key.path=value" override (the --set option). The value is parsed
 * as YAML (so "[1,2]" is a sequence, "0.5" a scalar). Missing intermediate
 * mappings are created; an index into a sequence must exist. Errors name the
 * assignment. */
int sm_cfg_set(sm_cfg *c, const char *assignment);

/* The document (after overrides) re-emitted as YAML text, owned by c. Loading
 * this text gives a config that reads the same values. Stored in checkpoints. */
const char *sm_cfg_text(sm_cfg *c);

/* Does the key exist? (Marks nothing.) */
int sm_cfg_has(const sm_cfg *c, const char *path);

/* Typed getters. If the key is absent *out = def and SM_OK is returned (a
 * required key is a getter with the `_required` variant). The value must lie in
 * [lo, hi]. Reading a key marks it as used. */
int sm_cfg_double(sm_cfg *c, const char *path, double def, double lo, double hi, double *out);
int sm_cfg_int(sm_cfg *c, const char *path, long def, long lo, long hi, long *out);
int sm_cfg_bool(sm_cfg *c, const char *path, int def, int *out);
/* A string; if choices is non-NULL (NULL-terminated list) the value must be
 * one of them, and the message lists them. *out points into c. */
int sm_cfg_string(sm_cfg *c, const char *path, const char *def,
                  const char *const *choices, const char **out);
int sm_cfg_string_required(sm_cfg *c, const char *path, const char *const *choices,
                           const char **out);
/* A sequence of integers of length in [min_len, max_len], each in [lo, hi].
 * Absent: *n = 0 and SM_OK. */
int sm_cfg_int_list(sm_cfg *c, const char *path, int min_len, int max_len, long lo, long hi,
                    long *out, int *n);
/* Length of the sequence at path (0 if absent); error if it is not a
 * sequence. Marks the sequence node itself as used. */
int sm_cfg_seq_len(sm_cfg *c, const char *path, int *n);
/* Marks a mapping/sequence at path (and nothing below it) as used, after
 * checking it is a mapping; absent is fine. */
int sm_cfg_mapping(sm_cfg *c, const char *path);

/* Report the first node (in document order) that no getter read:
 *   config a.yaml:7: unknown key 'train.lrr'
 * (with "did you mean 'train.lr'?" when a read key is within edit distance 2). */
int sm_cfg_check_unused(sm_cfg *c);

/* "file:line" (or "--set a.b=1") of the node at path, or the file name if
 * absent; for the caller's own messages. Pointer valid until the next call. */
const char *sm_cfg_where(sm_cfg *c, const char *path);

#endif
