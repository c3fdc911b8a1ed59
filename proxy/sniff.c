/* ClientHello sniffing: TLS record framing (RFC 8446 5.1), handshake
 * reassembly across records, and the few ClientHello extensions the inbound
 * listener cares about (server_name, ALPN, supported_versions). */

#include "sniff.h"

#include <string.h>

#define REC_HDR 5
#define REC_MAX 16384u /* TLSPlaintext.length <= 2^14 */
#define HS_HDR 4
#define CT_HANDSHAKE 0x16
#define HS_CLIENT_HELLO 0x01

#define EXT_SERVER_NAME 0
#define EXT_ALPN 16
#define EXT_SUPPORTED_VERSIONS 43

#define SNI_HOST_NAME 0
#define SNI_MAX 255 /* RFC 6066 / OpenSSL's TLSEXT_MAXLEN_host_name */

/* A bounds-checked reader over p[0..left).  Every read checks left first. */
struct rd {
    const unsigned char *p;
    size_t left;
};

static int rd_skip(struct rd *r, size_t n)
{
    if (r->left < n) {
        return -1;
    }
    r->p += n;
    r->left -= n;
    return 0;
}

static int rd_u8(struct rd *r, unsigned *v)
{
    if (r->left < 1) {
        return -1;
    }
    *v = r->p[0];
    r->p += 1;
    r->left -= 1;
    return 0;
}

static int rd_u16(struct rd *r, unsigned *v)
{
    if (r->left < 2) {
        return -1;
    }
    *v = (unsigned)r->p[0] << 8 | r->p[1];
    r->p += 2;
    r->left -= 2;
    return 0;
}

/* A vector with a 1- or 2-byte length prefix: sub covers its body. */
static int rd_vec(struct rd *r, int lenbytes, struct rd *sub)
{
    unsigned n = 0;
    int rc = lenbytes == 1 ? rd_u8(r, &n) : rd_u16(r, &n);

    if (rc != 0) {
        return -1;
    }
    sub->p = r->p;
    sub->left = n;
    return rd_skip(r, n);
}

int sc_sniff_is_mesh_alpn(const char *proto, size_t len)
{
    static const char *const mesh[] = {
        "istio-peer-exchange", "istio", "istio-http/1.0", "istio-http/1.1", "istio-h2",
    };
    size_t i;

    if (proto == NULL) {
        return 0;
    }
    for (i = 0; i < sizeof mesh / sizeof mesh[0]; i++) {
        if (strlen(mesh[i]) == len && memcmp(mesh[i], proto, len) == 0) {
            return 1;
        }
    }
    return 0;
}

const char *sc_sniff_result_name(enum sc_sniff_result r)
{
    switch (r) {
    case SC_SNIFF_NEED_MORE:
        return "need_more";
    case SC_SNIFF_NOT_TLS:
        return "not_tls";
    case SC_SNIFF_TLS:
        return "tls";
    case SC_SNIFF_BAD_TLS:
        return "bad_tls";
    }
    return "unknown";
}

/* server_name (RFC 6066 3): a non-empty ServerNameList; we keep the
 * host_name entry.  Two host_names, an empty or over-long one, or one
 * with a NUL byte are malformed (OpenSSL refuses them too). */
static int parse_sni(struct rd ext, struct sc_sniff_info *info)
{
    struct rd list;
    int got = 0;

    if (rd_vec(&ext, 2, &list) != 0 || ext.left != 0 || list.left == 0) {
        return -1;
    }
    while (list.left > 0) { /* each pass consumes >= 3 bytes */
        unsigned type = 0;
        struct rd name;

        if (rd_u8(&list, &type) != 0 || rd_vec(&list, 2, &name) != 0) {
            return -1;
        }
        if (type != SNI_HOST_NAME) {
            continue;
        }
        if (got || name.left == 0 || name.left > SNI_MAX || memchr(name.p, 0, name.left) != NULL) {
            return -1;
        }
        memcpy(info->sni, name.p, name.left);
        info->sni[name.left] = '\0';
        got = 1;
    }
    return 0;
}

/* application_layer_protocol_negotiation (RFC 7301 3.1): a non-empty list
 * of non-empty names.  mesh_alpn looks at every name (exact bytes), alpn[]
 * keeps a printable copy of the first SC_SNIFF_MAX_ALPN: names are opaque
 * bytes, so "istio\0x" must not read back as "istio". */
