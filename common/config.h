#ifndef SC_CONFIG_H
#define SC_CONFIG_H

#include <stddef.h>

#include "addr.h"
#include "err.h"

/* The typed sidecar configuration, built from one YAML file (DESIGN.md,
 * "Configuration").  Built once by sc_config_load, immutable afterwards, and
 * freed by sc_config_free.  All strings and arrays are owned by the config. */

enum sc_mtls_mode { /* Istio PeerAuthentication modes */
                    SC_MTLS_UNSET = 0,
                    SC_MTLS_DISABLE,
                    SC_MTLS_PERMISSIVE,
                    SC_MTLS_STRICT,
};

enum sc_tls_mode { /* Istio DestinationRule trafficPolicy.tls.mode */
                   SC_TLS_UNSET = 0,
                   SC_TLS_DISABLE,
                   SC_TLS_ISTIO_MUTUAL,
                   SC_TLS_SIMPLE,
                   SC_TLS_MUTUAL,
};

enum sc_proto {
    SC_PROTO_TCP = 0,
    SC_PROTO_HTTP,
    SC_PROTO_AUTO,
};

/* How an outbound ISTIO_MUTUAL route reaches its destination: one mTLS
 * connection per app connection (tls), or a CONNECT stream on a pooled
 * HTTP/2 mTLS connection to the destination's HBONE port (hbone). */
enum sc_transport {
    SC_TRANSPORT_TLS = 0,
    SC_TRANSPORT_HBONE,
};

enum sc_direction {
    SC_DIR_INBOUND = 0,
    SC_DIR_OUTBOUND,
};

struct sc_strv { /* a list of strings */
    char **v;
    size_t n;
};

struct sc_label {
    char *key;
    char *value;
};

/* Extra TLS files a route may name for SIMPLE / MUTUAL (DestinationRule
 * clientCertificate, privateKey, caCertificates, sni, caCrl). */
struct sc_cfg_tls_files {
    char *ca_certificates;
    char *ca_crl; /* DestinationRule caCrl: PEM CRLs, NULL = none */
    char *client_certificate;
    char *private_key;
    char *sni;
};

struct sc_cfg_timeouts { /* all in milliseconds */
    int connect_ms; /* upstream TCP connect, default 10000 */
    int handshake_ms; /* TLS handshake either side, default 10000 */
    int idle_ms; /* no bytes either way, default 3600000 */
    int sniff_ms; /* PERMISSIVE first-bytes wait, default 5000 */
    int request_headers_ms; /* HTTP: first byte to complete head, default 10000 */
    int request_ms; /* HTTP: head complete to response complete, default 15000 */
    int upstream_idle_ms; /* HTTP pool: idle upstream connections close, default 4000 */
    int drain_ms; /* SIGTERM / drain: longest wait for open connections, default 5000 */
    int half_closed_ms; /* L4: one side ended and no byte moves since, default 60000 */
};

/* inbound.ports[] */
struct sc_cfg_inport {
    int port; /* the app's container port */
    enum sc_proto protocol;
    struct sc_strv allowed_principals; /* SPIFFE IDs, "*" suffix = prefix match */
    struct sc_cfg_timeouts timeouts; /* YAML "timeouts": resolved, global ones
                                        * where the entry sets none */
};

/* outbound.routes[] and outbound.default */
struct sc_cfg_route {
    char *host; /* may be NULL */
    int has_cidr;
    struct sc_cidr cidr;
    int port; /* 0 = any port */
    enum sc_proto protocol;
    enum sc_tls_mode tls; /* resolved: explicit tls:, else the
                                        * DestinationRule's, else ISTIO_MUTUAL
                                        * for routes and DISABLE for default */
    char *dest_rule; /* "namespace/name" of the DestinationRule
                                        * that set tls, or NULL */
    struct sc_cfg_tls_files tls_files;
    struct sc_strv expected_identities; /* empty = any ID in our trust domain */
    struct sc_cfg_timeouts timeouts; /* resolved, as for inbound ports */
    char tls_from[160]; /* what decided tls: "tls: set on it", "DestinationRule
                                        * NS/NAME" or "default" */
    enum sc_transport transport; /* resolved: route's transport:, else
                                        * outbound.default_transport when tls is
                                        * ISTIO_MUTUAL, else tls */
    int has_transport; /* transport: given on the route */
    int hbone_port; /* the destination's HBONE port; 0 = the
                                        * top-level hbone_port */
};

