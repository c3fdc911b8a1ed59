#!/usr/bin/env bash
# Test / demo / benchmark certificates with the openssl CLI only.
# ECDSA P-256 keys by default (--rsa: RSA 2048).  Output is never committed.
#
#   gen-certs.sh ca DIR NAME [--days N | --seconds N] [--rsa] [--expired]
#       DIR/NAME-ca.crt, DIR/NAME-ca.key: self-signed root, CN=NAME,
#       basicConstraints critical CA:TRUE, keyUsage keyCertSign,cRLSign.
#   gen-certs.sh intermediate DIR CA NAME [--days N] [--rsa] [--expired]
#       DIR/NAME-ca.crt, DIR/NAME-ca.key signed by DIR/CA-ca.{crt,key};
#       DIR/NAME-ca.chain holds the intermediates above a leaf (itself first).
#   gen-certs.sh leaf DIR CA LEAF SPIFFE_ID [--days N | --seconds N] [--rsa] [--expired]
#                                           [--not-yet-valid] [--cn NAME]
#                                           [--dns NAME]...
#       DIR/LEAF.crt (the leaf followed by any intermediates: a chain file
#       like Istio's cert-chain.pem) and DIR/LEAF.key.  URI SAN = SPIFFE_ID
#       ("-" for none), a DNS SAN per --dns (none by default), CN = NAME
#       (default LEAF), EKU serverAuth,clientAuth, keyUsage
#       digitalSignature,keyEncipherment.
#   gen-certs.sh crl DIR CA [--revoke CERT]... [--days N] [--expired]
#                           [--out FILE]
#       DIR/CA-ca.crl (or FILE): a CRL signed by DIR/CA-ca.{crt,key} listing
#       the serial of each CERT's first certificate (CERT: a path, or a name
#       in DIR: NAME.crt, else NAME-ca.crt); none = an empty CRL.  Next
#       update in N days (default 7); --expired: last update 30 days ago,
#       next update 1 day ago.
#   gen-certs.sh mesh DIR [--force]
#       The standard set (skipped when already complete and not expiring):
#         ca.crt (= mesh-ca.crt), mesh-ca.key      root "mesh"
#         client.crt/.key    spiffe://cluster.local/ns/foo/sa/client   (mesh)
#         server.crt/.key    spiffe://cluster.local/ns/bar/sa/server   (mesh)
#         foo-ca.crt/.key, bar-ca.crt/.key          two independent roots
#         foo-client.crt/.key  spiffe://cluster.local/ns/foo/sa/client (foo)
#         bar-server.crt/.key  spiffe://cluster.local/ns/bar/sa/server (bar)
#         other-td.crt/.key  spiffe://example.org/ns/foo/sa/client     (mesh)
#         rogue.crt/.key     spiffe://cluster.local/ns/evil/sa/rogue   (mesh)
#         expired-client.crt/.key  client's SPIFFE ID, validity ended  (mesh)
#         mesh-int-ca.crt/.key     intermediate under mesh
#         int-client.crt/.key  client's SPIFFE ID, chain leaf+mesh-int (mesh-int)
#
# --expired: notBefore 30 days ago, notAfter 1 day ago.
# --seconds N: notBefore 1 hour ago, notAfter N seconds from now (a
#   certificate that expires while a test runs).
# --not-yet-valid: notBefore 1 day ahead.
# --seconds N (ca, intermediate, leaf): notAfter N seconds from now (to watch
#   a certificate expire while a test runs); notBefore 1 hour ago.
# --starts-in N (ca, intermediate, leaf): notBefore N seconds from now (to
#   watch one become valid); notAfter --days later.
# Dates are set with `openssl ca -startdate/-enddate` (openssl 3.0 has no
# x509 -not_before), with a throw-away CA database in a temporary directory.
set -euo pipefail

prog=$(basename "$0")
usage() {
    sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2
    exit 2
}
die() { echo "$prog: $*" >&2; exit 1; }

command -v openssl >/dev/null 2>&1 || die "openssl not found"

TMPD=
cleanup() { if [ -n "$TMPD" ]; then rm -rf "$TMPD"; fi; }
trap cleanup EXIT
tmpdir() {
    if [ -z "$TMPD" ]; then TMPD=$(mktemp -d "${TMPDIR:-/tmp}/gen-certs.XXXXXX"); fi
}

# utc DATE-SPEC -> YYYYMMDDHHMMSSZ
utc() { date -u -d "$1" +%Y%m%d%H%M%SZ; }

# newkey FILE RSA(0|1)
newkey() {
    local out=$1 rsa=$2
    (
        umask 077
        if [ "$rsa" = 1 ]; then
            openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$out.tmp" 2>/dev/null
        else
            openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$out.tmp" 2>/dev/null
        fi
    ) || die "key generation failed for $out"
    mv -f "$out.tmp" "$out"
}

