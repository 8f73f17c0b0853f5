#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The Debian package: tools/build-deb builds it from this tree, lintian finds no error, it
# holds every file `meson install` installs (plus the guest kernel when one is built) where the
# units and nexusd.toml expect them, and it installs with apt into a throwaway Debian 12 root:
# the postinst creates the nexus group with no systemd running, nexus --version and nexusd
# --help run from the installed paths, the default config is valid, purge removes it.
#
# The throwaway root is the Debian bookworm base that template builds cache in
# $NEXUS_CACHE_DIR (mmdebstrap output, a real Debian with apt and dpkg): extracting it takes
# seconds, where a fresh mmdebstrap needs a mirror and a minute. apt resolves the package's
# dependencies with the host's package lists and takes the .debs from the host's apt cache
# (hard links), so no network is needed when the host has them; otherwise it downloads, and
# when that fails too the test reports itself skipped (the package checks before it ran).
# dpkg --root was the other choice: it runs maintainer scripts outside any root, so it cannot
# show what postinst does on a machine.
#
# Environment: NEXUS_BIN_DIR (the meson build dir; used for the package when configured for
# /usr, else tools/build-deb keeps its own build dir), NEXUS_CACHE_DIR, NEXUS_TEST_ROOT.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
: "${NEXUS_BIN_DIR:?NEXUS_BIN_DIR must point at the build directory}"
: "${NEXUS_TEST_ROOT:=/var/tmp/nexus-test}"
: "${NEXUS_CACHE_DIR:=/var/cache/nexus}"
export NEXUS_CACHE_DIR
FAILURES=0
CHECKS=0
skip() { echo "SKIP: $*"; exit 77; }
note() { echo "# $*"; }
fail() { FAILURES=$((FAILURES + 1)); echo "FAIL: $*"; }
ok() { CHECKS=$((CHECKS + 1)); echo "ok - $*"; }
check() { local what="$1"; shift; if "$@"; then ok "$what"; else fail "$what (command: $*)"; fi; }
expect_eq() { if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: expected '$2', got '$3'"; fi; }
expect_contains() { case "$3" in *"$2"*) ok "$1" ;; *) fail "$1: expected to contain '$2', got '$3'" ;; esac; }

[ "$(id -u)" = 0 ] || skip "needs root (the throwaway root is a chroot)"
for tool in dpkg-buildpackage dh rsync jq; do
  command -v "$tool" >/dev/null || skip "$tool not found (tools/deps.sh: NEXUS_DEB_DEPS)"
done
BASE=$(ls -t "$NEXUS_CACHE_DIR"/debian-bookworm-*.tar 2>/dev/null | head -n 1)
[ -n "$BASE" ] || skip "no cached Debian base in $NEXUS_CACHE_DIR (tools/test builds the default template first)"

WORK="$NEXUS_TEST_ROOT/package-$$"
R="$WORK/root"
mkdir -p "$WORK"
finish() {
  [ -f "$WORK/apt.log" ] && cp "$WORK/apt.log" "$NEXUS_TEST_ROOT/package-apt.log"  # kept for a look
  rm -rf "$WORK"
  echo "# $CHECKS checks passed, $FAILURES failed"
  [ "$FAILURES" = 0 ] || exit 1
  exit 0
}
trap finish EXIT
version=$(sed -n "s/^  version: '\([^']*\)',$/\1/p" "$SRC/meson.build" | head -n 1)

# --- build ----------------------------------------------------------------------------------------
build_args=()
opts=$(meson introspect "$NEXUS_BIN_DIR" --buildoptions | jq -r 'map({(.name): .value}) | add | "\(.prefix) \(.sysconfdir)"')
if [ "$opts" = "/usr /etc" ]; then
  build_args=(--build-dir "$NEXUS_BIN_DIR")
  note "packaging the binaries of $NEXUS_BIN_DIR (configured for /usr)"
else
  note "$NEXUS_BIN_DIR is configured for '$opts': tools/build-deb builds for /usr in its own directory"
fi
DEB_WORK=/var/tmp/nexus-build-deb  # kept between runs: the next build is incremental
deb=$("$SRC/tools/build-deb" --output "$WORK/out" --work "$DEB_WORK" "${build_args[@]}" 2>"$WORK/build-deb.log")
rc=$?
if [ "$rc" != 0 ] || [ ! -f "$deb" ]; then
  tail -n 40 "$WORK/build-deb.log"
  fail "tools/build-deb built no package (exit $rc)"
  exit 1
fi
ok "tools/build-deb built $(basename "$deb")"
expect_eq "named after the project version" "nexus_${version}_amd64.deb" "$(basename "$deb")"

