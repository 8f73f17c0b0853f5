// SPDX-License-Identifier: Apache-2.0
// One sandbox connection through the gateway, from accept to the audit record:
//
//   accept -> who is it (directory) -> read the head / ClientHello -> domain rules ->
//   resolve -> private-address and CIDR check -> credentials (off the loop) -> connect
//   (addresses in order, with a timeout each) -> splice both ways -> audit
//
// The lifecycle helpers and the data paths once connected are in splice.cpp.
#include <netinet/in.h>
#include <sys/socket.h>

#include <fmt/format.h>

#include "common/strings.hpp"
#include "net/egress/client_hello.hpp"
#include "net/egress/connection.hpp"

namespace nexus::net::egress {

using namespace conn;

namespace {

// From <linux/netfilter_ipv4.h> and <linux/netfilter_ipv6/ip6_tables.h>, which clash with
// glibc's <netinet/in.h>; both are 80 and part of the kernel ABI.
constexpr int kSoOriginalDst = 80;
constexpr int kIp6tSoOriginalDst = 80;

// The destination the sandbox asked for, before the nft redirect rewrote it.
std::optional<Endpoint> original_destination(int fd, int family) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  int rc = family == 4 ? ::getsockopt(fd, SOL_IP, kSoOriginalDst, &ss, &len)
                       : ::getsockopt(fd, SOL_IPV6, kIp6tSoOriginalDst, &ss, &len);
  if (rc != 0) return std::nullopt;
  return Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss));
}

// --- connected: set the pipes up and send what was read --------------------------------

void on_connected(Connection* c, const Endpoint& ep) {
  c->phase = Connection::Phase::splicing;
  c->rec.upstream = ep.to_string();
  uv_tcp_nodelay(c->upstream, 1);
  // Every request must name the host decided on; inside intercepted TLS that is the SNI
  // (no domain fronting).
  if (!c->tls || c->intercept) {
    c->requests = std::make_unique<RequestStream>(c->host, c->inject, kMaxRequestHead);
    c->sniff_responses = true;
  }
  if (c->intercept) {
    auto ctx = c->gw->ca->server_context(c->host);
    if (!ctx) {
      finish(c, Outcome::failed, ctx.error().message());
      close_now(c);
      return;
    }
    auto server = TlsPipe::server(*ctx);
    auto client = TlsPipe::client(c->gw->upstream_ctx.get(), c->host);
    if (!server || !client) {
      finish(c, Outcome::failed, "cannot start TLS sessions");
      close_now(c);
      return;
    }
    c->tls_client = std::move(*server);
    c->tls_upstream = std::move(*client);
    pump_upstream_tls(c);  // sends the upstream ClientHello
    if (c->closing) return;
  }
  touch(c);
  std::string pending = std::move(c->inbuf);
  c->inbuf.clear();
  if (!pending.empty()) from_client(c, pending);
  if (c->closing) return;
  start_upstream_reading(c);
  if (c->client_paused) c->client_paused = false;
  start_client_reading(c);
  if (c->client_eof) shutdown_side(c, false);
}

void on_connect_timeout(uv_timer_t* t) {
  auto* c = static_cast<Connection*>(t->data);
  c->last_connect_error = "connect timed out";
  // Closing the attempt's handle makes its connect callback run with UV_ECANCELED.
  if (c->upstream) close_handle(c, reinterpret_cast<uv_handle_t*>(c->upstream));
}

struct ConnectReq {
  uv_connect_t req;
  Connection* conn;
  Endpoint ep;
  uv_tcp_t* handle;
};

void connect_next(Connection* c) {
  if (c->closing) return;
  if (c->next_candidate >= c->candidates.size()) {
    std::string reason = fmt::format("cannot connect to {}: {}", c->host.empty() ? c->orig_dst.ip() : c->host,
                                     c->last_connect_error.empty() ? "no address" : c->last_connect_error);
    finish(c, Outcome::failed, reason);
    respond_and_close(c, 502, "Bad Gateway", "egress gateway: " + reason);
    return;
  }
  Endpoint ep = c->candidates[c->next_candidate++];
  c->upstream = new uv_tcp_t;
  uv_tcp_init(&c->gw->loop, c->upstream);
  c->upstream->data = c;
  c->open_handles++;
  auto* req = new ConnectReq{};
  req->conn = c;
  req->ep = ep;
  req->handle = c->upstream;
  req->req.data = req;
  socklen_t len = 0;
  sockaddr_storage ss = ep.to_sockaddr(&len);
  c->pending_work++;
  int rc = uv_tcp_connect(&req->req, c->upstream, reinterpret_cast<sockaddr*>(&ss), [](uv_connect_t* r, int status) {
    auto* cr = static_cast<ConnectReq*>(r->data);
    Connection* conn = cr->conn;
    Endpoint where = cr->ep;
    uv_tcp_t* handle = cr->handle;
    delete cr;
    conn->pending_work--;
    if (conn->closing) {
      maybe_delete(conn);
      return;
    }
    uv_timer_stop(&conn->timer);
    if (status == 0 && conn->upstream == handle && !uv_is_closing(reinterpret_cast<uv_handle_t*>(handle))) {
      on_connected(conn, where);
      return;
    }
    if (status != 0 && status != UV_ECANCELED) conn->last_connect_error = fmt::format("{}: {}", where.to_string(), uv_strerror(status));
    else if (status == UV_ECANCELED) conn->last_connect_error = fmt::format("{}: connect timed out", where.to_string());
    close_handle(conn, reinterpret_cast<uv_handle_t*>(handle));
    conn->upstream = nullptr;
    connect_next(conn);
  });
  if (rc != 0) {
    delete req;
    c->pending_work--;
    c->last_connect_error = fmt::format("{}: {}", ep.to_string(), uv_strerror(rc));
    close_handle(c, reinterpret_cast<uv_handle_t*>(c->upstream));
    c->upstream = nullptr;
    connect_next(c);
    return;
  }
  arm_timer(c, c->gw->cfg.connect_timeout_ms, on_connect_timeout);
}

