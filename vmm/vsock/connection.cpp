// SPDX-License-Identifier: Apache-2.0
// One vsock stream's state machine, credit accounting and Unix socket I/O.
#include "vmm/vsock/connection.hpp"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "vmm/vsock/connect_line.hpp"

namespace nexus::vmm::vsock {

Connection::Connection(UniqueFd fd, ConnKey key, uint64_t guest_cid, State state, bool host_init)
    : fd_(std::move(fd)), key_(key), guest_cid_(guest_cid), state_(state),
      host_initiated_(host_init) {}

Connection Connection::host_initiated(UniqueFd fd, ConnKey key, uint64_t guest_cid) {
  Connection c(std::move(fd), key, guest_cid, State::awaiting_response, true);
  c.pending_request_ = true;
  return c;
}

Connection Connection::guest_initiated(UniqueFd fd, ConnKey key, uint64_t guest_cid,
                                       const PacketHeader& request) {
  Connection c(std::move(fd), key, guest_cid, State::established, false);
  c.peer_buf_alloc_ = request.buf_alloc;
  c.peer_fwd_cnt_ = request.fwd_cnt;
  c.pending_response_ = true;
  return c;
}

uint32_t Connection::peer_credit() const noexcept {
  uint32_t in_flight = tx_cnt_ - peer_fwd_cnt_;  // wraps like the guest's counters
  return in_flight > peer_buf_alloc_ ? 0 : peer_buf_alloc_ - in_flight;
}

bool Connection::can_read() const noexcept {
  return state_ == State::established && !local_shut_sent_ && !peer_shut_rcv_;
}

bool Connection::both_done() const noexcept {
  return peer_shut_send_ && (peer_shut_rcv_ || local_shut_sent_) && out_.empty();
}

bool Connection::timed() const noexcept {
  return state_ == State::awaiting_response ||
         (peer_shut_send_ && (peer_shut_rcv_ || local_shut_sent_));
}

bool Connection::wants_rx() const noexcept {
  if (pending_request_ || pending_response_ || pending_credit_update_) return true;
  return can_read() && readable_ && (peer_credit() > 0 || !credit_requested_);
}

uint32_t Connection::wanted_events() const noexcept {
  uint32_t ev = 0;
  if (can_read() && !readable_) ev |= EPOLLIN;
  if (!out_.empty()) ev |= EPOLLOUT;
  return ev;
}

void Connection::fill(PacketHeader& h, uint16_t op) {
  h = host_header(guest_cid_, key_, op);
  h.buf_alloc = kConnBufAlloc;
  h.fwd_cnt = fwd_cnt_;
  last_fwd_cnt_sent_ = fwd_cnt_;
  pending_credit_update_ = false;  // every packet carries our fwd_cnt
}

Connection::Verdict Connection::flush() {
  while (!out_.empty()) {
    ssize_t n = ::send(fd_.get(), out_.data(), out_.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return Verdict::reset;  // EPIPE, ECONNRESET: the host side is gone
    }
    size_t sent = static_cast<size_t>(n);
    size_t ours = std::min(sent, out_uncredited_);
    out_uncredited_ -= ours;
    fwd_cnt_ += static_cast<uint32_t>(sent - ours);
    out_.erase(0, sent);
  }
  if (!peer_shut_send_ && fwd_cnt_ - last_fwd_cnt_sent_ > kCreditUpdateThreshold)
    pending_credit_update_ = true;
  if (out_.empty() && peer_shut_send_ && !wr_shut_) {
    (void)::shutdown(fd_.get(), SHUT_WR);  // the host reader sees EOF; failure changes nothing
    wr_shut_ = true;
  }
  return both_done() ? Verdict::reset : Verdict::keep;
}

Connection::Verdict Connection::on_packet(const PacketHeader& h, std::span<const uint8_t> payload) {
  peer_buf_alloc_ = h.buf_alloc;
  peer_fwd_cnt_ = h.fwd_cnt;
  if (peer_credit() > 0) credit_requested_ = false;
  switch (h.op) {
    case kOpResponse: {
      if (state_ != State::awaiting_response) return Verdict::reset;
      state_ = State::established;
      out_ = format_ok_line(key_.local_port);
      out_uncredited_ = out_.size();
      return flush();
    }
    case kOpRst:
      return Verdict::close;
    case kOpShutdown:
      if (state_ != State::established) return Verdict::reset;
      if (h.flags & kShutdownSend) peer_shut_send_ = true;
      if (h.flags & kShutdownRcv) peer_shut_rcv_ = true;
      return flush();
    case kOpRw: {
      if (state_ != State::established || peer_shut_send_) return Verdict::reset;
      uint32_t held = rx_cnt_ - fwd_cnt_;  // <= kConnBufAlloc, kept so below
      if (payload.size() > kConnBufAlloc - held) return Verdict::reset;  // overran our credit
      rx_cnt_ += static_cast<uint32_t>(payload.size());
      out_.append(reinterpret_cast<const char*>(payload.data()), payload.size());
      return flush();
    }
    case kOpCreditUpdate:
      return Verdict::keep;  // the credit fields were the point
    case kOpCreditRequest:
      if (state_ == State::established) pending_credit_update_ = true;
      return Verdict::keep;
    default:
      return Verdict::reset;  // REQUEST on a live connection, or anything unknown
  }
}

Connection::Verdict Connection::on_socket(uint32_t events) {
  if (events & (EPOLLHUP | EPOLLERR)) {
    // The fd number may have been reused since the event was queued: ask the socket itself.
    pollfd p{fd_.get(), POLLIN, 0};
    if (::poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR))) hup_ = true;
  }
  if (hup_) {
    if (state_ == State::awaiting_response) return Verdict::reset;  // the host gave up
    readable_ = true;  // what is left, then EOF (or the error), without epoll
  }
  if (events & EPOLLIN) readable_ = true;
  if (!out_.empty() && (hup_ || (events & EPOLLOUT))) return flush();
  return Verdict::keep;
}

