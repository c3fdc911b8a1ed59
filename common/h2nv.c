#include "h2nv.h"

#include <stdint.h>
#include <string.h>

nghttp2_nv sc_h2_nv(const char *name, const char *value)
{
    nghttp2_nv nv;

    nv.name = (uint8_t *)(uintptr_t)name;
    nv.value = (uint8_t *)(uintptr_t)value;
    nv.namelen = strlen(name);
    nv.valuelen = strlen(value);
    nv.flags = NGHTTP2_NV_FLAG_NONE;
    return nv;
}
