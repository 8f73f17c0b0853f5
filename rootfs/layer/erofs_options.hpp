// SPDX-License-Identifier: Apache-2.0
// How an applied tree feeds rootfs::export_erofs (rootfs.erofs for microVMs).
#pragma once

#include "rootfs/erofs_export.hpp"
#include "rootfs/layer/apply.hpp"

namespace nexus::rootfs::layer {

/// ErofsOptions for a tree built with `applied`: with an id shift the image must undo it
/// (guest root is 0), so id_shift = the shift's base. export_erofs maps 65536 ids; with a
/// larger count, owners past base + 65535 become 65534 (nobody) in the image. Without a
/// shift the owners are the image's own and are kept.
inline ErofsOptions erofs_options_for(const ApplyOptions& applied, ErofsOptions base = {}) {
  base.id_shift = applied.id_shift ? applied.id_shift->base : 0;
  return base;
}

}  // namespace nexus::rootfs::layer
