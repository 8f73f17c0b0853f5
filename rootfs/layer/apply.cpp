// SPDX-License-Identifier: Apache-2.0
// apply_layers(): checks the options, opens the root, applies each layer, names failures.
#include "rootfs/layer/apply.hpp"

#include <fmt/format.h>

#include "rootfs/layer/image_applier.hpp"
#include "rootfs/layer/root_dir.hpp"

namespace nexus::rootfs::layer {

namespace {

std::string layer_label(size_t index, size_t count, const LayerBlob& blob) {
  if (blob.digest.empty()) return fmt::format("layer {}/{}", index + 1, count);
  return fmt::format("layer {}/{} ({})", index + 1, count, blob.digest);
}

}  // namespace

ApplyStats& ApplyStats::operator+=(const ApplyStats& o) {
  entries += o.entries;
  files += o.files;
  dirs += o.dirs;
  symlinks += o.symlinks;
  hardlinks += o.hardlinks;
  specials += o.specials;
  whiteouts += o.whiteouts;
  opaque_dirs += o.opaque_dirs;
  skipped_devices += o.skipped_devices;
  dropped_xattrs += o.dropped_xattrs;
  bytes += o.bytes;
  return *this;
}

Result<ApplyResult> apply_layers(std::span<const LayerBlob> layers, const std::string& dest_dir,
                                 const ApplyOptions& options) {
  if (const auto& s = options.id_shift;
      s && (s->count == 0 || s->base > UINT32_MAX - 1 - s->count))
    return fail(Errc::invalid_argument,
                fmt::format("invalid id shift {}+{}", s->base, s->count));
  auto root = RootDir::open(dest_dir);
  if (!root) return fail(std::move(root).error());

  ImageApplier applier(*root, options);
  ApplyResult result;
  for (size_t i = 0; i < layers.size(); ++i) {
    auto stats = applier.apply(layers[i], i, layers.size());
    if (!stats) return fail(std::move(stats).error().wrap(layer_label(i, layers.size(), layers[i])));
    result.total += *stats;
    result.layers.push_back(*stats);
  }
  if (auto r = applier.finish(); !r) return fail(std::move(r).error().wrap("finishing the tree"));
  return result;
}

}  // namespace nexus::rootfs::layer
