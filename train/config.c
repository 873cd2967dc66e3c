/* config.c — the run configuration of sm_config.h: a YAML document parsed with
 * libyaml's event API into a tree whose nodes remember their origin, read
 * through validating getters, checked for keys nobody asked for.
 *
 * The tree:
 *   mapping   ordered (key, value) entries; each key keeps its own origin
 *   sequence  ordered items
 *   scalar    the raw text and whether it was written quoted (any non-plain style)
 * Every node has an origin: the file name and a 1-based line, or the text
 * "--set key=value" of the override that made it (line 0).
 *
 * Invariants:
 *   I1: the root is always a mapping.
 *   I2: an unquoted scalar "", "~" or "null" is null and counts as absent for
 *       getters (they return the default and mark it used).
 *   I3: a node replaced by sm_cfg_set is retired, not freed, so a string a
 *       getter returned stays valid until sm_cfg_free.
 *   I4: `used` is set on a leaf by the getter that read it, and on a container
 *       by any lookup that passed through it, by sm_cfg_seq_len or by
 *       sm_cfg_mapping. A non-empty container is only "known" when something
 *       inside it was used; each of its children is then checked on its own.
 */
#define _GNU_SOURCE
#include "sm_config.h"
#include "sm_common.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

enum { MAX_DEPTH = 64 };

typedef enum { NODE_MAPPING, NODE_SEQUENCE, NODE_SCALAR } node_kind;

typedef struct node node;

typedef struct entry {
    char *key;
    const char *origin; /* where the key was written (owned by the sm_cfg) */
    int line;
    node *value;
} entry;

struct node {
    node_kind kind;
    const char *origin; /* file name or "--set ..." text, owned by the sm_cfg */
    int line;           /* 1-based; 0 when the origin is a --set */
    int used;
    char *text;         /* scalar */
    int quoted;         /* scalar: written in any style but plain */
    entry *entries;     /* mapping */
    node **items;       /* sequence */
    size_t n, cap;      /* entries or items */
};

typedef struct strlist {
    char **v;
    size_t n, cap;
} strlist;

struct sm_cfg {
    node *root;
    strlist origins;  /* [0] is the file name, then one "--set ..." per override */
    strlist asked;    /* every path a getter asked for, for "did you mean" */
    node **retired;   /* I3 */
    size_t n_retired, cap_retired;
    char *text;       /* sm_cfg_text's result; NULL when out of date */
    char *where;      /* sm_cfg_where's buffer */
};

/* ---- small helpers ------------------------------------------------------ */

typedef struct sbuf {
    char *s;
    size_t n, cap;
} sbuf;

static void sbuf_add(sbuf *b, const char *s, size_t len) {
    if (b->n + len + 1 > b->cap) {
        b->cap = (b->n + len + 1) * 2;
        b->s = sm_xrealloc(b->s, b->cap);
    }
    memcpy(b->s + b->n, s, len);
    b->n += len;
    b->s[b->n] = 0;
}

static void sbuf_str(sbuf *b, const char *s) { sbuf_add(b, s, strlen(s)); }

static void sbuf_truncate(sbuf *b, size_t n) {
    b->n = n;
    if (b->s) b->s[n] = 0;
}

/* Append ".component" (no dot at the start) to a key path. */
static void path_push(sbuf *b, const char *comp, size_t len) {
    if (b->n) sbuf_add(b, ".", 1);
    sbuf_add(b, comp, len);
}

static void path_push_index(sbuf *b, size_t i) {
    char num[32];
    snprintf(num, sizeof num, "%zu", i);
    path_push(b, num, strlen(num));
}

static const char *strlist_add(strlist *l, const char *s) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 8;
        l->v = sm_xrealloc(l->v, l->cap * sizeof *l->v);
    }
    return l->v[l->n++] = sm_xstrdup(s);
}

static void strlist_free(strlist *l) {
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
}

/* ---- nodes --------------------------------------------------------------- */

static node *node_new(node_kind kind, const char *origin, int line) {
    node *n = sm_xcalloc(1, sizeof *n);
    n->kind = kind;
    n->origin = origin;
    n->line = line;
    return n;
}

static node *scalar_new(const char *text, size_t len, int quoted, const char *origin, int line) {
    node *n = node_new(NODE_SCALAR, origin, line);
    n->text = sm_xmalloc(len + 1);
    memcpy(n->text, text, len);
    n->text[len] = 0;
    n->quoted = quoted;
    return n;
}

static void node_free(node *n) {
    if (!n) return;
    for (size_t i = 0; i < n->n; i++) {
        if (n->kind == NODE_MAPPING) {
            free(n->entries[i].key);
            node_free(n->entries[i].value);
        } else {
            node_free(n->items[i]);
        }
    }
    free(n->entries);
    free(n->items);
    free(n->text);
    free(n);
}

