// SPDX-License-Identifier: Apache-2.0
// mmdebstrap invocation and the cache of bootstrapped bases.
#include "rootfs/debian_bootstrap.hpp"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include <fmt/format.h>

#include "common/unique_fd.hpp"
#include "rootfs/base_hooks.hpp"
#include "rootfs/cache_key.hpp"
#include "rootfs/fs_util.hpp"
#include "rootfs/subprocess.hpp"

namespace nexus::rootfs {

namespace {

std::string join(const std::vector<std::string>& v, char sep) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

Result<void> fsync_file(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return fail_errno(fmt::format("opening {}", path));
  if (fsync(fd.get()) != 0) return fail_errno(fmt::format("fsync {}", path));
  return {};
}

}  // namespace

std::vector<std::string> mmdebstrap_argv(const DebianBase& base, const std::string& output_tar,
                                         const std::string& mmdebstrap) {
  std::vector<std::string> packages = base.packages;
  std::sort(packages.begin(), packages.end());
  packages.erase(std::unique(packages.begin(), packages.end()), packages.end());

  std::vector<std::string> argv = {
      mmdebstrap,
      "--mode=root",
      "--format=tar",
      "--variant=" + base.variant,
  };
  if (!packages.empty()) argv.push_back("--include=" + join(packages, ','));
  for (const auto& hook : effective_customize_hooks(base))
    argv.push_back("--customize-hook=" + hook);
  argv.push_back(base.suite);
  argv.push_back(output_tar);
  argv.push_back(base.mirror);
  return argv;
}

Result<std::string> ensure_debian_base(const DebianBase& base, const std::string& cache_dir,
                                       const std::string& mmdebstrap,
                                       const ProgressFn& progress) {
  NEXUS_TRY(validate_debian_base(base));
  std::string path = cached_base_path(cache_dir, base);
  auto exists = path_exists(path);
  if (!exists) return fail(std::move(exists).error());
  if (*exists) {
    report(progress, fmt::format("using cached Debian base {}", path));
    return path;
  }

  NEXUS_TRY(make_dirs(cache_dir, 0755));
  auto work = make_temp_dir(cache_dir, ".tmp-debian-");
  if (!work) return fail(std::move(work).error());
  std::string out = *work + "/base.tar";
  auto argv = mmdebstrap_argv(base, out, mmdebstrap);
  report(progress, fmt::format("bootstrapping Debian {} ({}) with mmdebstrap", base.suite,
                               base.variant));
  auto start = std::chrono::steady_clock::now();
  // mmdebstrap builds the tree in $TMPDIR before packing it: keep that inside our work
  // directory, on the cache's filesystem rather than a possibly small /tmp.
  auto ran = run_command(argv, progress, {"TMPDIR=" + *work});
  auto installed = [&]() -> Result<void> {
    if (!ran) return fail(std::move(ran).error().wrap("bootstrapping Debian"));
    NEXUS_TRY(fsync_file(out));
    if (rename(out.c_str(), path.c_str()) != 0)
      return fail_errno(fmt::format("renaming {} to {}", out, path));
    return fsync_dir(cache_dir);
  }();
  (void)remove_tree(*work);
  if (!installed) return fail(std::move(installed).error());
  auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  report(progress, fmt::format("cached Debian base {} ({:.0f} s)", path, secs));
  return path;
}

}  // namespace nexus::rootfs
