// SPDX-License-Identifier: Apache-2.0
// Queries over UDP: from a sandbox to an upstream and back.
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

#include "net/dns/forwarder_impl.hpp"

namespace nexus::net::dns {

namespace {

LocalDst read_pktinfo(msghdr& mh) {
  LocalDst dst;
  for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      in_pktinfo info;
      std::memcpy(&info, CMSG_DATA(c), sizeof info);
      dst.known = true;
      dst.family = AF_INET;
      dst.v4 = info.ipi_addr;
      dst.ifindex = static_cast<unsigned>(info.ipi_ifindex);
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      in6_pktinfo info;
      std::memcpy(&info, CMSG_DATA(c), sizeof info);
      dst.known = true;
      dst.family = AF_INET6;
      dst.v6 = info.ipi6_addr;
      dst.ifindex = info.ipi6_ifindex;
    }
  }
  return dst;
}

}  // namespace

void Forwarder::Impl::on_udp_listener(size_t index) {
  int fd = udp_listeners[index].fd.get();
  for (int n = 0; n < kReadBatch; ++n) {
    uint8_t buf[kMaxUdpEdns + 1];
    sockaddr_storage from{};
    iovec iov{buf, sizeof buf};
    alignas(cmsghdr) char control[128];
    msghdr mh{};
    mh.msg_name = &from;
    mh.msg_namelen = sizeof from;
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = control;
    mh.msg_controllen = sizeof control;
    ssize_t r = ::recvmsg(fd, &mh, MSG_DONTWAIT);
    if (r < 0) {
      if (errno == EINTR) continue;
      return;  // EAGAIN, or an error the next datagram may not have
    }
    auto client = SocketAddress::from(reinterpret_cast<sockaddr*>(&from), mh.msg_namelen);
    on_udp_query(index, client, read_pktinfo(mh), std::span<const uint8_t>(buf, static_cast<size_t>(r)),
                 (mh.msg_flags & MSG_TRUNC) != 0);
  }
}

void Forwarder::Impl::on_udp_query(size_t listener, const SocketAddress& from, const LocalDst& dst,
                                   std::span<const uint8_t> msg, bool cut) {
  IpAddress ip = from.ip();
  auto client = registry.find(ip);
  if (!client) {
    stats.add({}, &Counters::dropped_not_registered);
    return;
  }
  // A datagram's source address is only a claim; one that arrives through another
  // sandbox's veth is that sandbox pretending (TCP needs no such check: a forged source
  // never completes the handshake).
  if (client->ifindex != 0 && dst.known && dst.ifindex != client->ifindex) {
    stats.add({}, &Counters::dropped_spoofed);
    return;
  }
  auto query = cut ? fail(Errc::too_large, "datagram larger than 4096 bytes") : parse_query(msg, Transport::udp);
  if (!query) {
    stats.add(client->sandbox_id, &Counters::dropped_malformed);
    return;
  }
  stats.add(client->sandbox_id, &Counters::queries);
  if (client->refused || query->question.type == rrtype::axfr || query->question.type == rrtype::ixfr) {
    stats.add(client->sandbox_id, &Counters::refused);
    send_udp_to_client(listener, from, dst, make_error_response(msg, *query, rcode::refused));
    return;
  }
  if (udp_pending.full() || !admit(ip)) {
    stats.add(client->sandbox_id, &Counters::dropped_over_limit);
    return;
  }
  UdpPending p;
  p.listener = listener;
  p.client = from;
  p.client_ip = ip;
  p.dst = dst;
  p.sandbox = std::move(client->sandbox_id);
  p.message = upstream_query(*query, msg);
  p.query = std::move(*query);
  p.first_upstream = preferred_upstream;
  auto id = udp_pending.insert(std::move(p));
  if (!id) {  // cannot happen: full() was checked
    release(ip);
    return;
  }
  send_udp_attempt(*id);
}

void Forwarder::Impl::send_udp_to_client(size_t listener, const SocketAddress& to, const LocalDst& dst,
                                         std::span<const uint8_t> msg) {
  iovec iov{const_cast<uint8_t*>(msg.data()), msg.size()};
  msghdr mh{};
  mh.msg_name = const_cast<sockaddr*>(to.get());
  mh.msg_namelen = to.length;
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(in6_pktinfo))] = {};
  if (dst.known) {
    mh.msg_control = control;
    cmsghdr* c = reinterpret_cast<cmsghdr*>(control);
    if (dst.family == AF_INET) {
      in_pktinfo info{};
      info.ipi_spec_dst = dst.v4;
      c->cmsg_level = IPPROTO_IP;
      c->cmsg_type = IP_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof info);
      std::memcpy(CMSG_DATA(c), &info, sizeof info);
      mh.msg_controllen = CMSG_SPACE(sizeof info);
    } else {
      in6_pktinfo info{};
      info.ipi6_addr = dst.v6;
      info.ipi6_ifindex = dst.ifindex;
      c->cmsg_level = IPPROTO_IPV6;
      c->cmsg_type = IPV6_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof info);
      std::memcpy(CMSG_DATA(c), &info, sizeof info);
      mh.msg_controllen = CMSG_SPACE(sizeof info);
    }
  }
  // A full socket buffer loses the answer like any lost datagram; the client asks again.
  (void)::sendmsg(udp_listeners[listener].fd.get(), &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
}

