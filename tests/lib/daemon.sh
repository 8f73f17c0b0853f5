# SPDX-License-Identifier: Apache-2.0
# Helpers for test scripts that run their own nexusd (tests/integration, tests/e2b). Source it;
# the caller defines fail() and sets DAEMON_PID.

# Networking of this test's own, so test daemons running side by side (and an installed
# nexusd on 10.88.0.0/16 with ports 15053/15080/15443 and table inet nexus) never share an
# address, a port or a firewall table: all from a hash of the script's name.
test_network_hash() { echo $(( $(basename "$0" | cksum | cut -d' ' -f1) % 4096 )); }
test_network_args() {
  local n; n=$(test_network_hash)
  echo "--network-pool 10.$((100 + n / 256)).$((n % 256)).0/24 --firewall-table nexus_t$n" \
       "--dns-port $((20000 + n * 3)) --egress-http-port $((20001 + n * 3)) --egress-tls-port $((20002 + n * 3))"
}

# A free TCP port on loopback.
free_port() {
  node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close() })' 2>/dev/null ||
    echo $((20000 + RANDOM % 20000))
}

# stop_daemon: SIGTERM, and a failure (then SIGKILL) if nexusd does not stop within 10 s.
stop_daemon() {
  [ -n "$DAEMON_PID" ] || return 0
  kill -TERM "$DAEMON_PID" 2>/dev/null
  local i
  for i in $(seq 1 100); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$DAEMON_PID" 2>/dev/null && { fail "nexusd did not stop on SIGTERM within 10 s"; kill -KILL "$DAEMON_PID"; }
  wait "$DAEMON_PID" 2>/dev/null
  DAEMON_PID=""
}