static void grow(node *n) {
    if (n->n < n->cap) return;
    n->cap = n->cap ? 2 * n->cap : 4;
    if (n->kind == NODE_MAPPING) n->entries = sm_xrealloc(n->entries, n->cap * sizeof *n->entries);
    else n->items = sm_xrealloc(n->items, n->cap * sizeof *n->items);
}

static entry *map_add(node *map, const char *key, size_t len, const char *origin, int line,
                      node *value) {
    grow(map);
    entry *e = &map->entries[map->n++];
    e->key = sm_xmalloc(len + 1);
    memcpy(e->key, key, len);
    e->key[len] = 0;
    e->origin = origin;
    e->line = line;
    e->value = value;
    return e;
}

static entry *map_find(const node *map, const char *key, size_t len) {
    for (size_t i = 0; i < map->n; i++)
        if (strlen(map->entries[i].key) == len && !memcmp(map->entries[i].key, key, len))
            return &map->entries[i];
    return NULL;
}

static void seq_add(node *seq, node *item) {
    grow(seq);
    seq->items[seq->n++] = item;
}

static size_t child_count(const node *n) { return n->kind == NODE_SCALAR ? 0 : n->n; }

static node *child(const node *n, size_t i) {
    return n->kind == NODE_MAPPING ? n->entries[i].value : n->items[i];
}

/* I2 */
static int is_null(const node *n) {
    return n->kind == NODE_SCALAR && !n->quoted &&
           (!n->text[0] || !strcmp(n->text, "~") || !strcasecmp(n->text, "null"));
}

static void retire(sm_cfg *c, node *n) {
    if (c->n_retired == c->cap_retired) {
        c->cap_retired = c->cap_retired ? 2 * c->cap_retired : 4;
        c->retired = sm_xrealloc(c->retired, c->cap_retired * sizeof *c->retired);
    }
    c->retired[c->n_retired++] = n;
}

/* "a mapping", "a sequence" or 'text' (shortened), for "got ..." in messages. */
static const char *describe(const node *n, char *buf, size_t cap) {
    if (n->kind == NODE_MAPPING) return "a mapping";
    if (n->kind == NODE_SEQUENCE) return "a sequence";
    if (strlen(n->text) > 60) snprintf(buf, cap, "'%.57s...'", n->text);
    else snprintf(buf, cap, "'%s'", n->text);
    return buf;
}

/* Record "ORIGIN: key 'PATH': MESSAGE" where ORIGIN is "config file:line" or
 * the --set text; only the first path_len bytes of path are used. Returns SM_EINPUT. */
static int node_error(const node *n, const char *path, size_t path_len, const char *fmt, ...)
    SM_PRINTF(4, 5);
static int node_error(const node *n, const char *path, size_t path_len, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int len = (int)(path_len < 512 ? path_len : 512);
    if (n->line > 0) return sm_error("config %s:%d: key '%.*s': %s", n->origin, n->line, len, path, msg);
    return sm_error("%s: key '%.*s': %s", n->origin, len, path, msg);
}

/* ---- parsing (libyaml events → tree) ----------------------------------- */

typedef struct parse_ctx {
    yaml_parser_t parser;
    const char *origin; /* file name, or the --set text */
    int is_set;         /* origin is a --set: no line numbers */
    sbuf path;          /* key path of the node being parsed */
} parse_ctx;

static int parse_error(parse_ctx *p, int line, const char *fmt, ...) SM_PRINTF(3, 4);
static int parse_error(parse_ctx *p, int line, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (p->is_set) return sm_error("%s: %s", p->origin, msg);
    return sm_error("config %s:%d: %s", p->origin, line, msg);
}

/* Next event, or libyaml's own description of the syntax error. */
static int next_event(parse_ctx *p, yaml_event_t *ev) {
    if (yaml_parser_parse(&p->parser, ev)) return SM_OK;
    yaml_parser_t *y = &p->parser;
    if (y->error == YAML_MEMORY_ERROR) return sm_fail("config %s: out of memory in libyaml", p->origin);
    const char *problem = y->problem ? y->problem : "invalid YAML";
    int line = (int)(y->error == YAML_READER_ERROR ? y->mark.line : y->problem_mark.line) + 1;
    if (y->context && p->is_set) return parse_error(p, line, "%s (%s)", problem, y->context);
    if (y->context)
        return parse_error(p, line, "%s (%s at line %d)", problem, y->context,
                           (int)y->context_mark.line + 1);
    return parse_error(p, line, "%s", problem);
}