static int parse_alpn(struct rd ext, struct sc_sniff_info *info)
{
    struct rd list;

    if (rd_vec(&ext, 2, &list) != 0 || ext.left != 0 || list.left == 0) {
        return -1;
    }
    info->has_alpn = 1;
    while (list.left > 0) { /* each pass consumes >= 2 bytes */
        struct rd name;
        size_t n;

        if (rd_vec(&list, 1, &name) != 0 || name.left == 0) {
            return -1;
        }
        if (sc_sniff_is_mesh_alpn((const char *)name.p, name.left)) {
            info->mesh_alpn = 1;
        }
        if (info->n_alpn < SC_SNIFF_MAX_ALPN) {
            char *dst = info->alpn[info->n_alpn];
            size_t i;

            n = name.left < SC_SNIFF_ALPN_LEN - 1 ? name.left : SC_SNIFF_ALPN_LEN - 1;
            for (i = 0; i < n; i++) { /* names are opaque bytes: GREASE, NUL */
                dst[i] = name.p[i] >= 0x20 && name.p[i] < 0x7f ? (char)name.p[i] : '?';
            }
            dst[n] = '\0';
            info->n_alpn++;
        }
    }
    return 0;
}

/* supported_versions in a ClientHello (RFC 8446 4.2.1): versions<2..254>. */
static int parse_versions(struct rd ext, struct sc_sniff_info *info)
{
    struct rd list;

    if (rd_vec(&ext, 1, &list) != 0 || ext.left != 0 || list.left < 2 || list.left % 2 != 0) {
        return -1;
    }
    while (list.left > 0) {
        unsigned v = 0;

        if (rd_u16(&list, &v) != 0) {
            return -1;
        }
        if (v == 0x0304) {
            info->has_supported_versions_tls13 = 1;
        }
    }
    return 0;
}

/* The ClientHello body (after the 4-byte handshake header), RFC 8446 4.1.2
 * and RFC 5246 7.4.1.2.  Extensions may be absent (TLS 1.2 and older);
 * when present they must fill the message exactly. */
static int parse_hello(const unsigned char *p, size_t n, struct sc_sniff_info *info)
{
    struct rd r = {p, n};
    struct rd v, exts;
    unsigned ver = 0;
    int seen_sni = 0, seen_alpn = 0, seen_sv = 0;

    if (rd_u16(&r, &ver) != 0 || (ver >> 8) != 3) {
        return -1;
    }
    info->legacy_version = ver;
    if (rd_skip(&r, 32) != 0) { /* random */
        return -1;
    }
    if (rd_vec(&r, 1, &v) != 0 || v.left > 32) { /* legacy_session_id */
        return -1;
    }
    if (rd_vec(&r, 2, &v) != 0 || v.left == 0 || v.left % 2 != 0) { /* cipher_suites */
        return -1;
    }
    if (rd_vec(&r, 1, &v) != 0 || v.left == 0) { /* compression_methods */
        return -1;
    }
    if (r.left == 0) {
        return 0;
    }
    if (rd_vec(&r, 2, &exts) != 0 || r.left != 0) {
        return -1;
    }
    while (exts.left > 0) { /* each pass consumes >= 4 bytes */
        unsigned type = 0;
        struct rd data;
        int rc = 0;

        if (rd_u16(&exts, &type) != 0 || rd_vec(&exts, 2, &data) != 0) {
            return -1;
        }
        switch (type) {
        case EXT_SERVER_NAME:
            rc = seen_sni++ ? -1 : parse_sni(data, info);
            break;
        case EXT_ALPN:
            rc = seen_alpn++ ? -1 : parse_alpn(data, info);
            break;
        case EXT_SUPPORTED_VERSIONS:
            rc = seen_sv++ ? -1 : parse_versions(data, info);
            break;
        default:
            break;
        }
        if (rc != 0) {
            return -1;
        }
    }
    return 0;
}

static enum sc_sniff_result finish(const unsigned char *msg, size_t n, struct sc_sniff_info *info)
{
    if (parse_hello(msg, n, info) != 0) {
        memset(info, 0, sizeof *info);
        return SC_SNIFF_BAD_TLS;
    }
    return SC_SNIFF_TLS;
}

