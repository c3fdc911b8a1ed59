/* Fuzz target for proxy/httpsniff: sc_httpsniff must never read past len,
 * must give one of its three verdicts, and must be prefix-stable (every
 * prefix gives NEED_MORE or the same verdict as the whole).  Violations
 * abort(). */

#include <stdint.h>
#include <stdlib.h>

#include "httpsniff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    enum sc_httpsniff_result r = sc_httpsniff(data, size), rp;
    size_t cuts[4] = {size / 2, size > 0 ? size - 1 : 0, 4, 16};
    size_t i;

    if (r != SC_HTTPSNIFF_NEED_MORE && r != SC_HTTPSNIFF_HTTP1 && r != SC_HTTPSNIFF_NOT_HTTP) {
        abort();
    }
    for (i = 0; i < 4; i++) {
        if (cuts[i] >= size) {
            continue;
        }
        rp = sc_httpsniff(data, cuts[i]);
        if (rp != SC_HTTPSNIFF_NEED_MORE && rp != r) {
            abort();
        }
    }
    return 0;
}