static int check_plain_node(parse_ctx *p, int line, const yaml_char_t *anchor, const yaml_char_t *tag) {
    if (anchor) return parse_error(p, line, "anchors (&%s) are not supported", (const char *)anchor);
    if (tag) return parse_error(p, line, "tags (%s) are not supported", (const char *)tag);
    return SM_OK;
}

static int parse_node(parse_ctx *p, yaml_event_t *ev, int depth, node **out);

static int parse_sequence(parse_ctx *p, node *seq, int depth) {
    size_t base = p->path.n;
    for (;;) {
        yaml_event_t ev;
        int rc = next_event(p, &ev);
        if (rc) return rc;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return SM_OK;
        }
        node *item = NULL;
        path_push_index(&p->path, seq->n);
        rc = parse_node(p, &ev, depth + 1, &item);
        sbuf_truncate(&p->path, base);
        yaml_event_delete(&ev);
        if (rc) return rc;
        seq_add(seq, item);
    }
}

static int parse_mapping(parse_ctx *p, node *map, int depth) {
    size_t base = p->path.n;
    for (;;) {
        yaml_event_t ev;
        int rc = next_event(p, &ev);
        if (rc) return rc;
        if (ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            return SM_OK;
        }
        int line = (int)ev.start_mark.line + 1;
        if (ev.type != YAML_SCALAR_EVENT) {
            const char *what = ev.type == YAML_ALIAS_EVENT ? "an alias" : "a mapping or sequence";
            yaml_event_delete(&ev);
            return parse_error(p, line, "a key must be a scalar, not %s", what);
        }
        rc = check_plain_node(p, line, ev.data.scalar.anchor, ev.data.scalar.tag);
        const char *key = (const char *)ev.data.scalar.value;
        size_t len = strlen(key);
        path_push(&p->path, key, len);
        entry *first = rc ? NULL : map_find(map, key, len);
        if (first) {
            if (p->is_set) rc = parse_error(p, line, "duplicate key '%s'", p->path.s);
            else rc = parse_error(p, line, "duplicate key '%s' (first at line %d)", p->path.s, first->line);
        }
        entry *e = rc ? NULL : map_add(map, key, len, p->origin, p->is_set ? 0 : line, NULL);
        yaml_event_delete(&ev);
        if (!rc) rc = next_event(p, &ev);
        if (!rc) {
            rc = parse_node(p, &ev, depth + 1, &e->value);
            yaml_event_delete(&ev);
        }
        sbuf_truncate(&p->path, base);
        if (rc) {
            if (e) map->n--, free(e->key);
            return rc;
        }
    }
}

/* Build the node that starts with event ev (not consumed: the caller deletes
 * it), reading the events of its children. On error *out is NULL. */
static int parse_node(parse_ctx *p, yaml_event_t *ev, int depth, node **out) {
    int line = p->is_set ? 0 : (int)ev->start_mark.line + 1;
    int rc;
    *out = NULL;
    if (depth > MAX_DEPTH) return parse_error(p, line, "nested deeper than %d levels", MAX_DEPTH);
    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        return parse_error(p, line, "aliases (*%s) are not supported", (const char *)ev->data.alias.anchor);
    case YAML_SCALAR_EVENT:
        if ((rc = check_plain_node(p, line, ev->data.scalar.anchor, ev->data.scalar.tag))) return rc;
        *out = scalar_new((const char *)ev->data.scalar.value, strlen((const char *)ev->data.scalar.value),
                          ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE, p->origin, line);
        return SM_OK;
    case YAML_SEQUENCE_START_EVENT:
        if ((rc = check_plain_node(p, line, ev->data.sequence_start.anchor, ev->data.sequence_start.tag)))
            return rc;
        *out = node_new(NODE_SEQUENCE, p->origin, line);
        rc = parse_sequence(p, *out, depth);
        break;
    case YAML_MAPPING_START_EVENT:
        if ((rc = check_plain_node(p, line, ev->data.mapping_start.anchor, ev->data.mapping_start.tag)))
            return rc;
        *out = node_new(NODE_MAPPING, p->origin, line);
        rc = parse_mapping(p, *out, depth);
        break;
    default:
        return parse_error(p, line, "unexpected YAML event %d", (int)ev->type);
    }
    if (rc) {
        node_free(*out);
        *out = NULL;
    }
    return rc;
}

/* Parse text as exactly one YAML document. *root is NULL for an empty stream.
 * path is the key path the document is placed at (for messages). Owns nothing
 * on error. */
