#include "casrc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <openssl/rand.h>

#include "ca.h"
#include "dirwatch.h"
#include "log.h"
#include "sdsserver.h"
#include "x509.h"

/* See casrc.h. */

#define MAX_SLEEP_MS 30000
#define DEBOUNCE_MS 200
#define RETRY_MS 5000
#define MAX_RETIRING 8

struct retiring {
    char *pem;
    size_t len;
    int64_t until_ms;
};

struct sc_ca_src {
    struct event_base *base;
    struct sc_sdsserver *srv;
    char *dir;
    char *spiffe_id;
    int64_t lifetime_ms;
    double renew_at;
    double jitter;
    int64_t overlap_ms;
    int64_t trust_wait_ms;
    struct sc_dirwatch *watch;
    struct event *tick_ev;
    struct sc_ca *ca; /* signs leaves */
    struct sc_ca *pending; /* new CA waiting for its roots to propagate */
    int64_t pending_since_ms;
    struct sc_ca_leaf leaf;
    int have_leaf;
    int64_t renew_ms;
    struct retiring retiring[MAX_RETIRING];
    size_t n_retiring;
    char *served_roots;
    size_t served_len;
    char last_problem[512];
    struct sc_ca_src_stats stats;
};

static double rnd01(void)
{
    uint64_t v = 0;

    if (RAND_bytes((unsigned char *)&v, sizeof(v)) != 1) {
        return 0.5;
    }
    return (double)(v >> 11) / 9007199254740992.0; /* 2^53 */
}

static const char *fmt_ms(int64_t ms, char *out, size_t outlen)
{
    return sc_time_rfc3339((time_t)(ms / 1000), out, outlen);
}

/* ---- roots -------------------------------------------------------------- */

/* ROOTCA = retiring ∪ active ∪ pending, oldest first (so that a switch
 * from pending to active does not reorder the bundle); pushed when it
 * changed. */
static void update_roots(struct sc_ca_src *c)
{
    char *acc = NULL, *next = NULL;
    size_t acc_len = 0, next_len = 0, i, n = 0;
    const char *pem;
    size_t len;
    struct sc_err err;
    struct sc_sds_secret sec;
    char desc[64];
    const struct sc_ca *cas[2] = {c->ca, c->pending};

    for (i = 0; i < c->n_retiring + 2; i++) {
        if (i < c->n_retiring) {
            pem = c->retiring[i].pem;
            len = c->retiring[i].len;
        } else {
            if (cas[i - c->n_retiring] == NULL) {
                continue;
            }
            pem = sc_ca_roots_pem(cas[i - c->n_retiring], &len);
        }
        if (sc_ca_bundle_union(acc == NULL ? "" : acc, acc_len, pem, len, &next, &next_len, &err) !=
            0) {
            sc_log(SC_LOG_ERR, NULL, "ca: building the root bundle: %s", err.msg);
            free(acc);
            return;
        }
        free(acc);
        acc = next;
        acc_len = next_len;
    }
    if (acc == NULL) {
        return;
    }
    if (c->served_roots != NULL && c->served_len == acc_len &&
        memcmp(c->served_roots, acc, acc_len) == 0) {
        free(acc);
        return;
    }
    for (i = 0; i + 27 <= acc_len; i++) {
        if (memcmp(acc + i, "-----BEGIN CERTIFICATE-----", 27) == 0) {
            n++;
        }
    }
    memset(&sec, 0, sizeof(sec));
    sec.name = (char *)(uintptr_t)SC_SDS_RESOURCE_ROOTCA;
    sec.trusted_ca_pem = acc;
    sec.trusted_ca_len = acc_len;
    snprintf(desc, sizeof(desc), "roots=%zu", n);
    sc_sdsserver_set(c->srv, &sec, desc);
    free(c->served_roots);
    c->served_roots = acc;
    c->served_len = acc_len;
}

