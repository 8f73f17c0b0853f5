// SPDX-License-Identifier: Apache-2.0
// Server side of one HTTP/1.1 connection: llhttp parsing, request bodies, exchange lifecycle.
//
// llhttp callbacks only record what they saw; user callbacks run from step(), outside the
// parser, so a callback may do anything (respond, drop the exchange, close). The parser is
// paused after each request head and after each complete message, so one exchange is
// handled at a time; pipelined bytes wait in inbuf_ (reading stops while it is full).
#include "common/http_connection.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <utility>

#include <fmt/format.h>

#include "common/strings.hpp"

namespace nexus::http::detail {

namespace {
constexpr size_t kReadBufferSize = 64 * 1024;
constexpr size_t kMaxBuffered = 64 * 1024;  // unparsed input kept before reading stops
constexpr uint64_t kLingerMs = 2000;         // wait for the peer's EOF after our last byte

void alloc_buffer(uv_handle_t*, size_t, uv_buf_t* buf) {
  thread_local char storage[kReadBufferSize];
  *buf = uv_buf_init(storage, sizeof(storage));
}

}  // namespace

// ---- setup

const llhttp_settings_t* Connection::settings() {
  static const llhttp_settings_t s = [] {
    llhttp_settings_t st;
    llhttp_settings_init(&st);
    st.on_message_begin = &Connection::cb_message_begin;
    st.on_url = &Connection::cb_url;
    st.on_header_field = &Connection::cb_header_field;
    st.on_header_value = &Connection::cb_header_value;
    st.on_headers_complete = &Connection::cb_headers_complete;
    st.on_body = &Connection::cb_body;
    st.on_message_complete = &Connection::cb_message_complete;
    return st;
  }();
  return &s;
}

std::shared_ptr<Connection> Connection::create(uv::Loop& loop, const ServerOptions& options,
                                               bool is_pipe) {
  auto conn = std::make_shared<Connection>(loop, options, is_pipe);
  conn->self_ = conn;  // released in the uv_close callback
  return conn;
}

Connection::Connection(uv::Loop& loop, const ServerOptions& options, bool is_pipe)
    : loop_(loop), options_(options), is_pipe_(is_pipe) {
  if (is_pipe) {
    NEXUS_CHECK(uv_pipe_init(loop.get(), &handle_.pipe, 0) == 0);
  } else {
    NEXUS_CHECK(uv_tcp_init(loop.get(), &handle_.tcp) == 0);
  }
  handle_.handle.data = this;
  llhttp_init(&parser_, HTTP_REQUEST, settings());
  parser_.data = this;
  timer_.emplace(loop);
}

Connection::~Connection() = default;  // self_ keeps us alive until the handle is closed

void Connection::start() {
  if (is_pipe_) {
    uv_os_fd_t fd = -1;
    if (uv_fileno(&handle_.handle, &fd) == 0) {
      ucred cred{};
      socklen_t len = sizeof(cred);
      if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
        peer_ = Exchange::PeerCred{static_cast<uint32_t>(cred.pid), cred.uid, cred.gid};
      }
    }
  } else {
    (void)uv_tcp_nodelay(&handle_.tcp, 1);  // latency only; failure is harmless
  }
  arm_timer(options_.header_timeout_ms);
  update_reading();
}

void Connection::close_when_idle() {
  stopping_ = true;
  if (phase_ == Phase::head && !head_started_ && inbuf_.empty() && !head_ready_) close_now();
}

