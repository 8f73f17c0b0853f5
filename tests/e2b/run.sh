#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# E2B conformance: the unmodified npm packages `e2b` and `@e2b/code-interpreter` (pinned in
# package-lock.json) against a real nexusd with its E2B endpoint, as root, on jail sandboxes of
# the default template that tools/test built in NEXUS_TEST_ROOT.
#
#   NEXUS_BIN_DIR=build tests/e2b/run.sh [AREA...]    AREA: control commands pty files watch
#                                                     code-interpreter users bad-input
#   NEXUS_BIN_DIR=build tests/e2b/run.sh --bench       the benchmark (bench.mjs) instead of the tests
# Exit: 0 all passed, 1 a failure, 77 skipped (not root, node too old, binaries/template missing).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
: "${NEXUS_BIN_DIR:?NEXUS_BIN_DIR must point at the build directory}"
: "${NEXUS_TEST_ROOT:=/var/tmp/nexus-test}"
export NEXUS_TEST_ROOT
NEXUS="$NEXUS_BIN_DIR/cli/nexus"
NEXUSD="$NEXUS_BIN_DIR/daemon/nexusd"
AGENT="${NEXUS_AGENT:-$NEXUS_BIN_DIR/guest-agent/nexus-agent}"  # NEXUS_AGENT: another agent build
ROOT="$NEXUS_TEST_ROOT/root"
RUN="$NEXUS_TEST_ROOT/run-e2b-$$"
SOCK="$RUN/nexus.sock"
export NEXUS_SOCKET="$SOCK"
export NEXUS_CLI="$NEXUS"  # network.test.mjs reads the native API through it
export NEXUS_CONFIG_DIR="$RUN/config"  # `nexus e2b env` remembers keys here, not in ~/.config
DAEMON_LOG="$NEXUS_TEST_ROOT/nexusd-e2b.log"
TAP="$NEXUS_TEST_ROOT/e2b-results.tap"
TRACK="$NEXUS_TEST_ROOT/e2b-created-$$"
DAEMON_PID=""
FAILURES=0

. "$HERE/../lib/daemon.sh"

skip() { echo "SKIP: $*"; exit 77; }
fail() { FAILURES=$((FAILURES + 1)); echo "FAIL: $*"; }
note() { echo "# $*"; }

# --- prerequisites -------------------------------------------------------------------------
[ "$(id -u)" = 0 ] || skip "needs root (nexusd runs jail sandboxes: namespaces, cgroups, mounts)"
command -v node >/dev/null || skip "node not found (the E2B SDK needs Node >= 20.18.1)"
node -e '
  const [a, b, c] = process.versions.node.split(".").map(Number)
  process.exit(a > 20 || (a === 20 && (b > 18 || (b === 18 && c >= 1))) ? 0 : 1)' ||
  skip "node $(node --version) is too old: the E2B SDK needs Node >= 20.18.1"
command -v jq >/dev/null || skip "jq not found"
[ -x "$NEXUS" ] && [ -x "$NEXUSD" ] && [ -x "$AGENT" ] || skip "binaries not built in $NEXUS_BIN_DIR"
[ -d "$ROOT/templates/ai-agent-default/rootfs" ] ||
  skip "template ai-agent-default not built in $ROOT (tools/test builds it; see README)"
"$NEXUSD" --help 2>&1 | grep -q -- '--e2b-listen' || skip "this nexusd has no --e2b-listen"

