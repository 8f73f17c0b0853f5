// SPDX-License-Identifier: Apache-2.0
// E2B endpoint: listening and dispatch.
#include "daemon/e2b_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>

#include <fmt/format.h>

#include "common/strings.hpp"

namespace nexus::daemon {
namespace {

http::ServerOptions e2b_server_options() {
  http::ServerOptions o;
  o.max_body_bytes = 1024 * 1024;         // control-plane bodies; proxied bodies are streamed
  o.idle_timeout_ms = 65 * 1000;          // longer than undici's 4 s pool idle time (0.2)
  // A proxied connection holds two descriptors (client and agent): leave room for the
  // database, sandboxes and the native API under the open-file limit.
  rlimit nofile{};
  if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY)
    o.max_connections = static_cast<size_t>(std::clamp<rlim_t>((nofile.rlim_cur - 512) / 3, 64, 65536));
  return o;
}

std::string url_for(const std::string& host, uint16_t port) {
  bool v6 = host.find(':') != std::string::npos;
  return fmt::format("http://{}{}{}:{}", v6 ? "[" : "", host, v6 ? "]" : "", port);
}

}  // namespace

Result<std::pair<std::string, uint16_t>> parse_listen_address(const std::string& address) {
  auto bad = [&] {
    return fail(Errc::invalid_argument, fmt::format("invalid address '{}': expected HOST:PORT, e.g. 127.0.0.1:49982", address));
  };
  size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) return bad();
  std::string host = address.substr(0, colon);
  if (host.front() == '[') {
    if (host.back() != ']') return bad();
    host = host.substr(1, host.size() - 2);
  }
  auto port = parse_int(std::string_view(address).substr(colon + 1));
  if (!port || *port < 0 || *port > 65535) return bad();
  unsigned char buf[sizeof(in6_addr)];
  if (host != "localhost" && inet_pton(AF_INET, host.c_str(), buf) != 1 && inet_pton(AF_INET6, host.c_str(), buf) != 1)
    return bad();
  if (host == "localhost") host = "127.0.0.1";
  return std::pair<std::string, uint16_t>(host, static_cast<uint16_t>(*port));
}

E2bServer::E2bServer(uv::Loop& loop, SandboxManager& mgr, KeyService& keys)
    : control_(mgr, keys), proxy_(loop, mgr),
      server_(loop, e2b_server_options(), [this](std::shared_ptr<http::Exchange> ex) { handle(std::move(ex)); }) {}

Result<void> E2bServer::listen(const std::string& host, uint16_t port) {
  if (auto r = server_.listen_tcp(host, port); !r)
    return fail(std::move(r.error()).wrap(fmt::format("E2B endpoint on {}", url_for(host, port))));
  url_ = url_for(host, server_.bound_port());
  control_.set_domain(fmt::format("localhost:{}", server_.bound_port()));
  return {};
}

Result<void> E2bServer::listen_fd(UniqueFd fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&ss), &len) != 0)
    return fail_errno("getsockname on the activated E2B socket");
  char host[INET6_ADDRSTRLEN] = "";
  uint16_t port = 0;
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    port = ntohs(a->sin6_port);
  } else {
    return fail(Errc::invalid_argument, "the activated E2B socket is not a TCP socket");
  }
  NEXUS_TRY(server_.listen_fd(std::move(fd)));
  std::string h = host;
  if (h == "0.0.0.0" || h == "::") h = "127.0.0.1";
  url_ = url_for(h, port);
  control_.set_domain(fmt::format("localhost:{}", port));
  return {};
}

void E2bServer::handle(std::shared_ptr<http::Exchange> ex) {
  auto id = ex->request().headers.get("E2b-Sandbox-Id");
  std::string sandbox = id ? std::string(*id) : std::string();
  // Signed /files URLs work even when fetched plainly, without the routing header.
  if (E2bProxy::is_signed(ex->request())) return proxy_.handle_signed(std::move(ex), sandbox);
  if (!sandbox.empty()) return proxy_.handle(std::move(ex), sandbox);
  // "PORT-SANDBOX.anything" as Host (E2B's getHost(port); browsers and curl resolve
  // *.localhost to loopback by themselves): that port of that sandbox.
  if (auto host = ex->request().headers.get("Host")) {
    std::string_view h = *host;
    auto dash = h.find('-'), dot = h.find('.');
    if (dash != std::string_view::npos && dot != std::string_view::npos && dash < dot && dash > 0 &&
        h.substr(dash + 1, 3) == "sb_") {
      std::string port(h.substr(0, dash));
      std::string target(h.substr(dash + 1, dot - dash - 1));
      if (parse_int(port)) return proxy_.handle(std::move(ex), target, {}, port);
    }
  }
  control_.handle(std::move(ex));
}

}  // namespace nexus::daemon
