// SPDX-License-Identifier: Apache-2.0
// Tests for passwd/group parsing and user lookup.
#include <catch.hpp>

#include "guest-agent/users.hpp"

using namespace nexus;
using namespace nexus::agent;

static const char* kPasswd =
    "root:x:0:0:root:/root:/bin/bash\n"
    "# a comment\n"
    "\n"
    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    "broken line without fields\n"
    "bad:x:notanumber:1::/:/bin/sh\n"
    "user:x:1000:1000:User,,,:/home/user:/bin/bash\r\n"
    "nohome:x:1001:1001:::\n";

static const char* kGroup =
    "root:x:0:\n"
    "sudo:x:27:user,other\n"
    "docker:x:998:other,user\n"
    "user:x:1000:\n"
    "garbage\n"
    "audio:x:29:\n";

TEST_CASE("passwd parsing skips malformed lines", "[users]") {
  auto entries = parse_passwd(kPasswd);
  REQUIRE(entries.size() == 4);
  CHECK(entries[0].name == "root");
  CHECK(entries[2].name == "user");
  CHECK(entries[2].uid == 1000);
  CHECK(entries[2].home == "/home/user");
  CHECK(entries[2].shell == "/bin/bash");  // CR stripped
}

TEST_CASE("group parsing reads members", "[users]") {
  auto groups = parse_group(kGroup);
  REQUIRE(groups.size() == 5);
  CHECK(groups[1].name == "sudo");
  CHECK(groups[1].gid == 27);
  CHECK(groups[1].members == std::vector<std::string>{"user", "other"});
  CHECK(groups[0].members.empty());
}

TEST_CASE("users resolve with supplementary groups", "[users]") {
  auto u = find_user("user", kPasswd, kGroup);
  REQUIRE(u);
  CHECK(u->uid == 1000);
  CHECK(u->gid == 1000);
  CHECK(u->groups == std::vector<gid_t>{1000, 27, 998});
  auto root = find_user("root", kPasswd, kGroup);
  REQUIRE(root);
  CHECK(root->home == "/root");
  auto nohome = find_user("nohome", kPasswd, kGroup);
  REQUIRE(nohome);
  CHECK(nohome->home == "/");
  CHECK(nohome->shell == "/bin/sh");
  auto missing = find_user("nobody", kPasswd, kGroup);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().is(Errc::not_found));
  CHECK(find_user_by_uid(1000, kPasswd, kGroup).value().name == "user");
}
