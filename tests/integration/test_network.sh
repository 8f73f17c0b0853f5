#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Sandbox networking for real, as a user sees it: each jail sandbox has its own namespace,
# address and DNS server; NAT takes it out; the L3/L4 rules (nexus netpolicy, --allow-out,
# --deny-out) decide at once; the private ranges and the host are closed to it; sandboxes
# cannot reach each other; a restarted nexusd takes the policies over; nothing is left after
# stop, and 200 create/stop cycles leave no interface, namespace, mount or address.
#
# nexusd runs in a network namespace this test makes ("host"), joined by a veth to another
# ("outside", a public-looking 198.51.100.0/24 and 2001:db8:100::/64 with an HTTP server), so
# the machine's own network is never touched. The "host" has an IPv6 default route, so nexusd's
# network_pool6 = auto gives sandboxes IPv6 too. nsenter --net keeps nexusd in the machine's mount namespace, as
# in production (the namespaces' bind mounts must outlive a nexusd that is killed).
. "$(dirname "$0")/lib.sh"
require_env
command -v nsenter >/dev/null && command -v ip >/dev/null && command -v nft >/dev/null &&
  command -v dnsmasq >/dev/null || skip "needs nsenter, ip, nft and dnsmasq (dnsmasq-base)"

T=nxt$$
HOSTNS=/run/netns/$T-host
OUT=$T-out
ip netns add "$T-host" && ip netns add "$OUT" || skip "cannot create network namespaces"
on_finish() {
  [ -n "${HTTP_PID:-}" ] && kill "$HTTP_PID" 2>/dev/null
  [ -n "${HTTP6_PID:-}" ] && kill "$HTTP6_PID" 2>/dev/null
  [ -n "${LISTEN_PID:-}" ] && kill "$LISTEN_PID" 2>/dev/null
  [ -n "${DNS_PID:-}" ] && kill "$DNS_PID" 2>/dev/null
  [ -n "${HTTP80_PID:-}" ] && kill "$HTTP80_PID" 2>/dev/null
  rm -f "$ROOT/egress/policy.json"  # the test root is shared: leave no global policy behind
  ip netns del "$T-host" 2>/dev/null
  ip netns del "$OUT" 2>/dev/null
}
trap finish EXIT
H() { nsenter --net="$HOSTNS" "$@"; }
O() { ip netns exec "$OUT" "$@"; }
ip link add "${T}v" netns "$T-host" type veth peer name eth0 netns "$OUT"
H ip link set lo up
H ip addr add 198.51.100.1/24 dev "${T}v"
H ip link set "${T}v" up
H ip route add default via 198.51.100.10
H ip -6 addr add 2001:db8:100::1/64 dev "${T}v" nodad
H ip -6 route add default via 2001:db8:100::10
O ip link set lo up
O ip addr add 198.51.100.10/24 dev eth0
O ip -6 addr add 2001:db8:100::10/64 dev eth0 nodad
O ip link set eth0 up
mkdir -p "$RUN/www" && echo "hello from outside" >"$RUN/www/index.html"
# Started without a shell function around them, so $! is the server itself (ip netns exec execs).
ip netns exec "$OUT" python3 -m http.server 8000 --bind 198.51.100.10 --directory "$RUN/www" </dev/null >"$RUN/http.log" 2>&1 &
HTTP_PID=$!
ip netns exec "$OUT" python3 -m http.server 8000 --bind 2001:db8:100::10 --directory "$RUN/www" </dev/null >"$RUN/http6.log" 2>&1 &
HTTP6_PID=$!
# The outside's resolver: a public name, and a public name answering a private address.
ip netns exec "$OUT" dnsmasq --no-daemon --no-resolv --no-hosts --listen-address 198.51.100.10 --bind-interfaces \
  --address=/outside.test/198.51.100.10 --address=/rebind.test/10.1.2.3 --log-queries \
  --log-facility="$RUN/dnsmasq.log" --pid-file= </dev/null >/dev/null 2>&1 &