static int parse_document(const char *text, size_t len, const char *origin, int is_set,
                          const char *path, node **root) {
    parse_ctx p = {.origin = origin, .is_set = is_set};
    yaml_event_t ev;
    int rc;
    *root = NULL;
    if (!yaml_parser_initialize(&p.parser)) return sm_fail("config %s: cannot start libyaml", origin);
    yaml_parser_set_input_string(&p.parser, (const unsigned char *)text, len);
    sbuf_str(&p.path, path);
    if ((rc = next_event(&p, &ev))) goto done; /* STREAM-START */
    yaml_event_delete(&ev);
    if ((rc = next_event(&p, &ev))) goto done;
    if (ev.type == YAML_STREAM_END_EVENT) { /* empty file */
        yaml_event_delete(&ev);
        goto done;
    }
    yaml_event_delete(&ev); /* DOCUMENT-START */
    if ((rc = next_event(&p, &ev))) goto done;
    rc = parse_node(&p, &ev, 0, root);
    yaml_event_delete(&ev);
    if (rc || (rc = next_event(&p, &ev))) goto done; /* DOCUMENT-END */
    yaml_event_delete(&ev);
    if ((rc = next_event(&p, &ev))) goto done;
    if (ev.type == YAML_DOCUMENT_START_EVENT)
        rc = parse_error(&p, (int)ev.start_mark.line + 1, "more than one YAML document (---) is not supported");
    yaml_event_delete(&ev);
done:
    if (rc) {
        node_free(*root);
        *root = NULL;
    }
    free(p.path.s);
    yaml_parser_delete(&p.parser);
    return rc;
}

/* ---- loading ------------------------------------------------------------ */

int sm_cfg_load_string(sm_cfg **out, const char *text, const char *name) {
    sm_cfg *c = sm_xcalloc(1, sizeof *c);
    const char *origin = strlist_add(&c->origins, name);
    node *root = NULL;
    *out = NULL;
    int rc = parse_document(text, strlen(text), origin, 0, "", &root);
    if (rc) {
        sm_cfg_free(c);
        return rc;
    }
    if (!root || is_null(root)) {
        node_free(root);
        root = node_new(NODE_MAPPING, origin, 1);
    } else if (root->kind != NODE_MAPPING) {
        char buf[80];
        rc = sm_error("config %s:%d: the top level must be a mapping (key: value), got %s", origin,
                      root->line, describe(root, buf, sizeof buf));
        node_free(root);
        sm_cfg_free(c);
        return rc;
    }
    c->root = root;
    *out = c;
    return SM_OK;
}

int sm_cfg_load(sm_cfg **out, const char *path) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return sm_error("config %s: cannot open: %s", path, strerror(errno));
    sbuf text = {0};
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) sbuf_add(&text, chunk, got);
    int bad = ferror(f);
    fclose(f);
    int rc = bad ? sm_error("config %s: read error", path)
                 : sm_cfg_load_string(out, text.s ? text.s : "", path);
    free(text.s);
    return rc;
}

void sm_cfg_free(sm_cfg *c) {
    if (!c) return;
    node_free(c->root);
    for (size_t i = 0; i < c->n_retired; i++) node_free(c->retired[i]);
    free(c->retired);
    strlist_free(&c->origins);
    strlist_free(&c->asked);
    free(c->text);
    free(c->where);
    free(c);
}

/* ---- lookup ------------------------------------------------------------- */

/* A sequence index: digits only, no sign. */
static int parse_index(const char *s, size_t len, size_t *out) {
    if (len == 0 || len > 9) return 0;
    size_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return 0;
        v = v * 10 + (size_t)(s[i] - '0');
    }
    *out = v;
    return 1;
}

/* Find the node at path. *found is NULL when the path is absent (a key or an
 * index that does not exist, or a null on the way); it may be a null scalar at
 * the end. With mark, containers passed through (and a null on the way) are
 * marked used (I4). A scalar on the way, or a sequence indexed by a name, is
 * an error (recorded only if report; otherwise it is just absent). */
static int lookup(node *root, const char *path, int mark, int report, node **found) {
    node *n = root;
    const char *p = path;
    *found = NULL;
    for (;;) {
        const char *end = strchr(p, '.');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        size_t prefix = (size_t)(p - path) - (p > path); /* the path up to n */
        char buf[80];
        node *next = NULL;
        if (mark) n->used = 1;
        if (n->kind == NODE_MAPPING) {
            entry *e = map_find(n, p, len);
            next = e ? e->value : NULL;
        } else if (n->kind == NODE_SEQUENCE) {
            size_t i;
            if (!parse_index(p, len, &i))
                return report ? node_error(n, path, prefix, "expected a mapping (to find '%.*s'), got a sequence",
                                           (int)len, p)
                              : SM_OK;
            next = i < n->n ? n->items[i] : NULL;
        } else if (is_null(n)) {
            return SM_OK;
        } else {
            return report ? node_error(n, path, prefix, "expected a mapping (to find '%.*s'), got %s", (int)len,
                                       p, describe(n, buf, sizeof buf))
                          : SM_OK;
        }
        if (!next) return SM_OK;
        if (!end) {
            *found = next;
            return SM_OK;
        }
        n = next;
        p = end + 1;
    }
}

