#ifndef SC_CTL_RENDER_H
#define SC_CTL_RENDER_H

#include <stdio.h>

#include "cli.h"

/* What sidecarctl prints for each command, from the admin API's JSON
 * (borrowed), and the exit status the answer deserves (SC_CTL_OK,
 * SC_CTL_BAD_NEWS, SC_CTL_USAGE).  out NULL: only the status (for -o json,
 * where main prints the sidecar's own document).  Pure functions: no I/O
 * but out, for the unit tests. */

struct sc_json_val;

/* GET /certs?format=list: istioctl's `proxy-config secret` table; 1 when a
 * certificate is not ACTIVE or the sidecar has none yet. */
int sc_ctl_render_certs(const struct sc_json_val *root, const struct sc_ctl_opts *o, FILE *out);

/* GET /certs?format=list: every trusted root and intermediate with its
 * days left, then the OK / WARNING / EXPIRED line; 1 under o->days.
 * Writes its own JSON when o->json. */
int sc_ctl_render_check_root(const struct sc_json_val *root, const struct sc_ctl_opts *o,
                             FILE *out);

/* GET /certs/roots: one row per trusted root, peers seen and last seen. */
int sc_ctl_render_roots(const struct sc_json_val *root, const struct sc_ctl_opts *o, FILE *out);

/* GET /describe: inbound ports (all, or o->port: SC_CTL_USAGE when the
 * sidecar has no such port) and outbound routes. */
int sc_ctl_render_describe(const struct sc_json_val *root, const struct sc_ctl_opts *o, FILE *out);

/* POST /diagnose: the peer's chain, root, identity, protocol and the
 * verdict; 1 unless the verdict is "accepted". */
int sc_ctl_render_diagnose(const struct sc_json_val *root, const struct sc_ctl_opts *o, FILE *out);

#endif
