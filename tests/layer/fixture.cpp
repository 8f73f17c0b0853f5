// SPDX-License-Identifier: Apache-2.0
// Sandbox and result helpers.
#include "fixture.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "rootfs/fs_util.hpp"

namespace nexus::rootfs::layer::test {

namespace {

void walk(const std::string& base, const std::string& rel, std::vector<std::string>& out) {
  DIR* d = opendir((base + "/" + rel).c_str());
  if (d == nullptr) throw std::runtime_error("opendir " + rel);
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    std::string child = rel.empty() ? n : rel + "/" + n;
    out.push_back(child);
    if (e->d_type == DT_DIR) walk(base, child, out);
  }
  closedir(d);
}

}  // namespace

Sandbox::Sandbox() {
  // /var/tmp: a disk filesystem (user xattrs), unlike a tmpfs /tmp on older kernels.
  std::string tmpl = "/var/tmp/nexus-layer-test-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp");
  scratch_ = tmpl;
  root_ = scratch_ + "/root";
  sentinel_ = scratch_ + "/sentinel";
  if (mkdir(root_.c_str(), 0755) != 0 || mkdir(sentinel_.c_str(), 0755) != 0 ||
      mkdir((scratch_ + "/blobs").c_str(), 0755) != 0)
    throw std::runtime_error("mkdir in " + scratch_);
  std::ofstream(sentinel_ + "/file") << "untouched\n";
  sentinel_dir_st_ = lstat_of(sentinel_);
  sentinel_file_st_ = lstat_of(sentinel_ + "/file");
}

Sandbox::~Sandbox() { (void)remove_tree(scratch_); }

std::string Sandbox::blob_path() {
  return scratch_ + "/blobs/" + std::to_string(next_blob_++);
}

LayerWriter& Sandbox::layer(const std::string& name, Codec codec) {
  std::string path = blob_path();
  blobs_.push_back(LayerBlob{path, "", "sha256:" + name});
  writers_.push_back(std::make_unique<LayerWriter>(path, codec));
  return *writers_.back();
}

Result<ApplyResult> Sandbox::apply(const ApplyOptions& options) {
  for (auto& w : writers_) w->close();
  return apply_layers(blobs_, root_, options);
}

void Sandbox::check_sentinel() const {
  CHECK(tree(sentinel_) == std::vector<std::string>{"file"});
  CHECK(slurp(sentinel_ + "/file") == "untouched\n");
  struct stat d = lstat_of(sentinel_), f = lstat_of(sentinel_ + "/file");
  CHECK(d.st_mode == sentinel_dir_st_.st_mode);
  CHECK(d.st_uid == sentinel_dir_st_.st_uid);
  CHECK(d.st_mtim.tv_sec == sentinel_dir_st_.st_mtim.tv_sec);
  CHECK(d.st_mtim.tv_nsec == sentinel_dir_st_.st_mtim.tv_nsec);
  CHECK(f.st_mode == sentinel_file_st_.st_mode);
  CHECK(f.st_uid == sentinel_file_st_.st_uid);
  CHECK(f.st_nlink == 1);
  CHECK(f.st_mtim.tv_nsec == sentinel_file_st_.st_mtim.tv_nsec);
}

struct stat lstat_of(const std::string& path) {
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) throw std::runtime_error("lstat " + path);
  return st;
}

bool exists(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::optional<std::string> xattr_of(const std::string& path, const std::string& name) {
  char buf[256];
  ssize_t n = lgetxattr(path.c_str(), name.c_str(), buf, sizeof buf);
  if (n < 0) return std::nullopt;
  return std::string(buf, static_cast<size_t>(n));
}

std::vector<std::string> tree(const std::string& root) {
  std::vector<std::string> out;
  walk(root, "", out);
  std::sort(out.begin(), out.end());
  return out;
}

void require_error(const Result<ApplyResult>& r, std::initializer_list<std::string> parts) {
  REQUIRE_FALSE(r.has_value());
  INFO("error: " << r.error().message());
  for (const auto& p : parts) CHECK_THAT(r.error().message(), Catch::Contains(p));
}

}  // namespace nexus::rootfs::layer::test
