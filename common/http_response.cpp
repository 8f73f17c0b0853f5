// SPDX-License-Identifier: Apache-2.0
// Server responses on a Connection (framing, keep-alive, back-pressure) and ExchangeImpl.
#include <algorithm>

#include <fmt/format.h>

#include "common/http_connection.hpp"
#include "common/strings.hpp"

namespace nexus::http::detail {

namespace {
constexpr size_t kSplitWriteBytes = 16 * 1024;  // bigger bodies go out as a separate write
}  // namespace

// ---- responses

std::string Connection::response_head(int status, Headers& h, std::optional<size_t> length) {
  if (expect_continue_ && !message_complete_) {
    // We never said "100 Continue": the client may or may not send the body now, so the
    // framing of what follows is unknown. Close after this response.
    keep_alive_ = false;
    expect_continue_ = false;
  }
  bool bodyless_status = (status >= 100 && status < 200) || status == 204 || status == 304;
  no_body_ = head_method_ || bodyless_status;
  if (auto conn = h.get("Connection"); conn && iequals(*conn, "close")) keep_alive_ = false;
  if (stopping_) keep_alive_ = false;
  h.remove("Connection");
  h.remove("Keep-Alive");
  h.remove("Transfer-Encoding");
  chunked_ = false;
  remaining_.reset();
  if (length) {
    h.remove("Content-Length");
    if (!bodyless_status) h.add("Content-Length", std::to_string(*length));
  } else {
    uint64_t declared = 0;
    bool has_length = false;
    if (auto cl = h.get("Content-Length")) has_length = parse_content_length(*cl, &declared);
    if (!has_length || status == 204 || (status >= 100 && status < 200)) {
      h.remove("Content-Length");
      has_length = false;
    }
    if (no_body_) {
      // nothing to frame
    } else if (has_length) {
      remaining_ = declared;
    } else if (http10_) {
      keep_alive_ = false;  // HTTP/1.0 has no chunked coding: the body ends at close
    } else {
      chunked_ = true;
      h.add("Transfer-Encoding", "chunked");
    }
  }
  if (keep_alive_) {
    if (http10_) h.add("Connection", "keep-alive");
    uint64_t idle_s = std::max<uint64_t>(1, options_.idle_timeout_ms / 1000);
    h.add("Keep-Alive", fmt::format("timeout={}", idle_s));
  } else {
    h.add("Connection", "close");
  }
  std::string out = fmt::format("HTTP/1.1 {} {}\r\n", status, reason_phrase(status));
  append_headers(out, h);
  out.append("\r\n");
  return out;
}

void Connection::send(std::string data) {
  if (phase_ == Phase::closed || data.empty()) return;
  size_t n = data.size();
  if (write_owned(stream(), std::move(data), this, &Connection::on_write) == 0) pending_ += n;
}

void Connection::on_write(uv_write_t* req, int status) {
  size_t n = 0;
  auto* c = static_cast<Connection*>(take_write_req(req, &n));
  c->pending_ -= n;
  if (c->phase_ == Phase::closed) return;
  if (status < 0) {
    c->close_now();  // the peer is gone
    return;
  }
  if (c->pending_ == 0 && c->phase_ == Phase::exchange && c->resp_ == Resp::streaming &&
      c->on_drain_) {
    auto cb = c->on_drain_;
    cb();
  }
}

void Connection::respond(uint64_t id, int status, Headers headers, std::string body) {
  if (!is_current(id) || resp_ != Resp::none) return;
  std::string out = response_head(status, headers, body.size());
  if (!no_body_) {
    if (body.size() < kSplitWriteBytes) {
      out.append(body);
    } else {
      send(std::move(out));
      out = std::move(body);
    }
  }
  send(std::move(out));
  response_done();
}

void Connection::start_response(uint64_t id, int status, Headers headers) {
  if (!is_current(id) || resp_ != Resp::none) return;
  send(response_head(status, headers, std::nullopt));
  resp_ = Resp::streaming;
}

bool Connection::write(uint64_t id, std::string_view data) {
  if (!is_current(id) || resp_ != Resp::streaming) return false;
  if (data.empty() || no_body_) return true;
  if (chunked_) {
    send(chunk_frame(data));
  } else if (remaining_) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(data.size(), *remaining_));
    *remaining_ -= n;
    send(std::string(data.substr(0, n)));
  } else {
    send(std::string(data));
  }
  return phase_ != Phase::closed;
}

