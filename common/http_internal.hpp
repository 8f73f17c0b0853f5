// SPDX-License-Identifier: Apache-2.0
// Internal helpers shared by the HTTP server and client (not part of the public API).
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <string>
#include <string_view>

#include <llhttp.h>
#include <uv.h>

#include "common/http.hpp"
#include "common/result.hpp"

namespace nexus::http::detail {

/// Storage for a libuv stream handle of either kind.
union AnyStream {
  uv_handle_t handle;
  uv_stream_t stream;
  uv_pipe_t pipe;
  uv_tcp_t tcp;
};

/// Queue `data` (owned by the request) on `stream`. On success libuv holds the request
/// until `cb` runs, which must call take_write_req(). Returns a libuv error code or 0.
int write_owned(uv_stream_t* stream, std::string data, void* owner, uv_write_cb cb);
/// In a uv_write callback: recover the owner pointer passed to write_owned, the number of
/// bytes the request carried, and free the request.
void* take_write_req(uv_write_t* req, size_t* bytes);

/// One chunk of chunked transfer coding ("<hex>\r\n<data>\r\n"); empty data gives "".
std::string chunk_frame(std::string_view data);
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

/// True if a header name or value is safe to put on the wire (no CR, LF or NUL).
bool header_safe(std::string_view s);
/// Append "Name: value\r\n" for every safe header.
void append_headers(std::string& out, const Headers& headers);

/// Collects llhttp header field/value callbacks (which may arrive in pieces).
class HeaderCollector {
 public:
  void on_field(const char* at, size_t n);
  void on_value(const char* at, size_t n);
  /// Flush the last header into `out` and reset.
  void finish(Headers& out);
  void reset();
  /// Bytes accumulated so far (for size limits).
  size_t size() const { return field_.size() + value_.size(); }

 private:
  void flush(Headers& out);
  std::string field_, value_;
  bool in_value_ = false;
  Headers pending_;
};

/// Resolve a numeric IPv4/IPv6 host (optionally in brackets) or "localhost".
Result<void> resolve_host(const std::string& host, uint16_t port, sockaddr_storage* out);

/// {"code":N,"message":"..."}
std::string error_json(int code, std::string_view message);
/// Headers with just "Content-Type: application/json".
Headers json_headers();

/// Parse a decimal Content-Length value.
bool parse_content_length(std::string_view s, uint64_t* out);

}  // namespace nexus::http::detail
