#include "yamlcfg.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "readfile.h"

#define TAG_STR "tag:yaml.org,2002:str"

struct builder {
    yaml_parser_t parser;
    struct sc_yaml_stream *s;
    struct sc_err *err;
    const char *buf;
    size_t len;
};

static void node_free(struct sc_yaml_node *n)
{
    if (n == NULL) {
        return;
    }
    for (size_t i = 0; i < n->n; i++) {
        if (n->keys != NULL) {
            node_free(n->keys[i]);
        }
        if (n->items != NULL) {
            node_free(n->items[i]);
        }
    }
    free(n->keys);
    free(n->items);
    free(n->str);
    free(n);
}

void sc_yaml_free(struct sc_yaml_stream *s)
{
    if (s == NULL) {
        return;
    }
    for (size_t i = 0; i < s->n_docs; i++) {
        node_free(s->docs[i]);
    }
    free(s->docs);
    free(s->file);
    free(s);
}

static int mark_line(const yaml_mark_t *m)
{
    return m->line >= INT32_MAX ? INT32_MAX : (int)m->line + 1;
}

static int mark_col(const yaml_mark_t *m)
{
    return m->column >= INT32_MAX ? INT32_MAX : (int)m->column + 1;
}

static void fail_at(struct builder *b, const yaml_mark_t *m, const char *msg, const char *arg)
{
    if (arg != NULL) {
        sc_err_at(b->err, b->s->file, mark_line(m), mark_col(m), "%s%s", msg, arg);
    } else {
        sc_err_at(b->err, b->s->file, mark_line(m), mark_col(m), "%s", msg);
    }
}

/* Reader errors carry a byte offset rather than a mark: count lines. */
static void offset_pos(const struct builder *b, size_t off, int *line, int *col)
{
    int l = 1;
    int c = 1;

    for (size_t i = 0; i < off && i < b->len; i++) {
        if (b->buf[i] == '\n') {
            l++;
            c = 1;
        } else if (((unsigned char)b->buf[i] & 0xC0) != 0x80) {
            c++;
        }
        if (l == INT32_MAX || c == INT32_MAX) {
            break;
        }
    }
    *line = l;
    *col = c;
}

static void parser_fail(struct builder *b)
{
    const yaml_parser_t *p = &b->parser;
    const char *problem = p->problem != NULL ? p->problem : "unknown error";
    int line = 0;
    int col = 0;

    switch (p->error) {
    case YAML_MEMORY_ERROR:
        sc_err_at(b->err, b->s->file, 0, 0, "out of memory while parsing YAML");
        return;
    case YAML_READER_ERROR:
        offset_pos(b, p->problem_offset, &line, &col);
        sc_err_at(b->err, b->s->file, line, col, "YAML syntax error: %s", problem);
        return;
    default:
        break;
    }
    line = mark_line(&p->problem_mark);
    col = mark_col(&p->problem_mark);
    if (p->context != NULL) {
        sc_err_at(b->err, b->s->file, line, col,
                  "YAML syntax error: %s (%s that started at line %d, column %d)", problem,
                  p->context, mark_line(&p->context_mark), mark_col(&p->context_mark));
    } else {
        sc_err_at(b->err, b->s->file, line, col, "YAML syntax error: %s", problem);
    }
}

static int next_event(struct builder *b, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&b->parser, ev)) {
        parser_fail(b);
        return -1;
    }
    return 0;
}

static struct sc_yaml_node *node_new(struct builder *b, enum sc_yaml_kind kind,
                                     const yaml_mark_t *m)
{
    struct sc_yaml_node *n;

    if (b->s->n_nodes >= SC_YAML_MAX_NODES) {
        fail_at(b, m, "too many YAML nodes (the limit is 200000)", NULL);
        return NULL;
    }
    n = calloc(1, sizeof(*n));
    if (n == NULL) {
        fail_at(b, m, "out of memory", NULL);
        return NULL;
    }
    b->s->n_nodes++;
    n->kind = kind;
    n->line = mark_line(m);
    n->col = mark_col(m);
    n->file = b->s->file;
    return n;
}

