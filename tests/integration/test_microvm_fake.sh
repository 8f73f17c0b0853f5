#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The microVM backend end to end with a fake nexus-vmm (fake_vmm.py: no guest is booted, so
# this runs on any host): auto picks microvm when the probe says so, the VMM's config, cgroup
# and disks, the hybrid vsock path (boot wait, /init, the E2B proxy), pause and resume on the
# control socket, adoption after a restart, a VMM that dies, a guest that never answers, and
# stop. Real microVM boots are tested in the nested KVM harness (tests/kvm).
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root (cgroups)"
[ -x "$NEXUS" ] && [ -x "$NEXUSD" ] || skip "binaries not built in $NEXUS_BIN_DIR"
for tool in python3 mkfs.erofs mkfs.ext4 sqlite3 curl; do
  command -v "$tool" >/dev/null || skip "$tool is not installed"
done
FAKE="$(cd "$(dirname "$0")" && pwd)/fake_vmm.py"
ROOT="$NEXUS_TEST_ROOT/mvf-$$"  # a private root: a tiny template of our own, no jail template needed
GUEST="$ROOT/guest"
mkdir -p "$ROOT/templates/tiny/rootfs/etc" "$GUEST"
echo tiny >"$ROOT/templates/tiny/rootfs/etc/hostname"
cat >"$ROOT/templates/tiny/template.json" <<JSON
{"format": 1, "name": "tiny", "description": "a test tree", "built_at": "2026-01-01T00:00:00.000Z",
 "base": {"type": "debian", "suite": "bookworm", "variant": "minbase", "packages": [], "customize_hooks": [],
          "mirror": "http://deb.debian.org/debian"},
 "packages": [], "size_bytes": 5, "cache_key": "test", "uid_base": 0, "uid_count": 0}
JSON
echo fake >"$GUEST/vmlinux"
echo fake >"$GUEST/agent-initrd.cpio"
OPS="$ROOT/fake-ops.log"
VM_ARGS=(--vmm "$FAKE" --guest-kernel "$GUEST/vmlinux" --agent-initrd "$GUEST/agent-initrd.cpio")
on_finish() { rm -rf "$ROOT"; }
trap finish EXIT
E2B_PORT=$(free_port)
E2B_LISTEN="127.0.0.1:$E2B_PORT" start_daemon "${VM_ARGS[@]}" --boot-timeout 10 || { fail "nexusd did not start"; exit 1; }

doc=$("$NEXUS" doctor --json)
expect_eq "doctor: the fake probe makes microVMs available" "true" "$(echo "$doc" | jq .host.microvm.available)"
expect_eq "doctor: auto picks microvm" '"microvm"' "$(echo "$doc" | jq .host.isolation.auto)"

err=$("$NEXUS" sandbox create -t tiny --cpus 40 2>&1 >/dev/null)
expect_contains "a microVM has at most 32 vCPUs" "at most 32 vCPUs" "$err"
SB=$(new_sandbox -t tiny --memory 256 --cpus 2) || { fail "creating a microVM sandbox"; exit 1; }
st=$("$NEXUS" sandbox status "$SB" --json)
expect_eq "auto chose microvm" '"microvm"' "$(echo "$st" | jq .isolation)"
expect_eq "the microVM sandbox is active" '"active"' "$(echo "$st" | jq .status)"
DIR="$ROOT/sandboxes/$SB"
cfg="$DIR/vmm.json"
check "the VMM config is in the sandbox dir" test -f "$cfg"
expect_eq "config: kernel" "$GUEST/vmlinux" "$(jq -r .kernel "$cfg")"
expect_eq "config: initrd" "$GUEST/agent-initrd.cpio" "$(jq -r .initrd "$cfg")"
expect_eq "config: rootfs image read-only" "$ROOT/templates/tiny/rootfs.erofs true" "$(jq -r '.disks[0] | "\(.path) \(.read_only)"' "$cfg")"
expect_eq "config: writable disk" "$DIR/disk.ext4 false" "$(jq -r '.disks[1] | "\(.path) \(.read_only)"' "$cfg")"
expect_eq "config: vsock" "3 $DIR/vsock.sock" "$(jq -r '"\(.vsock.cid) \(.vsock.uds)"' "$cfg")"
expect_eq "config: control and console" "$DIR/control.sock $DIR/console.log" "$(jq -r '"\(.control) \(.serial_log)"' "$cfg")"
expect_eq "config: cpus and memory" "2 256" "$(jq -r '"\(.cpus) \(.memory_mib)"' "$cfg")"
expect_contains "config: hostname on the cmdline" "nexus.hostname=$SB" "$(jq -r .cmdline "$cfg")"
expect_contains "config: the time on the cmdline" " nexus.time=$(date +%s | cut -c1-6)" "$(jq -r .cmdline "$cfg")"
check "config: the VMM jails itself as an unprivileged user" test "$(jq -r .jail.uid "$cfg")" -gt 0
check "the template was exported to rootfs.erofs" test -s "$ROOT/templates/tiny/rootfs.erofs"
check "the writable disk is an ext4 file system" sh -c "dumpe2fs -h '$DIR/disk.ext4' 2>/dev/null | grep -q 'Filesystem magic number'"
check "the disk pool was refilled" sh -c "ls '$ROOT/disks'/disk-*.ext4 >/dev/null 2>&1"
pid=$(sqlite3 "$ROOT/nexus.db" "select pid from sandboxes where id='$SB'")
check "the VMM runs" kill -0 "$pid"
check "the VMM is in the sandbox's memory cgroup" grep -q "memory:/nexus/$SB\$" "/proc/$pid/cgroup"
expect_eq "memory limit: guest memory plus VMM overhead" "$(((256 + 64) * 1048576))" \
  "$(cat "/sys/fs/cgroup/memory/nexus/$SB/memory.limit_in_bytes" 2>/dev/null || echo "v2?")"
