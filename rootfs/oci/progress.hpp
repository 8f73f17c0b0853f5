// SPDX-License-Identifier: Apache-2.0
// Progress reports and cancellation for pulls and imports.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "rootfs/oci/digest.hpp"

namespace nexus::oci {

struct BlobProgress {
  enum class Kind { manifest, config, layer };
  enum class State {
    started,  ///< the transfer began (done > 0 when it resumes a partial download)
    running,  ///< bytes arrived
    done,     ///< verified and in the store
    cached,   ///< already in the store: nothing fetched
  };
  Kind kind = Kind::layer;
  State state = State::started;
  Digest digest;
  std::string media_type;
  uint64_t done = 0;   ///< bytes in the store's partial file (or the blob) so far
  uint64_t total = 0;  ///< the descriptor's size (0 when unknown)
};

/// Called from the pulling thread or a download worker, never from two threads at once.
/// `running` reports come at most every 100 ms per blob. Must not block for long.
using ProgressFn = std::function<void(const BlobProgress&)>;

/// Stops transfers when either flag is set: the caller's cancel flag, and the pull's own (set
/// when one layer fails, so its siblings stop too). Each transfer notices within a second.
struct StopCheck {
  const std::atomic<bool>* user = nullptr;
  const std::atomic<bool>* internal = nullptr;
  bool stopped() const { return (user && user->load()) || (internal && internal->load()); }
};

}  // namespace nexus::oci
