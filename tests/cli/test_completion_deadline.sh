#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# test_completion_deadline.sh NEXUS: `nexus __complete` (which the shells run at every Tab)
# prints nothing and exits 0 promptly when nexusd is absent, and when it accepts the
# connection but never answers (it gives up after 2 seconds).
set -u
nexus=$1
command -v python3 >/dev/null || { echo "SKIP: python3 is not installed (the silent listener is a python3 script)"; exit 77; }
WORK=$(mktemp -d)
LISTENER=""
trap '[ -n "$LISTENER" ] && kill "$LISTENER" 2>/dev/null; rm -rf "$WORK"' EXIT
failed=0
fail() { echo "FAIL: $*"; failed=1; }

# run_timed KIND SOCKET: sets out, rc and ms.
run_timed() {
  local start=$(date +%s%N)
  out=$("$nexus" __complete "$1" --socket "$2" 2>&1); rc=$?
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
}

run_timed sandbox-ids "$WORK/absent.sock"
[ "$rc" = 0 ] && [ -z "$out" ] && [ "$ms" -lt 1000 ] && echo "ok - no nexusd: nothing, exit 0, in $ms ms" ||
  fail "no nexusd: exit $rc, output '$out', $ms ms"

# A listener that accepts and never answers.
python3 - "$WORK/silent.sock" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(8)
held = []
while True:
    held.append(s.accept()[0])
PY
LISTENER=$!
for _ in $(seq 1 100); do [ -S "$WORK/silent.sock" ] && break; sleep 0.05; done
[ -S "$WORK/silent.sock" ] || { fail "the silent listener did not start"; exit 1; }
run_timed template-names "$WORK/silent.sock"
[ "$rc" = 0 ] && [ -z "$out" ] && [ "$ms" -ge 1500 ] && [ "$ms" -lt 4000 ] &&
  echo "ok - a nexusd that does not answer: nothing, exit 0, after $ms ms" ||
  fail "a nexusd that does not answer: exit $rc, output '$out', $ms ms (expected ~2000)"
exit "$failed"