// --- credentials, off the loop ----------------------------------------------------------

struct CredentialWork {
  uv_work_t req;
  Connection* conn;
  std::vector<InjectRule> rules;
  std::vector<InjectHeader> values;
  std::string error;
};

void fetch_credentials_then_connect(Connection* c, std::vector<InjectRule> rules) {
  auto* w = new CredentialWork{};
  w->conn = c;
  w->rules = std::move(rules);
  w->req.data = w;
  c->pending_work++;
  int rc = uv_queue_work(
      &c->gw->loop, &w->req,
      [](uv_work_t* r) {
        auto* work = static_cast<CredentialWork*>(r->data);
        for (const auto& rule : work->rules) {
          auto v = work->conn->gw->credentials.get(rule.provider);
          if (!v) {
            work->error = fmt::format("credential for {} header {}: {}", rule.host.to_string(), rule.header, v.error().message());
            work->values.clear();
            return;
          }
          work->values.push_back({rule.header, std::move(*v)});
        }
      },
      [](uv_work_t* r, int status) {
        auto* work = static_cast<CredentialWork*>(r->data);
        Connection* conn = work->conn;
        conn->pending_work--;
        if (conn->closing) {
          delete work;
          maybe_delete(conn);
          return;
        }
        if (status != 0 || !work->error.empty()) {
          std::string err = status != 0 ? "credential lookup cancelled" : work->error;
          delete work;
          fail_request(conn, 502, "Bad Gateway", err);
          return;
        }
        conn->inject = std::move(work->values);
        delete work;
        conn->phase = Connection::Phase::connecting;
        connect_next(conn);
      });
  if (rc != 0) {
    c->pending_work--;
    delete w;
    fail_request(c, 502, "Bad Gateway", "cannot queue the credential lookup");
  }
}

// --- deciding ---------------------------------------------------------------------------

void candidates_ready(Connection* c, std::vector<Endpoint> addrs) {
  std::string first_reason;
  for (const auto& a : addrs) {
    auto v = check_address(*c->sb, c->domain_allowed, a);
    if (v.allowed) c->candidates.push_back(a.unmapped());
    else if (first_reason.empty()) first_reason = v.reason;
  }
  if (c->candidates.empty()) {
    std::string what = c->host.empty() ? c->orig_dst.to_string() : "host " + c->host;
    deny(c, fmt::format("{}: {}", what, first_reason));
    return;
  }
  std::vector<InjectRule> rules;
  if (!c->host.empty() && !is_ip_literal(c->host))
    for (const auto* r : matching_rules(c->sb->policy.inject, c->global->inject, c->host)) rules.push_back(*r);
  // HTTPS is decrypted only for a host with an injection rule; everything else is spliced.
  c->intercept = c->tls && !rules.empty();
  c->rec.intercepted = c->intercept;
  if (!rules.empty()) {
    fetch_credentials_then_connect(c, std::move(rules));
    return;
  }
  c->phase = Connection::Phase::connecting;
  connect_next(c);
}

void decide(Connection* c) {
  c->phase = Connection::Phase::deciding;
  uv_timer_stop(&c->timer);
  // Reading goes on while deciding (bounded in on_client_read), so a sandbox that closes
  // early or sends its body at once is seen.
  c->rec.host = c->host;
  if (c->host.empty()) {
    candidates_ready(c, {c->orig_dst});
    return;
  }
  if (is_ip_literal(c->host)) {
    auto ep = Endpoint::parse_ip(c->host, c->orig_dst.port);
    candidates_ready(c, {*ep});
    return;
  }
  auto d = decide_domain(c->sb->policy.domains, c->global->domains, c->host);
  if (d.verdict == DomainVerdict::deny) {
    deny(c, fmt::format("host {} is denied by the {} pattern {}", c->host, d.layer, d.pattern));
    return;
  }
  c->domain_allowed = d.verdict == DomainVerdict::allow;
  c->resolving = true;
  c->resolve_id = c->gw->resolver->resolve(c->host, c->orig_dst.port, [c](Result<std::vector<Endpoint>> r) {
    c->resolving = false;
    if (c->closing) return;
    if (!r) {
      fail_request(c, 502, "Bad Gateway", r.error().message());
      return;
    }
    candidates_ready(c, std::move(*r));
  });
}

}  // namespace