/* listeners[] */
struct sc_cfg_listener {
    char *name;
    enum sc_direction direction;
    struct sc_addr address;
    struct sc_addr upstream;
    char *host; /* outbound: what DestinationRules match */
    int port; /* inbound: whose PeerAuthentication applies;
                                        * default: the upstream's port */
    enum sc_proto protocol;
    enum sc_tls_mode tls; /* outbound, resolved as for routes */
    char *dest_rule; /* outbound: as for routes */
    struct sc_cfg_tls_files tls_files;
    struct sc_strv expected_identities; /* outbound */
    struct sc_strv allowed_principals; /* inbound */
    struct sc_cfg_timeouts timeouts; /* resolved, as for inbound ports */
    char tls_from[160]; /* outbound: as for routes */
    enum sc_transport transport; /* inbound: hbone = an HBONE listener
                                        * (mTLS + HTTP/2 CONNECT streams);
                                        * outbound: resolved as for routes, the
                                        * tunnel going to upstream's address on
                                        * hbone_port */
    int hbone_port; /* outbound: as for routes */
};


/* HTTP/1.1 (protocol http or auto): the upstream pool and identity headers. */
struct sc_cfg_http {
    int max_connections; /* per upstream, default 1024 */
    int max_pending; /* requests waiting for a connection, default 1024 */
    int retries; /* retries of a request that never reached the upstream, default 1 */
    char *xfcc; /* Envoy forward_client_cert_details, default SANITIZE_SET */
};

struct sc_cfg_access_log {
    char *path; /* "stdout" (default), "off", or a file */
    char *format; /* "text" (Envoy's default format), "json" or
                                        "istio" (Istio's default text format) */
};

struct sc_policy; /* Istio PeerAuthentication set, see policy.h */

struct sc_config {
    char *path; /* the file it came from */

    struct {
        char *id; /* default "sidecar" */
        char *trust_domain; /* default "cluster.local" */
        char *namespace_; /* YAML key "namespace", default "default" */
        char *root_namespace; /* YAML key "root_namespace", default "istio-system" */
        struct sc_label *labels;
        size_t n_labels;
    } node;

    int workers; /* resolved: 0 in YAML becomes the core count */
    char *log_level; /* "debug" | "info" | "warn" | "error" */

    struct {
        char *sds_socket;
        char *cert_chain;
        char *private_key;
        char *trusted_ca;
        char *crl; /* PEM CRLs (files mode), NULL = none */
        struct sc_label *trust_bundles; /* trust domain -> bundle file (PEM or
                                      * SPIFFE bundle JSON) of a federated domain */
        size_t n_trust_bundles;
        int expiry_warning_days; /* WARN this long before notAfter, default 7 */
        int root_grace_hours; /* on_root_expiry: 0 = refuse (default), else
                                      * accept an expired root this many hours */
        char *sds_cert_name; /* SDS resource for our chain+key, default "default" */
        char *sds_root_name; /* SDS resource for the trust bundle, default "ROOTCA" */
    } secrets;

    int has_admin, has_health, has_stats;
    struct sc_addr admin, health, stats;
    char *admin_unix; /* admin.unix_socket: also serve admin on this
                                      * Unix socket (mode 0600), NULL = no */

    int has_inbound;
    struct {
        struct sc_addr address;
        char *app_host; /* numeric, default 127.0.0.1 */
        struct sc_cfg_inport *ports;
        size_t n_ports;
        int has_hbone; /* the HBONE listener is on (default when
                                      * inbound is configured; "off" turns it off) */
        int hbone_explicit; /* hbone_address given: a bind failure is fatal */
        struct sc_addr hbone_address; /* YAML "hbone_address", default 0.0.0.0:15008 */
    } inbound;

    int has_outbound;
    struct {
        struct sc_addr address;
        struct sc_cfg_route *routes;
        size_t n_routes;
        struct sc_cfg_route def; /* YAML key "default" */
        enum sc_transport default_transport; /* YAML "default_transport": hbone|tls,
                                      * default tls */
        int require_expected_identities; /* YAML bool: an ISTIO_MUTUAL route or
                                          * listener with no expected identity
                                          * is a load error, not a WARN */
    } outbound;

    struct sc_cfg_listener *listeners;
    size_t n_listeners;

    struct sc_cfg_timeouts timeouts; /* YAML key "timeouts" */
    struct sc_cfg_http http; /* YAML key "http" */
    struct sc_cfg_access_log access_log; /* YAML key "access_log" */
    unsigned socket_mark; /* YAML "socket_mark": SO_MARK on every upstream
                                      * socket (iptables exempts the proxy's own
                                      * traffic by it); 0 = none */
    size_t buffer_limit; /* YAML "buffer_limit_bytes": relay high
                                      * watermark per direction, default 1 MiB */
    char *tls_groups; /* YAML "tls.groups" (a list), joined with ':'
                                      * for OpenSSL; default SC_TLS_DEFAULT_GROUPS */
    struct {
        int handshakes_per_second_per_source; /* downstream TLS handshakes per client
                                      * address, per worker; default 200, 0 = none */
        int max_connections; /* open connections per listener and worker;
                                      * beyond, closed at once; default 16384 */
    } limits; /* YAML key "limits" */

    struct {
        int port; /* YAML top-level "hbone_port" (or
                                      * outbound.hbone_port): the destination's
                                      * HBONE port, default 15008 */
        int max_streams_per_connection; /* YAML "hbone.max_streams_per_connection",
                                      * default 100 */
        int idle_ms; /* YAML "hbone.idle_ms": an outbound tunnel
                                      * with no stream closes, default 60000 */
    } hbone;

