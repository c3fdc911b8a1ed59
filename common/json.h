#ifndef SC_JSON_H
#define SC_JSON_H

#include <stddef.h>

/* A small JSON reader (RFC 8259) for the admin API's own documents: the
 * body of POST /diagnose in the sidecar, every answer in sidecarctl.  The
 * whole text is parsed into an immutable tree at once; a value is a
 * borrowed pointer into it, valid until sc_json_free.  Bounded: at most
 * SC_JSON_MAX_DEPTH nested arrays/objects and SC_JSON_MAX_VALUES values,
 * so a hostile text costs no more than its own size times a constant.
 *
 * Every accessor accepts NULL (and a value of the wrong type) and answers
 * "absent", so a caller can chain them:
 *   sc_json_str(sc_json_get(sc_json_get(root, "peer"), "subject"), "-")   */

struct sc_json; /* a parsed document */
struct sc_json_val; /* one value in it */
struct evbuffer;

#define SC_JSON_MAX_DEPTH 64
#define SC_JSON_MAX_VALUES 200000

enum sc_json_type {
    SC_JSON_NONE = 0, /* NULL pointer: absent */
    SC_JSON_NULL,
    SC_JSON_BOOL,
    SC_JSON_NUM,
    SC_JSON_STR,
    SC_JSON_ARR,
    SC_JSON_OBJ,
};

/* Parses len bytes of text (need not be NUL-terminated).  Returns a new
 * document (free with sc_json_free), or NULL with a reason and the byte
 * offset written to why. */
struct sc_json *sc_json_parse(const char *text, size_t len, char *why, size_t whylen);
void sc_json_free(struct sc_json *doc); /* accepts NULL */

/* The top-level value (borrowed). */
const struct sc_json_val *sc_json_root(const struct sc_json *doc);

enum sc_json_type sc_json_type(const struct sc_json_val *v);
/* An object's member by name (the first one), or NULL. */
const struct sc_json_val *sc_json_get(const struct sc_json_val *obj, const char *key);
/* Members of an array or object; 0 for anything else. */
size_t sc_json_len(const struct sc_json_val *v);
/* The i-th element of an array or member of an object, or NULL. */
const struct sc_json_val *sc_json_at(const struct sc_json_val *v, size_t i);
/* The key of the i-th member of an object, or NULL. */
const char *sc_json_key_at(const struct sc_json_val *obj, size_t i);

/* The value if it has that type, else dflt.  Strings are NUL-terminated
 * UTF-8 (an embedded \u0000 ends them early). */
const char *sc_json_str(const struct sc_json_val *v, const char *dflt);
double sc_json_num(const struct sc_json_val *v, double dflt);
int sc_json_bool(const struct sc_json_val *v, int dflt);

/* Appends s (NULL: "") as a JSON string literal, quotes included. */
void sc_json_put_str(struct evbuffer *out, const char *s);
/* Appends s as a string literal, or null when s is NULL. */
void sc_json_put_str_or_null(struct evbuffer *out, const char *s);

#endif
