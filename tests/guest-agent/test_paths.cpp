// SPDX-License-Identifier: Apache-2.0
// Tests for envd path resolution.
#include <catch.hpp>

#include "guest-agent/paths.hpp"

using namespace nexus::agent;

TEST_CASE("paths resolve against home and normalise", "[paths]") {
  const std::string home = "/home/user";
  CHECK(resolve_path("", home).value() == "/home/user");
  CHECK(resolve_path("", home, "/work").value() == "/work");
  CHECK(resolve_path("~", home).value() == "/home/user");
  CHECK(resolve_path("~/a/b", home).value() == "/home/user/a/b");
  CHECK(resolve_path("a.txt", home).value() == "/home/user/a.txt");
  CHECK(resolve_path("/tmp/x/../y/./z/", home).value() == "/tmp/y/z");
  CHECK(resolve_path("/../../etc", home).value() == "/etc");
  CHECK(resolve_path("/", home).value() == "/");
  CHECK_FALSE(resolve_path(std::string("a\0b", 3), home));
  CHECK_FALSE(resolve_path(std::string(5000, 'a'), home));
  CHECK(base_name("/tmp/x/y.txt") == "y.txt");
  CHECK(parent_dir("/tmp/x/y.txt") == "/tmp/x");
  CHECK(parent_dir("/y") == "/");
}
