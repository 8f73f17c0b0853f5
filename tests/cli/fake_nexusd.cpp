// SPDX-License-Identifier: Apache-2.0
// The fake nexusd: accept, read one request, write the canned answer, close.
#include "fake_nexusd.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

namespace nexus::cli::test {

namespace {

void send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return;
    data.remove_prefix(static_cast<size_t>(n));
  }
}

std::string reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 404: return "Not Found";
    case 409: return "Conflict";
    default: return "Status";
  }
}

}  // namespace

FakeNexusd::FakeNexusd(std::string socket_path, Handler handler)
    : path_(std::move(socket_path)), handler_(std::move(handler)) {
  ::unlink(path_.c_str());
  listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path_.c_str(), sizeof addr.sun_path - 1);
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 16) != 0)
    throw std::runtime_error("fake nexusd: cannot listen on " + path_);
  thread_ = std::thread([this] { serve(); });
}

FakeNexusd::~FakeNexusd() {
  stop_ = true;
  thread_.join();
  ::close(listen_fd_);
  ::unlink(path_.c_str());
}

std::vector<SeenRequest> FakeNexusd::requests() {
  std::lock_guard lock(mutex_);
  return seen_;
}

Reply FakeNexusd::json(int status, const std::string& body) {
  return {fmt::format("HTTP/1.1 {} {}\r\nContent-Type: application/json\r\n"
                      "Content-Length: {}\r\nConnection: close\r\n\r\n{}",
                      status, reason(status), body.size(), body)};
}

Reply FakeNexusd::chunked(int status, const std::vector<std::string>& pieces) {
  Reply reply = {fmt::format("HTTP/1.1 {} {}\r\nContent-Type: application/x-ndjson\r\n"
                             "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
                             status, reason(status))};
  for (const std::string& p : pieces) reply.push_back(fmt::format("{:x}\r\n{}\r\n", p.size(), p));
  reply.push_back("0\r\n\r\n");
  return reply;
}

void FakeNexusd::serve() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0) continue;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    handle(fd);
    ::close(fd);
  }
}

void FakeNexusd::handle(int fd) {
  std::string data;
  char buf[4096];
  size_t header_end = std::string::npos;
  size_t content_length = 0;
  for (;;) {
    if (header_end != std::string::npos && data.size() >= header_end + 4 + content_length) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 2000) <= 0) return;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return;
    data.append(buf, static_cast<size_t>(n));
    if (header_end == std::string::npos) header_end = data.find("\r\n\r\n");
    if (header_end != std::string::npos && content_length == 0) {
      std::string head = data.substr(0, header_end);
      for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (auto cl = head.find("content-length:"); cl != std::string::npos)
        content_length = std::stoul(head.substr(cl + 15));
    }
  }
  SeenRequest req;
  size_t sp1 = data.find(' ');
  size_t sp2 = data.find(' ', sp1 + 1);
  req.method = data.substr(0, sp1);
  req.target = data.substr(sp1 + 1, sp2 - sp1 - 1);
  req.body = data.substr(header_end + 4, content_length);
  {
    std::lock_guard lock(mutex_);
    seen_.push_back(req);
  }
  Reply reply = handler_(req);
  for (size_t i = 0; i < reply.size(); ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    send_all(fd, reply[i]);
  }
}

}  // namespace nexus::cli::test
