// SPDX-License-Identifier: Apache-2.0
// The forwarder's insides (not for use outside net/dns/). Everything here belongs to the
// forwarder's loop thread, except `registry` and `stats`, which are thread-safe.
#pragma once

#include <netinet/in.h>

#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "common/unique_fd.hpp"
#include "common/uv.hpp"
#include "net/dns/client_registry.hpp"
#include "net/dns/forwarder.hpp"
#include "net/dns/id_map.hpp"
#include "net/dns/message.hpp"

namespace nexus::net::dns {

/// Sockets to upstreams per address family: queries spread over several source ports, so
/// an off-path spoofer must guess the port as well as the ID.
inline constexpr size_t kUpstreamSocketsPerFamily = 4;
/// Datagrams read per readiness callback before the loop serves other sockets.
inline constexpr int kReadBatch = 64;
/// Queries one TCP connection may have in flight; reading pauses beyond.
inline constexpr unsigned kTcpPipeline = 16;
/// Answers queued for a TCP client that does not read; past this the connection is closed.
inline constexpr size_t kTcpMaxQueued = 256 * 1024;

/// The address a UDP query was sent to, so the answer leaves from it (IP_PKTINFO).
struct LocalDst {
  bool known = false;
  int family = AF_INET;
  in_addr v4{};
  in6_addr v6{};
  unsigned ifindex = 0;  // the interface it came in on
};

struct Socket {
  UniqueFd fd;
  int family = AF_INET;
  std::unique_ptr<uv::Poll> poll;
};

struct UdpPending {
  size_t listener = 0;
  SocketAddress client;
  IpAddress client_ip;
  LocalDst dst;
  std::string sandbox;
  Query query;
  std::vector<uint8_t> message;  // the client's query; its ID is replaced for each attempt
  size_t first_upstream = 0;
  size_t upstream = 0;
  unsigned attempt = 0;
  size_t socket = 0;
  uint64_t deadline_ms = 0;
};

struct TcpClient {
  uint64_t id = 0;
  UniqueFd fd;
  std::unique_ptr<uv::Poll> poll;
  IpAddress ip;
  std::string sandbox;
  std::vector<uint8_t> in;
  std::vector<uint8_t> out;
  size_t out_off = 0;
  uint64_t deadline_ms = 0;
  unsigned in_flight = 0;
  bool eof = false;
  bool processing = false;  // inside read_tcp_queries
  int events = 0;  // what poll is started with
};

struct TcpUpstream {
  uint64_t id = 0;
  uint64_t client = 0;
  IpAddress client_ip;
  std::string sandbox;
  Query query;
  std::vector<uint8_t> message;  // length prefix + the client's query
  size_t first_upstream = 0;
  size_t upstream = 0;
  unsigned attempt = 0;
  uint16_t sent_id = 0;
  UniqueFd fd;
  std::unique_ptr<uv::Poll> poll;
  bool connected = false;
  size_t written = 0;
  std::vector<uint8_t> in;
  uint64_t deadline_ms = 0;
};

struct Forwarder::Impl {
  // The loop goes first so that it is destroyed last.
  uv::Loop loop;
  ForwarderOptions opts;
  std::vector<SocketAddress> upstreams;
  std::vector<std::string> local_domains;  // wire form
  unsigned max_attempts = 2;
  ClientRegistry registry;
  StatsTable stats;

  std::vector<Socket> udp_listeners;
  std::vector<Socket> tcp_listeners;
  std::vector<SocketAddress> udp_bound, tcp_bound;
  std::vector<Socket> upstream_sockets;
  std::unique_ptr<uv::Timer> tick;
  std::unique_ptr<uv::Async> stop_async;
  std::thread thread;

  IdMap<UdpPending> udp_pending{1024};
  std::map<IpAddress, unsigned> in_flight_per_client;
  unsigned in_flight = 0;
  size_t preferred_upstream = 0;
  std::map<uint64_t, std::unique_ptr<TcpClient>> tcp_clients;
  std::map<uint64_t, std::unique_ptr<TcpUpstream>> tcp_upstreams;
  uint64_t next_tcp_id = 1;

  // forwarder.cpp
  Result<void> open_sockets();
  void start_polls();
  void on_tick();
  void shutdown();
  bool admit(const IpAddress& ip);
  void release(const IpAddress& ip);
  /// The final form of an upstream's answer for a client: rebinding filter, size limit, the
  /// client's ID. Empty when the answer is malformed past its question and not truncated.
  std::vector<uint8_t> prepare_answer(std::span<const uint8_t> answer, const ResponseHead& head,
                                      const Query& query, const std::string& sandbox, size_t limit);
  std::vector<uint8_t> upstream_query(const Query& query, std::span<const uint8_t> message);

  // udp_path.cpp
  void on_udp_listener(size_t index);
  void on_udp_query(size_t listener, const SocketAddress& from, const LocalDst& dst,
                    std::span<const uint8_t> msg, bool cut);
  void send_udp_to_client(size_t listener, const SocketAddress& to, const LocalDst& dst,
                          std::span<const uint8_t> msg);
  void send_udp_attempt(uint16_t id);
  void retry_udp(uint16_t id);
  void finish_udp(uint16_t id, std::span<const uint8_t> answer);
  void on_upstream_socket(size_t index);

  // tcp_path.cpp
  void on_tcp_listener(size_t index);
  void on_tcp_client(uint64_t id, int events);
  void tcp_client_poll(TcpClient& c);
  void close_tcp_client(uint64_t id);
  bool write_tcp_client(TcpClient& c);
  bool read_tcp_queries(TcpClient& c);
  void settle_tcp_client(TcpClient& c);
  void queue_tcp_answer(uint64_t client, std::span<const uint8_t> msg);
  void on_tcp_query(TcpClient& c, std::span<const uint8_t> msg);
  void start_tcp_attempt(uint64_t id);
  void on_tcp_upstream(uint64_t id, int status, int events);
  void retry_tcp(uint64_t id);
  void finish_tcp(uint64_t id, std::span<const uint8_t> answer);
};

}  // namespace nexus::net::dns
