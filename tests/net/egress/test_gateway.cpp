// SPDX-License-Identifier: Apache-2.0
// The egress gateway for real. The test process moves into a network namespace of its own
// ("host"), where the gateway runs and the test's nft rules redirect the sandbox's ports 80
// and 443 to it; a "sandbox" namespace (curl and raw sockets) and an "upstream" namespace
// (dnsmasq, python3's HTTP and HTTPS servers) hang off it by veth pairs:
//
//   sandbox netns  eth0 10.88.0.2/30 fd4e:7800::2/126 (+10.88.1.2/32, a peer the gateway
//        | veth                                       does not know)
//   host netns     nxsegtest00001 10.88.0.1/30 fd4e:7800::1/126  gateway :15080 :15443,
//                  nxup0 198.51.100.1/24 2001:db8:100::1/64      nft redirect
//        | veth
//   upstream netns eth0 198.51.100.10/24 198.51.100.20/24 2001:db8:100::10/64:
//                  dnsmasq :53, HTTP :80, HTTPS :443
//
// Needs root, ip, nft, dnsmasq, python3, curl and openssl; exits 77 with the reason otherwise.
// A reaper process deletes the named namespaces and stops the servers however the test ends.
#define CATCH_CONFIG_RUNNER
#include <catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>

#include "common/json.hpp"
#include "net/egress/gateway.hpp"
#include "tests/net/netns_support.hpp"

using namespace nexus;
using namespace nexus::net::testing;
using namespace nexus::net;
using namespace nexus::net::egress;
using namespace std::chrono_literals;