/* Out of bytes: the earliest the message could complete is at wire offset
 * `at`.  Past the cap that can never happen, so the hello is malformed. */
static enum sc_sniff_result need_more(size_t at)
{
    return at > SC_SNIFF_MAX_BYTES ? SC_SNIFF_BAD_TLS : SC_SNIFF_NEED_MORE;
}

enum sc_sniff_result sc_sniff_client_hello(const unsigned char *buf, size_t len,
                                           struct sc_sniff_info *out)
{
    struct sc_sniff_info tmp;
    struct sc_sniff_info *info = out != NULL ? out : &tmp;
    unsigned char hs[SC_SNIFF_MAX_BYTES]; /* reassembly, multi-record only */
    size_t hs_have = 0;
    size_t hs_need = HS_HDR; /* becomes 4 + length once known */
    int hs_len_known = 0;
    size_t off = 0;

    memset(info, 0, sizeof *info);
    if (buf == NULL || len == 0) {
        return SC_SNIFF_NEED_MORE;
    }
    if (len > SC_SNIFF_MAX_BYTES) {
        len = SC_SNIFF_MAX_BYTES;
    }
    if (buf[0] != CT_HANDSHAKE) { /* plaintext, SSLv2-style hello */
        return SC_SNIFF_NOT_TLS;
    }
    if (len < 2) {
        return SC_SNIFF_NEED_MORE;
    }
    if (buf[1] != 3) {
        return SC_SNIFF_NOT_TLS;
    }

    /* Fast path: the whole message inside the first record, parsed in place.
     * It decides exactly what the general loop below would. */
    if (len >= REC_HDR + HS_HDR) {
        size_t rec_len = (size_t)buf[3] << 8 | buf[4];
        size_t hs_len = (size_t)buf[6] << 16 | (size_t)buf[7] << 8 | buf[8];

        if (rec_len != 0 && rec_len <= REC_MAX && buf[5] == HS_CLIENT_HELLO &&
            HS_HDR + hs_len <= rec_len && REC_HDR + HS_HDR + hs_len <= len) {
            return finish(buf + REC_HDR + HS_HDR, hs_len, info);
        }
    }

    /* One record per pass; each consumes at least 6 bytes of len. */
    for (;;) {
        size_t rec_len, body, avail, used = 0;

        if (off > 0) { /* no interleaved record types */
            if (off < len && buf[off] != CT_HANDSHAKE) {
                return SC_SNIFF_BAD_TLS;
            }
            if (off + 1 < len && buf[off + 1] != 3) {
                return SC_SNIFF_BAD_TLS;
            }
        }
        if (len - off < REC_HDR) {
            return need_more(off + REC_HDR + (hs_need - hs_have));
        }
        rec_len = (size_t)buf[off + 3] << 8 | buf[off + 4];
        if (rec_len == 0 || rec_len > REC_MAX) {
            return SC_SNIFF_BAD_TLS;
        }
        body = off + REC_HDR;
        avail = len - body < rec_len ? len - body : rec_len;

        while (used < avail) {
            size_t take = avail - used;

            if (take > hs_need - hs_have) {
                take = hs_need - hs_have;
            }
            memcpy(hs + hs_have, buf + body + used, take);
            hs_have += take;
            used += take;
            if (hs_have < hs_need) {
                break;
            }
            if (!hs_len_known) {
                size_t hs_len = (size_t)hs[1] << 16 | (size_t)hs[2] << 8 | hs[3];

                if (hs[0] != HS_CLIENT_HELLO || REC_HDR + HS_HDR + hs_len > SC_SNIFF_MAX_BYTES) {
                    return SC_SNIFF_BAD_TLS;
                }
                hs_need = HS_HDR + hs_len;
                hs_len_known = 1;
            }
            if (hs_have == hs_need) {
                return finish(hs + HS_HDR, hs_need - HS_HDR, info);
            }
        }

        if (avail < rec_len) { /* out of bytes inside this record */
            size_t rec_left = rec_len - avail;
            size_t want = hs_need - hs_have;

            if (want <= rec_left) {
                return need_more(len + want);
            }
            return need_more(body + rec_len + REC_HDR + (want - rec_left));
        }
        off = body + rec_len;
    }
}