DNS_PID=$!
# An HTTP server on port 80 (which sandboxes reach only through nexusd's egress gateway) that
# prints the headers it was sent.
cat >"$RUN/echo_headers.py" <<'PY'
import http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("path=%s\n%s" % (self.path, self.headers)).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
http.server.HTTPServer(("198.51.100.10", 80), H).serve_forever()
PY
ip netns exec "$OUT" python3 "$RUN/echo_headers.py" </dev/null >"$RUN/http80.log" 2>&1 &
HTTP80_PID=$!
DAEMON_ARGS=(--dns-upstream 198.51.100.10)
EPORT=$((30000 + $(test_network_hash)))  # the E2B endpoint, on loopback in the test's namespace
export E2B_LISTEN="127.0.0.1:$EPORT"

NEXUSD_WRAP="nsenter --net=$HOSTNS" start_daemon "${DAEMON_ARGS[@]}" || { fail "nexusd did not start in the test's namespace"; exit 1; }
backend=$(grep -o 'network policy backend: [a-z]*' "$DAEMON_LOG" | tail -1 | awk '{print $4}')
check "nexusd picked a policy backend ($backend)" test -n "$backend"
TABLE=nexus_t$(test_network_hash)
check "nexusd installed its host firewall table ($TABLE)" H nft list table inet "$TABLE"

# run SB CODE: python in the sandbox, its output.
py() { "$NEXUS" sandbox run "$1" -c "$2" 2>&1; }
# reach SB ADDR PORT -> "open" or the error's name, within 3 s
reach() {
  py "$1" "import socket
try:
    socket.create_connection(('$2', $3), timeout=3).close(); print('open')
except Exception as e:
    print(type(e).__name__)"
}

SB=$(new_sandbox --ttl 5) || { fail "create a sandbox"; exit 1; }
pol=$("$NEXUS" netpolicy list "$SB" --json)
ADDR=$(echo "$pol" | jq -r .address)
GW=$(echo "$pol" | jq -r .gateway)
IF=$(echo "$pol" | jq -r .interface)
expect_eq "the sandbox's policy backend is nexusd's" "$backend" "$(echo "$pol" | jq -r .backend)"
check "the sandbox has an address of the test's pool ($ADDR)" sh -c "case '$ADDR' in 10.1[01][0-9].*) true;; *) false;; esac"
expect_contains "inside, eth0 has that address" "$ADDR" "$(py "$SB" "print(open('/proc/net/fib_trie').read())")"
GW6=$(echo "$pol" | jq -r '.gateway6 // empty')
expect_eq "inside, resolv.conf names the gateway, by IPv4 and IPv6" "nameserver $GW nameserver $GW6" \
  "$("$NEXUS" sandbox exec "$SB" -- grep ^nameserver /etc/resolv.conf | tr '\n' ' ' | sed 's/ $//')"
check "the host side of its veth exists ($IF)" H ip link show "$IF"
expect_contains "the host firewall knows its interface" "$IF" "$(H nft list set inet "$TABLE" sandboxes)"

# Out through NAT: the outside sees the host's address, not the sandbox's.
expect_eq "the sandbox reaches an outside server through NAT" "hello from outside" \
  "$(py "$SB" "import urllib.request; print(urllib.request.urlopen('http://198.51.100.10:8000/', timeout=5).read().decode().strip())")"
expect_contains "the outside server saw the host's address" "198.51.100.1 " "$(cat "$RUN/http.log")"
expect_not_contains "and never the sandbox's" "$ADDR" "$(cat "$RUN/http.log")"

# IPv6, because the host has it: an address of nexusd's unique-local /64, NAT66 out.
ADDR6=$(echo "$pol" | jq -r '.address6 // empty')
check "nexusd chose an IPv6 pool by itself (network_pool6 = auto)" grep -q "IPv6 for sandboxes from fd6e:7875:" "$DAEMON_LOG"
check "the sandbox has an IPv6 address of it ($ADDR6)" sh -c "case '$ADDR6' in fd6e:7875:*) true;; *) false;; esac"
expect_eq "the sandbox reaches the outside over IPv6" "hello from outside" \
  "$(py "$SB" "import urllib.request; print(urllib.request.urlopen('http://[2001:db8:100::10]:8000/', timeout=5).read().decode().strip())")"
expect_contains "the outside saw the host's IPv6 address" "2001:db8:100::1 " "$(cat "$RUN/http6.log")"
expect_not_contains "and never the sandbox's" "$ADDR6" "$(cat "$RUN/http6.log")"

# ICMP: ping works without privileges (echo sockets), and the policy judges it like the rest.
ping_from() {  # ping_from SB ADDR -> "reply" or "timeout"
  py "$1" "import socket, struct
v6 = ':' in '$2'
s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM,
                  socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP)
