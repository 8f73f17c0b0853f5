// SPDX-License-Identifier: Apache-2.0
// agent-exec: the nested harness's client for a microVM's agent. It does what nexusd does,
// with nothing but blocking sockets, so it runs in the harness's busybox initramfs:
// connect to the VMM's hybrid vsock socket, `CONNECT 49983`, retry while the guest boots,
// then run one command through envd's process.Process/Start and relay its output and exit
// code. Usage: agent-exec UDS [--timeout SECONDS] [--pid VMM-PID] [--user NAME] -- CMD [ARGS...]
//        agent-exec --control SOCKET JSON   (one request to nexus-vmm's control socket)
// UDS may be `vsock:CID` for a plain AF_VSOCK connection (a peer VMM with vhost-vsock).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <linux/vm_sockets.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "common/connect_envelope.hpp"
#include "common/json.hpp"
#include "common/strings.hpp"

namespace {

using namespace nexus;
using Clock = std::chrono::steady_clock;

int die(const std::string& msg) {
  std::fprintf(stderr, "agent-exec: %s\n", msg.c_str());
  return 125;
}

// A direct AF_VSOCK connection ("vsock:CID", e.g. to a QEMU guest with vhost-vsock).
int connect_vsock(unsigned cid, unsigned port, std::string& why) {
  int fd = ::socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_vm addr{};
  addr.svm_family = AF_VSOCK;
  addr.svm_cid = cid;
  addr.svm_port = port;
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    why = std::string("vsock connect: ") + std::strerror(errno);
    if (fd >= 0) ::close(fd);
    return -1;
  }
  return fd;
}