/* Appends child (and key, for mappings) to n, growing the arrays. */
static int append(struct builder *b, struct sc_yaml_node *n, struct sc_yaml_node *key,
                  struct sc_yaml_node *child, size_t *cap)
{
    if (n->n == *cap) {
        size_t ncap = *cap == 0 ? 4 : *cap * 2;
        struct sc_yaml_node **items = realloc(n->items, ncap * sizeof(*items));

        if (items == NULL) {
            goto oom;
        }
        n->items = items;
        if (n->kind == SC_YAML_MAP) {
            struct sc_yaml_node **keys = realloc(n->keys, ncap * sizeof(*keys));

            if (keys == NULL) {
                goto oom;
            }
            n->keys = keys;
        }
        *cap = ncap;
    }
    if (n->kind == SC_YAML_MAP) {
        n->keys[n->n] = key;
    }
    n->items[n->n] = child;
    n->n++;
    return 0;

oom:
    sc_err_at(b->err, b->s->file, n->line, n->col, "out of memory");
    return -1;
}

static int check_props(struct builder *b, const yaml_event_t *ev, const yaml_char_t *anchor,
                       const yaml_char_t *tag, int scalar, int *is_str)
{
    if (anchor != NULL) {
        fail_at(b, &ev->start_mark, "YAML anchors (&) and aliases (*) are not supported", NULL);
        return -1;
    }
    if (tag != NULL) {
        if (scalar && strcmp((const char *)tag, TAG_STR) == 0) {
            *is_str = 1;
            return 0;
        }
        fail_at(b, &ev->start_mark, "unsupported YAML tag ", (const char *)tag);
        return -1;
    }
    return 0;
}

static int key_cmp(const void *a, const void *b)
{
    const struct sc_yaml_node *const *x = a;
    const struct sc_yaml_node *const *y = b;
    int c = strcmp((*x)->str, (*y)->str);

    if (c != 0) {
        return c;
    }
    /* stable by position so the duplicate reported is the later one */
    if ((*x)->line != (*y)->line) {
        return (*x)->line < (*y)->line ? -1 : 1;
    }
    return (*x)->col < (*y)->col ? -1 : ((*x)->col > (*y)->col);
}

static int check_dup_keys(struct builder *b, const struct sc_yaml_node *map)
{
    const struct sc_yaml_node **sorted;

    if (map->n < 2) {
        return 0;
    }
    sorted = malloc(map->n * sizeof(*sorted));
    if (sorted == NULL) {
        sc_err_at(b->err, b->s->file, map->line, map->col, "out of memory");
        return -1;
    }
    memcpy(sorted, map->keys, map->n * sizeof(*sorted));
    qsort(sorted, map->n, sizeof(*sorted), key_cmp);
    for (size_t i = 1; i < map->n; i++) {
        if (strcmp(sorted[i - 1]->str, sorted[i]->str) == 0) {
            sc_err_at(b->err, b->s->file, sorted[i]->line, sorted[i]->col,
                      "duplicate key \"%.200s\" (first at line %d, column %d)", sorted[i]->str,
                      sorted[i - 1]->line, sorted[i - 1]->col);
            free(sorted);
            return -1;
        }
    }
    free(sorted);
    return 0;
}

static struct sc_yaml_node *build(struct builder *b, yaml_event_t *ev, int depth);

static struct sc_yaml_node *build_scalar(struct builder *b, yaml_event_t *ev)
{
    struct sc_yaml_node *n = NULL;
    int is_str = 0;
    size_t len = ev->data.scalar.length;

    if (check_props(b, ev, ev->data.scalar.anchor, ev->data.scalar.tag, 1, &is_str) != 0) {
        return NULL;
    }
    if (memchr(ev->data.scalar.value, '\0', len) != NULL) {
        fail_at(b, &ev->start_mark, "NUL characters are not allowed in values", NULL);
        return NULL;
    }
    n = node_new(b, SC_YAML_SCALAR, &ev->start_mark);
    if (n == NULL) {
        return NULL;
    }
    n->str = malloc(len + 1);
    if (n->str == NULL) {
        fail_at(b, &ev->start_mark, "out of memory", NULL);
        node_free(n);
        return NULL;
    }
    memcpy(n->str, ev->data.scalar.value, len);
    n->str[len] = '\0';
    n->len = len;
    n->quoted = is_str || ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
    return n;
}

