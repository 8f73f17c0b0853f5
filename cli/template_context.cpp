// SPDX-License-Identifier: Apache-2.0
// pack_context: a small ustar writer (GNU long names for paths over 100 bytes).
#include "cli/template_context.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include <fmt/format.h>

namespace nexus::cli {
namespace {

void octal(char* field, size_t size, uint64_t value) {
  std::string s = fmt::format("{:0{}o}", value, size - 1);
  std::memcpy(field, s.data(), std::min(s.size(), size - 1));
}

std::string header(const std::string& name, char type, uint64_t size, unsigned mode, int64_t mtime,
                   const std::string& link) {
  char h[512] = {};
  std::memcpy(h, name.data(), std::min<size_t>(name.size(), 100));
  octal(h + 100, 8, mode & 07777);
  octal(h + 108, 8, 0);
  octal(h + 116, 8, 0);
  octal(h + 124, 12, size);
  octal(h + 136, 12, static_cast<uint64_t>(std::max<int64_t>(mtime, 0)));
  std::memset(h + 148, ' ', 8);
  h[156] = type;
  std::memcpy(h + 157, link.data(), std::min<size_t>(link.size(), 100));
  std::memcpy(h + 257, "ustar", 6);
  std::memcpy(h + 263, "00", 2);
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  std::string chk = fmt::format("{:06o}", sum);
  std::memcpy(h + 148, chk.data(), 6);
  h[154] = '\0';
  return std::string(h, sizeof h);
}

void pad(std::string& out) { out.append((512 - out.size() % 512) % 512, '\0'); }

class Packer {
 public:
  Packer(std::string root, std::vector<std::string> ignore) : root_(std::move(root)), ignore_(std::move(ignore)) {}

  Result<void> walk(const std::string& rel, int depth) {
    if (depth > 256) return fail(Errc::too_large, fmt::format("'{}' is nested too deeply", rel));
    std::string path = rel.empty() ? root_ : root_ + "/" + rel;
    DIR* d = ::opendir(path.c_str());
    if (!d) return fail_errno(fmt::format("reading '{}'", path));
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") names.push_back(n);
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    for (const auto& n : names) {
      std::string r = rel.empty() ? n : rel + "/" + n;
      if (ignored(r)) continue;
      std::string full = root_ + "/" + r;
      struct stat st {};
      if (::lstat(full.c_str(), &st) != 0) return fail_errno(fmt::format("inspecting '{}'", full));
      if (S_ISDIR(st.st_mode)) {
        add(r + "/", '5', 0, st.st_mode, st.st_mtim.tv_sec, "");
        NEXUS_TRY(walk(r, depth + 1));
      } else if (S_ISLNK(st.st_mode)) {
        char target[4097];
        ssize_t len = ::readlink(full.c_str(), target, sizeof target - 1);
        if (len < 0) return fail_errno(fmt::format("reading the link '{}'", full));
        add(r, '2', 0, 0777, st.st_mtim.tv_sec, std::string(target, static_cast<size_t>(len)));
      } else if (S_ISREG(st.st_mode)) {
        NEXUS_TRY(file(r, full, st));
      }
    }
    return {};
  }

  std::string take() {
    out_.append(1024, '\0');
    return std::move(out_);
  }

 private:
  bool ignored(const std::string& rel) const {
    for (const auto& p : ignore_) {
      if (::fnmatch(p.c_str(), rel.c_str(), FNM_PATHNAME) == 0) return true;
      for (size_t s = rel.find('/'); s != std::string::npos; s = rel.find('/', s + 1))  // below an ignored dir
        if (::fnmatch(p.c_str(), rel.substr(0, s).c_str(), FNM_PATHNAME) == 0) return true;
    }
    return false;
  }

  void add(const std::string& name, char type, uint64_t size, unsigned mode, int64_t mtime, const std::string& link) {
    if (link.size() > 100) {
      out_ += header("././@LongLink", 'K', link.size() + 1, 0644, 0, "");
      out_ += link;
      out_ += '\0';
      pad(out_);
    }
    if (name.size() > 100) {
      out_ += header("././@LongLink", 'L', name.size() + 1, 0644, 0, "");
      out_ += name;
      out_ += '\0';
      pad(out_);
    }
    out_ += header(name, type, size, mode, mtime, link);
  }

  Result<void> file(const std::string& rel, const std::string& full, const struct stat& st) {
    if (out_.size() + static_cast<uint64_t>(st.st_size) > kMaxContextBytes)
      return fail(Errc::too_large, fmt::format("the build context {} is larger than {} MiB (list what COPY does not need "
                                               "in .nexusignore, or use --context)",
                                               root_, kMaxContextBytes >> 20));
    int fd = ::open(full.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return fail_errno(fmt::format("opening '{}'", full));
    std::string data;
    data.resize(static_cast<size_t>(st.st_size));
    size_t got = 0;
    while (got < data.size()) {
      ssize_t n = ::read(fd, data.data() + got, data.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    ::close(fd);
    data.resize(got);
    add(rel, '0', data.size(), st.st_mode, st.st_mtim.tv_sec, "");
    out_ += data;
    pad(out_);
    return {};
  }

  std::string root_;
  std::vector<std::string> ignore_;
  std::string out_;
};

}  // namespace

Result<std::string> pack_context(const std::string& dir) {
  std::vector<std::string> ignore;
  if (FILE* f = std::fopen((dir + "/.nexusignore").c_str(), "re")) {
    char line[4096];
    while (std::fgets(line, sizeof line, f)) {
      std::string l = line;
      while (!l.empty() && (l.back() == '\n' || l.back() == '\r' || l.back() == ' ' || l.back() == '/')) l.pop_back();
      while (l.rfind("./", 0) == 0) l.erase(0, 2);
      if (!l.empty() && l[0] != '#') ignore.push_back(l);
    }
    std::fclose(f);
  }
  Packer p(dir, std::move(ignore));
  NEXUS_TRY(p.walk("", 0));
  return p.take();
}

}  // namespace nexus::cli
