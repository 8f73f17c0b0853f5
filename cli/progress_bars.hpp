// SPDX-License-Identifier: Apache-2.0
// PullProgress: the per-layer state of an image pull, fed with the events of
// POST /v1/images/pull (docs/api.md), drawn as one bar per layer (bytes, speed, ETA) on a
// terminal or as one plain line per state change otherwise. Pure: the caller supplies the
// clock and does the writing.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.hpp"

namespace nexus::cli {

/// "[=====>    ]" with `cells` cells inside the brackets; empty when the total is unknown.
std::string format_bar(uint64_t done, uint64_t total, size_t cells);
/// "512 B/s", "2.3 MB/s" (decimal units, as format_size).
std::string format_rate(double bytes_per_second);
/// "7s", "1m05s", "2h03m"; "-" when unknown (negative or not finite).
std::string format_eta(double seconds);
/// The first 12 hex digits of "sha256:<hex>" (the whole text when it is not a digest).
std::string short_digest(std::string_view digest);

class PullProgress {
 public:
  struct Layer {
    std::string digest;
    std::string state = "waiting";  ///< waiting, downloading, downloaded, cached, unpacking, unpacked
    uint64_t done = 0, total = 0;
    int64_t since_ms = 0;      ///< when the current transfer (or unpack) began
    uint64_t since_bytes = 0;  ///< `done` at that moment (a resumed download starts above 0)
    int64_t updated_ms = 0;
  };

  /// Take one event at `now_ms`. Returns the plain lines it is worth (state changes only).
  std::vector<std::string> update(const Json& event, int64_t now_ms);
  /// One line per layer, each at most `width` columns (0: unlimited).
  std::vector<std::string> render(int width, int64_t now_ms) const;
  const std::vector<Layer>& layers() const { return layers_; }

 private:
  Layer& layer(const std::string& digest);
  std::vector<Layer> layers_;
};

}  // namespace nexus::cli
