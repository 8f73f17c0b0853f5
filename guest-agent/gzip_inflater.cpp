// SPDX-License-Identifier: Apache-2.0
// zlib-based gzip stream inflater.
#include "guest-agent/gzip_inflater.hpp"

#include <zlib.h>

namespace nexus::agent {

struct GzipInflater::Impl {
  z_stream z{};
  bool ok = false;
  bool done = false;
  Sink sink;
};

GzipInflater::GzipInflater(Sink sink) : impl_(std::make_unique<Impl>()) {
  impl_->sink = std::move(sink);
  impl_->ok = inflateInit2(&impl_->z, 16 + MAX_WBITS) == Z_OK;  // gzip wrapper only
}

GzipInflater::~GzipInflater() {
  if (impl_->ok) inflateEnd(&impl_->z);
}

Result<void> GzipInflater::feed(std::string_view data) {
  if (!impl_->ok) return fail(Errc::internal, "zlib initialisation failed");
  auto& z = impl_->z;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  unsigned char out[64 * 1024];
  while (z.avail_in > 0 && !impl_->done) {
    z.next_out = out;
    z.avail_out = sizeof out;
    int rc = inflate(&z, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
      return fail(Errc::invalid_argument, "malformed gzip body");
    size_t produced = sizeof out - z.avail_out;
    if (produced > 0)
      if (auto r = impl_->sink(std::string_view(reinterpret_cast<char*>(out), produced)); !r)
        return r;
    if (rc == Z_STREAM_END) impl_->done = true;
    if (rc == Z_BUF_ERROR && produced == 0) break;
  }
  // Flush any output still buffered inside zlib for the input consumed so far.
  while (!impl_->done) {
    z.next_out = out;
    z.avail_out = sizeof out;
    int rc = inflate(&z, Z_NO_FLUSH);
    size_t produced = sizeof out - z.avail_out;
    if (produced > 0)
      if (auto r = impl_->sink(std::string_view(reinterpret_cast<char*>(out), produced)); !r)
        return r;
    if (rc == Z_STREAM_END) impl_->done = true;
    if (produced == 0 || (rc != Z_OK && rc != Z_STREAM_END)) break;
  }
  return {};
}

Result<void> GzipInflater::finish() {
  if (!impl_->done) return fail(Errc::invalid_argument, "gzip body is truncated");
  return {};
}

}  // namespace nexus::agent
