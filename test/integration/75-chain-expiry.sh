#!/usr/bin/env bash
# Nothing in the chain expires unnoticed.  A sidecar holds root -> mid ->
# leaf, where the intermediate "mid" expires a few seconds after start, a
# second root "late" that becomes valid a few seconds after start, and a
# MUTUAL route with its own CA, client certificate and intermediate.
#   - /certs?format=table has an Intermediate row, and a row for each route
#     certificate under the route's name; /certs (JSON) gives each one's role;
#   - sidecar_certificate_expiration_timestamp_seconds carries
#     role="leaf|intermediate|root", route certificates included;
#   - when "late" becomes valid: one INFO "certificate now valid" line;
#   - when "mid" expires: one ERROR "certificate expired" line (role,
#     subject, serial, notAfter) within 5 s of its notAfter by the wall
#     clock, although the hourly reminder has just run; then the table says
#     EXPIRED on the Intermediate row.
. "$(dirname "$0")/lib.sh"

certs
C=$T/c
"$GEN_CERTS" ca "$C" r >/dev/null
"$GEN_CERTS" ca "$C" ext >/dev/null
"$GEN_CERTS" intermediate "$C" ext ext-int >/dev/null
"$GEN_CERTS" leaf "$C" ext-int ext-client - --dns client.example.com >/dev/null
"$GEN_CERTS" ca "$C" late --starts-in 6 >/dev/null
"$GEN_CERTS" intermediate "$C" r mid --seconds 12 >/dev/null
"$GEN_CERTS" leaf "$C" mid server spiffe://cluster.local/ns/bar/sa/server >/dev/null
cat "$C/r-ca.crt" "$C/late-ca.crt" >"$C/bundle.crt"

