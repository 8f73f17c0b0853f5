// SPDX-License-Identifier: Apache-2.0
// Control socket client.
#include "daemon/microvm/control_client.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

#include <fmt/format.h>

#include "common/unique_fd.hpp"

namespace nexus::microvm {
namespace {

using Clock = std::chrono::steady_clock;

int ms_left(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left > 0 ? static_cast<int>(left) : 0;
}

Result<void> wait_for(int fd, short events, Clock::time_point deadline, const std::string& what) {
  for (;;) {
    pollfd p{fd, events, 0};
    int n = ::poll(&p, 1, ms_left(deadline));
    if (n > 0) return {};
    if (n == 0) return fail(Errc::timeout, fmt::format("{}: no answer in time", what));
    if (errno != EINTR) return fail_errno(what);
  }
}

}  // namespace

Result<Json> control_request(const std::string& path, const Json& request, uint64_t timeout_ms) {
  std::string op = request.is_object() && request.contains("op") && request["op"].is_string()
                       ? request["op"].get<std::string>() : "request";
  std::string what = fmt::format("VMM control '{}' on '{}'", op, path);
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) return fail(Errc::invalid_argument, what + ": socket path too long");
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return fail_errno(what + ": socket");
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (errno == ENOENT || errno == ECONNREFUSED)
      return fail(Errc::unavailable, fmt::format("{}: {}", what, std::strerror(errno)));
    if (errno != EINPROGRESS && errno != EAGAIN) return fail_errno(what + ": connect");
    NEXUS_TRY(wait_for(fd.get(), POLLOUT, deadline, what));
  }
  std::string line = dump_json(request) + "\n";
  size_t sent = 0;
  while (sent < line.size()) {
    ssize_t n = ::send(fd.get(), line.data() + sent, line.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      NEXUS_TRY(wait_for(fd.get(), POLLOUT, deadline, what));
      continue;
    }
    return fail(Errc::unavailable, fmt::format("{}: sending: {}", what, std::strerror(errno)));
  }
  std::string reply;
  for (;;) {
    size_t nl = reply.find('\n');
    if (nl != std::string::npos) {
      reply.resize(nl);
      break;
    }
    if (reply.size() > kMaxControlReply) return fail(Errc::protocol, what + ": reply line too long");
    NEXUS_TRY(wait_for(fd.get(), POLLIN, deadline, what));
    char buf[4096];
    ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) return fail(Errc::unavailable, fmt::format("{}: {}", what, std::strerror(errno)));
    if (n == 0) return fail(Errc::unavailable, what + ": the VMM closed the connection without a reply");
    reply.append(buf, static_cast<size_t>(n));
  }
  auto j = parse_json(reply);
  if (!j || !j->is_object()) return fail(Errc::protocol, what + ": the reply is not a JSON object");
  auto ok = j->find("ok");
  if (ok == j->end() || !ok->is_boolean()) return fail(Errc::protocol, what + ": the reply has no 'ok'");
  if (!ok->get<bool>()) {
    auto err = json_string(*j, "error");
    return fail(Errc::conflict, fmt::format("{}: {}", what, err && !err->empty() ? *err : "refused"));
  }
  return *j;
}

}  // namespace nexus::microvm
