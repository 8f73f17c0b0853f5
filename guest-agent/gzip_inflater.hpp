// SPDX-License-Identifier: Apache-2.0
// Streaming gzip decompression with a bounded output buffer.
#pragma once

#include <functional>
#include <memory>
#include <string_view>

#include "common/result.hpp"

namespace nexus::agent {

class GzipInflater {
 public:
  using Sink = std::function<Result<void>(std::string_view)>;
  explicit GzipInflater(Sink sink);
  ~GzipInflater();
  GzipInflater(const GzipInflater&) = delete;
  GzipInflater& operator=(const GzipInflater&) = delete;

  /// Decompress a chunk, passing output to the sink in pieces of at most 64 KiB.
  Result<void> feed(std::string_view data);
  /// End of input: an error if the gzip stream is incomplete.
  Result<void> finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace nexus::agent
