#ifndef SC_FILES_H
#define SC_FILES_H

#include <stddef.h>
#include <time.h>

#include "err.h"

struct event_base;
struct sc_sdsserver;

/* The agent's "files" source: a directory of PEM files in either
 *   cert-manager's layout: tls.crt (chain), tls.key, ca.crt (roots), or
 *   Istio's layout:        cert-chain.pem, key.pem, root-cert.pem,
 * validated before anything is served (key matches the leaf, the chain
 * leads to one of the roots, the leaf is valid now). */

enum sc_files_layout {
    SC_FILES_UNKNOWN = 0,
    SC_FILES_CERT_MANAGER,
    SC_FILES_ISTIO,
};

/* One validated reading of the directory.  All owned. */
struct sc_files_set {
    enum sc_files_layout layout;
    char *chain;
    size_t chain_len;
    char *key;
    size_t key_len;
    char *roots;
    size_t roots_len;
    char serial[80]; /* the leaf's, hex */
    time_t not_after;
    int n_roots;
    /* the root that expires first: its notAfter, subject and serial */
    time_t root_not_after;
    char root_subject[256];
    char root_serial[80];
};

/* Which layout dir holds (by which chain file exists); SC_FILES_UNKNOWN
 * when neither. */
enum sc_files_layout sc_files_detect(const char *dir);
const char *sc_files_layout_name(enum sc_files_layout l);

/* Reads and validates the three files at `now` (0: skip the validity
 * window).  Returns 0 with *out filled, or -1 with err saying which file
 * and what is wrong (and *out zeroed). */
int sc_files_read(const char *dir, time_t now, struct sc_files_set *out, struct sc_err *err);
void sc_files_set_cleanup(struct sc_files_set *s);

/* The running source: watches dir (inotify, 200 ms debounce, plus a look
 * every 30 s), and pushes each new valid set to srv ("ROOTCA" first, then
 * "default").  An invalid set (a half-written pair, a broken PEM) is held
 * back with one WARN per distinct problem; the last good one keeps being
 * served.  An expired served leaf is logged as an ERROR. */
struct sc_files_src;

struct sc_files_src *sc_files_src_new(struct event_base *base, const char *dir,
                                      struct sc_sdsserver *srv, struct sc_err *err);
/* Re-reads the directory now (SIGHUP). */
void sc_files_src_recheck(struct sc_files_src *f);
void sc_files_src_free(struct sc_files_src *f);

/* The set served now, or NULL before the first valid one.  Borrowed: it is
 * replaced when the loop runs again (do not keep it across callbacks). */
const struct sc_files_set *sc_files_src_current(const struct sc_files_src *f);

/* NULL when a valid set is served and its leaf has not expired at now;
 * otherwise the reason, written into buf (returned). */
const char *sc_files_src_not_ready(const struct sc_files_src *f, time_t now, char *buf, size_t len);

#endif
