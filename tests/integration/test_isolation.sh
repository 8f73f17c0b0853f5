#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Isolation on a host that cannot run microVMs at hardware speed (the development machines:
# /dev/kvm is a PVM module): nexus doctor says so and why, auto creates a jail, an explicit
# microvm request fails with the reason, and the doctor falls back to probing by itself when
# nexusd is down. No guest is ever booted here.
. "$(dirname "$0")/lib.sh"
require_env
VMM="$NEXUS_BIN_DIR/vmm/nexus-vmm"
trap finish EXIT
start_daemon || { fail "nexusd did not start"; exit 1; }

doc=$("$NEXUS" doctor --json); rc=$?
if [ "$(echo "$doc" | jq .host.microvm.available)" = true ]; then
  skip "this host runs microVMs at hardware speed (the nested KVM harness tests them)"
fi
expect_eq "doctor --json exits 0 (nothing failed)" "0" "$rc"
expect_eq "doctor: microvm unusable" "false" "$(echo "$doc" | jq .host.microvm.available)"
reason=$(echo "$doc" | jq -r '.host.microvm.reason // empty')
check "doctor: with a reason ($reason)" test -n "$reason"
expect_eq "doctor: auto picks the jail" '"jail"' "$(echo "$doc" | jq .host.isolation.auto)"
expect_eq "doctor: the source is nexusd" '"nexusd"' "$(echo "$doc" | jq .source)"
expect_eq "doctor: overall ok" "true" "$(echo "$doc" | jq .ok)"
expect_contains "doctor: the summary explains auto" "auto -> jail, because $reason" "$(echo "$doc" | jq -r .summary)"
check "doctor: the cgroup version" sh -c "echo '$doc' | jq -e '.host.cgroup.version == 1 or .host.cgroup.version == 2' >/dev/null"
if [ -x "$VMM" ] && [ -e /dev/kvm ]; then
  expect_eq "doctor: the probe ran" "true" "$(echo "$doc" | jq .host.probe.ran)"
  expect_eq "doctor: the probe says not usable" "false" "$(echo "$doc" | jq .host.probe.usable)"
  check "doctor: probe figures" sh -c "echo '$doc' | jq -e '.host.probe.slowdown > 1 and .host.probe.ns_per_iteration > 0' >/dev/null"
  expect_contains "doctor: the reason is the slow /dev/kvm" "slower than native" "$reason"
else
  note "no $VMM or /dev/kvm: the reason is '$reason'"
fi
expect_eq "doctor: every host check is there" "kernel cgroups user namespaces ebpf btf nftables disk templates" \
  "$(echo "$doc" | jq -r '[.checks[].name | select(IN("kernel", "cgroups", "user namespaces", "ebpf", "btf", "nftables", "disk", "templates"))] | join(" ")')"
expect_eq "doctor: the disk is measured where nexusd keeps its state" "$ROOT" "$(echo "$doc" | jq -r .host.system.disk.path)"
expect_eq "doctor: eBPF is available, or the reason is given" true \
  "$(echo "$doc" | jq '.host.system.ebpf.available == true or (.host.system.ebpf.reason | length > 0)')"
expect_eq "doctor: the templates line sees the test root's default template" ok \
  "$(echo "$doc" | jq -r '.checks[] | select(.name == "templates") | .status')"
human=$("$NEXUS" doctor)
expect_contains "doctor: one line per check" "warn  microvm" "$human"
expect_contains "doctor: the daemon check" "ok    nexusd" "$human"
expect_contains "doctor: the isolation line" "isolation: auto -> jail, because" "$human"

SB=$(new_sandbox --ttl 2) || fail "create (auto)"
expect_eq "create with auto gives a jail" '"jail"' "$("$NEXUS" sandbox status "$SB" --json | jq .isolation)"
expect_eq "the jail runs code" "4" "$("$NEXUS" sandbox run "$SB" -c 'print(2 + 2)')"
SBJ=$(new_sandbox --ttl 2 --isolation jail) || fail "create --isolation jail"
expect_eq "create --isolation jail" '"jail"' "$("$NEXUS" sandbox status "$SBJ" --json | jq .isolation)"

err=$("$NEXUS" sandbox create --isolation microvm 2>&1 >/dev/null); rc=$?
expect_eq "create --isolation microvm fails (exit 1)" "1" "$rc"
expect_contains "with the reason" "nexus: microvm isolation is not available on this host: $reason; use --isolation jail" "$err"
resp=$(api POST /v1/sandboxes '{"isolation": "microvm"}')
expect_eq "API: explicit microvm is 409" "409" "$(echo "$resp" | tail -1)"
expect_eq "API: conflict code" '"conflict"' "$(echo "$resp" | head -1 | jq .error.code)"
resp=$(api POST /v1/sandboxes '{"isolation": "vm"}')
expect_eq "API: an unknown isolation is 400" "400" "$(echo "$resp" | tail -1)"
"$NEXUS" sandbox create --isolation vm >/dev/null 2>&1; rc=$?
expect_eq "CLI: an unknown isolation is a usage error" "2" "$rc"
check "no sandbox left from the failed creates" sh -c \
  "[ \"\$(\"$NEXUS\" sandbox list --json | jq '[.[] | select(.isolation == \"microvm\")] | length')\" = 0 ]"

# The daemon's default: nexusd --isolation jail.
stop_daemon
start_daemon --isolation jail || { fail "nexusd --isolation jail did not start"; exit 1; }
expect_eq "GET /v1/host: the default" '"jail"' "$(api GET /v1/host | head -1 | jq .isolation.default)"
stop_daemon
"$NEXUSD" --root "$ROOT" --run-dir "$RUN" --isolation bogus >/dev/null 2>&1; rc=$?
expect_eq "nexusd --isolation bogus is a usage error" "2" "$rc"

# nexusd down: doctor says so and, as root (who can open /dev/kvm), probes by itself.
doc=$("$NEXUS" doctor --json 2>/dev/null); rc=$?
expect_eq "doctor without nexusd exits 3" "3" "$rc"
expect_eq "doctor without nexusd: daemon unreachable" "false" "$(echo "$doc" | jq .daemon.reachable)"
if [ -e /dev/kvm ]; then
  expect_eq "doctor without nexusd: a local probe" '"local probe"' "$(echo "$doc" | jq .source)"
  expect_eq "doctor without nexusd: still unusable" "false" "$(echo "$doc" | jq .host.microvm.available)"
  expect_contains "doctor without nexusd: says so" "probed this host directly" "$(echo "$doc" | jq -r .note)"
fi
err=$("$NEXUS" doctor 2>&1 >/dev/null)
expect_contains "doctor without nexusd: human note" "nexusd is not running" "$err"
