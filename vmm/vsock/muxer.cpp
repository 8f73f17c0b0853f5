// SPDX-License-Identifier: Apache-2.0
// The hybrid vsock host side: listening socket, CONNECT handshakes, connection table,
// guest-initiated Unix connects, deadlines and the RX backlog.
#include "vmm/vsock/muxer.hpp"

#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "vmm/unix_socket.hpp"

namespace nexus::vmm::vsock {
namespace {

using Clock = std::chrono::steady_clock;

constexpr uint32_t kFirstHostPort = 1u << 30;
constexpr uint32_t kEndHostPort = 1u << 31;
constexpr int kAcceptBatch = 64;

}  // namespace

Muxer::Muxer(uint64_t guest_cid, std::string uds_path, MuxerOptions options)
    : guest_cid_(guest_cid), uds_path_(std::move(uds_path)), options_(options) {}

Result<std::unique_ptr<Muxer>> Muxer::create(uint64_t guest_cid, std::string uds_path,
                                             MuxerOptions options) {
  if (options.max_connections == 0 || options.timeout.count() <= 0)
    return fail(Errc::invalid_argument, "vsock: connection limit and timeout must be positive");
  std::unique_ptr<Muxer> m(new Muxer(guest_cid, std::move(uds_path), options));
  auto listener = listen_unix(m->uds_path_, 128, "vsock");
  if (!listener) return fail(std::move(listener).error());
  m->listen_ = std::move(*listener);
  struct stat st{};
  if (::stat(m->uds_path_.c_str(), &st) == 0) {
    m->listen_dev_ = st.st_dev;
    m->listen_ino_ = st.st_ino;
  }
  m->timer_.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  if (!m->timer_) return fail_errno("vsock: timerfd_create");
  return m;
}

Muxer::~Muxer() {
  detach();
  // Remove the socket file if it is still ours (not replaced by a newer VMM).
  struct stat st{};
  if (listen_ino_ != 0 && ::lstat(uds_path_.c_str(), &st) == 0 && st.st_dev == listen_dev_ &&
      st.st_ino == listen_ino_)
    (void)::unlink(uds_path_.c_str());
}

Result<void> Muxer::attach(EventLoop& loop, std::function<void()> work) {
  if (loop_) return fail(Errc::conflict, "vsock: host side already attached");
  NEXUS_TRY(loop.add(listen_.get(), EPOLLIN, [this](uint32_t) { on_listen_ready(); }));
  if (auto r = loop.add(timer_.get(), EPOLLIN, [this](uint32_t) { on_timer(); }); !r) {
    loop.remove(listen_.get());
    return r;
  }
  loop_ = &loop;
  work_ = std::move(work);
  return {};
}

void Muxer::detach() {
  if (!loop_) return;
  clear();
  disarm_timer();
  loop_->remove(listen_.get());
  loop_->remove(timer_.get());
  loop_ = nullptr;
  work_ = nullptr;
}

void Muxer::clear() {
  for (auto& [key, e] : conns_)
    if (e.watched && loop_) loop_->remove(e.conn.fd());
  conns_.clear();
  for (auto& [fd, p] : pending_)
    if (loop_) loop_->remove(fd);
  pending_.clear();
  host_ports_.clear();
  rx_keys_.clear();
  rst_queue_.clear();
  if (accept_paused_ && loop_) {
    accept_paused_ = false;
    (void)loop_->modify(listen_.get(), EPOLLIN);  // the next tick would retry anyway
  }
}

const Connection* Muxer::find(ConnKey key) const {
  auto it = conns_.find(key);
  return it == conns_.end() ? nullptr : &it->second.conn;
}

// --- guest → host ---------------------------------------------------------------------------

void Muxer::handle(const PacketHeader& h, std::span<const uint8_t> payload) {
  if (!loop_) return;
  ConnKey key{h.dst_port, h.src_port};
  auto it = conns_.find(key);
  if (it == conns_.end()) {
    if (h.op == kOpRequest)
      connect_guest(h);
    else if (h.op != kOpRst)
      push_rst(key);  // no such connection
    return;
  }
  if (h.op == kOpRequest) {  // the guest reused a live pair: it forgot this one
    kill(it, true);
    return;
  }
  settle(it, it->second.conn.on_packet(h, payload));
}

void Muxer::reject(const PacketHeader& h) {
  ConnKey key{h.dst_port, h.src_port};
  auto it = conns_.find(key);
  if (it != conns_.end())
    kill(it, h.op != kOpRst);
  else if (h.op != kOpRst)
    push_rst(key);
}

void Muxer::connect_guest(const PacketHeader& h) {
  ConnKey key{h.dst_port, h.src_port};
  if (live() >= options_.max_connections) {
    push_rst(key);
    return;
  }
  auto addr = unix_address(uds_path_ + "_" + std::to_string(h.dst_port), "vsock");
  UniqueFd fd;
  if (addr) fd.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  // A Unix connect completes or fails at once (EAGAIN: the listener's backlog is full).
  if (!fd || ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof(*addr)) != 0) {
    push_rst(key);
    return;
  }
  if (!add_connection(Connection::guest_initiated(std::move(fd), key, guest_cid_, h)))
    push_rst(key);
}