bool Connection::start_tunnel(uint64_t id, int status, Headers headers, std::function<void(std::string_view)> on_data,
                              std::function<void(Result<void>)> on_end) {
  if (!is_current(id) || resp_ != Resp::none || body_mode_ != BodyMode::undecided || request_has_body_) return false;
  // The head goes out as given: the protocol after it is the peers' own, so no framing.
  std::string out = fmt::format("HTTP/1.1 {} {}\r\n", status, reason_phrase(status));
  append_headers(out, headers);
  out.append("\r\n");
  send(std::move(out));
  tunnel_ = true;
  keep_alive_ = false;
  resp_ = Resp::streaming;
  chunked_ = false;
  no_body_ = false;
  remaining_.reset();
  body_mode_ = BodyMode::stream;
  body_ended_ = false;
  on_data_ = std::move(on_data);
  on_end_ = std::move(on_end);
  if (timer_) timer_->stop();
  process();
  return phase_ != Phase::closed;
}

void Connection::finish(uint64_t id) {
  if (!is_current(id) || resp_ != Resp::streaming) return;
  if (tunnel_) {
    // Shut down after what is queued; whatever the client still sends is read and dropped.
    tunnel_ = false;
    body_ended_ = true;
    on_data_ = nullptr;
    on_end_ = nullptr;
    resp_ = Resp::done;
    if (ex_) ex_->responded_ = true;
    begin_linger();
    return;
  }
  if (chunked_) send(std::string(kLastChunk));
  if (remaining_ && *remaining_ > 0) keep_alive_ = false;  // short body: framing is broken
  response_done();
}

void Connection::response_done() {
  resp_ = Resp::done;
  if (ex_) ex_->responded_ = true;
  if (body_mode_ == BodyMode::undecided) body_mode_ = BodyMode::discard;
  arm_timer(options_.idle_timeout_ms);  // in case the rest of the request never comes
  process();
}

void Connection::send_error_and_close(int status, std::string_view message) {
  keep_alive_ = false;
  head_method_ = false;
  head_ready_ = false;
  Headers h = json_headers();
  std::string body = error_json(status, message);
  std::string out = response_head(status, h, body.size());
  out.append(body);
  send(std::move(out));
  begin_linger();
}

// ---- ExchangeImpl

ExchangeImpl::~ExchangeImpl() {
  if (auto* c = live()) c->exchange_dropped(id_);
}

void ExchangeImpl::read_body(size_t limit, std::function<void(Result<std::string>)> done) {
  if (auto* c = live()) {
    c->read_body(id_, limit, std::move(done));
  } else if (done) {
    done(fail(Errc::unavailable, "the request body is no longer available"));
  }
}

void ExchangeImpl::stream_body(std::function<void(std::string_view)> on_data,
                               std::function<void(Result<void>)> on_end) {
  if (auto* c = live()) {
    c->stream_body(id_, std::move(on_data), std::move(on_end));
  } else if (on_end) {
    on_end(fail(Errc::unavailable, "the request body is no longer available"));
  }
}

void ExchangeImpl::pause_body() {
  if (auto* c = live()) c->pause_body(id_);
}

void ExchangeImpl::resume_body() {
  if (auto* c = live()) c->resume_body(id_);
}

void ExchangeImpl::respond(int status, Headers headers, std::string body) {
  if (started_ || responded_) return;
  started_ = true;
  responded_ = true;
  if (auto* c = live()) c->respond(id_, status, std::move(headers), std::move(body));
}

void ExchangeImpl::start(int status, Headers headers) {
  if (started_ || responded_) return;
  started_ = true;
  if (auto* c = live()) c->start_response(id_, status, std::move(headers));
}

bool ExchangeImpl::write(std::string_view data) {
  auto* c = live();
  return c && c->write(id_, data);
}

void ExchangeImpl::finish() {
  if (!started_ || responded_) return;
  responded_ = true;
  if (auto* c = live()) c->finish(id_);
}

size_t ExchangeImpl::pending_bytes() const { return conn_ ? conn_->pending_bytes() : 0; }

void ExchangeImpl::on_drain(std::function<void()> cb) {
  if (auto* c = live()) c->on_drain(id_, std::move(cb));
}

void ExchangeImpl::on_abort(std::function<void()> cb) {
  if (aborted_) {
    if (cb) cb();
  } else if (auto* c = live()) {
    c->on_abort(id_, std::move(cb));
  }
}

bool ExchangeImpl::upgrade(int status, Headers headers, std::function<void(std::string_view)> on_data,
                           std::function<void(Result<void>)> on_end) {
  if (started_ || responded_) return false;
  auto* c = live();
  if (!c || !c->start_tunnel(id_, status, std::move(headers), std::move(on_data), std::move(on_end))) return false;
  started_ = true;
  return true;
}

void ExchangeImpl::abort() {
  if (auto* c = live()) c->close_now();
}

}  // namespace nexus::http::detail
