#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Socket activation as systemd does it, with systemd-socket-activate (these machines do not run
# systemd as PID 1): the sockets exist before nexusd does, the first connection starts it, and
# nexusd serves the inherited sockets by their names instead of binding its own. Also checks
# packaging/systemd's units with systemd-analyze verify.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
require_env
command -v systemd-socket-activate >/dev/null || skip "systemd-socket-activate not found (Debian package systemd)"
command -v curl >/dev/null || skip "curl not found"
trap finish EXIT
UNITS="$HERE/../../packaging/systemd"

# --- the units --------------------------------------------------------------------------------
if command -v systemd-analyze >/dev/null; then
  tmp_units=$(mktemp -d)
  cp "$UNITS"/nexusd.service "$UNITS"/nexusd-e2b.socket "$tmp_units/"
  sed -i "s|^ExecStart=/usr/local/sbin/nexusd|ExecStart=$NEXUSD|" "$tmp_units/nexusd.service"
  out=$(cd "$tmp_units" && systemd-analyze verify --man=no ./nexusd.service ./nexusd-e2b.socket 2>&1)
  expect_eq "systemd-analyze verify accepts nexusd.service and nexusd-e2b.socket" "" "$out"
  expect_eq "nexusd-e2b.socket listens on 127.0.0.1:49982" "ListenStream=127.0.0.1:49982" \
    "$(grep '^ListenStream=' "$UNITS/nexusd-e2b.socket")"
  expect_eq "nexusd-e2b.socket names its fd e2b" "FileDescriptorName=e2b" \
    "$(grep '^FileDescriptorName=' "$UNITS/nexusd-e2b.socket")"
  rm -rf "$tmp_units"
else
  note "systemd-analyze not found: unit verification not run"
fi

# start_activator: systemd-socket-activate holds a fresh E2B port and the API socket and will
# exec nexusd on the first connection. nexusd gets another run dir, so a socket it bound
# itself would show up there.
ACT_PID=""
start_activator() {
  PORT=$(free_port)
  URL="http://127.0.0.1:$PORT"
  mkdir -p "$RUN/own"
  rm -f "$SOCK"
  systemd-socket-activate -l "127.0.0.1:$PORT" -l "$SOCK" --fdname=e2b:nexus \
    "$NEXUSD" --root "$ROOT" --run-dir "$RUN/own" --agent "$AGENT" --log-time --log-level debug \
    >>"$DAEMON_LOG" 2>&1 &
  ACT_PID=$!
  local hexport _
  hexport=$(printf '%04X' "$PORT")
  for _ in $(seq 1 100); do
    [ -S "$SOCK" ] && grep -q ":$hexport 00000000:0000 0A" /proc/net/tcp && break
    sleep 0.05
  done
  check "the E2B port listens before nexusd runs" grep -q ":$hexport 00000000:0000 0A" /proc/net/tcp
  check "the API socket exists before nexusd runs" test -S "$SOCK"
  sleep 0.3
  check "nothing has started nexusd yet" test "$(comm_of "$ACT_PID")" != nexusd
}

# The process behind ACT_PID is systemd-socket-activate until the first connection, then
# nexusd (it execs in place).
comm_of() { cat "/proc/$1/comm" 2>/dev/null; }

stop_activated() {
  DAEMON_PID=$ACT_PID
  stop_daemon
  ACT_PID=""
}

wait_for_nexusd() {
  local i
  for i in $(seq 1 100); do
    [ "$(comm_of "$ACT_PID")" = nexusd ] && return 0
    sleep 0.05
  done
  return 1
}

# --- 1: the first E2B request starts nexusd ----------------------------------------------------
start_activator

resp=$(curl -s -m 30 -w '\n%{http_code}' "$URL/v2/sandboxes")
expect_eq "the first E2B request is answered by nexusd (401 without a key)" 401 "$(echo "$resp" | tail -1)"
expect_eq "in the SDK's error shape" 401 "$(echo "$resp" | head -1 | jq -r .code 2>/dev/null)"
check "the first connection started nexusd" wait_for_nexusd
DAEMON_PID=$ACT_PID

check "nexusd serves the inherited API socket (nexus version)" "$NEXUS" version
check "nexusd did not bind a socket of its own" test ! -e "$RUN/own/nexus.sock"
key=$("$NEXUS" auth key create --user alice --json | jq -r .key)
check "an API key is made through the activated API socket" test -n "$key"
env_out=$("$NEXUS" e2b env)
expect_contains "nexus e2b env reports the activated E2B endpoint" "export E2B_API_URL=$URL" "$env_out"
expect_eq "nexus e2b env reuses its key on the next call" "$env_out" "$("$NEXUS" e2b env)"

created=$(curl -s -m 60 -X POST -H "X-API-Key: $key" -H 'Content-Type: application/json' \
  --data-binary '{"templateID":"base","timeout":60}' -w '\n%{http_code}' "$URL/v2/sandboxes")
expect_eq "create through the activated E2B socket" 201 "$(echo "$created" | tail -1)"
SB=$(echo "$created" | head -1 | jq -r .sandboxID)
TOKEN=$(echo "$created" | head -1 | jq -r .envdAccessToken)
[ -n "$SB" ] && [ "$SB" != null ] && track "$SB"
listed=$(curl -s -m 30 -X POST -H "E2b-Sandbox-Id: $SB" -H 'E2b-Sandbox-Port: 49983' \
  -H "X-Access-Token: $TOKEN" -H 'Content-Type: application/json' --data-binary '{}' \
  -w '\n%{http_code}' "$URL/process.Process/List")
expect_eq "envd traffic reaches the sandbox's agent" 200 "$(echo "$listed" | tail -1)"
expect_eq "with a process list" array "$(echo "$listed" | head -1 | jq -r '.processes | type' 2>/dev/null)"
out=$("$NEXUS" sandbox exec "$SB" -- echo via-native-socket 2>&1)
expect_eq "the CLI runs a command in it over the activated API socket" via-native-socket "$out"
killed=$(curl -s -m 30 -X DELETE -H "X-API-Key: $key" -o /dev/null -w '%{http_code}' "$URL/sandboxes/$SB")
expect_eq "kill through the E2B socket" 204 "$killed"
stop_activated
check "nexusd left the activated API socket to its owner" test -S "$SOCK"

# --- 2: the first CLI call on the Unix socket starts nexusd ------------------------------------
start_activator
out=$("$NEXUS" version 2>&1)
expect_contains "the first CLI call is answered" "nexusd" "$out"
check "the first CLI call started nexusd" wait_for_nexusd
DAEMON_PID=$ACT_PID
code=$(curl -s -m 30 -o /dev/null -w '%{http_code}' "$URL/v2/sandboxes")
expect_eq "and the E2B socket is served too" 401 "$code"
stop_activated

# --- 3: a socket nexusd does not serve is refused, naming it -----------------------------------
rm -f "$SOCK"
out=$(LISTEN_FDS=1 LISTEN_FDNAMES=bogus sh -c 'LISTEN_PID=$$ exec "$@"' sh "$NEXUSD" --root "$ROOT" \
  --run-dir "$RUN/own" --agent "$AGENT" --e2b-listen none 2>&1 3</dev/null)
rc=$?
expect_eq "an unknown inherited fd stops start-up with exit 3" 3 "$rc"
expect_contains "the error names the fd" "'bogus'" "$out"
