// SPDX-License-Identifier: Apache-2.0
// Fuzz the Nexusfile parser (a user's or a model's build file) and path normalisation.
//
// Input: the whole Nexusfile; its first line is also normalised as an absolute path.
#include <string>
#include <string_view>

#include "common/strings.hpp"
#include "rootfs/nexusfile.hpp"
#include "tests/fuzz/fuzz.hpp"

namespace rootfs = nexus::rootfs;

namespace {

bool normalized(const std::string& p) {
  if (p.empty() || p.front() != '/') return false;
  if (p.size() > 1 && p.back() == '/') return false;
  return p.find("//") == std::string::npos && p.find("/./") == std::string::npos &&
         p.find("/../") == std::string::npos && !(p.size() >= 2 && p.compare(p.size() - 2, 2, "/.") == 0) &&
         !(p.size() >= 3 && p.compare(p.size() - 3, 3, "/..") == 0);
}

/// A COPY source as the builder gets it: relative, normalised, never leaving the context.
bool inside_context(const std::string& src) {
  if (src == ".") return true;
  if (src.empty() || src.front() == '/' || src.back() == '/') return false;
  for (const auto& part : nexus::split(src, '/'))
    if (part.empty() || part == "." || part == "..") return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input = nexus::fuzz::as_view(data, size);
  rootfs::NexusfileLimits limits;
  limits.max_bytes = 64 * 1024;
  limits.max_instructions = 200;
  limits.max_expansion_bytes = 64 * 1024;
  auto f = rootfs::parse_nexusfile(input, limits);
  if (!f) {
    FUZZ_CHECK(f.error().is(nexus::Errc::invalid_argument) || f.error().is(nexus::Errc::too_large));
    FUZZ_CHECK(!f.error().message().empty());
  } else {
    FUZZ_CHECK(f->base.line >= 1);
    FUZZ_CHECK(!f->base.str().empty());
    FUZZ_CHECK(f->steps.size() <= limits.max_instructions);
    int last_line = f->base.line;
    for (size_t i = 0; i < f->steps.size(); ++i) {
      const auto& s = f->steps[i];
      FUZZ_CHECK(s.line > last_line);  // in file order, after FROM
      last_line = s.line;
      FUZZ_CHECK(!s.text.empty());
      if (s.kind == rootfs::StepKind::workdir) FUZZ_CHECK(normalized(s.path));
      if (s.kind == rootfs::StepKind::copy) {
        FUZZ_CHECK(!s.dest.empty() && s.dest.front() == '/');
        FUZZ_CHECK(!s.sources.empty());
        for (const auto& src : s.sources) FUZZ_CHECK(inside_context(src));
      }
      if (s.kind == rootfs::StepKind::env)
        for (const auto& [k, v] : s.env) FUZZ_CHECK(!k.empty() && k.find('=') == std::string::npos);
      std::string d = rootfs::describe_step(*f, i);
      FUZZ_CHECK(!d.empty());
    }
  }
  size_t nl = input.find('\n');
  std::string_view first = input.substr(0, nl);
  if (!first.empty() && first.front() == '/') {
    std::string n = rootfs::normalize_abs_path(first);
    FUZZ_CHECK(normalized(n));
    FUZZ_CHECK(rootfs::normalize_abs_path(n) == n);  // idempotent
  }
  return 0;
}