namespace {

constexpr const char* kSecret = "sk-test-9f8e7d6c5b4a";
constexpr const char* kLiteralSecret = "lit-e2b-1234567890";

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct World {
  std::string id = std::to_string(::getpid());
  std::string sandbox_ns = "nxeg-s-" + id, upstream_ns = "nxeg-u-" + id;
  std::string dir;
  int sandbox_fd = -1;
  pid_t reaper = -1;
  std::vector<pid_t> servers;
  std::shared_ptr<SandboxDirectory> sandboxes = std::make_shared<SandboxDirectory>();
  std::shared_ptr<JsonlAuditLog> audit;
  std::unique_ptr<Gateway> gateway;

  std::string S() const { return "ip netns exec " + sandbox_ns + " "; }
  std::string U() const { return "ip netns exec " + upstream_ns + " "; }

  // Starts `cmd` in the upstream namespace as a child; the reaper kills it at the end.
  pid_t spawn(const std::string& cmd) {
    pid_t pid = ::fork();
    if (pid == 0) {
      ::setpgid(0, 0);
      ::execl("/bin/sh", "sh", "-c", ("exec " + U() + cmd).c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    servers.push_back(pid);
    return pid;
  }

  std::string setup() {
    char tmpl[] = "/tmp/nexus-egress-gw-XXXXXX";
    if (!::mkdtemp(tmpl)) return "mkdtemp failed";
    dir = tmpl;
    // However this process ends, the reaper stops the upstream's servers, deletes the namespaces and removes
    // the files.
    reaper = start_reaper("ip netns pids " + upstream_ns + " 2>/dev/null | xargs -r kill -9; " +
                          netns_del_command({sandbox_ns, upstream_ns}) + "; rm -rf " + dir + " /etc/netns/" +
                          sandbox_ns + "; rmdir /etc/netns 2>/dev/null");
    if (reaper < 0) return "cannot start the reaper";

    // Our own "host" namespace: nothing here touches the machine's.
    if (::unshare(CLONE_NEWNET) != 0) return "unshare(CLONE_NEWNET) failed";
    if (!add_netns({sandbox_ns, upstream_ns})) return "ip netns add failed";
    sandbox_fd = open_netns(sandbox_ns);
    const std::string IS = "ip -n " + sandbox_ns + " ", IU = "ip -n " + upstream_ns + " ";
    bool ok = sh("ip link set lo up") &&
              sh("ip link add nxsegtest00001 type veth peer name eth0 netns " + sandbox_ns) &&
              sh("ip addr add 10.88.0.1/30 dev nxsegtest00001") && sh("ip link set nxsegtest00001 up") &&
              sh("ip route add 10.88.1.2/32 dev nxsegtest00001") &&
              sh(IS + "link set lo up") && sh(IS + "addr add 10.88.0.2/30 dev eth0") &&
              sh(IS + "addr add 10.88.1.2/32 dev eth0") && sh(IS + "link set eth0 up") &&
              sh(IS + "route add default via 10.88.0.1") &&
              sh("ip link add nxup0 type veth peer name eth0 netns " + upstream_ns) &&
              sh("ip addr add 198.51.100.1/24 dev nxup0") && sh("ip link set nxup0 up") &&
              sh(IU + "link set lo up") && sh(IU + "addr add 198.51.100.10/24 dev eth0") &&
              sh(IU + "addr add 198.51.100.20/24 dev eth0") && sh(IU + "addr add 198.51.100.30/24 dev eth0") && sh(IU + "link set eth0 up") &&
              sh(IU + "route add default via 198.51.100.1") &&
              sh("ip addr add fd4e:7800::1/126 dev nxsegtest00001 nodad") &&
              sh(IS + "addr add fd4e:7800::2/126 dev eth0 nodad") && sh(IS + "route add default via fd4e:7800::1") &&
              sh("ip addr add 2001:db8:100::1/64 dev nxup0 nodad") &&
              sh(IU + "addr add 2001:db8:100::10/64 dev eth0 nodad") && sh(IU + "route add default via 2001:db8:100::1");
    if (!ok) return "cannot build the namespaces and veth pairs";
    // The sandbox asks the upstream's dnsmasq directly (forwarded by our host namespace);
    // `ip netns exec` mounts /etc/netns/<name>/resolv.conf over /etc/resolv.conf.
    if (!sh("sysctl -qw net.ipv4.ip_forward=1") || !sh("sysctl -qw net.ipv6.conf.all.forwarding=1") || !sh("mkdir -p /etc/netns/" + sandbox_ns) ||
        !sh("echo nameserver 198.51.100.10 > /etc/netns/" + sandbox_ns + "/resolv.conf"))
      return "cannot set up the sandbox's resolver";
    // What the host firewall does for real (net/nft): the sandbox's 80 and 443 to the gateway.
    std::ofstream(dir + "/redirect.nft") << "table inet nexus-egress-test {\n"
                                            "  chain pre { type nat hook prerouting priority dstnat;\n"
                                            "    iifname \"nxs*\" tcp dport 80 redirect to :15080\n"
                                            "    iifname \"nxs*\" tcp dport 443 redirect to :15443\n"
                                            "  }\n}\n";
    if (!sh("nft -f " + dir + "/redirect.nft")) return "nft cannot load the redirect rules (nftables NAT missing?)";

    // A test CA and the upstream's certificate (names and the IP, for the no-SNI case).
    const std::string d = dir;
    ok = sh("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj '/CN=egress test CA' "
            "-addext basicConstraints=critical,CA:TRUE -keyout " + d + "/testca.key -out " + d + "/testca.crt") &&
         sh("openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj '/CN=upstream' -keyout " + d +
            "/up.key -out " + d + "/up.csr") &&
         sh("printf 'subjectAltName=DNS:allowed.test,DNS:inject.test,DNS:e2b.test,DNS:cidr.test,DNS:a.wild.test,"
            "DNS:blocked.test,DNS:v6.test,IP:198.51.100.10,IP:198.51.100.20\\n' > " + d + "/up.ext") &&
         sh("openssl x509 -req -in " + d + "/up.csr -CA " + d + "/testca.crt -CAkey " + d + "/testca.key "
            "-CAcreateserial -days 2 -extfile " + d + "/up.ext -out " + d + "/up.crt");
    if (!ok) return "openssl cannot make the test certificates";

    spawn("dnsmasq --no-daemon --conf-file=/dev/null --no-resolv --no-hosts --user=root --bind-interfaces "
          "--listen-address=198.51.100.10 --pid-file=" + d + "/dnsmasq.pid "
          "--address=/allowed.test/198.51.100.10 --address=/inject.test/198.51.100.10 "
          "--address=/e2b.test/198.51.100.10 --address=/denied.test/198.51.100.10 "
          "--address=/blocked.test/198.51.100.10 --address=/cidr.test/198.51.100.20 "
          "--address=/wild.test/198.51.100.20 --address=/rebind.test/10.1.2.3 "
          "--address=/meta.test/169.254.169.254 --address=/nothing.test/ "
          "--address=/badcert.test/198.51.100.10 --address=/v6.test/2001:db8:100::10 "
          "--address=/multi.test/198.51.100.30 --address=/multi.test/2001:db8:100::10 "
          "--address=/slow.test/198.51.100.31 --address=/slow.test/2001:db8:100::10 --address=/rebind6.test/fd00::5 >" + d + "/dnsmasq.log 2>&1");
    const char* py = std::getenv("EGRESS_UPSTREAM_PY");
    if (!py) return "EGRESS_UPSTREAM_PY is not set (run through meson test)";
    for (const char* a : {"198.51.100.10", "198.51.100.20", "2001:db8:100::10"})
      spawn(std::string("/usr/bin/python3 ") + py + " " + a + " " + d + "/up.crt " + d + "/up.key " + d +
            "/upstream.jsonl >" + d + "/upstream-" + a + ".log 2>&1");
    // Wait for the servers: the HTTP port answers and the name resolves.
    bool up = false;
    for (int i = 0; i < 100 && !up; ++i) {
      std::this_thread::sleep_for(100ms);
      int st = 0;
      run(U() + "/usr/bin/python3 -c \"import socket\nfor a in ('198.51.100.10', '198.51.100.20'):\n"
                "  for p in (80, 443): socket.create_connection((a, p), 1).close()\n"
                "socket.create_connection(('2001:db8:100::10', 443), 1).close()\"",
          &st);
      up = st == 0;
    }
    if (!up) return "the upstream servers did not start: " + read_file(d + "/upstream-198.51.100.10.log");

    auto log = JsonlAuditLog::open(d + "/audit.jsonl", 1 << 20, 2);
    if (!log) return log.error().message();
    audit = *log;
    std::ofstream(d + "/secret") << kSecret << "\n";
    GatewayConfig cfg;
    cfg.dns.servers = {"198.51.100.10"};
    cfg.state_dir = d + "/state";
    cfg.upstream_ca_file = d + "/testca.crt";
    cfg.connect_timeout_ms = 2000;
    cfg.first_bytes_timeout_ms = 3000;
    auto gw = Gateway::start(cfg, sandboxes, audit);
    if (!gw) return "the gateway did not start: " + gw.error().message();
    gateway = std::move(*gw);
    std::ofstream(d + "/gateway-ca.crt") << gateway->ca_certificate_pem();
    return "";
  }

  void teardown() {
    gateway.reset();
    if (std::getenv("EGRESS_TEST_DEBUG") && !dir.empty())
      std::fprintf(stderr, "audit:\n%s\nupstream:\n%s\n", read_file(dir + "/audit.jsonl").c_str(),
                   read_file(dir + "/upstream.jsonl").c_str());
    for (pid_t p : servers) ::kill(-p, SIGKILL);
    for (pid_t p : servers) ::waitpid(p, nullptr, 0);
    del_netns({sandbox_ns, upstream_ns});
    if (!dir.empty()) run("rm -rf " + dir);
    run("rm -rf /etc/netns/" + sandbox_ns + "; rmdir /etc/netns 2>/dev/null");  // only if empty
  }

  // A TCP connection from the sandbox namespace (the socket keeps the namespace it was made in).
  int sandbox_connect(const char* ip, uint16_t port) const {
    int fd = socket_in(sandbox_fd, AF_INET, SOCK_STREAM).release();
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    ::inet_pton(AF_INET, ip, &sa.sin_addr);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
      ::close(fd);
      return -1;
    }
    return fd;
  }

  std::string curl(const std::string& args, int* status = nullptr) const {
    return run(S() + "curl -sS --max-time 10 " + args, status);
  }

  // Waits for the audit record `pred` accepts among those after `since`.
  std::optional<AuditRecord> audit_wait(int64_t since, const std::function<bool(const AuditRecord&)>& pred) const {
    for (int i = 0; i < 100; ++i) {
      auto all = audit->query({"", since, 0});
      if (all)
        for (const auto& r : *all)
          if (pred(r)) return r;
      std::this_thread::sleep_for(50ms);
    }
    return std::nullopt;
  }

  std::vector<Json> upstream_requests() const {
    std::vector<Json> out;
    std::ifstream in(dir + "/upstream.jsonl");
    std::string line;
    while (std::getline(in, line))
      if (auto j = parse_json(line)) out.push_back(*j);
    return out;
  }
};

World g;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

SandboxPolicy sandbox_policy() {
  SandboxPolicy p;
  p.id = "sb-egress";
  p.ipv4 = "10.88.0.2";
  p.ipv6 = "fd4e:7800::2";
  auto deny20 = parse_rule_text("--direction egress --cidr 198.51.100.20/32 --proto tcp --action deny --id deny-20");
  REQUIRE(deny20);
  p.rules.rules = {*deny20};
  auto allow = DomainList::parse({"*.wild.test"}, "allowOut");
  REQUIRE(allow);
  p.domains.allow = *allow;
  auto rules = inject_rules_from_e2b(
      *parse_json(std::string(R"({"e2b.test": [{"transform": {"headers": {"X-E2b-Key": ")") + kLiteralSecret + "\"}}}]}"));
  REQUIRE(rules);
  p.inject = *rules;
  return p;
}

std::vector<std::string> header_values(const Json& req, const std::string& name) {
  std::vector<std::string> out;
  for (const auto& kv : req["headers"])
    if (strcasecmp(kv[0].get<std::string>().c_str(), name.c_str()) == 0) out.push_back(kv[1].get<std::string>());
  return out;
}

Json find_request(const std::string& path) {
  Json found;
  for (const auto& r : g.upstream_requests())
    if (r["path"] == path) found = r;
  return found;
}

GlobalPolicy global_policy() {
  auto policy = global_policy_from_args({}, {"denied.test", "*.blocked.test"},
                                        {"inject.test:X-Api-Key=file:" + g.dir + "/secret",
                                         "badcert.test:X-Api-Key=file:" + g.dir + "/secret"});
  REQUIRE(policy);
  return *policy;
}

// What nexusd does once it has loaded the policies.
void make_ready() {
  if (g.gateway->ready()) return;
  REQUIRE(g.sandboxes->put(sandbox_policy()));
  g.gateway->set_global_policy(global_policy());
  g.gateway->set_ready();
}

}  // namespace

TEST_CASE("fail-closed until set_ready(), then the policies apply", "[gateway]") {
  int64_t t0 = now_ms();
  g.gateway->set_ready(false);
  REQUIRE(g.sandboxes->put(sandbox_policy()));
  int st = 0;
  std::string out = g.curl("http://allowed.test/early", &st);
  CHECK(st != 0);
  CHECK(out.find("hello from upstream") == std::string::npos);
  auto rec = g.audit_wait(t0, [](const AuditRecord& r) { return r.outcome == Outcome::refused; });
  REQUIRE(rec);
  CHECK_THAT(rec->reason, Catch::Contains("not ready"));
  CHECK(find_request("/early").is_null());

  make_ready();
  out = g.curl("http://allowed.test/now");
  CHECK(out == "hello from upstream GET /now body=0\n");
}

TEST_CASE("allowed and denied domains, wildcards, over HTTP and TLS", "[gateway]") {
  make_ready();
  int64_t t0 = now_ms();
  CHECK(g.curl("http://allowed.test/a") == "hello from upstream GET /a body=0\n");
  auto rec = g.audit_wait(t0, [](const AuditRecord& r) { return r.url == "/a"; });
  REQUIRE(rec);
  CHECK(rec->outcome == Outcome::allowed);
  CHECK(rec->sandbox_id == "sb-egress");
  CHECK(rec->host == "allowed.test");
  CHECK(rec->method == "GET");
  CHECK(rec->status == 200);
  CHECK(rec->original_dst == "198.51.100.10:80");
  CHECK(rec->upstream == "198.51.100.10:80");
  CHECK_THAT(rec->client, Catch::StartsWith("10.88.0.2:"));

  int st = 0;
  std::string out = g.curl("-i http://denied.test/x", &st);
  CHECK_THAT(out, Catch::Contains("HTTP/1.1 403 Forbidden"));
  CHECK_THAT(out, Catch::Contains("host denied.test is denied by the global pattern denied.test"));
  CHECK(find_request("/x").is_null());
  // TLS to a denied name: closed without a handshake.
  out = g.curl("--cacert " + g.dir + "/testca.crt https://denied.test/tx", &st);
  CHECK(st != 0);
  auto trec = g.audit_wait(t0, [](const AuditRecord& r) { return r.host == "denied.test" && r.scheme == "https"; });
  REQUIRE(trec);
  CHECK(trec->outcome == Outcome::denied);
  CHECK(find_request("/tx").is_null());

  // "*.blocked.test" covers x.blocked.test and a.b.blocked.test, not blocked.test itself.
  CHECK_THAT(g.curl("-i http://x.blocked.test/w1"), Catch::Contains("403"));
  CHECK_THAT(g.curl("-i http://a.b.blocked.test/w2"), Catch::Contains("403"));
  CHECK(g.curl("http://blocked.test/w3") == "hello from upstream GET /w3 body=0\n");
  CHECK(g.curl("--cacert " + g.dir + "/testca.crt https://blocked.test/w4") == "hello from upstream GET /w4 body=0\n");
  // Host names compare case-insensitively, a trailing dot ignored.
  CHECK_THAT(g.curl("-i -H 'Host: DENIED.test.' http://allowed.test/w5"), Catch::Contains("403"));
}

TEST_CASE("the sandbox's CIDR rules decide when no domain rule matches; its domain allow wins", "[gateway]") {
  make_ready();
  // cidr.test resolves to 198.51.100.20, which the sandbox's rule deny-20 denies.
  std::string out = g.curl("-i http://cidr.test/c1");
  CHECK_THAT(out, Catch::Contains("403"));
  CHECK_THAT(out, Catch::Contains("deny-20"));
  // a.wild.test resolves there too, but the sandbox's allowOut *.wild.test wins (E2B semantics).
  CHECK(g.curl("http://a.wild.test/c2") == "hello from upstream GET /c2 body=0\n");
  CHECK(g.curl("--cacert " + g.dir + "/testca.crt https://a.wild.test/c3") == "hello from upstream GET /c3 body=0\n");
}

TEST_CASE("no Host or SNI: the original destination's address decides", "[gateway]") {
  make_ready();
  int64_t t0 = now_ms();
  CHECK(g.curl("--http1.0 -H 'Host:' http://198.51.100.10/n1") == "hello from upstream GET /n1 body=0\n");
  CHECK_THAT(g.curl("-i --http1.0 -H 'Host:' http://198.51.100.20/n2"), Catch::Contains("403"));
  CHECK(find_request("/n2").is_null());
  // curl sends no SNI to an IP address.
  CHECK(g.curl("--cacert " + g.dir + "/testca.crt https://198.51.100.10/n3") == "hello from upstream GET /n3 body=0\n");
  int st = 0;
  g.curl("--cacert " + g.dir + "/testca.crt https://198.51.100.20/n4", &st);
  CHECK(st != 0);
  auto rec = g.audit_wait(t0, [](const AuditRecord& r) { return r.original_dst == "198.51.100.20:443"; });
  REQUIRE(rec);
  CHECK(rec->outcome == Outcome::denied);
  CHECK(rec->host.empty());
}

TEST_CASE("names resolving to private addresses are refused (DNS rebinding, metadata)", "[gateway]") {
  make_ready();
  std::string out = g.curl("-i http://rebind.test/r1");
  CHECK_THAT(out, Catch::Contains("403"));
  CHECK_THAT(out, Catch::Contains("10.1.2.3 is a private or reserved address"));
  CHECK_THAT(g.curl("-i http://meta.test/r2"), Catch::Contains("169.254.169.254 is a private"));
  int st = 0;
  g.curl("-k https://rebind.test/r3", &st);
  CHECK(st != 0);
  // A Host naming a private address literal is not followed either.
  CHECK_THAT(g.curl("-i -H 'Host: 10.1.2.3' http://198.51.100.10/r4"), Catch::Contains("403"));
  // A name that does not resolve: 502, naming the host.
  out = g.curl("-i --resolve nothing.test:80:198.51.100.10 http://nothing.test/r5");
  CHECK_THAT(out, Catch::Contains("502"));
  CHECK_THAT(out, Catch::Contains("nothing.test"));
}

TEST_CASE("an unknown peer is refused", "[gateway]") {
  make_ready();
  int64_t t0 = now_ms();
  int st = 0;
  g.curl("--interface 10.88.1.2 http://allowed.test/u1", &st);
  CHECK(st != 0);
  auto rec = g.audit_wait(t0, [](const AuditRecord& r) { return r.client.rfind("10.88.1.2:", 0) == 0; });
  REQUIRE(rec);
  CHECK(rec->outcome == Outcome::refused);
  CHECK_THAT(rec->reason, Catch::Contains("unknown peer 10.88.1.2"));
  CHECK(find_request("/u1").is_null());
}

TEST_CASE("credentials are injected on HTTP into every request, never shown to the sandbox", "[gateway][inject]") {
  make_ready();
  std::string out = g.curl("-v -H 'X-Api-Key: sandbox-fake' http://inject.test/i1 http://inject.test/i2 "
                           "--next -v -H 'X-Api-Key: sandbox-fake' -d hello-body http://inject.test/i3");
  CHECK(out.find(kSecret) == std::string::npos);
  CHECK_THAT(out, Catch::Contains("hello from upstream GET /i1"));
  CHECK_THAT(out, Catch::Contains("hello from upstream POST /i3 body=10"));
  CHECK_THAT(out, Catch::Contains("Re-using existing connection"));  // keep-alive: one connection
  for (const char* p : {"/i1", "/i2", "/i3"}) {
    Json r = find_request(p);
    INFO(p);
    REQUIRE_FALSE(r.is_null());
    CHECK(header_values(r, "X-Api-Key") == std::vector<std::string>{kSecret});
  }
  // A chunked body passes unchanged.
  out = g.curl("-H 'Transfer-Encoding: chunked' --data-binary @/etc/hostname http://inject.test/i4");
  CHECK_THAT(out, Catch::Contains("POST /i4"));
  CHECK(header_values(find_request("/i4"), "X-Api-Key") == std::vector<std::string>{kSecret});
  // The secret is in no audit record.
  CHECK(read_file(g.dir + "/audit.jsonl").find(kSecret) == std::string::npos);
  // A host without a rule gets nothing added.
  g.curl("http://allowed.test/i5");
  CHECK(header_values(find_request("/i5"), "X-Api-Key").empty());
}

TEST_CASE("credentials on HTTPS: TLS terminated with the gateway CA, upstream verified", "[gateway][inject]") {
  make_ready();
  int64_t t0 = now_ms();
  std::string out = g.curl("-v --cacert " + g.dir + "/gateway-ca.crt https://inject.test/h1 https://inject.test/h2");
  CHECK(out.find(kSecret) == std::string::npos);
  CHECK_THAT(out, Catch::Contains("hello from upstream GET /h2"));
  CHECK_THAT(out, Catch::Contains("Nexus egress gateway CA"));
  for (const char* p : {"/h1", "/h2"}) {
    Json r = find_request(p);
    INFO(p);
    REQUIRE_FALSE(r.is_null());
    CHECK(r["tls"] == true);
    CHECK(header_values(r, "X-Api-Key") == std::vector<std::string>{kSecret});
  }
  auto rec = g.audit_wait(t0, [](const AuditRecord& r) { return r.host == "inject.test" && r.url == "/h1"; });
  REQUIRE(rec);
  CHECK(rec->intercepted);
  CHECK(rec->scheme == "https");
  CHECK(rec->status == 200);
  CHECK(rec->requests == 2);
  // The sandbox's literal E2B rule for e2b.test.
  out = g.curl("--cacert " + g.dir + "/gateway-ca.crt https://e2b.test/h3");
  CHECK(out == "hello from upstream GET /h3 body=0\n");
  CHECK(header_values(find_request("/h3"), "X-E2b-Key") == std::vector<std::string>{kLiteralSecret});
  // A client that trusts only the real CA refuses the gateway's certificate for inject.test.
  int st = 0;
  g.curl("--cacert " + g.dir + "/testca.crt https://inject.test/h4", &st);
  CHECK(st != 0);
  CHECK(read_file(g.dir + "/audit.jsonl").find(kLiteralSecret) == std::string::npos);
}

TEST_CASE("intercepted HTTPS verifies the real server: a certificate not naming the host ends it", "[gateway][inject]") {
  make_ready();
  int64_t t0 = now_ms();
  int st = 0;
  std::string out = g.curl("--cacert " + g.dir + "/gateway-ca.crt https://badcert.test/bc", &st);
  CHECK(st != 0);
  CHECK(find_request("/bc").is_null());
  auto rec = g.audit_wait(t0, [](const AuditRecord& r) { return r.host == "badcert.test"; });
  REQUIRE(rec);
  CHECK(rec->outcome == Outcome::failed);
  CHECK_THAT(rec->reason, Catch::Contains("certificate verification failed"));
}

TEST_CASE("a TLS host without an injection rule is not decrypted", "[gateway]") {
  make_ready();
  int64_t t0 = now_ms();
  std::string out = g.curl("-v --cacert " + g.dir + "/testca.crt https://allowed.test/t1");
  CHECK_THAT(out, Catch::Contains("hello from upstream GET /t1"));
  CHECK_THAT(out, Catch::Contains("egress test CA"));  // the upstream's own certificate
  CHECK(out.find("Nexus egress gateway CA") == std::string::npos);
  auto rec = g.audit_wait(t0, [](const AuditRecord& r) { return r.host == "allowed.test" && r.scheme == "https"; });
  REQUIRE(rec);
  CHECK_FALSE(rec->intercepted);
  CHECK(rec->method.empty());  // not visible without decrypting
}

TEST_CASE("a provider failure fails the request with 502 rather than sending it bare", "[gateway][inject]") {
  make_ready();
  auto policy = global_policy_from_args({}, {}, {"inject.test:X-Api-Key=file:" + g.dir + "/missing-secret"});
  REQUIRE(policy);
  auto saved = g.gateway->global_policy();
  g.gateway->set_global_policy(*policy);
  std::string out = g.curl("-i http://inject.test/p1");
  CHECK_THAT(out, Catch::Contains("502"));
  CHECK_THAT(out, Catch::Contains("missing-secret"));
  CHECK(find_request("/p1").is_null());
  g.gateway->set_global_policy(saved);
}

TEST_CASE("audit byte counts match what was sent and received", "[gateway][audit]") {
  make_ready();
  int64_t t0 = now_ms();
  int fd = g.sandbox_connect("198.51.100.10", 80);
  REQUIRE(fd >= 0);
  const std::string req = "POST /bytes HTTP/1.1\r\nHost: allowed.test\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n" +
                          std::string(5000, 'b');
  REQUIRE(::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size()));
  std::string resp;
  char buf[65536];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0) resp.append(buf, static_cast<size_t>(n));
  ::close(fd);
  CHECK_THAT(resp, Catch::Contains("body=5000"));
  auto rec = g.audit_wait(t0, [](const AuditRecord& r) { return r.url == "/bytes"; });
  REQUIRE(rec);
  CHECK(rec->bytes_sent == req.size());
  CHECK(rec->bytes_received == resp.size());

  // A large download through TLS (spliced): the count is what the client received.
  int64_t t1 = now_ms();
  std::string big = g.curl("--cacert " + g.dir + "/testca.crt https://allowed.test/big/3000000 -o /dev/null -w '%{size_download} %{size_header}'");
  auto trec = g.audit_wait(t1, [](const AuditRecord& r) { return r.host == "allowed.test" && r.scheme == "https"; });
  REQUIRE(trec);
  CHECK(trec->bytes_received > 3000000);
  CHECK(trec->bytes_received < 3000000 + 20000);  // the body plus TLS framing and handshake
  auto stats = g.gateway->stats_json();
  CHECK(stats["sandboxes"]["sb-egress"]["bytes_received"].get<uint64_t>() >= trec->bytes_received);
  CHECK(stats["total"]["connections"]["refused"].get<uint64_t>() >= 2);
}

