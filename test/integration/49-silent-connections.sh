#!/usr/bin/env bash
# Connections that send nothing towards a STRICT port cost almost nothing
# and are closed at the handshake timeout: TLS starts when the client's
# first bytes arrive, so a silent client holds a connection object and an
# event, not an SSL with its record and handshake buffers (44 KiB each
# before; 5,000 of them took 217 MB, above the shipped pod's 128 MiB).
# A client that then speaks is served as usual.
# exclusive: measures the sidecar's memory for 5,000 clients
. "$(dirname "$0")/lib.sh"

certs
N=2000
P_APP=$(free_port); P_IN=$(free_port)
start_backend app --listen "127.0.0.1:$P_APP" --mode echo --quiet
HS_MS=4000 sidecar_config "$T/b.yaml" server bar server
cat >>"$T/b.yaml" <<EOF2
listeners:
  - {name: in, direction: inbound, address: "127.0.0.1:$P_IN", upstream: "127.0.0.1:$P_APP",
     port: 8080, protocol: tcp}
EOF2
peer_auth "$T/b.yaml" STRICT bar
start_sidecar b "$T/b.yaml" "$P_IN"
ulimit -n $((N + 1000)) 2>/dev/null || skip "cannot raise the fd limit for $N clients"

step "$N silent connections"
rss0=$(rss_kb "$(pid_of b)")
cat >"$T/silent.py" <<'PY'
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
socks = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(n)]
print("open", flush=True)
time.sleep(8)
PY
spawn silent python3 "$T/silent.py" "$P_IN" "$N"
wait_for_log "$T/silent.out" '^open' 30
sleep 1
rss1=$(rss_kb "$(pid_of b)")
log "RSS ${rss0} -> ${rss1} KiB for $N silent connections ($(( (rss1 - rss0) * 1024 / N )) bytes each)"
if sanitized; then
    log "sanitizer build: RSS not judged"
else
    assert_le $((rss1 - rss0)) $((8 * 1024)) "RSS growth for $N silent connections (KiB)"
fi

step "a mesh client is served meanwhile"
out=$(printf 'hello\n' | mesh_client "127.0.0.1:$P_IN" client istio 1 2>/dev/null || true)
assert_eq hello "$out" "echo through the STRICT port"

step "the silent ones are closed at the handshake timeout"
wait_for_count "$T/b.out" "$(conn_re listener=in class=refused end=handshake_timeout)" "$N" 20
