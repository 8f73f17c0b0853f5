// SPDX-License-Identifier: Apache-2.0
// http::request / http::fetch: one request per connection over a Unix socket or TCP.
//
// llhttp callbacks only record; the user's callbacks run from deliver(), outside the parser.
#include <sys/un.h>

#include <optional>

#include <fmt/format.h>

#include "common/http.hpp"
#include "common/http_internal.hpp"
#include "common/strings.hpp"

namespace nexus::http {

namespace {

constexpr size_t kReadBufferSize = 64 * 1024;

void alloc_buffer(uv_handle_t*, size_t, uv_buf_t* buf) {
  thread_local char storage[kReadBufferSize];
  *buf = uv_buf_init(storage, sizeof(storage));
}

bool method_has_body(std::string_view method) {
  return iequals(method, "POST") || iequals(method, "PUT") || iequals(method, "PATCH");
}

class ClientCallImpl final : public ClientCall,
                             public std::enable_shared_from_this<ClientCallImpl> {
 public:
  ClientCallImpl(uv::Loop& loop, Endpoint endpoint, ClientRequest req, ResponseCallbacks cbs)
      : loop_(loop), endpoint_(std::move(endpoint)), req_(std::move(req)), cbs_(std::move(cbs)) {
    what_ = endpoint_.unix_path.empty() ? fmt::format("{}:{}", endpoint_.host, endpoint_.port)
                                        : endpoint_.unix_path;
    llhttp_init(&parser_, HTTP_RESPONSE, settings());
    parser_.data = this;
    timer_.emplace(loop);
  }

  void begin() {
    self_ = shared_from_this();  // released once the call has ended and the handle closed
    if (auto r = connect(); !r) {
      // Report asynchronously: the caller has not even stored the ClientCall yet.
      auto err = std::make_shared<Error>(std::move(r).error());
      timer_->start(0, 0, [this, err] { end_call(fail(*err)); });
    }
  }

  void write(std::string_view data) override {
    if (tunnel_ && !ended_ && !body_finished_ && !data.empty()) return send(std::string(data));
    if (ended_ || !req_.chunked_body || body_finished_ || data.empty()) return;
    queue(chunk_frame(data));
  }

  void finish() override {
    if (tunnel_ && !ended_ && !body_finished_) {
      body_finished_ = true;
      shutdown_req_.data = this;
      // Errors (and the cancel when the handle closes first) need nothing: reading reports them.
      (void)uv_shutdown(&shutdown_req_, &handle_.stream, [](uv_shutdown_t*, int) {});
      return;
    }
    if (ended_ || !req_.chunked_body || body_finished_) return;
    body_finished_ = true;
    queue(std::string(detail::kLastChunk));
  }

  void cancel() override { end_call(fail(Errc::unavailable, "cancelled")); }

  void pause() override {
    paused_ = true;
    update_reading();
  }

  void resume() override {
    if (!paused_) return;
    paused_ = false;
    deliver();
  }

  size_t pending_bytes() const override { return pending_; }
  void on_drain(std::function<void()> cb) override { drain_cb_ = std::move(cb); }

 private:
  using AnyStream = detail::AnyStream;

  static const llhttp_settings_t* settings() {
    static const llhttp_settings_t s = [] {
      llhttp_settings_t st;
      llhttp_settings_init(&st);
      st.on_status = [](llhttp_t* p, const char*, size_t n) { return self(p)->count_head(n); };
      st.on_header_field = [](llhttp_t* p, const char* at, size_t n) {
        self(p)->collector_.on_field(at, n);
        return self(p)->count_head(n);
      };
      st.on_header_value = [](llhttp_t* p, const char* at, size_t n) {
        self(p)->collector_.on_value(at, n);
        return self(p)->count_head(n);
      };
      st.on_headers_complete = [](llhttp_t* p) { return self(p)->headers_complete(); };
      st.on_body = [](llhttp_t* p, const char* at, size_t n) {
        self(p)->backlog_.append(at, n);
        return 0;
      };
      st.on_message_complete = [](llhttp_t* p) { return self(p)->message_complete(); };
      return st;
    }();
    return &s;
  }

  static ClientCallImpl* self(llhttp_t* p) { return static_cast<ClientCallImpl*>(p->data); }

  int count_head(size_t n) {
    head_bytes_ += n;
    if (head_bytes_ > req_.max_header_bytes) {
      head_too_large_ = true;
      return HPE_USER;
    }
    return 0;
  }

  int headers_complete() {
    int status = llhttp_get_status_code(&parser_);
    Headers headers;
    collector_.finish(headers);
    if (status >= 100 && status < 200 && status != 101) {
      skip_message_ = true;  // an interim response; the real one follows
      return 0;
    }
    head_.status = status;
    head_.headers = std::move(headers);
    head_ready_ = true;
    upgrading_ = status == 101 && req_.upgrade;
    return iequals(req_.method, "HEAD") ? 1 : 0;
  }

  int message_complete() {
    if (skip_message_) {
      skip_message_ = false;
      head_bytes_ = 0;
      return 0;
    }
    message_complete_ = true;
    return HPE_PAUSED;  // ignore anything after the response
  }

  Result<void> connect() {
    for (std::string_view s : {std::string_view(req_.method), std::string_view(req_.target)}) {
      if (s.empty() || s.find_first_of(" \r\n") != std::string_view::npos) {
        return fail(Errc::invalid_argument, fmt::format("invalid request line '{} {}'",
                                                        req_.method, req_.target));
      }
    }
    int rc = 0;
    if (!endpoint_.unix_path.empty()) {
      if (endpoint_.unix_path.size() >= sizeof(sockaddr_un::sun_path)) {
        return fail(Errc::invalid_argument,
                    fmt::format("connecting to {}: socket path too long", what_));
      }
      NEXUS_CHECK(uv_pipe_init(loop_.get(), &handle_.pipe, 0) == 0);
      handle_open_ = true;
      handle_.handle.data = this;
      connect_req_.data = this;
      uv_pipe_connect(&connect_req_, &handle_.pipe, endpoint_.unix_path.c_str(), on_connect);
    } else {
      sockaddr_storage addr{};
      if (auto r = detail::resolve_host(endpoint_.host, endpoint_.port, &addr); !r) {
        return fail(std::move(r.error()).wrap("connecting to " + what_));
      }
      NEXUS_CHECK(uv_tcp_init(loop_.get(), &handle_.tcp) == 0);
      handle_open_ = true;
      handle_.handle.data = this;
      connect_req_.data = this;
      rc = uv_tcp_connect(&connect_req_, &handle_.tcp, reinterpret_cast<const sockaddr*>(&addr),
                          on_connect);
      if (rc != 0) return fail_errno(-rc, "connecting to " + what_);
    }
    if (req_.connect_timeout_ms > 0) {
      timer_->start(req_.connect_timeout_ms, 0, [this] {
        if (!connected_) {
          end_call(fail(Errc::timeout, fmt::format("connecting to {}: timed out after {} ms",
                                                   what_, req_.connect_timeout_ms)));
        }
      });
    }
    return {};
  }

  static void on_connect(uv_connect_t* req, int status) {
    auto* c = static_cast<ClientCallImpl*>(req->data);
    if (c->ended_) return;
    if (status < 0) {
      c->end_call(fail_errno(-status, "connecting to " + c->what_));
      return;
    }
    if (c->endpoint_.handshake) {
      c->handshaking_ = true;  // the request waits for the reply line
      c->send(c->endpoint_.handshake->send);
      c->update_reading();
      return;
    }
    c->connection_ready();
  }

  void connection_ready() {
    connected_ = true;
    timer_->stop();
    if (endpoint_.unix_path.empty()) (void)uv_tcp_nodelay(&handle_.tcp, 1);  // latency only
    std::string out = request_head();
    pending_ -= outq_.size();  // counted again by send()
    out.append(std::exchange(outq_, {}));
    send(std::move(out));
    update_reading();
  }

  void handshake_read(const char* data, size_t n) {
    const Handshake& hs = *endpoint_.handshake;
    std::string_view in(data, n);
    size_t nl = in.find('\n');
    size_t take = nl == std::string_view::npos ? n : nl + 1;
    if (reply_.size() + take > hs.max_reply) {
      end_call(fail(Errc::protocol, fmt::format("{}: handshake reply longer than {} bytes", what_,
                                                hs.max_reply)));
      return;
    }
    reply_.append(in.substr(0, take));
    if (nl == std::string_view::npos) return;
    reply_.pop_back();  // the '\n'
    if (hs.check) {
      if (auto r = hs.check(reply_); !r) {
        end_call(fail(std::move(r).error().wrap(what_ + ": handshake")));
        return;
      }
    }
    handshaking_ = false;
    reply_.clear();
    std::string rest(in.substr(take));
    connection_ready();
    if (!rest.empty() && !ended_) {
      got_bytes_ = true;
      feed(rest.data(), rest.size());
    }
  }

  void handshake_closed(int status) {
    if (write_failed_) {
      end_call(fail(write_error_));
    } else if (status == UV_EOF) {
      end_call(fail(Errc::unavailable,
                    fmt::format("{}: connection closed during the handshake", what_)));
    } else {
      end_call(fail_errno(-status, "reading the handshake reply from " + what_));
    }
  }

  std::string request_head() {
    std::string out = fmt::format("{} {} HTTP/1.1\r\n", req_.method, req_.target);
    Headers h = req_.headers;
    if (!h.has("Host")) {
      std::string host = "localhost";
      if (endpoint_.unix_path.empty()) {
        host = endpoint_.host.find(':') != std::string::npos && endpoint_.host.front() != '['
                   ? fmt::format("[{}]:{}", endpoint_.host, endpoint_.port)
                   : fmt::format("{}:{}", endpoint_.host, endpoint_.port);
      }
      h.set("Host", host);
    }
    h.remove("Content-Length");
    h.remove("Transfer-Encoding");
    if (req_.chunked_body) {
      h.add("Transfer-Encoding", "chunked");
    } else if (!req_.body.empty() || method_has_body(req_.method)) {
      h.add("Content-Length", std::to_string(req_.body.size()));
    }
    if (!h.has("Connection")) h.add("Connection", "close");
    detail::append_headers(out, h);
    out.append("\r\n");
    if (!req_.chunked_body) out.append(std::exchange(req_.body, {}));
    return out;
  }

  static std::string chunk_frame(std::string_view data) { return detail::chunk_frame(data); }

  void queue(std::string bytes) {
    if (connected_) {
      send(std::move(bytes));
    } else {
      pending_ += bytes.size();
      outq_.append(bytes);
    }
  }

  void send(std::string bytes) {
    if (ended_ || write_failed_ || bytes.empty()) return;
    size_t n = bytes.size();
    int rc = detail::write_owned(&handle_.stream, std::move(bytes), this, on_write);
    if (rc != 0) return write_error(rc);
    pending_ += n;
  }

  static void on_write(uv_write_t* req, int status) {
    size_t n = 0;
    auto* c = static_cast<ClientCallImpl*>(detail::take_write_req(req, &n));
    c->pending_ -= std::min(n, c->pending_);
    if (status < 0 && !c->ended_) c->write_error(status);
    if (c->pending_ == 0 && c->drain_cb_ && !c->ended_) std::exchange(c->drain_cb_, nullptr)();
  }

  void write_error(int status) {
    // The peer may still have answered (say, 413 before reading the body): keep reading and
    // report this error only if no complete response arrives.
    if (write_failed_) return;
    write_failed_ = true;
    write_error_ = Error::from_errno(-status, "sending request to " + what_);
  }

  void update_reading() {
    bool want = !ended_ && (handshaking_ || (connected_ && !paused_ && !message_complete_));
    if (want == reading_) return;
    if (want) {
      reading_ = uv_read_start(&handle_.stream, alloc_buffer, on_read) == 0;
    } else {
      uv_read_stop(&handle_.stream);
      reading_ = false;
    }
  }

  static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
    auto* c = static_cast<ClientCallImpl*>(s->data);
    if (c->ended_) return;
    auto keep = c->shared_from_this();
    if (nread > 0 && c->handshaking_) {
      c->handshake_read(buf->base, static_cast<size_t>(nread));
    } else if (nread > 0) {
      c->got_bytes_ = true;
      c->feed(buf->base, static_cast<size_t>(nread));
    } else if (nread < 0 && c->handshaking_) {
      c->handshake_closed(static_cast<int>(nread));
    } else if (nread < 0) {
      c->peer_closed(static_cast<int>(nread));
    }
  }

