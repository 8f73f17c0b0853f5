// SPDX-License-Identifier: Apache-2.0
// TarWriter implementation.
#include "tar_writer.hpp"

#include <archive_entry.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <stdexcept>

namespace nexus::rootfs::test {

namespace {

void check(int r, archive* a) {
  if (r != ARCHIVE_OK) throw std::runtime_error(archive_error_string(a));
}

struct Entry {
  archive_entry* e = archive_entry_new();
  ~Entry() { archive_entry_free(e); }
  Entry() = default;
  Entry(const Entry&) = delete;
  Entry& operator=(const Entry&) = delete;
};

}  // namespace

TarWriter::TarWriter(const std::string& path) : a_(archive_write_new()) {
  check(archive_write_set_format_pax_restricted(a_), a_);
  check(archive_write_open_filename(a_, path.c_str()), a_);
}

TarWriter::~TarWriter() {
  if (a_ != nullptr) archive_write_free(a_);
}

void TarWriter::dir(const std::string& path, unsigned mode, int64_t uid, int64_t gid) {
  Entry en;
  archive_entry_set_pathname(en.e, path.c_str());
  archive_entry_set_filetype(en.e, AE_IFDIR);
  archive_entry_set_perm(en.e, mode);
  archive_entry_set_uid(en.e, uid);
  archive_entry_set_gid(en.e, gid);
  archive_entry_set_mtime(en.e, 1700000000, 0);
  check(archive_write_header(a_, en.e), a_);
}

void TarWriter::file(const std::string& path, const std::string& data, unsigned mode,
                     int64_t uid, int64_t gid, const std::string& xattr_name) {
  Entry en;
  archive_entry_set_pathname(en.e, path.c_str());
  archive_entry_set_filetype(en.e, AE_IFREG);
  archive_entry_set_perm(en.e, mode);
  archive_entry_set_uid(en.e, uid);
  archive_entry_set_gid(en.e, gid);
  archive_entry_set_size(en.e, static_cast<la_int64_t>(data.size()));
  archive_entry_set_mtime(en.e, 1700000000, 0);
  if (!xattr_name.empty()) archive_entry_xattr_add_entry(en.e, xattr_name.c_str(), "v", 1);
  check(archive_write_header(a_, en.e), a_);
  if (!data.empty() &&
      archive_write_data(a_, data.data(), data.size()) != static_cast<la_ssize_t>(data.size()))
    throw std::runtime_error(archive_error_string(a_));
}

void TarWriter::symlink(const std::string& path, const std::string& target) {
  Entry en;
  archive_entry_set_pathname(en.e, path.c_str());
  archive_entry_set_filetype(en.e, AE_IFLNK);
  archive_entry_set_perm(en.e, 0777);
  archive_entry_set_symlink(en.e, target.c_str());
  check(archive_write_header(a_, en.e), a_);
}

void TarWriter::hardlink(const std::string& path, const std::string& target) {
  Entry en;
  archive_entry_set_pathname(en.e, path.c_str());
  archive_entry_set_filetype(en.e, AE_IFREG);
  archive_entry_set_perm(en.e, 0644);
  archive_entry_set_hardlink(en.e, target.c_str());
  archive_entry_set_size(en.e, 0);
  check(archive_write_header(a_, en.e), a_);
}

void TarWriter::char_device(const std::string& path) {
  Entry en;
  archive_entry_set_pathname(en.e, path.c_str());
  archive_entry_set_filetype(en.e, AE_IFCHR);
  archive_entry_set_perm(en.e, 0666);
  archive_entry_set_rdev(en.e, makedev(1, 3));
  check(archive_write_header(a_, en.e), a_);
}

void TarWriter::close() {
  if (a_ == nullptr) return;
  check(archive_write_close(a_), a_);
  archive_write_free(a_);
  a_ = nullptr;
}

}  // namespace nexus::rootfs::test
