// SPDX-License-Identifier: Apache-2.0
// Private FIFO creation and removal.
#include "guest-agent/interpreter_fifo.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

namespace nexus::agent {

namespace {
constexpr const char* kFifoName = "events";
}  // namespace

Result<std::unique_ptr<EventFifo>> EventFifo::create(const std::string& parent,
                                                     std::optional<Owner> owner) {
  std::unique_ptr<EventFifo> f(new EventFifo());
  std::string tmpl = parent + "/.nexus-kernel-XXXXXX";
  if (!::mkdtemp(tmpl.data())) return fail_errno("creating a kernel directory in '" + parent + "'");
  f->dir_ = tmpl;
  f->path_ = f->dir_ + "/" + kFifoName;
  f->dir_fd_ = UniqueFd(::open(f->dir_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!f->dir_fd_) {
    int err = errno;
    (void)::rmdir(f->dir_.c_str());
    return fail_errno(err, "opening the kernel directory");
  }
  if (::mkfifoat(f->dir_fd_.get(), kFifoName, 0600) != 0) return fail_errno("creating the kernel FIFO");
  f->read_fd_ = UniqueFd(::openat(f->dir_fd_.get(), kFifoName,
                                  O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC));
  if (!f->read_fd_) return fail_errno("opening the kernel FIFO");
  if (owner) {
    // Through the open fd: nothing in the path can be swapped in between.
    if (::fchown(f->read_fd_.get(), owner->uid, owner->gid) != 0)
      return fail_errno("handing the kernel FIFO to its user");
    if (::fchmod(f->dir_fd_.get(), 0711) != 0) return fail_errno("opening up the kernel directory");
  }
  return f;
}

EventFifo::~EventFifo() { remove(); }

void EventFifo::remove() {
  if (removed_ || !dir_fd_) return;
  removed_ = true;
  (void)::unlinkat(dir_fd_.get(), kFifoName, 0);  // already gone is fine
  (void)::rmdir(dir_.c_str());
  dir_fd_.reset();
}

}  // namespace nexus::agent