# --- lintian --------------------------------------------------------------------------------------
if [ -f "$WORK/out/lintian.txt" ]; then
  expect_eq "lintian reports no error" "" "$(grep '^E: ' "$WORK/out/lintian.txt")"
  grep -E '^(W|I): ' "$WORK/out/lintian.txt" | sed 's/^/# lintian: /'
else
  note "lintian not installed: not run"
fi

# --- what the package holds -----------------------------------------------------------------------
X="$WORK/x"
dpkg-deb -x "$deb" "$X"
field() { dpkg-deb -f "$deb" "$1"; }
expect_eq "Package: nexus" nexus "$(field Package)"
expect_eq "Architecture: amd64" amd64 "$(field Architecture)"
depends=$(field Depends)
expect_contains "Depends on adduser (postinst: addgroup)" adduser "$depends"
expect_contains "Depends on the shared libraries (shlibs), e.g. libtomlplusplus3" libtomlplusplus3 "$depends"
expect_contains "Depends on mmdebstrap (template bases)" mmdebstrap "$depends"
expect_eq "/etc/nexus/nexusd.toml is a conffile" /etc/nexus/nexusd.toml \
  "$(dpkg-deb --ctrl-tarfile "$deb" | tar xO ./conffiles 2>/dev/null | grep nexusd.toml)"
for f in usr/bin/nexus usr/sbin/nexusd usr/libexec/nexus/nexus-vmm usr/libexec/nexus/nexus-agent; do
  check "/$f is an executable" test -x "$X/$f"
done
check "/usr/libexec/nexus/agent-initrd.cpio (microVM initramfs)" test -s "$X/usr/libexec/nexus/agent-initrd.cpio"
for u in nexusd.service nexusd.socket nexusd-e2b.socket; do
  check "/lib/systemd/system/$u" test -f "$X/lib/systemd/system/$u"
done
exec_start=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$X/lib/systemd/system/nexusd.service")
expect_eq "nexusd.service runs /usr/sbin/nexusd" /usr/sbin/nexusd "$exec_start"
check "which the package holds" test -x "$X$exec_start"
check "the default config at /etc/nexus/nexusd.toml (nexusd's default --config)" test -f "$X/etc/nexus/nexusd.toml"
check "the copyright file" test -f "$X/usr/share/doc/nexus/copyright"
# Everything meson installs (binaries, units, config, man pages, completions as they are
# added) is in the package at the same place.
installed_list=$(meson introspect "${build_args[1]:-$DEB_WORK/obj}" --installed 2>/dev/null | jq -r '.[]')
missing=""
n=0
for path in $installed_list; do
  n=$((n + 1))
  [ -e "$X$path" ] || [ -e "$X$path.gz" ] || missing="$missing $path"
done
[ "$n" -gt 0 ] && ok "meson installs $n files" || fail "meson introspect --installed listed nothing"
expect_eq "the package holds every one of them" "" "${missing# }"
if kernel=$("$SRC/packaging/guest-kernel/build-guest-kernel" --print-path 2>/dev/null | tail -n 1) && [ -f "$kernel" ]; then
  check "the built guest kernel is packaged as /usr/libexec/nexus/vmlinux" cmp -s "$kernel" "$X/usr/libexec/nexus/vmlinux"
else
  check "no guest kernel is built, none is packaged" test ! -e "$X/usr/libexec/nexus/vmlinux"
fi
if command -v systemd-analyze >/dev/null; then
  # The packaged units as they are, but for ExecStart: verify wants the program to exist on
  # this host, so the packaged nexusd stands in at its extracted path.
  mkdir -p "$WORK/units"
  cp "$X"/lib/systemd/system/nexusd* "$WORK/units/"
  sed -i "s|^ExecStart=/usr/sbin/nexusd|ExecStart=$X/usr/sbin/nexusd|" "$WORK/units/nexusd.service"
  out=$(cd "$WORK/units" && systemd-analyze verify --man=no ./nexusd.service ./nexusd.socket ./nexusd-e2b.socket 2>&1)
  expect_eq "systemd-analyze verify accepts the packaged units" "" "$out"
fi

