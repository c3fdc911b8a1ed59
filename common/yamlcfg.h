#ifndef SC_YAMLCFG_H
#define SC_YAMLCFG_H

#include <stddef.h>

#include "err.h"

/* YAML (via libyaml) to a read-only node tree that remembers where every node
 * came from, so that config errors can say file:line:col (like h2o's yoml).
 *
 * What is accepted: block and flow scalars, sequences and mappings, several
 * documents in one stream (`---`).  What is refused, with a positioned error:
 * anchors and aliases, tags other than `!!str`, complex (non-scalar) mapping
 * keys, duplicate mapping keys, NUL characters in scalars, nesting deeper
 * than SC_YAML_MAX_DEPTH, more than SC_YAML_MAX_NODES nodes, and input larger
 * than SC_YAML_MAX_BYTES. */

#define SC_YAML_MAX_BYTES (4u * 1024u * 1024u)
#define SC_YAML_MAX_DEPTH 64
#define SC_YAML_MAX_NODES 200000u

enum sc_yaml_kind {
    SC_YAML_SCALAR = 1,
    SC_YAML_SEQ,
    SC_YAML_MAP,
};

/* One node.  The tree is immutable once built; every pointer is owned by the
 * stream that holds it. */
struct sc_yaml_node {
    enum sc_yaml_kind kind;
    int line; /* 1-based position of the node's first char */
    int col;
    const char *file; /* the stream's name, shared */

    /* SC_YAML_SCALAR: the text (NUL-terminated, no embedded NUL) and whether
     * it was written quoted / as a block scalar / tagged !!str (then it is
     * always a string, never null, a number or a boolean). */
    char *str;
    size_t len;
    int quoted;

    /* SC_YAML_SEQ: items[0..n).  SC_YAML_MAP: keys[i] (always scalars)
     * maps to items[i], in file order.  Unused arrays are NULL. */
    struct sc_yaml_node **keys;
    struct sc_yaml_node **items;
    size_t n;
};

/* A parsed stream: docs[0..n_docs) in file order.  Empty documents (a lone
 * `---`, or one holding only comments) are dropped. */
struct sc_yaml_stream {
    char *file;
    struct sc_yaml_node **docs;
    size_t n_docs;
    size_t n_nodes;
};

/* Parses len bytes of buf (need not be NUL-terminated); name appears in node
 * positions and errors.  Returns a new stream (free with sc_yaml_free), or
 * NULL with err filled, positioned when the problem has a position. */
struct sc_yaml_stream *sc_yaml_parse(const char *name, const char *buf, size_t len,
                                     struct sc_err *err);

/* Reads path (at most SC_YAML_MAX_BYTES) and parses it, naming it path. */
struct sc_yaml_stream *sc_yaml_parse_file(const char *path, struct sc_err *err);

/* Accepts NULL. */
void sc_yaml_free(struct sc_yaml_stream *s);

/* The value for key in a mapping, or NULL when map is not a mapping or has no
 * such key.  Borrowed. */
const struct sc_yaml_node *sc_yaml_get(const struct sc_yaml_node *map, const char *key);

/* The key node for key in a mapping (for error positions), or NULL. */
const struct sc_yaml_node *sc_yaml_get_key(const struct sc_yaml_node *map, const char *key);

/* 1 when n is NULL or the plain scalar null ("", "~", "null", "Null", "NULL"). */
int sc_yaml_is_null(const struct sc_yaml_node *n);

/* "a mapping", "a list", "a string", "null": for "expected X, got Y". */
const char *sc_yaml_kind_name(const struct sc_yaml_node *n);

#endif
