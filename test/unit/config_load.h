/* Test helpers for the unit tests that load a sidecar config from a string
 * (test_config.c, test_config_identity.c, test_policy.c, test_route.c).  Static
 * inline functions; include from one test file each. */
#ifndef SC_TEST_CONFIG_LOAD_H
#define SC_TEST_CONFIG_LOAD_H

#include <check.h>
#include <string.h>

#include "config.h"

/* Loads yaml (named name in messages) and returns the config, or fails the
 * test with the error.  The caller frees the config. */
static inline struct sc_config *tc_config_load(const char *name, const char *yaml)
{
    struct sc_config *cfg = NULL;
    struct sc_err err;
    char buf[1024];

    memset(&err, 0, sizeof(err));
    if (sc_config_load_string(name, yaml, &cfg, &err) != 0) {
        ck_abort_msg("load failed: %s", sc_err_str(&err, buf, sizeof(buf)));
    }
    ck_assert_ptr_nonnull(cfg);
    return cfg;
}

/* Loads yaml expecting failure at name:line:col with exactly msg. */
static inline void tc_config_expect_err(const char *name, const char *yaml, int line, int col,
                                 const char *msg)
{
    struct sc_config *cfg = NULL;
    struct sc_err err;

    memset(&err, 0, sizeof(err));
    ck_assert_int_eq(sc_config_load_string(name, yaml, &cfg, &err), -1);
    ck_assert_ptr_null(cfg);
    ck_assert_str_eq(err.msg, msg);
    ck_assert_str_eq(err.file, name);
    ck_assert_int_eq(err.line, line);
    ck_assert_int_eq(err.col, col);
}

#endif