  void feed(const char* data, size_t n) {
    if (tunnel_) {
      backlog_.append(data, n);
      return deliver();
    }
    if (message_complete_) return;
    llhttp_errno_t err = llhttp_execute(&parser_, data, n);
    if (upgrading_ && (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE)) {
      // 101: what follows the head is the new protocol's, raw.
      size_t used = static_cast<size_t>(llhttp_get_error_pos(&parser_) - data);
      backlog_.assign(data + std::min(used, n), n - std::min(used, n));
      upgrading_ = false;
      tunnel_ = true;
      message_complete_ = false;
      return deliver();
    }
    if (err != HPE_OK && err != HPE_PAUSED) {
      if (head_too_large_) {
        end_call(fail(Errc::too_large, fmt::format("response headers from {} exceed {} bytes",
                                                   what_, req_.max_header_bytes)));
      } else {
        end_call(fail(Errc::protocol, fmt::format("bad HTTP response from {}: {}", what_,
                                                  llhttp_get_error_reason(&parser_))));
      }
      return;
    }
    deliver();
  }

  void peer_closed(int status) {
    if (tunnel_) {
      if (status != UV_EOF) return end_call(fail_errno(-status, "reading from " + what_));
      message_complete_ = true;  // the server's side of the tunnel ended: deliver, then end
      return deliver();
    }
    if (!message_complete_ && status == UV_EOF && got_bytes_) {
      // A body delimited by the end of the connection ends here.
      llhttp_errno_t err = llhttp_finish(&parser_);
      if (err != HPE_OK && err != HPE_PAUSED) {
        end_call(fail(Errc::protocol,
                      fmt::format("{}: connection closed before the response was complete",
                                  what_)));
        return;
      }
    }
    if (message_complete_) {
      deliver();
      return;
    }
    if (write_failed_) {
      end_call(fail(write_error_));
    } else if (status != UV_EOF) {
      end_call(fail_errno(-status, "reading response from " + what_));
    } else if (!got_bytes_) {
      end_call(fail(Errc::unavailable,
                    fmt::format("{}: connection closed without a response", what_)));
    } else {
      end_call(fail(Errc::protocol,
                    fmt::format("{}: connection closed before the response was complete", what_)));
    }
  }

