#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# kill -9 of nexusd while a command runs: the restarted daemon adopts live sandboxes, cleans up
# dead ones, and nothing leaks. Also TTL expiry by the sweeper.
. "$(dirname "$0")/lib.sh"
require_env
trap finish EXIT
start_daemon || exit 1

SB=$(new_sandbox --ttl 10)
DEAD=$(new_sandbox --ttl 10)
"$NEXUS" sandbox exec "$SB" -- sh -c 'echo before > /tmp/marker' >/dev/null
"$NEXUS" sandbox exec "$SB" -- sh -c 'sleep 30' >/dev/null 2>"$NEXUS_TEST_ROOT/exec-err" &
EXEC_PID=$!
sleep 1
kill -9 "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null; DAEMON_PID=""
wait "$EXEC_PID"; rc=$?
expect_eq "the CLI reports the lost daemon (exit 125)" "125" "$rc"
check "the CLI says why" grep -q "nexus:" "$NEXUS_TEST_ROOT/exec-err"

# While nexusd is down, the init of one sandbox dies.
dead_pid=$(sqlite3 "$ROOT/nexus.db" "select pid from sandboxes where id='$DEAD'" 2>/dev/null)
if [ -n "$dead_pid" ] && [ "$dead_pid" != 0 ]; then
  kill -9 "$dead_pid"
  sleep 0.5
else
  fail "could not read the pid of $DEAD from the database"
fi

start_daemon || exit 1
expect_eq "live sandbox adopted: status active" '"active"' "$("$NEXUS" sandbox status "$SB" --json | jq .status)"
expect_eq "adopted sandbox keeps its files" "before" "$("$NEXUS" sandbox exec "$SB" -- cat /tmp/marker)"
expect_eq "adopted sandbox runs code" "4" "$("$NEXUS" sandbox run "$SB" -c 'print(2+2)')"
st=$("$NEXUS" sandbox status "$DEAD" --json | jq -r .status)
check "dead sandbox is not active after restart ($st)" test "$st" != active
check "dead sandbox's mounts are gone" sh -c "! grep -q '$DEAD' /proc/self/mountinfo"
check "dead sandbox's cgroups are gone" sh -c "! ls -d /sys/fs/cgroup/*/nexus/$DEAD 2>/dev/null | grep -q ."
check "dead sandbox's dir is gone" test ! -e "$ROOT/sandboxes/$DEAD"

# TTL: a 1-minute sandbox shortened through the API expires within seconds.
SBT=$(new_sandbox --ttl 1)
resp=$(api POST "/v1/sandboxes/$SBT/timeout" '{"ttl_seconds": 2}')
expect_eq "timeout endpoint accepts a new TTL" "200" "$(echo "$resp" | tail -1)"
sleep 5
expect_eq "expired sandbox stopped by the sweeper" '"stopped"' "$("$NEXUS" sandbox status "$SBT" --json | jq .status)"
check "expired sandbox leaves no mounts" sh -c "! grep -q '$SBT' /proc/self/mountinfo"

# run/exec refresh the TTL
before=$("$NEXUS" sandbox status "$SB" --json | jq -r .expires_at)
sleep 1.1
"$NEXUS" sandbox run "$SB" -c 'pass' >/dev/null
after=$("$NEXUS" sandbox status "$SB" --json | jq -r .expires_at)
check "run refreshes expires_at ($before -> $after)" test "$after" \> "$before"
