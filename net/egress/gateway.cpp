// SPDX-License-Identifier: Apache-2.0
// The gateway's thread, loop and listeners. The connections themselves: connection.cpp.
#include "net/egress/gateway.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include "common/unique_fd.hpp"
#include "net/egress/gateway_internal.hpp"

namespace nexus::net::egress {
namespace {

Result<UniqueFd> listen_on(const std::string& text) {
  auto ep = Endpoint::parse(text);
  if (!ep) return fail(Errc::invalid_argument, fmt::format("egress gateway: '{}' is not ip:port", text));
  UniqueFd fd(::socket(ep->family == 4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return fail_errno(fmt::format("egress gateway: socket for {}", text));
  int one = 1;
  (void)::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  // [::] beside 0.0.0.0 on the same port: the IPv6 socket takes IPv6 only.
  if (ep->family == 6) (void)::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  socklen_t len = 0;
  sockaddr_storage ss = ep->to_sockaddr(&len);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0)
    return fail_errno(fmt::format("egress gateway: binding {}", text));
  if (::listen(fd.get(), 1024) != 0) return fail_errno(fmt::format("egress gateway: listening on {}", text));
  return fd;
}

Result<void> add_listener(Gateway::Impl* gw, UniqueFd fd, bool tls) {
  auto l = std::make_unique<Listener>();
  l->gw = gw;
  l->tls = tls;
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&ss), &len) != 0)
    return fail_errno("egress gateway: getsockname of a listening socket");
  auto ep = Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss));
  if (!ep) return fail(Errc::invalid_argument, "egress gateway: a listening socket is not TCP/IP");
  l->bound = *ep;
  uv_tcp_init(&gw->loop, &l->handle);
  l->handle.data = l.get();
  int fdv = fd.release();
  if (int rc = uv_tcp_open(&l->handle, fdv); rc != 0) {
    ::close(fdv);
    return fail(Errc::internal, fmt::format("egress gateway: uv_tcp_open: {}", uv_strerror(rc)));
  }
  int rc = uv_listen(reinterpret_cast<uv_stream_t*>(&l->handle), 1024, [](uv_stream_t* s, int status) {
    if (status < 0) return;  // EMFILE and the like: the next accept may work
    accept_connection(static_cast<Listener*>(s->data));
  });
  if (rc != 0) return fail(Errc::internal, fmt::format("egress gateway: listen on {}: {}", ep->to_string(), uv_strerror(rc)));
  gw->listeners.push_back(std::move(l));
  return {};
}

}  // namespace

