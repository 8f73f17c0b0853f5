// SPDX-License-Identifier: Apache-2.0
// Random query IDs.
#include "net/dns/id_map.hpp"

#include <sys/random.h>

#include <cerrno>

#include "common/result.hpp"

namespace nexus::net::dns {

uint16_t random_u16() {
  // One getrandom call per 256 IDs keeps a query flood from turning into a syscall flood.
  thread_local uint16_t buf[256];
  thread_local size_t left = 0;
  if (left == 0) {
    auto* p = reinterpret_cast<unsigned char*>(buf);
    size_t n = sizeof buf;
    while (n > 0) {
      ssize_t r = ::getrandom(p, n, 0);
      if (r < 0) {
        NEXUS_CHECK(errno == EINTR);
        continue;
      }
      p += r;
      n -= static_cast<size_t>(r);
    }
    left = 256;
  }
  return buf[--left];
}

}  // namespace nexus::net::dns
