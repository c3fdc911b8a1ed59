#!/usr/bin/env bash
# Installs (or removes) the nat rules that send a pod's TCP traffic through
# the sidecar: what an init container runs before the app starts, in the
# layout Istio's istio-iptables uses, with chains of our own.
#
#   sidecar-iptables.sh [install] [OPTIONS]   install (the default command)
#   sidecar-iptables.sh clean [OPTIONS]       remove exactly what install added
#   sidecar-iptables.sh --help
#
# Options (lists are comma-separated):
#   --inbound-port P             inbound capture port (15006)
#   --outbound-port P            outbound capture port (15001)
#   --proxy-ports LIST           the sidecar's own ports, never redirected
#                                inbound (15000,15001,15006,15021,15090)
#   --exclude-inbound-ports LIST ports (or A:B ranges) left alone inbound
#   --exclude-outbound-ports LIST  destination ports left alone outbound
#   --exclude-outbound-cidrs LIST  destinations left alone outbound
#                                (IPv4 and IPv6 CIDRs may be mixed)
#   --mark N                     the SO_MARK the sidecar puts on its upstream
#                                sockets (its `socket_mark:`), 1..2147483647
#                                (1337).  0 = no mark: exempt by uid alone
#   --proxy-uid U                the sidecar's uid (1337)
#   --ipv6 | --no-ipv6           also write ip6tables rules (default: when the
#                                kernel has IPv6)
#   --dry-run                    print the iptables-restore input, touch nothing
#
# The chains (table nat, for iptables and ip6tables alike):
#
#   PREROUTING -p tcp -> SIDECAR_INBOUND
#       proxy ports, --exclude-inbound-ports  RETURN
#       everything else                       SIDECAR_IN_REDIRECT (REDIRECT to 15006)
#   OUTPUT -p tcp -> SIDECAR_OUTPUT
#       --exclude-outbound-ports                         RETURN
#       -o lo, not to 127.0.0.1/::1, the sidecar's       SIDECAR_IN_REDIRECT
#       -o lo, not the sidecar's                         RETURN
#       the sidecar's                                    RETURN
#       to 127.0.0.1 / ::1, --exclude-outbound-cidrs     RETURN
#       everything else                                  SIDECAR_REDIRECT (REDIRECT to 15001)
#
# "The sidecar's" socket is one owned by uid U (--proxy-uid) AND carrying
# mark M (--mark): a process of uid U without the mark is captured like any
# other, and so is another uid's socket with the mark (CAP_NET_RAW is
# enough to set one).  With --mark 0 it is uid U alone: Istio's rules (less
# its 127.0.0.6 and gid exemptions, which this sidecar does not need), with
# Istio's hole: any process of uid U bypasses the sidecar (docs/deploy.md).
#
# Install is idempotent: the chains are declared (created, or flushed if
# they exist) and filled in one iptables-restore --noflush transaction per
# family, and the two jumps are added only when missing.  clean deletes the
# two jumps and the four chains and nothing else; running it again does
# nothing.  Exit status: 0 done, 1 failure (with a message naming what is
# missing), 2 usage.
#
# Environment: IPTABLES, IP6TABLES: the commands (default iptables and
# ip6tables; e.g. iptables-legacy); "$IPTABLES-restore" is used with them.
set -euo pipefail

PROG=sidecar-iptables
CHAINS=(SIDECAR_INBOUND SIDECAR_IN_REDIRECT SIDECAR_OUTPUT SIDECAR_REDIRECT)

die() { echo "$PROG: error: $*" >&2; exit 1; }
usage_err() { echo "$PROG: $*" >&2; echo "Try '$0 --help'." >&2; exit 2; }
note() { echo "$PROG: $*" >&2; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'; exit 0; }

cmd=install
inbound_port=15006
outbound_port=15001
proxy_ports=15000,15001,15006,15021,15090
excl_in=""
excl_out=""
excl_cidrs=""
mark=1337
proxy_uid=1337
ipv6=auto
dry_run=0

need_arg() { [ $# -ge 2 ] && [ -n "$2" ] || usage_err "option $1 needs a value"; }

while [ $# -gt 0 ]; do
    case $1 in
    install | clean) cmd=$1 ;;
    -h | --help | help) usage ;;
    --inbound-port) need_arg "$@"; inbound_port=$2; shift ;;
    --outbound-port) need_arg "$@"; outbound_port=$2; shift ;;
    --proxy-ports) need_arg "$@"; proxy_ports=$2; shift ;;
    --exclude-inbound-ports) need_arg "$@"; excl_in=$2; shift ;;
    --exclude-outbound-ports) need_arg "$@"; excl_out=$2; shift ;;
    --exclude-outbound-cidrs) need_arg "$@"; excl_cidrs=$2; shift ;;
    --mark) need_arg "$@"; mark=$2; shift ;;
    --proxy-uid) need_arg "$@"; proxy_uid=$2; shift ;;
    --ipv6) ipv6=1 ;;
    --no-ipv6) ipv6=0 ;;
    --dry-run) dry_run=1 ;;
    --*=*) set -- "${1%%=*}" "${1#*=}" "${@:2}"; continue ;;
    *) usage_err "unknown argument '$1'" ;;
    esac
    shift