  void deliver() {
    if (delivering_ || ended_) return;
    auto keep = shared_from_this();
    delivering_ = true;
    while (!ended_) {
      if (head_ready_) {
        head_ready_ = false;
        auto cb = cbs_.on_head;
        if (cb) cb(head_);
        continue;
      }
      if (paused_) break;
      if (!backlog_.empty()) {
        std::string chunk;
        chunk.swap(backlog_);
        auto cb = cbs_.on_data;
        if (cb) cb(chunk);
        continue;
      }
      if (message_complete_) end_call({});
      break;
    }
    delivering_ = false;
    update_reading();
  }

  void end_call(Result<void> result) {
    if (ended_) return;
    auto keep = shared_from_this();
    ended_ = true;
    auto on_end = std::move(cbs_.on_end);
    cbs_ = ResponseCallbacks{};
    timer_.reset();
    backlog_.clear();
    if (handle_open_) {
      uv_close(&handle_.handle, [](uv_handle_t* h) {
        static_cast<ClientCallImpl*>(h->data)->self_.reset();
      });
    } else {
      self_.reset();
    }
    if (on_end) on_end(std::move(result));
  }

  uv::Loop& loop_;
  Endpoint endpoint_;
  ClientRequest req_;
  ResponseCallbacks cbs_;
  std::string what_;
  AnyStream handle_{};
  bool handle_open_ = false;
  uv_connect_t connect_req_{};
  std::optional<uv::Timer> timer_;
  std::shared_ptr<ClientCallImpl> self_;