static void remember_asked(sm_cfg *c, const char *path) {
    for (size_t i = 0; i < c->asked.n; i++)
        if (!strcmp(c->asked.v[i], path)) return;
    strlist_add(&c->asked, path);
}

/* The getters' common start: remember the path, find the node and mark it
 * used. *n is NULL when absent or null (then the default applies). */
static int get_node(sm_cfg *c, const char *path, node **n) {
    remember_asked(c, path);
    int rc = lookup(c->root, path, 1, 1, n);
    if (rc) return rc;
    if (*n) {
        (*n)->used = 1;
        if (is_null(*n)) *n = NULL;
    }
    return SM_OK;
}

int sm_cfg_has(const sm_cfg *c, const char *path) {
    node *n;
    lookup(c->root, path, 0, 0, &n);
    return n && !is_null(n);
}

const char *sm_cfg_where(sm_cfg *c, const char *path) {
    node *n;
    lookup(c->root, path, 0, 0, &n);
    const char *origin = n ? n->origin : c->origins.v[0];
    size_t cap = strlen(origin) + 32;
    c->where = sm_xrealloc(c->where, cap);
    if (n && n->line > 0) snprintf(c->where, cap, "%s:%d", origin, n->line);
    else snprintf(c->where, cap, "%s", origin);
    return c->where;
}

/* ---- typed getters ------------------------------------------------------ */

/* A number in C/YAML syntax (1, -3, 0.5, 5e-4), the whole text, not NaN. */
static int parse_double(const char *s, double *out) {
    if (!*s || *s == ' ' || *s == '\t') return 0;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end || isnan(v) || errno == ERANGE) return 0;
    *out = v;
    return 1;
}

/* An integer: decimal digits, or a number with no fractional part (1e3). */
static int parse_long(const char *s, long *out) {
    if (!*s || *s == ' ' || *s == '\t') return 0;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*end && errno == 0) {
        *out = v;
        return 1;
    }
    double d;
    if (errno == 0 && parse_double(s, &d) && d == floor(d) && d >= -9.2e18 && d <= 9.2e18) {
        *out = (long)d;
        return 1;
    }
    return 0;
}

static const char *range_double(char *buf, size_t cap, double lo, double hi) {
    int has_lo = lo > -1e300, has_hi = hi < 1e300;
    if (has_lo && has_hi) snprintf(buf, cap, "a number in [%g, %g]", lo, hi);
    else if (has_lo) snprintf(buf, cap, "a number >= %g", lo);
    else if (has_hi) snprintf(buf, cap, "a number <= %g", hi);
    else snprintf(buf, cap, "a number");
    return buf;
}

static const char *range_long(char *buf, size_t cap, long lo, long hi) {
    int has_lo = lo > LONG_MIN, has_hi = hi < LONG_MAX;
    if (has_lo && has_hi) snprintf(buf, cap, "an integer in [%ld, %ld]", lo, hi);
    else if (has_lo) snprintf(buf, cap, "an integer >= %ld", lo);
    else if (has_hi) snprintf(buf, cap, "an integer <= %ld", hi);
    else snprintf(buf, cap, "an integer");
    return buf;
}

int sm_cfg_double(sm_cfg *c, const char *path, double def, double lo, double hi, double *out) {
    node *n;
    int rc = get_node(c, path, &n);
    *out = def;
    if (rc || !n) return rc;
    double v;
    char want[128], got[80];
    if (n->kind != NODE_SCALAR || !parse_double(n->text, &v) || !(v >= lo && v <= hi))
        return node_error(n, path, strlen(path), "expected %s, got %s", range_double(want, sizeof want, lo, hi),
                          describe(n, got, sizeof got));
    *out = v;
    return SM_OK;
}

/* Reads one integer node (shared by sm_cfg_int and sm_cfg_int_list). */
static int read_long(const node *n, const char *path, long lo, long hi, long *out) {
    long v;
    char want[128], got[80];
    if (n->kind != NODE_SCALAR || !parse_long(n->text, &v) || v < lo || v > hi)
        return node_error(n, path, strlen(path), "expected %s, got %s", range_long(want, sizeof want, lo, hi),
                          describe(n, got, sizeof got));
    *out = v;
    return SM_OK;
}

