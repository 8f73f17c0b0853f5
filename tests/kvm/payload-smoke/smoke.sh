#!/bin/sh
# Smoke test for the nested KVM harness, run inside L1 with cwd /payload.
# Checks that /dev/kvm opens and, when tests/kvm/run-smoke put the static
# kvm_smoke binary here, that a real-mode guest runs to HLT under it.
set -eu

echo "smoke: $(ls -l /dev/kvm)"
if ! ( exec 3<>/dev/kvm ); then
    echo "smoke: FAIL: cannot open /dev/kvm read-write"
    exit 1
fi
echo "smoke: /dev/kvm opens read-write"
grep -qw svm /proc/cpuinfo && echo "smoke: L1 CPU has svm"

if [ ! -x ./kvm_smoke ]; then
    echo "smoke: kvm_smoke not in the payload (tests/kvm/run-smoke builds it); only /dev/kvm was checked"
    exit 0
fi
start=$(cut -d' ' -f1 /proc/uptime)
./kvm_smoke
end=$(cut -d' ' -f1 /proc/uptime)
echo "smoke: kvm_smoke took $(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }') s (L1 uptime)"
