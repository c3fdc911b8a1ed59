#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    enum sc_ctl_cmd cmd;
} cmds[] = {
    {"certs", SC_CTL_CERTS},       {"check-root", SC_CTL_CHECK_ROOT}, {"roots", SC_CTL_ROOTS},
    {"describe", SC_CTL_DESCRIBE}, {"diagnose", SC_CTL_DIAGNOSE},     {"help", SC_CTL_HELP},
};

const char *sc_ctl_usage(void)
{
    return "usage: sidecarctl [--admin HOST:PORT|unix:PATH] [-o table|json] COMMAND\n"
           "  certs                      the certificates in use, istioctl's columns\n"
           "  check-root [--days N]      days left of every trusted root and intermediate\n"
           "                             (exit 1 under N, default 30)\n"
           "  roots                      which peers chain to each trusted root\n"
           "  describe [PORT]            inbound ports' modes and who decided them,\n"
           "                             outbound routes' TLS and expected identities\n"
           "  diagnose HOST:PORT [--sni NAME] [--identity SPIFFE_ID]\n"
           "                             one mTLS handshake from the sidecar to a peer\n"
           "--admin defaults to " SC_CTL_DEFAULT_ADMIN ".  Exit status: 0 all is well, "
           "1 bad news, 2 usage or connection error.\n";
}

/* A number in lo..hi, or -1. */
static int number(const char *s, int lo, int hi)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
        return -1;
    }
    return (int)v;
}

/* The value of option name at argv[*i] ("--name V" or "--name=V"), or NULL
 * when argv[*i] is not that option.  *missing is set when it is, without a
 * value. */
static const char *opt_value(int argc, char **argv, int *i, const char *name, int *missing)
{
    size_t n = strlen(name);
    const char *a = argv[*i];

    if (strncmp(a, name, n) != 0) {
        return NULL;
    }
    if (a[n] == '=') {
        return a + n + 1;
    }
    if (a[n] != '\0') {
        return NULL;
    }
    if (*i + 1 >= argc) {
        *missing = 1;
        return NULL;
    }
    return argv[++*i];
}

int sc_ctl_parse_args(int argc, char **argv, struct sc_ctl_opts *o, char *why, size_t whylen)
{
    const char *pos[3] = {NULL, NULL, NULL};
    const char *days = NULL, *v;
    int npos = 0, have_cmd = 0;

    memset(o, 0, sizeof(*o));
    o->admin = SC_CTL_DEFAULT_ADMIN;
    o->days = SC_CTL_DEFAULT_DAYS;
    for (int i = 1; i < argc; i++) {
        int missing = 0;
        const char *a = argv[i];

        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            o->cmd = SC_CTL_HELP;
            return 0;
        } else if ((v = opt_value(argc, argv, &i, "--admin", &missing)) != NULL) {
            o->admin = v;
        } else if ((v = opt_value(argc, argv, &i, "-o", &missing)) != NULL ||
                   (v = opt_value(argc, argv, &i, "--output", &missing)) != NULL) {
            if (strcmp(v, "json") != 0 && strcmp(v, "table") != 0) {
                snprintf(why, whylen, "-o %s: use table or json", v);
                return -1;
            }
            o->json = strcmp(v, "json") == 0;
        } else if ((v = opt_value(argc, argv, &i, "--days", &missing)) != NULL) {
            days = v;
        } else if ((v = opt_value(argc, argv, &i, "--sni", &missing)) != NULL) {
            o->sni = v;
        } else if ((v = opt_value(argc, argv, &i, "--identity", &missing)) != NULL) {
            o->identity = v;
        } else if (missing) {
            snprintf(why, whylen, "%s needs a value", a);
            return -1;
        } else if (a[0] == '-' && a[1] != '\0') {
            snprintf(why, whylen, "unknown option %s", a);
            return -1;
        } else if (npos < 3) {
            pos[npos++] = a;
        } else {
            snprintf(why, whylen, "too many arguments (%s)", a);
            return -1;
        }
    }
    if (npos == 0) {
        snprintf(why, whylen, "no command given (certs, check-root, roots, describe, diagnose)");
        return -1;
    }
    for (size_t k = 0; k < sizeof(cmds) / sizeof(cmds[0]); k++) {
        if (strcmp(pos[0], cmds[k].name) == 0) {
            o->cmd = cmds[k].cmd;
            have_cmd = 1;
        }
    }
    if (!have_cmd) {
        snprintf(why, whylen, "unknown command \"%s\"", pos[0]);
        return -1;
    }
    if (o->admin[0] == '\0') {
        snprintf(why, whylen, "--admin is empty");
        return -1;
    }
    if (days != NULL && o->cmd != SC_CTL_CHECK_ROOT) {
        snprintf(why, whylen, "--days only applies to check-root");
        return -1;
    }
    if (days != NULL && (o->days = number(days, 0, 36500)) < 0) {
        snprintf(why, whylen, "--days %s: not a number of days (0..36500)", days);
        return -1;
    }
    if ((o->sni != NULL || o->identity != NULL) && o->cmd != SC_CTL_DIAGNOSE) {
        snprintf(why, whylen, "--sni and --identity only apply to diagnose");
        return -1;
    }
    switch (o->cmd) {
    case SC_CTL_DESCRIBE:
        if (npos > 2) {
            snprintf(why, whylen, "describe takes at most one PORT");
            return -1;
        }
        if (npos == 2 && (o->port = number(pos[1], 1, 65535)) < 0) {
            snprintf(why, whylen, "describe %s: not a port (1..65535)", pos[1]);
            return -1;
        }
        return 0;
    case SC_CTL_DIAGNOSE:
        if (npos != 2) {
            snprintf(why, whylen, "diagnose needs one HOST:PORT");
            return -1;
        }
        o->target = pos[1];
        return 0;
    default:
        if (npos > 1) {
            snprintf(why, whylen, "%s takes no argument (%s)", pos[0], pos[1]);
            return -1;
        }
        return 0;
    }
}