TEST_CASE("hostile input: a huge ClientHello length, an endless header, garbage", "[gateway][hostile]") {
  make_ready();
  int64_t t0 = now_ms();
  {
    int fd = g.sandbox_connect("198.51.100.10", 443);
    REQUIRE(fd >= 0);
    const std::string hello("\x16\x03\x01\x40\x00\x01\xff\xff\xff", 9);
    ::send(fd, hello.data(), hello.size(), MSG_NOSIGNAL);
    std::string junk(16384, 'A');
    for (int i = 0; i < 64; ++i)
      if (::send(fd, junk.data(), junk.size(), MSG_NOSIGNAL) < 0) break;
    char c;
    pollfd p{fd, POLLIN, 0};
    CHECK(::poll(&p, 1, 5000) == 1);
    CHECK(::recv(fd, &c, 1, 0) <= 0);  // closed
    ::close(fd);
  }
  {
    int fd = g.sandbox_connect("198.51.100.10", 80);
    REQUIRE(fd >= 0);
    std::string line = "GET / HTTP/1.1\r\nHost: allowed.test\r\n";
    ::send(fd, line.data(), line.size(), MSG_NOSIGNAL);
    std::string hdr;
    for (int i = 0; i < 200; ++i) hdr += "X-Endless-" + std::to_string(i) + ": aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    for (int i = 0; i < 100; ++i)
      if (::send(fd, hdr.data(), hdr.size(), MSG_NOSIGNAL) < 0) break;
    std::string resp;
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0) resp.append(buf, static_cast<size_t>(n));
    CHECK_THAT(resp, Catch::StartsWith("HTTP/1.1 431"));
    ::close(fd);
  }
  {
    int fd = g.sandbox_connect("198.51.100.10", 80);
    REQUIRE(fd >= 0);
    const std::string junk("\x00\x01garbage\r\n\r\n", 13);
    ::send(fd, junk.data(), junk.size(), MSG_NOSIGNAL);
    std::string resp;
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0) resp.append(buf, static_cast<size_t>(n));
    CHECK_THAT(resp, Catch::StartsWith("HTTP/1.1 400"));
    ::close(fd);
  }
  auto rec = g.audit_wait(t0, [](const AuditRecord& r) { return r.reason.find("ClientHello") != std::string::npos; });
  REQUIRE(rec);
  CHECK(rec->outcome == Outcome::failed);
  // Still serving, and nothing left open.
  CHECK(g.curl("http://allowed.test/after") == "hello from upstream GET /after body=0\n");
  for (int i = 0; i < 50 && g.gateway->active_connections() != 0; ++i) std::this_thread::sleep_for(100ms);
  CHECK(g.gateway->active_connections() == 0);
}