s.settimeout(2)
s.sendto(struct.pack('>BBHHH', 128 if v6 else 8, 0, 0, 0, 1) + b'nexus', ('$2', 0))
try: s.recv(128); print('reply')
except socket.timeout: print('timeout')"
}
expect_eq "an unprivileged ping reaches the outside" "reply" "$(ping_from "$SB" 198.51.100.10)"
expect_eq "and over IPv6" "reply" "$(ping_from "$SB" 2001:db8:100::10)"
"$NEXUS" netpolicy add "$SB" --direction egress --cidr 198.51.100.10 --proto icmp --action deny --id no-ping -q >/dev/null
expect_eq "an icmp deny rule stops it" "timeout" "$(ping_from "$SB" 198.51.100.10)"
pk=$("$NEXUS" netpolicy stats "$SB" --json | jq '.rules[] | select(.id == "no-ping") | .packets')
check "and counts the dropped echo ($pk)" test "${pk:-0}" -gt 0
expect_eq "while tcp to the same address still works" "open" "$(reach "$SB" 198.51.100.10 8000)"
"$NEXUS" netpolicy rm "$SB" no-ping -q
expect_eq "removing it lets ping through again" "reply" "$(ping_from "$SB" 198.51.100.10)"

# Another table's forward chain that drops by policy (what Docker installs, through iptables-nft)
# drops sandbox traffic too: nexus doctor says so, and its advice lets the traffic through.
H nft -f - <<'NFT'
table ip filter {
  chain DOCKER-USER {
  }
  chain FORWARD {
    type filter hook forward priority filter; policy drop;
    jump DOCKER-USER
  }
}
NFT
expect_eq "a foreign forward chain with policy drop keeps the sandbox in" "TimeoutError" "$(reach "$SB" 198.51.100.10 8000)"
advice=$("$NEXUS" doctor --json 2>/dev/null | jq -r '.checks[] | select(.name == "forwarding") | .detail')
expect_contains "nexus doctor warns about it" \
  "table ip filter chain FORWARD drops forwarded packets by policy (Docker does this), so sandboxes cannot reach the outside" "$advice"
