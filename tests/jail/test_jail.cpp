// SPDX-License-Identifier: Apache-2.0
// End-to-end tests of the jail backend: spawn a static probe as PID 1 and check isolation.
#define CATCH_CONFIG_RUNNER
#include <catch.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>

#include "common/unique_fd.hpp"
#include "daemon/jail/jail.hpp"

#ifndef JAIL_PROBE_PATH
#define JAIL_PROBE_PATH ""
#endif

namespace fs = std::filesystem;
using nexus::UniqueFd;
namespace jail = nexus::jail;

namespace {

constexpr uint32_t kUidBase = 100000;
constexpr uint64_t kMemoryLimit = 64ull << 20;
constexpr uint64_t kPidsLimit = 32;

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// Runs a host command and returns its stdout.
std::string run(const std::string& cmd) {
  std::string out;
  FILE* f = ::popen(cmd.c_str(), "r");
  if (!f) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  ::pclose(f);
  return out;
}

void chown_tree(const fs::path& root, uid_t uid) {
  REQUIRE(::lchown(root.c_str(), uid, uid) == 0);
  for (const auto& e : fs::recursive_directory_iterator(root))
    REQUIRE(::lchown(e.path().c_str(), uid, uid) == 0);
}

// The test environment: a tiny lower rootfs (dash, coreutils bits, their libraries), built
// once and shared by all test cases.
struct Env {
  fs::path base;
  fs::path lower;

  Env() {
    char tmpl[] = "/tmp/nexus-jail-test.XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    base = tmpl;
    lower = base / "lower";
    fs::create_directories(base / "sandboxes");
    for (const char* d : {"usr/bin", "usr/lib", "usr/lib64", "usr/sbin", "etc", "proc", "sys",
                          "dev", "tmp", "root", "home/user"})
      fs::create_directories(lower / d);
    fs::permissions(lower / "tmp", fs::perms(01777));
    fs::create_directory_symlink("usr/bin", lower / "bin");
    fs::create_directory_symlink("usr/lib", lower / "lib");
    fs::create_directory_symlink("usr/lib64", lower / "lib64");
    fs::create_directory_symlink("usr/sbin", lower / "sbin");
    const char* bins[] = {"dash", "cat", "ls", "id", "sleep", "hostname"};
    std::string libs;
    for (const char* b : bins) {
      fs::path src = fs::path("/usr/bin") / b;
      fs::copy_file(src, lower / "usr/bin" / b, fs::copy_options::overwrite_existing);
      libs += run("ldd " + src.string());
    }
    fs::create_symlink("dash", lower / "usr/bin/sh");
    std::istringstream lines(libs);
    std::string line;
    while (std::getline(lines, line)) {
      // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or "/lib64/ld-linux... (0x...)"
      auto slash = line.find('/');
      if (slash == std::string::npos) continue;
      auto end = line.find(' ', slash);
      std::string lib = line.substr(slash, end - slash);
      fs::path dst = lower / lib.substr(1);
      fs::create_directories(dst.parent_path());
      fs::copy_file(lib, dst, fs::copy_options::overwrite_existing);
    }
    std::ofstream(lower / "etc/passwd") << "root:x:0:0:root:/root:/bin/sh\n"
                                           "user:x:1000:1000::/home/user:/bin/sh\n";
    std::ofstream(lower / "etc/group") << "root:x:0:\nuser:x:1000:\n";
    std::ofstream(lower / "marker") << "lower\n";
    chown_tree(lower, kUidBase);
  }

  ~Env() {
    std::error_code ec;
    fs::remove_all(base, ec);
  }

