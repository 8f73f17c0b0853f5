#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# test_man_pages_nexusd.sh NEXUSD PAGE: every option `nexusd --help` lists has an entry in
# nexusd(8) (a line starting with the option in bold, as *--root* _DIR_).
set -u
nexusd=$1 page=$2
help=$("$nexusd" --help) || { echo "FAIL: nexusd --help exited $?"; exit 1; }
# CLI11 starts an option's line with its names: "  -h,--help  ...", "  --root TEXT=...",
# "  --log-time,--no-log-time{false}  ...".
options=$(printf '%s\n' "$help" | grep -E '^ +-' | awk '{ print $1 }' | tr ',' '\n' |
  sed -E 's/\{.*//' | grep -E -- '^--?[A-Za-z0-9][A-Za-z0-9-]*$' | sort -u)
[ -n "$options" ] || { echo "FAIL: no options found in nexusd --help"; exit 1; }
failed=0 n=0
for o in $options; do
  n=$((n + 1))
  if grep -E "^\*-" "$page" | grep -qF -- "*$o*"; then
    echo "ok - $o"
  else
    echo "FAIL: $o (nexusd --help) has no entry in $(basename "$page")"; failed=1
  fi
done
echo "# $n options of nexusd --help checked"
exit "$failed"
