// SPDX-License-Identifier: Apache-2.0
// MicrovmImages: the block devices of microVM sandboxes. A template's read-only rootfs image
// (<template dir>/rootfs.erofs, exported from its tree on first use, so a rebuilt template
// gets a new one with it) and each sandbox's writable ext4 disk, taken from a pool of
// pre-formatted ones in <root>/disks that is refilled off the hot path.
//
// Thread affinity: the daemon loop thread; exports and pool refills run on worker threads.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "common/result.hpp"
#include "common/uv.hpp"
#include "daemon/config.hpp"
#include "rootfs/disk_image.hpp"
#include "rootfs/template_store.hpp"

namespace nexus::daemon {

class MicrovmImages {
 public:
  MicrovmImages(uv::Loop& loop, const DaemonConfig& config);
  ~MicrovmImages();  ///< waits for running exports
  MicrovmImages(const MicrovmImages&) = delete;
  MicrovmImages& operator=(const MicrovmImages&) = delete;

  /// The path of `tpl`'s rootfs.erofs, exported first when missing. Callers asking while an
  /// export runs share it. `done` runs on the loop thread, maybe before this returns.
  void template_image(const rootfs::TemplateInfo& tpl, std::function<void(Result<std::string>)> done);

  /// A fresh, empty ext4 disk of config.disk_size_mib at `dest` (sparse), from the pool
  /// (formatted now when it is empty); the pool is refilled in the background.
  Result<void> make_disk(const std::string& dest);
  /// Fill the disk pool in the background (nexusd calls it when microVMs can run here).
  void warm_pool() { refill_later(); }

  /// The image path for a template directory.
  static std::string image_path(const rootfs::TemplateInfo& tpl) { return tpl.dir + "/rootfs.erofs"; }

 private:
  struct Export;
  void collect();
  void refill_later();

  uv::Loop& loop_;
  const DaemonConfig& config_;
  std::map<std::string, std::shared_ptr<Export>> exports_;  // by image path
  std::unique_ptr<uv::Async> wake_;
  std::unique_ptr<rootfs::DiskPool> pool_;
  std::thread refiller_;
  std::atomic<bool> refilling_{false};
  std::atomic<bool> refill_again_{false};
};

}  // namespace nexus::daemon
