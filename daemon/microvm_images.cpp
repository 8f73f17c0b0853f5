// SPDX-License-Identifier: Apache-2.0
// Template rootfs images and sandbox disks for microVMs.
#include "daemon/microvm_images.hpp"

#include <unistd.h>

#include <mutex>
#include <vector>

#include <fmt/format.h>

#include "rootfs/erofs_export.hpp"

namespace nexus::daemon {
namespace {

constexpr size_t kPoolDisks = 2;  // ready disks kept for the next creates

bool file_exists(const std::string& p) { return ::access(p.c_str(), F_OK) == 0; }

}  // namespace

struct MicrovmImages::Export {
  std::thread worker;
  std::mutex mu;
  bool finished = false;        // guarded by mu
  Result<void> result;          // guarded by mu
  std::vector<std::function<void(Result<std::string>)>> waiters;  // loop thread
};

MicrovmImages::MicrovmImages(uv::Loop& loop, const DaemonConfig& config)
    : loop_(loop), config_(config), wake_(std::make_unique<uv::Async>(loop, [this] { collect(); })),
      pool_(std::make_unique<rootfs::DiskPool>(config.disk_pool_dir(), config.disk_size_mib << 20, kPoolDisks)) {
  wake_->unref();  // exports do not keep the loop alive on their own
}

MicrovmImages::~MicrovmImages() {
  for (auto& [path, e] : exports_)
    if (e->worker.joinable()) e->worker.join();
  if (refiller_.joinable()) refiller_.join();
}

void MicrovmImages::template_image(const rootfs::TemplateInfo& tpl, std::function<void(Result<std::string>)> done) {
  std::string path = image_path(tpl);
  if (auto it = exports_.find(path); it != exports_.end()) {
    it->second->waiters.push_back(std::move(done));
    return;
  }
  if (file_exists(path)) return done(path);
  auto e = std::make_shared<Export>();
  e->waiters.push_back(std::move(done));
  exports_[path] = e;
  rootfs::ErofsOptions options;
  // The tree is owned by shifted ids (the jail's user namespace); the guest wants root as 0.
  if (tpl.uid_count) options.id_shift = tpl.uid_base;
  uv::Async* wake = wake_.get();
  e->worker = std::thread([e, tree = tpl.rootfs_path, name = tpl.name, path, options, wake] {
    auto r = rootfs::export_erofs(tree, path, options);  // atomic: a temporary name, then renamed
    if (!r) r = fail(std::move(r).error().wrap(fmt::format("exporting template '{}' as '{}'", name, path)));
    {
      std::lock_guard lock(e->mu);
      e->result = std::move(r);
      e->finished = true;
    }
    wake->send();
  });
}

void MicrovmImages::collect() {
  for (auto it = exports_.begin(); it != exports_.end();) {
    auto e = it->second;
    std::string path = it->first;
    {
      std::lock_guard lock(e->mu);
      if (!e->finished) {
        ++it;
        continue;
      }
    }
    e->worker.join();
    it = exports_.erase(it);
    Result<std::string> r = path;
    if (!e->result) r = fail(e->result.error());
    for (auto& w : e->waiters) w(r);
  }
}

Result<void> MicrovmImages::make_disk(const std::string& dest) {
  auto taken = pool_->take(dest);
  refill_later();
  if (!taken) return fail(std::move(taken).error().wrap("making the sandbox disk"));
  return {};
}

void MicrovmImages::refill_later() {
  if (refilling_.exchange(true)) {
    refill_again_ = true;
    return;
  }
  if (refiller_.joinable()) refiller_.join();  // the last refill is over (refilling_ was false)
  refiller_ = std::thread([this] {
    do {
      refill_again_ = false;
      (void)pool_->refill();  // best effort: take() formats a disk itself when the pool is empty
    } while (refill_again_);
    refilling_ = false;
  });
}

}  // namespace nexus::daemon
