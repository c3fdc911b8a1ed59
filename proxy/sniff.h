#ifndef SC_SNIFF_H
#define SC_SNIFF_H

#include <stddef.h>

/* The inbound listener's first look at a connection: from bytes peeked
 * (MSG_PEEK) at its start, is it a TLS ClientHello, and which ALPN/SNI does
 * it offer?  A pure function: no allocation, no I/O, no global state. */

enum sc_sniff_result {
    SC_SNIFF_NEED_MORE = 0, /* consistent with a TLS ClientHello so far, but incomplete */
    SC_SNIFF_NOT_TLS, /* definitely not a TLS handshake (plaintext) */
    SC_SNIFF_TLS, /* a complete, well-formed ClientHello was parsed */
    SC_SNIFF_BAD_TLS, /* starts like a TLS handshake record but is malformed */
};

/* Callers never peek more than this.  A ClientHello that cannot be complete
 * within this many bytes (record headers included) is SC_SNIFF_BAD_TLS, so
 * NEED_MORE always means "more bytes, up to the cap, may decide it". */
#define SC_SNIFF_MAX_BYTES 16384

#define SC_SNIFF_MAX_ALPN 8
#define SC_SNIFF_ALPN_LEN 32

struct sc_sniff_info {
    int has_alpn; /* the ALPN extension was present */
    int mesh_alpn; /* 1 when any offered ALPN is one of Istio's mesh values:
                                 istio-peer-exchange, istio, istio-http/1.0, istio-http/1.1, istio-h2 */
    size_t n_alpn; /* entries filled in alpn[] (at most 8, even if more offered) */
    char alpn[SC_SNIFF_MAX_ALPN][SC_SNIFF_ALPN_LEN];
    /* the first 8 offered protocols, truncated/NUL-terminated;
                                 bytes outside 0x20..0x7e (GREASE, NUL) read as '?'.
                                 Decide mesh-ness with mesh_alpn, not by comparing these */
    char sni[256]; /* server_name (first host_name entry), "" when absent;
                                 raw bytes (never NUL): escape before logging */
    unsigned legacy_version; /* ClientHello.legacy_version, e.g. 0x0303 */
    int has_supported_versions_tls13; /* supported_versions lists 0x0304 */
};

/* Classifies buf[0..len).  Bytes past SC_SNIFF_MAX_BYTES are ignored.  One
 * byte decides NOT_TLS (first byte not 0x16: plaintext, SSLv2-style hellos);
 * 0x16 with a record version major other than 3 is NOT_TLS too.  The
 * ClientHello may span several handshake records; it is reassembled.
 * Bytes after the ClientHello are not looked at.
 *
 * out may be NULL.  Otherwise it is always cleared, and filled only when the
 * result is SC_SNIFF_TLS.  Never reads past len.
 *
 * Verdicts are prefix-stable: once a prefix of the stream gives anything but
 * NEED_MORE, every longer prefix gives the same verdict (and, for TLS, the
 * same info). */
enum sc_sniff_result sc_sniff_client_hello(const unsigned char *buf, size_t len,
                                           struct sc_sniff_info *out);

/* 1 when proto[0..len) is exactly one of Istio's mesh ALPN values, else 0. */
int sc_sniff_is_mesh_alpn(const char *proto, size_t len);

/* "need_more", "not_tls", "tls", "bad_tls" (static strings; "unknown" for
 * anything else). */
const char *sc_sniff_result_name(enum sc_sniff_result r);

#endif
