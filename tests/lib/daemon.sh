# SPDX-License-Identifier: Apache-2.0
# Helpers for test scripts that run their own nexusd (tests/integration, tests/e2b). Source it;
# the caller defines fail() and sets DAEMON_PID.

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
