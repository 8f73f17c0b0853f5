// SPDX-License-Identifier: Apache-2.0
// Helpers for the HTTP tests: loop polling, a blocking raw-socket client and server.
#include "tests/common/test_http_support.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <thread>

#include <fmt/format.h>

namespace nexus::http_test {

bool run_until(uv::Loop& loop, const std::function<bool()>& done,
               std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    loop.run_nowait();
    if (!done()) std::this_thread::sleep_for(200us);
  }
  return true;
}

std::string temp_socket_path() {
  static std::atomic<int> n{0};
  return fmt::format("/tmp/nexus-http-test-{}-{}.sock", getpid(), n++);
}

int raw_connect(const Target& t) {
  int fd = -1;
  int rc = -1;
  if (!t.unix_path.empty()) {
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, t.unix_path.c_str(), sizeof(addr.sun_path) - 1);
    rc = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  } else {
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(t.port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    rc = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  }
  if (rc != 0) {
    close(fd);
    return -1;
  }
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  return fd;
}

void raw_send(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return;
    data.remove_prefix(static_cast<size_t>(n));
  }
}

std::string raw_read_all(int fd) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

std::string raw_read_until(int fd, std::string_view needle) {
  std::string out;
  char buf[4096];
  while (out.find(needle) == std::string::npos) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return {};
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

std::string raw_read_response(int fd, std::string& carry) {
  char buf[65536];
  auto fill = [&] {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) return false;
    carry.append(buf, static_cast<size_t>(n));
    return true;
  };
  size_t head_end;
  while ((head_end = carry.find("\r\n\r\n")) == std::string::npos) {
    if (!fill()) return {};
  }
  size_t length = 0;
  std::string head = carry.substr(0, head_end);
  if (auto p = head.find("Content-Length: "); p != std::string::npos) {
    length = std::stoul(head.substr(p + 16));
  }
  size_t total = head_end + 4 + length;
  while (carry.size() < total) {
    if (!fill()) return {};
  }
  std::string response = carry.substr(0, total);
  carry.erase(0, total);
  return response;
}

std::string raw_roundtrip(const Target& t, std::string request) {
  int fd = raw_connect(t);
  if (fd < 0) return "connect failed";
  raw_send(fd, request);
  std::string out = raw_read_all(fd);
  close(fd);
  return out;
}

std::future<std::string> raw_server_once(const std::string& path, std::string response) {
  int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  unlink(path.c_str());
  if (bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(lfd, 4) != 0) {
    close(lfd);
    throw std::runtime_error("raw server: bind/listen failed");
  }
  return std::async(std::launch::async, [lfd, response = std::move(response)] {
    int fd = accept(lfd, nullptr, nullptr);
    close(lfd);
    if (fd < 0) return std::string("accept failed");
    timeval tv{10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    std::string head = raw_read_until(fd, "\r\n\r\n");
    raw_send(fd, response);
    close(fd);
    return head;
  });
}

std::string body_of(const std::string& response) {
  auto p = response.find("\r\n\r\n");
  return p == std::string::npos ? std::string() : response.substr(p + 4);
}

std::string pattern(size_t n) {
  std::string s(n, '\0');
  uint32_t x = 12345;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1103515245u + 12345u;
    s[i] = static_cast<char>('a' + (x >> 16) % 26);
  }
  return s;
}

}  // namespace nexus::http_test
