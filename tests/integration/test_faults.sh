#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Bad input and hostile code: each is refused with a clear error and harms nothing else.
. "$(dirname "$0")/lib.sh"
require_env
trap finish EXIT
start_daemon || exit 1

# --- bad input
out=$("$NEXUS" sandbox status sb_doesnotexist000000000 2>&1); rc=$?
expect_eq "unknown sandbox id: exit 4" "4" "$rc"
expect_contains "unknown sandbox id: message names it" "sb_doesnotexist000000000" "$out"
out=$("$NEXUS" sandbox run sb_doesnotexist000000000 -c 'print(1)' 2>&1); rc=$?
expect_eq "run on unknown sandbox: exit 125" "125" "$rc"
expect_contains "run on unknown sandbox: says not found" "not found" "$out"

SB=$(new_sandbox --ttl 10)
out=$("$NEXUS" sandbox run "$SB" -l cobol -c 'x' 2>&1); rc=$?
expect_eq "unknown language: usage exit 2" "2" "$rc"
expect_contains "unknown language: message names it" "cobol" "$out"
resp=$(api POST "/v1/sandboxes/$SB/run" '{"language":"cobol","code":"x"}')
expect_eq "unknown language via API: 400" "400" "$(echo "$resp" | tail -1)"
expect_contains "unknown language via API: message" "unknown language 'cobol'" "$resp"

