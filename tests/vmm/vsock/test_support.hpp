// SPDX-License-Identifier: Apache-2.0
// Catch2 helpers for the vsock tests: an inbox of RX packets, the host-initiated handshake,
// non-blocking host writes, and test data.
#pragma once

#include <catch.hpp>

#include <fcntl.h>

#include <deque>
#include <optional>
#include <string>

#include "tests/vmm/vsock/vsock_rig.hpp"

namespace nexus::vmm::vsock::testing {

/// RX packets in arrival order, pulled from the rig as the loop runs.
class Inbox {
 public:
  explicit Inbox(VsockRig& rig) : rig_(rig) {}
  void pull() {
    for (auto& p : rig_.take_rx()) packets.push_back(std::move(p));
  }
  /// The next packet (running the loop up to timeout_ms for it).
  std::optional<RxPacket> next(int timeout_ms = 3000) {
    rig_.run_until(
        [&] {
          pull();
          return !packets.empty();
        },
        timeout_ms);
    if (packets.empty()) return std::nullopt;
    RxPacket p = std::move(packets.front());
    packets.pop_front();
    return p;
  }
  /// Run the loop for `ms` and report whether any packet arrived.
  bool quiet_for(int ms) {
    rig_.run_for(ms);
    pull();
    return packets.empty();
  }
  std::deque<RxPacket> packets;

 private:
  VsockRig& rig_;
};

inline std::string pattern(size_t n, size_t seed = 0) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + seed) % 26);
  return s;
}

inline void set_nonblocking(int fd) {
  int fl = ::fcntl(fd, F_GETFL);
  REQUIRE(::fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0);
}

/// Write as much of `pending` as the socket takes now.
inline void pump_write(int fd, std::string& pending) {
  while (!pending.empty()) {
    ssize_t n = ::send(fd, pending.data(), pending.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n <= 0) return;
    pending.erase(0, static_cast<size_t>(n));
  }
}

struct HostConn {
  UniqueFd fd;
  GuestConn g;
};

/// The host connects with `CONNECT <guest_port>`, the guest accepts (RESPONSE), the host
/// reads `OK <host_port>`. RX buffers must be posted.
inline HostConn connect_host(VsockRig& rig, Inbox& in, uint32_t guest_port,
                             uint32_t guest_buf_alloc = 256 * 1024) {
  HostConn c;
  c.fd = unix_connect(rig.path);
  REQUIRE(c.fd.valid());
  REQUIRE(write_all(c.fd.get(), "CONNECT " + std::to_string(guest_port) + "\n"));
  auto req = in.next();
  REQUIRE(req.has_value());
  REQUIRE(req->h.op == kOpRequest);
  CHECK(req->h.src_cid == kHostCid);
  CHECK(req->h.dst_cid == VsockRig::kGuestCid);
  CHECK(req->h.type == kTypeStream);
  CHECK(req->h.dst_port == guest_port);
  CHECK(req->h.buf_alloc == kConnBufAlloc);
  CHECK(req->h.src_port >= (1u << 30));
  c.g.port = guest_port;
  c.g.host_port = req->h.src_port;
  c.g.buf_alloc = guest_buf_alloc;
  rig.send(VsockRig::guest_header(c.g, kOpResponse), "");
  HostReader r(c.fd.get());
  REQUIRE(rig.run_until([&] {
    r.poll();
    return r.data.find('\n') != std::string::npos || r.closed();
  }));
  REQUIRE(r.data == "OK " + std::to_string(c.g.host_port) + "\n");
  set_nonblocking(c.fd.get());
  return c;
}

/// Run the loop until the host socket is closed by the device (EOF or error).
inline bool host_closed(VsockRig& rig, int fd, std::string* seen = nullptr, int timeout_ms = 3000) {
  HostReader r(fd);
  bool ok = rig.run_until(
      [&] {
        r.poll();
        return r.closed();
      },
      timeout_ms);
  if (seen) *seen = r.data;
  return ok;
}

}  // namespace nexus::vmm::vsock::testing
