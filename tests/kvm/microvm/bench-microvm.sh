#!/bin/sh
# The microVM benchmark, inside the nested harness's L1 (see bench-microvm). Boots the same
# guest (kernel, agent initramfs, erofs root, writable disk) ROUNDS times under nexus-vmm and
# under the peer, QEMU's microvm machine with vhost-vsock, and prints for each: start to
# agent-ready (first command answered), the process's RSS, and monitor_kib: its RSS without
# the guest RAM mapping (the monitor's own memory), once the guest is idle.
# EMULATED: L1 runs under QEMU TCG and the microVMs in its nested SVM; the figures compare
# the two monitors with each other and say nothing about hardware KVM speed.
P=$(pwd)
ROUNDS=${1:-3}
ONLY=${2:-}
now_ms() { read up _ < /proc/uptime; echo "${up%.*}${up#*.}0"; }
rss_kib() { awk '/^VmRSS/ {print $2}' /proc/$1/status; }
hwm_kib() { awk '/^VmHWM/ {print $2}' /proc/$1/status; }

for m in vhost_iotlb vhost vsock vmw_vsock_virtio_transport_common vhost_vsock; do
  insmod "$P/modules/$m.ko" || echo "# insmod $m failed"
done
ls -l /dev/vhost-vsock || echo "# no /dev/vhost-vsock: the QEMU peer cannot run"
CMDLINE_TAIL="nexus.hostname=bench -- --guest-init"

run_nexus() {
  d=/run/bench-nexus-$1; mkdir -p $d; cp "$P/disk.ext4" $d/disk.ext4
  cat > $d/config.json <<CFG
{"id": "bench", "kernel": "$P/vmlinux", "initrd": "$P/agent-initrd.cpio", "cmdline": "$CMDLINE_TAIL",
 "cpus": 1, "memory_mib": 256,
 "disks": [{"path": "$P/rootfs.erofs", "read_only": true}, {"path": "$d/disk.ext4"}],
 "vsock": {"cid": 3, "uds": "$d/v.sock"}, "control": "$d/control.sock", "jail": {"uid": 1000, "gid": 1000}}
CFG
  t0=$(now_ms)
  ./nexus-vmm --config $d/config.json 2> $d/vmm.log &
  pid=$!
  ./agent-exec $d/v.sock --timeout 300 --pid $pid -- /bin/true 2>/dev/null || { echo "# nexus-vmm round $1 failed"; cat $d/vmm.log; kill $pid; return; }
  t1=$(now_ms)
  sleep 1
  echo "nexus-vmm round $1: ready_ms=$((t1 - t0)) rss_kib=$(rss_kib $pid) hwm_kib=$(hwm_kib $pid) monitor_kib=$(vmm_self_kib $pid)"
  ./agent-exec --control $d/control.sock '{"op":"stop","timeout_ms":0}' >/dev/null
  wait $pid
}

# The monitor's own footprint: RSS of every mapping except the guest RAM (the largest
# anonymous mapping, sized like the guest).
vmm_self_kib() {
  awk '/^Size:/ {big = ($2 >= 200 * 1024)} /^Rss:/ {total += $2; if (big) guest += $2}
       END {print total - guest}' /proc/$1/smaps 2>/dev/null
}

# QEMU's microvm (ioapic2=off): 8 virtio-mmio transports of 512 bytes from 0xfeb00000 on IRQs
# 5..12, filled from the last one; listed last-first so the first -device becomes vda.
# pic=on: with acpi=off QEMU describes no IOAPIC to the guest, so without the 8259 every
# virtio driver's request_irq fails (probe error -22). force-legacy=false: virtio-mmio
# version 2, as nexus-vmm offers.
QEMU_MMIO=
for slot in 7 6 5 4 3 2 1 0; do
  QEMU_MMIO="$QEMU_MMIO virtio_mmio.device=512@0x$(printf %x $((0xfeb00000 + slot * 512))):$((5 + slot))"
done

run_qemu() {
  d=/run/bench-qemu-$1; mkdir -p $d; cp "$P/disk.ext4" $d/disk.ext4
  cid=$((10 + $1))
  t0=$(now_ms)
  "$P/qemu/lib/ld-linux-x86-64.so.2" --library-path "$P/qemu/lib" "$P/qemu/bin/qemu-system-x86_64" \
    -L "$P/qemu/share" -M microvm,acpi=off,rtc=off,pic=on,pit=on,isa-serial=on,ioapic2=off,auto-kernel-cmdline=off -enable-kvm -cpu host \
    -global virtio-mmio.force-legacy=false -m 256 -smp 1 -nodefaults -no-user-config -display none -no-reboot -serial file:$d/console.log \
    -kernel "$P/vmlinux" -initrd "$P/agent-initrd.cpio" \
    -append "reboot=t panic=1 pci=off acpi=off console=ttyS0 $QEMU_MMIO 8250.nr_uarts=1 no_timer_check tsc=reliable random.trust_cpu=on nosmp $CMDLINE_TAIL" \
    -drive id=root,file="$P/rootfs.erofs",format=raw,if=none,readonly=on -device virtio-blk-device,drive=root \
    -drive id=rw,file=$d/disk.ext4,format=raw,if=none -device virtio-blk-device,drive=rw \
    -device vhost-vsock-device,guest-cid=$cid -device virtio-rng-device 2> $d/qemu.log &
  pid=$!
  ./agent-exec vsock:$cid --timeout 90 --pid $pid -- /bin/true 2> $d/exec.log || {
    echo "# qemu round $1 failed:"; sed 's/^/#   /' $d/exec.log $d/qemu.log; tail -n 30 $d/console.log | sed 's/^/#   console: /'
    kill $pid; return; }
  t1=$(now_ms)
  sleep 1
  echo "qemu-microvm round $1: ready_ms=$((t1 - t0)) rss_kib=$(rss_kib $pid) hwm_kib=$(hwm_kib $pid) monitor_kib=$(vmm_self_kib $pid)"
  kill $pid; wait $pid 2>/dev/null
}

echo "# microVM start to agent-ready, and monitor memory (EMULATED: nested KVM under TCG)"
i=1
while [ $i -le $ROUNDS ]; do
  [ "$ONLY" = qemu ] || run_nexus $i
  [ "$ONLY" = nexus ] || run_qemu $i
  i=$((i + 1))
done
