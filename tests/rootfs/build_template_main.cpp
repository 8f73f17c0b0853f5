// SPDX-License-Identifier: Apache-2.0
// By-hand tool: builds a seeded template for real (needs root and Debian's mirror).
#include <chrono>
#include <cstdio>
#include <string>

#include <fmt/format.h>

#include "rootfs/template_builder.hpp"

int main(int argc, char** argv) {
  using namespace nexus::rootfs;
  if (argc < 3) {
    fmt::print(stderr, "usage: {} TEMPLATE TEMPLATES_DIR [CACHE_DIR]\n", argv[0]);
    return 2;
  }
  const TemplateDef* def = find_seeded_template(argv[1]);
  if (def == nullptr) {
    fmt::print(stderr, "no seeded template '{}'\n", argv[1]);
    return 2;
  }
  BuildOptions opt;
  if (argc > 3) opt.cache_dir = argv[3];
  auto start = std::chrono::steady_clock::now();
  auto info = build_template(*def, argv[2], opt, [](std::string_view l) {
    fmt::print("{}\n", l);
    std::fflush(stdout);
  });
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!info) {
    fmt::print(stderr, "error: {}\n", info.error().message());
    return 1;
  }
  fmt::print("built {} in {:.1f} s: {} bytes, key {}\n", info->rootfs_path, secs,
             info->size_bytes, info->cache_key);
  return 0;
}