int sm_cfg_int(sm_cfg *c, const char *path, long def, long lo, long hi, long *out) {
    node *n;
    int rc = get_node(c, path, &n);
    *out = def;
    if (rc || !n) return rc;
    return read_long(n, path, lo, hi, out);
}

int sm_cfg_bool(sm_cfg *c, const char *path, int def, int *out) {
    static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
    node *n;
    int rc = get_node(c, path, &n);
    *out = def;
    if (rc || !n) return rc;
    for (int i = 0; n->kind == NODE_SCALAR && i < 3; i++) {
        if (!strcasecmp(n->text, yes[i])) return *out = 1, SM_OK;
        if (!strcasecmp(n->text, no[i])) return *out = 0, SM_OK;
    }
    char got[80];
    return node_error(n, path, strlen(path), "expected a boolean (true/false, yes/no, on/off), got %s",
                      describe(n, got, sizeof got));
}

/* "one of 'a', 'b', 'c'" into buf. */
static const char *list_choices(char *buf, size_t cap, const char *const *choices) {
    size_t used = (size_t)snprintf(buf, cap, "one of");
    for (int i = 0; choices[i] && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, "%s '%s'", i ? "," : "", choices[i]);
    return buf;
}

/* Check a present node is a string (any scalar), among choices if given. */
static int read_string(const node *n, const char *path, const char *const *choices, const char **out) {
    char want[512], got[80];
    if (n->kind != NODE_SCALAR)
        return node_error(n, path, strlen(path), "expected %s, got %s",
                          choices ? list_choices(want, sizeof want, choices) : "a string",
                          describe(n, got, sizeof got));
    if (choices) {
        int i = 0;
        while (choices[i] && strcmp(choices[i], n->text)) i++;
        if (!choices[i])
            return node_error(n, path, strlen(path), "expected %s, got %s", list_choices(want, sizeof want, choices),
                              describe(n, got, sizeof got));
    }
    *out = n->text;
    return SM_OK;
}

int sm_cfg_string(sm_cfg *c, const char *path, const char *def, const char *const *choices,
                  const char **out) {
    node *n;
    int rc = get_node(c, path, &n);
    *out = def;
    if (rc || !n) return rc;
    return read_string(n, path, choices, out);
}

int sm_cfg_string_required(sm_cfg *c, const char *path, const char *const *choices, const char **out) {
    node *n;
    int rc = get_node(c, path, &n);
    *out = NULL;
    if (rc) return rc;
    if (n) return read_string(n, path, choices, out);
    char want[512];
    const char *where = sm_cfg_where(c, path);
    return sm_error("%s%s: key '%s': required but missing or empty%s%s%s",
                    strncmp(where, "--set ", 6) ? "config " : "", where, path,
                    choices ? " (expected " : "", choices ? list_choices(want, sizeof want, choices) : "",
                    choices ? ")" : "");
}

int sm_cfg_int_list(sm_cfg *c, const char *path, int min_len, int max_len, long lo, long hi, long *out,
                    int *n) {
    node *seq;
    int rc = get_node(c, path, &seq);
    *n = 0;
    if (rc || !seq) return rc;
    char want[128], got[80];
    if (seq->kind != NODE_SEQUENCE)
        return node_error(seq, path, strlen(path), "expected a sequence of %s (like [1, 2]), got %s",
                          range_long(want, sizeof want, lo, hi), describe(seq, got, sizeof got));
    for (size_t i = 0; i < seq->n; i++) seq->items[i]->used = 1;
    if (seq->n < (size_t)min_len || seq->n > (size_t)max_len) {
        if (min_len == max_len)
            return node_error(seq, path, strlen(path), "expected exactly %d items, got %zu", min_len, seq->n);
        return node_error(seq, path, strlen(path), "expected %d to %d items, got %zu", min_len, max_len, seq->n);
    }
    sbuf item_path = {0};
    sbuf_str(&item_path, path);
    for (size_t i = 0; i < seq->n && !rc; i++) {
        sbuf_truncate(&item_path, strlen(path));
        path_push_index(&item_path, i);
        rc = read_long(seq->items[i], item_path.s, lo, hi, &out[i]);
    }
    free(item_path.s);
    if (!rc) *n = (int)seq->n;
    return rc;
}

int sm_cfg_seq_len(sm_cfg *c, const char *path, int *n) {
    node *seq;
    int rc = get_node(c, path, &seq);
    *n = 0;
    if (rc || !seq) return rc;
    char got[80];
    if (seq->kind != NODE_SEQUENCE)
        return node_error(seq, path, strlen(path), "expected a sequence, got %s", describe(seq, got, sizeof got));
    *n = (int)seq->n;
    return SM_OK;
}

