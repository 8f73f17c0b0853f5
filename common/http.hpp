// SPDX-License-Identifier: Apache-2.0
// HTTP/1.1 server and client on llhttp + libuv.
//
// Server: keep-alive, chunked request and response bodies, streaming responses with
// back-pressure, limits on header and body size, idle timeouts. Listens on Unix sockets,
// TCP, or an inherited listening fd (systemd socket activation).
// Client: one request per connection (Connection: close semantics are fine), over a Unix
// socket or TCP; streamed response bodies; optional chunked request body.
//
// Thread affinity: everything here belongs to the thread running the uv::Loop it was made
// with. Callbacks are invoked on that thread and must not throw.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "common/uv.hpp"

namespace nexus::http {

/// Header list preserving order; lookups are case-insensitive.
class Headers {
 public:
  void add(std::string name, std::string value);
  /// Replace all values of `name` with one value.
  void set(std::string name, std::string value);
  void remove(std::string_view name);
  /// First value of `name`, if any.
  std::optional<std::string_view> get(std::string_view name) const;
  bool has(std::string_view name) const { return get(name).has_value(); }
  const std::vector<std::pair<std::string, std::string>>& items() const { return items_; }

 private:
  std::vector<std::pair<std::string, std::string>> items_;
};

/// Request line and headers, as parsed by the server.
struct RequestHead {
  std::string method;  ///< "GET", "POST", ...
  std::string target;  ///< raw request target, e.g. "/v1/sandboxes?x=1"
  std::string path;    ///< target before '?', not percent-decoded
  std::string query;   ///< target after '?', without it ("" if none)
  Headers headers;
};

/// The canonical reason phrase for a status code ("Not Found").
std::string_view reason_phrase(int status);

struct ServerOptions {
  size_t max_header_bytes = 64 * 1024;        ///< request line + headers; over: 431
  size_t max_body_bytes = 16 * 1024 * 1024;    ///< default read_body() limit; over: 413
  uint64_t idle_timeout_ms = 75 * 1000;        ///< keep-alive idle time before closing
  uint64_t header_timeout_ms = 30 * 1000;      ///< time allowed to send a full request head
  /// A request body being read that stays silent this long: 408 (or a close) and the
  /// handler's body callback gets Errc::timeout. Time the handler holds the body paused,
  /// or has not started reading it, does not count. 0: no limit.
  uint64_t body_idle_timeout_ms = 60 * 1000;
  size_t max_connections = 4096;
};

/// One request/response on a server connection. Handed to the Handler as shared_ptr;
/// the handler keeps it alive for as long as it wants to answer (async answers are fine).
class Exchange {
 public:
  virtual ~Exchange() = default;

  virtual const RequestHead& request() const = 0;
  /// Peer credentials for Unix-socket connections (uid, gid, pid); nullopt for TCP.
  struct PeerCred { uint32_t pid, uid, gid; };
  virtual std::optional<PeerCred> peer() const = 0;

  // ---- request body: call exactly one of these (or none, to discard the body).
  /// Buffer the whole body up to `limit` bytes, then call `done`. Over the limit the server
  /// answers 413 itself and `done` gets Errc::too_large.
  virtual void read_body(size_t limit, std::function<void(Result<std::string>)> done) = 0;
  /// Stream the body: `on_data` per chunk as it arrives, then `on_end` (error if the peer
  /// went away or the body was malformed). pause_body()/resume_body() give flow control.
  virtual void stream_body(std::function<void(std::string_view)> on_data,
                           std::function<void(Result<void>)> on_end) = 0;
  virtual void pause_body() = 0;
  virtual void resume_body() = 0;

  // ---- response
  /// A complete response with Content-Length.
  virtual void respond(int status, Headers headers, std::string body) = 0;
  /// Start a streamed response: chunked transfer encoding unless `headers` carry a
  /// Content-Length. Then write() any number of times and finish() once.
  virtual void start(int status, Headers headers) = 0;
  /// Queue bytes of a streamed response. Returns false if the connection is gone.
  virtual bool write(std::string_view data) = 0;
  /// End a streamed response (the terminating chunk for chunked encoding).
  virtual void finish() = 0;
  /// Bytes queued for the socket and not yet written (for back-pressure).
  virtual size_t pending_bytes() const = 0;
  /// Called once when pending_bytes() drops to zero after having been non-zero.
  virtual void on_drain(std::function<void()> cb) = 0;
  /// Called once if the client disconnects before finish()/respond() completed.
  virtual void on_abort(std::function<void()> cb) = 0;
  virtual bool aborted() const = 0;
  virtual bool responded() const = 0;
  /// Drop the connection at once without completing the response (for a proxy whose
  /// upstream broke mid-body: the client must see a truncated response, not a complete one).
  virtual void abort() = 0;