// One hybrid-vsock connection to guest port `port`, or -1 (the guest has no listener yet).
int connect_agent(const std::string& uds, unsigned port, std::string& why) {
  if (uds.rfind("vsock:", 0) == 0)
    return connect_vsock(static_cast<unsigned>(std::atoi(uds.c_str() + 6)), port, why);
  // Non-blocking for the connect only: a VMM that stopped accepting fills its backlog, and a
  // blocking connect would then wait forever, past --timeout.
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", uds.c_str());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    why = errno == EAGAIN ? std::string("connect: the VMM accepts no connections (its backlog is full)")
                          : std::string("connect: ") + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  if (int fl = ::fcntl(fd, F_GETFL); fl < 0 || ::fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
    why = std::string("fcntl: ") + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  std::string line = "CONNECT " + std::to_string(port) + "\n";
  (void)!::write(fd, line.data(), line.size());
  std::string reply;
  char c;
  pollfd p{fd, POLLIN, 0};
  while (reply.size() < 32) {
    if (::poll(&p, 1, 3000) <= 0 || ::read(fd, &c, 1) != 1) break;
    if (c == '\n') {
      if (reply.rfind("OK ", 0) == 0) return fd;
      break;
    }
    reply += c;
  }
  why = reply.empty() ? "closed without an OK line (no listener yet)" : "bad reply '" + reply + "'";
  ::close(fd);
  return -1;
}

bool write_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// The body of a chunked HTTP/1.1 response.
bool dechunk(const std::string& in, std::string& out) {
  size_t pos = 0;
  for (;;) {
    size_t eol = in.find("\r\n", pos);
    if (eol == std::string::npos) return false;
    size_t len = std::strtoul(in.substr(pos, eol - pos).c_str(), nullptr, 16);
    pos = eol + 2;
    if (len == 0) return true;
    if (pos + len > in.size()) return false;
    out.append(in, pos, len);
    pos += len + 2;
  }
}

// Send one request line to a control socket and print the reply line.
int control(const std::string& path, const std::string& request) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return die("connecting to " + path + ": " + std::strerror(errno));
  if (!write_all(fd, request + "\n")) return die("sending the control request failed");
  std::string reply;
  char c;
  pollfd p{fd, POLLIN, 0};
  while (reply.size() < 65536 && ::poll(&p, 1, 30000) > 0 && ::read(fd, &c, 1) == 1 && c != '\n')
    reply += c;
  ::close(fd);
  if (reply.empty()) return die("no reply on the control socket");
  std::printf("%s\n", reply.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::string(argv[1]) == "--control") return control(argv[2], argv[3]);
  std::string uds, user = "root";
  double timeout = 60;
  int watch_pid = 0;  // give up early when this process (the VMM) is gone
  std::vector<std::string> cmd;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--timeout" && i + 1 < argc) timeout = std::atof(argv[++i]);
    else if (a == "--pid" && i + 1 < argc) watch_pid = std::atoi(argv[++i]);
    else if (a == "--user" && i + 1 < argc) user = argv[++i];
    else if (a == "--") {
      for (++i; i < argc; ++i) cmd.emplace_back(argv[i]);
    } else if (uds.empty()) uds = a;
    else return die("unexpected argument '" + a + "'");
  }
  if (uds.empty() || cmd.empty()) return die("usage: agent-exec UDS [--timeout S] [--user U] -- CMD [ARGS...]");

  auto t0 = Clock::now();
  auto deadline = t0 + std::chrono::duration<double>(timeout);
  std::string why;
  int fd = -1;
  while ((fd = connect_agent(uds, 49983, why)) < 0) {
    if (Clock::now() > deadline) return die("agent not reachable within the timeout: " + why);
    if (watch_pid > 0 && ::kill(watch_pid, 0) != 0) return die("the VMM exited before its agent answered");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  double ready_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  std::fprintf(stderr, "agent-exec: agent reachable after %.0f ms\n", ready_ms);

  Json args = Json::array();
  for (size_t i = 1; i < cmd.size(); ++i) args.push_back(cmd[i]);
  Json body = {{"process", {{"cmd", cmd[0]}, {"args", args}}}};
  std::string payload = connectrpc::encode_envelope(0, dump_json(body));
  std::string req = "POST /process.Process/Start HTTP/1.1\r\nHost: agent\r\n"
                    "Content-Type: application/connect+json\r\nConnect-Protocol-Version: 1\r\n"
                    "Authorization: Basic " + base64_encode(user + ":") + "\r\n"
                    "Connection: close\r\nContent-Length: " + std::to_string(payload.size()) +
                    "\r\n\r\n" + payload;
  if (!write_all(fd, req)) return die("sending the request failed");
  std::string resp;
  char buf[65536];
  ssize_t n = 0;
  pollfd p{fd, POLLIN, 0};
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) {
      ::close(fd);
      return die("no complete response within the timeout (" + std::to_string(resp.size()) +
                 " bytes so far)");
    }
    if ((n = ::read(fd, buf, sizeof buf)) <= 0) break;
    resp.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  size_t hdr_end = resp.find("\r\n\r\n");
  if (hdr_end == std::string::npos) return die("malformed HTTP response");
  std::string head = resp.substr(0, hdr_end), raw = resp.substr(hdr_end + 4), stream;
  if (head.rfind("HTTP/1.1 200", 0) != 0) return die("agent answered: " + head.substr(0, head.find('\r')));
  if (head.find("chunked") != std::string::npos) {
    if (!dechunk(raw, stream)) return die("malformed chunked body");
  } else {
    stream = raw;
  }
  connectrpc::EnvelopeReader reader(16 << 20);
  reader.feed(stream);
  int exit_code = 125;
  for (;;) {
    auto next = reader.next();
    if (!next || !*next) break;
    auto j = parse_json((*next)->payload);
    if (!j || !j->is_object()) continue;
    if ((*next)->flags & connectrpc::kEnvelopeEndStream) {
      if (j->contains("error")) return die("agent error: " + dump_json((*j)["error"]));
      break;
    }
    const Json& ev = (*j)["event"];
    if (ev.contains("data")) {
      for (const char* k : {"stdout", "stderr"}) {
        if (!ev["data"].contains(k)) continue;
        auto bytes = base64_decode(ev["data"][k].get<std::string>());
        if (bytes) std::fwrite(bytes->data(), 1, bytes->size(), std::string(k) == "stdout" ? stdout : stderr);
      }
    } else if (ev.contains("end")) {
      exit_code = ev["end"].value("exitCode", 0);
    }
  }
  std::fflush(stdout);
  return exit_code;
}
