// SPDX-License-Identifier: Apache-2.0
// BlobWriter: the atomic, resumable half of the content store.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

#include "rootfs/oci/content_store.hpp"
#include "rootfs/oci/fs_io.hpp"

namespace nexus::oci {

BlobWriter::BlobWriter(BlobWriter&&) noexcept = default;
BlobWriter& BlobWriter::operator=(BlobWriter&&) noexcept = default;

BlobWriter::~BlobWriter() {
  if (fd_.valid() && !resumable_) discard();
}

void BlobWriter::discard() noexcept {
  if (!temp_path_.empty()) (void)::unlink(temp_path_.c_str());  // best effort: gc removes leftovers
  fd_.reset();
  temp_path_.clear();
}

Result<void> BlobWriter::write(std::string_view data) {
  if (!fd_.valid()) return fail(Errc::internal, "blob writer is closed");
  if (expected_size_ != 0 && offset_ + data.size() > expected_size_)
    return fail(Errc::too_large, fmt::format("blob {} is larger than the {} bytes its descriptor says", expected_.str(),
                                             expected_size_));
  NEXUS_TRY(write_all(fd_.get(), data).map_error([&](Error e) { return std::move(e).wrap("writing " + temp_path_); }));
  hash_.update(data);
  offset_ += data.size();
  return {};
}

Result<void> BlobWriter::restart() {
  if (!fd_.valid()) return fail(Errc::internal, "blob writer is closed");
  if (::ftruncate(fd_.get(), 0) != 0 || ::lseek(fd_.get(), 0, SEEK_SET) != 0)
    return fail_errno("truncating " + temp_path_);
  hash_ = Sha256();
  offset_ = 0;
  return {};
}

Result<Digest> BlobWriter::commit() {
  if (!fd_.valid()) return fail(Errc::internal, "blob writer is closed");
  Digest got = hash_.finish();
  if (expected_size_ != 0 && offset_ != expected_size_) {
    discard();
    return fail(Errc::protocol,
                fmt::format("blob {} has {} bytes, its descriptor says {}", expected_.str(), offset_, expected_size_));
  }
  if (expected_.valid() && got != expected_) {
    discard();
    return fail(Errc::protocol,
                fmt::format("digest mismatch: expected {}, the content is {}", expected_.str(), got.str()));
  }
  if (::fsync(fd_.get()) != 0) return fail_errno("fsync " + temp_path_);
  if (::fchmod(fd_.get(), 0644) != 0) return fail_errno("chmod " + temp_path_);
  std::string final_path = blobs_dir_ + "/" + got.hex();
  if (::rename(temp_path_.c_str(), final_path.c_str()) != 0) return fail_errno("rename into " + final_path);
  fd_.reset();
  temp_path_.clear();
  NEXUS_TRY(fsync_dir(blobs_dir_));
  return got;
}

}  // namespace nexus::oci
