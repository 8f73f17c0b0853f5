// SPDX-License-Identifier: Apache-2.0
// Server side of one HTTP/1.1 connection: request parsing, exchanges, responses (internal).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <llhttp.h>
#include <uv.h>

#include "common/http.hpp"
#include "common/http_internal.hpp"
#include "common/uv.hpp"

namespace nexus::http::detail {

class Connection;
class ExchangeImpl;

/// What a connection needs from its server.
class ConnectionOwner {
 public:
  virtual ~ConnectionOwner() = default;
  virtual void dispatch(std::shared_ptr<Exchange> exchange) = 0;
  virtual void connection_closed(Connection* conn) = 0;
};

/// One accepted connection. Owns itself (self_) until its handle is closed; Exchanges hold
/// a shared_ptr so their methods stay safe (as no-ops) after the connection is gone.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  /// Initialise the stream handle (a pipe or a TCP socket) on `loop`.
  static std::shared_ptr<Connection> create(uv::Loop& loop, const ServerOptions& options,
                                            bool is_pipe);
  Connection(uv::Loop& loop, const ServerOptions& options, bool is_pipe);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  uv_stream_t* stream() { return &handle_.stream; }
  void set_owner(ConnectionOwner* owner) { owner_ = owner; }
  /// Start reading after uv_accept().
  void start();
  /// Server::close(): close now if idle, else after the current exchange.
  void close_when_idle();
  /// Close at once; in-flight exchanges are aborted.
  void close_now();

  // ---- used by ExchangeImpl (all check that `id` is the current exchange)
  bool is_current(uint64_t id) const;
  void read_body(uint64_t id, size_t limit, std::function<void(Result<std::string>)> done);
  void stream_body(uint64_t id, std::function<void(std::string_view)> on_data,
                   std::function<void(Result<void>)> on_end);
  void pause_body(uint64_t id);
  void resume_body(uint64_t id);
  void respond(uint64_t id, int status, Headers headers, std::string body);
  void start_response(uint64_t id, int status, Headers headers);
  bool write(uint64_t id, std::string_view data);
  bool start_tunnel(uint64_t id, int status, Headers headers, std::function<void(std::string_view)> on_data,
                    std::function<void(Result<void>)> on_end);
  void finish(uint64_t id);
  size_t pending_bytes() const { return pending_; }
  void on_drain(uint64_t id, std::function<void()> cb);
  void on_abort(uint64_t id, std::function<void()> cb);
  /// The last reference to the Exchange went away.
  void exchange_dropped(uint64_t id);

 private:
  enum class Phase { head, exchange, linger, closed };
  enum class BodyMode { undecided, discard, buffer, stream };
  enum class Resp { none, streaming, done };

  static const llhttp_settings_t* settings();
  static int cb_message_begin(llhttp_t* p);
  static int cb_url(llhttp_t* p, const char* at, size_t n);
  static int cb_header_field(llhttp_t* p, const char* at, size_t n);
  static int cb_header_value(llhttp_t* p, const char* at, size_t n);
  static int cb_headers_complete(llhttp_t* p);
  static int cb_body(llhttp_t* p, const char* at, size_t n);
  static int cb_message_complete(llhttp_t* p);
  static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void on_write(uv_write_t* req, int status);

  void process();
  bool step();
  bool can_parse() const;
  bool parse();
  void dispatch();
  void end_exchange();
  void begin_linger();
  void update_reading();
  void arm_timer(uint64_t ms);
  void peer_gone(bool error);
  void parse_error(std::string_view reason);
  void body_too_large();
  void body_timed_out();
  void fail_body(Error err);
  void send(std::string data);
  void send_error_and_close(int status, std::string_view message);
  std::string response_head(int status, Headers& headers, std::optional<size_t> length);
  void response_done();
  void send_continue();