void Connection::close_now() {
  if (phase_ == Phase::closed) return;
  auto keep = shared_from_this();
  bool in_exchange = phase_ == Phase::exchange;
  phase_ = Phase::closed;
  timer_.reset();
  if (reading_) uv_read_stop(stream());
  reading_ = false;

  // Take every callback out first: running or destroying them may drop the Exchange.
  auto done = std::exchange(body_done_, nullptr);
  auto end = std::exchange(on_end_, nullptr);
  auto abort_cb = std::exchange(on_abort_, nullptr);
  on_data_ = nullptr;
  on_drain_ = nullptr;
  if (in_exchange && resp_ != Resp::done) {
    aborted_ = true;
    if (ex_) ex_->aborted_ = true;
  } else {
    abort_cb = nullptr;  // the response completed: nothing was aborted
  }
  if (!in_exchange || body_ended_) {
    done = nullptr;
    end = nullptr;
  }
  body_ended_ = true;
  ex_ = nullptr;
  inbuf_.clear();
  backlog_.clear();
  body_buf_.clear();

  uv_close(&handle_.handle, [](uv_handle_t* h) {
    static_cast<Connection*>(h->data)->self_.reset();
  });
  if (auto* owner = std::exchange(owner_, nullptr)) owner->connection_closed(this);

  Error gone(Errc::unavailable, "connection closed before the request body was complete");
  if (done) done(fail(gone));
  if (end) end(fail(gone));
  if (abort_cb) abort_cb();
}

// ---- reading and parsing

void Connection::update_reading() {
  bool want = false;
  if (phase_ == Phase::linger) {
    want = true;
  } else if (phase_ != Phase::closed) {
    bool paused = phase_ == Phase::exchange && body_mode_ == BodyMode::stream && body_paused_;
    want = inbuf_.size() < kMaxBuffered && !paused && !tunnel_eof_;
  }
  if (want == reading_) return;
  if (want) {
    reading_ = uv_read_start(stream(), alloc_buffer, &Connection::on_read) == 0;
  } else {
    uv_read_stop(stream());
    reading_ = false;
  }
}

void Connection::on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
  auto* c = static_cast<Connection*>(s->data);
  if (nread > 0) {
    if (c->phase_ != Phase::head && c->phase_ != Phase::exchange) return;  // lingering
    c->inbuf_.append(buf->base, static_cast<size_t>(nread));
    c->process();
  } else if (nread == UV_EOF && c->tunnel_ && c->phase_ == Phase::exchange) {
    // A tunnel is two directions: the client's end is not the server's.
    c->tunnel_eof_ = true;
    c->process();
  } else if (nread < 0) {
    // EOF or an error: a response still in progress is aborted (close_now decides).
    c->close_now();
  }
}

void Connection::process() {
  if (processing_ || phase_ == Phase::closed) return;
  auto keep = shared_from_this();
  processing_ = true;
  while (step()) {
  }
  processing_ = false;
  update_reading();
}

bool Connection::can_parse() const {
  if (phase_ == Phase::head) return !head_ready_;
  if (phase_ != Phase::exchange) return false;
  return !message_complete_ && body_mode_ != BodyMode::undecided && backlog_.empty() &&
         !(body_mode_ == BodyMode::stream && body_paused_);
}

bool Connection::step() {
  switch (phase_) {
    case Phase::closed:
      return false;
    case Phase::linger:
      inbuf_.clear();
      return false;
    case Phase::head:
      if (head_ready_) {
        head_ready_ = false;
        dispatch();
        return true;
      }
      return !inbuf_.empty() && parse();
    case Phase::exchange:
      break;
  }

  if (tunnel_) {
    if (body_paused_ || body_ended_) return false;
    if (!inbuf_.empty()) {
      std::string chunk;
      chunk.swap(inbuf_);
      if (auto cb = on_data_) cb(chunk);
      return true;
    }
    if (tunnel_eof_) {
      body_ended_ = true;
      on_data_ = nullptr;
      if (auto end = std::exchange(on_end_, nullptr)) end({});
      return true;
    }
    return false;
  }

  if (!backlog_.empty()) {
    switch (body_mode_) {
      case BodyMode::discard:
        backlog_.clear();
        return true;
      case BodyMode::buffer:
        if (body_buf_.size() + backlog_.size() > body_limit_) {
          body_too_large();
        } else {
          body_buf_.append(backlog_);
          backlog_.clear();
        }
        return true;
      case BodyMode::stream:
        if (!body_paused_) {
          std::string chunk;
          chunk.swap(backlog_);
          auto cb = on_data_;
          if (cb) cb(chunk);
          return true;
        }
        break;
      case BodyMode::undecided:
        break;
    }
  }

  if (message_complete_ && backlog_.empty() && !body_ended_) {
    if (body_mode_ == BodyMode::buffer) {
      body_ended_ = true;
      auto done = std::exchange(body_done_, nullptr);
      std::string body = std::move(body_buf_);
      body_buf_.clear();
      if (done) done(std::move(body));
      return true;
    }
    if (body_mode_ == BodyMode::stream && !body_paused_) {
      body_ended_ = true;
      auto end = std::exchange(on_end_, nullptr);
      on_data_ = nullptr;
      if (end) end({});
      return true;
    }
  }

  if (resp_ == Resp::done) {
    if (body_mode_ == BodyMode::discard && keep_alive_ && body_seen_ > options_.max_body_bytes) {
      keep_alive_ = false;  // not worth reading a huge unwanted body to keep the connection
    }
    bool body_finished = body_mode_ == BodyMode::discard ? (message_complete_ || !keep_alive_)
                                                         : body_ended_;
    if (body_finished) {
      end_exchange();
      return true;
    }
  }

  if (can_parse() && (!inbuf_.empty() || kick_parser_)) return parse();
  return false;
}

