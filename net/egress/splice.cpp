// SPDX-License-Identifier: Apache-2.0
// A connection's lifecycle and its two data paths once connected (TLS pipes only when
// intercepting for credential injection):
//   sandbox -> [TlsPipe server] -> [RequestStream: check Host, inject] -> [TlsPipe client] -> upstream
//   upstream -> [TlsPipe client] -> [ResponseSniffer: status] -> [TlsPipe server] -> sandbox
// Backpressure: past max_queued bytes towards one side, reading from the other stops.
#include <chrono>

#include <fmt/format.h>

#include "net/egress/connection.hpp"

namespace nexus::net::egress {
namespace {

struct WriteReq {
  uv_write_t req;
  std::string data;
  Connection* conn;
  bool to_client;
};

}  // namespace

namespace conn {

// Used only here (the others are declared in connection.hpp).
void on_handle_closed(uv_handle_t* h);
void on_written(uv_write_t* req, int status);
void pump_client_tls(Connection* c);
void upstream_plain(Connection* c, std::string data);
void client_plain_out(Connection* c, std::string data);
void from_upstream(Connection* c, std::string_view data);
void alloc_cb(uv_handle_t*, size_t, uv_buf_t* buf);
void on_client_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf);
void on_upstream_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf);

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string printable(std::string_view s) {
  std::string out;
  // Audit fields stay short: a 16 KiB URL is cut to 2 KiB.
  for (char c : s.substr(0, 2048)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out;
}

void maybe_delete(Connection* c) {
  if (c->open_handles == 0 && c->pending_work == 0) {
    if (c->counted && --c->gw->per_sandbox[c->rec.sandbox_id] == 0) c->gw->per_sandbox.erase(c->rec.sandbox_id);
    c->gw->connections.erase(c);
    c->gw->active--;
    delete c;
  }
}

void on_handle_closed(uv_handle_t* h) {
  auto* c = static_cast<Connection*>(h->data);
  if (reinterpret_cast<uv_tcp_t*>(h) != &c->client && h != reinterpret_cast<uv_handle_t*>(&c->timer))
    delete reinterpret_cast<uv_tcp_t*>(h);
  c->open_handles--;
  maybe_delete(c);
}

void close_handle(Connection* c, uv_handle_t* h) {
  if (!uv_is_closing(h)) uv_close(h, on_handle_closed);
  (void)c;
}

// Audit once; the outcome of the first call stands.
void finish(Connection* c, Outcome outcome, std::string reason) {
  if (c->finished) return;
  c->finished = true;
  c->rec.outcome = outcome;
  c->rec.reason = std::move(reason);
  c->rec.duration_ms = steady_ms() - c->start_steady;
  if (c->requests) {
    c->rec.requests = c->requests->requests();
    if (c->rec.method.empty()) {
      c->rec.method = printable(c->requests->first_method());
      c->rec.url = printable(c->requests->first_url());
    }
  }
  if (c->sniff_responses && c->responses.status() != 0) c->rec.status = c->responses.status();
  c->gw->record(c->rec);
}

void close_now(Connection* c) {
  if (c->closing) return;
  c->closing = true;
  // A spliced connection that ends without an error is simply done.
  if (!c->finished)
    c->phase == Connection::Phase::splicing ? finish(c, Outcome::allowed, "")
                                            : finish(c, Outcome::failed, "closed by the gateway");
  if (c->resolving) c->gw->resolver->cancel(c->resolve_id);
  close_handle(c, reinterpret_cast<uv_handle_t*>(&c->timer));
  close_handle(c, reinterpret_cast<uv_handle_t*>(&c->client));
  if (c->upstream) close_handle(c, reinterpret_cast<uv_handle_t*>(c->upstream));
}

void arm_timer(Connection* c, uint64_t ms, void (*cb)(uv_timer_t*)) {
  if (!c->closing) uv_timer_start(&c->timer, cb, ms, 0);
}

void on_idle(uv_timer_t* t) {
  auto* c = static_cast<Connection*>(t->data);
  if (c->phase == Connection::Phase::splicing) finish(c, Outcome::allowed, "idle timeout");
  else finish(c, Outcome::failed, "no request head or ClientHello in time");
  close_now(c);
}

void touch(Connection* c) {
  if (c->phase == Connection::Phase::splicing) arm_timer(c, c->gw->cfg.idle_timeout_ms, on_idle);
}

// --- writing, with backpressure --------------------------------------------------------

void on_written(uv_write_t* req, int status) {
  auto* w = static_cast<WriteReq*>(req->data);
  Connection* c = w->conn;
  bool to_client = w->to_client;
  delete w;
  c->pending_work--;
  if (c->closing) {
    maybe_delete(c);
    return;
  }
  if (status < 0) {
    finish(c, Outcome::allowed, fmt::format("{} write failed: {}", to_client ? "sandbox" : "upstream", uv_strerror(status)));
    close_now(c);
    return;
  }
  // The side that was paused because this one's queue was full may read again.
  if (to_client && c->upstream_paused && uv_stream_get_write_queue_size(c->cs()) < c->gw->cfg.max_queued / 2) {
    c->upstream_paused = false;
    start_upstream_reading(c);
  }
  if (!to_client && c->client_paused && c->upstream &&
      uv_stream_get_write_queue_size(c->us()) < c->gw->cfg.max_queued / 2) {
    c->client_paused = false;
    start_client_reading(c);
  }
}

void write_to(Connection* c, bool to_client, std::string data) {
  if (data.empty() || c->closing) return;
  uv_stream_t* s = to_client ? c->cs() : c->us();
  if (!s) return;
  if (to_client) c->rec.bytes_received += data.size();
  auto* w = new WriteReq{};
  w->data = std::move(data);
  w->conn = c;
  w->to_client = to_client;
  w->req.data = w;
  uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  c->pending_work++;
  if (int rc = uv_write(&w->req, s, &buf, 1, on_written); rc != 0) {
    c->pending_work--;
    delete w;
    finish(c, Outcome::allowed, fmt::format("write failed: {}", uv_strerror(rc)));
    close_now(c);
    return;
  }
  // Too much queued towards this side: stop reading from the other until it drains.
  if (uv_stream_get_write_queue_size(s) > c->gw->cfg.max_queued) {
    if (to_client && c->upstream_reading) {
      uv_read_stop(c->us());
      c->upstream_reading = false;
      c->upstream_paused = true;
    } else if (!to_client && c->client_reading) {
      uv_read_stop(c->cs());
      c->client_reading = false;
      c->client_paused = true;
    }
  }
}

void shutdown_side(Connection* c, bool client_side) {
  bool& done = client_side ? c->client_shut : c->upstream_shut;
  if (done || c->closing) return;
  done = true;
  uv_stream_t* s = client_side ? c->cs() : c->us();
  if (!s) return;
  auto* req = new uv_shutdown_t;
  req->data = c;
  c->pending_work++;
  if (uv_shutdown(req, s, [](uv_shutdown_t* r, int) {
        auto* conn = static_cast<Connection*>(r->data);
        delete r;
        conn->pending_work--;
        if (conn->closing) {
          maybe_delete(conn);
          return;
        }
        if (conn->client_shut && conn->upstream_shut) close_now(conn);
      }) != 0) {
    delete req;
    c->pending_work--;
  }
}

// A short answer from the gateway itself (HTTP only), then close.
void respond_and_close(Connection* c, int status, std::string_view reason_phrase, const std::string& text) {
  c->rec.status = status;
  if (c->tls) {
    close_now(c);
    return;
  }
  std::string body = text + "\n";
  std::string resp = fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n"
      "X-Nexus-Egress: {}\r\n\r\n{}",
      status, reason_phrase, body.size(), status == 403 ? "denied" : "error", body);
  if (c->client_reading) {
    uv_read_stop(c->cs());
    c->client_reading = false;
  }
  write_to(c, true, std::move(resp));
  c->upstream_shut = true;  // nothing upstream
  shutdown_side(c, true);
  // The shutdown callback closes; a client that never reads is cut by the timer.
  arm_timer(c, 5000, [](uv_timer_t* t) { close_now(static_cast<Connection*>(t->data)); });
}