int sm_cfg_mapping(sm_cfg *c, const char *path) {
    node *map;
    int rc = get_node(c, path, &map);
    if (rc || !map) return rc;
    char got[80];
    if (map->kind != NODE_MAPPING)
        return node_error(map, path, strlen(path), "expected a mapping, got %s", describe(map, got, sizeof got));
    return SM_OK;
}

/* ---- overrides (--set) -------------------------------------------------- */

int sm_cfg_set(sm_cfg *c, const char *assignment) {
    const char *eq = strchr(assignment, '=');
    if (!eq) return sm_error("--set %s: expected key.path=value", assignment);
    size_t key_len = (size_t)(eq - assignment);
    if (key_len == 0) return sm_error("--set %s: the key before '=' is empty", assignment);
    for (size_t i = 0; i < key_len; i++)
        if (assignment[i] == '.' && (i == 0 || i + 1 == key_len || assignment[i + 1] == '.'))
            return sm_error("--set %s: empty component in key '%.*s'", assignment, (int)key_len, assignment);

    sbuf text = {0};
    sbuf_str(&text, "--set ");
    sbuf_str(&text, assignment);
    const char *origin = strlist_add(&c->origins, text.s);
    sbuf_truncate(&text, 0);
    sbuf_add(&text, assignment, key_len); /* the key path, NUL-terminated */
    const char *key = text.s;

    node *value = NULL;
    int rc = SM_OK;
    if (!eq[1]) value = scalar_new("", 0, 1, origin, 0); /* "key=" sets the empty string */
    else if ((rc = parse_document(eq + 1, strlen(eq + 1), origin, 1, key, &value))) goto done;
    else if (!value) value = scalar_new("", 0, 0, origin, 0); /* only a comment: null */

    node *n = c->root;
    const char *p = key;
    for (;;) {
        const char *end = strchr(p, '.');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        int prefix = (int)((size_t)(p - key) - (p > key));
        node **slot = NULL;
        entry *e = NULL;
        char got[80];
        if (n->kind == NODE_MAPPING) {
            e = map_find(n, p, len);
            if (!e) e = map_add(n, p, len, origin, 0, NULL);
            slot = &e->value;
        } else if (n->kind == NODE_SEQUENCE) {
            size_t i;
            if (!parse_index(p, len, &i)) {
                rc = sm_error("%s: key '%.*s' is a sequence, '%.*s' is not an index", origin, prefix, key, (int)len, p);
                goto done;
            }
            if (i >= n->n) {
                rc = sm_error("%s: key '%.*s': index %zu does not exist (the sequence has %zu items; --set can "
                              "only replace existing items)",
                              origin, prefix, key, i, n->n);
                goto done;
            }
            slot = &n->items[i];
        } else {
            rc = sm_error("%s: key '%.*s': expected a mapping (to set '%.*s'), got %s", origin, prefix, key,
                          (int)len, p, describe(n, got, sizeof got));
            goto done;
        }
        if (!end) { /* replace (or fill) the slot */
            if (*slot) retire(c, *slot);
            *slot = value;
            value = NULL;
            if (e) e->origin = origin, e->line = 0;
            break;
        }
        if (!*slot || is_null(*slot)) { /* create the missing mapping */
            if (*slot) retire(c, *slot);
            *slot = node_new(NODE_MAPPING, origin, 0);
        }
        n = *slot;
        p = end + 1;
    }
    free(c->text);
    c->text = NULL;
done:
    node_free(value);
    free(text.s);
    return rc;
}

/* ---- re-emitting the document ------------------------------------------- */

/* Can this scalar be written plain and read back as the same plain text? */
static int plain_ok(const node *n) {
    const char *s = n->text;
    size_t len = strlen(s);
    double d;
    if (n->quoted || !len) return 0;
    if (parse_double(s, &d)) return 1;
    if (strchr("-?:,[]{}#&*!|>'\"%@` \t", s[0]) || s[len - 1] == ' ' || s[len - 1] == ':') return 0;
    if (strstr(s, ": ") || strstr(s, " #") || !strncmp(s, "---", 3) || !strncmp(s, "...", 3)) return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return 0;
    return 1;
}

static void emit_scalar(sbuf *b, const node *n) {
    if (plain_ok(n)) {
        sbuf_str(b, n->text);
        return;
    }
    if (!n->quoted && !n->text[0]) { /* null */
        sbuf_str(b, "~");
        return;
    }
    sbuf_add(b, "\"", 1);
    for (const unsigned char *s = (const unsigned char *)n->text; *s; s++) {
        char esc[8];
        if (*s == '"' || *s == '\\') snprintf(esc, sizeof esc, "\\%c", *s);
        else if (*s == '\n') snprintf(esc, sizeof esc, "\\n");
        else if (*s == '\t') snprintf(esc, sizeof esc, "\\t");
        else if (*s < 0x20 || *s == 0x7f) snprintf(esc, sizeof esc, "\\x%02x", *s);
        else snprintf(esc, sizeof esc, "%c", *s);
        sbuf_str(b, esc);
    }
    sbuf_add(b, "\"", 1);
}

