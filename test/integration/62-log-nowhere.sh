#!/usr/bin/env bash
# A connection log that goes nowhere costs nothing: with stdout on
# /dev/null (as a benchmark or a quiet deployment runs it) the sidecar
# formats no line and makes no write(2) per connection, while with stdout
# on a file it writes one line per connection.  Counted with the kernel's
# own per-process write-syscall counter (/proc/PID/io: syscw).
. "$(dirname "$0")/lib.sh"

certs
[ -r /proc/self/io ] || skip "no /proc/PID/io here"
P_APP=$(free_port); P_L=$(free_port)
start_backend app --listen "127.0.0.1:$P_APP" --mode echo --quiet
sidecar_config "$T/a.yaml" client foo client
cat >>"$T/a.yaml" <<EOF2
listeners:
  - {name: plain, direction: outbound, address: "127.0.0.1:$P_L", upstream: "127.0.0.1:$P_APP",
     tls: DISABLE, protocol: tcp}
EOF2

# writes PID N: write(2) calls the sidecar made while N connections went through
writes() {
    local pid=$1 n=$2 a b i
    a=$(awk '$1 == "syscw:" { print $2 }' "/proc/$pid/io")
    for ((i = 0; i < n; i++)); do
        printf 'ping %d\n' "$i" | timeout 10 socat -t 2 - "TCP:127.0.0.1:$P_L" >/dev/null ||
            fail "connection $i failed"
    done
    sleep 0.3
    b=$(awk '$1 == "syscw:" { print $2 }' "/proc/$pid/io")
    echo $((b - a))
}

step "stdout on /dev/null: no write(2) for 40 connections"
spawn quiet bash -c "exec '$SIDECAR' -c '$T/a.yaml' >/dev/null"
wait_port 127.0.0.1 "$P_L" 10
n=$(writes "$(pid_of quiet)" 40)
log "write(2) calls: $n"
assert_eq 0 "$n" "write(2) calls with the connection log on /dev/null"
stop quiet

step "stdout on a file: one line, one write(2), per connection"
start_sidecar loud "$T/a.yaml" "$P_L"
n=$(writes "$(pid_of loud)" 40)
log "write(2) calls: $n"
assert_le 40 "$n" "write(2) calls with the connection log on a file"
assert_eq 40 "$(count_lines "$T/loud.out" "$(conn_re listener=plain)")" "connection lines"
