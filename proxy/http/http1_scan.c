/* The raw checks over head bytes that llhttp, even in strict mode, lets
 * through and a proxy must not: bare CR or LF, obs-fold, and a start line
 * of any other shape than "method SP target SP HTTP/1.x" or "HTTP/1.x SP
 * status".  They run over the bytes llhttp consumed (see http1.c's run()).
 * See http1_internal.h. */

#include <string.h>

#include "http1_internal.h"

/* The raw checks look at bytes before anything llhttp's callbacks acted on,
 * so their diagnosis wins over one a callback made in the same run. */
static int scan_fail(struct sc_http1 *h, enum sc_http1_error e, const char *why)
{
    h->err = e;
    h->err_reason = why;
    return -1;
}

static int check_line0(struct sc_http1 *h)
{
    static const char v10[] = "HTTP/1.0", v11[] = "HTTP/1.1";
    char last[sizeof h->line0_last];
    size_t k;

    for (k = 0; k < sizeof last; k++) { /* the ring in order, oldest first */
        last[k] = h->line0_last[(h->line0_len + k) % sizeof last];
    }
    if (h->kind == SC_HTTP1_REQUEST) {
        /* method SP request-target SP HTTP/1.x: exactly two spaces */
        if (h->line0_spaces != 2 || h->line0_len < 9 || last[0] != ' ' ||
            (memcmp(last + 1, v10, 8) != 0 && memcmp(last + 1, v11, 8) != 0)) {
            return scan_fail(h,
                             h->line0_spaces != 2 ? SC_HTTP1_E_MALFORMED : SC_HTTP1_E_BAD_VERSION,
                             "request line is not: method SP target SP HTTP/1.x");
        }
    } else if (h->line0_len < 9 || h->line0_first[8] != ' ' ||
               (memcmp(h->line0_first, v10, 8) != 0 && memcmp(h->line0_first, v11, 8) != 0)) {
        return scan_fail(h, SC_HTTP1_E_BAD_VERSION, "status line does not start with HTTP/1.x");
    }
    return 0;
}

/* The next CR or LF in p[0..n), or n.  memchr is vectorized; lines are
 * short, so the two searches stop close together. */
static size_t next_crlf(const char *p, size_t n)
{
    const char *cr = memchr(p, '\r', n);
    const char *lf = memchr(p, '\n', cr != NULL ? (size_t)(cr - p) : n);

    if (lf != NULL) {
        return (size_t)(lf - p);
    }
    return cr != NULL ? (size_t)(cr - p) : n;
}

/* The rest of the start line when it ends inside data[*i..n): the same
 * bookkeeping as byte by byte, in bulk.  Leaves *i at the CR/LF. */
static void line0_bulk(struct sc_http1 *h, const char *data, size_t n, size_t *i)
{
    size_t start = *i, end = start + next_crlf(data + start, n - start), k;
    const char *sp;

    if (end >= n) {
        return; /* spans chunks: byte by byte */
    }
    for (sp = memchr(data + start, ' ', end - start); sp != NULL;
         sp = memchr(sp + 1, ' ', (size_t)(data + end - sp - 1))) {
        h->line0_spaces++;
    }
    for (k = start; k < end && h->line0_len + (k - start) < sizeof h->line0_first; k++) {
        h->line0_first[h->line0_len + (k - start)] = data[k];
    }
    for (k = end - start > sizeof h->line0_last ? end - sizeof h->line0_last : start; k < end;
         k++) {
        h->line0_last[(h->line0_len + (k - start)) % sizeof h->line0_last] = data[k];
    }
    h->line0_len += end - start;
    h->scan_prev = (unsigned char)data[end - 1];
    *i = end;
}

/* Bytes of the head as llhttp consumed them: CR only before LF, LF only
 * after CR, no line starting with whitespace (obs-fold), and the start line's
 * shape.  In P_IDLE only the line ends are checked.  Only the bytes around
 * line ends (and the start line) are looked at one by one. */
int sc_http1_scan_head(struct sc_http1 *h, const char *data, size_t n)
{
    size_t i = 0;

    while (i < n) {
        unsigned char c = (unsigned char)data[i];
        unsigned char prev = h->scan_prev;

        h->scan_prev = c;
        if (prev == '\r' && c != '\n') {
            return scan_fail(h, SC_HTTP1_E_BARE_CR, "CR not followed by LF");
        }
        if (c == '\n' && prev != '\r') {
            return scan_fail(h, SC_HTTP1_E_BARE_LF, "LF not preceded by CR");
        }
        if (prev == '\n' && sc_http1_is_ows(c) && h->phase != P_IDLE) {
            return scan_fail(h, SC_HTTP1_E_OBS_FOLD, "line starts with whitespace (obs-fold)");
        }
        i++;
        if (h->line0 && h->phase != P_IDLE) {
            if (c == '\r' || c == '\n') {
                h->line0 = 0;
                if (check_line0(h) != 0) {
                    return -1;
                }
                continue;
            }
            if (c == ' ') {
                h->line0_spaces++;
            }
            if (h->line0_len < sizeof h->line0_first) {
                h->line0_first[h->line0_len] = (char)c;
            }
            h->line0_last[h->line0_len % sizeof h->line0_last] = (char)c; /* a ring */
            h->line0_len++;
            if (h->line0_len == 1 && i < n) {
                line0_bulk(h, data, n, &i);
            }
            continue;
        }
        if (c != '\r' && c != '\n' && i < n) {
            /* inside a line: jump to its end */
            size_t skip = next_crlf(data + i, n - i);

            if (skip > 0) {
                i += skip;
                h->scan_prev = (unsigned char)data[i - 1];
            }
        }
    }
    return 0;
}