bool Connection::parse() {
  kick_parser_ = false;
  const char* data = inbuf_.data();
  bool in_head = phase_ == Phase::head;
  llhttp_errno_t err = llhttp_execute(&parser_, data, inbuf_.size());
  size_t consumed = inbuf_.size();
  if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {
    consumed = static_cast<size_t>(llhttp_get_error_pos(&parser_) - data);
    if (err == HPE_PAUSED) {
      llhttp_resume(&parser_);
    } else {
      keep_alive_ = false;  // protocol upgrades are not supported; nothing more is parsed
      message_complete_ = true;
    }
  } else if (err != HPE_OK) {
    parse_error(llhttp_get_error_reason(&parser_));
    return true;
  }
  if (in_head) {
    head_bytes_ += consumed;
    if (head_bytes_ > options_.max_header_bytes) {
      send_error_and_close(
          431, fmt::format("request headers exceed {} bytes", options_.max_header_bytes));
      return true;
    }
    if (head_ready_) kick_parser_ = true;  // run the parser past the head even with no bytes
  }
  inbuf_.erase(0, consumed);
  return true;
}

int Connection::cb_message_begin(llhttp_t* p) {
  auto* c = static_cast<Connection*>(p->data);
  if (!c->head_started_) {
    c->head_started_ = true;
    if (!c->first_request_) c->arm_timer(c->options_.header_timeout_ms);
  }
  return 0;
}

int Connection::cb_url(llhttp_t* p, const char* at, size_t n) {
  static_cast<Connection*>(p->data)->head_.target.append(at, n);
  return 0;
}

int Connection::cb_header_field(llhttp_t* p, const char* at, size_t n) {
  static_cast<Connection*>(p->data)->header_collector_.on_field(at, n);
  return 0;
}

int Connection::cb_header_value(llhttp_t* p, const char* at, size_t n) {
  static_cast<Connection*>(p->data)->header_collector_.on_value(at, n);
  return 0;
}

int Connection::cb_headers_complete(llhttp_t* p) {
  auto* c = static_cast<Connection*>(p->data);
  RequestHead& h = c->head_;
  c->header_collector_.finish(h.headers);
  h.method = llhttp_method_name(static_cast<llhttp_method_t>(p->method));
  auto q = h.target.find('?');
  h.path = h.target.substr(0, q);
  h.query = q == std::string::npos ? std::string() : h.target.substr(q + 1);
  c->http10_ = p->http_major == 0 || (p->http_major == 1 && p->http_minor == 0);
  c->head_method_ = p->method == HTTP_HEAD;
  auto expect = h.headers.get("Expect");
  bool has_body = (p->flags & F_CHUNKED) || ((p->flags & F_CONTENT_LENGTH) && p->content_length);
  c->expect_continue_ = has_body && expect && iequals(*expect, "100-continue");
  c->request_has_body_ = has_body;
  if (!llhttp_should_keep_alive(p) || p->upgrade) c->keep_alive_ = false;
  c->head_ready_ = true;
  return HPE_PAUSED;
}