  bool connected_ = false;
  bool handshaking_ = false;  // connected, waiting for the Handshake reply line
  std::string reply_;         // the reply line so far
  bool ended_ = false;
  bool paused_ = false;
  bool reading_ = false;
  bool delivering_ = false;
  bool body_finished_ = false;
  bool write_failed_ = false;
  Error write_error_;
  std::string outq_;  // request bytes queued before the connection is up
  size_t pending_ = 0;  // request bytes queued or in flight
  std::function<void()> drain_cb_;

  llhttp_t parser_{};
  detail::HeaderCollector collector_;
  size_t head_bytes_ = 0;
  bool head_too_large_ = false;
  bool skip_message_ = false;
  bool got_bytes_ = false;
  bool head_ready_ = false;
  bool message_complete_ = false;
  bool upgrading_ = false;  // a 101 to an upgrade request is being parsed
  bool tunnel_ = false;     // after it: raw bytes both ways
  uv_shutdown_t shutdown_req_{};
  ResponseHead head_;
  std::string backlog_;  // body bytes parsed but not yet delivered (while paused)
};

}  // namespace

std::shared_ptr<ClientCall> request(uv::Loop& loop, const Endpoint& endpoint, ClientRequest req,
                                    ResponseCallbacks callbacks) {
  auto call = std::make_shared<ClientCallImpl>(loop, endpoint, std::move(req),
                                               std::move(callbacks));
  call->begin();
  return call;
}