void Forwarder::Impl::send_udp_attempt(uint16_t id) {
  UdpPending* p = udp_pending.find(id);
  if (!p) return;
  p->upstream = (p->first_upstream + p->attempt) % upstreams.size();
  const SocketAddress& to = upstreams[p->upstream];
  p->deadline_ms = loop.now_ms() + opts.upstream_timeout_ms;
  // A random socket of the family: a random source port among several.
  size_t first = upstream_sockets.size(), count = 0;
  for (size_t i = 0; i < upstream_sockets.size(); ++i)
    if (upstream_sockets[i].family == to.family()) {
      if (first == upstream_sockets.size()) first = i;
      ++count;
    }
  if (count == 0) return;  // cannot happen: sockets exist for every upstream's family
  p->socket = first + random_u16() % count;
  put16(p->message, 0, id);
  ssize_t r = ::sendto(upstream_sockets[p->socket].fd.get(), p->message.data(), p->message.size(),
                       MSG_DONTWAIT | MSG_NOSIGNAL, to.get(), to.length);
  // EAGAIN and the like: the deadline moves the query on. An error that says the upstream
  // cannot be reached at all (no route) moves it on at once.
  if (r < 0 && (errno == ENETUNREACH || errno == EHOSTUNREACH || errno == EINVAL || errno == EAFNOSUPPORT ||
                errno == EADDRNOTAVAIL))
    retry_udp(id);
}

void Forwarder::Impl::retry_udp(uint16_t id) {
  UdpPending* p = udp_pending.find(id);
  if (!p) return;
  if (++p->attempt >= max_attempts) {
    stats.add(p->sandbox, &Counters::servfail);
    auto answer = make_error_response(p->message, p->query, rcode::servfail);
    put16(answer, 0, p->query.id);  // the message holds the last attempt's ID
    finish_udp(id, answer);
    return;
  }
  // A fresh ID for every attempt: a late answer to the one before cannot match this one.
  auto fresh = udp_pending.rekey(id);
  if (fresh) send_udp_attempt(*fresh);
}

void Forwarder::Impl::finish_udp(uint16_t id, std::span<const uint8_t> answer) {
  UdpPending* p = udp_pending.find(id);
  if (!p) return;
  if (!answer.empty()) send_udp_to_client(p->listener, p->client, p->dst, answer);
  release(p->client_ip);
  udp_pending.erase(id);
}

void Forwarder::Impl::on_upstream_socket(size_t index) {
  int fd = upstream_sockets[index].fd.get();
  for (int n = 0; n < kReadBatch; ++n) {
    // Upstreams are asked for at most 4096 bytes; a larger datagram is cut and dropped.
    uint8_t buf[kMaxUdpEdns + 1];
    sockaddr_storage from{};
    socklen_t from_len = sizeof from;
    ssize_t r = ::recvfrom(fd, buf, sizeof buf, MSG_DONTWAIT | MSG_TRUNC, reinterpret_cast<sockaddr*>(&from), &from_len);
    if (r < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (static_cast<size_t>(r) > kMaxUdpEdns) {
      stats.add({}, &Counters::dropped_bad_answer);
      continue;
    }
    std::span<const uint8_t> msg(buf, static_cast<size_t>(r));
    auto head = parse_response_head(msg);
    UdpPending* p = head ? udp_pending.find(head->id) : nullptr;
    // The answer must come from the address and port the query went to, on the socket it
    // left from, and repeat its question; anything else is a stray or a spoof.
    if (!p || p->socket != index || !(SocketAddress::from(reinterpret_cast<sockaddr*>(&from), from_len) == upstreams[p->upstream]) ||
        head->question != p->query.question) {
      stats.add(p ? p->sandbox : std::string(), &Counters::dropped_bad_answer);
      continue;
    }
    uint16_t id = head->id;
    if ((head->rcode == rcode::servfail || head->rcode == rcode::refused) && p->attempt + 1 < max_attempts) {
      retry_udp(id);
      continue;
    }
    auto out = prepare_answer(msg, *head, p->query, p->sandbox, p->query.max_udp_answer);
    if (out.empty()) {
      stats.add(p->sandbox, &Counters::dropped_bad_answer);
      retry_udp(id);
      continue;
    }
    stats.add(p->sandbox, &Counters::answers);
    finish_udp(id, out);
  }
}

}  // namespace nexus::net::dns