  jail::Spec spec(const std::string& id) const {
    jail::Spec s;
    s.id = id;
    s.lower_dir = lower.string();
    s.sandbox_dir = (base / "sandboxes" / id).string();
    s.agent_path = JAIL_PROBE_PATH;
    s.env = {"PATH=/usr/bin:/bin", "HOME=/root"};
    s.uid_base = kUidBase;
    s.limits.memory_bytes = kMemoryLimit;
    s.limits.pids = kPidsLimit;
    s.log_path = (base / (id + ".log")).string();
    return s;
  }
};

Env& env() {
  static Env e;
  return e;
}

std::map<std::string, std::string> parse_report(const std::string& text) {
  std::map<std::string, std::string> kv;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (eq != std::string::npos) kv[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return kv;
}

// Wait until `path` contains `needle` (the probe writes its report line by line).
bool wait_for_text(const fs::path& path, const std::string& needle, int seconds) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (slurp(path).find(needle) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

UniqueFd listen_unix(const fs::path& path) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(fd);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
  REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  REQUIRE(::listen(fd.get(), 16) == 0);
  return fd;
}

// Connect and read one reply, giving up after `timeout_ms`; "" when nothing came.
std::string ask(const fs::path& path, int timeout_ms) {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return "";
  pollfd pfd{fd.get(), POLLIN, 0};
  if (::poll(&pfd, 1, timeout_ms) != 1) return "";
  char buf[256];
  ssize_t n = ::read(fd.get(), buf, sizeof(buf));
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

std::string host_status_field(pid_t pid, const std::string& name) {
  std::istringstream in(slurp("/proc/" + std::to_string(pid) + "/status"));
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(name + ":", 0) == 0) return line.substr(name.size() + 1);
  return "";
}

bool host_mounts_mention(const std::string& dir) {
  return slurp("/proc/self/mountinfo").find(dir) != std::string::npos;
}

std::string cgroup_dir(const std::string& ctrl, const std::string& id) {
  if (fs::exists("/sys/fs/cgroup/cgroup.controllers")) return "/sys/fs/cgroup/nexus/" + id;
  return "/sys/fs/cgroup/" + ctrl + "/nexus/" + id;
}

}  // namespace

TEST_CASE("a jail runs the agent as PID 1, isolated and limited") {
  const std::string id = "sb_jailtest1";
  auto spec = env().spec(id);
  fs::path sock = env().base / (id + ".sock");
  UniqueFd listener = listen_unix(sock);
  spec.listen_fd = listener.get();
  spec.agent_args = {"report", "serve"};

  auto h = jail::spawn(spec);
  INFO((h ? std::string() : h.error().message()));
  REQUIRE(h);
  CHECK(jail::alive(*h));
  listener.reset();  // the jail holds its own copy

  REQUIRE(wait_for_text(spec.log_path, "done=1\n", 40));
  auto log = slurp(spec.log_path);
  INFO(log);
  auto r = parse_report(log);

  // Namespaces: PID 1, alone, own hostname, container root mapped to uid_base.
  CHECK(r["pid"] == "1");
  CHECK(r["nprocs"] == "1");
  CHECK(r["hostname"] == id);
  CHECK(r["uid"] == "0");
  CHECK(r["gid"] == "0");
  auto uid_line = host_status_field(h->pid, "Uid");
  CHECK(uid_line.find(std::to_string(kUidBase)) != std::string::npos);
  CHECK(uid_line.find("\t0\t") == std::string::npos);
  CHECK(r["cgroups"].find("nexus") == std::string::npos);  // cgroup namespace hides the path

  // Descriptors: stdio, the listen socket as fd 3, nothing else.
  CHECK(r["fds"] == "0,1,2,3,");
  CHECK(r["fd3_listening"] == "1");
  CHECK(r["listen_fds"] == "1");

  // Privileges: Docker's capability set, no_new_privs, no mounting.
  CHECK(r["CapEff"] == "00000000a80425fb");
  CHECK(r["CapBnd"] == "00000000a80425fb");
  CHECK(r["NoNewPrivs"] == "1");
  CHECK(r["mount_errno"] == std::to_string(EPERM));

  // /proc and /sys hardening, /dev.
  CHECK(r["proc_sys_ro"] == "1");
  CHECK((r["proc_sysrq_ro"] == "1" || !fs::exists("/proc/sysrq-trigger")));
  CHECK(r["proc_bus_ro"] == "1");
  // Masked: files have /dev/null bound over them, directories an empty tmpfs. Paths this
  // kernel does not have stay missing.
  for (const char* key : {"kcore", "keys", "timer_list"}) {
    INFO(key);
    bool absent = r[key] == "missing" && !fs::exists(std::string("/proc/") + key);
    CHECK((r[key] == "chr:1:3" || absent));
  }
  CHECK((r["acpi"] == "dir:0" || r["acpi"] == "missing"));
  CHECK((r["sys_firmware"] == "dir:0" || r["sys_firmware"] == "missing"));
  CHECK((r["sys_mkdir_errno"] == std::to_string(EROFS) ||
         r["sys_mkdir_errno"] == std::to_string(EACCES)));
  CHECK(r["dev_null"] == "1");
  CHECK(r["ptmx"] == "1");

  // Network: loopback only, and up.
  CHECK(r["netdevs"] == "lo,");
  CHECK(r["lo_up"] == "1");

  // The rootfs works for dynamically linked programs; writes go to upper/.
  CHECK(r["shell_out"] == "42 0");
  CHECK(r["shell_status"] == "0");
  CHECK(r["tmp_write"] == "1");
  CHECK(fs::exists(fs::path(spec.sandbox_dir) / "upper/tmp/probe-file"));
  CHECK_FALSE(fs::exists(env().lower / "tmp/probe-file"));
  // The overlay exists only in the sandbox's mount namespaces.
  CHECK_FALSE(host_mounts_mention(spec.sandbox_dir));

  // Limits: written to the cgroups and enforced.
  if (!fs::exists("/sys/fs/cgroup/cgroup.controllers")) {
    CHECK(trim(slurp(cgroup_dir("memory", id) + "/memory.limit_in_bytes")) ==
          std::to_string(kMemoryLimit));
    CHECK(trim(slurp(cgroup_dir("pids", id) + "/pids.max")) == std::to_string(kPidsLimit));
    CHECK(trim(slurp(cgroup_dir("cpu", id) + "/cpu.cfs_quota_us")) == "100000");
  } else {
    CHECK(trim(slurp(cgroup_dir("", id) + "/memory.max")) == std::to_string(kMemoryLimit));
    CHECK(trim(slurp(cgroup_dir("", id) + "/pids.max")) == std::to_string(kPidsLimit));
  }
  CHECK(std::stoi(r["forks"]) < static_cast<int>(kPidsLimit));
  CHECK(r["fork_errno"] == std::to_string(EAGAIN));
  CHECK(r["hog"] == "signal:9");

  // The agent answers on the passed socket, not while frozen, again after thaw.
  CHECK(ask(sock, 5000) == "pong " + id + "\n");
  auto u = jail::usage(id);
  REQUIRE(u);
  CHECK(u->pids >= 1);
  CHECK(u->memory_bytes > 0);
  REQUIRE(jail::freeze(id));
  if (!fs::exists("/sys/fs/cgroup/cgroup.controllers"))
    CHECK(trim(slurp(cgroup_dir("freezer", id) + "/freezer.state")) == "FROZEN");
  CHECK(ask(sock, 300) == "");
  REQUIRE(jail::thaw(id));
  CHECK(ask(sock, 5000) == "pong " + id + "\n");

  // Destroy: frozen or not, everything goes, and a second destroy is fine.
  REQUIRE(jail::freeze(id));
  auto d = jail::destroy(id, *h, spec.sandbox_dir);
  INFO((d ? std::string() : d.error().message()));
  REQUIRE(d);
  CHECK_FALSE(jail::alive(*h));
  CHECK(::waitpid(h->pid, nullptr, WNOHANG) < 0);  // already reaped by destroy
  CHECK_FALSE(fs::exists(cgroup_dir("memory", id)));
  CHECK_FALSE(fs::exists(cgroup_dir("freezer", id)));
  CHECK_FALSE(fs::exists(spec.sandbox_dir));
  CHECK_FALSE(host_mounts_mention(spec.sandbox_dir));
  CHECK(jail::destroy(id, *h, spec.sandbox_dir));
  CHECK_FALSE(jail::freeze(id));
}

TEST_CASE("the agent is a child of the caller and its exit status is visible") {
  const std::string id = "sb_jailtest2";
  auto spec = env().spec(id);
  spec.agent_args = {"exec", "/bin/sh", "-c", "echo hi from $(hostname); exit 3"};
  auto h = jail::spawn(spec);
  INFO((h ? std::string() : h.error().message()));
  REQUIRE(h);
  int status = 0;
  REQUIRE(::waitpid(h->pid, &status, 0) == h->pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 3);
  CHECK(slurp(spec.log_path).find("hi from " + id) != std::string::npos);
  CHECK_FALSE(jail::alive(*h));
  REQUIRE(jail::destroy(id, *h, spec.sandbox_dir));
  CHECK_FALSE(fs::exists(spec.sandbox_dir));
}

TEST_CASE("a jail outlives its starter and is destroyed by pid and start time") {
  // Simulates a daemon crash: a child process spawns the jail and exits without cleanup.
  const std::string id = "sb_jailtest4";
  auto spec = env().spec(id);
  spec.agent_args = {"exec", "/bin/sleep", "1000"};
  int p[2];
  REQUIRE(::pipe(p) == 0);
  pid_t starter = ::fork();
  REQUIRE(starter >= 0);
  if (starter == 0) {
    auto h = jail::spawn(spec);
    jail::Handle out = h ? *h : jail::Handle{};
    (void)!::write(p[1], &out, sizeof(out));
    ::_exit(h ? 0 : 1);
  }
  ::close(p[1]);
  jail::Handle h;
  REQUIRE(::read(p[0], &h, sizeof(h)) == static_cast<ssize_t>(sizeof(h)));
  ::close(p[0]);
  int status = 0;
  REQUIRE(::waitpid(starter, &status, 0) == starter);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(jail::alive(h));  // no parent-death signal: the sandbox keeps running
  auto u = jail::usage(id);
  REQUIRE(u);
  CHECK(u->pids == 2);  // the probe and its sleep
  // A handle with the wrong start time must not be killed (pid reuse protection).
  CHECK_FALSE(jail::alive(jail::Handle{h.pid, h.start_time + 1}));
  auto d = jail::destroy(id, h, spec.sandbox_dir);
  INFO((d ? std::string() : d.error().message()));
  REQUIRE(d);
  CHECK_FALSE(jail::alive(h));
  CHECK_FALSE(fs::exists(cgroup_dir("pids", id)));
  CHECK_FALSE(fs::exists(spec.sandbox_dir));
}

TEST_CASE("a bad lower_dir fails at the overlay step and leaves nothing running") {
  const std::string id = "sb_jailtest3";
  auto spec = env().spec(id);
  spec.lower_dir = (env().base / "no-such-lower").string();
  auto h = jail::spawn(spec);
  REQUIRE_FALSE(h);
  INFO(h.error().message());
  CHECK(h.error().message().rfind("mounting overlay on '" + spec.sandbox_dir + "/rootfs'", 0) ==
        0);
  CHECK(h.error().errno_value() != 0);
  CHECK_FALSE(fs::exists(cgroup_dir("memory", id)));
  CHECK_FALSE(fs::exists(cgroup_dir("pids", id)));
  CHECK(jail::destroy(id, jail::Handle{}, spec.sandbox_dir));
  CHECK_FALSE(fs::exists(spec.sandbox_dir));
}

TEST_CASE("destroy is idempotent for sandboxes that are already gone") {
  CHECK(jail::destroy("sb_neverexisted", jail::Handle{}, (env().base / "nothing").string()));
  // A stale handle whose pid now belongs to someone else (here: us) is left alone.
  jail::Handle stale{::getpid(), 1};
  CHECK_FALSE(jail::alive(stale));
  CHECK(jail::destroy("sb_neverexisted", stale, ""));
}

TEST_CASE("invalid specs are rejected before anything is created") {
  auto spec = env().spec("../escape");
  auto h = jail::spawn(spec);
  REQUIRE_FALSE(h);
  CHECK(h.error().is(nexus::Errc::invalid_argument));
  spec = env().spec("sb_ok");
  spec.uid_base = 0;
  CHECK_FALSE(jail::spawn(spec));
  CHECK_FALSE(jail::destroy("a/b", jail::Handle{}, ""));
}

int main(int argc, char** argv) {
  if (::geteuid() != 0) {
    std::puts("SKIP: needs root (namespaces, cgroups, mounts)");
    return 77;
  }
  if (!fs::exists(JAIL_PROBE_PATH)) {
    std::printf("SKIP: probe '%s' not built\n", JAIL_PROBE_PATH);
    return 77;
  }
  int rc = Catch::Session().run(argc, argv);
  return rc;
}