# sign KIND(ca|int|leaf) SUBJ_CN KEY ISSUER_CRT ISSUER_KEY OUT_CRT START END [SPIFFE]
# ISSUER_CRT empty = self-signed.
sign() {
    local kind=$1 cn=$2 key=$3 icrt=$4 ikey=$5 out=$6 start=$7 end=$8 san=${9:-}
    local d ext
    tmpdir
    d=$(mktemp -d "$TMPD/ca.XXXXXX")
    : >"$d/index.txt"
    case $kind in
    ca)   ext="basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash" ;;
    int)  ext="basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always" ;;
    leaf) ext="basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth,clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = $san" ;;
    esac
    cat >"$d/openssl.cnf" <<EOF
[ ca ]
default_ca = tmpca
[ tmpca ]
dir = $d
database = $d/index.txt
new_certs_dir = $d
serial = $d/serial
default_md = sha256
policy = anything
unique_subject = no
email_in_dn = no
copy_extensions = none
x509_extensions = exts
[ anything ]
commonName = optional
[ exts ]
$ext
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = $cn
EOF
    openssl req -new -config "$d/openssl.cnf" -key "$key" -out "$d/req.csr" 2>"$d/err" ||
        { cat "$d/err" >&2; die "req failed for $out"; }
    local signer=(-cert "$icrt" -keyfile "$ikey")
    if [ -z "$icrt" ]; then signer=(-selfsign -keyfile "$key"); fi
    openssl ca -batch -notext -config "$d/openssl.cnf" -rand_serial \
        -startdate "$start" -enddate "$end" "${signer[@]}" \
        -in "$d/req.csr" -out "$d/out.crt" >"$d/err" 2>&1 ||
        { cat "$d/err" >&2; die "signing failed for $out"; }
    mv -f "$d/out.crt" "$out"
    rm -rf "$d"
}

# dates DAYS EXPIRED NOTYET -> sets START END (--seconds / --starts-in: SECONDS_LEFT, STARTS_IN)
dates() {
    local days=$1 expired=$2 notyet=$3
    if [ -n "$SECONDS_LEFT" ]; then
        START=$(utc '1 hour ago'); END=$(utc "now + $SECONDS_LEFT seconds")
    elif [ -n "$STARTS_IN" ]; then
        START=$(utc "now + $STARTS_IN seconds"); END=$(utc "now + $days days")
    elif [ "$expired" = 1 ]; then
        START=$(utc '30 days ago'); END=$(utc '1 day ago')
    elif [ "$notyet" = 1 ]; then
        START=$(utc 'now + 1 day'); END=$(utc "now + $((days + 1)) days")
    else
        START=$(utc '1 hour ago'); END=$(utc "now + $days days")
    fi
}

# Options shared by the subcommands; positional arguments go to ARGS.
parse_opts() {
    DAYS=; RSA=0; EXPIRED=0; NOTYET=0; CN=; FORCE=0; ARGS=(); DNS=(); SECONDS_LEFT=; STARTS_IN=
    REVOKE=(); OUT=
    while [ $# -gt 0 ]; do
        case $1 in
        --days) [ $# -ge 2 ] || die "--days needs a value"
                [[ $2 =~ ^[0-9]+$ ]] && [ "$2" -gt 0 ] || die "--days: not a positive number: $2"
                DAYS=$2; shift ;;
        --seconds|--starts-in)
                [ $# -ge 2 ] || die "$1 needs a value"
                [[ $2 =~ ^[0-9]+$ ]] && [ "$2" -gt 0 ] || die "$1: not a positive number: $2"
                if [ "$1" = --seconds ]; then SECONDS_LEFT=$2; else STARTS_IN=$2; fi
                shift ;;
        --rsa) RSA=1 ;;
        --expired) EXPIRED=1 ;;
        --not-yet-valid) NOTYET=1 ;;
        --cn) [ $# -ge 2 ] || die "--cn needs a value"; CN=$2; shift ;;
        --dns) [ $# -ge 2 ] || die "--dns needs a value"
               [[ $2 =~ ^[A-Za-z0-9*][A-Za-z0-9.-]*$ ]] || die "--dns: not a DNS name: $2"
               DNS+=("$2"); shift ;;
        --force) FORCE=1 ;;
        --revoke) [ $# -ge 2 ] || die "--revoke needs a certificate"; REVOKE+=("$2"); shift ;;
        --out) [ $# -ge 2 ] || die "--out needs a file"; OUT=$2; shift ;;
        -h|--help) usage ;;
        --*) die "unknown option: $1" ;;
        *) ARGS+=("$1") ;;
        esac
        shift
    done
}

