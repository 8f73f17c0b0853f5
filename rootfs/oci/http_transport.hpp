// SPDX-License-Identifier: Apache-2.0
// One HTTP exchange over libcurl (internal to the registry client): request headers in,
// status and response headers out, a 2xx body streamed to a sink, other bodies kept (bounded)
// for the error message. No retries and no authentication here; see registry_client.hpp.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <tl/expected.hpp>

#include "common/result.hpp"
#include "rootfs/oci/progress.hpp"

namespace nexus::oci {

struct HttpRequest {
  std::string url;
  std::vector<std::string> headers;  ///< "Name: value"
  uint64_t range_from = 0;           ///< > 0: ask for bytes from here on (resume)
  bool https_only_redirects = false;
};

struct HttpResponse {
  long status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  ///< names lowercased, final response
  std::string error_body;                                    ///< first 64 KiB of a non-2xx body

  /// First value of a header, or "".
  std::string header(std::string_view name) const;
  std::vector<std::string> all(std::string_view name) const;
};

/// Where a 2xx body goes: begin() once the final response's headers are in (status 200 or
/// 206), then data() per chunk. An error from either aborts the transfer and is returned.
struct BodySink {
  std::function<Result<void>(const HttpResponse&)> begin;
  std::function<Result<void>(std::string_view)> data;
};

struct TransferLimits {
  long connect_timeout_s = 15;
  long stall_timeout_s = 30;  ///< abort when under 1 byte/s for this long
  std::string user_agent = "nexus-oci/1";
  std::string ca_file;  ///< extra trust anchors (tests); empty: the system's
};

/// Why a transfer failed, and whether trying again may help (connection reset, timeout, a
/// body cut short).
struct TransferError {
  Error error;
  bool transient = false;
};

/// One libcurl easy handle (connections are reused across perform() calls). Not thread-safe:
/// one session per thread.
class HttpSession {
 public:
  explicit HttpSession(TransferLimits limits = {});
  ~HttpSession();
  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;

  tl::expected<HttpResponse, TransferError> perform(const HttpRequest& req, const BodySink& sink,
                                                    const StopCheck& stop);

 private:
  struct Handle;
  std::unique_ptr<Handle> h_;
  TransferLimits limits_;
};

/// The registry's error document ({"errors":[{"code","message"}]}) as one short line, or a
/// sanitised prefix of the body.
std::string registry_error_summary(std::string_view body);

}  // namespace nexus::oci
