// SPDX-License-Identifier: Apache-2.0
// SHA-256 cache keys (OpenSSL) for Debian bases.
#include "rootfs/cache_key.hpp"

#include <algorithm>
#include <cstdlib>
#include <vector>

#include <fmt/format.h>
#include <openssl/evp.h>

#include "common/result.hpp"
#include "rootfs/base_hooks.hpp"

namespace nexus::rootfs {

namespace {

#if defined(__x86_64__)
constexpr const char* kHostArch = "amd64";
#elif defined(__aarch64__)
constexpr const char* kHostArch = "arm64";
#else
constexpr const char* kHostArch = "unknown";
#endif

// Length-prefixed fields, so that no two different inputs serialise alike.
void add_field(std::string& out, std::string_view tag, std::string_view value) {
  out += fmt::format("{}:{}:", tag, value.size());
  out += value;
  out += '\n';
}

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  NEXUS_CHECK(EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) == 1);
  std::string hex;
  hex.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) hex += fmt::format("{:02x}", md[i]);
  return hex;
}

}  // namespace

std::string cache_key(const DebianBase& base) {
  std::vector<std::string> packages = base.packages;
  std::sort(packages.begin(), packages.end());
  packages.erase(std::unique(packages.begin(), packages.end()), packages.end());

  std::string s;
  add_field(s, "format", fmt::format("nexus-debian-base-v{}", kBaseFormatVersion));
  add_field(s, "arch", kHostArch);
  add_field(s, "suite", base.suite);
  add_field(s, "variant", base.variant);
  for (const auto& p : packages) add_field(s, "package", p);
  for (const auto& h : effective_customize_hooks(base)) add_field(s, "hook", h);
  add_field(s, "mirror", base.mirror);
  return sha256_hex(s);
}

std::string default_cache_dir() {
  const char* env = std::getenv("NEXUS_CACHE_DIR");
  if (env != nullptr && *env != '\0') return env;
  return "/var/cache/nexus";
}

std::string cached_base_path(const std::string& cache_dir, const DebianBase& base) {
  return fmt::format("{}/debian-{}-{}.tar", cache_dir, base.suite, cache_key(base));
}

}  // namespace nexus::rootfs