  uv::Loop& loop_;
  ServerOptions options_;
  ConnectionOwner* owner_ = nullptr;
  AnyStream handle_{};
  bool is_pipe_;
  std::shared_ptr<Connection> self_;
  std::optional<uv::Timer> timer_;
  std::optional<Exchange::PeerCred> peer_;
  uv_shutdown_t shutdown_req_{};

  llhttp_t parser_{};
  std::string inbuf_;
  Phase phase_ = Phase::head;
  bool reading_ = false;
  bool processing_ = false;
  bool keep_alive_ = true;
  bool first_request_ = true;
  bool stopping_ = false;

  // request head being parsed
  size_t head_bytes_ = 0;
  bool head_started_ = false;
  bool head_ready_ = false;
  bool kick_parser_ = false;  // run llhttp once more even without new bytes
  RequestHead head_;
  HeaderCollector header_collector_;
  bool head_method_ = false;
  bool http10_ = false;
  bool expect_continue_ = false;  // "Expect: 100-continue" and no 100 sent yet
  bool request_has_body_ = false;  // the head announced a body (chunked or a non-zero length)

  // the current exchange
  uint64_t exchange_id_ = 0;
  ExchangeImpl* ex_ = nullptr;
  BodyMode body_mode_ = BodyMode::undecided;
  bool message_complete_ = false;
  bool body_ended_ = false;  // on_end/done delivered (or not needed)
  bool body_paused_ = false;
  uint64_t body_seen_ = 0;
  std::string backlog_;
  std::string body_buf_;
  size_t body_limit_ = 0;
  std::function<void(Result<std::string>)> body_done_;
  std::function<void(std::string_view)> on_data_;
  std::function<void(Result<void>)> on_end_;
  Resp resp_ = Resp::none;
  bool chunked_ = false;
  bool no_body_ = false;
  std::optional<uint64_t> remaining_;  // raw streamed body with Content-Length
  bool tunnel_ = false;      // upgraded: raw bytes both ways, no parsing (start_tunnel)
  bool tunnel_eof_ = false;  // the client closed its side of the tunnel
  bool aborted_ = false;
  std::function<void()> on_drain_;
  std::function<void()> on_abort_;
  size_t pending_ = 0;
};

/// The Exchange handed to handlers: a thin handle on the connection's current exchange.
class ExchangeImpl final : public Exchange {
 public:
  ExchangeImpl(std::shared_ptr<Connection> conn, uint64_t id, RequestHead head,
               std::optional<PeerCred> peer)
      : conn_(std::move(conn)), id_(id), head_(std::move(head)), peer_(peer) {}
  ~ExchangeImpl() override;

  const RequestHead& request() const override { return head_; }
  std::optional<PeerCred> peer() const override { return peer_; }
  void read_body(size_t limit, std::function<void(Result<std::string>)> done) override;
  void stream_body(std::function<void(std::string_view)> on_data,
                   std::function<void(Result<void>)> on_end) override;
  void pause_body() override;
  void resume_body() override;
  void respond(int status, Headers headers, std::string body) override;
  void start(int status, Headers headers) override;
  bool write(std::string_view data) override;
  void finish() override;
  size_t pending_bytes() const override;
  void on_drain(std::function<void()> cb) override;
  void on_abort(std::function<void()> cb) override;
  bool aborted() const override { return aborted_; }
  bool responded() const override { return responded_; }
  void abort() override;
  bool upgrade(int status, Headers headers, std::function<void(std::string_view)> on_data,
               std::function<void(Result<void>)> on_end) override;

 private:
  friend class Connection;
  Connection* live() const { return conn_ && conn_->is_current(id_) ? conn_.get() : nullptr; }

  std::shared_ptr<Connection> conn_;
  uint64_t id_;
  RequestHead head_;
  std::optional<PeerCred> peer_;
  bool responded_ = false;  ///< respond() or finish() was called (or the server answered)
  bool started_ = false;    ///< a response head went out
  bool aborted_ = false;
};

}  // namespace nexus::http::detail
