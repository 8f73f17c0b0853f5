// SPDX-License-Identifier: Apache-2.0
// Shared declarations for the fuzz targets: the libFuzzer entry point and small helpers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

/// libFuzzer's entry point; each fuzz_<parser>.cpp defines it, fuzz_main.cpp or libFuzzer calls it.
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

/// An invariant of the code under test: abort (a crash the fuzzer reports) when it fails.
#define FUZZ_CHECK(cond)                                                                \
  ((cond) ? (void)0                                                                     \
          : (std::fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__, __LINE__, \
                          #cond),                                                       \
             std::abort()))

namespace nexus::fuzz {

/// Deterministic split points and choices derived from the input (splitmix64).
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  /// Seed from up to the first 8 bytes of `s`.
  static Rng from_prefix(std::string_view s) {
    uint64_t seed = s.size();
    for (size_t i = 0; i < s.size() && i < 8; ++i)
      seed = seed << 8 | static_cast<unsigned char>(s[i]);
    return Rng(seed);
  }
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  /// A value in [lo, hi].
  size_t range(size_t lo, size_t hi) { return lo + static_cast<size_t>(next() % (hi - lo + 1)); }

 private:
  uint64_t state_;
};

inline std::string_view as_view(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace nexus::fuzz
