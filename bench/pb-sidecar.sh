#!/usr/bin/env bash
# bench/pb-sidecar.sh ROLE PROTOCOL — one sidecar for ../shared/peerbench's
# custom variants, configured from the PB_* variables peerbench exports.
#   ROLE: server (mTLS in on PB_SERVER_PORT → backend) or client (plain in on
#   PB_CLIENT_PORT → mTLS to the server).  PROTOCOL: tcp or http.
set -euo pipefail
role=$1 proto=$2
here=$(cd "$(dirname "$0")/.." && pwd)
cfg="$PB_WORKDIR/sidecar-$role-$proto.yaml"
if [ "$role" = server ]; then
    cat >"$cfg" <<YAML
node: {id: server, namespace: bar}
workers: 1
access_log: {path: "off"}
secrets: {cert_chain: "$PB_SERVER_CERT", private_key: "$PB_SERVER_KEY", trusted_ca: "$PB_CA_CERT"}
listeners:
  - {name: in, direction: inbound, address: "$PB_ADDR:$PB_SERVER_PORT", upstream: "$PB_ADDR:$PB_BACKEND_PORT",
     port: 8080, protocol: $proto, allowed_principals: ["$PB_CLIENT_SPIFFE_ID"]}
---
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata: {name: default, namespace: bar}
spec: {mtls: {mode: STRICT}}
YAML
else
    cat >"$cfg" <<YAML
node: {id: client, namespace: foo}
workers: 1
access_log: {path: "off"}
secrets: {cert_chain: "$PB_CLIENT_CERT", private_key: "$PB_CLIENT_KEY", trusted_ca: "$PB_CA_CERT"}
listeners:
  - {name: out, direction: outbound, address: "$PB_ADDR:$PB_CLIENT_PORT", upstream: "$PB_ADDR:$PB_SERVER_PORT",
     tls: ISTIO_MUTUAL, protocol: $proto, host: "$PB_SERVER_NAME",
     expected_identities: ["$PB_SERVER_SPIFFE_ID"]}
YAML
fi
exec "$here/${SC_BUILD:-build}/bin/sidecar" -c "$cfg" >/dev/null
