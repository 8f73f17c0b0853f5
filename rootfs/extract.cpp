// SPDX-License-Identifier: Apache-2.0
// Tar extraction with libarchive: path sanitising, id shift, device and xattr filtering.
#include "rootfs/extract.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>

#include <memory>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "rootfs/tar_path.hpp"

namespace nexus::rootfs {

namespace {

struct ReadDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct WriteDeleter {
  void operator()(archive* a) const { archive_write_free(a); }
};
using ArchiveReader = std::unique_ptr<archive, ReadDeleter>;
using ArchiveWriter = std::unique_ptr<archive, WriteDeleter>;
struct FreeDeleter {
  void operator()(char* p) const { free(p); }
};

constexpr int kDiskFlags = ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_XATTR |
                           ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_SYMLINKS;
constexpr uint64_t kProgressEvery = 10000;

std::string archive_message(archive* a) {
  const char* s = archive_error_string(a);
  return s != nullptr ? s : "unknown libarchive error";
}

Result<std::string> sanitize(const char* raw) {
  if (raw == nullptr) return fail(Errc::invalid_argument, "tar entry without a path");
  auto rel = relative_tar_path(raw);
  if (!rel) return fail(Errc::invalid_argument, fmt::format("tar entry '{}' leaves the root", raw));
  return std::move(*rel);
}

bool dropped_xattr(std::string_view name) {
  return name == "security.capability" || name.starts_with("system.posix_acl_") ||
         name.starts_with("trusted.overlay.");
}

// Removes the xattrs we do not carry over; true if there were any.
bool filter_xattrs(archive_entry* e) {
  if (archive_entry_xattr_reset(e) == 0) return false;
  struct Xattr {
    std::string name;
    std::string value;
  };
  std::vector<Xattr> keep;
  bool dropped = false;
  const char* name = nullptr;
  const void* value = nullptr;
  size_t size = 0;
  while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
    if (dropped_xattr(name)) {
      dropped = true;
      continue;
    }
    keep.push_back({name, std::string(static_cast<const char*>(value), size)});
  }
  if (!dropped) return false;
  archive_entry_xattr_clear(e);
  for (const auto& x : keep)
    archive_entry_xattr_add_entry(e, x.name.c_str(), x.value.data(), x.value.size());
  return true;
}

Result<void> shift_ids(archive_entry* e, const ExtractOptions& opt, const std::string& path) {
  int64_t uid = archive_entry_uid(e);
  int64_t gid = archive_entry_gid(e);
  if (uid < 0 || uid >= opt.uid_count || gid < 0 || gid >= opt.uid_count)
    return fail(Errc::invalid_argument,
                fmt::format("tar entry '{}' is owned by {}:{}, outside the mapped range 0-{}",
                            path, uid, gid, opt.uid_count - 1));
  archive_entry_set_uid(e, uid + opt.uid_base);
  archive_entry_set_gid(e, gid + opt.uid_base);
  // Numeric ids only: never look names up in the host's passwd.
  archive_entry_set_uname(e, nullptr);
  archive_entry_set_gname(e, nullptr);
  return {};
}

Result<void> copy_data(archive* in, archive* out, const char* path) {
  const void* buf = nullptr;
  size_t size = 0;
  la_int64_t offset = 0;
  for (;;) {
    int r = archive_read_data_block(in, &buf, &size, &offset);
    if (r == ARCHIVE_EOF) return {};
    if (r < ARCHIVE_WARN)
      return fail(Errc::invalid_argument, fmt::format("reading {}: {}", path, archive_message(in)));
    if (archive_write_data_block(out, buf, size, offset) < ARCHIVE_OK)
      return fail(Errc::internal, fmt::format("writing {}: {}", path, archive_message(out)));
  }
}

class Extractor {
 public:
  Extractor(std::string root, const ExtractOptions& opt, const ProgressFn& progress)
      : root_(std::move(root)), opt_(opt), progress_(progress) {}