void conn::on_first_bytes(Connection* c) {
  if (c->tls) {
    auto info = parse_client_hello(c->inbuf);
    using S = ClientHelloInfo::Status;
    if (info.status == S::need_more) {
      if (c->inbuf.size() > kMaxClientHello + 1024) {
        finish(c, Outcome::failed, "ClientHello spread over too many bytes");
        close_now(c);
      }
      return;
    }
    if (info.status != S::ok) {
      finish(c, Outcome::failed, "not a usable TLS ClientHello: " + info.error);
      close_now(c);
      return;
    }
    c->host = info.sni;
    decide(c);
    return;
  }
  auto head = parse_request_head(c->inbuf, kMaxRequestHead);
  using S = HeadParse::Status;
  if (head.status == S::need_more) return;
  if (head.status == S::bad_request) {
    fail_request(c, 400, "Bad Request", head.error);
    return;
  }
  if (head.status == S::too_large) {
    fail_request(c, 431, "Request Header Fields Too Large", head.error);
    return;
  }
  c->rec.method = head.head.method;
  c->rec.url = printable(head.head.url);
  const std::string host_header = head.head.host();
  if (!host_header.empty()) {
    auto h = normalize_host(host_header);
    if (!h) {
      fail_request(c, 400, "Bad Request", h.error().message());
      return;
    }
    c->host = *h;
  }
  decide(c);
}

namespace {

void refuse(Connection* c, std::string reason) {
  finish(c, Outcome::refused, std::move(reason));
  close_now(c);
}

}  // namespace

void accept_connection(Listener* l) {
  Gateway::Impl* gw = l->gw;
  auto* c = new Connection(gw, l->tls);
  gw->connections.insert(c);
  gw->active++;
  uv_tcp_init(&gw->loop, &c->client);
  c->client.data = c;
  c->open_handles++;
  uv_timer_init(&gw->loop, &c->timer);
  c->timer.data = c;
  c->open_handles++;
  c->rec.time_ms = unix_now_ms();
  c->rec.scheme = l->tls ? "https" : "http";
  if (uv_accept(reinterpret_cast<uv_stream_t*>(&l->handle), c->cs()) != 0) {
    c->finished = true;  // nothing was accepted: nothing to audit
    close_now(c);
    return;
  }
  sockaddr_storage ss{};
  int len = sizeof(ss);
  uv_tcp_getpeername(&c->client, reinterpret_cast<sockaddr*>(&ss), &len);
  auto peer = Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss));
  if (peer) c->peer = peer->unmapped();
  c->rec.client = c->peer.to_string();
  uv_os_fd_t fd = -1;
  uv_fileno(reinterpret_cast<uv_handle_t*>(&c->client), &fd);
  auto dst = peer ? original_destination(fd, peer->family) : std::nullopt;
  if (dst) {
    c->orig_dst = dst->unmapped();
    c->rec.original_dst = c->orig_dst.to_string();
  }
  if (!gw->ready) return refuse(c, "the gateway is not ready (policies not loaded yet)");
  if (gw->active > gw->cfg.max_connections) return refuse(c, "too many connections");
  c->sb = peer ? gw->sandboxes->find(c->peer) : nullptr;
  if (!c->sb) return refuse(c, fmt::format("unknown peer {}", c->peer.ip()));
  c->rec.sandbox_id = c->sb->policy.id;
  if (gw->per_sandbox[c->rec.sandbox_id] >= gw->cfg.max_connections_per_sandbox) {
    if (gw->per_sandbox[c->rec.sandbox_id] == 0) gw->per_sandbox.erase(c->rec.sandbox_id);
    return refuse(c, "too many connections from this sandbox");
  }
  gw->per_sandbox[c->rec.sandbox_id]++;
  c->counted = true;
  if (!dst) return refuse(c, "no original destination (the connection was not redirected here)");
  c->global = gw->global_snapshot();
  uv_tcp_nodelay(&c->client, 1);
  arm_timer(c, gw->cfg.first_bytes_timeout_ms, on_idle);
  start_client_reading(c);
}

void close_all_connections(Gateway::Impl* gw) {
  std::vector<Connection*> all(gw->connections.begin(), gw->connections.end());
  for (auto* c : all) {
    finish(c, c->phase == Connection::Phase::splicing ? Outcome::allowed : Outcome::failed, "the gateway stopped");
    close_now(c);
  }
}

}  // namespace nexus::net::egress