bool Muxer::add_connection(Connection conn) {
  ConnKey key = conn.key();
  int fd = conn.fd();
  uint32_t events = conn.wanted_events();
  auto [it, inserted] = conns_.emplace(key, Entry(std::move(conn)));
  if (!inserted) return false;
  if (!loop_->add(fd, events, [this, key](uint32_t ev) { on_conn_ready(key, ev); })) {
    conns_.erase(it);
    return false;
  }
  it->second.watched = true;
  it->second.events = events;
  refresh(it);
  return true;
}

// --- connection bookkeeping -----------------------------------------------------------------

void Muxer::settle(ConnMap::iterator it, Connection::Verdict v) {
  if (v == Connection::Verdict::keep)
    refresh(it);
  else
    kill(it, v == Connection::Verdict::reset);
}

void Muxer::refresh(ConnMap::iterator it) {
  Entry& e = it->second;
  if (e.watched && !e.conn.watchable()) {
    loop_->remove(e.conn.fd());
    e.watched = false;
  } else if (e.watched) {
    uint32_t want = e.conn.wanted_events();
    if (want != e.events) {
      if (!loop_->modify(e.conn.fd(), want)) {
        kill(it, true);
        return;
      }
      e.events = want;
    }
  }
  if (!e.queued && e.conn.wants_rx()) {
    rx_keys_.push_back(it->first);
    e.queued = true;
  }
  if (!e.conn.timed()) {
    e.deadline.reset();
  } else if (!e.deadline) {
    e.deadline = Clock::now() + options_.timeout;
    arm_timer();
  }
}

void Muxer::kill(ConnMap::iterator it, bool send_rst) {
  ConnKey key = it->first;
  Entry& e = it->second;
  if (e.watched) loop_->remove(e.conn.fd());
  if (e.queued) std::erase(rx_keys_, key);
  if (e.conn.host_initiated()) host_ports_.erase(key.local_port);
  conns_.erase(it);  // closes the Unix socket
  if (send_rst) push_rst(key);
}

void Muxer::push_rst(ConnKey key) {
  if (rst_queue_.size() >= kRstBacklog + options_.max_connections) {
    ++stats_.rst_dropped;
    return;
  }
  rst_queue_.push_back(host_header(guest_cid_, key, kOpRst));
  ++stats_.rst_sent;
}

std::optional<uint32_t> Muxer::allocate_port(uint32_t peer_port) {
  // Round-robin over [2^30, 2^31); at most one try per port in use, plus one.
  for (size_t tries = 0; tries <= host_ports_.size() + conns_.size(); ++tries) {
    uint32_t p = next_port_;
    next_port_ = next_port_ + 1 >= kEndHostPort ? kFirstHostPort : next_port_ + 1;
    if (host_ports_.count(p) || conns_.count(ConnKey{p, peer_port})) continue;
    return p;
  }
  return std::nullopt;
}

// --- host → guest ---------------------------------------------------------------------------

bool Muxer::next_rx(PacketHeader& h, std::vector<uint8_t>& payload, size_t max_payload) {
  // Each queued connection gets one chance per call; the RST backlog goes first.
  for (size_t budget = rx_keys_.size() + 1; budget > 0; --budget) {
    if (!rst_queue_.empty()) {
      h = rst_queue_.front();
      rst_queue_.pop_front();
      payload.clear();
      return true;
    }
    if (rx_keys_.empty()) return false;
    ConnKey key = rx_keys_.front();
    rx_keys_.pop_front();
    auto it = conns_.find(key);
    if (it == conns_.end()) continue;
    it->second.queued = false;
    Connection::Rx rx = it->second.conn.next_rx(h, payload, max_payload);
    settle(it, rx.after);  // an RST this queues goes out after the packet just made
    if (rx.produced) return true;
  }
  return false;
}

