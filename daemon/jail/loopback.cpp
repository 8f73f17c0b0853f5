// SPDX-License-Identifier: Apache-2.0
// Bring up "lo" in the sandbox's network namespace (child side).
#include "daemon/jail/loopback.hpp"

#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace nexus::jail::detail {

ChildStatus bring_up_loopback() noexcept {
  int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return child_errno("opening a socket to configure 'lo'");
  struct ifreq ifr;
  std::memset(&ifr, 0, sizeof(ifr));
  std::memcpy(ifr.ifr_name, "lo", 3);
  ChildStatus st;
  if (::ioctl(s, SIOCGIFFLAGS, &ifr) != 0) {
    st = child_errno("reading the flags of 'lo'");
  } else if (ifr.ifr_flags & IFF_UP) {
    // A namespace nexusd made has it up already (and the sandbox could not change it).
  } else {
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP | IFF_RUNNING);
    if (::ioctl(s, SIOCSIFFLAGS, &ifr) != 0) st = child_errno("bringing up 'lo'");
  }
  ::close(s);
  return st;
}

}  // namespace nexus::jail::detail
