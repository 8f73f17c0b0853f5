// SPDX-License-Identifier: Apache-2.0
// Fuzz the agent's passwd(5)/group(5) parsing and user lookup.
//
// Input: the first line is a user name (also tried as a uid); the rest is passwd text, then,
// after a line "--", group text. Without that line the same text is both files.
#include <algorithm>
#include <charconv>
#include <string_view>

#include "guest-agent/users.hpp"
#include "tests/fuzz/fuzz.hpp"

namespace agent = nexus::agent;

namespace {

void check_user(const agent::User& u) {
  FUZZ_CHECK(!u.name.empty());
  FUZZ_CHECK(u.name.find(':') == std::string::npos);
  FUZZ_CHECK(!u.home.empty());
  FUZZ_CHECK(!u.shell.empty());
  FUZZ_CHECK(!u.groups.empty() && u.groups.front() == u.gid);
  for (size_t i = 0; i < u.groups.size(); ++i)
    FUZZ_CHECK(std::count(u.groups.begin(), u.groups.end(), u.groups[i]) == 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input = nexus::fuzz::as_view(data, size);
  size_t nl = input.find('\n');
  std::string_view name = input.substr(0, nl);
  std::string_view rest = nl == std::string_view::npos ? std::string_view() : input.substr(nl + 1);
  std::string_view passwd = rest;
  std::string_view group = rest;
  if (size_t sep = rest.find("\n--\n"); sep != std::string_view::npos) {
    passwd = rest.substr(0, sep + 1);
    group = rest.substr(sep + 4);
  }

  for (const auto& p : agent::parse_passwd(passwd)) {
    FUZZ_CHECK(!p.name.empty());
    FUZZ_CHECK(p.name.find_first_of(":\n") == std::string::npos);
    FUZZ_CHECK(p.uid != static_cast<uid_t>(-1) && p.gid != static_cast<gid_t>(-1));
  }
  for (const auto& g : agent::parse_group(group)) {
    FUZZ_CHECK(!g.name.empty());
    FUZZ_CHECK(g.gid != static_cast<gid_t>(-1));
    for (const auto& m : g.members) FUZZ_CHECK(!m.empty() && m.find(',') == std::string::npos);
  }

  if (auto u = agent::find_user(name, passwd, group)) {
    FUZZ_CHECK(u->name == name);
    check_user(*u);
  } else {
    FUZZ_CHECK(u.error().is(nexus::Errc::not_found));
  }
  uint32_t uid = 0;
  if (std::from_chars(name.data(), name.data() + name.size(), uid).ec == std::errc()) {
    if (auto u = agent::find_user_by_uid(uid, passwd, group)) {
      FUZZ_CHECK(u->uid == uid);
      check_user(*u);
    } else {
      FUZZ_CHECK(u.error().is(nexus::Errc::not_found));
    }
  }
  return 0;
}
