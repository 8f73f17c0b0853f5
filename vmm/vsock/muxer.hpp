// SPDX-License-Identifier: Apache-2.0
// Muxer: the host side of Firecracker's hybrid vsock — the listening Unix socket, host
// connections still sending their CONNECT line, the live connections keyed by
// (host port, guest port), Unix connects for guest-initiated streams, deadlines, and the
// queue of packets waiting for guest RX buffers.
//
// The device hands the muxer each checked packet from the guest (handle) and pulls packets
// for the guest from it (next_rx) when it has an RX chain. Host-side fds are watched on the
// EventLoop given to attach(); after any host-side event that may have produced work the
// muxer calls the `work` callback (the device then services its queues).
//
// Memory is bounded: at most max_connections connections and pending CONNECT lines together,
// each connection queued for RX at most once, and a bounded backlog of RSTs for packets that
// match no connection (the device stops taking TX chains while that backlog is full).
#pragma once

#include <sys/stat.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "common/result.hpp"
#include "common/unique_fd.hpp"
#include "vmm/event_loop.hpp"
#include "vmm/vsock/connect_line.hpp"
#include "vmm/vsock/connection.hpp"
#include "vmm/vsock/packet.hpp"

namespace nexus::vmm::vsock {

struct MuxerOptions {
  /// CONNECT line, the guest's answer to our REQUEST, and the final flush after the guest
  /// shut a connection down (Firecracker: 2000 ms each).
  std::chrono::milliseconds timeout{2000};
  /// Live connections plus host connections still sending their CONNECT line.
  size_t max_connections = 1023;
};

struct MuxerStats {
  uint64_t refused = 0;           ///< host connections closed at accept: too many
  uint64_t bad_connect_line = 0;  ///< host connections closed for a malformed or late line
  uint64_t rst_sent = 0;          ///< RSTs queued for the guest
  uint64_t rst_dropped = 0;       ///< RSTs not queued: the backlog hard limit was hit
  uint64_t timeouts = 0;          ///< connections ended by a deadline
};

class Muxer {
 public:
  /// Binds and listens on `uds_path` (a stale socket file there is removed first; any other
  /// file is an error). Nothing is watched until attach().
  static Result<std::unique_ptr<Muxer>> create(uint64_t guest_cid, std::string uds_path,
                                               MuxerOptions options = {});
  ~Muxer();
  Muxer(const Muxer&) = delete;
  Muxer& operator=(const Muxer&) = delete;

  int listen_fd() const noexcept { return listen_.get(); }
  const std::string& uds_path() const noexcept { return uds_path_; }

  /// Watch the listening socket (connections waiting in its backlog are accepted now) and
  /// every later host-side fd on `loop`, calling `work` after host-side events.
  Result<void> attach(EventLoop& loop, std::function<void()> work);
  /// Close every connection, drop every queued packet and stop watching (listening socket
  /// stays bound and open).
  void detach();
  /// Close every connection and pending CONNECT and drop queued packets; stay attached.
  void clear();

  /// A packet from the guest that passed check_tx_header.
  void handle(const PacketHeader& h, std::span<const uint8_t> payload);
  /// A malformed packet: RST to its ports (unless it is an RST) and close any connection
  /// using them.
  void reject(const PacketHeader& h);
  /// The RST backlog is full: take no more packets from the guest until RX drains it.
  bool backlog_full() const noexcept { return rst_queue_.size() >= kRstBacklog; }

  /// A packet is (or may be) waiting for the guest.
  bool has_rx() const noexcept { return !rst_queue_.empty() || !rx_keys_.empty(); }
  /// The next packet for the guest, payload at most `max_payload` bytes. False: nothing to
  /// send after all (the RX chain was not needed).
  bool next_rx(PacketHeader& h, std::vector<uint8_t>& payload, size_t max_payload);

  size_t connection_count() const noexcept { return conns_.size(); }
  size_t pending_count() const noexcept { return pending_.size(); }
  const Connection* find(ConnKey key) const;
  const MuxerStats& stats() const noexcept { return stats_; }

  /// RSTs queued beyond this stop TX processing; the hard limit is this plus
  /// max_connections (one per connection killed meanwhile).
  static constexpr size_t kRstBacklog = 256;

 private:
  struct Entry {
    explicit Entry(Connection c) : conn(std::move(c)) {}
    Connection conn;
    bool queued = false;  ///< in rx_keys_
    bool watched = false;
    uint32_t events = 0;
    std::optional<std::chrono::steady_clock::time_point> deadline;
  };
  struct Pending {
    UniqueFd fd;
    ConnectLineReader reader;
    std::chrono::steady_clock::time_point deadline;
  };
  using ConnMap = std::map<ConnKey, Entry>;

  Muxer(uint64_t guest_cid, std::string uds_path, MuxerOptions options);

  void on_listen_ready();
  void on_pending_ready(int fd);
  void on_conn_ready(ConnKey key, uint32_t events);
  void on_timer();
  void connect_guest(const PacketHeader& h);
  bool add_connection(Connection conn);
  /// Apply a verdict: keep → refresh watch, RX queueing and deadline; else end it.
  void settle(ConnMap::iterator it, Connection::Verdict v);
  void refresh(ConnMap::iterator it);
  void kill(ConnMap::iterator it, bool send_rst);
  void push_rst(ConnKey key);
  std::optional<uint32_t> allocate_port(uint32_t peer_port);
  void arm_timer();
  void disarm_timer();
  void pause_accepting();
  size_t live() const noexcept { return conns_.size() + pending_.size(); }

  uint64_t guest_cid_;
  std::string uds_path_;
  MuxerOptions options_;
  UniqueFd listen_;
  dev_t listen_dev_ = 0;
  ino_t listen_ino_ = 0;
  UniqueFd timer_;
  bool timer_armed_ = false;
  bool accept_paused_ = false;

  EventLoop* loop_ = nullptr;
  std::function<void()> work_;

  std::map<int, Pending> pending_;
  ConnMap conns_;
  std::set<uint32_t> host_ports_;  ///< local ports of host-initiated connections
  uint32_t next_port_ = 1u << 30;
  std::deque<ConnKey> rx_keys_;
  std::deque<PacketHeader> rst_queue_;
  MuxerStats stats_;
};

}  // namespace nexus::vmm::vsock