if command -v iptables >/dev/null; then
  fix=${advice#*let their traffic through with: }
  check "its advice runs ($fix)" H sh -c "$fix"
  expect_eq "and lets the sandbox out again" "open" "$(reach "$SB" 198.51.100.10 8000)"
fi
H nft delete table ip filter
expect_eq "without the chain, doctor has no forwarding line" "" \
  "$("$NEXUS" doctor --json 2>/dev/null | jq -r '.checks[] | select(.name == "forwarding") | .detail')"

# DNS through nexusd's forwarder: public names resolve, private answers are stripped.
expect_eq "a name resolves through the gateway's DNS" "198.51.100.10" \
  "$(py "$SB" "import socket; print(socket.gethostbyname('outside.test'))")"
expect_eq "and is reachable by name" "hello from outside" \
  "$(py "$SB" "import urllib.request; print(urllib.request.urlopen('http://outside.test:8000/', timeout=5).read().decode().strip())")"
expect_eq "a public name answering a private address resolves to nothing (no DNS rebinding)" "gaierror" \
  "$(py "$SB" "import socket
try: print(socket.gethostbyname('rebind.test'))
except Exception as e: print(type(e).__name__)")"
check "the upstream saw the query come from nexusd" grep -q "query\[A\] outside.test from 198.51.100.1" "$RUN/dnsmasq.log"
expect_eq "DNS straight to the outside resolver is the policy's to allow (allowed by default)" "198.51.100.10" \
  "$("$NEXUS" sandbox exec "$SB" -- python3 -c "
import socket, struct
q = struct.pack('>HHHHHH', 0x1234, 0x0100, 1, 0, 0, 0) + b'\\x07outside\\x04test\\x00' + struct.pack('>HH', 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(3); s.sendto(q, ('198.51.100.10', 53))
a = s.recv(512); print(socket.inet_ntoa(a[-4:]))")"

# HTTP through the egress gateway: by name, audited with its bytes; domain rules decide.
get() {  # get SB URL -> the body, or "HTTP <status>", or the error's name
  py "$1" "import urllib.request, urllib.error
try: print(urllib.request.urlopen('$2', timeout=5).read().decode(), end='')
except urllib.error.HTTPError as e: print('HTTP', e.code)
except Exception as e: print(type(e).__name__)"
}
expect_contains "HTTP to port 80 goes out through the gateway" "path=/hello" "$(get "$SB" http://outside.test/hello)"
# The sandbox's own DNS strips the private answer, so ask by address with that name as Host:
# the gateway resolves it itself and refuses the private address.
expect_contains "a Host whose name resolves to a private address is refused by the gateway" "HTTP/1.1 403" \
  "$(py "$SB" "import socket
s = socket.create_connection(('198.51.100.10', 80), timeout=5)
s.sendall(b'GET / HTTP/1.1\\r\\nHost: rebind.test\\r\\nConnection: close\\r\\n\\r\\n')
print(s.recv(200).decode(errors='replace').splitlines()[0])")"
audit=$("$NEXUS" egress audit --sandbox "$SB" --json)
entry=$(echo "$audit" | jq -c '[.entries[] | select(.host == "outside.test")] | last')
expect_eq "the audit has the request" '"GET /hello"' "$(echo "$entry" | jq '.method + " " + .url')"
expect_eq "with the status" 200 "$(echo "$entry" | jq .status)"
check "and the bytes each way ($(echo "$entry" | jq -c '[.bytes_sent, .bytes_received]'))" \
  test "$(echo "$entry" | jq '.bytes_sent > 50 and .bytes_received > 100')" = true
expect_eq "the rebinding attempt is audited as refused" '"denied"' \
  "$(echo "$audit" | jq '[.entries[] | select(.host == "rebind.test")] | last | .decision')"
check "nexus egress audit prints a table" sh -c "'$NEXUS' egress audit --sandbox $SB | grep -q outside.test"
check "nexus egress stats counts the sandbox" sh -c "'$NEXUS' egress stats --json | jq -e '.sandboxes[\"$SB\"].connections.allowed >= 1' >/dev/null"
check "the global policy can deny a domain" "$NEXUS" egress policy set --deny outside.test --json
expect_eq "then HTTP to it is refused" "HTTP 403" "$(get "$SB" http://outside.test/)"
echo -n "s3cret-value" >"$RUN/secret"
chmod 600 "$RUN/secret"
check "a header can be injected from a file" "$NEXUS" egress policy set --inject "outside.test:X-Api-Key=file:$RUN/secret" --json
expect_contains "the upstream sees the injected header" "X-Api-Key: s3cret-value" "$(get "$SB" http://outside.test/key)"
expect_not_contains "the sandbox's environment never has it" "s3cret" "$("$NEXUS" sandbox exec "$SB" -- env)"
expect_not_contains "nor the policy as shown" "s3cret" "$("$NEXUS" egress policy show --json)"
expect_not_contains "nor the audit" "s3cret" "$("$NEXUS" egress audit --json)"
expect_contains "the sandbox trusts the gateway's CA (for HTTPS injection)" "BEGIN CERTIFICATE" \
  "$("$NEXUS" sandbox exec "$SB" -- cat /usr/local/share/ca-certificates/nexus-egress.crt 2>/dev/null || true)"
check "the global policy can be cleared" "$NEXUS" egress policy set --json

# The host is closed: a service on the host's own public address, and its gateway address.
nsenter --net="$HOSTNS" python3 -c "import socket,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('0.0.0.0', 7000)); s.listen(); time.sleep(300)" </dev/null >/dev/null 2>&1 &
LISTEN_PID=$!
sleep 0.3
expect_eq "a host service on its public address is unreachable" "TimeoutError" "$(reach "$SB" 198.51.100.1 7000)"
expect_eq "a host service on the gateway address is unreachable" "TimeoutError" "$(reach "$SB" "$GW" 7000)"
before=$("$NEXUS" netpolicy stats "$SB" --json | jq '[.rules[] | select(.id == "default:private-10") | .packets] | add // 0')
expect_eq "the private ranges are closed by default" "TimeoutError" "$(reach "$SB" 10.1.2.3 7000)"
after=$("$NEXUS" netpolicy stats "$SB" --json | jq '[.rules[] | select(.id == "default:private-10") | .packets] | add // 0')
check "and the drop is counted by default:private-10 ($before -> $after)" test "$after" -gt "$before"

# Rules: a deny takes effect at once; its counter counts; removing it reopens.
out=$("$NEXUS" netpolicy add "$SB" --direction egress --cidr 198.51.100.10 --proto tcp --ports 8000 --action deny --id no-web)
expect_contains "netpolicy add says what it added" "Added rule no-web to $SB: egress deny 198.51.100.10/32 tcp ports 8000" "$out"
expect_eq "the deny closes the outside server" "TimeoutError" "$(reach "$SB" 198.51.100.10 8000)"
pk=$("$NEXUS" netpolicy stats "$SB" --json | jq '.rules[] | select(.id == "no-web") | .packets')
check "the deny counted the dropped packets ($pk)" test "${pk:-0}" -gt 0
expect_contains "netpolicy stats shows the rule" "no-web" "$("$NEXUS" netpolicy stats "$SB")"
listing=$("$NEXUS" netpolicy list "$SB")
expect_contains "netpolicy list shows the rule" "no-web" "$listing"
expect_contains "netpolicy list names the backend" "policy backend $backend" "$listing"
expect_contains "netpolicy list -a shows nexusd's own rules" "nexus:dns-udp" "$("$NEXUS" netpolicy list "$SB" -a)"
err=$("$NEXUS" netpolicy add "$SB" --direction egress --cidr 198.51.100.10 --action deny --id no-web 2>&1); rc=$?
expect_eq "a second rule with the same id is refused (exit 1)" 1 "$rc"
expect_contains "naming the id" "has a rule 'no-web' already" "$err"
err=$("$NEXUS" netpolicy add "$SB" --direction egress --cidr 10.0.0.1/8 --action allow 2>&1); rc=$?
expect_eq "a CIDR with host bits is refused (exit 1)" 1 "$rc"
expect_contains "with the network it meant" "host bits set; the network is 10.0.0.0/8" "$err"
err=$("$NEXUS" netpolicy add "$SB" --direction egress --cidr 10.0.0.0/8 --proto icmp --ports 80 --action allow 2>&1)
expect_contains "ports with icmp are refused" "ports" "$err"
err=$("$NEXUS" netpolicy add "$SB" --direction egress --cidr 10.0.0.0/8 --action allow --id nexus:mine 2>&1)
expect_contains "nexusd's own ids are refused" "are nexusd's own" "$err"
check "netpolicy rm removes the rule" "$NEXUS" netpolicy rm "$SB" no-web -q
expect_eq "and the server is reachable again" "open" "$(reach "$SB" 198.51.100.10 8000)"
"$NEXUS" netpolicy rm "$SB" no-web >/dev/null 2>&1; rc=$?
expect_eq "removing an unknown rule exits 4" 4 "$rc"

# --deny-out at create: everything out closed, an allowed CIDR inside it open.
SBD=$(new_sandbox --ttl 5 --deny-out 0.0.0.0/0 --allow-out 198.51.100.10/32) || fail "create with --deny-out/--allow-out"
expect_eq "--allow-out opens its CIDR inside --deny-out 0.0.0.0/0" "open" "$(reach "$SBD" 198.51.100.10 8000)"
expect_eq "--deny-out 0.0.0.0/0 closes the rest" "TimeoutError" "$(reach "$SBD" 198.51.100.1 8000)"
SBW=$(new_sandbox --ttl 5 --deny-out 0.0.0.0/0 --allow-out outside.test) || fail "create with a domain in --allow-out"
expect_contains "a domain in --allow-out opens HTTP to it inside --deny-out 0.0.0.0/0" "path=/w" "$(get "$SBW" http://outside.test/w)"
expect_eq "but not its other ports" "TimeoutError" "$(reach "$SBW" 198.51.100.10 8000)"
"$NEXUS" sandbox stop "$SBW" >/dev/null
err=$("$NEXUS" sandbox create --deny-out 300.1.1.1 2>&1); rc=$?
expect_eq "a bad --deny-out entry is refused (exit 1)" 1 "$rc"
expect_contains "naming the entry" "300.1.1.1" "$err"

# Sandboxes cannot reach each other.
ADDR_D=$("$NEXUS" netpolicy list "$SBD" --json | jq -r .address)
"$NEXUS" sandbox exec "$SBD" -- sh -c 'python3 -m http.server 9000 >/dev/null 2>&1 &' >/dev/null
sleep 1
expect_eq "the second sandbox serves on its own address" "open" "$(reach "$SBD" "$ADDR_D" 9000)"
expect_eq "the first cannot reach it" "TimeoutError" "$(reach "$SB" "$ADDR_D" 9000)"
"$NEXUS" netpolicy add "$SB" --direction egress --cidr "$ADDR_D" --proto tcp --ports 9000 --action allow --priority 5 -q >/dev/null
expect_eq "not even with an allow of its own (the host forwards nothing between sandboxes)" "TimeoutError" \
  "$(reach "$SB" "$ADDR_D" 9000)"

# Inbound: a sandbox port through nexusd's E2B endpoint (the host side has no other way in).
url=$("$NEXUS" sandbox port "$SBD" 9000)
expect_eq "nexus sandbox port prints the URL" "http://9000-$SBD.localhost:$EPORT/" "$url"
expect_contains "the URL reaches the sandbox's server" "Directory listing" "$(H curl -s --max-time 5 "$url")"
expect_contains "so do the E2B routing headers" "Directory listing" \
  "$(H curl -s --max-time 5 -H "E2b-Sandbox-Id: $SBD" -H "E2b-Sandbox-Port: 9000" "http://127.0.0.1:$EPORT/")"
# A WebSocket to a sandbox port: the upgrade is relayed, then bytes both ways (a greeting sent
# with the 101, a 300 KB message and its echo, the close handshake).
WS_SRV=$(base64 -w0 "$(dirname "$0")/ws_echo.py")
"$NEXUS" sandbox exec "$SBD" -- sh -c "echo $WS_SRV | base64 -d >/tmp/ws_echo.py && python3 /tmp/ws_echo.py 9002 >/dev/null 2>&1 &" >/dev/null
sleep 1
ws=$(H timeout 30 python3 "$(dirname "$0")/ws_client.py" 127.0.0.1 "$EPORT" "9002-$SBD.localhost:$EPORT" 2>&1)
expect_contains "a WebSocket to a sandbox port is upgraded (101)" "status 101" "$ws"
expect_contains "with the sandbox's own Sec-WebSocket-Accept" "accept ok" "$ws"
expect_contains "the frame sent with the 101 arrives" "greeting hello from the sandbox" "$ws"
expect_contains "a small message is echoed" "echo ok 5" "$ws"
expect_contains "a 300 KB message goes there and back" "echo ok 300000" "$ws"
expect_contains "the close handshake completes and the connection ends" "close ok
end ok" "$ws"
expect_eq "a port nothing listens on is a 502" 502 \
  "$(H curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H "E2b-Sandbox-Id: $SBD" -H "E2b-Sandbox-Port: 9001" "http://127.0.0.1:$EPORT/")"
check "no other host user may connect to a sandbox directly" sh -c "! nsenter --net=$HOSTNS setpriv --reuid=65534 --regid=65534 --clear-groups \
  python3 -c \"import socket; socket.create_connection(('$ADDR_D', 9000), timeout=3)\" 2>/dev/null"
resp=$(api POST /v1/sandboxes '{"ttl_seconds": 300, "network": {"allow_public_traffic": false}}')
SBP=$(echo "$resp" | head -1 | jq -r .sandbox_id); track "$SBP"
"$NEXUS" sandbox exec "$SBP" -- sh -c 'python3 -m http.server 9000 >/dev/null 2>&1 &' >/dev/null
sleep 1
pj=$("$NEXUS" sandbox port "$SBP" 9000 --json)
TOKEN=$(echo "$pj" | jq -r .traffic_access_token)
check "with public traffic off, the port needs a token ($(echo "$pj" | jq -c .public))" test -n "$TOKEN" -a "$TOKEN" != null
purl=$(echo "$pj" | jq -r .url)
expect_eq "without it: 403" 403 "$(H curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$purl")"
expect_eq "with a wrong one: 403" 403 "$(H curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H 'e2b-traffic-access-token: nope' "$purl")"
expect_contains "with it: the sandbox's server" "Directory listing" \
  "$(H curl -s --max-time 5 -H "e2b-traffic-access-token: $TOKEN" "$purl")"
"$NEXUS" sandbox exec "$SBP" -- sh -c "echo $WS_SRV | base64 -d >/tmp/ws_echo.py && python3 /tmp/ws_echo.py 9002 >/dev/null 2>&1 &" >/dev/null
sleep 1
expect_contains "a WebSocket without the token: 403" "status 403" \
  "$(H timeout 30 python3 "$(dirname "$0")/ws_client.py" 127.0.0.1 "$EPORT" "9002-$SBP.localhost:$EPORT" 2>&1)"
expect_contains "with it: upgraded and echoed" "echo ok 300000" \
  "$(H timeout 30 python3 "$(dirname "$0")/ws_client.py" 127.0.0.1 "$EPORT" "9002-$SBP.localhost:$EPORT" "$TOKEN" 2>&1)"
expect_not_contains "the token is never logged" "$TOKEN" "$(cat "$DAEMON_LOG")"
"$NEXUS" sandbox stop "$SBP" >/dev/null

# No network: loopback only.
SBN=$(new_sandbox --ttl 5 --no-network) || fail "create --no-network"
expect_eq "--no-network has only loopback" "lo" \
  "$(py "$SBN" "import os; print(' '.join(sorted(os.listdir('/sys/class/net'))))")"
"$NEXUS" netpolicy list "$SBN" --json >/dev/null 2>&1
err=$("$NEXUS" netpolicy add "$SBN" --direction egress --cidr 10.0.0.0/8 --action allow 2>&1)
expect_contains "rules for it are refused" "has no network of its own" "$err"

# A killed nexusd: the sandbox keeps running, a new nexusd takes its policy over.
"$NEXUS" netpolicy add "$SB" --direction egress --cidr 198.51.100.10 --proto tcp --ports 8000 --action deny --id no-web -q >/dev/null
kill -9 "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null; DAEMON_PID=""
NEXUSD_WRAP="nsenter --net=$HOSTNS" start_daemon "${DAEMON_ARGS[@]}" || { fail "nexusd did not restart"; exit 1; }
expect_eq "after a restart the sandbox's rules still hold" "TimeoutError" "$(reach "$SB" 198.51.100.10 8000)"
check "and can be changed" "$NEXUS" netpolicy rm "$SB" no-web -q
expect_eq "at once" "open" "$(reach "$SB" 198.51.100.10 8000)"
expect_contains "the firewall set still holds its interface" "$IF" "$(H nft list set inet "$TABLE" sandboxes)"

# Stop: nothing left.
"$NEXUS" sandbox stop "$SB" >/dev/null
check "after stop its interface is gone" sh -c "! nsenter --net=$HOSTNS ip link show $IF >/dev/null 2>&1"
check "and its namespace file" test ! -e "$RUN/netns/$SB"
expect_not_contains "and its firewall set entry" "$IF" "$(H nft list set inet "$TABLE" sandboxes)"

# 200 create/stop cycles: no interface, namespace, mount or address left behind.
"$NEXUS" sandbox stop "$SBD" >/dev/null; "$NEXUS" sandbox stop "$SBN" >/dev/null
before_links=$(H ip -o link | wc -l)
before_mounts=$(grep -c "$RUN/netns/" /proc/self/mountinfo)
failed=0
for i in $(seq 1 200); do
  id=$("$NEXUS" sandbox create --ttl 1 -q) || { failed=$((failed + 1)); continue; }
  "$NEXUS" sandbox stop "$id" -q >/dev/null || failed=$((failed + 1))
done
expect_eq "200 create/stop cycles all worked" 0 "$failed"
expect_eq "no interface left" "$before_links" "$(H ip -o link | wc -l)"
expect_eq "no namespace bind mount left" "$before_mounts" "$(grep -c "$RUN/netns/" /proc/self/mountinfo)"
expect_eq "no namespace file left" "" "$(ls "$RUN/netns")"
expect_eq "no sandbox address left on the host" "" "$(H ip -o addr | grep ' 10\.1[01][0-9]\.' || true)"
expect_eq "nor an IPv6 one" "" "$(H ip -o addr | grep ' fd6e:7875:' || true)"
expect_eq "the firewall set is empty" "" "$(H nft -j list set inet "$TABLE" sandboxes | jq -r '.nftables[] | select(.set) | .set.elem // empty | .[]')"

stop_daemon
check "the firewall table stays after nexusd stops (sandboxes outlive it)" H nft list table inet "$TABLE"
H nft delete table inet "$TABLE"
