// SPDX-License-Identifier: Apache-2.0
#include "guest-agent/network_files.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace nexus::agent {
namespace {

constexpr size_t kMaxNameservers = 3;  // what glibc's resolver reads
constexpr size_t kMaxPem = 16 * 1024;

bool is_ip(const std::string& s) {
  unsigned char buf[16];
  return ::inet_pton(AF_INET, s.c_str(), buf) == 1 || ::inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

Result<void> write_atomically(const std::string& path, const std::string& content, mode_t mode) {
  std::string tmp = path + ".nexus-tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) return fail_errno(fmt::format("writing '{}'", tmp));
  const char* p = content.data();
  size_t left = content.size();
  while (left) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return fail_errno(err, fmt::format("writing '{}'", tmp));
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  ::fchmod(fd, mode);
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return fail_errno(err, fmt::format("replacing '{}'", path));
  }
  return {};
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

Result<NetworkFiles> network_files_from_json(const Json& j) {
  NetworkFiles f;
  if (j.is_null()) return f;
  if (!j.is_object()) return fail(Errc::invalid_argument, "'network' must be an object");
  if (auto it = j.find("nameservers"); it != j.end() && !it->is_null()) {
    if (!it->is_array() || it->size() > kMaxNameservers)
      return fail(Errc::invalid_argument, "'network.nameservers' must be an array of at most 3 addresses");
    for (const auto& v : *it) {
      if (!v.is_string() || !is_ip(v.get<std::string>()))
        return fail(Errc::invalid_argument, "'network.nameservers' entries must be IP addresses");
      f.nameservers.push_back(v.get<std::string>());
    }
  }
  if (auto it = j.find("caCertificate"); it != j.end() && !it->is_null()) {
    if (!it->is_string() || it->get<std::string>().size() > kMaxPem ||
        it->get<std::string>().rfind("-----BEGIN CERTIFICATE-----", 0) != 0)
      return fail(Errc::invalid_argument, "'network.caCertificate' must be one PEM certificate");
    f.ca_pem = it->get<std::string>();
    if (f.ca_pem.back() != '\n') f.ca_pem += '\n';
  }
  return f;
}

Result<void> write_network_files(const std::string& etc_dir, const NetworkFiles& files) {
  if (!files.nameservers.empty()) {
    std::string text = "# Written by nexus-agent: the sandbox's DNS goes through nexusd.\n";
    for (const auto& ns : files.nameservers) text += "nameserver " + ns + "\n";
    text += "options edns0\n";
    NEXUS_TRY(write_atomically(etc_dir + "/resolv.conf", text, 0644));
  }
  if (!files.ca_pem.empty()) {
    std::string dir = etc_dir + "/../usr/local/share/ca-certificates";
    struct stat st;
    if (::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
      NEXUS_TRY(write_atomically(dir + "/nexus-egress.crt", files.ca_pem, 0644));
    std::string bundle = etc_dir + "/ssl/certs/ca-certificates.crt";
    if (::stat(bundle.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      std::string current = read_file(bundle);
      if (current.find(files.ca_pem) == std::string::npos) {
        if (!current.empty() && current.back() != '\n') current += '\n';
        NEXUS_TRY(write_atomically(bundle, current + files.ca_pem, 0644));
      }
    }
  }
  return {};
}

}  // namespace nexus::agent