void deny(Connection* c, const std::string& reason) {
  finish(c, Outcome::denied, reason);
  respond_and_close(c, 403, "Forbidden", "egress gateway: " + reason);
}

void fail_request(Connection* c, int status, std::string_view phrase, const std::string& reason) {
  finish(c, Outcome::failed, reason);
  respond_and_close(c, status, phrase, "egress gateway: " + reason);
}

// --- the two data paths ----------------------------------------------------------------

void pump_upstream_tls(Connection* c) {
  std::string plain;
  auto r = c->tls_upstream->pump(plain);
  write_to(c, false, c->tls_upstream->take_output());
  if (!r) {
    finish(c, Outcome::failed, "upstream " + r.error().message());
    close_now(c);
    return;
  }
  if (!plain.empty()) client_plain_out(c, std::move(plain));
  if (c->tls_upstream->peer_closed() && !c->upstream_eof) {
    c->upstream_eof = true;
    if (c->tls_client) {
      c->tls_client->shutdown();
      write_to(c, true, c->tls_client->take_output());
    }
    shutdown_side(c, true);
  }
}

void pump_client_tls(Connection* c) {
  std::string plain;
  auto r = c->tls_client->pump(plain);
  write_to(c, true, c->tls_client->take_output());
  if (!r) {
    finish(c, Outcome::failed, "sandbox " + r.error().message());
    close_now(c);
    return;
  }
  if (!plain.empty()) upstream_plain(c, std::move(plain));
}

