// SPDX-License-Identifier: Apache-2.0
// LayerWriter implementation.
#include "layer_writer.hpp"

#include <archive_entry.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <memory>
#include <stdexcept>

namespace nexus::rootfs::layer::test {

namespace {

struct EntryFree {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};
using EntryPtr = std::unique_ptr<archive_entry, EntryFree>;

void ok(int r, archive* a) {
  if (r < ARCHIVE_OK) throw std::runtime_error(archive_error_string(a));
}

EntryPtr make(const std::string& path, mode_t type, const Attrs& at) {
  EntryPtr e(archive_entry_new());
  archive_entry_set_pathname(e.get(), path.c_str());
  archive_entry_set_filetype(e.get(), type);
  archive_entry_set_perm(e.get(), at.mode);
  archive_entry_set_uid(e.get(), at.uid);
  archive_entry_set_gid(e.get(), at.gid);
  archive_entry_set_mtime(e.get(), at.mtime, 0);
  for (const auto& [name, value] : at.xattrs)
    archive_entry_xattr_add_entry(e.get(), name.c_str(), value.data(), value.size());
  return e;
}

}  // namespace

LayerWriter::LayerWriter(const std::string& path, Codec codec) : a_(archive_write_new()) {
  switch (codec) {
    case Codec::plain: ok(archive_write_add_filter_none(a_), a_); break;
    case Codec::gzip: ok(archive_write_add_filter_gzip(a_), a_); break;
    case Codec::zstd: ok(archive_write_add_filter_zstd(a_), a_); break;
  }
  ok(archive_write_set_format_pax_restricted(a_), a_);
  ok(archive_write_open_filename(a_, path.c_str()), a_);
}

LayerWriter::~LayerWriter() {
  if (a_ != nullptr) archive_write_free(a_);
}

LayerWriter& LayerWriter::dir(const std::string& path, const Attrs& a) {
  ok(archive_write_header(a_, make(path, AE_IFDIR, a).get()), a_);
  return *this;
}

LayerWriter& LayerWriter::file(const std::string& path, const std::string& data, const Attrs& a) {
  auto e = make(path, AE_IFREG, a);
  archive_entry_set_size(e.get(), static_cast<la_int64_t>(data.size()));
  ok(archive_write_header(a_, e.get()), a_);
  if (!data.empty() &&
      archive_write_data(a_, data.data(), data.size()) != static_cast<la_ssize_t>(data.size()))
    throw std::runtime_error(archive_error_string(a_));
  return *this;
}

LayerWriter& LayerWriter::zeros(const std::string& path, uint64_t size) {
  auto e = make(path, AE_IFREG, Attrs{});
  archive_entry_set_size(e.get(), static_cast<la_int64_t>(size));
  ok(archive_write_header(a_, e.get()), a_);
  std::string chunk(1 << 16, '\0');
  for (uint64_t left = size; left > 0;) {
    size_t n = left < chunk.size() ? static_cast<size_t>(left) : chunk.size();
    if (archive_write_data(a_, chunk.data(), n) != static_cast<la_ssize_t>(n))
      throw std::runtime_error(archive_error_string(a_));
    left -= n;
  }
  return *this;
}

LayerWriter& LayerWriter::symlink(const std::string& path, const std::string& target) {
  auto e = make(path, AE_IFLNK, Attrs{.mode = 0777});
  archive_entry_set_symlink(e.get(), target.c_str());
  ok(archive_write_header(a_, e.get()), a_);
  return *this;
}

LayerWriter& LayerWriter::hardlink(const std::string& path, const std::string& target) {
  auto e = make(path, AE_IFREG, Attrs{});
  archive_entry_set_hardlink(e.get(), target.c_str());
  archive_entry_set_size(e.get(), 0);
  ok(archive_write_header(a_, e.get()), a_);
  return *this;
}

LayerWriter& LayerWriter::fifo(const std::string& path) {
  ok(archive_write_header(a_, make(path, AE_IFIFO, Attrs{.mode = 0620}).get()), a_);
  return *this;
}

LayerWriter& LayerWriter::device(const std::string& path, bool block, unsigned major,
                                 unsigned minor) {
  auto e = make(path, block ? AE_IFBLK : AE_IFCHR, Attrs{.mode = 0666});
  archive_entry_set_rdev(e.get(), makedev(major, minor));
  ok(archive_write_header(a_, e.get()), a_);
  return *this;
}

void LayerWriter::close() {
  if (a_ == nullptr) return;
  ok(archive_write_close(a_), a_);
  archive_write_free(a_);
  a_ = nullptr;
}

}  // namespace nexus::rootfs::layer::test