done

# ---------------------------------------------------------------- validation

is_port() { [[ $1 =~ ^[0-9]{1,5}$ ]] && [ "$((10#$1))" -ge 1 ] && [ "$((10#$1))" -le 65535 ]; }

# port_list NAME LIST: prints the entries one per line (a port or A:B).
port_list() {
    local name=$1 list=$2 p a b
    local -a items
    [ -n "$list" ] || return 0
    IFS=',' read -r -a items <<<"$list"
    for p in "${items[@]}"; do
        p=${p// /}
        [ -n "$p" ] || continue
        if [[ $p == *:* ]]; then
            a=${p%%:*}
            b=${p#*:}
            is_port "$a" && is_port "$b" && [ "$((10#$a))" -le "$((10#$b))" ] ||
                usage_err "$name: bad port range '$p' (expected A:B with 1 <= A <= B <= 65535)"
            echo "$((10#$a)):$((10#$b))"
        else
            is_port "$p" || usage_err "$name: bad port '$p' (expected 1..65535)"
            echo "$((10#$p))"
        fi
    done
}

# cidr_list LIST FAMILY(4|6): prints the CIDRs of that family, one per line.
cidr_list() {
    local list=$1 fam=$2 c addr len o
    local -a items octets
    [ -n "$list" ] || return 0
    IFS=',' read -r -a items <<<"$list"
    for c in "${items[@]}"; do
        c=${c// /}
        [ -n "$c" ] || continue
        addr=${c%%/*}
        len=
        if [[ $c == */* ]]; then len=${c#*/}; fi
        if [[ $addr =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]]; then
            IFS=. read -r -a octets <<<"$addr"
            for o in "${octets[@]}"; do
                [ "$((10#$o))" -le 255 ] || usage_err "--exclude-outbound-cidrs: bad IPv4 address in '$c'"
            done
            if [ -n "$len" ]; then
                [[ $len =~ ^[0-9]{1,2}$ ]] && [ "$((10#$len))" -le 32 ] ||
                    usage_err "--exclude-outbound-cidrs: bad prefix length in '$c' (0..32)"
            else
                len=32
            fi
            [ "$fam" = 4 ] && echo "$addr/$((10#$len))"
        elif [[ $addr =~ ^[0-9a-fA-F:.]+$ ]] && [[ $addr == *:* ]]; then
            if [ -n "$len" ]; then
                [[ $len =~ ^[0-9]{1,3}$ ]] && [ "$((10#$len))" -le 128 ] ||
                    usage_err "--exclude-outbound-cidrs: bad prefix length in '$c' (0..128)"
            else
                len=128
            fi
            [ "$fam" = 6 ] && echo "$addr/$((10#$len))"
        else
            usage_err "--exclude-outbound-cidrs: '$c' is not an IPv4 or IPv6 CIDR"
        fi
    done
    return 0
}

is_port "$inbound_port" || usage_err "--inbound-port: bad port '$inbound_port'"
is_port "$outbound_port" || usage_err "--outbound-port: bad port '$outbound_port'"
inbound_port=$((10#$inbound_port))
outbound_port=$((10#$outbound_port))
[[ $mark =~ ^[0-9]{1,10}$ ]] && [ "$((10#$mark))" -le 2147483647 ] ||
    usage_err "--mark: '$mark' is not an integer 0..2147483647"
mark=$((10#$mark))
[[ $proxy_uid =~ ^[0-9]{1,10}$ ]] && [ "$((10#$proxy_uid))" -le 4294967294 ] ||
    usage_err "--proxy-uid: '$proxy_uid' is not a numeric uid"
proxy_uid=$((10#$proxy_uid))

# Run the list parsers once now, in this shell, so bad input exits here.
port_list --proxy-ports "$proxy_ports" >/dev/null
port_list --exclude-inbound-ports "$excl_in" >/dev/null
port_list --exclude-outbound-ports "$excl_out" >/dev/null
cidr_list "$excl_cidrs" 4 >/dev/null
cidr_list "$excl_cidrs" 6 >/dev/null

if [ "$ipv6" = auto ]; then
    if [ -e /proc/net/if_inet6 ]; then ipv6=1; else ipv6=0; fi
fi
families=(4)
if [ "$ipv6" = 1 ]; then families+=(6); fi

# ---------------------------------------------------------------- the rules

# rules FAMILY: the iptables-restore input for one family (table nat).
# Without JUMPS=0 it ends with the two jumps from the built-in chains.
rules() {
    local fam=$1 lo p c own n
    local -a not_own
    if [ "$fam" = 4 ]; then lo=127.0.0.1/32; else lo=::1/128; fi
    # "the sidecar's own socket": uid U and mark M; "not the sidecar's":
    # not uid U, or not mark M (two rules).  --mark 0: uid U alone.
    own="-m owner --uid-owner $proxy_uid"
    not_own=("-m owner ! --uid-owner $proxy_uid")
    if [ "$mark" -ne 0 ]; then
        own="$own -m mark --mark $mark"
        not_own+=("-m mark ! --mark $mark")
    fi
    echo "*nat"
    for c in "${CHAINS[@]}"; do echo ":$c - [0:0]"; done
    echo "-A SIDECAR_REDIRECT -p tcp -j REDIRECT --to-ports $outbound_port"
    echo "-A SIDECAR_IN_REDIRECT -p tcp -j REDIRECT --to-ports $inbound_port"
    # inbound: the sidecar's own ports, then the user's exclusions
    port_list --proxy-ports "$proxy_ports" | while read -r p; do
        echo "-A SIDECAR_INBOUND -p tcp --dport $p -j RETURN"
    done
    port_list --exclude-inbound-ports "$excl_in" | while read -r p; do
        echo "-A SIDECAR_INBOUND -p tcp --dport $p -j RETURN"
    done
    echo "-A SIDECAR_INBOUND -p tcp -j SIDECAR_IN_REDIRECT"
    # outbound
    port_list --exclude-outbound-ports "$excl_out" | while read -r p; do
        echo "-A SIDECAR_OUTPUT -p tcp --dport $p -j RETURN"
    done
    # the sidecar calling its own pod IP (routed over lo): through the
    # inbound capture, so the pod's own inbound policy applies (Istio)
    echo "-A SIDECAR_OUTPUT -o lo ! -d $lo -p tcp $own -j SIDECAR_IN_REDIRECT"
    # the app calling itself (lo, its own pod IP): straight to the app (Istio)
    for n in "${not_own[@]}"; do
        echo "-A SIDECAR_OUTPUT -o lo $n -j RETURN"
    done
    # the sidecar's own upstream connections
    echo "-A SIDECAR_OUTPUT $own -j RETURN"
    echo "-A SIDECAR_OUTPUT -d $lo -j RETURN"
    cidr_list "$excl_cidrs" "$fam" | while read -r c; do
        echo "-A SIDECAR_OUTPUT -d $c -j RETURN"
    done
    echo "-A SIDECAR_OUTPUT -j SIDECAR_REDIRECT"
    if [ "${JUMPS:-1}" != 0 ]; then
        echo "-A PREROUTING -p tcp -j SIDECAR_INBOUND"
        echo "-A OUTPUT -p tcp -j SIDECAR_OUTPUT"
    fi
    echo "COMMIT"
}

# ---------------------------------------------------------------- dry run

if [ $dry_run = 1 ]; then
    for fam in "${families[@]}"; do
        if [ "$fam" = 4 ]; then tool=${IPTABLES:-iptables}; else tool=${IP6TABLES:-ip6tables}; fi
        if [ "$cmd" = clean ]; then
            echo "# $PROG clean, IPv$fam: what would be run"
            echo "$tool -t nat -D PREROUTING -p tcp -j SIDECAR_INBOUND   # while present"
            echo "$tool -t nat -D OUTPUT -p tcp -j SIDECAR_OUTPUT        # while present"
            for c in "${CHAINS[@]}"; do echo "$tool -t nat -F $c; $tool -t nat -X $c   # if present"; done
        else
            echo "# $PROG install, IPv$fam: input of $tool-restore --noflush"
            rules "$fam"
        fi
    done
    exit 0
fi

# ---------------------------------------------------------------- checks

# tool FAMILY: sets T_CMD, T_RESTORE.
tool() {
    if [ "$1" = 4 ]; then
        T_CMD=${IPTABLES:-iptables}
    else
        T_CMD=${IP6TABLES:-ip6tables}
    fi
    T_RESTORE=$T_CMD-restore
}

for fam in "${families[@]}"; do
    tool "$fam"
    for t in "$T_CMD" "$T_RESTORE"; do
        if ! command -v "$t" >/dev/null 2>&1; then
            if [ "$fam" = 6 ]; then
                die "'$t' not found: IPv6 rules need it (install the iptables package), or pass --no-ipv6 to leave IPv6 traffic uncaptured"
            fi
            die "'$t' not found (install the iptables package)"
        fi
    done
done

# CAP_NET_ADMIN (bit 12) in our effective set?
capeff=$(awk '/^CapEff:/ { print $2 }' /proc/self/status 2>/dev/null || true)
if [ -n "$capeff" ] && [ $(((16#$capeff >> 12) & 1)) -ne 1 ]; then
    die "CAP_NET_ADMIN is missing (uid $(id -u), CapEff $capeff): run as root, or give the init container the NET_ADMIN and NET_RAW capabilities"
fi

# ---------------------------------------------------------------- install / clean

have_chain() { "$T_CMD" -t nat -S "$1" >/dev/null 2>&1; }
have_jump() { "$T_CMD" -t nat -C "$1" -p tcp -j "$2" >/dev/null 2>&1; }

install_family() {
    local fam=$1 doc out
    tool "$fam"
    # The two jumps go in only when missing; declaring the chains flushes
    # them, so a second install replaces the rules instead of adding twice.
    doc=$(JUMPS=0 rules "$fam" | sed '$d')
    have_jump PREROUTING SIDECAR_INBOUND || doc="$doc"$'\n'"-A PREROUTING -p tcp -j SIDECAR_INBOUND"
    have_jump OUTPUT SIDECAR_OUTPUT || doc="$doc"$'\n'"-A OUTPUT -p tcp -j SIDECAR_OUTPUT"
    doc="$doc"$'\n'"COMMIT"
    if ! out=$(printf '%s\n' "$doc" | "$T_RESTORE" --noflush 2>&1); then
        echo "$out" >&2
        die "$T_RESTORE failed for IPv$fam (no nat table, or no owner/mark match in this kernel?); nothing was changed for IPv$fam"
    fi
    have_jump PREROUTING SIDECAR_INBOUND && have_jump OUTPUT SIDECAR_OUTPUT ||
        die "IPv$fam: the jumps to SIDECAR_INBOUND / SIDECAR_OUTPUT are missing after install"
    note "IPv$fam: installed (inbound -> :$inbound_port, outbound -> :$outbound_port, exempt: uid $proxy_uid$( [ "$mark" -ne 0 ] && echo " with mark $mark" || echo " (no mark)"))"
}

clean_family() {
    local fam=$1 c _ removed=0 foreign
    tool "$fam"
    # Someone else's rule jumping to our chains would keep them from being
    # deleted: say so before changing anything.
    foreign=$("$T_CMD" -t nat -S 2>/dev/null |
        grep -E -e '-[jg] SIDECAR_(INBOUND|IN_REDIRECT|OUTPUT|REDIRECT)( |$)' |
        grep -v -E -e '^-A SIDECAR_(INBOUND|IN_REDIRECT|OUTPUT|REDIRECT) ' |
        grep -v -x -e '-A PREROUTING -p tcp -j SIDECAR_INBOUND' -e '-A OUTPUT -p tcp -j SIDECAR_OUTPUT' || true)
    if [ -n "$foreign" ]; then
        die "IPv$fam: nothing removed: rules this script did not add jump to its chains; delete them first: $(printf '%s' "$foreign" | tr '\n' ';')"
    fi
    for _ in 1 2 3 4 5 6 7 8; do
        have_jump PREROUTING SIDECAR_INBOUND || break
        "$T_CMD" -t nat -D PREROUTING -p tcp -j SIDECAR_INBOUND || die "IPv$fam: cannot delete the PREROUTING jump"
        removed=$((removed + 1))
    done
    for _ in 1 2 3 4 5 6 7 8; do
        have_jump OUTPUT SIDECAR_OUTPUT || break
        "$T_CMD" -t nat -D OUTPUT -p tcp -j SIDECAR_OUTPUT || die "IPv$fam: cannot delete the OUTPUT jump"
        removed=$((removed + 1))
    done
    # flush all first: they refer to each other
    for c in "${CHAINS[@]}"; do
        if have_chain "$c"; then "$T_CMD" -t nat -F "$c" || die "IPv$fam: cannot flush $c"; fi
    done
    for c in "${CHAINS[@]}"; do
        if have_chain "$c"; then
            "$T_CMD" -t nat -X "$c" ||
                die "IPv$fam: cannot delete chain $c (does a rule outside this script's chains still jump to it? see: $T_CMD-save -t nat)"
            removed=$((removed + 1))
        fi
    done
    if [ $removed -eq 0 ]; then
        note "IPv$fam: nothing to clean"
    else
        note "IPv$fam: removed the sidecar's chains and jumps"
    fi
}

for fam in "${families[@]}"; do
    case $cmd in
    install) install_family "$fam" ;;
    clean) clean_family "$fam" ;;
    esac
done
exit 0
