// SPDX-License-Identifier: Apache-2.0
#include "net/egress/resolver.hpp"

#include <ares.h>
#include <arpa/inet.h>
#include <netdb.h>

#include <cstring>
#include <mutex>

#include <fmt/format.h>

namespace nexus::net::egress {
namespace {

std::once_flag g_ares_init;

}  // namespace

struct Resolver::Impl {
  uv_loop_t* loop = nullptr;
  ares_channel channel = nullptr;
  uv_timer_t* timer = nullptr;
  struct PollHandle {
    uv_poll_t poll;
    Impl* impl;
    ares_socket_t fd;
  };
  std::map<ares_socket_t, PollHandle*> polls;
  struct Query {
    Impl* impl;
    uint64_t id;
    uint16_t port;
    std::string host;
    Callback cb;
    bool cancelled = false;
  };
  std::map<uint64_t, Query*> queries;
  uint64_t next_id = 1;
  bool destroying = false;

  static void close_poll(PollHandle* h) {
    uv_poll_stop(&h->poll);
    uv_close(reinterpret_cast<uv_handle_t*>(&h->poll),
             [](uv_handle_t* hd) { delete reinterpret_cast<PollHandle*>(hd->data); });
  }

  // c-ares tells which sockets to watch for what.
  static void sock_state(void* data, ares_socket_t fd, int readable, int writable) {
    auto* impl = static_cast<Impl*>(data);
    auto it = impl->polls.find(fd);
    if (!readable && !writable) {
      if (it != impl->polls.end()) {
        close_poll(it->second);
        impl->polls.erase(it);
      }
      return;
    }
    PollHandle* h;
    if (it == impl->polls.end()) {
      h = new PollHandle{};
      h->impl = impl;
      h->fd = fd;
      if (uv_poll_init_socket(impl->loop, &h->poll, fd) != 0) {
        delete h;
        return;
      }
      h->poll.data = h;
      impl->polls[fd] = h;
    } else {
      h = it->second;
    }
    int events = (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0);
    uv_poll_start(&h->poll, events, [](uv_poll_t* p, int status, int ev) {
      auto* ph = static_cast<PollHandle*>(p->data);
      ares_socket_t rfd = ARES_SOCKET_BAD, wfd = ARES_SOCKET_BAD;
      if (status < 0 || (ev & UV_READABLE)) rfd = ph->fd;
      if (status < 0 || (ev & UV_WRITABLE)) wfd = ph->fd;
      Impl* im = ph->impl;  // ph may be freed inside ares_process_fd (sock_state)
      ares_process_fd(im->channel, rfd, wfd);
      im->arm_timer();
    });
  }

  void arm_timer() {
    if (queries.empty()) {
      uv_timer_stop(timer);
      return;
    }
    timeval tv{}, *tvp = ares_timeout(channel, nullptr, &tv);
    uint64_t ms = tvp ? static_cast<uint64_t>(tvp->tv_sec) * 1000 + static_cast<uint64_t>(tvp->tv_usec) / 1000 : 100;
    uv_timer_start(timer, [](uv_timer_t* t) {
      auto* im = static_cast<Impl*>(t->data);
      ares_process_fd(im->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
      im->arm_timer();
    }, ms + 1, 0);
  }

  static void on_result(void* arg, int status, int /*timeouts*/, ares_addrinfo* res) {
    auto* q = static_cast<Query*>(arg);
    Impl* impl = q->impl;
    impl->queries.erase(q->id);
    if (q->cancelled || impl->destroying) {
      if (res) ares_freeaddrinfo(res);
      delete q;
      return;
    }
    Result<std::vector<Endpoint>> out = std::vector<Endpoint>{};
    if (status != ARES_SUCCESS) {
      out = fail(status == ARES_ENOTFOUND || status == ARES_ENODATA ? Errc::not_found : Errc::unavailable,
                 fmt::format("resolving '{}': {}", q->host, ares_strerror(status)));
    } else {
      std::vector<Endpoint> v4, v6;
      for (auto* n = res ? res->nodes : nullptr; n; n = n->ai_next) {
        auto e = Endpoint::from_sockaddr(n->ai_addr);
        if (!e) continue;
        e->port = q->port;
        (e->family == 4 ? v4 : v6).push_back(*e);
      }
      v4.insert(v4.end(), v6.begin(), v6.end());
      if (v4.empty()) out = fail(Errc::not_found, fmt::format("resolving '{}': no addresses", q->host));
      else out = std::move(v4);
    }
    if (res) ares_freeaddrinfo(res);
    Callback cb = std::move(q->cb);
    delete q;
    cb(std::move(out));
  }
};

Resolver::Resolver(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<Resolver>> Resolver::create(uv_loop_t* loop, const ResolverConfig& cfg) {
  std::call_once(g_ares_init, [] { ares_library_init(ARES_LIB_INIT_ALL); });
  auto impl = std::make_unique<Impl>();
  impl->loop = loop;
  ares_options opts{};
  int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_LOOKUPS;
  opts.sock_state_cb = &Impl::sock_state;
  opts.sock_state_cb_data = impl.get();
  opts.timeout = cfg.timeout_ms;
  opts.tries = cfg.tries;
  // DNS only: the host's /etc/hosts is not the sandbox's business.
  char lookups[] = "b";
  opts.lookups = lookups;
  int rc = ares_init_options(&impl->channel, &opts, mask);
  if (rc != ARES_SUCCESS) return fail(Errc::internal, fmt::format("c-ares: {}", ares_strerror(rc)));
  if (!cfg.servers.empty()) {
    std::string csv;
    for (const auto& s : cfg.servers) {
      auto e = Endpoint::parse(s, 53);
      if (!e) {
        ares_destroy(impl->channel);
        return fail(Errc::invalid_argument, fmt::format("DNS server '{}' is not ip[:port]", s));
      }
      if (!csv.empty()) csv += ",";
      csv += e->to_string();
    }
    rc = ares_set_servers_ports_csv(impl->channel, csv.c_str());
    if (rc != ARES_SUCCESS) {
      ares_destroy(impl->channel);
      return fail(Errc::invalid_argument, fmt::format("DNS servers '{}': {}", csv, ares_strerror(rc)));
    }
  }
  impl->timer = new uv_timer_t;
  uv_timer_init(loop, impl->timer);
  impl->timer->data = impl.get();
  return std::unique_ptr<Resolver>(new Resolver(std::move(impl)));
}

Resolver::~Resolver() {
  impl_->destroying = true;
  ares_destroy(impl_->channel);  // runs every pending callback with ARES_EDESTRUCTION
  for (auto& [fd, h] : impl_->polls) Impl::close_poll(h);
  impl_->polls.clear();
  uv_close(reinterpret_cast<uv_handle_t*>(impl_->timer), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
}

uint64_t Resolver::resolve(const std::string& host, uint16_t port, Callback cb) {
  auto* q = new Impl::Query{impl_.get(), impl_->next_id++, port, host, std::move(cb)};
  impl_->queries[q->id] = q;
  const uint64_t id = q->id;
  ares_addrinfo_hints hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = ARES_AI_NOSORT;
  ares_getaddrinfo(impl_->channel, host.c_str(), nullptr, &hints, &Impl::on_result, q);
  impl_->arm_timer();
  return id;
}

void Resolver::cancel(uint64_t id) {
  auto it = impl_->queries.find(id);
  if (it != impl_->queries.end()) it->second->cancelled = true;
}

}  // namespace nexus::net::egress