static struct sc_yaml_node *build_collection(struct builder *b, yaml_event_t *ev, int depth)
{
    int is_map = ev->type == YAML_MAPPING_START_EVENT;
    yaml_event_type_t end = is_map ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT;
    struct sc_yaml_node *n = NULL;
    struct sc_yaml_node *key = NULL;
    struct sc_yaml_node *val = NULL;
    size_t cap = 0;
    int dummy = 0;
    yaml_event_t child;

    if (is_map) {
        if (check_props(b, ev, ev->data.mapping_start.anchor, ev->data.mapping_start.tag, 0,
                        &dummy) != 0) {
            return NULL;
        }
    } else if (check_props(b, ev, ev->data.sequence_start.anchor, ev->data.sequence_start.tag, 0,
                           &dummy) != 0) {
        return NULL;
    }
    if (depth >= SC_YAML_MAX_DEPTH) {
        fail_at(b, &ev->start_mark, "YAML nesting is deeper than 64 levels", NULL);
        return NULL;
    }
    n = node_new(b, is_map ? SC_YAML_MAP : SC_YAML_SEQ, &ev->start_mark);
    if (n == NULL) {
        return NULL;
    }
    for (;;) {
        if (next_event(b, &child) != 0) {
            goto fail;
        }
        if (child.type == end) {
            yaml_event_delete(&child);
            break;
        }
        if (is_map) {
            key = build(b, &child, depth + 1);
            if (key == NULL) {
                goto fail;
            }
            if (key->kind != SC_YAML_SCALAR) {
                sc_err_at(b->err, b->s->file, key->line, key->col,
                          "mapping keys must be plain strings, not %s", sc_yaml_kind_name(key));
                goto fail;
            }
            if (next_event(b, &child) != 0) {
                goto fail;
            }
        }
        val = build(b, &child, depth + 1);
        if (val == NULL) {
            goto fail;
        }
        if (append(b, n, key, val, &cap) != 0) {
            goto fail;
        }
        key = NULL;
        val = NULL;
    }
    if (is_map && check_dup_keys(b, n) != 0) {
        goto fail;
    }
    return n;

fail:
    node_free(val);
    node_free(key);
    node_free(n);
    return NULL;
}

/* Builds the node that starts with ev; consumes (deletes) ev. */
static struct sc_yaml_node *build(struct builder *b, yaml_event_t *ev, int depth)
{
    struct sc_yaml_node *n = NULL;

    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        n = build_scalar(b, ev);
        break;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        n = build_collection(b, ev, depth);
        break;
    case YAML_ALIAS_EVENT:
        fail_at(b, &ev->start_mark, "YAML anchors (&) and aliases (*) are not supported", NULL);
        break;
    default:
        fail_at(b, &ev->start_mark, "unexpected YAML event", NULL);
        break;
    }
    yaml_event_delete(ev);
    return n;
}

static int add_doc(struct builder *b, struct sc_yaml_node *root, size_t *cap)
{
    struct sc_yaml_stream *s = b->s;

    if (s->n_docs == *cap) {
        size_t ncap = *cap == 0 ? 4 : *cap * 2;
        struct sc_yaml_node **docs = realloc(s->docs, ncap * sizeof(*docs));

        if (docs == NULL) {
            sc_err_at(b->err, s->file, root->line, root->col, "out of memory");
            return -1;
        }
        s->docs = docs;
        *cap = ncap;
    }
    s->docs[s->n_docs++] = root;
    return 0;
}

/* Reads the whole stream: STREAM-START (DOCUMENT-START node DOCUMENT-END)*
 * STREAM-END. */
