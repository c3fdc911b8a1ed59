#include "sdswire.h"

#include <stdlib.h>
#include <string.h>

/* gRPC Length-Prefixed-Message framing; see sdswire.h. */

int sc_sdswire_prefix(uint8_t out[SC_SDSWIRE_PREFIX_LEN], size_t len)
{
    if (len > UINT32_MAX) {
        return -1;
    }
    out[0] = 0;
    out[1] = (uint8_t)(len >> 24);
    out[2] = (uint8_t)(len >> 16);
    out[3] = (uint8_t)(len >> 8);
    out[4] = (uint8_t)len;
    return 0;
}

int sc_sdswire_encode(const uint8_t *msg, size_t len, uint8_t **out, size_t *outlen)
{
    uint8_t *p = NULL;

    *out = NULL;
    *outlen = 0;
    if (len > UINT32_MAX) {
        return -1;
    }
    p = malloc(len + SC_SDSWIRE_PREFIX_LEN);
    if (p == NULL) {
        return -1;
    }
    sc_sdswire_prefix(p, len);
    if (len > 0) {
        memcpy(p + SC_SDSWIRE_PREFIX_LEN, msg, len);
    }
    *out = p;
    *outlen = len + SC_SDSWIRE_PREFIX_LEN;
    return 0;
}

void sc_sdswire_dec_init(struct sc_sdswire_dec *d, size_t max_msg)
{
    memset(d, 0, sizeof(*d));
    d->max = max_msg == 0 ? SC_SDSWIRE_DEFAULT_MAX : max_msg;
}

void sc_sdswire_dec_cleanup(struct sc_sdswire_dec *d)
{
    if (d == NULL) {
        return;
    }
    free(d->msg);
    d->msg = NULL;
    d->msg_len = 0;
    d->msg_have = 0;
    d->hdr_have = 0;
    d->in_msg = 0;
}

static enum sc_sdswire_status fail(struct sc_sdswire_dec *d, struct sc_err *err)
{
    d->failed = 1;
    free(d->msg);
    d->msg = NULL;
    d->in_msg = 0;
    (void)err;
    return SC_SDSWIRE_ERROR;
}

/* The prefix is complete: check it and set up the body. */
static enum sc_sdswire_status start_msg(struct sc_sdswire_dec *d, struct sc_err *err)
{
    uint32_t len = ((uint32_t)d->hdr[1] << 24) | ((uint32_t)d->hdr[2] << 16) |
                   ((uint32_t)d->hdr[3] << 8) | (uint32_t)d->hdr[4];

    if (d->hdr[0] == 1) {
        sc_err_set(err, "gRPC message is compressed (flag 1), but no grpc-encoding was offered");
        return fail(d, err);
    }
    if (d->hdr[0] != 0) {
        sc_err_set(err, "gRPC message has an invalid compressed flag 0x%02x", d->hdr[0]);
        return fail(d, err);
    }
    if (len > d->max) {
        sc_err_set(err, "gRPC message of %lu bytes exceeds the limit of %zu bytes",
                   (unsigned long)len, d->max);
        return fail(d, err);
    }
    /* +1 so a zero-length message still gets a non-NULL pointer */
    d->msg = malloc((size_t)len + 1);
    if (d->msg == NULL) {
        sc_err_set(err, "out of memory for a gRPC message of %lu bytes", (unsigned long)len);
        return fail(d, err);
    }
    d->msg_len = len;
    d->msg_have = 0;
    d->in_msg = 1;
    return SC_SDSWIRE_NEED_MORE;
}

enum sc_sdswire_status sc_sdswire_dec_feed(struct sc_sdswire_dec *d, const uint8_t *buf, size_t len,
                                           size_t *consumed, const uint8_t **msg, size_t *msg_len,
                                           struct sc_err *err)
{
    size_t off = 0;
    size_t body;

    *consumed = 0;
    *msg = NULL;
    *msg_len = 0;
    if (d->failed) {
        sc_err_set(err, "gRPC message stream already failed");
        return SC_SDSWIRE_ERROR;
    }
    /* The message handed out by the previous call is no longer needed. */
    if (d->in_msg && d->msg_have == d->msg_len) {
        free(d->msg);
        d->msg = NULL;
        d->in_msg = 0;
        d->hdr_have = 0;
    }
    if (!d->in_msg) {
        size_t take = SC_SDSWIRE_PREFIX_LEN - d->hdr_have;

        if (take > len - off) {
            take = len - off;
        }
        if (take > 0) {
            memcpy(d->hdr + d->hdr_have, buf + off, take);
        }
        d->hdr_have += take;
        off += take;
        *consumed = off;
        if (d->hdr_have < SC_SDSWIRE_PREFIX_LEN) {
            return SC_SDSWIRE_NEED_MORE;
        }
        if (start_msg(d, err) != SC_SDSWIRE_NEED_MORE) {
            return SC_SDSWIRE_ERROR;
        }
    }
    body = d->msg_len - d->msg_have;
    if (body > len - off) {
        body = len - off;
    }
    if (body > 0) {
        memcpy(d->msg + d->msg_have, buf + off, body);
    }
    d->msg_have += body;
    off += body;
    *consumed = off;
    if (d->msg_have < d->msg_len) {
        return SC_SDSWIRE_NEED_MORE;
    }
    *msg = d->msg;
    *msg_len = d->msg_len;
    return SC_SDSWIRE_MESSAGE;
}

int sc_sdswire_dec_partial(const struct sc_sdswire_dec *d)
{
    if (d->in_msg) {
        return d->msg_have < d->msg_len;
    }
    return d->hdr_have > 0;
}