void fetch(uv::Loop& loop, const Endpoint& endpoint, ClientRequest req,
           std::function<void(Result<Response>)> done, size_t max_body) {
  struct State {
    Response response;
    std::function<void(Result<Response>)> done;
    std::weak_ptr<ClientCall> call;
    size_t max_body = 0;
    bool finished = false;
  };
  auto st = std::make_shared<State>();
  st->done = std::move(done);
  st->max_body = max_body;
  std::string what = endpoint.unix_path.empty()
                         ? fmt::format("{}:{}", endpoint.host, endpoint.port)
                         : endpoint.unix_path;
  ResponseCallbacks cbs;
  cbs.on_head = [st](const ResponseHead& head) {
    st->response.status = head.status;
    st->response.headers = head.headers;
  };
  cbs.on_data = [st, what](std::string_view data) {
    if (st->finished) return;
    if (st->response.body.size() + data.size() > st->max_body) {
      st->finished = true;
      auto cb = std::move(st->done);
      if (auto call = st->call.lock()) call->cancel();
      if (cb) {
        cb(fail(Errc::too_large,
                fmt::format("response body from {} exceeds {} bytes", what, st->max_body)));
      }
      return;
    }
    st->response.body.append(data);
  };
  cbs.on_end = [st](Result<void> result) {
    if (st->finished) return;
    st->finished = true;
    auto cb = std::move(st->done);
    if (!cb) return;
    if (!result) {
      cb(fail(std::move(result).error()));
    } else {
      cb(std::move(st->response));
    }
  };
  st->call = request(loop, endpoint, std::move(req), std::move(cbs));
}

}  // namespace nexus::http
