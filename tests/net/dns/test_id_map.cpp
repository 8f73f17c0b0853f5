// SPDX-License-Identifier: Apache-2.0
// Upstream query IDs: fresh, random, unique while in flight, and changed on every retry.
#include <catch.hpp>

#include <set>

#include "net/dns/id_map.hpp"

using namespace nexus::net::dns;

TEST_CASE("IDs in flight are unique and random", "[dns][ids]") {
  IdMap<int> map(1024);
  std::set<uint16_t> ids;
  std::vector<uint16_t> order;
  for (int i = 0; i < 1024; ++i) {
    auto id = map.insert(i);
    REQUIRE(id);
    CHECK(ids.insert(*id).second);
    order.push_back(*id);
  }
  CHECK(map.full());
  CHECK_FALSE(map.insert(9999));  // bounded
  // Not a counter: consecutive IDs rarely follow each other.
  int sequential = 0;
  for (size_t i = 1; i < order.size(); ++i) sequential += order[i] == static_cast<uint16_t>(order[i - 1] + 1);
  CHECK(sequential < 10);
  // Spread over the whole space: both halves and many high bytes are used.
  std::set<uint8_t> high;
  for (uint16_t id : order) high.insert(static_cast<uint8_t>(id >> 8));
  CHECK(high.size() > 200);
  for (int i = 0; i < 1024; ++i) REQUIRE(*map.find(order[static_cast<size_t>(i)]) == i);
}

TEST_CASE("a sandbox's own ID is not what goes upstream", "[dns][ids]") {
  // Two sandboxes both using ID 1 each get their own upstream ID, and neither is 1 more than
  // by chance.
  IdMap<uint16_t> map(64);
  int same = 0;
  for (int i = 0; i < 64; ++i) same += *map.insert(1) == 1;
  CHECK(same <= 1);
  CHECK(map.size() == 64);
}

TEST_CASE("a retry gets a fresh ID and the old one stops matching", "[dns][ids]") {
  IdMap<std::string> map(16);
  auto id = *map.insert("q");
  auto fresh = map.rekey(id);
  REQUIRE(fresh);
  CHECK(*fresh != id);
  CHECK(map.find(id) == nullptr);
  REQUIRE(map.find(*fresh));
  CHECK(*map.find(*fresh) == "q");
  CHECK_FALSE(map.rekey(id));
  map.erase(*fresh);
  CHECK(map.size() == 0);
  CHECK(map.find(*fresh) == nullptr);
}

TEST_CASE("a nearly full map still finds a free ID", "[dns][ids]") {
  IdMap<int> map(70000);  // held to 60000
  for (int i = 0; i < 60000; ++i) REQUIRE(map.insert(i));
  CHECK(map.full());
  CHECK_FALSE(map.insert(0));
}
