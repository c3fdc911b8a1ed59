/* Fuzz target for proxy/httpsniff: sc_httpsniff must never read past len,
 * must give one of its three verdicts, and must be prefix-stable (every
 * prefix gives NEED_MORE or the same verdict as the whole).  Violations
 * abort(). */

#include <stdint.h>
#include <stdlib.h>

#include "httpsniff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_prefix(const uint8_t *data, size_t n, enum sc_httpsniff_result whole)
{
    enum sc_httpsniff_result rp = sc_httpsniff(data, n);

    if (rp != SC_HTTPSNIFF_NEED_MORE && rp != whole) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    enum sc_httpsniff_result r = sc_httpsniff(data, size);
    size_t i;

    if (r != SC_HTTPSNIFF_NEED_MORE && r != SC_HTTPSNIFF_HTTP1 && r != SC_HTTPSNIFF_NOT_HTTP) {
        abort();
    }
    /* every prefix of the first 64 bytes (the method and its edge at 32
     * live there), then a few cuts further on, the cap's edge included */
    for (i = 0; i < size && i <= 64; i++) {
        check_prefix(data, i, r);
    }
    for (i = 65; i < size; i += 1 + i / 4) {
        check_prefix(data, i, r);
    }
    if (size > SC_HTTPSNIFF_MAX_BYTES) {
        check_prefix(data, SC_HTTPSNIFF_MAX_BYTES - 1, r);
        check_prefix(data, SC_HTTPSNIFF_MAX_BYTES, r);
    }
    return 0;
}
