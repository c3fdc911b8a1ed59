#ifndef SC_H2NV_H
#define SC_H2NV_H

#include <nghttp2/nghttp2.h>

/* One HTTP/2 header for nghttp2's submit functions: name and value are
 * borrowed (NUL-terminated) and must outlive the submit call, which copies
 * them (no NGHTTP2_NV_FLAG_NO_COPY_*). */
nghttp2_nv sc_h2_nv(const char *name, const char *value);

#endif
