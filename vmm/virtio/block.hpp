// SPDX-License-Identifier: Apache-2.0
// virtio-blk (device ID 2): a disk backed by a host file or block device.
//
// One request queue of 256. Offers EVENT_IDX, FLUSH, SEG_MAX (so requests are parsed from
// arbitrary chains: a 16-byte header anywhere in the readable buffers, data buffers, and the
// status byte as the last byte of the last writable buffer) and RO for a read-only disk.
// Data moves with preadv/pwritev straight between the file and guest memory.
#pragma once

#include <sys/uio.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "vmm/virtio/device.hpp"

namespace nexus::vmm::virtio {

inline constexpr uint64_t kBlockFeatureSegMax = 1ull << 2;
inline constexpr uint64_t kBlockFeatureRo = 1ull << 5;
inline constexpr uint64_t kBlockFeatureFlush = 1ull << 9;

inline constexpr uint32_t kBlockReqIn = 0;
inline constexpr uint32_t kBlockReqOut = 1;
inline constexpr uint32_t kBlockReqFlush = 4;
inline constexpr uint32_t kBlockReqGetId = 8;

inline constexpr uint8_t kBlockStatusOk = 0;
inline constexpr uint8_t kBlockStatusIoErr = 1;
inline constexpr uint8_t kBlockStatusUnsupp = 2;

inline constexpr uint64_t kBlockSectorSize = 512;
inline constexpr size_t kBlockIdBytes = 20;
inline constexpr uint16_t kBlockQueueSize = 256;

class BlockDevice : public Device {
 public:
  /// Open `path` (O_RDWR, or O_RDONLY when read_only). The size must be a multiple of 512.
  /// `serial` is the GET_ID answer (at most 20 bytes are kept).
  static Result<std::unique_ptr<BlockDevice>> open(const std::string& path, bool read_only,
                                                   std::string serial);
  /// Same over an fd the caller opened; `what` names it in errors (e.g. its path).
  static Result<std::unique_ptr<BlockDevice>> from_fd(UniqueFd fd, bool read_only,
                                                      std::string serial, std::string what);

  uint32_t device_id() const override { return kDeviceIdBlock; }
  uint64_t features() const override;
  size_t queue_count() const override { return 1; }
  uint16_t queue_max_size(size_t /*index*/) const override { return kBlockQueueSize; }
  /// struct virtio_blk_config: u64 capacity at 0, u32 size_max (0) at 8, u32 seg_max at 12.
  void read_config(uint64_t offset, void* data, size_t len) const override;
  Result<void> activate(const ActivateContext& ctx) override;
  void queue_notify(size_t index) override;
  void reset() override;
  const char* name() const override { return "block"; }

  /// Disk size in 512-byte sectors.
  uint64_t capacity() const noexcept { return capacity_; }
  bool read_only() const noexcept { return read_only_; }

 private:
  BlockDevice(UniqueFd fd, bool read_only, std::string serial, uint64_t capacity);
  /// Serve one request; returns the used length (0 when the chain has no status byte).
  uint32_t handle(const Chain& chain);
  uint8_t do_read(uint64_t sector, std::vector<iovec>& data, uint64_t& written);
  uint8_t do_write(uint64_t sector, std::vector<iovec>& data);

  UniqueFd fd_;
  bool read_only_;
  std::array<char, kBlockIdBytes> serial_{};
  uint64_t capacity_;
  // Activation state (valid between activate() and reset()).
  const GuestMemory* mem_ = nullptr;
  Queue* queue_ = nullptr;
  Interrupt* interrupt_ = nullptr;
};

}  // namespace nexus::vmm::virtio