    struct sc_policy *policy; /* PeerAuthentication documents, owned */

    int refs_; /* see sc_config_ref; not for callers */
};

/* Reads and validates path.  On success returns 0 and a new config in *out
 * (free with sc_config_free).  On failure returns -1 and fills err with
 * file:line:col and a message that names the key path, e.g.
 * "listeners[1].port: 70000 is out of range 1..65535".  Besides syntax it
 * checks that certificate files exist and that the private key matches the
 * certificate chain. */
int sc_config_load(const char *path, struct sc_config **out, struct sc_err *err);

/* Same, from a string (tests); name is used in messages. */
int sc_config_load_string(const char *name, const char *yaml, struct sc_config **out,
                          struct sc_err *err);

/* Same, from len bytes of buf (need not be NUL-terminated; fuzzing). */
int sc_config_load_mem(const char *name, const char *buf, size_t len, struct sc_config **out,
                       struct sc_err *err);

/* A config is immutable and may be shared by several snapshots (a
 * certificate rotation keeps the config): sc_config_ref returns cfg with one
 * more reference, and sc_config_free drops one, freeing on the last. */
struct sc_config *sc_config_ref(struct sc_config *cfg);
void sc_config_free(struct sc_config *cfg);

/* The PeerAuthentication mode for the workload's port, resolved with Istio's
 * precedence; never UNSET (the top-level default is PERMISSIVE). */
enum sc_mtls_mode sc_config_port_mode(const struct sc_config *cfg, int port);

/* The inbound.ports entry for port, or NULL. */
const struct sc_cfg_inport *sc_config_inport(const struct sc_config *cfg, int port);

/* The outbound route for a destination: the first route whose cidr contains
 * dst (routes without cidr never match by address) and whose port is 0 or
 * dst's port; otherwise &cfg->outbound.def. */
const struct sc_cfg_route *sc_config_route(const struct sc_config *cfg, const struct sc_addr *dst);

/* How an outbound route or listener checks the server it connects to
 * (config_identity.c; the "identity_check" of /config_dump). */
enum sc_idcheck {
    SC_IDCHECK_NONE = 0, /* tls DISABLE: no TLS, no identity */
    SC_IDCHECK_TRUST_DOMAIN_ONLY, /* ISTIO_MUTUAL, no expected_identities: any
                                     * SPIFFE ID of our trust domain */
    SC_IDCHECK_EXPECTED_IDENTITIES, /* ISTIO_MUTUAL: one of expected_identities */
    SC_IDCHECK_SUBJECT_ALT_NAMES, /* SIMPLE/MUTUAL: chain, server name and one
                                     * of the pinned SANs */
    SC_IDCHECK_SERVER_NAME, /* SIMPLE/MUTUAL: chain and sni (or host) */
    SC_IDCHECK_CHAIN_ONLY, /* SIMPLE/MUTUAL with no sni, host or pins */
};

/* The identity check of a resolved route (outbound.routes[] or
 * outbound.default) or outbound listener.  An inbound listener is NONE. */
enum sc_idcheck sc_config_route_idcheck(const struct sc_cfg_route *r);
enum sc_idcheck sc_config_listener_idcheck(const struct sc_cfg_listener *l);

/* "none", "trust_domain_only", "expected_identities", "subject_alt_names",
 * "server_name", "chain_only".  Static strings. */
const char *sc_idcheck_name(enum sc_idcheck c);

/* Logs one WARN line for each outbound route, outbound listener and
 * outbound.default whose check is trust_domain_only, naming it (the
 * listener's name, the route's host, else outbound.routes[N]) and saying
 * what is accepted.  Returns how many it logged.  Called on every load. */
size_t sc_config_warn_identities(const struct sc_config *cfg);

/* The effective policy, one line per listener (config_summary.c): its
 * name, address, direction, port, protocol, mode and the document that
 * decided the mode, e.g.
 *   listener in: 127.0.0.1:15006 inbound port=8080 protocol=http mode=STRICT
 *   (PeerAuthentication istio-system/mtls-global, mesh)
 * The inbound capture listener gets one line for the ports it has no entry
 * for (port=*) and one per inbound.ports entry; the outbound capture
 * listener one for outbound.default and one per route.  Each line (no
 * newline, NUL-terminated, borrowed for the call) goes to emit(arg, line).
 * Returns how many lines were emitted. */
typedef void sc_config_line_fn(void *arg, const char *line);
size_t sc_config_summary(const struct sc_config *cfg, sc_config_line_fn *emit, void *arg);

const char *sc_mtls_mode_name(enum sc_mtls_mode m);
const char *sc_tls_mode_name(enum sc_tls_mode m);
const char *sc_proto_name(enum sc_proto p);
const char *sc_transport_name(enum sc_transport t); /* "tls" | "hbone" */

#endif