/* Drops retiring roots whose overlap has ended. */
static void expire_retiring(struct sc_ca_src *c, int64_t now)
{
    size_t i = 0;
    char t[32];

    while (i < c->n_retiring) {
        if (c->retiring[i].until_ms <= now) {
            sc_log(SC_LOG_INFO, NULL,
                   "ca: root overlap ended at %s: dropping the old root(s) "
                   "from ROOTCA",
                   fmt_ms(c->retiring[i].until_ms, t, sizeof(t)));
            free(c->retiring[i].pem);
            memmove(&c->retiring[i], &c->retiring[i + 1],
                    sizeof(c->retiring[0]) * (c->n_retiring - i - 1));
            c->n_retiring--;
        } else {
            i++;
        }
    }
}

/* ---- leaves ------------------------------------------------------------- */

static void issue(struct sc_ca_src *c, int64_t now)
{
    struct sc_ca_leaf leaf;
    struct sc_err err;
    struct sc_sds_secret sec;
    char desc[256], na[32], ra[32], cadesc[400];

    if (sc_ca_mint(c->ca, c->spiffe_id, c->lifetime_ms, now, &leaf, &err) != 0) {
        c->stats.mint_failures++;
        sc_log(SC_LOG_ERR, NULL, "ca: minting a certificate for %s failed: %s; retrying in %ds",
               c->spiffe_id, err.msg, RETRY_MS / 1000);
        c->renew_ms = now + RETRY_MS;
        return;
    }
    c->stats.minted++;
    sc_ca_leaf_cleanup(&c->leaf);
    c->leaf = leaf;
    c->have_leaf = 1;
    c->renew_ms = sc_ca_renew_time(now, c->lifetime_ms, c->renew_at, c->jitter, rnd01());
    sc_time_rfc3339(leaf.not_after, na, sizeof(na));
    memset(&sec, 0, sizeof(sec));
    sec.name = (char *)(uintptr_t)SC_SDS_RESOURCE_DEFAULT;
    sec.cert_chain_pem = leaf.chain_pem;
    sec.cert_chain_len = leaf.chain_len;
    sec.private_key_pem = leaf.key_pem;
    sec.private_key_len = leaf.key_len;
    snprintf(desc, sizeof(desc), "serial=%s not_after=%s", leaf.serial, na);
    sc_log(SC_LOG_INFO, NULL, "ca: issued %s serial=%s not_after=%s renew_at=%s by %s",
           c->spiffe_id, leaf.serial, na, fmt_ms(c->renew_ms, ra, sizeof(ra)),
           sc_ca_describe(c->ca, cadesc, sizeof(cadesc)));
    sc_sdsserver_set(c->srv, &sec, desc);
}

/* The pending CA becomes the signer; its predecessor's roots retire. */
static void activate(struct sc_ca_src *c, int64_t now, const char *why)
{
    char t[32];
    size_t len;
    const char *pem;

    if (c->ca != NULL && !sc_ca_same_roots(c->ca, c->pending)) {
        if (c->n_retiring == MAX_RETIRING) {
            free(c->retiring[0].pem);
            memmove(&c->retiring[0], &c->retiring[1], sizeof(c->retiring[0]) * (MAX_RETIRING - 1));
            c->n_retiring--;
        }
        pem = sc_ca_roots_pem(c->ca, &len);
        c->retiring[c->n_retiring].pem = malloc(len + 1);
        if (c->retiring[c->n_retiring].pem != NULL) {
            memcpy(c->retiring[c->n_retiring].pem, pem, len + 1);
            c->retiring[c->n_retiring].len = len;
            c->retiring[c->n_retiring].until_ms = now + c->overlap_ms;
            c->n_retiring++;
        }
    }
    sc_log(SC_LOG_INFO, NULL,
           "ca: switching to the new CA (%s); old root(s) stay in ROOTCA until %s", why,
           fmt_ms(now + c->overlap_ms, t, sizeof(t)));
    sc_ca_free(c->ca);
    c->ca = c->pending;
    c->pending = NULL;
    issue(c, now);
    update_roots(c);
}

/* ---- the clock ---------------------------------------------------------- */