int Connection::cb_body(llhttp_t* p, const char* at, size_t n) {
  auto* c = static_cast<Connection*>(p->data);
  c->body_seen_ += n;
  c->arm_timer(c->options_.body_idle_timeout_ms);
  if (c->body_mode_ != BodyMode::discard) c->backlog_.append(at, n);
  return 0;
}

int Connection::cb_message_complete(llhttp_t* p) {
  static_cast<Connection*>(p->data)->message_complete_ = true;
  return HPE_PAUSED;
}

void Connection::parse_error(std::string_view reason) {
  if (phase_ == Phase::head) {
    send_error_and_close(400, reason);
    return;
  }
  // The head was fine but the body is malformed.
  keep_alive_ = false;
  message_complete_ = true;
  std::string why(reason);
  if (resp_ == Resp::none) respond(exchange_id_, 400, json_headers(), error_json(400, why));
  fail_body(Error(Errc::protocol, "malformed request body: " + why));
  process();
}

void Connection::body_timed_out() {
  keep_alive_ = false;
  std::string msg = fmt::format("no request body bytes for {} ms", options_.body_idle_timeout_ms);
  bool streaming = resp_ == Resp::streaming;
  if (resp_ == Resp::none) respond(exchange_id_, 408, json_headers(), error_json(408, msg));
  fail_body(Error(Errc::timeout, msg));
  if (streaming) return close_now();  // a response in progress cannot be completed
  process();
}

void Connection::body_too_large() {
  keep_alive_ = false;
  std::string msg = fmt::format("request body exceeds {} bytes", body_limit_);
  if (resp_ == Resp::none) respond(exchange_id_, 413, json_headers(), error_json(413, msg));
  fail_body(Error(Errc::too_large, msg));
  process();
}

void Connection::fail_body(Error err) {
  if (body_ended_) return;
  body_ended_ = true;
  auto done = std::exchange(body_done_, nullptr);
  auto end = std::exchange(on_end_, nullptr);
  on_data_ = nullptr;
  body_mode_ = BodyMode::discard;
  backlog_.clear();
  body_buf_.clear();
  if (done) done(fail(err));
  if (end) end(fail(err));
}

// ---- exchanges

void Connection::dispatch() {
  timer_->stop();
  phase_ = Phase::exchange;
  ++exchange_id_;
  body_mode_ = BodyMode::undecided;
  message_complete_ = false;
  body_ended_ = false;
  body_paused_ = false;
  body_seen_ = 0;
  backlog_.clear();
  body_buf_.clear();
  resp_ = Resp::none;
  chunked_ = false;
  no_body_ = false;
  remaining_.reset();
  aborted_ = false;
  tunnel_ = false;
  tunnel_eof_ = false;

  auto ex = std::make_shared<ExchangeImpl>(shared_from_this(), exchange_id_, std::move(head_),
                                           peer_);
  head_ = RequestHead{};
  ex_ = ex.get();
  if (owner_) owner_->dispatch(ex);
  ex.reset();  // if the handler kept no reference, this answers 500
}

bool Connection::is_current(uint64_t id) const {
  return phase_ == Phase::exchange && id == exchange_id_;
}

void Connection::end_exchange() {
  // Take the exchange's callbacks out first: destroying them may drop the Exchange.
  auto drain = std::exchange(on_drain_, nullptr);
  auto abort_cb = std::exchange(on_abort_, nullptr);
  auto data = std::exchange(on_data_, nullptr);
  auto end = std::exchange(on_end_, nullptr);
  auto done = std::exchange(body_done_, nullptr);
  ex_ = nullptr;
  phase_ = Phase::head;
  head_started_ = false;
  head_bytes_ = 0;
  first_request_ = false;
  message_complete_ = false;
  backlog_.clear();
  body_buf_.clear();
  header_collector_.reset();
  if (!keep_alive_ || stopping_) {
    begin_linger();
    return;
  }
  arm_timer(options_.idle_timeout_ms);
}

