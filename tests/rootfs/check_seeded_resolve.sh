#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The seeded templates are buildable from Debian's packages: for each one, mmdebstrap
# --simulate resolves its package list against the mirror (apt's solver; nothing is
# downloaded but the package lists). Skipped (77) without root, mmdebstrap or the mirror.
# Usage: check_seeded_resolve.sh PATH/TO/rootfs-seeded-plans
PLANS=$1
[ "$(id -u)" = 0 ] || { echo "SKIP: mmdebstrap --mode=root needs root"; exit 77; }
command -v mmdebstrap >/dev/null || { echo "SKIP: mmdebstrap not installed (apt-get install mmdebstrap)"; exit 77; }
passed=0 failed=0
while read -r name suite variant mirror packages; do
  if ! curl -sfI --max-time 20 "$mirror/dists/$suite/Release" >/dev/null; then
    echo "SKIP: the Debian mirror $mirror is not reachable"
    exit 77
  fi
  log=$(mktemp)
  start=$(date +%s)
  if mmdebstrap --mode=root --variant="$variant" --simulate --include="$packages" "$suite" /dev/null "$mirror" >"$log" 2>&1; then
    echo "ok - $name: $(echo "$packages" | tr ',' ' ' | wc -w) packages resolve on $suite ($(( $(date +%s) - start )) s)"
    passed=$((passed + 1))
  else
    echo "not ok - $name: mmdebstrap --simulate failed:"
    grep -E '^E:|unable to locate|has no installation candidate|Depends:' "$log" | head -10 | sed 's/^/#   /'
    failed=$((failed + 1))
  fi
  rm -f "$log"
done < <("$PLANS")
echo "# $passed passed, $failed failed"
[ "$passed" -gt 0 ] && [ "$failed" = 0 ]