resp=$(api POST /v1/sandboxes '{"name": ')
expect_eq "malformed JSON: 400" "400" "$(echo "$resp" | tail -1)"
expect_contains "malformed JSON: message" "malformed JSON" "$resp"
resp=$(api POST /v1/sandboxes '{"cpus": "four"}')
expect_eq "wrong field type: 400" "400" "$(echo "$resp" | tail -1)"
expect_contains "wrong field type names the field" "cpus" "$resp"
resp=$(api POST "/v1/sandboxes/$SB/run" '{"code": "1", "timeout_seconds": 1e400}')
expect_eq "a number beyond a double: 400, daemon alive" "400" "$(echo "$resp" | tail -1)"
resp=$(api POST /v1/sandboxes '{"cpus": 1e300}')
expect_eq "a number beyond an integer: 400" "400" "$(echo "$resp" | tail -1)"
resp=$(api POST /v1/sandboxes '{"template": "no-such-template"}')
expect_eq "unknown template: 404" "404" "$(echo "$resp" | tail -1)"
big=$(head -c 2000000 /dev/zero | tr '\0' 'a')
resp=$(printf '{"name":"%s"}' "$big" | curl -s --unix-socket "$SOCK" -X POST -H 'Content-Type: application/json' --data-binary @- -w '\n%{http_code}' http://nexus/v1/sandboxes)
expect_eq "oversized request: 413" "413" "$(echo "$resp" | tail -1)"
resp=$(api GET /v1/nothing-here)
expect_eq "unknown endpoint: 404" "404" "$(echo "$resp" | tail -1)"
resp=$(printf 'GARBAGE\r\n\r\n' | timeout 5 curl -s --unix-socket "$SOCK" -X 'BAD METHOD' -w '\n%{http_code}' http://nexus/v1/sandboxes)
expect_eq "malformed request line: 400" "400" "$(echo "$resp" | tail -1)"
check "daemon still answers after bad input" "$NEXUS" sandbox status "$SB"

# --- hostile code
SB2=$(new_sandbox --ttl 10)
cg_file() { cat "/sys/fs/cgroup/pids/nexus/$1/$2" 2>/dev/null || cat "/sys/fs/cgroup/nexus/$1/$2" 2>/dev/null; }
"$NEXUS" sandbox exec "$SB" --timeout 6 -- bash -c ':(){ :|:& };:' >/dev/null 2>&1 </dev/null &
BOMB=$!
sleep 3
pids=$(cg_file "$SB" pids.current); max=$(cg_file "$SB" pids.max)
refused=$(cg_file "$SB" pids.events | awk '/^max/ {print $2}')
check "fork bomb: pids stay within the limit ($pids <= $max)" test "${pids:-999999}" -le "${max:-0}"
check "fork bomb: the limit refused forks (pids.events max=$refused)" test "${refused:-0}" -gt 0
check "fork bomb: the host can still start processes" sh -c 'for i in $(seq 20); do /bin/true || exit 1; done'
out=$("$NEXUS" sandbox run "$SB2" -c "print('other sandbox fine')" 2>&1)
expect_eq "fork bomb: another sandbox is unaffected" "other sandbox fine" "$out"
wait "$BOMB"; rc=$?
expect_eq "fork bomb: ended by the timeout (exit 124)" "124" "$rc"
"$NEXUS" sandbox stop "$SB" >/dev/null
check "fork-bombed sandbox stops cleanly" sh -c "! grep -q '$SB' /proc/self/mountinfo"

SBM=$(new_sandbox --ttl 10 --memory 128)
out=$("$NEXUS" sandbox run "$SBM" -c "x = bytearray(512 * 1024 * 1024); print('allocated')" 2>&1); rc=$?
expect_not_contains "memory past the limit is not granted" "allocated" "$out"
check "memory hog fails (exit $rc)" test "$rc" -ne 0
out=$("$NEXUS" sandbox run "$SBM" -c "print('still alive')" 2>&1)
expect_eq "sandbox usable after the memory hog" "still alive" "$out"

start=$(date +%s)
out=$("$NEXUS" sandbox run "$SB2" -l bash -c 'while :; do :; done' --timeout 2 2>&1); rc=$?
expect_eq "infinite loop: timeout exit 124" "124" "$rc"
expect_contains "infinite loop: message" "exceeded 2 second timeout" "$out"
check "infinite loop: killed promptly" test $(( $(date +%s) - start )) -lt 8
out=$("$NEXUS" sandbox exec "$SB2" -- sh -c 'ps -eo comm= 2>/dev/null | grep -c bash || true')
expect_eq "infinite loop: the process tree is gone" "0" "$out"

out=$("$NEXUS" sandbox exec "$SB2" --user root -- sh -c 'mkdir -p /mnt/x; mount -t tmpfs none /mnt/x 2>&1; echo rc=$?')
expect_contains "mount is refused" "rc=" "$out"
expect_not_contains "mount does not succeed" "rc=0" "$out"
out=$("$NEXUS" sandbox run "$SB2" -c "
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
r = libc.syscall(313, -1, b'', 0)  # finit_module
print(r, os.strerror(ctypes.get_errno()))
r = libc.syscall(175, None, 0, b'')  # init_module
print(r, os.strerror(ctypes.get_errno()))
")
expect_eq "loading a kernel module is refused" "$(printf -- '-1 Operation not permitted\n-1 Operation not permitted')" "$out"
out=$("$NEXUS" sandbox run "$SB2" -c "
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
r = libc.ptrace(16, $DAEMON_PID, None, None)  # PTRACE_ATTACH to nexusd's host pid
print(r, ctypes.get_errno() != 0)
")
expect_eq "ptrace of a host process fails" "-1 True" "$out"
out=$("$NEXUS" sandbox exec "$SB2" -- sh -c 'ps -e 2>/dev/null | wc -l; ls /proc | grep -c "^[0-9]"')
check "host processes are invisible ($out)" sh -c "[ \$(echo '$out' | tail -1) -lt 10 ]"
out=$("$NEXUS" sandbox exec "$SB2" --user root -- sh -c 'echo 1 > /proc/sys/kernel/sysrq 2>&1; echo rc=$?')
expect_not_contains "writing /proc/sys is refused" "rc=0" "$out"
out=$("$NEXUS" sandbox exec "$SB2" --user root -- sh -c 'cat /proc/kcore 2>/dev/null | head -c 10 | wc -c')
expect_eq "/proc/kcore is masked" "0" "$out"

SB3=$(new_sandbox --ttl 10)
"$NEXUS" sandbox exec "$SB3" -- sh -c 'echo topsecret > /tmp/secret-file' >/dev/null
out=$("$NEXUS" sandbox exec "$SB2" --user root -- sh -c "cat /tmp/secret-file 2>&1; ls $ROOT/sandboxes 2>&1; find / -xdev -name secret-file 2>/dev/null | head -1")
expect_not_contains "another sandbox's files are not readable" "topsecret" "$out"
out=$("$NEXUS" sandbox exec "$SB2" -- sh -c 'cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d " " | sort | tr "\n" " "')
expect_eq "its network namespace has only loopback and its own eth0 (none of the host's interfaces)" "eth0 lo " "$out"
expect_eq "--no-network leaves only loopback" "lo " "$("$NEXUS" sandbox exec "$(new_sandbox --ttl 2 --no-network)" -- \
  sh -c 'cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d " " | sort | tr "\n" " "')"
out=$("$NEXUS" sandbox exec "$SB2" -- id -u)
expect_eq "commands run as user (uid 1000) by default" "1000" "$out"
expect_eq "no core dumps inside" "0" "$("$NEXUS" sandbox exec "$SB2" -- sh -c 'ulimit -c')"
nofile=$("$NEXUS" sandbox exec "$SB2" -- sh -c 'ulimit -Hn')
check "open files bounded inside (hard limit $nofile <= 65536)" test "$nofile" -gt 0 -a "$nofile" -le 65536
