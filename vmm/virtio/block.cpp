// SPDX-License-Identifier: Apache-2.0
// virtio-blk: opening the backing file, the config space, and serving requests (IN, OUT,
// FLUSH, GET_ID) parsed from arbitrary descriptor chains.
//
// Everything in a request comes from the guest: the header may be split across buffers, the
// data length and sector are checked against the disk before any I/O, and every failure
// (bad request, short or failed host I/O) becomes a status byte, never an abort.
#include "vmm/virtio/block.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <limits>

namespace nexus::vmm::virtio {
namespace {

constexpr size_t kHeaderBytes = 16;  // u32 type, u32 reserved, u64 sector

/// Host iovecs for the bytes of `bufs` from `skip` bytes in up to `limit` bytes. The buffers
/// were bounds-checked when the chain was popped.
bool host_iovecs(const GuestMemory& mem, const std::vector<Buffer>& bufs, uint64_t skip,
                 uint64_t limit, std::vector<iovec>& out) {
  for (const Buffer& b : bufs) {
    if (limit == 0) break;
    if (skip >= b.len) {
      skip -= b.len;
      continue;
    }
    const uint64_t len = std::min<uint64_t>(b.len - skip, limit);
    uint8_t* p = mem.ptr(b.gpa + skip, len);
    if (!p) return false;
    out.push_back({p, static_cast<size_t>(len)});
    limit -= len;
    skip = 0;
  }
  return true;
}

uint64_t iov_bytes(const std::vector<iovec>& iov) {
  uint64_t n = 0;
  for (const auto& v : iov) n += v.iov_len;
  return n;
}

/// preadv/pwritev the whole of `iov` at `offset`, resuming after short transfers and EINTR,
/// at most IOV_MAX entries per call. Returns false on an error or on end of file; `done`
/// counts the bytes moved either way. Consumes `iov`.
bool transfer_all(int fd, std::vector<iovec>& iov, uint64_t offset, bool write,
                  uint64_t& done) {
  size_t i = 0;
  while (i < iov.size()) {
    const int count = static_cast<int>(std::min<size_t>(iov.size() - i, IOV_MAX));
    const ssize_t n = write ? ::pwritev(fd, &iov[i], count, static_cast<off_t>(offset))
                            : ::preadv(fd, &iov[i], count, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (n == 0) return false;  // the file shrank under us
    done += static_cast<uint64_t>(n);
    offset += static_cast<uint64_t>(n);
    size_t left = static_cast<size_t>(n);
    while (left > 0 && i < iov.size()) {
      if (left >= iov[i].iov_len) {
        left -= iov[i].iov_len;
        ++i;
      } else {
        iov[i].iov_base = static_cast<uint8_t*>(iov[i].iov_base) + left;
        iov[i].iov_len -= left;
        left = 0;
      }
    }
  }
  return true;
}

/// Whether `bytes` of data at `sector` are whole sectors inside a disk of `capacity` sectors.
bool in_range(uint64_t sector, uint64_t bytes, uint64_t capacity) {
  if (bytes % kBlockSectorSize != 0) return false;
  const uint64_t sectors = bytes / kBlockSectorSize;
  return sectors <= capacity && sector <= capacity - sectors;
}

}  // namespace

Result<std::unique_ptr<BlockDevice>> BlockDevice::open(const std::string& path, bool read_only,
                                                       std::string serial) {
  UniqueFd fd(::open(path.c_str(), (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC));
  if (!fd) return fail_errno(fmt::format("opening disk {}", path));
  return from_fd(std::move(fd), read_only, std::move(serial), path);
}

Result<std::unique_ptr<BlockDevice>> BlockDevice::from_fd(UniqueFd fd, bool read_only,
                                                          std::string serial, std::string what) {
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fail_errno(fmt::format("disk {}: fstat", what));
  uint64_t bytes = 0;
  if (S_ISREG(st.st_mode)) {
    bytes = static_cast<uint64_t>(st.st_size);
  } else if (S_ISBLK(st.st_mode)) {
    if (::ioctl(fd.get(), BLKGETSIZE64, &bytes) != 0)
      return fail_errno(fmt::format("disk {}: BLKGETSIZE64", what));
  } else {
    return fail(Errc::invalid_argument,
                fmt::format("disk {} is neither a regular file nor a block device", what));
  }
  if (bytes % kBlockSectorSize != 0)
    return fail(Errc::invalid_argument,
                fmt::format("disk {}: size {} is not a multiple of {} bytes", what, bytes,
                            kBlockSectorSize));
  return std::unique_ptr<BlockDevice>(
      new BlockDevice(std::move(fd), read_only, std::move(serial), bytes / kBlockSectorSize));
}

BlockDevice::BlockDevice(UniqueFd fd, bool read_only, std::string serial, uint64_t capacity)
    : fd_(std::move(fd)), read_only_(read_only), capacity_(capacity) {
  std::memcpy(serial_.data(), serial.data(), std::min(serial.size(), serial_.size()));
}

uint64_t BlockDevice::features() const {
  uint64_t f = kFeatureRingEventIdx | kBlockFeatureFlush | kBlockFeatureSegMax;
  if (read_only_) f |= kBlockFeatureRo;
  return f;
}

void BlockDevice::read_config(uint64_t offset, void* data, size_t len) const {
  uint8_t cfg[16] = {};
  const uint32_t seg_max = kBlockQueueSize - 2;  // header and status take two descriptors
  std::memcpy(cfg, &capacity_, 8);
  std::memcpy(cfg + 12, &seg_max, 4);
  auto* out = static_cast<uint8_t*>(data);
  for (size_t i = 0; i < len; ++i) {
    const uint64_t at = offset + i;
    out[i] = (at >= offset && at < sizeof cfg) ? cfg[at] : 0;
  }
}

Result<void> BlockDevice::activate(const ActivateContext& ctx) {
  if (!ctx.memory || !ctx.queues || ctx.queues->size() != 1 || !ctx.interrupt)
    return fail(Errc::internal, "virtio-blk: activation without memory, queue or interrupt");
  mem_ = ctx.memory;
  queue_ = &(*ctx.queues)[0];
  interrupt_ = ctx.interrupt;
  return {};
}

void BlockDevice::reset() {
  mem_ = nullptr;
  queue_ = nullptr;
  interrupt_ = nullptr;
}

void BlockDevice::queue_notify(size_t index) {
  if (index != 0 || !queue_) return;
  for (;;) {
    auto chain = queue_->pop(*mem_);
    if (!chain) break;  // broken: the transport reports queue_->broken_reason()
    if (!*chain) {
      // Empty: ask for a kick at the next entry, then look once more (it may have raced).
      queue_->enable_notification(*mem_);
      chain = queue_->pop(*mem_);
      if (!chain || !*chain) break;
    }
    const uint32_t used = handle(**chain);
    if (!queue_->add_used(*mem_, (*chain)->head, used)) break;
  }
  if (queue_->needs_interrupt(*mem_)) interrupt_->signal_used();
}

uint32_t BlockDevice::handle(const Chain& chain) {
  // No status byte: a driver error, nothing to report (the queue never hands out empty
  // buffers; the length check keeps this safe for any chain).
  if (chain.writable.empty() || chain.writable.back().len == 0) return 0;
  const Buffer& last = chain.writable.back();
  const uint64_t status_gpa = last.gpa + last.len - 1;
  const uint64_t writable_data = chain.writable_bytes() - 1;

  uint64_t written = 0;  // data bytes written into the guest's buffers
  uint8_t status = kBlockStatusIoErr;
  uint8_t header[kHeaderBytes] = {};
  ChainReader reader(*mem_, chain.readable);
  if (reader.read(header, sizeof header) == sizeof header) {
    uint32_t type = 0;
    uint64_t sector = 0;
    std::memcpy(&type, header, 4);
    std::memcpy(&sector, header + 8, 8);
    std::vector<iovec> data;
    switch (type) {
      case kBlockReqIn:
        if (host_iovecs(*mem_, chain.writable, 0, writable_data, data))
          status = do_read(sector, data, written);
        break;
      case kBlockReqOut:
        if (host_iovecs(*mem_, chain.readable, kHeaderBytes, chain.readable_bytes(), data))
          status = do_write(sector, data);
        break;
      case kBlockReqFlush:
        status = ::fdatasync(fd_.get()) == 0 ? kBlockStatusOk : kBlockStatusIoErr;
        break;
      case kBlockReqGetId: {
        ChainWriter writer(*mem_, chain.writable);
        written = writer.write(serial_.data(), std::min<uint64_t>(serial_.size(), writable_data));
        status = kBlockStatusOk;
        break;
      }
      default:
        status = kBlockStatusUnsupp;
        break;
    }
  }
  (void)mem_->write_obj(status_gpa, status);  // inside `last`, checked at pop()
  return static_cast<uint32_t>(
      std::min<uint64_t>(written + 1, std::numeric_limits<uint32_t>::max()));
}

uint8_t BlockDevice::do_read(uint64_t sector, std::vector<iovec>& data, uint64_t& written) {
  const uint64_t bytes = iov_bytes(data);
  if (!in_range(sector, bytes, capacity_)) return kBlockStatusIoErr;
  const bool ok = transfer_all(fd_.get(), data, sector * kBlockSectorSize, false, written);
  return ok ? kBlockStatusOk : kBlockStatusIoErr;
}

uint8_t BlockDevice::do_write(uint64_t sector, std::vector<iovec>& data) {
  if (read_only_) return kBlockStatusIoErr;
  const uint64_t bytes = iov_bytes(data);
  if (!in_range(sector, bytes, capacity_)) return kBlockStatusIoErr;
  uint64_t done = 0;
  const bool ok = transfer_all(fd_.get(), data, sector * kBlockSectorSize, true, done);
  return ok ? kBlockStatusOk : kBlockStatusIoErr;
}

}  // namespace nexus::vmm::virtio
