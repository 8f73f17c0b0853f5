// SPDX-License-Identifier: Apache-2.0
// The sandbox's file system view: overlay rootfs, /proc, /sys, /dev, masks, pivot_root.
//
// Everything here after fork runs in a child, so it uses only async-signal-safe calls and
// strings prepared in a RootfsPlan before fork.
#pragma once

#include <cstdint>
#include <string>

#include "daemon/jail/child_report.hpp"

namespace nexus::jail::detail {

struct RootfsPlan {
  std::string rootfs;           ///< <sandbox_dir>/rootfs, the overlay's mount point
  std::string overlay_options;  ///< lowerdir=...,upperdir=...,workdir=...
  std::string overlay_step;     ///< "mounting overlay on '<rootfs>'"
  uint32_t uid_base = 0;        ///< host uid/gid of container root, owner of created dirs
};

/// Build the plan; host side, before fork.
RootfsPlan make_rootfs_plan(const std::string& lower_dir, const std::string& sandbox_dir,
                            uint32_t uid_base);

/// Helper child, still host root: private mount namespace, overlay on plan.rootfs, and the
/// mount points /proc, /sys, /dev, /tmp inside it.
ChildStatus mount_overlay(const RootfsPlan& plan) noexcept;

/// Sandbox init, in the new user and mount namespaces but still with the host root's
/// (unmapped) fs ids, so it can walk the host path to the rootfs: make all mounts private,
/// bind the rootfs (a fresh mount, not locked, that pivot_root accepts), chdir into it, and
/// mount /proc (with masks and read-only parts) and /sys (read-only, when allowed), all
/// relative to the cwd.
ChildStatus prepare_rootfs(const RootfsPlan& plan) noexcept;

/// Sandbox init, after becoming namespace root (files created must have mapped owners):
/// the /dev tmpfs, device nodes bound from the host, /dev/pts, /dev/shm, the usual symlinks.
ChildStatus populate_dev() noexcept;

/// Make the cwd the root and detach the old root entirely.
ChildStatus pivot_to_cwd() noexcept;

}  // namespace nexus::jail::detail
