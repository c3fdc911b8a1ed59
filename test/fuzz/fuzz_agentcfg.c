/* Fuzz target for agent/agentcfg (on common/yamlcfg): arbitrary bytes as an
 * sds-agent YAML config.  Loading must never crash or leak; an accepted
 * config can be freed, a refused one says why.  The loader takes a C
 * string, so the input is cut at its first NUL, as reading a file would
 * not be (the file loader is the same code after the read).  Durations
 * parse from the same bytes.  Violations abort(). */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agentcfg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sc_agent_config *cfg = NULL;
    struct sc_err err;
    char *yaml = malloc(size + 1);
    int64_t ms = -1;

    if (yaml == NULL) {
        return 0;
    }
    memcpy(yaml, data, size);
    yaml[size] = '\0';
    memset(&err, 0, sizeof(err));
    if (sc_agent_config_load_string("fuzz.yaml", yaml, &cfg, &err) == 0) {
        if (cfg == NULL) {
            abort();
        }
        sc_agent_config_free(cfg);
    } else if (cfg != NULL || err.msg[0] == '\0') {
        abort();
    }
    if (size < 64 && sc_agent_parse_duration(yaml, &ms) == 0 && ms < 0) {
        abort();
    }
    free(yaml);
    return 0;
}
