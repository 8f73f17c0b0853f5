#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# nexusd --config: the real binary rejects an invalid file with "nexusd: FILE:LINE: reason" and
# exit 2 before it needs root, accepts the shipped packaging/nexusd.toml (--check-config), and
# treats a missing named file as an error. Usage: check_nexusd_config.sh NEXUSD SOURCE_ROOT
NEXUSD=$1
SRC=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok - $*"; }

printf '[sandbox]\nttl = 60\n\n# a typo\nisolaton = "jail"\n' >"$tmp/bad.toml"
out=$("$NEXUSD" --config "$tmp/bad.toml" 2>&1); rc=$?
[ "$rc" = 2 ] && ok "an unknown key: exit 2" || fail "an unknown key: exit $rc, not 2 ($out)"
[ "$out" = "nexusd: $tmp/bad.toml:5: unknown key 'isolaton' in [sandbox]" ] && ok "names file, line and key" ||
  fail "message: '$out'"

printf '[e2b]\nlisten = "127.0.0.1:1"\n[sandbox]\ncpus = "two"\n' >"$tmp/type.toml"
out=$("$NEXUSD" --config="$tmp/type.toml" --check-config 2>&1); rc=$?
[ "$rc" = 2 ] && [ "$out" = "nexusd: $tmp/type.toml:4: [sandbox] cpus: expected an integer, got a string" ] &&
  ok "a wrong type: exit 2 with the line" || fail "a wrong type: exit $rc, '$out'"

out=$("$NEXUSD" --config "$tmp/absent.toml" --check-config 2>&1); rc=$?
[ "$rc" = 2 ] && [ "$out" = "nexusd: $tmp/absent.toml: No such file or directory" ] &&
  ok "a missing named file is an error" || fail "missing file: exit $rc, '$out'"

out=$("$NEXUSD" --config "$SRC/packaging/nexusd.toml" --check-config 2>&1); rc=$?
[ "$rc" = 0 ] && ok "the shipped nexusd.toml is valid ($out)" || fail "shipped nexusd.toml: exit $rc, '$out'"

sed 's/^#\([a-z_]* = \)/\1/' "$SRC/packaging/nexusd.toml" >"$tmp/all.toml"
out=$("$NEXUSD" --config "$tmp/all.toml" --check-config 2>&1); rc=$?
[ "$rc" = 0 ] && ok "every key of it uncommented is valid" || fail "uncommented nexusd.toml: exit $rc, '$out'"

# Options are checked like the file.
printf '[sandbox]\nisolation = "jail"\n' >"$tmp/good.toml"
out=$("$NEXUSD" --config "$tmp/good.toml" --isolation vm --check-config 2>&1); rc=$?
[ "$rc" = 2 ] && ok "a bad option over a good file: exit 2" || fail "bad option: exit $rc, '$out'"

out=$("$NEXUSD" --config "$tmp/bad.toml" --help 2>&1); rc=$?
[ "$rc" = 0 ] && case "$out" in *--config*) true ;; *) false ;; esac && ok "--help works whatever the file holds" ||
  fail "--help with a bad file: exit $rc"

[ "$failures" = 0 ] || exit 1
