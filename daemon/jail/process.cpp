// SPDX-License-Identifier: Apache-2.0
// Host-side process facts from /proc/PID/stat: state, parent, start time.
#include "daemon/jail/process.hpp"

#include <cstdlib>

#include <fmt/format.h>

#include "daemon/jail/files.hpp"

namespace nexus::jail::detail {

Result<ProcStat> read_proc_stat(pid_t pid) {
  if (pid <= 0) return fail(Errc::invalid_argument, fmt::format("invalid pid {}", pid));
  auto text = read_file(fmt::format("/proc/{}/stat", pid));
  if (!text) {
    if (text.error().errno_value() == ENOENT || text.error().errno_value() == ESRCH)
      return fail(Errc::not_found, fmt::format("process {} does not exist", pid));
    return fail(std::move(text).error());
  }
  // comm (field 2) may contain spaces and parentheses: fields resume after the last ')'.
  size_t close = text->rfind(')');
  if (close == std::string::npos || close + 2 >= text->size())
    return fail(Errc::internal, fmt::format("cannot parse /proc/{}/stat", pid));
  ProcStat st;
  const char* p = text->c_str() + close + 2;  // at field 3
  st.state = *p;
  int field = 3;
  while (*p != '\0' && field < 22) {
    if (*p == ' ') {
      ++field;
      if (field == 4) st.ppid = static_cast<pid_t>(std::strtol(p + 1, nullptr, 10));
      if (field == 22) st.start_time = std::strtoull(p + 1, nullptr, 10);
    }
    ++p;
  }
  if (field != 22) return fail(Errc::internal, fmt::format("cannot parse /proc/{}/stat", pid));
  return st;
}

}  // namespace nexus::jail::detail