grep -q "fake-vmm: $SB: 2 vCPUs" "$DIR/vmm.log" && ok "the VMM's output goes to vmm.log" || fail "vmm.log: $(cat "$DIR/vmm.log")"

# The E2B proxy reaches the agent through the hybrid vsock socket.
expect_eq "E2B proxy through vsock" "fake agent" \
  "$(curl -s -H "E2b-Sandbox-Id: $SB" "http://127.0.0.1:$E2B_PORT/health")"

"$NEXUS" sandbox pause "$SB" -q
expect_eq "pause: status" '"paused"' "$("$NEXUS" sandbox status "$SB" --json | jq .status)"
check "pause went to the control socket" grep -qx "$SB pause" "$OPS"
"$NEXUS" sandbox resume "$SB" -q
expect_eq "resume: status" '"active"' "$("$NEXUS" sandbox status "$SB" --json | jq .status)"
check "resume went to the control socket" grep -qx "$SB resume" "$OPS"

# A restarted nexusd adopts the running VMM.
stop_daemon
check "the VMM outlives nexusd" kill -0 "$pid"
start_daemon "${VM_ARGS[@]}" --boot-timeout 10 || { fail "nexusd did not start"; exit 1; }
expect_eq "adopted after a restart" '"active"' "$("$NEXUS" sandbox status "$SB" --json | jq .status)"
"$NEXUS" sandbox pause "$SB" -q && ok "pause after adoption" || fail "pause after adoption"
"$NEXUS" sandbox resume "$SB" -q

# A VMM that dies is noticed at once (pidfd), with the reason.
kill -9 "$pid"
for _ in $(seq 1 30); do
  [ "$("$NEXUS" sandbox status "$SB" --json | jq -r .status)" = failed ] && break
  sleep 0.1
done
st=$("$NEXUS" sandbox status "$SB" --json)
expect_eq "a killed VMM fails its sandbox" '"failed"' "$(echo "$st" | jq .status)"
expect_contains "the reason names nexus-vmm" "nexus-vmm" "$(echo "$st" | jq -r .error)"
check "its dir is gone" test ! -e "$DIR"
check "its cgroup is gone" test ! -e "/sys/fs/cgroup/memory/nexus/$SB"

# stop: the control socket's stop, the VMM exits, everything is removed.
SB2=$(new_sandbox -t tiny) || fail "second sandbox"
pid2=$(sqlite3 "$ROOT/nexus.db" "select pid from sandboxes where id='$SB2'")
"$NEXUS" sandbox stop "$SB2" -q
check "stop went to the control socket" grep -qx "$SB2 stop" "$OPS"
check "the VMM exited" sh -c "! kill -0 $pid2 2>/dev/null"
check "stopped sandbox dir removed" test ! -e "$ROOT/sandboxes/$SB2"
expect_eq "stopped" '"stopped"' "$("$NEXUS" sandbox status "$SB2" --json | jq .status)"

# A guest whose agent never answers fails the create at the boot deadline.
stop_daemon
echo silent >"$ROOT/fake-mode"
start_daemon "${VM_ARGS[@]}" --boot-timeout 2 || { fail "nexusd did not start"; exit 1; }
err=$("$NEXUS" sandbox create -t tiny 2>&1 >/dev/null); rc=$?
expect_eq "silent agent: create fails" "1" "$rc"
expect_contains "silent agent: the boot deadline" "did not answer within 2000 ms" "$err"
# Stopping a sandbox while it boots answers its create at once.
"$NEXUS" sandbox create -t tiny >/dev/null 2>"$ROOT/create-err" &
create_pid=$!
booting=""
for _ in $(seq 1 50); do
  booting=$("$NEXUS" sandbox list --json | jq -r '.[] | select(.status == "creating") | .sandbox_id' 2>/dev/null | head -1)
  [ -n "$booting" ] && break
  sleep 0.02
done
check "a booting sandbox is listed as creating" test -n "$booting"
[ -n "$booting" ] && "$NEXUS" sandbox stop "$booting" -q
wait "$create_pid"; rc=$?
expect_eq "stopped while booting: create fails" "1" "$rc"
expect_contains "stopped while booting: says so" "was stopped while" "$(cat "$ROOT/create-err")"
# A VMM that fails at once: its own error line.
echo crash >"$ROOT/fake-mode"
err=$("$NEXUS" sandbox create -t tiny 2>&1 >/dev/null); rc=$?
expect_eq "crashing VMM: create fails" "1" "$rc"
expect_contains "crashing VMM: its error" "Input/output error" "$err"
rm -f "$ROOT/fake-mode"
check "no sandbox dirs left behind" sh -c "[ -z \"\$(ls -A '$ROOT/sandboxes')\" ]"

# No guest kernel: auto falls back to the jail, an explicit microvm says why.
stop_daemon
start_daemon --vmm "$FAKE" --guest-kernel "$GUEST/missing" --agent-initrd "$GUEST/agent-initrd.cpio" ||
  { fail "nexusd did not start"; exit 1; }
err=$("$NEXUS" sandbox create -t tiny --isolation microvm 2>&1 >/dev/null); rc=$?
expect_eq "no kernel: explicit microvm fails" "1" "$rc"
expect_contains "no kernel: the reason" "microvm isolation is not available on this host: no guest kernel at '$GUEST/missing'" "$err"
expect_eq "no kernel: auto -> jail" '"jail"' "$("$NEXUS" doctor --json | jq .host.isolation.auto)"
