// SPDX-License-Identifier: Apache-2.0
// HTTP/1.x request heads as the gateway sees them (llhttp): the first head of a connection
// (to find Host before anything is decided), and the stream of requests that follows, whose
// every head may get headers added or replaced (credential injection) while bodies, chunked
// ones included, pass through byte for byte. Also the status code of the first response.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.hpp"

namespace nexus::net::egress {

/// The largest request head accepted (request line and headers).
inline constexpr size_t kMaxRequestHead = 16 * 1024;
inline constexpr size_t kMaxHeaders = 128;

struct RequestHead {
  std::string method;
  std::string url;
  int http_major = 1;
  int http_minor = 1;
  std::vector<std::pair<std::string, std::string>> headers;  ///< in order, as received
  size_t head_bytes = 0;  ///< size of the head on the wire

  /// The Host header (the last one wins if several; empty when none), without the port.
  std::string host() const;
  /// Request line and headers, CRLF-terminated, ending with the empty line.
  std::string serialize() const;
  /// Replace every header named `name` (case-insensitively) with one `name: value`.
  void set_header(std::string_view name, std::string_view value);
};

struct HeadParse {
  enum class Status {
    need_more,
    ok,
    bad_request,  ///< not HTTP/1.x (400)
    too_large,    ///< no complete head within kMaxRequestHead bytes (431)
  };
  Status status = Status::need_more;
  RequestHead head;
  std::string error;
};

/// Parses the first request head of `data` (everything the client sent so far).
HeadParse parse_request_head(std::string_view data, size_t max_head = kMaxRequestHead);

/// A header to add to every request head (credential injection). `value` is a secret: it is
/// never put into an error message.
struct InjectHeader {
  std::string name;
  std::string value;
};

/// The client-to-upstream byte stream of one HTTP connection. Every request head is parsed;
/// its Host must stay the one the connection was decided on (a later request naming another
/// host would reach a host no rule looked at); the injected headers are set in it; then it is
/// re-serialized. Body bytes and everything after an upgrade (WebSocket) pass unchanged.
class RequestStream {
 public:
  /// `host`: normalized (normalize_host), or empty for requests without a Host header.
  RequestStream(std::string host, std::vector<InjectHeader> inject, size_t max_head = kMaxRequestHead);
  ~RequestStream();
  RequestStream(const RequestStream&) = delete;
  RequestStream& operator=(const RequestStream&) = delete;

  /// Consumes `data`, appending to `out` what is to be sent upstream. An error (bad request,
  /// head too large, Host changed) means the connection must be closed; `out` then holds
  /// what was valid before it.
  Result<void> feed(std::string_view data, std::string& out);
  /// Request heads seen so far.
  size_t requests() const;
  /// The first request's method and URL (for the audit), empty before it.
  const std::string& first_method() const;
  const std::string& first_url() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

/// Watches the upstream-to-client stream for the status code of the first response.
class ResponseSniffer {
 public:
  ResponseSniffer();
  ~ResponseSniffer();
  ResponseSniffer(const ResponseSniffer&) = delete;
  ResponseSniffer& operator=(const ResponseSniffer&) = delete;
  void feed(std::string_view data);
  /// The first final (>= 200) status; 0 until it has been read, or when it was not HTTP.
  int status() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace nexus::net::egress
