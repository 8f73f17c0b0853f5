// SPDX-License-Identifier: Apache-2.0
// The events FIFO of one kernel: a private directory holding a named pipe that only the
// kernel's user may open for writing, and the agent's read end of it.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>

#include "common/result.hpp"
#include "common/unique_fd.hpp"

namespace nexus::agent {

class EventFifo {
 public:
  struct Owner {
    uid_t uid;
    gid_t gid;
  };
  /// Create `<parent>/.nexus-kernel-XXXXXX/events` and open its read end (non-blocking,
  /// close-on-exec). With `owner`, the FIFO belongs to that user; the directory stays the
  /// agent's (mode 0711), so the user can open the FIFO but not replace it.
  static Result<std::unique_ptr<EventFifo>> create(const std::string& parent,
                                                   std::optional<Owner> owner);
  ~EventFifo();
  EventFifo(const EventFifo&) = delete;
  EventFifo& operator=(const EventFifo&) = delete;

  const std::string& path() const { return path_; }
  int fd() const { return read_fd_.get(); }
  /// Remove the FIFO and its directory (once the driver has opened it). The read end stays.
  void remove();

 private:
  EventFifo() = default;
  UniqueFd dir_fd_;
  UniqueFd read_fd_;
  std::string dir_;
  std::string path_;
  bool removed_ = false;
};

}  // namespace nexus::agent
