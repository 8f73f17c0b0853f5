// SPDX-License-Identifier: Apache-2.0
#include "rootfs/oci/content_store.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>
#include <memory>

#include <fmt/format.h>

#include "common/strings.hpp"
#include "rootfs/oci/fs_io.hpp"

namespace nexus::oci {

namespace {

struct DirCloser {
  void operator()(DIR* d) const { (void)::closedir(d); }
};

// Names in a directory, without . and ..
Result<std::vector<std::string>> list_dir(const std::string& dir) {
  std::unique_ptr<DIR, DirCloser> d(::opendir(dir.c_str()));
  if (!d) return fail_errno("opendir " + dir);
  std::vector<std::string> out;
  while (dirent* e = ::readdir(d.get())) {
    std::string name = e->d_name;
    if (name != "." && name != "..") out.push_back(std::move(name));
  }
  return out;
}

}  // namespace

Result<ContentStore> ContentStore::at(const std::string& root) {
  ContentStore s;
  s.root_ = root;
  s.blobs_dir_ = root + "/blobs/sha256";
  s.ingest_dir_ = root + "/blobs/ingest";
  NEXUS_TRY(make_dirs(s.blobs_dir_).map_error([](Error e) { return std::move(e).wrap("content store"); }));
  NEXUS_TRY(make_dirs(s.ingest_dir_).map_error([](Error e) { return std::move(e).wrap("content store"); }));
  return s;
}

std::string ContentStore::path(const Digest& d) const { return blobs_dir_ + "/" + d.hex(); }

bool ContentStore::has(const Digest& d) const {
  struct stat st {};
  return d.valid() && ::stat(path(d).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

Result<uint64_t> ContentStore::size(const Digest& d) const {
  struct stat st {};
  if (::stat(path(d).c_str(), &st) != 0) {
    if (errno == ENOENT) return fail(Errc::not_found, fmt::format("blob {} is not in the store", d.str()));
    return fail_errno("stat " + path(d));
  }
  return static_cast<uint64_t>(st.st_size);
}

Result<UniqueFd> ContentStore::open(const Digest& d) const {
  auto fd = open_read(path(d));
  if (!fd && fd.error().is(Errc::not_found))
    return fail(Errc::not_found, fmt::format("blob {} is not in the store", d.str()));
  return fd;
}

Result<std::string> ContentStore::read(const Digest& d, uint64_t max_bytes) const {
  auto data = read_file_bounded(path(d), max_bytes);
  if (!data) {
    if (data.error().is(Errc::not_found))
      return fail(Errc::not_found, fmt::format("blob {} is not in the store", d.str()));
    return fail(std::move(data).error().wrap("blob " + d.str()));
  }
  if (sha256_of(*data) != d)
    return fail(Errc::protocol, fmt::format("blob {} in the store is corrupted (digest mismatch)", d.str()));
  return data;
}

Result<Digest> ContentStore::put(std::string_view data) const {
  Digest d = sha256_of(data);
  if (has(d)) return d;
  auto w = writer();
  if (!w) return fail(std::move(w).error());
  NEXUS_TRY(w->write(data));
  return w->commit();
}

Result<BlobWriter> ContentStore::writer(const Digest& expected, uint64_t expected_size) const {
  BlobWriter w;
  w.blobs_dir_ = blobs_dir_;
  w.expected_ = expected;
  w.expected_size_ = expected_size;
  w.resumable_ = true;
  w.temp_path_ = ingest_dir_ + "/" + expected.hex() + ".partial";
  w.fd_ = UniqueFd(::open(w.temp_path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!w.fd_.valid()) return fail_errno("open " + w.temp_path_);
  if (::flock(w.fd_.get(), LOCK_EX | LOCK_NB) != 0) {
    w.fd_.reset();
    w.temp_path_.clear();
    if (errno == EWOULDBLOCK)
      return fail(Errc::conflict, fmt::format("blob {} is being written by another download", expected.str()));
    return fail_errno("flock");
  }
  // Re-hash what an earlier attempt left; an over-long leftover cannot be right.
  struct stat st {};
  if (::fstat(w.fd_.get(), &st) != 0) return fail_errno("fstat " + w.temp_path_);
  if (expected_size != 0 && static_cast<uint64_t>(st.st_size) > expected_size) {
    NEXUS_TRY(w.restart());
  } else if (st.st_size > 0) {
    NEXUS_TRY(read_chunks(w.fd_.get(), [&](std::string_view chunk) -> Result<void> {
      w.hash_.update(chunk);
      w.offset_ += chunk.size();
      return {};
    }));
  }
  return w;
}

Result<BlobWriter> ContentStore::writer() const {
  BlobWriter w;
  w.blobs_dir_ = blobs_dir_;
  w.temp_path_ = ingest_dir_ + "/tmp-" + random_hex(12);
  w.fd_ = UniqueFd(::open(w.temp_path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!w.fd_.valid()) return fail_errno("open " + w.temp_path_);
  // Held so gc() leaves a slow ingest alone.
  (void)::flock(w.fd_.get(), LOCK_EX | LOCK_NB);
  return w;
}

Result<std::vector<Digest>> ContentStore::list() const {
  auto names = list_dir(blobs_dir_);
  if (!names) return fail(std::move(names).error());
  std::vector<Digest> out;
  for (const auto& n : *names) {
    if (auto d = parse_digest("sha256:" + n)) out.push_back(*d);
  }
  return out;
}

Result<GcStats> ContentStore::gc(const std::set<Digest>& keep, std::chrono::seconds temp_max_age) const {
  GcStats stats;
  auto names = list_dir(blobs_dir_);
  if (!names) return fail(std::move(names).error().wrap("gc"));
  for (const auto& n : *names) {
    auto d = parse_digest("sha256:" + n);
    if (d && keep.count(*d)) continue;
    std::string p = blobs_dir_ + "/" + n;
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) continue;  // raced with another gc
    if (S_ISDIR(st.st_mode)) continue;           // not ours to judge
    if (::unlink(p.c_str()) != 0) return fail_errno("gc: unlink " + p);
    ++stats.blobs_removed;
    stats.bytes_removed += static_cast<uint64_t>(st.st_size);
  }
  auto temps = list_dir(ingest_dir_);
  if (!temps) return fail(std::move(temps).error().wrap("gc"));
  const time_t now = ::time(nullptr);
  for (const auto& n : *temps) {
    std::string p = ingest_dir_ + "/" + n;
    UniqueFd fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    struct stat st {};
    if (!fd.valid() || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (now - st.st_mtime < temp_max_age.count()) continue;
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) continue;  // a writer is using it
    if (::unlink(p.c_str()) == 0) ++stats.temporaries_removed;
  }
  if (stats.blobs_removed > 0) NEXUS_TRY(fsync_dir(blobs_dir_));
  return stats;
}

}  // namespace nexus::oci