TEST_CASE("IPv6: the sandbox's IPv6 connections go through the gateway too", "[gateway][ipv6]") {
  make_ready();
  int64_t t0 = now_ms();
  CHECK(g.curl("-6 http://v6.test/six") == "hello from upstream GET /six body=0\n");
  auto rec = g.audit_wait(t0, [](const AuditRecord& r) { return r.url == "/six"; });
  REQUIRE(rec);
  CHECK(rec->outcome == Outcome::allowed);
  CHECK(rec->sandbox_id == "sb-egress");
  CHECK(rec->original_dst == "[2001:db8:100::10]:80");
  CHECK_THAT(rec->client, Catch::StartsWith("[fd4e:7800::2]:"));
  CHECK(g.curl("-6 --cacert " + g.dir + "/testca.crt https://v6.test/six-tls") == "hello from upstream GET /six-tls body=0\n");
  // A name resolving to a ULA address is refused like a private IPv4 one.
  std::string out = g.curl("-6 -i --resolve rebind6.test:80:[2001:db8:100::10] http://rebind6.test/six-r");
  CHECK_THAT(out, Catch::Contains("403"));
  CHECK_THAT(out, Catch::Contains("fd00::5 is a private or reserved address"));
}

TEST_CASE("an adopted listening socket, and a stop that ends open connections promptly", "[gateway]") {
  make_ready();
  // A listening socket made by the caller (socket activation), on the sandbox-facing address.
  int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(lfd >= 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  ::inet_pton(AF_INET, "10.88.0.1", &sa.sin_addr);
  REQUIRE(::bind(lfd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0);
  REQUIRE(::listen(lfd, 16) == 0);
  socklen_t len = sizeof(sa);
  ::getsockname(lfd, reinterpret_cast<sockaddr*>(&sa), &len);
  const uint16_t port = ntohs(sa.sin_port);

  GatewayConfig cfg;
  cfg.http_listen = {};
  cfg.tls_listen = {};
  cfg.http_fds = {lfd};
  cfg.dns.servers = {"198.51.100.10"};
  cfg.state_dir = g.dir + "/state";  // the same CA, loaded again
  cfg.max_connections_per_sandbox = 1;
  auto log2 = JsonlAuditLog::open(g.dir + "/audit2.jsonl");
  REQUIRE(log2);
  auto gw2 = Gateway::start(cfg, g.sandboxes, *log2);
  REQUIRE(gw2);
  CHECK((*gw2)->ca_certificate_pem() == g.gateway->ca_certificate_pem());
  REQUIRE((*gw2)->http_endpoints().size() == 1);
  CHECK((*gw2)->http_endpoints()[0].port == port);
  (*gw2)->set_ready();

  // A sandbox connection that sends half a head and waits.
  int fd = g.sandbox_connect("10.88.0.1", port);
  REQUIRE(fd >= 0);
  ::send(fd, "GET / HTTP/1.1\r\n", 16, MSG_NOSIGNAL);
  for (int i = 0; i < 50 && (*gw2)->active_connections() == 0; ++i) std::this_thread::sleep_for(20ms);
  REQUIRE((*gw2)->active_connections() == 1);
  // The sandbox's second connection is over its limit of one.
  int fd2 = g.sandbox_connect("10.88.0.1", port);
  REQUIRE(fd2 >= 0);
  pollfd p2{fd2, POLLIN, 0};
  CHECK(::poll(&p2, 1, 2000) == 1);
  char c2;
  CHECK(::recv(fd2, &c2, 1, 0) <= 0);
  ::close(fd2);
  auto t0 = std::chrono::steady_clock::now();
  gw2->reset();
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);
  char c;
  pollfd p{fd, POLLIN, 0};
  CHECK(::poll(&p, 1, 2000) == 1);
  CHECK(::recv(fd, &c, 1, 0) <= 0);
  ::close(fd);
  auto recs = (*log2)->query({"", 0, 0});
  REQUIRE(recs);
  REQUIRE(recs->size() == 2);
  CHECK((*recs)[0].reason == "too many connections from this sandbox");
  CHECK((*recs)[0].outcome == Outcome::refused);
  CHECK((*recs)[1].reason == "the gateway stopped");
  // A port already taken is an error naming the address.
  GatewayConfig busy;
  busy.http_listen = {"0.0.0.0:15080"};
  busy.tls_listen = {};
  busy.state_dir = g.dir + "/state";
  auto clash = Gateway::start(busy, g.sandboxes, nullptr);
  REQUIRE_FALSE(clash);
  CHECK_THAT(clash.error().message(), Catch::Contains("binding 0.0.0.0:15080"));
}

TEST_CASE("addresses are tried in order: a refused one and one that times out are skipped", "[gateway]") {
  make_ready();
  int64_t t0 = now_ms();
  // multi.test: 198.51.100.30 (nothing listens: refused), then 2001:db8:100::10.
  CHECK(g.curl("--resolve multi.test:80:198.51.100.10 http://multi.test/m1") == "hello from upstream GET /m1 body=0\n");
  auto rec = g.audit_wait(t0, [](const AuditRecord& r) { return r.url == "/m1"; });
  REQUIRE(rec);
  CHECK(rec->upstream == "[2001:db8:100::10]:80");
  // slow.test: 198.51.100.31 answers nothing (no such host), so the 2 s connect timeout passes first.
  auto start = std::chrono::steady_clock::now();
  CHECK(g.curl("--resolve slow.test:80:198.51.100.10 http://slow.test/m2") == "hello from upstream GET /m2 body=0\n");
  CHECK(std::chrono::steady_clock::now() - start >= 1900ms);
  rec = g.audit_wait(t0, [](const AuditRecord& r) { return r.url == "/m2"; });
  REQUIRE(rec);
  CHECK(rec->upstream == "[2001:db8:100::10]:80");
}

namespace {
long rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  return 0;
}
}  // namespace