Connection::Rx Connection::next_rx(PacketHeader& h, std::vector<uint8_t>& payload,
                                   size_t max_payload) {
  payload.clear();
  if (pending_request_) {
    pending_request_ = false;
    fill(h, kOpRequest);
    return {true, Verdict::keep};
  }
  if (pending_response_) {
    pending_response_ = false;
    fill(h, kOpResponse);
    return {true, Verdict::keep};
  }
  if (can_read() && readable_) {
    uint32_t credit = peer_credit();
    if (credit == 0) {
      if (!credit_requested_) {
        credit_requested_ = true;
        fill(h, kOpCreditRequest);
        return {true, Verdict::keep};
      }
    } else if (size_t want = std::min({size_t{credit}, max_payload, size_t{kMaxPayload}});
               want > 0) {
      payload.resize(want);
      ssize_t n;
      do {
        n = ::recv(fd_.get(), payload.data(), want, MSG_DONTWAIT);
      } while (n < 0 && errno == EINTR);
      if (n > 0) {
        size_t got = static_cast<size_t>(n);
        payload.resize(got);
        tx_cnt_ += static_cast<uint32_t>(got);
        if (got < want && !hup_) readable_ = false;  // drained, most likely: epoll will tell
        fill(h, kOpRw);
        h.len = static_cast<uint32_t>(got);
        return {true, Verdict::keep};
      }
      payload.clear();
      if (n == 0) {
        readable_ = false;
        local_shut_sent_ = true;
        fill(h, kOpShutdown);
        h.flags = kShutdownSend | (hup_ ? kShutdownRcv : 0);
        return {true, both_done() ? Verdict::reset : Verdict::keep};
      }
      if (errno != EAGAIN && errno != EWOULDBLOCK) return {false, Verdict::reset};
      readable_ = false;
    }
  }
  if (pending_credit_update_) {
    fill(h, kOpCreditUpdate);
    return {true, Verdict::keep};
  }
  return {false, Verdict::keep};
}

}  // namespace nexus::vmm::vsock
