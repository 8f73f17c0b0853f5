// SPDX-License-Identifier: Apache-2.0
// Upstream and client addresses as an operator writes them, and resolv.conf as the host has it.
#include <catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "net/dns/address.hpp"
#include "net/dns/client_registry.hpp"

using namespace nexus;
using namespace nexus::net::dns;

TEST_CASE("socket addresses with and without ports", "[dns][address]") {
  CHECK(SocketAddress::parse("192.0.2.1", 53)->to_string() == "192.0.2.1:53");
  CHECK(SocketAddress::parse("192.0.2.1:5353", 53)->to_string() == "192.0.2.1:5353");
  CHECK(SocketAddress::parse("2001:db8::1", 53)->to_string() == "[2001:db8::1]:53");
  CHECK(SocketAddress::parse("[2001:db8::1]:5353", 53)->to_string() == "[2001:db8::1]:5353");
  CHECK(SocketAddress::parse("[::]:15053", 53)->port() == 15053);
  CHECK(SocketAddress::parse("fe80::1%1", 53));
  for (const char* bad : {"", "example.com", "192.0.2.1:0", "192.0.2.1:65536", "192.0.2.1:x", "[2001:db8::1",
                          "[2001:db8::1]x", "300.1.1.1", "fe80::1%nosuchif0"}) {
    INFO(bad);
    auto r = SocketAddress::parse(bad, 53);
    REQUIRE_FALSE(r);
    CHECK(r.error().is(Errc::invalid_argument));
    CHECK_THAT(r.error().message(), Catch::Contains(std::string("'") + bad + "'"));
  }
  CHECK(*SocketAddress::parse("192.0.2.1:53", 1) == *SocketAddress::parse("192.0.2.1", 53));
  CHECK_FALSE(*SocketAddress::parse("192.0.2.1:54", 1) == *SocketAddress::parse("192.0.2.1", 53));
}

TEST_CASE("client addresses: IPv4-mapped IPv6 is the IPv4 client", "[dns][address]") {
  CHECK(*IpAddress::parse("::ffff:10.88.0.2") == *IpAddress::parse("10.88.0.2"));
  CHECK(IpAddress::parse("fd4e:7800::2")->to_string() == "fd4e:7800::2");
  CHECK_FALSE(IpAddress::parse("10.88.0.2:53"));
}

TEST_CASE("resolv.conf: nameservers in order, the rest ignored", "[dns][address]") {
  char path[] = "/tmp/nexus-dns-resolv-XXXXXX";
  int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  ::close(fd);
  {
    std::ofstream out(path);
    out << "# generated\nsearch example.org\nnameserver 127.0.0.53\noptions edns0 trust-ad\n"
           "nameserver   2001:db8::53\nnameserver not-an-address\nnameserver fe80::1%1\n";
  }
  auto ns = resolv_conf_nameservers(path);
  REQUIRE(ns);
  REQUIRE(ns->size() == 3);
  CHECK((*ns)[0].to_string() == "127.0.0.53:53");
  CHECK((*ns)[1].to_string() == "[2001:db8::53]:53");
  {
    std::ofstream out(path);
    out << "search example.org\n";
  }
  auto none = resolv_conf_nameservers(path);
  REQUIRE_FALSE(none);
  CHECK_THAT(none.error().message(), Catch::Contains("lists no usable nameserver"));
  ::unlink(path);
  CHECK_FALSE(resolv_conf_nameservers("/nonexistent/resolv.conf"));
}

TEST_CASE("the client registry: one sandbox per address", "[dns][registry]") {
  ClientRegistry r;
  auto a = *IpAddress::parse("10.88.0.2"), b = *IpAddress::parse("fd4e:7800::2");
  REQUIRE(r.add(a, "sb_one"));
  REQUIRE(r.add(b, "sb_one"));
  REQUIRE(r.add(a, "sb_one"));  // again: no change
  auto clash = r.add(a, "sb_two");
  REQUIRE_FALSE(clash);
  CHECK(clash.error().is(Errc::already_exists));
  CHECK_FALSE(r.add(*IpAddress::parse("10.88.0.6"), ""));
  CHECK(r.find(a)->sandbox_id == "sb_one");
  r.set_refused("sb_one", true);
  CHECK(r.find(b)->refused);
  std::string gone;
  CHECK_FALSE(r.remove(a, &gone));  // b is left
  CHECK(r.remove(b, &gone));
  CHECK(gone == "sb_one");
  CHECK_FALSE(r.find(a));
  REQUIRE(r.add(a, "sb_one"));
  r.remove_sandbox("sb_one");
  CHECK(r.size() == 0);
  REQUIRE(r.add(a, "sb_one"));
  CHECK_FALSE(r.find(a)->refused);  // the mark went with the sandbox
}
