#ifndef SC_HTTP1_INTERNAL_H
#define SC_HTTP1_INTERNAL_H

/* The parser's layout, shared by http1.c (driving llhttp), http1_scan.c
 * (raw checks over head bytes) and http1_head.c (what a complete head
 * means, and writing one back out).  Nothing outside
 * the module includes this. */

#include <llhttp.h>
#include <stdint.h>

#include "http1.h"

enum phase {
    P_IDLE = 0, /* between messages */
    P_HEAD, /* a message has begun; its head is being read */
    P_BODY, /* the head was handed out; body (or nothing) until complete */
    P_UPGRADED, /* the last message switched protocols */
    P_CLOSED, /* the last message ended the connection */
    P_ERROR,
};

enum pause_ev {
    PE_NONE = 0,
    PE_BEGIN,
    PE_HEAD,
    PE_TRAILERS, /* the last-chunk line was read: the trailer section follows */
    PE_DONE,
};

/* A header field while it is being read: offsets into buf. */
struct hoff {
    uint32_t name_off;
    uint32_t name_len;
    uint32_t value_off;
    uint32_t value_len;
};

/* Which field the current one is, for the llhttp error mapping. */
enum fkind {
    F_OTHER = 0,
    F_CONTENT_LENGTH_FIELD,
    F_TRANSFER_ENCODING_FIELD,
};

struct sc_http1 {
    llhttp_t p;
    enum sc_http1_kind kind;
    size_t max_head;
    size_t max_headers;

    enum phase phase;
    enum pause_ev pause_ev; /* set by the callback that returned HPE_PAUSED */
    int paused; /* llhttp is paused: resume before executing */
    int upgrade_paused; /* llhttp will say HPE_PAUSED_UPGRADE next */
    int msg_upgrade; /* the message in progress switches protocols */

    /* the head buffer: target, reason, names and values, NUL-terminated */
    char *buf;
    size_t len;
    size_t cap;
    struct hoff *offs;
    struct sc_http1_header *hdrs;
    size_t nh;
    size_t hcap;
    int fstate; /* 0: between fields, 1: in a name, 2: in a value */
    enum fkind fkind;
    uint32_t target_off;
    uint32_t target_len;
    uint32_t reason_off;
    uint32_t reason_len;
    int have_target;
    int have_reason;
    int seen_cl;
    int seen_te;

    /* raw-byte checks over the head */
    size_t head_bytes; /* bytes fed since the last message ended */
    unsigned char scan_prev;
    int line0; /* still in the start line */
    size_t line0_len;
    unsigned line0_spaces;
    char line0_first[9];
    char line0_last[9]; /* the last 9 bytes, a ring indexed by line0_len */

    /* context for callbacks: the chunk being executed */
    const char *chunk;
    unsigned char chunk_prev; /* the byte fed just before chunk[0] */
    unsigned char last_byte;

    /* trailers (not stored, only checked and counted) */
    size_t trailer_bytes;
    size_t trailer_count;
    size_t trailer_name_len;
    int in_trailers;

    /* response parsers: the request being answered */
    int req_head;
    int req_connect;
    int req_upgrade;

    struct sc_http1_head head;
    int have_head;

    enum sc_http1_error err;
    const char *err_reason;
};

/* RFC 9110 OWS: space or horizontal tab */
static inline int sc_http1_is_ows(int c)
{
    return c == ' ' || c == '\t';
}

/* 1 for RFC 9110 token characters. */
extern const unsigned char sc_http1_tchar[256];

/* a[0..n) equals the NUL-terminated b, ignoring ASCII case. */
int sc_http1_ieq(const char *a, size_t n, const char *b);

/* Records the first error (later ones are ignored) and returns -1. */
int sc_http1_fail(struct sc_http1 *h, enum sc_http1_error e, const char *why);

/* Checks head bytes as llhttp consumed them: CR only before LF, LF only
 * after CR, no obs-fold, and the start line's shape (http1_scan.c).  Its
 * diagnosis overrides any recorded by a callback in the same run.  0 or -1
 * (error recorded). */
int sc_http1_scan_head(struct sc_http1 *h, const char *data, size_t n);

/* At headers complete: fills h->head from the buffer, decides framing,
 * keep-alive and upgrade, adjusts llhttp's flags for responses, and checks
 * what llhttp does not (version, Host, Transfer-Encoding in HTTP/1.0, status
 * range, 101 rules).  0 or -1 (error recorded). */
int sc_http1_build_head(struct sc_http1 *h);

#endif
