/* Fuzz target for common/sdswire and common/sdsproto: what an SDS peer can
 * send us.  The first input byte picks a chunk size; the rest is fed to the
 * gRPC frame decoder in chunks of that size (so frames split everywhere),
 * and every whole message is decoded as a DiscoveryResponse and as a
 * DiscoveryRequest.  The whole input is also decoded directly as both.
 * Invariants (abort() on violation): the decoder consumes every byte it is
 * given unless it yields a message or fails; yielded messages never exceed
 * the limit; a decoded response that is re-encoded decodes to the same
 * resource count; decoded strings are non-NULL. */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sdsproto.h"
#include "sdswire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_MSG (64u * 1024u)

static void decode_both(const uint8_t *msg, size_t len)
{
    struct sc_sds_response r;
    struct sc_sds_request q;
    struct sc_err err;

    if (sc_sds_response_decode(msg, len, &r, &err) == 0) {
        uint8_t *buf = NULL;
        size_t blen = 0;
        struct sc_sds_response r2;
        size_t i;

        if (r.version_info == NULL || r.nonce == NULL || r.type_url == NULL) {
            abort();
        }
        for (i = 0; i < r.n_secrets; i++) {
            if (r.secrets[i].name == NULL) {
                abort();
            }
        }
        if (sc_sds_response_encode(&r, &buf, &blen) != 0) {
            abort();
        }
        if (sc_sds_response_decode(buf, blen, &r2, &err) != 0 || r2.n_secrets != r.n_secrets) {
            abort();
        }
        sc_sds_response_cleanup(&r2);
        free(buf);
        sc_sds_response_cleanup(&r);
    } else {
        if (r.secrets != NULL || r.n_secrets != 0) {
            abort();
        }
        sc_sds_response_cleanup(&r);
    }
    if (sc_sds_request_decode(msg, len, &q, &err) == 0) {
        uint8_t *buf = NULL;
        size_t blen = 0;

        if (q.node_id == NULL || q.nonce == NULL || q.error_message == NULL) {
            abort();
        }
        if (sc_sds_request_encode(&q, &buf, &blen) != 0) {
            abort();
        }
        free(buf);
        sc_sds_request_cleanup(&q);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sc_sdswire_dec d;
    struct sc_err err;
    size_t chunk, off = 1;
    int rounds = 0;

    if (size == 0) {
        return 0;
    }
    chunk = (size_t)data[0] % 17 + 1;
    sc_sdswire_dec_init(&d, FUZZ_MAX_MSG);
    while (off < size && rounds++ < 1000000) {
        size_t n = chunk < size - off ? chunk : size - off;
        const uint8_t *msg;
        size_t used, mlen;
        enum sc_sdswire_status st =
            sc_sdswire_dec_feed(&d, data + off, n, &used, &msg, &mlen, &err);

        if (used > n) {
            abort();
        }
        off += used;
        if (st == SC_SDSWIRE_ERROR) {
            break;
        }
        if (st == SC_SDSWIRE_MESSAGE) {
            if (mlen > FUZZ_MAX_MSG || msg == NULL) {
                abort();
            }
            decode_both(msg, mlen);
        } else if (used != n) {
            abort();
        }
    }
    (void)sc_sdswire_dec_partial(&d);
    sc_sdswire_dec_cleanup(&d);
    decode_both(data + 1, size - 1);
    return 0;
}