# --- install into a throwaway Debian root ---------------------------------------------------------
mkdir -p "$R"
tar -xf "$BASE" -C "$R" || { fail "extracting $BASE"; exit 1; }
check "the throwaway root has dpkg and apt" test -x "$R/usr/bin/dpkg" -a -x "$R/usr/bin/apt-get"
check "and no nexus group yet" sh -c "! chroot '$R' getent group nexus"
# The host's package lists and cached .debs: apt picks the same versions the host has.
rm -rf "$R/etc/apt/sources.list" "$R/etc/apt/sources.list.d" "$R/var/lib/apt/lists"
cp -a /etc/apt/sources.list.d "$R/etc/apt/"
[ -f /etc/apt/sources.list ] && cp /etc/apt/sources.list "$R/etc/apt/"
cp -a /var/lib/apt/lists "$R/var/lib/apt/lists"
rm -f "$R/var/lib/apt/lists/lock"
mkdir -p "$R/var/cache/apt/archives/partial"
cp -al /var/cache/apt/archives/*.deb "$R/var/cache/apt/archives/" 2>/dev/null ||
  cp /var/cache/apt/archives/*.deb "$R/var/cache/apt/archives/" 2>/dev/null
cp /etc/resolv.conf "$R/etc/resolv.conf" 2>/dev/null
cp "$deb" "$R/tmp/"
in_root() {  # in_root CMD...: run in the throwaway root, in a mount namespace of its own
  unshare -m --propagation private sh -c 'mount -t proc proc "$0/proc" && exec chroot "$0" "$@"' "$R" "$@"
}
pkg="/tmp/$(basename "$deb")"
apt_install() {
  in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" "$pkg" \
    >>"$WORK/apt.log" 2>&1
}
if apt_install; then
  fetched=$(grep -cE '^Get:[0-9]+ (https?|ftp)://' "$WORK/apt.log")
  if [ "$fetched" = 0 ]; then
    ok "apt installs the package with its dependencies, all from the host's cache (offline)"
  else
    ok "apt installs the package, downloading $fetched dependencies the host's cache lacks"
  fi
else
  tail -n 20 "$WORK/apt.log" | sed 's/^/# apt: /'
  skip "apt could not get the package's dependencies (offline, and the host's apt cache lacks some)"
fi
check "the throwaway root does not run systemd" test ! -d "$R/run/systemd/system"
group=$(in_root getent group nexus)
expect_contains "postinst created the nexus system group" "nexus:x:" "$group"
gid=${group#nexus:x:}; gid=${gid%%:*}
check "as a system group (gid $gid below 1000)" test "$gid" -lt 1000
expect_eq "nexus --version runs from /usr/bin" "nexus $version" "$(in_root /usr/bin/nexus --version 2>&1)"
out=$(in_root /usr/sbin/nexusd --help 2>&1)
rc=$?
expect_eq "nexusd --help runs from /usr/sbin" 0 "$rc"
expect_contains "and names --config" "--config" "$out"
expect_eq "nexusd --version" "nexusd $version" "$(in_root /usr/sbin/nexusd --version 2>&1)"
expect_eq "nexusd reads the packaged /etc/nexus/nexusd.toml by default, and it is valid" \
  "nexusd: configuration /etc/nexus/nexusd.toml is valid" "$(in_root /usr/sbin/nexusd --check-config 2>&1)"
expect_eq "nexus-vmm runs from libexecdir/nexus, where nexusd looks" "nexus-vmm $version" \
  "$(in_root /usr/libexec/nexus/nexus-vmm --version 2>&1)"
expect_contains "nexus-agent too" "$version" "$(in_root /usr/libexec/nexus/nexus-agent --version 2>&1)"
check "postinst made the state directory" test -d "$R/var/lib/nexus"
check "the sockets are enabled for boot (deb-systemd-helper, no systemd needed)" \
  test -L "$R/etc/systemd/system/sockets.target.wants/nexusd.socket" -a \
  -L "$R/etc/systemd/system/sockets.target.wants/nexusd-e2b.socket"
check "nexusd.service is not enabled by itself (socket activation starts it)" \
  test ! -e "$R/etc/systemd/system/multi-user.target.wants/nexusd.service"
status=$(in_root dpkg-query -W -f '${Status}' nexus)
expect_eq "dpkg says the package is installed" "install ok installed" "$status"

# Reinstalling (an upgrade to the same version) keeps the group and runs postinst again.
if in_root env DEBIAN_FRONTEND=noninteractive dpkg -i "$pkg" >>"$WORK/apt.log" 2>&1; then
  ok "reinstalling works (postinst with a group already there)"
else
  fail "reinstalling failed (see $WORK/apt.log)"; tail -n 20 "$WORK/apt.log"
fi
if in_root env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q nexus >>"$WORK/apt.log" 2>&1; then
  ok "purging works"
else
  fail "purge failed"; tail -n 20 "$WORK/apt.log"
fi
check "purge removed /etc/nexus/nexusd.toml" test ! -e "$R/etc/nexus/nexusd.toml"
check "and the binaries" test ! -e "$R/usr/sbin/nexusd"
