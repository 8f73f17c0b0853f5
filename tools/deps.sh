# SPDX-License-Identifier: Apache-2.0
# The Debian 12 packages Nexus needs, and a function that installs the missing ones.
# Sourced by tools/setup and tools/test.

NEXUS_BUILD_DEPS=(
  meson ninja-build g++ pkg-config
  libuv1-dev node-llhttp nlohmann-json3-dev libcli11-dev libfmt-dev libexpected-dev
  libseccomp-dev libsqlite3-dev libarchive-dev libssl-dev zlib1g-dev libsystemd-dev catch2
)
NEXUS_RUNTIME_DEPS=(mmdebstrap ca-certificates)
NEXUS_TEST_DEPS=(jq curl sqlite3 procps)

nexus_install_deps() {
  local missing=() p
  for p in "${NEXUS_BUILD_DEPS[@]}" "${NEXUS_RUNTIME_DEPS[@]}" "${NEXUS_TEST_DEPS[@]}"; do
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