# The pinned SDKs: install them when node_modules is missing or holds other versions.
installed() {
  (cd "$HERE" && node -e '
    const lock = require("./package-lock.json").packages
    for (const p of ["node_modules/e2b", "node_modules/@e2b/code-interpreter"]) {
      if (require("./" + p + "/package.json").version !== lock[p].version) process.exit(1)
    }' 2>/dev/null)
}
if ! installed; then
  note "installing the pinned E2B SDKs (npm ci)"
  (cd "$HERE" && npm ci --no-audit --no-fund) || skip "npm ci failed (is the npm registry reachable?)"
  installed || { echo "FAIL: npm ci did not install the pinned versions"; exit 1; }
fi
note "e2b $(cd "$HERE" && node -p 'require("./node_modules/e2b/package.json").version')," \
  "@e2b/code-interpreter $(cd "$HERE" && node -p 'require("./node_modules/@e2b/code-interpreter/package.json").version')," \
  "node $(node --version)"

# --- daemon ----------------------------------------------------------------------------------
PORT=$(free_port)
URL="http://127.0.0.1:$PORT"


# Every sandbox the tests created must be gone: not listed, no directory left.
check_leftovers() {
  local list id live=0
  list=$("$NEXUS" sandbox list --json 2>&1) || { fail "nexus sandbox list --json failed: $list"; return; }
  while read -r id; do
    [ -n "$id" ] || continue
    if echo "$list" | jq -e --arg id "$id" '(if type == "array" then . else (.sandboxes // []) end)
        | map(.sandbox_id // .id) | index($id) != null' >/dev/null 2>&1; then
      fail "sandbox $id was left live by the tests"
      live=$((live + 1))
      "$NEXUS" sandbox stop "$id" >/dev/null 2>&1
    fi
  done < <(sort -u "$TRACK")
  note "$(sort -u "$TRACK" | grep -c .) sandboxes created by the tests, $live left live"
}

finish() {
  local rc=$?
  trap - EXIT
  if [ -n "$DAEMON_PID" ]; then
    check_leftovers
    stop_daemon
  fi
  local id
  while read -r id; do
    [ -n "$id" ] && [ -e "$ROOT/sandboxes/$id" ] && fail "sandbox $id left its directory behind"
  done < <(sort -u "$TRACK" 2>/dev/null)
  rm -f "$TRACK"
  umount -l "$RUN/netns" 2>/dev/null  # nexusd makes it a mount point
  nft delete table inet "nexus_t$(test_network_hash)" 2>/dev/null  # kept by nexusd for live sandboxes
  rm -rf "$RUN"
  [ "$rc" = 77 ] && exit 77
  if [ "$FAILURES" -ne 0 ] || [ "$rc" -ne 0 ]; then
    echo "# E2B $WHAT FAILED ($FAILURES harness failures, node exit $NODE_RC)"
    echo "# daemon log tail ($DAEMON_LOG):"; tail -40 "$DAEMON_LOG" | sed 's/^/#   /'
    exit 1
  fi
  echo "# E2B $WHAT passed"
  exit 0
}
NODE_RC=0
WHAT=conformance
[ "${1-}" = --bench ] && WHAT=benchmark
: >"$TRACK"
trap finish EXIT

mkdir -p "$RUN"
: >"$DAEMON_LOG"
"$NEXUSD" --root "$ROOT" --run-dir "$RUN" --agent "$AGENT" --e2b-listen "127.0.0.1:$PORT" \
  $(test_network_args) --log-time --log-level debug >>"$DAEMON_LOG" 2>&1 &
DAEMON_PID=$!
ready=0
for _ in $(seq 1 150); do
  if [ -S "$SOCK" ] && "$NEXUS" version >/dev/null 2>&1 &&
     [ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/v2/sandboxes")" != 000 ]; then ready=1; break; fi
  kill -0 "$DAEMON_PID" 2>/dev/null || { tail -20 "$DAEMON_LOG"; echo "FAIL: nexusd exited"; DAEMON_PID=""; exit 1; }
  sleep 0.1
done
[ "$ready" = 1 ] || { tail -20 "$DAEMON_LOG"; echo "FAIL: nexusd's E2B endpoint did not come up on $URL"; exit 1; }
note "nexusd pid $DAEMON_PID, E2B endpoint $URL, log $DAEMON_LOG"

# --- keys --------------------------------------------------------------------------------------
new_key() {  # new_key ARGS... -> prints the JSON
  local out
  out=$("$NEXUS" auth key create "$@" --json) || { echo "FAIL: nexus auth key create $*: $out" >&2; return 1; }
  echo "$out"
}
KA=$(new_key --user alice --name e2b-alice) || exit 1
KB=$(new_key --user bob --name e2b-bob) || exit 1
KADM=$(new_key --user admin --admin --name e2b-admin) || exit 1
KREV=$(new_key --user alice --name e2b-revoked) || exit 1
for f in id user admin name created_at key; do
  [ "$(echo "$KA" | jq "has(\"$f\")")" = true ] || fail "nexus auth key create --json lacks \"$f\": $KA"
done
[ "$(echo "$KADM" | jq -r .admin)" = true ] || fail "admin key not marked admin: $KADM"
[ "$(echo "$KA" | jq -r .user)" = alice ] || fail "key user is not alice: $KA"
"$NEXUS" auth key revoke "$(echo "$KREV" | jq -r .id)" >/dev/null || fail "nexus auth key revoke failed"
keys=$("$NEXUS" auth key list --json)
echo "$keys" | jq -e --arg id "$(echo "$KA" | jq -r .id)" '.keys | map(.id) | index($id) != null' >/dev/null ||
  fail "nexus auth key list --json does not show the new key: $keys"
echo "$keys" | grep -qF "$(echo "$KA" | jq -r .key)" && fail "nexus auth key list prints a secret"

env_out=$("$NEXUS" e2b env) || fail "nexus e2b env failed"
case "$env_out" in
  *"export E2B_API_URL=$URL"*"export E2B_SANDBOX_URL=$URL"*"export E2B_API_KEY="?*) ;;
  *) fail "nexus e2b env does not print the three export lines for $URL: $env_out" ;;
esac

export E2B_API_URL="$URL" E2B_SANDBOX_URL="$URL"
export E2B_API_KEY; E2B_API_KEY=$(echo "$KA" | jq -r .key)
export E2B_API_KEY_B; E2B_API_KEY_B=$(echo "$KB" | jq -r .key)
export E2B_ADMIN_KEY; E2B_ADMIN_KEY=$(echo "$KADM" | jq -r .key)
export E2B_REVOKED_KEY; E2B_REVOKED_KEY=$(echo "$KREV" | jq -r .key)
export E2B_TRACK_FILE="$TRACK"
unset E2B_DEBUG E2B_DOMAIN

if [ "${1-}" = --bench ]; then
  (cd "$HERE" && NEXUS_RUN_DIR="$RUN" node bench.mjs)
  NODE_RC=$?
  [ "$NODE_RC" = 0 ] || fail "bench.mjs exited $NODE_RC"
  exit 0
fi

# --- the tests -----------------------------------------------------------------------------------
FILES=()
if [ $# -gt 0 ]; then
  for a in "$@"; do FILES+=("$HERE/${a%.test.mjs}.test.mjs"); done
else
  FILES=("$HERE"/*.test.mjs)
fi
note "running ${#FILES[@]} test files; TAP copy in $TAP"
(cd "$HERE" && node --test --test-concurrency=1 --test-force-exit \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$TAP" \
  "${FILES[@]}")
NODE_RC=$?
[ "$NODE_RC" = 0 ] || fail "node --test exited $NODE_RC (see the failures above)"
exit 0