Gateway::Gateway(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<Gateway>> Gateway::start(GatewayConfig cfg, std::shared_ptr<SandboxDirectory> sandboxes,
                                                std::shared_ptr<AuditSink> audit) {
  if (cfg.state_dir.empty()) return fail(Errc::invalid_argument, "egress gateway: state_dir is empty");
  auto impl = std::make_unique<Impl>(std::move(cfg));
  impl->sandboxes = sandboxes ? std::move(sandboxes) : std::make_shared<SandboxDirectory>();
  impl->audit = std::move(audit);
  impl->global = std::make_shared<const GlobalPolicy>();
  auto ca = CertAuthority::load_or_create(impl->cfg.state_dir);
  if (!ca) return fail(std::move(ca.error()).wrap("egress gateway"));
  impl->ca = std::move(*ca);
  auto ctx = make_client_context(impl->cfg.upstream_ca_file);
  if (!ctx) return fail(std::move(ctx.error()).wrap("egress gateway"));
  impl->upstream_ctx = std::move(*ctx);

  // Bind before anything else so a taken port is reported here, not in a log later.
  std::vector<std::pair<UniqueFd, bool>> fds;
  for (int fd : impl->cfg.http_fds) fds.emplace_back(UniqueFd(fd), false);
  for (int fd : impl->cfg.tls_fds) fds.emplace_back(UniqueFd(fd), true);
  for (const auto& a : impl->cfg.http_listen) {
    auto fd = listen_on(a);
    if (!fd) return fail(fd.error());
    fds.emplace_back(std::move(*fd), false);
  }
  for (const auto& a : impl->cfg.tls_listen) {
    auto fd = listen_on(a);
    if (!fd) return fail(fd.error());
    fds.emplace_back(std::move(*fd), true);
  }
  if (fds.empty()) return fail(Errc::invalid_argument, "egress gateway: nothing to listen on");

  if (int rc = uv_loop_init(&impl->loop); rc != 0)
    return fail(Errc::internal, fmt::format("egress gateway: uv_loop_init: {}", uv_strerror(rc)));
  Impl* raw = impl.get();
  uv_async_init(&impl->loop, &impl->stop_async, [](uv_async_t* a) {
    auto* gw = static_cast<Impl*>(a->data);
    gw->stopping = true;
    for (auto& l : gw->listeners) uv_close(reinterpret_cast<uv_handle_t*>(&l->handle), nullptr);
    close_all_connections(gw);
    gw->resolver.reset();
    uv_close(reinterpret_cast<uv_handle_t*>(&gw->stop_async), nullptr);
  });
  impl->stop_async.data = raw;
  auto fail_cleanup = [&](Error e) -> tl::unexpected<Error> {
    for (auto& l : raw->listeners) uv_close(reinterpret_cast<uv_handle_t*>(&l->handle), nullptr);
    raw->resolver.reset();
    uv_close(reinterpret_cast<uv_handle_t*>(&raw->stop_async), nullptr);
    uv_run(&raw->loop, UV_RUN_DEFAULT);
    (void)uv_loop_close(&raw->loop);
    return fail(std::move(e));
  };
  auto resolver = Resolver::create(&impl->loop, impl->cfg.dns);
  if (!resolver) return fail_cleanup(std::move(resolver.error()).wrap("egress gateway"));
  impl->resolver = std::move(*resolver);
  for (auto& [fd, tls] : fds)
    if (auto r = add_listener(raw, std::move(fd), tls); !r) return fail_cleanup(std::move(r.error()));
  impl->thread = std::thread([raw] {
    uv_run(&raw->loop, UV_RUN_DEFAULT);
  });
  return std::unique_ptr<Gateway>(new Gateway(std::move(impl)));
}

Gateway::~Gateway() {
  if (impl_->thread.joinable()) {
    uv_async_send(&impl_->stop_async);
    impl_->thread.join();
    (void)uv_loop_close(&impl_->loop);
  }
}

void Gateway::set_ready(bool ready) { impl_->ready = ready; }
bool Gateway::ready() const { return impl_->ready; }

void Gateway::set_global_policy(GlobalPolicy policy) {
  auto p = std::make_shared<const GlobalPolicy>(std::move(policy));
  std::lock_guard lock(impl_->policy_mu);
  impl_->global = std::move(p);
}

GlobalPolicy Gateway::global_policy() const { return *impl_->global_snapshot(); }
SandboxDirectory& Gateway::sandboxes() { return *impl_->sandboxes; }
const std::string& Gateway::ca_certificate_pem() const { return impl_->ca->certificate_pem(); }

std::vector<Endpoint> Gateway::http_endpoints() const {
  std::vector<Endpoint> out;
  for (const auto& l : impl_->listeners)
    if (!l->tls) out.push_back(l->bound);
  return out;
}

std::vector<Endpoint> Gateway::tls_endpoints() const {
  std::vector<Endpoint> out;
  for (const auto& l : impl_->listeners)
    if (l->tls) out.push_back(l->bound);
  return out;
}

const EgressStats& Gateway::stats() const { return impl_->stats; }
EgressStats& Gateway::stats() { return impl_->stats; }
size_t Gateway::active_connections() const { return impl_->active; }

Json Gateway::stats_json() const {
  Json j = impl_->stats.to_json();
  j["active_connections"] = impl_->active.load();
  j["ready"] = impl_->ready.load();
  return j;
}

}  // namespace nexus::net::egress
