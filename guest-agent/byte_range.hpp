// SPDX-License-Identifier: Apache-2.0
// The Range header of a download (RFC 9110 §14), as Go's ServeContent honours it for envd:
// one byte range is served as 206; anything this server does not serve partially (several
// ranges, another unit, bad syntax) gets the whole file, which the RFC allows.
#pragma once

#include <cstdint>
#include <string_view>

namespace nexus::agent {

struct ByteRange {
  enum class Kind { whole, partial, unsatisfiable };
  Kind kind = Kind::whole;
  uint64_t start = 0;   ///< first byte (partial)
  uint64_t length = 0;  ///< bytes from start (partial)
};

/// Interpret `header` (the Range value; empty when absent) for a file of `size` bytes.
ByteRange parse_byte_range(std::string_view header, uint64_t size);

}  // namespace nexus::agent