// --- host-side events -----------------------------------------------------------------------

void Muxer::on_listen_ready() {
  for (int i = 0; i < kAcceptBatch; ++i) {
    int raw = ::accept4(listen_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (raw < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) pause_accepting();  // EMFILE and friends
      break;
    }
    UniqueFd fd(raw);
    if (live() >= options_.max_connections) {
      ++stats_.refused;
      continue;  // closed: the host sees EOF instead of OK
    }
    auto [it, inserted] = pending_.emplace(
        raw, Pending{std::move(fd), ConnectLineReader{}, Clock::now() + options_.timeout});
    if (!inserted ||
        !loop_->add(raw, EPOLLIN, [this, raw](uint32_t) { on_pending_ready(raw); })) {
      if (inserted) pending_.erase(it);
      continue;
    }
    arm_timer();
  }
}

void Muxer::on_pending_ready(int fd) {
  auto it = pending_.find(fd);
  if (it == pending_.end()) return;
  auto line = it->second.reader.read_from(fd);
  if (line && !*line) return;  // more to come
  loop_->remove(fd);
  if (!line) {
    ++stats_.bad_connect_line;
    pending_.erase(it);
    return;
  }
  uint32_t peer_port = **line;
  UniqueFd sock = std::move(it->second.fd);
  pending_.erase(it);
  auto port = allocate_port(peer_port);
  if (!port) return;
  host_ports_.insert(*port);
  if (!add_connection(Connection::host_initiated(std::move(sock), ConnKey{*port, peer_port}, guest_cid_))) {
    host_ports_.erase(*port);
    return;
  }
  if (work_) work_();
}

void Muxer::on_conn_ready(ConnKey key, uint32_t events) {
  auto it = conns_.find(key);
  if (it == conns_.end()) return;
  settle(it, it->second.conn.on_socket(events));
  if (work_) work_();
}

void Muxer::on_timer() {
  uint64_t expirations = 0;
  (void)!::read(timer_.get(), &expirations, sizeof expirations);
  auto now = Clock::now();
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (now < it->second.deadline) {
      ++it;
      continue;
    }
    ++stats_.bad_connect_line;
    loop_->remove(it->first);
    it = pending_.erase(it);
  }
  bool timed = !pending_.empty();
  for (auto it = conns_.begin(); it != conns_.end();) {
    auto cur = it++;
    if (!cur->second.deadline) continue;
    if (now < *cur->second.deadline) {
      timed = true;
      continue;
    }
    ++stats_.timeouts;
    settle(cur, cur->second.conn.on_timeout());
  }
  if (accept_paused_) {
    accept_paused_ = false;
    if (!loop_->modify(listen_.get(), EPOLLIN)) accept_paused_ = true;  // try again next tick
  }
  if (!timed && !accept_paused_) disarm_timer();
  if (work_) work_();
}

void Muxer::arm_timer() {
  if (timer_armed_) return;
  auto tick = std::clamp<std::chrono::milliseconds>(options_.timeout / 4, std::chrono::milliseconds(1),
                                                    std::chrono::milliseconds(250));
  itimerspec spec{};
  spec.it_value.tv_sec = tick.count() / 1000;
  spec.it_value.tv_nsec = (tick.count() % 1000) * 1000000;
  spec.it_interval = spec.it_value;
  if (::timerfd_settime(timer_.get(), 0, &spec, nullptr) == 0) timer_armed_ = true;
}

void Muxer::disarm_timer() {
  if (!timer_armed_) return;
  itimerspec spec{};
  (void)::timerfd_settime(timer_.get(), 0, &spec, nullptr);
  timer_armed_ = false;
}

void Muxer::pause_accepting() {
  if (accept_paused_ || !loop_) return;
  if (loop_->modify(listen_.get(), 0)) accept_paused_ = true;
  arm_timer();
}

}  // namespace nexus::vmm::vsock
