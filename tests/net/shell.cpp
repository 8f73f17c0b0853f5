// SPDX-License-Identifier: Apache-2.0
#include "tests/net/shell.hpp"

#include <cstdio>

namespace nexus::net::testing {

std::string run(const std::string& cmd, int* status) {
  std::string out;
  FILE* f = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!f) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  int st = ::pclose(f);
  if (status) *status = st;
  return out;
}

bool sh(const std::string& cmd) {
  int st = 0;
  std::string out = run(cmd, &st);
  if (st != 0) std::fprintf(stderr, "command failed: %s\n%s", cmd.c_str(), out.c_str());
  return st == 0;
}

}  // namespace nexus::net::testing