serial() { openssl x509 -in "$1" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f' | sed 's/^0*//'; }
enddate() { date -u -d "$(openssl x509 -in "$1" -noout -enddate | cut -d= -f2)" +%s; }
MID_SERIAL=$(serial "$C/mid-ca.crt")
MID_END=$(enddate "$C/mid-ca.crt")
MID_END_TXT=$(date -u -d "@$MID_END" +%Y-%m-%dT%H:%M:%SZ)
INT_SERIAL=$(serial "$C/ext-int-ca.crt")

P_ECHO=$(free_port); P_IN=$(free_port)
start_backend echo --listen "127.0.0.1:$P_ECHO" --mode echo
sidecar_config "$T/b.yaml" server bar server
sed -i "s|^secrets:.*|secrets: {cert_chain: \"$C/server.crt\", private_key: \"$C/server.key\", trusted_ca: \"$C/bundle.crt\"}|" "$T/b.yaml"
cat >>"$T/b.yaml" <<EOF
outbound:
  routes:
    - cidr: 10.60.0.0/16
      tls: MUTUAL
      sni: api.example.com
      ca_certificates: "$C/ext-ca.crt"
      client_certificate: "$C/ext-client.crt"
      private_key: "$C/ext-client.key"
  default: {tls: DISABLE}
listeners:
  - {name: in, direction: inbound, address: "127.0.0.1:$P_IN", upstream: "127.0.0.1:$P_ECHO", port: 8080}
EOF
peer_auth "$T/b.yaml" STRICT bar
start_sidecar b "$T/b.yaml" "$P_IN"
now=$(date +%s)
[ $((MID_END - now)) -ge 3 ] || skip "certificates took too long to make (mid expires in $((MID_END - now)) s)"

step "/certs?format=table lists the intermediate, both roots and the route's certificates"
curl -s "http://127.0.0.1:$ADMIN_PORT/certs?format=table" >"$T/table.txt"
assert_contains "$T/table.txt" '^default +Cert Chain +ACTIVE +true '
assert_contains "$T/table.txt" "^default +Intermediate +ACTIVE +true +0*$MID_SERIAL +$MID_END_TXT "
assert_contains "$T/table.txt" '^ROOTCA +CA +ACTIVE +true '
assert_contains "$T/table.txt" '^ROOTCA +CA +NOT YET VALID +false '
assert_contains "$T/table.txt" '^outbound.routes\[0\] +CA +ACTIVE +true '
assert_contains "$T/table.txt" '^outbound.routes\[0\] +Cert Chain +ACTIVE +true '
assert_contains "$T/table.txt" "^outbound.routes\\[0\\] +Intermediate +ACTIVE +true +0*$INT_SERIAL "

step "/certs (JSON) gives every certificate its role, route certificates under the route"
curl -s "http://127.0.0.1:$ADMIN_PORT/certs" >"$T/certs.json"
assert_contains "$T/certs.json" "\"serial_number\":\"0*$MID_SERIAL\",[^}]*\"role\":\"intermediate\"\\}"
assert_contains "$T/certs.json" '"resource":"outbound.routes\[0\]","ca_cert":\[\{'
assert_contains "$T/certs.json" "\"serial_number\":\"0*$INT_SERIAL\",[^}]*\"role\":\"intermediate\"\\}"

step "the expiry gauge has a role label, one series per certificate held"
curl -s "http://127.0.0.1:$ADMIN_PORT/stats/prometheus" >"$T/metrics.txt"
assert_contains "$T/metrics.txt" "^sidecar_certificate_expiration_timestamp_seconds\\{resource=\"default\",role=\"intermediate\",serial=\"0*$MID_SERIAL\"\\} $MID_END$"
assert_contains "$T/metrics.txt" '^sidecar_certificate_expiration_timestamp_seconds\{resource="default",role="leaf",serial="[0-9a-f]+"\} [0-9]+$'
assert_eq 2 "$(count_lines "$T/metrics.txt" '^sidecar_certificate_expiration_timestamp_seconds\{resource="ROOTCA",role="root",')" "root series"
assert_contains "$T/metrics.txt" '^sidecar_certificate_expiration_timestamp_seconds\{resource="outbound.routes\[0\]",role="root",'
assert_contains "$T/metrics.txt" '^sidecar_certificate_expiration_timestamp_seconds\{resource="outbound.routes\[0\]",role="leaf",'
assert_contains "$T/metrics.txt" "^sidecar_certificate_expiration_timestamp_seconds\\{resource=\"outbound.routes\\[0\\]\",role=\"intermediate\",serial=\"0*$INT_SERIAL\"\\}"

step "the root that becomes valid gets one INFO line"
wait_for_log "$T/b.err" ' info certificate now valid: role=root resource=ROOTCA subject="CN=late" serial=[0-9A-F]+ not_before=' 15

step "the intermediate's expiry gets one ERROR line within 5 s of its notAfter"
# the install-time reminder ran at start, so the hourly one cannot say it
re=" error certificate expired: role=intermediate resource=default subject=\"CN=mid\" serial=0*$(echo "$MID_SERIAL" | tr 'a-f' 'A-F') not_after=$MID_END_TXT\$"
wait_for_log "$T/b.err" "$re" 25
line=$(grep -E -e "$re" "$T/b.err" | head -n 1)
logged_ms=$(date -u -d "${line%% *}" +%s%3N)
late_ms=$((logged_ms - MID_END * 1000))
log "ERROR line logged ${late_ms} ms after notAfter"
assert_le 0 "$late_ms" "the ERROR line is not early"
assert_le "$late_ms" 5000 "ms between notAfter and the ERROR line"
sleep 1.5
assert_eq 1 "$(count_lines "$T/b.err" 'certificate expired: role=intermediate')" "ERROR lines for one expiry"
assert_eq 1 "$(count_lines "$T/b.err" 'certificate now valid: ')" "INFO lines for one transition"
curl -s "http://127.0.0.1:$ADMIN_PORT/certs?format=table" >"$T/table2.txt"
assert_contains "$T/table2.txt" "^default +Intermediate +EXPIRED +false +0*$MID_SERIAL "
assert_contains "$T/table2.txt" '^ROOTCA +CA +ACTIVE +true .*$'
assert_not_contains "$T/table2.txt" 'NOT YET VALID'

alive b
log "ok"
