#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Every CLI line of issue 2's "what a user can do", against a real nexusd and jail sandbox.
. "$(dirname "$0")/lib.sh"
require_env
trap finish EXIT
start_daemon || exit 1
WORK=$(mktemp -d)

out=$("$NEXUS" template list)
expect_contains "template list shows the default template" "ai-agent-default" "$out"
expect_contains "default template is ready" "ready" "$out"

SB=$("$NEXUS" sandbox create demo --ttl 30 --json | jq -r .sandbox_id)
track "$SB"
case "$SB" in sb_????????????????????) ok "create returns an sb_ id ($SB)" ;; *) fail "bad id '$SB'" ;; esac

human=$("$NEXUS" sandbox create --ttl 1)
expect_contains "human create output" "Created sandbox: sb_" "$human"
track "${human##*: }"

out=$("$NEXUS" sandbox run "$SB" -c "print(2 + 2)")
expect_eq "python run prints 4" "4" "$out"

out=$(echo "console.log([1,2,3].map(x => x * 2))" | "$NEXUS" sandbox run "$SB" -l javascript -c -)
expect_eq "javascript from stdin" "[ 2, 4, 6 ]" "$out"

out=$("$NEXUS" sandbox run "$SB" -l bash -c 'echo $HOME; pwd' --json | jq -r .stdout)
expect_eq "bash run as user in its home" "$(printf '/home/user\n/home/user')" "$out"

cat > "$WORK/analysis.py" <<'PY'
import statistics, sys
data = [3, 1, 4, 1, 5, 9, 2, 6]
print("mean", statistics.mean(data))
print("warn", file=sys.stderr)
sys.exit(3)
PY
out=$("$NEXUS" sandbox run "$SB" -f "$WORK/analysis.py" --timeout 5 2>"$WORK/err"); rc=$?
expect_eq "run -f prints the program's stdout" "mean 3.875" "$out"
expect_eq "run -f passes stderr through" "warn" "$(cat "$WORK/err")"
expect_eq "run passes the exit status through" "3" "$rc"

start=$(date +%s)
out=$("$NEXUS" sandbox run "$SB" -c "import time; time.sleep(10)" --timeout 2 2>&1); rc=$?
elapsed=$(( $(date +%s) - start ))
expect_contains "timeout message" "Code execution exceeded 2 second timeout" "$out"
expect_eq "timeout exit code" "124" "$rc"
check "timeout returns well before the program would end (${elapsed}s)" test "$elapsed" -lt 9

json=$("$NEXUS" sandbox run "$SB" -c "print('x')" --json)
for f in sandbox_id stdout stderr exit_code execution_time; do
  expect_eq "run --json has $f" "true" "$(echo "$json" | jq "has(\"$f\")")"
done

out=$("$NEXUS" sandbox exec "$SB" -- sh -c 'ls /; exit 3'); rc=$?
expect_contains "exec streams output (ls /)" "home" "$out"
expect_eq "exec exits with the command's status" "3" "$rc"

out=$("$NEXUS" sandbox exec "$SB" --env FOO=bar --cwd /tmp --user root -- sh -c 'echo $FOO $(pwd) $(id -un)')
expect_eq "exec --env --cwd --user" "bar /tmp root" "$out"

out=$("$NEXUS" sandbox exec "$SB" -- sh -c 'for i in 1 2 3; do echo line$i; sleep 0.2; done')
expect_eq "exec streams several lines" "$(printf 'line1\nline2\nline3')" "$out"

out=$("$NEXUS" template build ai-agent-default 2>&1); rc=$?
expect_eq "rebuilding a template in use is refused (exit 1)" "1" "$rc"
expect_contains "the refusal says why" "in use by" "$out"

out=$("$NEXUS" sandbox list)
expect_contains "list shows the sandbox" "$SB" "$out"
expect_contains "list shows the name" "demo" "$out"
out=$("$NEXUS" sandbox list --json)
expect_eq "list --json is an array with the sandbox" "true" "$(echo "$out" | jq --arg id "$SB" 'map(.sandbox_id) | index($id) != null')"

expect_eq "status is active" '"active"' "$("$NEXUS" sandbox status "$SB" --json | jq .status)"
st=$("$NEXUS" sandbox status "$SB" --json)
for f in sandbox_id name status template created_at expires_at last_active_at uptime_seconds; do
  expect_eq "status --json has $f" "true" "$(echo "$st" | jq "has(\"$f\")")"
done
expect_eq "status template" "ai-agent-default" "$(echo "$st" | jq -r .template)"

check "pause" "$NEXUS" sandbox pause "$SB"
expect_eq "status is paused" '"paused"' "$("$NEXUS" sandbox status "$SB" --json | jq .status)"
out=$("$NEXUS" sandbox run "$SB" -c "print(1)" 2>&1); rc=$?
expect_contains "run in a paused sandbox is refused" "paused" "$out"
check "resume" "$NEXUS" sandbox resume "$SB"
expect_eq "status is active again" '"active"' "$("$NEXUS" sandbox status "$SB" --json | jq .status)"
expect_eq "works after resume" "ok" "$("$NEXUS" sandbox run "$SB" -c "print('ok')")"

check "stop" "$NEXUS" sandbox stop "$SB"
expect_eq "status is stopped" '"stopped"' "$("$NEXUS" sandbox status "$SB" --json | jq .status)"
out=$("$NEXUS" sandbox list --json)
expect_eq "stopped sandbox leaves the list" "false" "$(echo "$out" | jq --arg id "$SB" 'map(.sandbox_id) | index($id) != null')"
check "no mounts left for the stopped sandbox" sh -c "! grep -q '$SB' /proc/self/mountinfo"
check "no cgroup left for the stopped sandbox" sh -c "! ls -d /sys/fs/cgroup/*/nexus/$SB 2>/dev/null | grep -q ."
check "no sandbox dir left" test ! -e "$ROOT/sandboxes/$SB"
rm -rf "$WORK"
