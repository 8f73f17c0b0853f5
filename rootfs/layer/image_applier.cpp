// SPDX-License-Identifier: Apache-2.0
// ImageApplier: reading a layer entry by entry, dispatching by type, enforcing the limits.
#include "rootfs/layer/image_applier.hpp"

#include <archive.h>
#include <unistd.h>

#include <fmt/format.h>

#include "rootfs/layer/blob_reader.hpp"
#include "rootfs/layer/root_dir.hpp"

namespace nexus::rootfs::layer {

ImageApplier::ImageApplier(const RootDir& root, const ApplyOptions& options)
    : root_(root), opt_(options) {}

Result<ApplyStats> ImageApplier::apply(const LayerBlob& blob, size_t index, size_t count) {
  stats_ = {};
  present_.clear();
  cache_valid_ = false;
  auto report = [&](uint64_t read, uint64_t total) {
    if (opt_.progress) opt_.progress(Progress{index, count, blob.digest, read, total});
  };
  auto reader = BlobReader::open(blob.path, blob.media_type, report);
  if (!reader) return fail(std::move(reader).error());

  archive* a = (*reader)->get();
  for (;;) {
    archive_entry* e = nullptr;
    int rc = archive_read_next_header(a, &e);
    if (rc == ARCHIVE_EOF) break;
    if (rc < ARCHIVE_WARN)
      return fail(Errc::invalid_argument,
                  fmt::format("reading the layer: {}", (*reader)->message()));
    NEXUS_TRY(next_entry(**reader, e));
  }
  stream_bytes_before_ += (*reader)->unpacked_bytes();
  report((*reader)->compressed_total(), (*reader)->compressed_total());
  return stats_;
}

Result<void> ImageApplier::next_entry(BlobReader& reader, archive_entry* e) {
  if (++entries_ > opt_.limits.max_entries)
    return fail(Errc::too_large,
                fmt::format("the image has more than {} entries", opt_.limits.max_entries));
  NEXUS_TRY(check_stream(reader));
  ++stats_.entries;
  auto r = apply_entry(reader, e);
  if (r) r = drain(reader);
  if (!r) {
    const char* raw = archive_entry_pathname(e);
    return fail(std::move(r).error().wrap(fmt::format("'{}'", raw != nullptr ? raw : "")));
  }
  return {};
}

Result<void> ImageApplier::apply_entry(BlobReader& reader, archive_entry* e) {
  auto rel = normalize_entry_path(archive_entry_pathname(e));
  if (!rel) return fail(std::move(rel).error());
  Entry en{e, std::move(*rel), {}, {}};
  en.split = split_path(en.rel);

  if (!en.rel.empty()) {
    auto wh = classify_whiteout(en.split.name);
    if (!wh) return fail(std::move(wh).error());
    switch (wh->kind) {
      case WhiteoutKind::none: break;
      case WhiteoutKind::entry: ++stats_.whiteouts; return whiteout(en.split.parent, wh->target);
      case WhiteoutKind::opaque: ++stats_.opaque_dirs; return opaque(en.split.parent);
      case WhiteoutKind::meta: return {};
    }
  }
  auto meta = entry_meta(e, opt_.id_shift);
  if (!meta) return fail(std::move(meta).error());
  en.meta = std::move(*meta);
  stats_.dropped_xattrs += en.meta.dropped_xattrs;

  mode_t type = archive_entry_filetype(e);
  if (en.rel.empty()) {
    if (type != AE_IFDIR || archive_entry_hardlink(e) != nullptr)
      return fail(Errc::invalid_argument, "only a directory can be the root");
    return write_root(en);
  }
  Result<void> r;
  if (const char* target = archive_entry_hardlink(e); target != nullptr) {
    r = write_hardlink(en, target);
  } else {
    switch (type) {
      case AE_IFDIR: r = write_dir(en); break;
      case AE_IFREG: r = write_file(reader, en); break;
      case AE_IFLNK: r = write_symlink(en); break;
      case AE_IFIFO: r = write_special(en, S_IFIFO); break;
      case AE_IFCHR:
      case AE_IFBLK:
        r = opt_.allow_devices ? write_special(en, type == AE_IFCHR ? S_IFCHR : S_IFBLK)
                               : skip_device(en);
        break;
      case AE_IFSOCK: r = skip_device(en); break;
      default:
        return fail(Errc::invalid_argument, fmt::format("unknown entry type {:o}", type));
    }
  }
  if (r) present_.insert(en.rel);
  return r;
}

Result<void> ImageApplier::check_stream(const BlobReader& reader) const {
  if (stream_bytes_before_ + reader.unpacked_bytes() > opt_.limits.max_unpacked_bytes)
    return fail(Errc::too_large, fmt::format("the layers unpack to more than {} bytes",
                                             opt_.limits.max_unpacked_bytes));
  return {};
}

// Reads what is left of the entry's data block by block (never libarchive's one-call skip),
// so that skipped data counts against the limits as it is inflated.
Result<void> ImageApplier::drain(BlobReader& reader) {
  for (;;) {
    const void* buf = nullptr;
    size_t len = 0;
    la_int64_t off = 0;
    int rc = archive_read_data_block(reader.get(), &buf, &len, &off);
    if (rc == ARCHIVE_EOF) return {};
    if (rc < ARCHIVE_WARN)
      return fail(Errc::invalid_argument, fmt::format("reading data: {}", reader.message()));
    NEXUS_TRY(check_stream(reader));
  }
}

Result<void> ImageApplier::copy_data(BlobReader& reader, int fd, int64_t size) {
  for (;;) {
    const void* buf = nullptr;
    size_t len = 0;
    la_int64_t off = 0;
    int rc = archive_read_data_block(reader.get(), &buf, &len, &off);
    if (rc == ARCHIVE_EOF) break;
    if (rc < ARCHIVE_WARN)
      return fail(Errc::invalid_argument, fmt::format("reading data: {}", reader.message()));
    NEXUS_TRY(check_stream(reader));
    if (off < 0 || len > static_cast<uint64_t>(size) ||
        static_cast<uint64_t>(off) > static_cast<uint64_t>(size) - len)
      return fail(Errc::invalid_argument, "data past the entry's size");
    const char* p = static_cast<const char*>(buf);
    while (len > 0) {
      ssize_t n = pwrite(fd, p, len, off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return fail_errno("writing");
      p += n;
      off += n;
      len -= static_cast<size_t>(n);
    }
  }
  // Sparse entries end in a hole.
  if (ftruncate(fd, size) != 0) return fail_errno("setting the size");
  return {};
}

}  // namespace nexus::rootfs::layer
