# SPDX-License-Identifier: Apache-2.0
# Shared helpers for the integration tests: start a real nexusd on a test root, run the real
# nexus CLI against it, assert, and clean up. Source it from a test script.
#
# Environment (set by tests/integration/meson.build):
#   NEXUS_BIN_DIR   build dir holding cli/nexus, daemon/nexusd, guest-agent/nexus-agent
#   NEXUS_TEST_ROOT shared state root where tools/test has built the default template
set -u

: "${NEXUS_BIN_DIR:?NEXUS_BIN_DIR must point at the build directory}"
: "${NEXUS_TEST_ROOT:=/var/tmp/nexus-test}"
NEXUS="$NEXUS_BIN_DIR/cli/nexus"
NEXUSD="$NEXUS_BIN_DIR/daemon/nexusd"
AGENT="$NEXUS_BIN_DIR/guest-agent/nexus-agent"
ROOT="$NEXUS_TEST_ROOT/root"
RUN="$NEXUS_TEST_ROOT/run-$$"
SOCK="$RUN/nexus.sock"
export NEXUS_SOCKET="$SOCK"
export NEXUS_CONFIG_DIR="$RUN/config"  # `nexus e2b env` remembers keys here, not in ~/.config
DAEMON_LOG="$NEXUS_TEST_ROOT/nexusd-$(basename "$0" .sh).log"
DAEMON_PID=""
FAILURES=0
CHECKS=0

. "$(dirname "${BASH_SOURCE[0]}")/../lib/daemon.sh"

skip() { echo "SKIP: $*"; exit 77; }
note() { echo "# $*"; }

fail() {
  FAILURES=$((FAILURES + 1))
  echo "FAIL: $*"
}

ok() { CHECKS=$((CHECKS + 1)); echo "ok - $*"; }

# check "description" command...  : passes when the command exits 0.
check() {
  local what="$1"; shift
  if "$@"; then ok "$what"; else fail "$what (command: $*)"; fi
}

# expect_eq "description" expected actual
expect_eq() {
  if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: expected '$2', got '$3'"; fi
}

# expect_contains "description" needle haystack
expect_contains() {
  case "$3" in *"$2"*) ok "$1" ;; *) fail "$1: expected to contain '$2', got '$3'" ;; esac
}

expect_not_contains() {
  case "$3" in *"$2"*) fail "$1: must not contain '$2', got '$3'" ;; *) ok "$1" ;; esac
}

require_env() {
  [ "$(id -u)" = 0 ] || skip "needs root (namespaces, cgroups, mounts)"
  [ -x "$NEXUS" ] && [ -x "$NEXUSD" ] && [ -x "$AGENT" ] || skip "binaries not built in $NEXUS_BIN_DIR"
  [ -d "$ROOT/templates/ai-agent-default/rootfs" ] ||
    skip "template ai-agent-default not built in $ROOT (tools/test builds it; see README)"
}

# start_daemon [NEXUSD ARGS...]: nexusd on this test's run dir; its E2B endpoint is off unless
# E2B_LISTEN is set (so tests never take the installed nexusd's 127.0.0.1:49982).
start_daemon() {
  mkdir -p "$RUN"
  # NEXUSD_WRAP: a command nexusd runs under (test_network: nsenter into a test's namespace).
  ${NEXUSD_WRAP:-} "$NEXUSD" --root "$ROOT" --run-dir "$RUN" --agent "$AGENT" --e2b-listen "${E2B_LISTEN:-none}" --log-time \
    $(test_network_args) --log-level debug "$@" >>"$DAEMON_LOG" 2>&1 &
  DAEMON_PID=$!
  local i
  for i in $(seq 1 100); do
    [ -S "$SOCK" ] && "$NEXUS" version >/dev/null 2>&1 && return 0
    kill -0 "$DAEMON_PID" 2>/dev/null || { tail -20 "$DAEMON_LOG"; echo "nexusd exited"; return 1; }
    sleep 0.1
  done
  echo "nexusd did not become ready"; tail -20 "$DAEMON_LOG"; return 1
}


# Every sandbox a test creates is recorded in a file (new_sandbox usually runs in a $(...)
# subshell, where a shell array would not reach the parent) and stopped by finish.
CREATED="$NEXUS_TEST_ROOT/created-$$"
: >"$CREATED"
track() { echo "$1" >>"$CREATED"; }
new_sandbox() {  # new_sandbox [create args...]  -> prints the id
  local id
  id=$("$NEXUS" sandbox create "$@" --json | jq -r .sandbox_id) || return 1
  [ -n "$id" ] && [ "$id" != null ] || return 1
  track "$id"
  echo "$id"
}

finish() {
  local id
  # A test that ended with nexusd stopped may leave sandboxes running (they outlive nexusd):
  # a nexusd of its own adopts them so they are stopped here, not by the next test's.
  if [ -z "$DAEMON_PID" ]; then
    while read -r id; do
      if [ -e "$ROOT/sandboxes/$id" ]; then start_daemon >/dev/null 2>&1; break; fi
    done <"$CREATED"
  fi
  if [ -n "$DAEMON_PID" ]; then
    while read -r id; do
      "$NEXUS" sandbox stop "$id" >/dev/null 2>&1
      [ -e "$ROOT/sandboxes/$id" ] && fail "sandbox $id left its directory behind after stop"
    done <"$CREATED"
  fi
  rm -f "$CREATED"
  stop_daemon
  # nexusd leaves its firewall table for sandboxes that outlive it; a test's has none left.
  nft delete table inet "nexus_t$(test_network_hash)" 2>/dev/null
  # nexusd makes its netns directory a mount point (as iproute2 does /run/netns).
  awk -v run="$RUN/" 'index($5, run) == 1 {print $5}' /proc/self/mountinfo | xargs -r -n1 umount -l 2>/dev/null
  rm -rf "$RUN"
  if declare -F on_finish >/dev/null; then on_finish; fi  # a test's own cleanup
  echo "# $CHECKS checks passed, $FAILURES failed"
  if [ "$FAILURES" -ne 0 ]; then
    echo "# daemon log tail ($DAEMON_LOG):"; tail -30 "$DAEMON_LOG" | sed 's/^/#   /'
    exit 1
  fi
  exit 0
}

# Raw API call over the socket: api METHOD PATH [BODY] -> prints "STATUS BODY".
api() {
  local method="$1" path="$2" body="${3-}"
  if [ -n "$body" ]; then
    curl -s --unix-socket "$SOCK" -X "$method" -H 'Content-Type: application/json' \
      --data-binary "$body" -w '\n%{http_code}' "http://nexus$path"
  else
    curl -s --unix-socket "$SOCK" -X "$method" -w '\n%{http_code}' "http://nexus$path"
  fi
}
