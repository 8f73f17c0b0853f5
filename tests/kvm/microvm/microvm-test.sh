#!/bin/sh
# Runs inside the nested harness's L1 VM (busybox), cwd = the payload. Boots real microVMs
# with nexus-vmm on L1's /dev/kvm (nested SVM under TCG) and checks what a user relies on:
# the agent answers over vsock, commands run with their output and exit code, files land on
# the writable disk and survive a reboot, stop is clean, and a hostile guest cannot take
# the monitor down. Prints "ok N - ..." / "not ok N - ..." lines and exits non-zero on failure.
P=$(pwd)
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
bad() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
check() { if [ "$1" = "$2" ]; then ok "$3"; else bad "$3 (got '$1', want '$2')"; fi; }
contains() { case "$1" in *"$2"*) ok "$3" ;; *) bad "$3 (got '$1')" ;; esac; }
now_ms() { read up _ < /proc/uptime; echo "${up%.*}${up#*.}0"; }

echo "# probe on L1's /dev/kvm:"
./nexus-vmm --probe --json
rc=$?
if [ $rc -eq 0 ]; then ok "probe: nested KVM counts as hardware virtualization (exit 0)"; else bad "probe exit $rc"; fi

write_config() {  # dir kernel initrd disks-json jail
  cat > "$1/config.json" <<CFG
{"id": "$(basename "$1")", "kernel": "$2", $3 "cmdline": "nexus.hostname=$(basename "$1") -- --guest-init",
 "cpus": 1, "memory_mib": 256, "disks": $4,
 "vsock": {"cid": 3, "uds": "$1/v.sock"}, "control": "$1/control.sock",
 "serial_log": "$1/console.log", "jail": {"uid": 1000, "gid": 1000}}
CFG
}

mkdir -p /run/sb1
cp "$P/disk.ext4" /run/sb1/disk.ext4
write_config /run/sb1 "$P/vmlinux" "\"initrd\": \"$P/agent-initrd.cpio\"," \
  "[{\"path\": \"$P/rootfs.erofs\", \"read_only\": true}, {\"path\": \"/run/sb1/disk.ext4\"}]"

boot() {  # dir
  t0=$(now_ms)
  ./nexus-vmm --config "$1/config.json" 2> "$1/vmm.log" &
  VMM=$!
  out=$(./agent-exec "$1/v.sock" --timeout 240 --pid $VMM -- /bin/true 2>&1)
  rc=$?
  t1=$(now_ms)
  echo "# $out"
  if [ $rc -eq 0 ]; then ok "boot $1: agent ready after $((t1 - t0)) ms (emulated: nested KVM under TCG)"
  else bad "boot $1: agent not ready (rc $rc)"; echo "# console:"; tail -n 40 "$1/console.log" | sed 's/^/#   /'; echo "# vmm:"; sed 's/^/#   /' "$1/vmm.log"; fi
}

stop() {  # dir
  reply=$(./agent-exec --control "$1/control.sock" '{"op":"stop","timeout_ms":60000}')
  contains "$reply" '"ok":true' "stop $1: control socket accepts stop"
  wait $VMM
  check "$?" "0" "stop $1: nexus-vmm exits 0 after the guest powers off"
  grep -q "reset the machine\|shut down" "$1/vmm.log" && ok "stop $1: the guest powered itself off (no kill)" \
    || { bad "stop $1: no clean power-off"; sed 's/^/#   /' "$1/vmm.log"; }
}

boot /run/sb1
out=$(./agent-exec /run/sb1/v.sock -- /bin/sh -c 'echo "hello from $(hostname)"; echo oops >&2; exit 7' 2>/dev/null)
check "$?" "7" "exec: the command's exit code comes back"
check "$out" "hello from sb1" "exec: stdout comes back, hostname is the sandbox id"
out=$(./agent-exec /run/sb1/v.sock -- /bin/sh -c 'cat /proc/mounts' 2>/dev/null)
contains "$out" "overlay / overlay" "guest root is the overlay of the erofs image and the writable disk"
out=$(./agent-exec /run/sb1/v.sock -- /bin/uname -r 2>/dev/null)
contains "$out" "6.1" "the guest runs its own kernel ($out)"
./agent-exec /run/sb1/v.sock -- /bin/sh -c 'echo persisted-data > /root/note && sync' >/dev/null 2>&1
out=$(./agent-exec /run/sb1/v.sock -- /bin/cat /root/note 2>/dev/null)
check "$out" "persisted-data" "files: written and read back in the sandbox"
reply=$(./agent-exec --control /run/sb1/control.sock '{"op":"pause"}')
contains "$reply" '"state":"paused"' "pause: vCPUs parked"
reply=$(./agent-exec --control /run/sb1/control.sock '{"op":"resume"}')
contains "$reply" '"state":"running"' "resume"
out=$(./agent-exec /run/sb1/v.sock -- /bin/echo alive 2>/dev/null)
check "$out" "alive" "exec after resume"
stop /run/sb1

echo "# second boot on the same writable disk"
boot /run/sb1
out=$(./agent-exec /run/sb1/v.sock -- /bin/cat /root/note 2>/dev/null)
check "$out" "persisted-data" "files: the writable disk keeps them across a reboot"
stop /run/sb1
mkdir -p /mnt/rw && mount -t ext4 -o ro /run/sb1/disk.ext4 /mnt/rw 2>/dev/null \
  && { check "$(cat /mnt/rw/upper/root/note)" "persisted-data" "the file is in the disk's overlay upper layer"; umount /mnt/rw; } \
  || echo "# (L1 cannot loop-mount ext4; skipped the host-side look at the disk)"

echo "# hostile guest"
mkdir -p /run/evil
write_config /run/evil "$P/hostile-guest.elf" "" "[{\"path\": \"$P/rootfs.erofs\", \"read_only\": true}]"
./nexus-vmm --config /run/evil/config.json 2> /run/evil/vmm.log &
VMM=$!
errors=0
i=0
while [ $i -lt 300 ]; do
  reply=$(./agent-exec --control /run/evil/control.sock '{"op":"status"}' 2>/dev/null)
  errors=$(echo "$reply" | grep -o 'virtio-' | wc -l)
  [ "$errors" -ge 3 ] && break
  i=$((i + 1)); sleep 0.2
done
echo "# status: $reply"
check "$errors" "3" "hostile guest: each attacked device reports an error"
contains "$reply" "loops" "hostile guest: virtio-blk names the descriptor loop"
contains "$reply" "entries ahead" "hostile guest: virtio-vsock names the runaway avail index"
contains "$reply" "outside guest memory" "hostile guest: virtio-rng names the out-of-range buffer"
contains "$reply" '"state":"running"' "hostile guest: the monitor is still running and answering"
kill -0 $VMM 2>/dev/null && ok "hostile guest: nexus-vmm process alive" || bad "hostile guest: nexus-vmm died"
reply=$(./agent-exec --control /run/evil/control.sock '{"op":"stop","timeout_ms":0}')
wait $VMM
check "$?" "0" "hostile guest: stopped cleanly on request"
sed 's/^/#   vmm: /' /run/evil/vmm.log

echo "# $n checks, $failed failed"
[ $failed -eq 0 ]
