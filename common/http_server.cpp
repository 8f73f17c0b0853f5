// SPDX-License-Identifier: Apache-2.0
// http::Server: listening sockets (Unix, TCP, inherited fd) and the set of connections.
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <unordered_set>
#include <vector>

#include <fmt/format.h>

#include "common/http.hpp"
#include "common/http_connection.hpp"
#include "common/http_internal.hpp"

namespace nexus::http {

struct Server::Impl final : detail::ConnectionOwner {
  /// A listening handle; freed in its uv_close callback.
  struct Listener {
    detail::AnyStream h{};
    Impl* impl = nullptr;
    bool is_pipe = false;
  };

  Impl(uv::Loop& l, ServerOptions o, Handler h)
      : loop(l), options(o), handler(std::make_shared<const Handler>(std::move(h))) {}

  ~Impl() override {
    close_listeners();
    auto conns_copy = conns;
    conns.clear();
    for (auto* c : conns_copy) {
      c->set_owner(nullptr);
      c->close_now();
    }
  }

  void dispatch(std::shared_ptr<Exchange> exchange) override {
    auto h = handler;  // the handler may destroy the server
    if (*h) (*h)(std::move(exchange));
  }

  void connection_closed(detail::Connection* conn) override { conns.erase(conn); }

  Listener* new_listener(bool is_pipe) {
    auto* l = new Listener;
    l->impl = this;
    l->is_pipe = is_pipe;
    if (is_pipe) {
      NEXUS_CHECK(uv_pipe_init(loop.get(), &l->h.pipe, 0) == 0);
    } else {
      NEXUS_CHECK(uv_tcp_init(loop.get(), &l->h.tcp) == 0);
    }
    l->h.handle.data = l;
    return l;
  }

  static void close_listener(Listener* l) {
    l->impl = nullptr;
    uv_close(&l->h.handle, [](uv_handle_t* h) { delete static_cast<Listener*>(h->data); });
  }

  void close_listeners() {
    for (auto* l : listeners) close_listener(l);
    listeners.clear();
  }

  Result<void> start_listening(Listener* l, const std::string& what) {
    int rc = uv_listen(&l->h.stream, 511, &Impl::on_connection);
    if (rc != 0) {
      close_listener(l);
      return fail_errno(-rc, "listening on " + what);
    }
    listeners.push_back(l);
    closed = false;
    return {};
  }

  static uint16_t local_port(int fd) {
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
    if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
    return 0;
  }

  static void on_connection(uv_stream_t* server, int status) {
    auto* l = static_cast<Listener*>(server->data);
    if (status < 0 || !l->impl) return;
    Impl* self = l->impl;
    auto conn = detail::Connection::create(self->loop, self->options, l->is_pipe);
    if (uv_accept(server, conn->stream()) != 0) {
      conn->close_now();
      return;
    }
    if (self->closed || self->conns.size() >= self->options.max_connections) {
      conn->close_now();  // over the limit: an immediate close
      return;
    }
    self->conns.insert(conn.get());
    conn->set_owner(self);
    conn->start();
  }

  uv::Loop& loop;
  ServerOptions options;
  std::shared_ptr<const Handler> handler;
  std::vector<Listener*> listeners;
  std::unordered_set<detail::Connection*> conns;  // each Connection owns itself
  uint16_t port = 0;
  bool closed = false;
};

Server::Server(uv::Loop& loop, ServerOptions options, Handler handler)
    : impl_(std::make_unique<Impl>(loop, options, std::move(handler))) {}

Server::~Server() = default;

Result<void> Server::listen_unix(const std::string& path, unsigned mode) {
  if (path.empty() || path.size() >= sizeof(sockaddr_un::sun_path)) {
    return fail(Errc::invalid_argument, fmt::format("socket path '{}' is empty or too long", path));
  }
  struct stat st {};
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return fail(Errc::already_exists, fmt::format("{} exists and is not a socket", path));
    }
    if (unlink(path.c_str()) != 0) return fail_errno(fmt::format("removing old socket {}", path));
  }
  auto* l = impl_->new_listener(true);
  if (int rc = uv_pipe_bind(&l->h.pipe, path.c_str()); rc != 0) {
    Impl::close_listener(l);
    return fail_errno(-rc, fmt::format("binding {}", path));
  }
  if (chmod(path.c_str(), mode) != 0) {
    int err = errno;
    Impl::close_listener(l);
    return fail_errno(err, fmt::format("chmod {}", path));
  }
  return impl_->start_listening(l, path);
}

Result<void> Server::listen_tcp(const std::string& host, uint16_t port) {
  sockaddr_storage addr{};
  NEXUS_TRY(detail::resolve_host(host, port, &addr));
  std::string what = fmt::format("{}:{}", host, port);
  auto* l = impl_->new_listener(false);
  if (int rc = uv_tcp_bind(&l->h.tcp, reinterpret_cast<const sockaddr*>(&addr), 0); rc != 0) {
    Impl::close_listener(l);
    return fail_errno(-rc, "binding " + what);
  }
  NEXUS_TRY(impl_->start_listening(l, what));
  uv_os_fd_t fd = -1;
  if (uv_fileno(&l->h.handle, &fd) == 0) impl_->port = Impl::local_port(fd);
  return {};
}

Result<void> Server::listen_fd(UniqueFd fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getsockname(fd.get(), reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return fail_errno(fmt::format("inspecting listening fd {}", fd.get()));
  }
  bool is_pipe = ss.ss_family == AF_UNIX;
  std::string what = fmt::format("fd {}", fd.get());
  auto* l = impl_->new_listener(is_pipe);
  int rc = is_pipe ? uv_pipe_open(&l->h.pipe, fd.get()) : uv_tcp_open(&l->h.tcp, fd.get());
  if (rc != 0) {
    Impl::close_listener(l);
    return fail_errno(-rc, "adopting listening " + what);
  }
  int raw = fd.release();  // the handle owns it now
  NEXUS_TRY(impl_->start_listening(l, what));
  if (!is_pipe) impl_->port = Impl::local_port(raw);
  return {};
}

uint16_t Server::bound_port() const { return impl_->port; }

void Server::close() {
  impl_->closed = true;
  impl_->close_listeners();
  auto conns_copy = impl_->conns;
  for (auto* c : conns_copy) {
    if (impl_->conns.count(c)) c->close_when_idle();
  }
}

size_t Server::connection_count() const { return impl_->conns.size(); }

}  // namespace nexus::http