static void schedule(struct sc_ca_src *c, int64_t now)
{
    int64_t sleep = MAX_SLEEP_MS;
    struct timeval tv;
    size_t i;

    if (c->ca != NULL) {
        sleep = sc_ca_sleep_ms(now, c->renew_ms, sleep);
    }
    for (i = 0; i < c->n_retiring; i++) {
        sleep = sc_ca_sleep_ms(now, c->retiring[i].until_ms, sleep);
    }
    if (c->pending != NULL && sleep > 100) {
        sleep = 100; /* watch for the ACKs */
    }
    if (sleep < 10) {
        sleep = 10;
    }
    tv.tv_sec = (time_t)(sleep / 1000);
    tv.tv_usec = (suseconds_t)(sleep % 1000) * 1000;
    event_add(c->tick_ev, &tv);
}

static void tick(struct sc_ca_src *c)
{
    int64_t now = sc_ca_now_ms();
    char t[32];

    if (c->pending != NULL) {
        if (sc_sdsserver_all_answered(c->srv, SC_SDS_RESOURCE_ROOTCA)) {
            activate(c, now, "every subscriber answered the old+new root bundle");
        } else if (now - c->pending_since_ms >= c->trust_wait_ms) {
            activate(c, now, "trust_wait passed without every subscriber's answer");
        }
    }
    if (c->ca != NULL && (!c->have_leaf || sc_ca_renew_due(&c->leaf, c->renew_ms, now))) {
        if (c->have_leaf && now >= (int64_t)c->leaf.not_after * 1000) {
            sc_log(SC_LOG_WARN, NULL,
                   "ca: certificate serial=%s expired at %s before renewal "
                   "(suspended or clock jump?): renewing now",
                   c->leaf.serial, sc_time_rfc3339(c->leaf.not_after, t, sizeof(t)));
        } else if (c->have_leaf && now < (int64_t)c->leaf.not_before * 1000) {
            sc_log(SC_LOG_WARN, NULL,
                   "ca: the clock is before notBefore of serial=%s "
                   "(clock jumped back?): renewing now",
                   c->leaf.serial);
        }
        issue(c, now);
    }
    if (c->n_retiring > 0) {
        expire_retiring(c, now);
        update_roots(c);
    }
    schedule(c, now);
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    tick(arg);
}

/* ---- the directory ------------------------------------------------------ */

static void reload(struct sc_ca_src *c)
{
    struct sc_err err;
    struct sc_ca *n = sc_ca_load(c->dir, &err);
    const struct sc_ca *latest = c->pending != NULL ? c->pending : c->ca;
    char desc[400];
    int64_t now = sc_ca_now_ms();

    if (n == NULL) {
        if (strcmp(err.msg, c->last_problem) != 0) {
            snprintf(c->last_problem, sizeof(c->last_problem), "%s", err.msg);
            sc_log(SC_LOG_WARN, NULL, "ca %s: held back (%s): %s", c->dir,
                   c->ca != NULL ? "still signing with the previous CA" : "nothing served yet",
                   err.msg);
        }
        return;
    }
    c->last_problem[0] = '\0';
    if (latest != NULL && sc_ca_same_signer(latest, n) && sc_ca_same_roots(latest, n)) {
        sc_ca_free(n);
        return;
    }
    sc_ca_describe(n, desc, sizeof(desc));
    if (c->ca == NULL) {
        sc_log(SC_LOG_INFO, NULL, "ca %s: loaded CA %s", c->dir, desc);
        c->ca = n;
        update_roots(c);
        issue(c, now);
    } else if (sc_ca_same_roots(c->ca, n) && c->pending == NULL) {
        sc_log(SC_LOG_INFO, NULL, "ca %s: new signing CA %s under the same roots: reissuing",
               c->dir, desc);
        sc_ca_free(c->ca);
        c->ca = n;
        issue(c, now);
    } else {
        sc_ca_free(c->pending);
        c->pending = n;
        c->pending_since_ms = now;
        update_roots(c);
        sc_log(SC_LOG_INFO, NULL,
               "ca %s: new CA %s with new roots: serving old+new roots (version %s); the leaf "
               "is reissued once every subscriber has answered, at most %llds from now",
               c->dir, desc, sc_sdsserver_version(c->srv), (long long)(c->trust_wait_ms / 1000));
    }
    event_del(c->tick_ev);
    schedule(c, now);
}

