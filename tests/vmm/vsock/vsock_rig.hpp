// SPDX-License-Identifier: Apache-2.0
// VsockRig: a VsockDevice activated over real guest memory and an EventLoop, with a fake
// guest driver that posts RX buffers and sends TX packets the way Linux's virtio-vsock driver
// does (rings built by tests/vmm/virtio/fake_driver.hpp), plus Unix-socket helpers for the
// host side. Shared by the tests and the fuzzer, so no Catch2: setup failures abort.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/unique_fd.hpp"
#include "tests/vmm/virtio/fake_driver.hpp"
#include "vmm/event_loop.hpp"
#include "vmm/guest_memory.hpp"
#include "vmm/vsock/device.hpp"

namespace nexus::vmm::vsock::testing {

using virtio::testing::FakeDriver;
using virtio::testing::Seg;

#define RIG_CHECK(cond) NEXUS_CHECK(cond)

/// A directory under /tmp, removed with its contents.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/nexus-vsock-XXXXXX";
    RIG_CHECK(::mkdtemp(tmpl) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class CountingInterrupt : public virtio::Interrupt {
 public:
  void signal_used() override { ++used; }
  void signal_config() override { ++config; }
  int used = 0;
  int config = 0;
};

/// A packet the device put into an RX buffer.
struct RxPacket {
  PacketHeader h;
  std::string payload;
  uint32_t used_len = 0;  ///< what the device reported in the used ring
};

/// The guest's end of one connection (what Linux keeps in virtio_vsock_sock).
struct GuestConn {
  uint32_t port = 0;       ///< guest port
  uint32_t host_port = 0;  ///< host-side port
  uint32_t buf_alloc = 256 * 1024;
  uint32_t fwd_cnt = 0;  ///< bytes the guest application consumed
};

class VsockRig {
 public:
  static constexpr uint64_t kGuestCid = 3;
  enum class RxLayout {
    single,  ///< one descriptor, header and payload together (Linux >= 6.2)
    split,   ///< a 44-byte header descriptor, then the payload descriptor (older Linux)
  };

  explicit VsockRig(MuxerOptions options = {}, bool event_idx = false)
      : path(dir.path() + "/v.sock"),
        mem(allocate()),
        rx_drv(mem, kVsockQueueSize, 0x10000, 0x100000),
        tx_drv(mem, kVsockQueueSize, 0x20000, kTxData),
        ev_drv(mem, kVsockQueueSize, 0x30000, 0x80000) {
    auto l = EventLoop::create();
    RIG_CHECK(l.has_value());
    loop = std::move(*l);
    auto d = VsockDevice::create(kGuestCid, path, options);
    RIG_CHECK(d.has_value());
    dev = std::move(*d);
    for (size_t i = 0; i < dev->queue_count(); ++i) queues.emplace_back(dev->queue_max_size(i));
    activate(event_idx);
  }

  void activate(bool event_idx) {
    for (auto& q : queues) q.reset();
    rx_drv.configure(queues[kRxQueue]);
    tx_drv.configure(queues[kTxQueue]);
    ev_drv.configure(queues[kEventQueue]);
    for (auto& q : queues) RIG_CHECK(q.validate(mem).has_value());
    virtio::ActivateContext ctx;
    ctx.memory = &mem;
    ctx.queues = &queues;
    ctx.acked_features = virtio::kFeatureVersion1 | (event_idx ? virtio::kFeatureRingEventIdx : 0);
    ctx.interrupt = &irq;
    ctx.loop = loop.get();
    RIG_CHECK(dev->activate(ctx).has_value());
  }
  /// After dev->reset(): the driver sets the device up again from scratch (fresh rings at
  /// the same addresses, queues reset), as Linux does after a virtio reset.
  void reactivate(bool event_idx = false) {
    std::destroy_at(&rx_drv);
    std::construct_at(&rx_drv, mem, kVsockQueueSize, 0x10000, 0x100000);
    std::destroy_at(&tx_drv);
    std::construct_at(&tx_drv, mem, kVsockQueueSize, 0x20000, kTxData);
    std::destroy_at(&ev_drv);
    std::construct_at(&ev_drv, mem, kVsockQueueSize, 0x30000, 0x80000);
    rx_chains_.clear();
    rx_seen_ = 0;
    tx_pushed_ = 0;
    activate(event_idx);
  }

  ~VsockRig() {
    dev.reset();  // unregisters from the loop before the loop goes
  }

  static GuestMemory allocate() {
    auto m = GuestMemory::allocate(16 << 20);
    RIG_CHECK(m.has_value());
    return std::move(*m);
  }

  // --- RX buffers -----------------------------------------------------------------------------

  /// Post `count` RX buffers with room for a header and `payload_room` bytes, and kick RX.
  void post_rx(size_t count, uint32_t payload_room = 4096, RxLayout layout = RxLayout::single) {
    for (size_t i = 0; i < count; ++i) {
      std::vector<Seg> segs;
      if (layout == RxLayout::single) {
        segs.push_back({static_cast<uint32_t>(kHeaderSize + payload_room), true, 0});
      } else {
        segs.push_back({static_cast<uint32_t>(kHeaderSize), true, 0});
        segs.push_back({payload_room, true, 0});
      }
      repost(segs, false);
    }
    kick(kRxQueue);
  }

  /// Post one RX chain of these segments (a hostile driver's odd buffers) and kick RX.
  void post_rx_chain(std::vector<Seg> segs) {
    repost(std::move(segs), false);
    kick(kRxQueue);
  }

  /// RX packets delivered since the last call, in order; each buffer is posted again when
  /// auto_repost is set (and RX kicked once at the end).
  std::vector<RxPacket> take_rx() {
    std::vector<RxPacket> out;
    bool reposted = false;
    while (rx_seen_ != rx_drv.used_idx()) {
      auto [id, len] = rx_drv.used_elem(rx_seen_++);
      auto it = rx_chains_.find(static_cast<uint16_t>(id));
      RIG_CHECK(it != rx_chains_.end());
      std::vector<Seg> segs = std::move(it->second);
      rx_chains_.erase(it);
      std::string bytes;
      for (const auto& s : segs) bytes += rx_drv.read_bytes(s.gpa, s.len);
      RIG_CHECK(len <= bytes.size());
      RxPacket p;
      p.used_len = len;
      if (len < kHeaderSize) {  // a buffer the device could not use (too small)
        p.h.op = 0;
        out.push_back(std::move(p));
        if (auto_repost) {
          repost(segs, true);
          reposted = true;
        }
        continue;
      }
      p.h = decode_header(std::span<const uint8_t, kHeaderSize>(
          reinterpret_cast<const uint8_t*>(bytes.data()), kHeaderSize));
      RIG_CHECK(kHeaderSize + p.h.len <= bytes.size());
      p.payload = bytes.substr(kHeaderSize, p.h.len);
      out.push_back(std::move(p));
      if (auto_repost) {
        repost(segs, true);
        reposted = true;
      }
    }
    if (reposted) kick(kRxQueue);
    return out;
  }
  size_t rx_posted() const { return rx_chains_.size(); }
  bool auto_repost = true;

  // --- TX -----------------------------------------------------------------------------------

  /// A header from the guest (CID 3) to the host (CID 2), type STREAM.
  static PacketHeader guest_header(uint16_t op, uint32_t src_port, uint32_t dst_port) {
    PacketHeader h;
    h.src_cid = kGuestCid;
    h.dst_cid = kHostCid;
    h.src_port = src_port;
    h.dst_port = dst_port;
    h.type = kTypeStream;
    h.op = op;
    h.buf_alloc = 256 * 1024;
    return h;
  }
  static PacketHeader guest_header(const GuestConn& c, uint16_t op) {
    PacketHeader h = guest_header(op, c.port, c.host_port);
    h.buf_alloc = c.buf_alloc;
    h.fwd_cnt = c.fwd_cnt;
    return h;
  }

  /// Send a packet (len set from the payload) as one TX chain whose readable descriptors have
  /// the sizes in `split` (the last one takes the rest; empty: one descriptor), and kick TX.
  void send(PacketHeader h, std::string_view payload, std::vector<uint32_t> split = {}) {
    h.len = static_cast<uint32_t>(payload.size());
    std::string bytes(kHeaderSize, '\0');
    encode_header(h, std::span<uint8_t, kHeaderSize>(reinterpret_cast<uint8_t*>(bytes.data()),
                                                     kHeaderSize));
    bytes.append(payload);
    send_raw(bytes, std::move(split));
  }

  /// Exactly these bytes as one TX chain (see send()).
  void send_raw(const std::string& bytes, std::vector<uint32_t> split = {}) {
    push_tx(bytes, std::move(split));
    kick(kTxQueue);
  }

  /// Write the chain without kicking (to batch several packets in one kick).
  void push_tx(const std::string& bytes, std::vector<uint32_t> split = {}) {
    if (tx_drv.used_idx() == tx_pushed_) tx_drv.rewind_data(kTxData);  // all consumed
    RIG_CHECK(tx_drv.data_next() + bytes.size() + 16 * 64 < kTxDataEnd);
    std::vector<Seg> segs;
    size_t off = 0;
    for (uint32_t s : split) {
      if (off >= bytes.size()) break;
      uint32_t n = static_cast<uint32_t>(std::min<size_t>(s, bytes.size() - off));
      segs.push_back({n, false, 0});
      off += n;
    }
    if (off < bytes.size() || segs.empty())
      segs.push_back({static_cast<uint32_t>(std::max<size_t>(bytes.size() - off, 1)), false, 0});
    uint16_t head = tx_drv.add_chain(segs);  // allocates the buffers, does not publish
    size_t pos = 0;
    for (const auto& s : segs) {
      tx_drv.write_bytes(s.gpa, bytes.substr(pos, s.len));
      pos += s.len;
    }
    tx_drv.publish(head);
    ++tx_pushed_;
  }
  uint16_t tx_pending() const { return static_cast<uint16_t>(tx_pushed_ - tx_drv.used_idx()); }

  void kick(size_t queue) {
    std::lock_guard guard(lock);
    dev->queue_notify(queue);
  }

  /// Post one event buffer of `len` bytes.
  void post_event_buffer(uint32_t len = 4) {
    ev_drv.push(std::vector<Seg>{{len, true, 0}});
    kick(kEventQueue);
  }

  // --- the event loop -----------------------------------------------------------------------

  /// Dispatch events until pred() holds or timeout_ms passes; returns pred().
  bool run_until(const std::function<bool()>& pred, int timeout_ms = 3000) {
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (!pred()) {
      if (std::chrono::steady_clock::now() >= end) return pred();
      auto r = loop->run_once(lock, 5);
      RIG_CHECK(r.has_value());
    }
    return true;
  }
  /// Dispatch whatever happens during `ms`.
  void run_for(int ms) {
    run_until([] { return false; }, ms);
  }

  TempDir dir;
  std::string path;
  GuestMemory mem;
  FakeDriver rx_drv, tx_drv, ev_drv;
  std::vector<virtio::Queue> queues;
  CountingInterrupt irq;
  std::unique_ptr<EventLoop> loop;
  std::mutex lock;
  std::unique_ptr<VsockDevice> dev;

  /// The TX data area; push_tx() starts over at kTxData once every chain was used.
  static constexpr uint64_t kTxData = 0x400000;
  static constexpr uint64_t kTxDataEnd = 0xF00000;

 private:

  void repost(std::vector<Seg> segs, bool keep_gpa) {
    if (!keep_gpa)
      for (auto& s : segs) s.gpa = 0;
    uint16_t head = rx_drv.push(segs);  // allocates buffers for gpa == 0
    rx_chains_[head] = segs;
  }

  std::map<uint16_t, std::vector<Seg>> rx_chains_;
  uint16_t rx_seen_ = 0;
  uint16_t tx_pushed_ = 0;
};

// --- host-side Unix sockets ---------------------------------------------------------------------

inline UniqueFd unix_connect(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  RIG_CHECK(fd.valid());
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  RIG_CHECK(path.size() < sizeof addr.sun_path);
  std::memcpy(addr.sun_path, path.data(), path.size());
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) return {};
  return fd;
}

inline UniqueFd unix_listen(const std::string& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  RIG_CHECK(fd.valid());
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  RIG_CHECK(path.size() < sizeof addr.sun_path);
  std::memcpy(addr.sun_path, path.data(), path.size());
  RIG_CHECK(::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
  RIG_CHECK(::listen(fd.get(), 1024) == 0);
  return fd;
}

inline UniqueFd unix_accept(int listen_fd) {
  return UniqueFd(::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC));
}

inline bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

/// Collects what a host-side socket receives, without blocking.
struct HostReader {
  explicit HostReader(int fd_) : fd(fd_) {}
  /// Read what is there; true if anything changed.
  bool poll() {
    bool changed = false;
    char buf[65536];
    for (;;) {
      ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) {
        data.append(buf, static_cast<size_t>(n));
        changed = true;
        continue;
      }
      if (n == 0 && !eof) {
        eof = true;
        changed = true;
      }
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && !error) {
        error = true;
        changed = true;
      }
      return changed;
    }
  }
  bool closed() { return eof || error; }
  int fd;
  std::string data;
  bool eof = false;
  bool error = false;
};

}  // namespace nexus::vmm::vsock::testing
