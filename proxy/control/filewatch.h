#ifndef SC_FILEWATCH_H
#define SC_FILEWATCH_H

struct event_base;
struct sc_runtime;
struct sc_filewatch;

/* File-mode certificates (secrets.cert_chain / private_key / trusted_ca):
 * loads them now, then watches their directories with inotify and reloads
 * them, validated and all three together, when they change (Kubernetes
 * updates mounted Secrets by swapping a ..data symlink, so every event in
 * those directories counts; changes are debounced so a half-written pair
 * is read only once complete).  A set that does not validate is logged,
 * counted and ignored: the running certificates stay. */
struct sc_filewatch *sc_filewatch_new(struct event_base *base, struct sc_runtime *rt);

/* Re-reads the files now (SIGHUP); 0 when new certificates were installed
 * or nothing changed, -1 when they did not validate. */
int sc_filewatch_reload(struct sc_filewatch *fw);

void sc_filewatch_free(struct sc_filewatch *fw);

#endif