static void on_change(void *arg)
{
    reload(arg);
}

struct sc_ca_src *sc_ca_src_new(struct event_base *base, const struct sc_ca_src_opts *o,
                                struct sc_sdsserver *srv, struct sc_err *err)
{
    struct sc_ca_src *c = calloc(1, sizeof(*c));

    if (c == NULL) {
        sc_err_set(err, "out of memory");
        return NULL;
    }
    c->base = base;
    c->srv = srv;
    c->dir = strdup(o->dir);
    c->spiffe_id = strdup(o->spiffe_id);
    c->lifetime_ms = o->lifetime_ms;
    c->renew_at = o->renew_at;
    c->jitter = o->jitter;
    c->overlap_ms = o->root_overlap_ms;
    c->trust_wait_ms = o->trust_wait_ms;
    c->tick_ev = evtimer_new(base, tick_cb, c);
    if (c->dir == NULL || c->spiffe_id == NULL || c->tick_ev == NULL) {
        sc_err_set(err, "out of memory");
        sc_ca_src_free(c);
        return NULL;
    }
    c->watch = sc_dirwatch_new(base, o->dir, DEBOUNCE_MS, on_change, c, err);
    if (c->watch == NULL) {
        sc_ca_src_free(c);
        return NULL;
    }
    reload(c);
    schedule(c, sc_ca_now_ms());
    return c;
}

void sc_ca_src_recheck(struct sc_ca_src *c)
{
    c->last_problem[0] = '\0';
    reload(c);
}

void sc_ca_src_get_stats(const struct sc_ca_src *c, struct sc_ca_src_stats *out)
{
    *out = c->stats;
}

const struct sc_ca *sc_ca_src_ca(const struct sc_ca_src *c)
{
    return c->ca;
}

const struct sc_ca_leaf *sc_ca_src_leaf(const struct sc_ca_src *c)
{
    return c->have_leaf ? &c->leaf : NULL;
}

const char *sc_ca_src_not_ready(const struct sc_ca_src *c, time_t now, char *buf, size_t len)
{
    struct sc_ca_cert_info ci;
    char t[32];

    if (c->ca == NULL) {
        snprintf(buf, len, "no CA loaded from %s%s%s", c->dir,
                 c->last_problem[0] != '\0' ? ": " : "", c->last_problem);
        return buf;
    }
    sc_ca_cert_info(c->ca, 0, &ci);
    if (ci.not_after <= now) {
        snprintf(buf, len, "the signing CA subject=\"%s\" serial=%s expired at %s", ci.subject,
                 ci.serial, sc_time_rfc3339(ci.not_after, t, sizeof(t)));
        return buf;
    }
    if (!c->have_leaf) {
        snprintf(buf, len, "no certificate minted yet");
        return buf;
    }
    if (c->leaf.not_after <= now) {
        snprintf(buf, len, "the certificate serial=%s expired at %s", c->leaf.serial,
                 sc_time_rfc3339(c->leaf.not_after, t, sizeof(t)));
        return buf;
    }
    return NULL;
}

void sc_ca_src_free(struct sc_ca_src *c)
{
    size_t i;

    if (c == NULL) {
        return;
    }
    sc_dirwatch_free(c->watch);
    if (c->tick_ev != NULL) {
        event_free(c->tick_ev);
    }
    sc_ca_free(c->ca);
    sc_ca_free(c->pending);
    sc_ca_leaf_cleanup(&c->leaf);
    for (i = 0; i < c->n_retiring; i++) {
        free(c->retiring[i].pem);
    }
    free(c->served_roots);
    free(c->dir);
    free(c->spiffe_id);
    free(c);
}
