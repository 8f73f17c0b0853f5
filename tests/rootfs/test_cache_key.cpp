// SPDX-License-Identifier: Apache-2.0
// Tests for cache keys, cache paths and the mmdebstrap command line.
#include <catch.hpp>

#include <stdlib.h>

#include <algorithm>

#include "rootfs/cache_key.hpp"
#include "rootfs/debian_bootstrap.hpp"

using namespace nexus::rootfs;

namespace {

DebianBase sample() {
  DebianBase b;
  b.packages = {"bash", "curl", "git"};
  return b;
}

}  // namespace

TEST_CASE("cache_key is stable and sees every input", "[rootfs]") {
  const std::string k = cache_key(sample());
  CHECK(k.size() == 64);
  CHECK(std::all_of(k.begin(), k.end(), [](char c) { return isxdigit(c) && !isupper(c); }));
  CHECK(cache_key(sample()) == k);

  DebianBase reordered = sample();
  reordered.packages = {"git", "bash", "curl", "bash"};
  CHECK(cache_key(reordered) == k);  // a set of packages: order and repeats do not matter

  auto differs = [&](auto change) {
    DebianBase b = sample();
    change(b);
    return cache_key(b) != k;
  };
  CHECK(differs([](DebianBase& b) { b.suite = "trixie"; }));
  CHECK(differs([](DebianBase& b) { b.variant = "apt"; }));
  CHECK(differs([](DebianBase& b) { b.packages.push_back("procps"); }));
  CHECK(differs([](DebianBase& b) { b.packages.pop_back(); }));
  CHECK(differs([](DebianBase& b) { b.customize_hooks.push_back("true"); }));
  CHECK(differs([](DebianBase& b) { b.mirror = "http://ftp.de.debian.org/debian"; }));
  // Field boundaries are unambiguous.
  DebianBase x = sample(), y = sample();
  x.packages = {"ab", "c"};
  y.packages = {"a", "bc"};
  CHECK(cache_key(x) != cache_key(y));
  // Hook order matters (they run in order).
  x = sample();
  y = sample();
  x.customize_hooks = {"a", "b"};
  y.customize_hooks = {"b", "a"};
  CHECK(cache_key(x) != cache_key(y));
}

TEST_CASE("cache paths", "[rootfs]") {
  DebianBase b = sample();
  CHECK(cached_base_path("/c", b) == "/c/debian-bookworm-" + cache_key(b) + ".tar");
  ::setenv("NEXUS_CACHE_DIR", "/somewhere/cache", 1);
  CHECK(default_cache_dir() == "/somewhere/cache");
  ::setenv("NEXUS_CACHE_DIR", "", 1);
  CHECK(default_cache_dir() == "/var/cache/nexus");
  ::unsetenv("NEXUS_CACHE_DIR");
  CHECK(default_cache_dir() == "/var/cache/nexus");
}

TEST_CASE("mmdebstrap command line", "[rootfs]") {
  DebianBase b = sample();
  b.packages = {"git", "bash", "curl", "git"};
  b.customize_hooks = {"echo hi > \"$1/etc/motd\""};
  auto argv = mmdebstrap_argv(b, "/c/out.tar", "/usr/bin/mmdebstrap");
  REQUIRE(argv.size() > 6);
  CHECK(argv[0] == "/usr/bin/mmdebstrap");
  auto has = [&](const std::string& a) { return std::find(argv.begin(), argv.end(), a) != argv.end(); };
  CHECK(has("--variant=minbase"));
  CHECK(has("--format=tar"));
  CHECK(has("--include=bash,curl,git"));
  CHECK(has("--customize-hook=echo hi > \"$1/etc/motd\""));
  CHECK(std::any_of(argv.begin(), argv.end(),
                    [](const std::string& a) { return a.find("useradd") != std::string::npos; }));
  // The user's hook runs after the built-in ones.
  auto user_hook = std::find(argv.begin(), argv.end(), "--customize-hook=echo hi > \"$1/etc/motd\"");
  auto useradd = std::find_if(argv.begin(), argv.end(), [](const std::string& a) {
    return a.find("useradd") != std::string::npos;
  });
  CHECK(useradd < user_hook);
  CHECK(argv[argv.size() - 3] == "bookworm");
  CHECK(argv[argv.size() - 2] == "/c/out.tar");
  CHECK(argv[argv.size() - 1] == "http://deb.debian.org/debian");
}
