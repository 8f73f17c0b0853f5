// SPDX-License-Identifier: Apache-2.0
#include "vmm/core/control.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "vmm/unix_socket.hpp"

namespace nexus::vmm {
namespace {
constexpr size_t kMaxLine = 4096;
constexpr size_t kMaxConnections = 8;
}  // namespace

Result<UniqueFd> ControlServer::bind(const std::string& path) {
  return listen_unix(path, 8, "control socket");
}

ControlServer::ControlServer(EventLoop& loop, UniqueFd listener, Handler handler)
    : loop_(loop), listener_(std::move(listener)), handler_(std::move(handler)) {}

ControlServer::~ControlServer() {
  for (auto& [fd, c] : conns_) loop_.remove(fd);
  if (listener_) loop_.remove(listener_.get());
}

Result<void> ControlServer::start() {
  return loop_.add(listener_.get(), EPOLLIN, [this](uint32_t) { accept_one(); });
}

void ControlServer::accept_one() {
  UniqueFd fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
  if (!fd) return;
  if (conns_.size() >= kMaxConnections) return;  // closed on scope exit
  int raw = fd.get();
  auto c = std::make_shared<Conn>();
  c->fd = std::move(fd);
  if (!loop_.add(raw, EPOLLIN | EPOLLRDHUP, [this, raw](uint32_t) { on_readable(raw); })) return;
  conns_[raw] = std::move(c);
}

void ControlServer::close_conn(int fd) {
  loop_.remove(fd);
  conns_.erase(fd);
}

void ControlServer::on_readable(int fd) {
  auto it = conns_.find(fd);
  if (it == conns_.end()) return;
  std::shared_ptr<Conn> c = it->second;
  char buf[1024];
  ssize_t n = ::read(fd, buf, sizeof buf);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return close_conn(fd);
  if (n < 0) return;
  c->in.append(buf, static_cast<size_t>(n));
  size_t nl;
  while ((nl = c->in.find('\n')) != std::string::npos) {
    std::string line = c->in.substr(0, nl);
    c->in.erase(0, nl + 1);
    // The reply may outlive this connection (the peer can go away while a pause completes).
    std::weak_ptr<Conn> weak = c;
    Reply reply = [weak](const Json& j) {
      auto conn = weak.lock();
      if (!conn || !conn->fd) return;
      std::string out = dump_json(j) + "\n";
      // Replies are tiny; a peer that does not read them loses them.
      (void)!::send(conn->fd.get(), out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    };
    auto req = parse_json(line);
    if (!req || !req->is_object()) {
      reply(Json{{"ok", false}, {"error", "request must be one JSON object per line"}});
      continue;
    }
    handler_(*req, std::move(reply));
  }
  if (c->in.size() > kMaxLine) {
    Json j{{"ok", false}, {"error", "request line too long"}};
    std::string out = dump_json(j) + "\n";
    (void)!::send(fd, out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    close_conn(fd);
  }
}

}  // namespace nexus::vmm
