// SPDX-License-Identifier: Apache-2.0
// Parsing and reading the `CONNECT <port>` line, and the `OK <port>` reply.
#include "vmm/vsock/connect_line.hpp"

#include <sys/socket.h>

#include <cerrno>

namespace nexus::vmm::vsock {
namespace {

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

}  // namespace

Result<uint32_t> parse_connect_line(std::string_view line) {
  constexpr std::string_view kKeyword = "connect";
  auto bad = [] { return fail(Errc::protocol, "malformed CONNECT line"); };
  if (line.size() < kKeyword.size()) return bad();
  for (size_t i = 0; i < kKeyword.size(); ++i)
    if (lower(line[i]) != kKeyword[i]) return bad();
  size_t pos = kKeyword.size();
  size_t blanks = pos;
  while (pos < line.size() && (line[pos] == ' ' || line[pos] == '\t')) ++pos;
  if (pos == blanks) return bad();
  uint64_t port = 0;
  size_t digits = pos;
  while (pos < line.size() && line[pos] >= '0' && line[pos] <= '9') {
    port = port * 10 + static_cast<uint64_t>(line[pos] - '0');
    if (port >= UINT32_MAX) return fail(Errc::protocol, "CONNECT port out of range");
    ++pos;
  }
  if (pos == digits) return bad();
  while (pos < line.size() && is_blank(line[pos])) ++pos;
  if (pos != line.size()) return bad();
  return static_cast<uint32_t>(port);
}

std::string format_ok_line(uint32_t local_port) {
  return "OK " + std::to_string(local_port) + "\n";
}

Result<std::optional<uint32_t>> ConnectLineReader::read_from(int fd) {
  char buf[kMaxConnectLine];
  for (;;) {
    size_t room = kMaxConnectLine - line_.size();
    ssize_t n = ::recv(fd, buf, room, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return std::nullopt;
      return fail_errno("reading the CONNECT line");
    }
    if (n == 0) return fail(Errc::protocol, "connection closed before the CONNECT line");
    std::string_view peeked(buf, static_cast<size_t>(n));
    size_t nl = peeked.find('\n');
    size_t take = nl == std::string_view::npos ? peeked.size() : nl + 1;
    // Consume exactly what was peeked up to the newline; the socket has no other reader.
    ssize_t got = ::recv(fd, buf, take, MSG_DONTWAIT);
    if (got < 0) return fail_errno("reading the CONNECT line");
    if (got != static_cast<ssize_t>(take)) return fail(Errc::internal, "CONNECT line shrank");
    if (nl == std::string_view::npos) {
      line_.append(buf, take);
      if (line_.size() >= kMaxConnectLine) return fail(Errc::too_large, "CONNECT line too long");
      continue;  // maybe more is there already
    }
    line_.append(buf, nl);
    auto port = parse_connect_line(line_);
    if (!port) return fail(std::move(port).error());
    return std::optional<uint32_t>(*port);
  }
}

}  // namespace nexus::vmm::vsock
