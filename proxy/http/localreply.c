/* Local replies and Envoy-style transport failure reasons; see localreply.h. */

#include "localreply.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <string.h>

#include "accesslog.h"

static const char reset_prefix[] = "upstream connect error or disconnect/reset before headers. ";

const char *sc_localreply_reset_reason_str(enum sc_reset_reason why)
{
    static const char *const names[SC_RESET_N] = {
        [SC_RESET_CONNECTION_FAILURE] = "connection failure",
        [SC_RESET_CONNECTION_TERMINATION] = "connection termination",
        [SC_RESET_OVERFLOW] = "overflow",
        [SC_RESET_CONNECTION_TIMEOUT] = "connection timeout",
        [SC_RESET_LOCAL_RESET] = "local reset",
        [SC_RESET_REMOTE_RESET] = "remote reset",
        [SC_RESET_PROTOCOL_ERROR] = "protocol error",
        [SC_RESET_LOCAL_CONNECTION_FAILURE] = "local connection failure",
        [SC_RESET_REMOTE_CONNECTION_FAILURE] = "remote connection failure",
    };

    return (unsigned)why < SC_RESET_N ? names[why] : "unknown";
}

static void set_body(struct sc_localreply *r, int status, unsigned flags, const char *body)
{
    size_t n = strlen(body);

    if (n >= sizeof r->body) {
        n = sizeof r->body - 1;
    }
    r->status = status;
    r->flags = flags;
    memcpy(r->body, body, n);
    r->body[n] = '\0';
    r->body_len = n;
}

void sc_localreply_upstream_reset(struct sc_localreply *r, enum sc_reset_reason why, int retried,
                                  const char *transport_failure)
{
    unsigned flags;
    int n;

    switch (why) {
    case SC_RESET_CONNECTION_TERMINATION:
        flags = SC_ACCESSLOG_UC;
        break;
    case SC_RESET_OVERFLOW:
        flags = SC_ACCESSLOG_UO;
        break;
    case SC_RESET_LOCAL_RESET:
        flags = SC_ACCESSLOG_LR;
        break;
    case SC_RESET_REMOTE_RESET:
        flags = SC_ACCESSLOG_UR;
        break;
    case SC_RESET_PROTOCOL_ERROR:
        flags = SC_ACCESSLOG_UPE;
        break;
    default:
        flags = SC_ACCESSLOG_UF;
        break;
    }
    r->status = why == SC_RESET_PROTOCOL_ERROR ? 502 : 503;
    r->flags = flags;
    n = snprintf(r->body, sizeof r->body, "%s%sreset reason: %s%s%s", reset_prefix,
                 retried ? "retried and the latest " : "", sc_localreply_reset_reason_str(why),
                 transport_failure != NULL && transport_failure[0] != '\0'
                     ? ", transport failure reason: "
                     : "",
                 transport_failure != NULL ? transport_failure : "");
    if (n < 0) {
        n = 0;
    }
    r->body_len = (size_t)n < sizeof r->body ? (size_t)n : sizeof r->body - 1;
}

void sc_localreply_upstream_timeout(struct sc_localreply *r)
{
    set_body(r, 504, SC_ACCESSLOG_UT, "upstream request timeout");
}

void sc_localreply_bad_request(struct sc_localreply *r)
{
    set_body(r, 400, SC_ACCESSLOG_DPE, "Bad Request");
}

void sc_localreply_too_large(struct sc_localreply *r)
{
    set_body(r, 431, SC_ACCESSLOG_DPE, "Request Header Fields Too Large");
}

void sc_localreply_request_timeout(struct sc_localreply *r)
{
    set_body(r, 408, 0, "request timeout");
}

void sc_localreply_for_http1_error(struct sc_localreply *r, enum sc_http1_error e)
{
    if (e == SC_HTTP1_E_TOO_LARGE) {
        sc_localreply_too_large(r);
    } else {
        sc_localreply_bad_request(r);
    }
}

const char *sc_localreply_status_text(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 411:
        return "Length Required";
    case 413:
        return "Payload Too Large";
    case 426:
        return "Upgrade Required";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Unknown";
    }
}

size_t sc_localreply_http_date(time_t t, char out[32])
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct tm tm;
    int n;

    if (gmtime_r(&t, &tm) == NULL || tm.tm_wday < 0 || tm.tm_wday > 6 || tm.tm_mon < 0 ||
        tm.tm_mon > 11 || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0) {
        out[0] = '\0';
        return 0;
    }
    n = snprintf(out, 32, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday], tm.tm_mday,
                 months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    return n > 0 && n < 32 ? (size_t)n : 0;
}

int sc_localreply_format(const struct sc_localreply *r, int close, int head_request, time_t now,
                         char *out, size_t cap, size_t *need)
{
    char head[256], date[32];
    size_t body = head_request ? 0 : r->body_len;
    int n;

    if (sc_localreply_http_date(now, date) == 0) {
        memcpy(date, "Thu, 01 Jan 1970 00:00:00 GMT", 30);
    }
    n = snprintf(head, sizeof head,
                 "HTTP/1.1 %03d %s\r\ncontent-length: %zu\r\n%sdate: %s\r\n%s\r\n", r->status,
                 sc_localreply_status_text(r->status), r->body_len,
                 r->body_len > 0 ? "content-type: text/plain\r\n" : "", date,
                 close ? "connection: close\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof head) {
        *need = 0;
        return -1;
    }
    *need = (size_t)n + body;
    if (out == NULL || *need > cap) {
        return -1;
    }
    memcpy(out, head, (size_t)n);
    memcpy(out + n, r->body, body);
    return 0;
}

int sc_localreply_write(const struct sc_localreply *r, int close, int head_request, time_t now,
                        struct evbuffer *out)
{
    char buf[256 + SC_LOCALREPLY_BODY_MAX];
    size_t need = 0;

    if (sc_localreply_format(r, close, head_request, now, buf, sizeof buf, &need) != 0) {
        return -1;
    }
    return evbuffer_add(out, buf, need) == 0 ? 0 : -1;
}
