#!/usr/bin/env bash
# bench/pb-sidecar.sh ROLE PROTOCOL — one sidecar for ../shared/peerbench's
# custom variants, configured from the PB_* variables peerbench exports.
#   ROLE: server (mTLS in on PB_SERVER_PORT → backend) or client (plain in on
#   PB_CLIENT_PORT → mTLS to the server).  PROTOCOL: tcp or http.
#   SC_TRANSPORT=hbone: the pair speaks HBONE (docs/hbone.md): the server's
#   PB_SERVER_PORT is its HBONE listener, the backend's port a workload port;
#   the client's app connections are CONNECT streams on pooled tunnels.
#   SC_ACCESS_LOG=on: each sidecar writes its access log (text format) to
#   a file in PB_WORKDIR, as an operator would leave it on.
set -euo pipefail
role=$1 proto=$2
here=$(cd "$(dirname "$0")/.." && pwd)
cfg="$PB_WORKDIR/sidecar-$role-$proto.yaml"
# head NODE NAMESPACE CERT KEY: the lines every config starts with
head_yaml() {
    local log=off
    [ "${SC_ACCESS_LOG:-off}" = on ] && log="$PB_WORKDIR/access-$role-$proto.log"
    printf 'node: {id: %s, namespace: %s}\nworkers: 1\naccess_log: {path: "%s"}\n' "$1" "$2" "$log"
    printf 'secrets: {cert_chain: "%s", private_key: "%s", trusted_ca: "%s"}\n' "$3" "$4" "$PB_CA_CERT"
}
strict_yaml() {
    printf -- '---\napiVersion: security.istio.io/v1beta1\nkind: PeerAuthentication\n'
    printf 'metadata: {name: default, namespace: bar}\nspec: {mtls: {mode: STRICT}}\n'
}
if [ "$role" = server ]; then
    head_yaml server bar "$PB_SERVER_CERT" "$PB_SERVER_KEY" >"$cfg"
else
    head_yaml client foo "$PB_CLIENT_CERT" "$PB_CLIENT_KEY" >"$cfg"
fi
if [ "${SC_TRANSPORT:-tls}" = hbone ] && [ "$role" = server ]; then
    cap=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    cat >>"$cfg" <<YAML
inbound:
  address: "$PB_ADDR:$cap"
  hbone_address: "$PB_ADDR:$PB_SERVER_PORT"
  app_host: "$PB_ADDR"
  ports:
    - {port: $PB_BACKEND_PORT, protocol: $proto, allowed_principals: ["$PB_CLIENT_SPIFFE_ID"]}
YAML
    strict_yaml >>"$cfg"
elif [ "${SC_TRANSPORT:-tls}" = hbone ]; then
    cat >>"$cfg" <<YAML
hbone_port: $PB_SERVER_PORT
listeners:
  - {name: out, direction: outbound, address: "$PB_ADDR:$PB_CLIENT_PORT", upstream: "$PB_ADDR:$PB_BACKEND_PORT",
     tls: ISTIO_MUTUAL, transport: hbone, protocol: $proto, host: "$PB_SERVER_NAME",
     expected_identities: ["$PB_SERVER_SPIFFE_ID"]}
YAML
elif [ "$role" = server ]; then
    cat >>"$cfg" <<YAML
listeners:
  - {name: in, direction: inbound, address: "$PB_ADDR:$PB_SERVER_PORT", upstream: "$PB_ADDR:$PB_BACKEND_PORT",
     port: 8080, protocol: $proto, allowed_principals: ["$PB_CLIENT_SPIFFE_ID"]}
YAML
    strict_yaml >>"$cfg"
else
    cat >>"$cfg" <<YAML
listeners:
  - {name: out, direction: outbound, address: "$PB_ADDR:$PB_CLIENT_PORT", upstream: "$PB_ADDR:$PB_SERVER_PORT",
     tls: ISTIO_MUTUAL, protocol: $proto, host: "$PB_SERVER_NAME",
     expected_identities: ["$PB_SERVER_SPIFFE_ID"]}
YAML
fi
exec "$here/${SC_BUILD:-build}/bin/sidecar" -c "$cfg" >/dev/null
