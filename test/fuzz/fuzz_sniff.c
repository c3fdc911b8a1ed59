/* Fuzz target for proxy/sniff: sc_sniff_client_hello must never read past
 * len, must give one of its four verdicts, must fill info only for TLS, and
 * must be prefix-stable (a prefix gives NEED_MORE or the same verdict and
 * info as the whole).  Violations abort(). */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sniff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    size_t i;

    for (i = 0; i < n; i++) {
        if (b[i] != 0) {
            return 0;
        }
    }
    return 1;
}

static void check_info(enum sc_sniff_result r, const struct sc_sniff_info *info)
{
    size_t i;

    if (r != SC_SNIFF_TLS) {
        if (!all_zero(info, sizeof *info)) {
            abort();
        }
        return;
    }
    if (info->n_alpn > SC_SNIFF_MAX_ALPN || (info->n_alpn > 0 && !info->has_alpn) ||
        (info->mesh_alpn && !info->has_alpn)) {
        abort();
    }
    for (i = 0; i < info->n_alpn; i++) {
        size_t n = strnlen(info->alpn[i], sizeof info->alpn[i]);

        size_t j;

        if (n == 0 || n == sizeof info->alpn[i]) {
            abort();
        }
        for (j = 0; j < n; j++) { /* a printable copy */
            if (info->alpn[i][j] < 0x20 || info->alpn[i][j] > 0x7e) {
                abort();
            }
        }
    }
    if (strnlen(info->sni, sizeof info->sni) == sizeof info->sni ||
        (info->legacy_version >> 8) != 3) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sc_sniff_info info, pinfo;
    enum sc_sniff_result r, rp;
    size_t cuts[4] = {size / 2, size > 0 ? size - 1 : 0, 9, 5};
    size_t i;

    r = sc_sniff_client_hello(data, size, &info);
    if (r != SC_SNIFF_NEED_MORE && r != SC_SNIFF_NOT_TLS && r != SC_SNIFF_TLS &&
        r != SC_SNIFF_BAD_TLS) {
        abort();
    }
    check_info(r, &info);
    if (sc_sniff_client_hello(data, size, NULL) != r) {
        abort();
    }
    for (i = 0; i < 4; i++) {
        if (cuts[i] >= size) {
            continue;
        }
        rp = sc_sniff_client_hello(data, cuts[i], &pinfo);
        if (rp != SC_SNIFF_NEED_MORE && rp != r) {
            abort();
        }
        if (rp == SC_SNIFF_TLS && memcmp(&info, &pinfo, sizeof info) != 0) {
            abort();
        }
    }
    (void)sc_sniff_is_mesh_alpn((const char *)data, size < 32 ? size : 32);
    return 0;
}
