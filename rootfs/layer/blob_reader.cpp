// SPDX-License-Identifier: Apache-2.0
// BlobReader: compression detection and a counting libarchive read callback.
#include "rootfs/layer/blob_reader.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace nexus::rootfs::layer {

namespace {

constexpr size_t kReadSize = 1 << 16;
constexpr uint64_t kReportEvery = 1 << 20;

constexpr std::array<unsigned char, 2> kGzipMagic = {0x1f, 0x8b};
constexpr std::array<unsigned char, 4> kZstdMagic = {0x28, 0xb5, 0x2f, 0xfd};

template <size_t N>
bool starts_with(std::span<const unsigned char> head, const std::array<unsigned char, N>& m) {
  return head.size() >= N && std::memcmp(head.data(), m.data(), N) == 0;
}

// What the media type says, or an error for one that is not a layer.
Result<Compression> media_type_compression(std::string_view mt) {
  static constexpr std::string_view kPlain[] = {
      "application/vnd.oci.image.layer.v1.tar",
      "application/vnd.oci.image.layer.nondistributable.v1.tar",
      "application/vnd.docker.image.rootfs.diff.tar",
  };
  static constexpr std::string_view kDockerGzip[] = {
      "application/vnd.docker.image.rootfs.diff.tar.gzip",
      "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
  };
  for (auto plain : kPlain) {
    if (mt == plain) return Compression::none;
    if (mt.starts_with(plain) && mt.substr(plain.size()) == "+gzip") return Compression::gzip;
    if (mt.starts_with(plain) && mt.substr(plain.size()) == "+zstd") return Compression::zstd;
  }
  for (auto gz : kDockerGzip)
    if (mt == gz) return Compression::gzip;
  return fail(Errc::invalid_argument, fmt::format("unsupported layer media type '{}'", mt));
}

const char* compression_name(Compression c) {
  switch (c) {
    case Compression::none: return "plain tar";
    case Compression::gzip: return "gzip";
    case Compression::zstd: return "zstd";
  }
  return "?";
}

}  // namespace

Result<Compression> detect_compression(std::span<const unsigned char> head,
                                       std::string_view media_type) {
  Compression found = starts_with(head, kGzipMagic)   ? Compression::gzip
                      : starts_with(head, kZstdMagic) ? Compression::zstd
                                                      : Compression::none;
  if (media_type.empty()) return found;
  auto declared = media_type_compression(media_type);
  if (!declared) return declared;
  // The content wins over a mislabelled descriptor, except that "compressed" over bytes with
  // no such header is a broken blob, better reported now than as a tar error.
  if (*declared != Compression::none && found == Compression::none)
    return fail(Errc::invalid_argument,
                fmt::format("media type '{}' says {}, but the blob has no {} header", media_type,
                            compression_name(*declared), compression_name(*declared)));
  return found;
}

BlobReader::BlobReader(UniqueFd fd, uint64_t total, OnRead on_read)
    : fd_(std::move(fd)), total_(total), on_read_(std::move(on_read)), buffer_(kReadSize) {}

BlobReader::~BlobReader() {
  if (archive_ != nullptr) archive_read_free(archive_);
}

Result<std::unique_ptr<BlobReader>> BlobReader::open(const std::string& path,
                                                     std::string_view media_type,
                                                     OnRead on_read) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (!fd) return fail_errno(fmt::format("opening blob {}", path));
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) return fail_errno(fmt::format("inspecting blob {}", path));
  if (!S_ISREG(st.st_mode))
    return fail(Errc::invalid_argument, fmt::format("blob {} is not a regular file", path));

  std::array<unsigned char, 8> head{};
  ssize_t n = pread(fd.get(), head.data(), head.size(), 0);
  if (n < 0) return fail_errno(fmt::format("reading blob {}", path));
  auto compression = detect_compression(std::span(head.data(), static_cast<size_t>(n)),
                                        media_type);
  if (!compression) return fail(std::move(compression).error());

  std::unique_ptr<BlobReader> r(
      new BlobReader(std::move(fd), static_cast<uint64_t>(st.st_size), std::move(on_read)));
  r->archive_ = archive_read_new();
  if (r->archive_ == nullptr) return fail(Errc::internal, "libarchive: out of memory");
  archive* a = r->archive_;
  // Only what a layer may be: no other formats, and no filter that runs an external program.
  int rc = archive_read_support_format_tar(a);
  if (rc == ARCHIVE_OK && *compression == Compression::gzip)
    rc = archive_read_support_filter_gzip(a);
  if (rc == ARCHIVE_OK && *compression == Compression::zstd)
    rc = archive_read_support_filter_zstd(a);
  if (rc != ARCHIVE_OK)  // ARCHIVE_WARN here means "would use an external program"
    return fail(Errc::internal, fmt::format("libarchive cannot read {} natively",
                                            compression_name(*compression)));
  if (r->on_read_) r->on_read_(0, r->total_);  // before libarchive's first read
  if (archive_read_open2(a, r.get(), nullptr, &BlobReader::read_cb, nullptr, nullptr) !=
      ARCHIVE_OK)
    return fail(Errc::invalid_argument,
                fmt::format("blob {}: {}", path, r->message()));
  return r;
}

la_ssize_t BlobReader::read_cb(archive* a, void* self_ptr, const void** buffer) {
  auto* self = static_cast<BlobReader*>(self_ptr);
  ssize_t n;
  do {
    n = ::read(self->fd_.get(), self->buffer_.data(), self->buffer_.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    archive_set_error(a, errno, "reading the blob: %s", std::strerror(errno));
    return -1;
  }
  self->read_ += static_cast<uint64_t>(n);
  if (self->on_read_ && (n == 0 || self->read_ - self->reported_ >= kReportEvery)) {
    self->reported_ = self->read_;
    self->on_read_(self->read_, self->total_);
  }
  *buffer = self->buffer_.data();
  return n;
}

uint64_t BlobReader::unpacked_bytes() const {
  la_int64_t n = archive_filter_bytes(archive_, 0);
  return n > 0 ? static_cast<uint64_t>(n) : 0;
}

std::string BlobReader::message() const {
  const char* s = archive_error_string(archive_);
  return s != nullptr ? s : "unknown libarchive error";
}

}  // namespace nexus::rootfs::layer