need_ca() { # DIR CA
    [ -s "$1/$2-ca.crt" ] && [ -s "$1/$2-ca.key" ] || die "no CA '$2' in $1 (run: $prog ca $1 $2)"
}

check_name() {
    [[ $1 =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || die "bad name: '$1' (letters, digits, . _ -)"
}

cmd_ca() { # DIR NAME
    [ ${#ARGS[@]} -eq 2 ] || usage
    local dir=${ARGS[0]} name=${ARGS[1]}
    check_name "$name"
    mkdir -p "$dir"
    dates "${DAYS:-3650}" "$EXPIRED" 0
    newkey "$dir/$name-ca.key" "$RSA"
    sign ca "$name" "$dir/$name-ca.key" "" "" "$dir/$name-ca.crt" "$START" "$END"
    rm -f "$dir/$name-ca.chain"
}

cmd_intermediate() { # DIR CA NAME
    [ ${#ARGS[@]} -eq 3 ] || usage
    local dir=${ARGS[0]} ca=${ARGS[1]} name=${ARGS[2]}
    check_name "$name"; need_ca "$dir" "$ca"
    dates "${DAYS:-1825}" "$EXPIRED" 0
    newkey "$dir/$name-ca.key" "$RSA"
    sign int "$name" "$dir/$name-ca.key" "$dir/$ca-ca.crt" "$dir/$ca-ca.key" \
        "$dir/$name-ca.crt" "$START" "$END"
    {
        cat "$dir/$name-ca.crt"
        if [ -f "$dir/$ca-ca.chain" ]; then cat "$dir/$ca-ca.chain"; fi
    } >"$dir/$name-ca.chain.tmp"
    mv -f "$dir/$name-ca.chain.tmp" "$dir/$name-ca.chain"
}

cmd_leaf() { # DIR CA LEAF SPIFFE_ID
    [ ${#ARGS[@]} -eq 4 ] || usage
    local dir=${ARGS[0]} ca=${ARGS[1]} leaf=${ARGS[2]} id=${ARGS[3]}
    check_name "$leaf"; need_ca "$dir" "$ca"
    local san="" d
    if [ "$id" != - ]; then
        [[ $id =~ ^spiffe://[^/]+(/.*)?$ ]] || die "not a SPIFFE ID: '$id'"
        [[ $id =~ [,[:space:]] ]] && die "SPIFFE ID may not contain commas or spaces: '$id'"
        san="URI:$id"
    fi
    for d in "${DNS[@]}"; do san="${san:+$san,}DNS:$d"; done
    [ -n "$san" ] || die "a leaf needs a SPIFFE ID or --dns"
    [ "$EXPIRED" = 1 ] && [ "$NOTYET" = 1 ] && die "--expired and --not-yet-valid exclude each other"
    dates "${DAYS:-365}" "$EXPIRED" "$NOTYET"
    newkey "$dir/$leaf.key" "$RSA"
    tmpdir
    sign leaf "${CN:-$leaf}" "$dir/$leaf.key" "$dir/$ca-ca.crt" "$dir/$ca-ca.key" \
        "$TMPD/leaf.crt" "$START" "$END" "$san"
    {
        cat "$TMPD/leaf.crt"
        if [ -f "$dir/$ca-ca.chain" ]; then cat "$dir/$ca-ca.chain"; fi
    } >"$dir/$leaf.crt.tmp"
    mv -f "$dir/$leaf.crt.tmp" "$dir/$leaf.crt"
}

cmd_crl() { # DIR CA
    [ ${#ARGS[@]} -eq 2 ] || usage
    local dir=${ARGS[0]} ca=${ARGS[1]} d c f serial end subj
    need_ca "$dir" "$ca"
    tmpdir
    d=$(mktemp -d "$TMPD/crl.XXXXXX")
    : >"$d/index.txt"
    for c in "${REVOKE[@]}"; do
        f=$c
        if [ ! -f "$f" ]; then f=$dir/$c.crt; fi
        if [ ! -f "$f" ]; then f=$dir/$c-ca.crt; fi
        [ -f "$f" ] || die "--revoke: no certificate '$c'"
        serial=$(openssl x509 -in "$f" -noout -serial | sed 's/^serial=//')
        if [ $((${#serial} % 2)) = 1 ]; then serial=0$serial; fi
        end=$(date -u -d "$(openssl x509 -in "$f" -noout -enddate | sed 's/^notAfter=//')" +%y%m%d%H%M%SZ)
        subj=$(openssl x509 -in "$f" -noout -subject -nameopt compat | sed 's/^subject=//')
        printf 'R\t%s\t%s\t%s\tunknown\t%s\n' "$end" "$(date -u -d '1 hour ago' +%y%m%d%H%M%SZ)" \
            "$serial" "$subj" >>"$d/index.txt"
    done
    cat >"$d/openssl.cnf" <<EOF
[ ca ]
default_ca = tmpca
[ tmpca ]
dir = $d
database = $d/index.txt
default_md = sha256
unique_subject = no
crl_extensions = crlext
[ crlext ]
authorityKeyIdentifier = keyid:always
EOF
    local when=(-crldays "${DAYS:-7}")
    if [ "$EXPIRED" = 1 ]; then
        when=(-crl_lastupdate "$(utc '30 days ago')" -crl_nextupdate "$(utc '1 day ago')")
    fi
    openssl ca -batch -config "$d/openssl.cnf" -gencrl -cert "$dir/$ca-ca.crt" \
        -keyfile "$dir/$ca-ca.key" "${when[@]}" -out "$d/out.crl" >"$d/err" 2>&1 ||
        { cat "$d/err" >&2; die "CRL generation failed for $ca"; }
    mv -f "$d/out.crl" "${OUT:-$dir/$ca-ca.crl}"
    rm -rf "$d"
}

MESH_FILES="ca.crt mesh-ca.crt mesh-ca.key client.crt client.key server.crt server.key
 foo-ca.crt foo-ca.key bar-ca.crt bar-ca.key foo-client.crt foo-client.key
 bar-server.crt bar-server.key other-td.crt other-td.key rogue.crt rogue.key
 expired-client.crt expired-client.key mesh-int-ca.crt mesh-int-ca.key
 int-client.crt int-client.key"

mesh_complete() { # DIR
    local f
    [ -f "$1/.mesh-complete" ] || return 1
    for f in $MESH_FILES; do [ -s "$1/$f" ] || return 1; done
    # regenerate a day before anything (but the deliberately expired) lapses
    for f in ca.crt client.crt server.crt foo-ca.crt bar-ca.crt mesh-int-ca.crt; do
        openssl x509 -in "$1/$f" -noout -checkend 86400 >/dev/null 2>&1 || return 1
    done
    return 0
}

cmd_mesh() { # DIR
    [ ${#ARGS[@]} -eq 1 ] || usage
    local dir=${ARGS[0]} self=$0
    mkdir -p "$dir"
    if [ "$FORCE" = 0 ] && mesh_complete "$dir"; then
        return 0
    fi
    rm -f "$dir/.mesh-complete"
    local td=spiffe://cluster.local
    # independent steps run in parallel (2-4 at a time keeps it < 1 s)
    "$self" ca "$dir" mesh &
    "$self" ca "$dir" foo &
    "$self" ca "$dir" bar &
    wait_all
    cp -f "$dir/mesh-ca.crt" "$dir/ca.crt"
    "$self" leaf "$dir" mesh client "$td/ns/foo/sa/client" --cn client.foo.svc.cluster.local &
    "$self" leaf "$dir" mesh server "$td/ns/bar/sa/server" --cn server.bar.svc.cluster.local &
    "$self" leaf "$dir" foo foo-client "$td/ns/foo/sa/client" --cn client.foo.svc.cluster.local &
    "$self" leaf "$dir" bar bar-server "$td/ns/bar/sa/server" --cn server.bar.svc.cluster.local &
    wait_all
    "$self" leaf "$dir" mesh other-td spiffe://example.org/ns/foo/sa/client --cn client.foo.svc.example.org &
    "$self" leaf "$dir" mesh rogue "$td/ns/evil/sa/rogue" --cn rogue.evil.svc.cluster.local &
    "$self" leaf "$dir" mesh expired-client "$td/ns/foo/sa/client" --expired --cn client.foo.svc.cluster.local &
    "$self" intermediate "$dir" mesh mesh-int &
    wait_all
    "$self" leaf "$dir" mesh-int int-client "$td/ns/foo/sa/client" --cn client.foo.svc.cluster.local
    : >"$dir/.mesh-complete"
}

# wait for every background job; fail if any failed
wait_all() {
    local pid rc=0
    for pid in $(jobs -p); do wait "$pid" || rc=1; done
    [ $rc = 0 ] || die "a step failed"
}

[ $# -ge 1 ] || usage
sub=$1; shift
parse_opts "$@"
case $sub in
ca) cmd_ca ;;
intermediate) cmd_intermediate ;;
leaf) cmd_leaf ;;
mesh) cmd_mesh ;;
crl) cmd_crl ;;
-h|--help|help) usage ;;
*) die "unknown subcommand: $sub (ca|intermediate|leaf|mesh|crl)" ;;
esac
