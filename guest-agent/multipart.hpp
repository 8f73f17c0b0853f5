// SPDX-License-Identifier: Apache-2.0
// Streaming multipart/form-data parser with bounded buffers.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace nexus::agent {

struct PartInfo {
  std::string name;          ///< Content-Disposition name
  std::string filename;      ///< Content-Disposition filename (as sent, not decoded)
  bool has_filename = false;
  std::string content_type;
};

/// The boundary parameter of a multipart/form-data Content-Type; invalid_argument when the
/// type is not multipart/form-data or has no valid boundary.
Result<std::string> multipart_boundary(std::string_view content_type);

/// Parse a Content-Disposition value ("form-data; name=\"file\"; filename=\"/a b\"").
PartInfo parse_content_disposition(std::string_view value);

/// Feed the body in arbitrary chunks; callbacks fire as parts and bytes are recognised.
/// A callback's error stops parsing and is returned from feed()/finish().
class MultipartParser {
 public:
  struct Callbacks {
    std::function<Result<void>(const PartInfo&)> on_part_begin;
    std::function<Result<void>(std::string_view)> on_part_data;
    std::function<Result<void>()> on_part_end;
  };
  static constexpr size_t kDefaultMaxHeaderBytes = 16 * 1024;
  static constexpr size_t kDefaultMaxParts = 10000;

  MultipartParser(std::string boundary, Callbacks callbacks,
                  size_t max_header_bytes = kDefaultMaxHeaderBytes,
                  size_t max_parts = kDefaultMaxParts);

  Result<void> feed(std::string_view data);
  /// End of body: an error unless the closing boundary was seen.
  Result<void> finish();
  size_t part_count() const { return parts_; }

 private:
  enum class State { preamble, after_boundary, headers, body, epilogue, failed };
  Result<void> run();
  Result<void> begin_part(std::string_view head);
  Result<void> failed(Error e);

  std::string delimiter_;  ///< "\r\n--" + boundary
  Callbacks cb_;
  size_t max_header_bytes_;
  size_t max_parts_;
  size_t parts_ = 0;
  State state_ = State::preamble;
  std::string buffer_;
};

}  // namespace nexus::agent
