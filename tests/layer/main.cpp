// SPDX-License-Identifier: Apache-2.0
// test-layer's main: skips (exit 77) with the reason when the host lacks what the tests need.
// `--erofs` runs the hidden [erofs] export tests instead, which also need erofs-utils.
#define CATCH_CONFIG_RUNNER
#include <catch.hpp>

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "rootfs/erofs_export.hpp"

namespace {

constexpr int kSkip = 77;

// Why the tests cannot run here, or empty.
std::string missing() {
  if (geteuid() != 0) return "needs root (chown to other ids, mknod, security.capability)";
  open_how how{};
  how.flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
  how.resolve = RESOLVE_BENEATH;
  long fd = syscall(SYS_openat2, AT_FDCWD, ".", &how, sizeof how);
  if (fd < 0) return "needs openat2 (Linux 5.6 or later)";
  close(static_cast<int>(fd));
  std::string probe = "/var/tmp/nexus-layer-xattr-probe-" + std::to_string(getpid());
  int pfd = open(probe.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  if (pfd < 0) return "cannot create files in /var/tmp";
  bool xattrs = fsetxattr(pfd, "user.probe", "1", 1, 0) == 0;
  close(pfd);
  unlink(probe.c_str());
  if (!xattrs) return "/var/tmp does not support user.* xattrs";
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> args;
  bool erofs = false;
  for (int i = 0; i < argc; ++i) {
    if (i > 0 && std::string(argv[i]) == "--erofs")
      erofs = true;
    else
      args.push_back(argv[i]);
  }
  std::string why = missing();
  for (const char* tool : {"mkfs.erofs", "fsck.erofs"})
    if (erofs && why.empty() && !nexus::rootfs::find_tool(tool))
      why = std::string(tool) + " is not installed (erofs-utils)";
  if (!why.empty()) {
    std::fprintf(stderr, "test-layer: skipped: %s\n", why.c_str());
    return kSkip;
  }
  static char erofs_tag[] = "[erofs]";
  if (erofs) args.push_back(erofs_tag);
  return Catch::Session().run(static_cast<int>(args.size()), args.data());
}
