// SPDX-License-Identifier: Apache-2.0
// A microVM sandbox's writable disk (/dev/vdb): a sparse file formatted as ext4, and a pool of
// pre-formatted ones so that creating a sandbox does not wait for mkfs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>

#include "common/result.hpp"

namespace nexus::rootfs {

/// Creates `path` (mode 0600: it will hold the sandbox's files) as a sparse file of
/// `size_bytes` (a multiple of 4096, at least 16 MiB) formatted as ext4 by mkfs.ext4:
///   -q -F -m 0 -b 4096 -L nexus-rw -O ^has_journal -E lazy_itable_init=1,nodiscard
/// No journal: the disk is one sandbox's scratch upper layer and pause snapshots the disk with
/// the memory, while a journal means a jbd2 commit (a guest wakeup and writes) every 5 s and
/// metadata written twice; at mkfs it would cost little (~10 ms with lazy_journal_init,
/// measured). The price: after a guest crash the upper layer is not guaranteed consistent. Lazy inode tables: mkfs
/// writes only the metadata it needs (the file stays sparse); the guest mounts it with
/// noinit_itable so the kernel does not zero them later either.
/// Atomic: formatted under "<path>.tmp-<pid>-<random>" and renamed.
Result<void> create_disk(const std::string& path, uint64_t size_bytes);

/// Pre-formatted disks of one size in `dir`:
///   disk-<size>-<16 hex>.ext4       ready (only ever created by a rename after mkfs succeeded)
///   .tmp-<pid>-<16 hex>.ext4         being formatted; a dead pid's leftovers are deleted
/// Pools of different sizes may share a directory. take() and refill() may run concurrently
/// (threads or processes): a ready disk is claimed by rename(), which only one caller wins.
class DiskPool {
 public:
  DiskPool(std::string dir, uint64_t size_bytes, size_t target_count);

  /// A formatted disk moved out of the pool: renamed to `dest` (same filesystem as the pool)
  /// or, when `dest` is empty, to "<dir>/taken-<16 hex>.ext4", which the pool never counts,
  /// reuses or deletes (the caller moves or removes it). Formats one synchronously when the
  /// pool is empty. Returns the disk's new path.
  Result<std::string> take(const std::string& dest = "");

  /// Deletes dead formatting leftovers and formats disks until target_count are ready. Meant
  /// to run off the hot path; one refill at a time per pool directory (a lock file).
  Result<void> refill();

  /// How many ready disks of this pool's size are in the directory now.
  Result<size_t> ready_count() const;

  const std::string& dir() const { return dir_; }
  uint64_t size_bytes() const { return size_; }
  size_t target_count() const { return target_; }

 private:
  Result<void> format_ready_disk();
  std::string ready_prefix() const;

  std::string dir_;
  uint64_t size_;
  size_t target_;
  std::mutex refill_mu_;
};

}  // namespace nexus::rootfs