static int build_stream(struct builder *b)
{
    yaml_event_t ev;
    size_t cap = 0;

    if (next_event(b, &ev) != 0) {
        return -1;
    }
    yaml_event_delete(&ev); /* STREAM-START */
    for (;;) {
        struct sc_yaml_node *root;

        if (next_event(b, &ev) != 0) {
            return -1;
        }
        if (ev.type == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            return 0;
        }
        yaml_event_delete(&ev); /* DOCUMENT-START */
        if (next_event(b, &ev) != 0) {
            return -1;
        }
        root = build(b, &ev, 0);
        if (root == NULL) {
            return -1;
        }
        if (sc_yaml_is_null(root)) {
            node_free(root);
        } else if (add_doc(b, root, &cap) != 0) {
            node_free(root);
            return -1;
        }
        if (next_event(b, &ev) != 0) {
            return -1;
        }
        yaml_event_delete(&ev); /* DOCUMENT-END */
    }
}

struct sc_yaml_stream *sc_yaml_parse(const char *name, const char *buf, size_t len,
                                     struct sc_err *err)
{
    struct builder b;
    int parser_ready = 0;

    memset(&b, 0, sizeof(b));
    b.err = err;
    b.buf = buf;
    b.len = len;
    b.s = calloc(1, sizeof(*b.s));
    if (b.s == NULL) {
        sc_err_at(err, name, 0, 0, "out of memory");
        goto fail;
    }
    b.s->file = strdup(name != NULL ? name : "<string>");
    if (b.s->file == NULL) {
        sc_err_at(err, name, 0, 0, "out of memory");
        goto fail;
    }
    if (len > SC_YAML_MAX_BYTES) {
        sc_err_at(err, b.s->file, 0, 0, "input is larger than %u bytes",
                  (unsigned)SC_YAML_MAX_BYTES);
        goto fail;
    }
    if (!yaml_parser_initialize(&b.parser)) {
        sc_err_at(err, b.s->file, 0, 0, "out of memory");
        goto fail;
    }
    parser_ready = 1;
    yaml_parser_set_input_string(&b.parser, (const unsigned char *)buf, len);
    if (build_stream(&b) != 0) {
        goto fail;
    }
    yaml_parser_delete(&b.parser);
    return b.s;

fail:
    if (parser_ready) {
        yaml_parser_delete(&b.parser);
    }
    sc_yaml_free(b.s);
    return NULL;
}

struct sc_yaml_stream *sc_yaml_parse_file(const char *path, struct sc_err *err)
{
    struct sc_yaml_stream *s;
    char *buf = NULL;
    size_t len = 0;

    if (sc_read_file(path, SC_YAML_MAX_BYTES, 0, &buf, &len) != 0) {
        if (errno == EFBIG) {
            sc_err_at(err, path, 0, 0, "input is larger than %u bytes",
                      (unsigned)SC_YAML_MAX_BYTES);
        } else {
            sc_err_at(err, path, 0, 0, "cannot read %s: %s", path, strerror(errno));
        }
        return NULL;
    }
    s = sc_yaml_parse(path, buf, len, err);
    free(buf);
    return s;
}

const struct sc_yaml_node *sc_yaml_get_key(const struct sc_yaml_node *map, const char *key)
{
    if (map == NULL || map->kind != SC_YAML_MAP) {
        return NULL;
    }
    for (size_t i = 0; i < map->n; i++) {
        if (strcmp(map->keys[i]->str, key) == 0) {
            return map->keys[i];
        }
    }
    return NULL;
}

const struct sc_yaml_node *sc_yaml_get(const struct sc_yaml_node *map, const char *key)
{
    if (map == NULL || map->kind != SC_YAML_MAP) {
        return NULL;
    }
    for (size_t i = 0; i < map->n; i++) {
        if (strcmp(map->keys[i]->str, key) == 0) {
            return map->items[i];
        }
    }
    return NULL;
}

int sc_yaml_is_null(const struct sc_yaml_node *n)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};

    if (n == NULL) {
        return 1;
    }
    if (n->kind != SC_YAML_SCALAR || n->quoted) {
        return 0;
    }
    for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++) {
        if (strcmp(n->str, nulls[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

const char *sc_yaml_kind_name(const struct sc_yaml_node *n)
{
    if (sc_yaml_is_null(n)) {
        return "null";
    }
    switch (n->kind) {
    case SC_YAML_MAP:
        return "a mapping";
    case SC_YAML_SEQ:
        return "a list";
    case SC_YAML_SCALAR:
        break;
    }
    return "a string";
}