  Result<ExtractStats> run(const std::string& tar_path) {
    ArchiveReader in(archive_read_new());
    ArchiveWriter out(archive_write_disk_new());
    if (!in || !out) return fail(Errc::internal, "libarchive: out of memory");
    archive_read_support_format_tar(in.get());
    archive_read_support_filter_all(in.get());
    int flags = kDiskFlags | (opt_.apply_ownership ? ARCHIVE_EXTRACT_OWNER : 0);
    archive_write_disk_set_options(out.get(), flags);
    if (archive_read_open_filename(in.get(), tar_path.c_str(), 1 << 16) != ARCHIVE_OK)
      return fail(Errc::not_found,
                  fmt::format("opening {}: {}", tar_path, archive_message(in.get())));

    for (;;) {
      archive_entry* e = nullptr;
      int r = archive_read_next_header(in.get(), &e);
      if (r == ARCHIVE_EOF) break;
      if (r < ARCHIVE_WARN)
        return fail(Errc::invalid_argument,
                    fmt::format("reading {}: {}", tar_path, archive_message(in.get())));
      NEXUS_TRY(entry(in.get(), out.get(), e));
    }
    if (archive_write_close(out.get()) != ARCHIVE_OK)  // applies deferred directory modes
      return fail(Errc::internal,
                  fmt::format("finishing extraction: {}", archive_message(out.get())));
    return stats_;
  }

 private:
  Result<void> entry(archive* in, archive* out, archive_entry* e) {
    std::string original = archive_entry_pathname(e) ? archive_entry_pathname(e) : "";
    mode_t type = archive_entry_filetype(e);
    if (type == AE_IFCHR || type == AE_IFBLK || type == AE_IFSOCK) {
      ++stats_.skipped_devices;
      return {};  // the reader skips the (empty) data on the next header
    }
    auto rel = sanitize(archive_entry_pathname(e));
    if (!rel) return fail(std::move(rel).error());
    archive_entry_set_pathname(e, rel->empty() ? root_.c_str() : (root_ + "/" + *rel).c_str());
    if (const char* link = archive_entry_hardlink(e); link != nullptr) {
      auto target = sanitize(link);
      if (!target) return fail(std::move(target).error());
      if (target->empty())
        return fail(Errc::invalid_argument,
                    fmt::format("tar entry '{}' is a hardlink to the root", original));
      archive_entry_set_hardlink(e, (root_ + "/" + *target).c_str());
    }
    NEXUS_TRY(shift_ids(e, opt_, original));
    if (filter_xattrs(e)) ++stats_.dropped_xattrs;

    if (archive_write_header(out, e) != ARCHIVE_OK)
      return fail(Errc::internal, fmt::format("extracting '{}': {}", original, archive_message(out)));
    if (archive_entry_size(e) > 0) NEXUS_TRY(copy_data(in, out, original.c_str()));
    if (archive_write_finish_entry(out) != ARCHIVE_OK)
      return fail(Errc::internal, fmt::format("extracting '{}': {}", original, archive_message(out)));

    if (type == AE_IFREG && archive_entry_hardlink(e) == nullptr)
      stats_.bytes += static_cast<uint64_t>(archive_entry_size(e));
    if (++stats_.entries % kProgressEvery == 0)
      report(progress_, fmt::format("extracted {} entries ({} MB)", stats_.entries,
                                    stats_.bytes >> 20));
    return {};
  }

  std::string root_;
  const ExtractOptions& opt_;
  const ProgressFn& progress_;
  ExtractStats stats_;
};

}  // namespace

Result<ExtractStats> extract_tar(const std::string& tar_path, const std::string& dest_dir,
                                 const ExtractOptions& options, const ProgressFn& progress) {
  if (options.uid_count == 0 || options.uid_base > UINT32_MAX - options.uid_count)
    return fail(Errc::invalid_argument, "invalid uid range for extraction");
  // Resolve the destination once, so that SECURE_SYMLINKS judges only what lies below it.
  std::unique_ptr<char, FreeDeleter> real(realpath(dest_dir.c_str(), nullptr));
  if (!real) return fail_errno(fmt::format("resolving {}", dest_dir));
  return Extractor(real.get(), options, progress).run(tar_path);
}

}  // namespace nexus::rootfs