  /// A protocol upgrade (a proxy relaying a WebSocket): sends `status` (101) with `headers`
  /// exactly as given, then the connection is a byte tunnel. The bytes the client sends after
  /// the request head (those already read first) go to `on_data`; pause_body()/resume_body()
  /// give flow control; `on_end` runs once, ok when the client closed its side, an error when
  /// the connection broke. write() sends raw bytes, finish() shuts the connection down after
  /// them. No idle timeout applies. False (nothing sent) when the request has a body or a
  /// response was started.
  virtual bool upgrade(int status, Headers headers, std::function<void(std::string_view)> on_data,
                       std::function<void(Result<void>)> on_end) = 0;
};

using Handler = std::function<void(std::shared_ptr<Exchange>)>;

class Server {
 public:
  Server(uv::Loop& loop, ServerOptions options, Handler handler);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Bind and listen on a Unix socket path (an existing socket file is replaced),
  /// then chmod it to `mode`.
  Result<void> listen_unix(const std::string& path, unsigned mode = 0660);
  /// Bind and listen on TCP host:port (port 0 picks one; see bound_port()).
  Result<void> listen_tcp(const std::string& host, uint16_t port);
  /// Accept on an already-listening socket (e.g. from sd_listen_fds); takes ownership.
  Result<void> listen_fd(UniqueFd fd);
  /// Port of the last listen_tcp() (useful with port 0).
  uint16_t bound_port() const;
  /// Stop accepting and close idle connections; in-flight exchanges finish.
  void close();
  size_t connection_count() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// A one-line exchange a client makes on a fresh connection before HTTP, for peers that need
/// one (e.g. Firecracker's hybrid vsock: send "CONNECT 49983\n", expect "OK <port>\n").
/// The connect timeout covers it. A peer that closes before the reply line ends fails the
/// request with Errc::unavailable; a reply line over `max_reply` bytes with Errc::protocol.
struct Handshake {
  std::string send;        ///< written as soon as the connection is up
  size_t max_reply = 256;  ///< longest reply line accepted, its '\n' included
  /// Judges the reply line (without its '\n'); an error fails the request with it.
  std::function<Result<void>(std::string_view line)> check;
};

/// Where a client connects.
struct Endpoint {
  std::string unix_path;  ///< non-empty: a Unix socket
  std::string host;       ///< else TCP host (numeric IPv4/IPv6 or "localhost")
  uint16_t port = 0;
  std::shared_ptr<const Handshake> handshake;  ///< optional, before the request
  static Endpoint unix_socket(std::string path) { return Endpoint{std::move(path), {}, 0, {}}; }
  static Endpoint tcp(std::string h, uint16_t p) { return Endpoint{{}, std::move(h), p, {}}; }
};

struct ClientRequest {
  std::string method = "GET";
  std::string target = "/";
  Headers headers;         ///< Host and Content-Length/Transfer-Encoding are added for you
  std::string body;        ///< sent with Content-Length unless `chunked_body`
  bool chunked_body = false;  ///< send the body with ClientCall::write()/finish()
  uint64_t connect_timeout_ms = 10 * 1000;
  size_t max_header_bytes = 64 * 1024;
  /// A protocol upgrade (the caller sets Connection and Upgrade; no body). When the answer
  /// is 101, on_head gets it and the connection is a byte tunnel: on_data gets what the
  /// server sends, ClientCall::write() sends raw bytes, finish() shuts the sending side
  /// down, and on_end runs when the server closes. Any other answer is a plain response.
  bool upgrade = false;
};

struct ResponseHead {
  int status = 0;
  Headers headers;
};

/// Callbacks for a streamed response. on_end is called exactly once, last.
struct ResponseCallbacks {
  std::function<void(const ResponseHead&)> on_head;
  std::function<void(std::string_view)> on_data;
  std::function<void(Result<void>)> on_end;
};

/// A client request in flight. Keep the shared_ptr to be able to cancel it; dropping it
/// does not cancel the request.
class ClientCall {
 public:
  virtual ~ClientCall() = default;
  /// For chunked_body requests: queue a body chunk.
  virtual void write(std::string_view data) = 0;
  /// For chunked_body requests: send the terminating chunk.
  virtual void finish() = 0;
  /// Abort: closes the connection; on_end gets Errc::unavailable ("cancelled") unless it
  /// already ran.
  virtual void cancel() = 0;
  /// Flow control for the response body.
  virtual void pause() = 0;
  virtual void resume() = 0;
  /// Request bytes queued by write() and not yet handed to the socket.
  virtual size_t pending_bytes() const = 0;
  /// Called once when pending_bytes() drops to zero after having been non-zero.
  virtual void on_drain(std::function<void()> cb) = 0;
};

/// Start a request; the response is streamed through `callbacks`.
std::shared_ptr<ClientCall> request(uv::Loop& loop, const Endpoint& endpoint,
                                    ClientRequest req, ResponseCallbacks callbacks);

struct Response {
  int status = 0;
  Headers headers;
  std::string body;
};

/// Convenience: buffer the whole response body (up to `max_body` bytes; over: too_large).
void fetch(uv::Loop& loop, const Endpoint& endpoint, ClientRequest req,
           std::function<void(Result<Response>)> done, size_t max_body = 64 * 1024 * 1024);

}  // namespace nexus::http
