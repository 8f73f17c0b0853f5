// SPDX-License-Identifier: Apache-2.0
// Connection: one vsock stream between a guest port and a host Unix socket — its state
// machine, both directions of credit-based flow control, and the socket I/O.
//
// The connection never touches the event loop: the muxer asks it which epoll events it
// wants (wanted_events), whether it has a packet for the guest (wants_rx), and whether it is
// waiting on a deadline (timed), and applies the Verdict each call returns.
//
// Flow control (virtio 1.2, 5.10.6.3):
//  * host → guest: we send at most peer_buf_alloc − (tx_cnt − peer_fwd_cnt) bytes, read from
//    the socket only as much as that allows, and stop watching EPOLLIN while data is known to
//    be waiting; with no credit we send one CREDIT_REQUEST.
//  * guest → host: we advertise buf_alloc = 64 KiB; what the socket does not take at once is
//    buffered (never more than 64 KiB: a guest that overruns our credit is reset); fwd_cnt
//    counts bytes handed to the socket, and a CREDIT_UPDATE goes out when the guest's view of
//    it is more than 4 KiB stale or on CREDIT_REQUEST. Every packet we send carries both.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/unique_fd.hpp"
#include "vmm/vsock/packet.hpp"

namespace nexus::vmm::vsock {

/// Our receive buffer per connection (advertised as buf_alloc).
inline constexpr uint32_t kConnBufAlloc = 64 * 1024;
/// Send a CREDIT_UPDATE once the guest's copy of our fwd_cnt lags by more than this.
inline constexpr uint32_t kCreditUpdateThreshold = 4 * 1024;

class Connection {
 public:
  /// What the muxer must do after a call.
  enum class Verdict {
    keep,   ///< carry on
    reset,  ///< close the Unix side and send RST to the guest
    close,  ///< close the Unix side; the guest already forgot the connection (it sent RST)
  };

  /// Host-initiated (`CONNECT <port>` on the listening socket): a REQUEST to the guest is
  /// pending; the connection is established by the guest's RESPONSE.
  static Connection host_initiated(UniqueFd fd, ConnKey key, uint64_t guest_cid);
  /// Guest-initiated (REQUEST to CID 2, Unix connect succeeded): a RESPONSE is pending.
  static Connection guest_initiated(UniqueFd fd, ConnKey key, uint64_t guest_cid,
                                    const PacketHeader& request);

  Connection(Connection&&) noexcept = default;
  Connection& operator=(Connection&&) noexcept = default;

  /// A checked packet from the guest for this connection (not REQUEST: the muxer handles a
  /// REQUEST for a live connection).
  Verdict on_packet(const PacketHeader& h, std::span<const uint8_t> payload);
  /// Events from epoll for the Unix socket (spurious ones are harmless).
  Verdict on_socket(uint32_t events);
  /// A deadline of this connection passed (handshake or final flush): give up.
  Verdict on_timeout() const { return Verdict::reset; }

  struct Rx {
    bool produced = false;  ///< h (and payload, for RW) hold a packet for the guest
    Verdict after = Verdict::keep;
  };
  /// The next packet for the guest, with at most `max_payload` bytes of data (read from the
  /// socket into `payload`). Call when wants_rx(); may still produce nothing.
  Rx next_rx(PacketHeader& h, std::vector<uint8_t>& payload, size_t max_payload);

  /// Has (or may have) a packet for the guest.
  bool wants_rx() const noexcept;
  /// The epoll events to watch now; meaningless once watchable() is false.
  uint32_t wanted_events() const noexcept;
  /// False after the peer hung up: the socket leaves epoll (it would report HUP forever).
  bool watchable() const noexcept { return !hup_; }
  /// Waiting for something with a deadline: the guest's answer to our REQUEST, or the final
  /// flush to the socket after the guest shut both directions down.
  bool timed() const noexcept;

  int fd() const noexcept { return fd_.get(); }
  ConnKey key() const noexcept { return key_; }
  bool established() const noexcept { return state_ == State::established; }
  bool host_initiated() const noexcept { return host_initiated_; }

  // Counters, for tests.
  uint32_t tx_cnt() const noexcept { return tx_cnt_; }
  uint32_t rx_cnt() const noexcept { return rx_cnt_; }
  uint32_t fwd_cnt() const noexcept { return fwd_cnt_; }
  uint32_t peer_credit() const noexcept;
  size_t buffered() const noexcept { return out_.size(); }

 private:
  enum class State { awaiting_response, established };

  Connection(UniqueFd fd, ConnKey key, uint64_t guest_cid, State state, bool host_init);
  void fill(PacketHeader& h, uint16_t op);
  Verdict flush();
  bool both_done() const noexcept;
  bool can_read() const noexcept;

  UniqueFd fd_;
  ConnKey key_;
  uint64_t guest_cid_ = 0;
  State state_ = State::awaiting_response;
  bool host_initiated_ = false;

  // guest → host
  std::string out_;            ///< bytes for the socket: maybe our OK line, then guest data
  size_t out_uncredited_ = 0;  ///< leading bytes of out_ that are ours, not the guest's
  uint32_t rx_cnt_ = 0;        ///< guest data bytes received
  uint32_t fwd_cnt_ = 0;       ///< guest data bytes handed to the socket
  uint32_t last_fwd_cnt_sent_ = 0;
  bool wr_shut_ = false;       ///< shutdown(SHUT_WR) done

  // host → guest
  uint32_t tx_cnt_ = 0;  ///< data bytes sent to the guest
  uint32_t peer_buf_alloc_ = 0;
  uint32_t peer_fwd_cnt_ = 0;
  bool readable_ = false;          ///< the socket has data (or EOF) we have not read
  bool hup_ = false;               ///< the peer closed both directions
  bool credit_requested_ = false;  ///< a CREDIT_REQUEST is out and unanswered

  // control packets owed to the guest
  bool pending_request_ = false;
  bool pending_response_ = false;
  bool pending_credit_update_ = false;

  // shutdown
  bool peer_shut_send_ = false;   ///< the guest sends no more
  bool peer_shut_rcv_ = false;    ///< the guest receives no more
  bool local_shut_sent_ = false;  ///< we told the guest (SHUTDOWN SEND) the socket hit EOF
};

}  // namespace nexus::vmm::vsock
