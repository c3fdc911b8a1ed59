#ifndef SC_CTL_CLI_H
#define SC_CTL_CLI_H

#include <stddef.h>

/* sidecarctl's command line (docs/operator.md): a command and its options,
 * in any order:
 *   sidecarctl [--admin HOST:PORT|unix:PATH] [-o table|json] COMMAND ...
 *   certs | check-root [--days N] | roots | describe [PORT]
 *   | diagnose HOST:PORT [--sni NAME] [--identity SPIFFE_ID]
 * A pure function of argv, for the unit tests. */

/* The exit statuses. */
#define SC_CTL_OK 0 /* all is well */
#define SC_CTL_BAD_NEWS 1 /* expiring, refused, unsafe */
#define SC_CTL_USAGE 2 /* usage or connection errors */

#define SC_CTL_DEFAULT_ADMIN "127.0.0.1:15000"
#define SC_CTL_DEFAULT_DAYS 30

enum sc_ctl_cmd {
    SC_CTL_HELP = 0,
    SC_CTL_CERTS,
    SC_CTL_CHECK_ROOT,
    SC_CTL_ROOTS,
    SC_CTL_DESCRIBE,
    SC_CTL_DIAGNOSE,
};

struct sc_ctl_opts {
    enum sc_ctl_cmd cmd;
    const char *admin; /* borrowed from argv (or the default) */
    int json; /* -o json */
    int days; /* check-root --days */
    int port; /* describe PORT; 0 = every port */
    const char *target; /* diagnose HOST:PORT */
    const char *sni; /* diagnose --sni, or NULL */
    const char *identity; /* diagnose --identity, or NULL */
};

/* Fills o from argv.  0, or -1 with a one-line reason in why. */
int sc_ctl_parse_args(int argc, char **argv, struct sc_ctl_opts *o, char *why, size_t whylen);

/* The usage text. */
const char *sc_ctl_usage(void);

#endif