static void emit_indent(sbuf *b, int indent) {
    for (int i = 0; i < indent; i++) sbuf_add(b, " ", 1);
}

/* Block style: a non-empty container on lines of its own at `indent`;
 * scalars and empty containers inline after "key: " or "- ". */
static void emit_node(sbuf *b, const node *n, int indent) {
    for (size_t i = 0; i < n->n; i++) {
        emit_indent(b, indent);
        if (n->kind == NODE_MAPPING) {
            node key = {.kind = NODE_SCALAR, .text = n->entries[i].key, .quoted = !n->entries[i].key[0]};
            emit_scalar(b, &key);
            sbuf_add(b, ":", 1);
        } else {
            sbuf_add(b, "-", 1);
        }
        const node *v = child(n, i);
        if (v->kind != NODE_SCALAR && v->n) {
            sbuf_add(b, "\n", 1);
            emit_node(b, v, indent + 2);
            continue;
        }
        sbuf_add(b, " ", 1);
        if (v->kind == NODE_MAPPING) sbuf_str(b, "{}");
        else if (v->kind == NODE_SEQUENCE) sbuf_str(b, "[]");
        else emit_scalar(b, v);
        sbuf_add(b, "\n", 1);
    }
}

const char *sm_cfg_text(sm_cfg *c) {
    if (c->text) return c->text;
    sbuf b = {0};
    if (c->root->n) emit_node(&b, c->root, 0);
    else sbuf_str(&b, "{}\n");
    c->text = b.s;
    return c->text;
}

/* ---- unknown keys ------------------------------------------------------- */

static int subtree_used(const node *n) {
    if (n->used) return 1;
    for (size_t i = 0; i < child_count(n); i++)
        if (subtree_used(child(n, i))) return 1;
    return 0;
}

/* Find the first unused node below n in document order (I4). On success path
 * holds its key path, and origin and line say where its key (or item) was written. */
static int find_unused(const node *n, sbuf *path, const char **origin, int *line) {
    size_t base = path->n;
    for (size_t i = 0; i < n->n; i++) {
        const node *v = child(n, i);
        if (n->kind == NODE_MAPPING) {
            path_push(path, n->entries[i].key, strlen(n->entries[i].key));
            *origin = n->entries[i].origin;
            *line = n->entries[i].line;
        } else {
            path_push_index(path, i);
            *origin = v->origin;
            *line = v->line;
        }
        int leaf = child_count(v) == 0;
        if (leaf ? !v->used : !subtree_used(v)) return 1;
        if (!leaf && find_unused(v, path, origin, line)) return 1;
        sbuf_truncate(path, base);
    }
    return 0;
}

static int edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 99;
    int row[64];
    for (size_t j = 0; j <= lb; j++) row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j];
            int best = diag + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best) best = row[j] + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* The asked-for path with the same parent whose last component is closest
 * (edit distance at most 2, and less than the unknown name's length), or NULL. */
static const char *suggest(const sm_cfg *c, const char *path) {
    const char *dot = strrchr(path, '.');
    size_t parent = dot ? (size_t)(dot - path) : 0;
    const char *last = dot ? dot + 1 : path;
    const char *best = NULL;
    int best_d = 3;
    for (size_t i = 0; i < c->asked.n; i++) {
        const char *a = c->asked.v[i], *adot = strrchr(a, '.');
        size_t aparent = adot ? (size_t)(adot - a) : 0;
        if (aparent != parent || memcmp(a, path, parent)) continue;
        int d = edit_distance(last, adot ? adot + 1 : a);
        if (d > 0 && d < best_d && d < (int)strlen(last)) best = a, best_d = d;
    }
    return best;
}

int sm_cfg_check_unused(sm_cfg *c) {
    sbuf path = {0};
    const char *origin = NULL;
    int line = 0, rc = SM_OK;
    sbuf_str(&path, "");
    if (find_unused(c->root, &path, &origin, &line)) {
        const char *hint = suggest(c, path.s);
        char where[64] = "";
        if (line > 0) snprintf(where, sizeof where, ":%d", line);
        rc = sm_error("%s%s%s: unknown key '%s'%s%s%s", line > 0 ? "config " : "", origin, where, path.s,
                      hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
    }
    free(path.s);
    return rc;
}