// Plaintext towards the upstream: requests are checked and injected, then (re)encrypted.
void upstream_plain(Connection* c, std::string data) {
  if (c->closing) return;
  std::string out;
  if (c->requests) {
    auto r = c->requests->feed(data, out);
    if (!r) {
      // What was valid before the error still goes out; then the connection ends.
      if (c->tls_upstream) {
        c->tls_upstream->write(out);
        pump_upstream_tls(c);
      } else {
        write_to(c, false, std::move(out));
      }
      finish(c, r.error().is(Errc::permission_denied) ? Outcome::denied : Outcome::failed, r.error().message());
      close_now(c);
      return;
    }
  } else {
    out = std::move(data);
  }
  if (c->tls_upstream) {
    c->tls_upstream->write(out);
    pump_upstream_tls(c);
  } else {
    write_to(c, false, std::move(out));
  }
}

// Plaintext towards the sandbox.
void client_plain_out(Connection* c, std::string data) {
  if (c->closing) return;
  if (c->sniff_responses) c->responses.feed(data);
  if (c->tls_client) {
    c->tls_client->write(data);
    pump_client_tls(c);
  } else {
    write_to(c, true, std::move(data));
  }
}

void from_client(Connection* c, std::string_view data) {
  if (c->tls_client) {
    c->tls_client->feed(data);
    pump_client_tls(c);
  } else {
    upstream_plain(c, std::string(data));
  }
}

void from_upstream(Connection* c, std::string_view data) {
  if (c->tls_upstream) {
    c->tls_upstream->feed(data);
    pump_upstream_tls(c);
  } else {
    client_plain_out(c, std::string(data));
  }
}

void alloc_cb(uv_handle_t*, size_t, uv_buf_t* buf) {
  static thread_local char storage[64 * 1024];
  *buf = uv_buf_init(storage, sizeof(storage));
}

void on_client_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  auto* c = static_cast<Connection*>(s->data);
  if (c->closing || n == 0) return;
  if (n < 0) {
    if (n != UV_EOF) {
      finish(c, c->phase == Connection::Phase::splicing ? Outcome::allowed : Outcome::failed,
             fmt::format("sandbox connection: {}", uv_strerror(static_cast<int>(n))));
      close_now(c);
      return;
    }
    c->client_eof = true;
    uv_read_stop(s);
    c->client_reading = false;
    if (c->phase == Connection::Phase::first_bytes) {
      finish(c, Outcome::failed, "the sandbox closed before sending a complete request head or ClientHello");
      close_now(c);
      return;
    }
    // A half-close after a complete head (`printf 'GET ...' | nc -N`): passed on once connected.
    if (c->phase != Connection::Phase::splicing) return;
    if (c->tls_upstream) {
      c->tls_upstream->shutdown();
      write_to(c, false, c->tls_upstream->take_output());
    }
    shutdown_side(c, false);
    return;
  }
  c->rec.bytes_sent += static_cast<uint64_t>(n);
  std::string_view data(buf->base, static_cast<size_t>(n));
  if (c->phase == Connection::Phase::splicing) {
    touch(c);
    from_client(c, data);
    return;
  }
  c->inbuf.append(data);
  if (c->phase == Connection::Phase::first_bytes) on_first_bytes(c);
  // While deciding and connecting the sandbox may go on sending (a request body); keep it,
  // bounded, and stop reading past the bound until the upstream takes it.
  if (c->phase != Connection::Phase::first_bytes && c->inbuf.size() > c->gw->cfg.max_queued && c->client_reading) {
    uv_read_stop(c->cs());
    c->client_reading = false;
    c->client_paused = true;
  }
}

void on_upstream_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  auto* c = static_cast<Connection*>(s->data);
  if (c->closing || n == 0) return;
  if (n < 0) {
    uv_read_stop(s);
    c->upstream_reading = false;
    if (n != UV_EOF) {
      finish(c, Outcome::allowed, fmt::format("upstream connection: {}", uv_strerror(static_cast<int>(n))));
      close_now(c);
      return;
    }
    c->upstream_eof = true;
    if (c->tls_client) {
      c->tls_client->shutdown();
      write_to(c, true, c->tls_client->take_output());
    }
    shutdown_side(c, true);
    return;
  }
  touch(c);
  from_upstream(c, std::string_view(buf->base, static_cast<size_t>(n)));
}

void start_client_reading(Connection* c) {
  if (c->closing || c->client_reading || c->client_eof) return;
  if (uv_read_start(c->cs(), alloc_cb, on_client_read) == 0) c->client_reading = true;
}

void start_upstream_reading(Connection* c) {
  if (c->closing || c->upstream_reading || c->upstream_eof || !c->upstream) return;
  if (uv_read_start(c->us(), alloc_cb, on_upstream_read) == 0) c->upstream_reading = true;
}


}  // namespace conn
}  // namespace nexus::net::egress