void Connection::exchange_dropped(uint64_t id) {
  if (!is_current(id)) return;
  ex_ = nullptr;
  if (resp_ == Resp::none) {
    respond(id, 500, json_headers(), error_json(500, "the request handler did not respond"));
  } else if (resp_ == Resp::streaming) {
    close_now();  // nobody can finish the response any more
  }
}

void Connection::read_body(uint64_t id, size_t limit,
                           std::function<void(Result<std::string>)> done) {
  if (!is_current(id) || body_mode_ != BodyMode::undecided) {
    if (done) done(fail(Errc::conflict, "the request body was already consumed or discarded"));
    return;
  }
  body_mode_ = BodyMode::buffer;
  arm_timer(options_.body_idle_timeout_ms);
  body_limit_ = limit == 0 ? options_.max_body_bytes : limit;
  body_done_ = std::move(done);
  uint64_t declared = 0;
  if (auto cl = ex_ ? ex_->head_.headers.get("Content-Length") : std::nullopt;
      cl && parse_content_length(*cl, &declared) && declared > body_limit_) {
    body_too_large();  // no need to read it first
    return;
  }
  send_continue();
  process();
}

void Connection::send_continue() {
  if (!expect_continue_ || resp_ != Resp::none) return;
  expect_continue_ = false;
  send("HTTP/1.1 100 Continue\r\n\r\n");
}


void Connection::stream_body(uint64_t id, std::function<void(std::string_view)> on_data,
                             std::function<void(Result<void>)> on_end) {
  if (!is_current(id) || body_mode_ != BodyMode::undecided) {
    if (on_end) on_end(fail(Errc::conflict, "the request body was already consumed or discarded"));
    return;
  }
  body_mode_ = BodyMode::stream;
  arm_timer(options_.body_idle_timeout_ms);
  on_data_ = std::move(on_data);
  on_end_ = std::move(on_end);
  send_continue();
  process();
}

void Connection::pause_body(uint64_t id) {
  if (!is_current(id) || body_mode_ != BodyMode::stream) return;
  body_paused_ = true;
  if (!processing_) update_reading();
}

void Connection::resume_body(uint64_t id) {
  if (!is_current(id) || !body_paused_) return;
  body_paused_ = false;
  if (!tunnel_) arm_timer(options_.body_idle_timeout_ms);
  process();
}

void Connection::on_drain(uint64_t id, std::function<void()> cb) {
  if (is_current(id)) on_drain_ = std::move(cb);
}

void Connection::on_abort(uint64_t id, std::function<void()> cb) {
  if (is_current(id)) on_abort_ = std::move(cb);
}

void Connection::begin_linger() {
  if (phase_ == Phase::closed || phase_ == Phase::linger) return;
  phase_ = Phase::linger;
  inbuf_.clear();
  backlog_.clear();
  head_ready_ = false;
  arm_timer(kLingerMs);
  shutdown_req_.data = this;
  int rc = uv_shutdown(&shutdown_req_, stream(), [](uv_shutdown_t* req, int status) {
    auto* c = static_cast<Connection*>(req->data);
    if (status < 0 && c->phase_ != Phase::closed) c->close_now();
  });
  if (rc != 0) {
    close_now();
    return;
  }
  if (!processing_) update_reading();
}

void Connection::arm_timer(uint64_t ms) {
  if (!timer_) return;
  if (ms == 0) {
    timer_->stop();
    return;
  }
  timer_->start(ms, 0, [this] {
    if (phase_ != Phase::exchange || resp_ == Resp::done) return close_now();
    bool reading = !message_complete_ && !body_ended_ && !body_paused_ && body_mode_ != BodyMode::undecided;
    if (reading) body_timed_out();
  });
}

}  // namespace nexus::http::detail
