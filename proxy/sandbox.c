#include "sandbox.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static int last_cap(void)
{
    int c = CAP_LAST_CAP;

    /* a newer kernel may know more than our headers */
    while (prctl(PR_CAPBSET_READ, (unsigned long)c + 1, 0, 0, 0) >= 0) {
        c++;
    }
    return c;
}

static int drop_caps(const struct sc_sandbox_opts *opts, struct sc_sandbox_result *res,
                     struct sc_err *err)
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
    unsigned want[_LINUX_CAPABILITY_U32S_3] = {0, 0};
    int top = last_cap();
    int na, nb;

    if (opts->keep_net_admin) {
        want[CAP_TO_INDEX(CAP_NET_ADMIN)] |= CAP_TO_MASK(CAP_NET_ADMIN);
    }
    if (opts->keep_net_bind_service) {
        want[CAP_TO_INDEX(CAP_NET_BIND_SERVICE)] |= CAP_TO_MASK(CAP_NET_BIND_SERVICE);
    }
    memset(data, 0, sizeof(data));
    if (syscall(__NR_capget, &hdr, data) != 0) {
        sc_err_set(err, "capget: %s", strerror(errno));
        return -1;
    }
    /* The bounding set first: dropping needs CAP_SETPCAP, dropped below. */
    res->bounding_dropped = 1;
    for (int c = 0; c <= top; c++) {
        if ((want[CAP_TO_INDEX(c)] & CAP_TO_MASK(c)) != 0 ||
            prctl(PR_CAPBSET_READ, (unsigned long)c, 0, 0, 0) != 1) {
            continue;
        }
        if (prctl(PR_CAPBSET_DROP, (unsigned long)c, 0, 0, 0) != 0) {
            if (errno != EPERM) {
                sc_err_set(err, "prctl(PR_CAPBSET_DROP, %d): %s", c, strerror(errno));
                return -1;
            }
            res->bounding_dropped = 0;   /* no CAP_SETPCAP: harmless under no_new_privs */
            break;
        }
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
        sc_err_set(err, "prctl(PR_CAP_AMBIENT_CLEAR_ALL): %s", strerror(errno));
        return -1;
    }
    for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++) {
        data[i].permitted &= want[i];
        data[i].effective = data[i].permitted;
        data[i].inheritable = 0;
    }
    if (syscall(__NR_capset, &hdr, data) != 0) {
        sc_err_set(err, "capset: %s", strerror(errno));
        return -1;
    }
    na = (data[CAP_TO_INDEX(CAP_NET_ADMIN)].permitted & CAP_TO_MASK(CAP_NET_ADMIN)) != 0;
    nb = (data[CAP_TO_INDEX(CAP_NET_BIND_SERVICE)].permitted &
          CAP_TO_MASK(CAP_NET_BIND_SERVICE)) != 0;
    snprintf(res->kept, sizeof(res->kept), "%s%s%s%s", na ? "CAP_NET_ADMIN" : "",
             na && nb ? "," : "", nb ? "CAP_NET_BIND_SERVICE" : "", !na && !nb ? "none" : "");
    return 0;
}

int sc_sandbox_apply(const struct sc_sandbox_opts *opts, struct sc_sandbox_result *res,
                     struct sc_err *err)
{
    struct sc_sandbox_result local;

    if (res == NULL) {
        res = &local;
    }
    memset(res, 0, sizeof(*res));
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        sc_err_set(err, "prctl(PR_SET_NO_NEW_PRIVS): %s", strerror(errno));
        return -1;
    }
    res->no_new_privs = 1;
    if (drop_caps(opts, res, err) != 0) {
        return -1;
    }
    return 0;
}