TEST_CASE("backpressure: a sandbox that does not read does not make the gateway buffer", "[gateway]") {
  make_ready();
  int64_t t0 = now_ms();
  int fd = g.sandbox_connect("198.51.100.10", 80);
  REQUIRE(fd >= 0);
  const std::string req = "GET /big/60000000 HTTP/1.1\r\nHost: allowed.test\r\nConnection: close\r\n\r\n";
  REQUIRE(::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size()));
  long before = rss_kib();
  std::this_thread::sleep_for(2s);  // the upstream has the whole 60 MB ready to send
  long during = rss_kib();
  CHECK(during - before < 16 * 1024);
  size_t got = 0;
  char buf[65536];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0) got += static_cast<size_t>(n);
  ::close(fd);
  CHECK(got > 60000000);
  auto rec = g.audit_wait(t0, [](const AuditRecord& r) { return r.url == "/big/60000000"; });
  REQUIRE(rec);
  CHECK(rec->bytes_received == got);
  CHECK(rec->bytes_sent == req.size());
}

TEST_CASE("a sandbox that half-closes after its request still gets the answer", "[gateway]") {
  make_ready();
  int fd = g.sandbox_connect("198.51.100.10", 80);
  REQUIRE(fd >= 0);
  const std::string req = "GET /half HTTP/1.1\r\nHost: allowed.test\r\nConnection: close\r\n\r\n";
  REQUIRE(::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size()));
  ::shutdown(fd, SHUT_WR);
  std::string resp;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof(buf), 0)) > 0) resp.append(buf, static_cast<size_t>(n));
  ::close(fd);
  CHECK_THAT(resp, Catch::Contains("hello from upstream GET /half"));
}

int main(int argc, char** argv) {
  if (::geteuid() != 0) return skip("needs root (network namespaces, nftables)");
  if (std::system("command -v ip >/dev/null && command -v nft >/dev/null && command -v curl >/dev/null && "
                  "command -v openssl >/dev/null && test -x /usr/bin/python3 && "
                  "(command -v dnsmasq || test -x /usr/sbin/dnsmasq) >/dev/null") != 0) {
    return skip("needs ip, nft, curl, openssl, /usr/bin/python3 and dnsmasq");
  }
  if (std::string why = g.setup(); !why.empty()) {
    g.teardown();
    return skip(why);
  }
  int rc = Catch::Session().run(argc, argv);
  g.teardown();
  return rc;
}
