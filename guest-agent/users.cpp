// SPDX-License-Identifier: Apache-2.0
// passwd/group parsing and user lookup.
#include "guest-agent/users.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <limits>

#include <fmt/format.h>

#include "common/strings.hpp"
#include "common/unique_fd.hpp"

namespace nexus::agent {

static std::vector<std::string_view> split_fields(std::string_view line) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    size_t pos = line.find(':', start);
    if (pos == std::string_view::npos) {
      out.push_back(line.substr(start));
      return out;
    }
    out.push_back(line.substr(start, pos - start));
    start = pos + 1;
  }
}

static std::optional<uint32_t> parse_id(std::string_view s) {
  if (s.empty()) return std::nullopt;
  uint32_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  if (v == std::numeric_limits<uint32_t>::max()) return std::nullopt;  // (uid_t)-1 is invalid
  return v;
}

template <class F>
static void for_each_line(std::string_view text, F&& f) {
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty() && line.front() != '#') f(line);
    start = end + 1;
  }
}

std::vector<PasswdEntry> parse_passwd(std::string_view text) {
  std::vector<PasswdEntry> out;
  for_each_line(text, [&](std::string_view line) {
    auto f = split_fields(line);
    if (f.size() != 7 || f[0].empty()) return;
    auto uid = parse_id(f[2]);
    auto gid = parse_id(f[3]);
    if (!uid || !gid) return;
    out.push_back(PasswdEntry{std::string(f[0]), *uid, *gid, std::string(f[5]), std::string(f[6])});
  });
  return out;
}

std::vector<GroupEntry> parse_group(std::string_view text) {
  std::vector<GroupEntry> out;
  for_each_line(text, [&](std::string_view line) {
    auto f = split_fields(line);
    if (f.size() != 4 || f[0].empty()) return;
    auto gid = parse_id(f[2]);
    if (!gid) return;
    GroupEntry g{std::string(f[0]), *gid, {}};
    if (!f[3].empty())
      for (auto& m : split(f[3], ','))
        if (!m.empty()) g.members.push_back(m);
    out.push_back(std::move(g));
  });
  return out;
}

static User make_user(const PasswdEntry& p, std::string_view group_text) {
  User u{p.name, p.uid, p.gid, p.home.empty() ? std::string("/") : p.home,
         p.shell.empty() ? std::string("/bin/sh") : p.shell, {p.gid}};
  for (const auto& g : parse_group(group_text)) {
    if (std::find(g.members.begin(), g.members.end(), p.name) == g.members.end()) continue;
    if (std::find(u.groups.begin(), u.groups.end(), g.gid) == u.groups.end())
      u.groups.push_back(g.gid);
  }
  return u;
}

Result<User> find_user(std::string_view name, std::string_view passwd_text,
                       std::string_view group_text) {
  for (const auto& p : parse_passwd(passwd_text))
    if (p.name == name) return make_user(p, group_text);
  return fail(Errc::not_found, fmt::format("user '{}' does not exist", name));
}

Result<User> find_user_by_uid(uid_t uid, std::string_view passwd_text,
                              std::string_view group_text) {
  for (const auto& p : parse_passwd(passwd_text))
    if (p.uid == uid) return make_user(p, group_text);
  return fail(Errc::not_found, fmt::format("uid {} does not exist", uid));
}

Result<std::string> read_small_file(const std::string& path, size_t limit) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return fail_errno(fmt::format("opening '{}'", path));
  std::string out;
  char buf[16 * 1024];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_errno(fmt::format("reading '{}'", path));
    }
    if (n == 0) return out;
    if (out.size() + static_cast<size_t>(n) > limit)
      return fail(Errc::too_large, fmt::format("'{}' is too large", path));
    out.append(buf, static_cast<size_t>(n));
  }
}

Result<User> UserDb::lookup(std::string_view name) const {
  auto passwd = read_small_file(etc_dir_ + "/passwd");
  if (!passwd) return fail(std::move(passwd).error());
  auto group = read_small_file(etc_dir_ + "/group");
  return find_user(name, *passwd, group ? std::string_view(*group) : std::string_view());
}

Result<User> UserDb::lookup_uid(uid_t uid) const {
  auto passwd = read_small_file(etc_dir_ + "/passwd");
  if (!passwd) return fail(std::move(passwd).error());
  auto group = read_small_file(etc_dir_ + "/group");
  return find_user_by_uid(uid, *passwd, group ? std::string_view(*group) : std::string_view());
}

}  // namespace nexus::agent
