// SPDX-License-Identifier: Apache-2.0
#include "net/sandbox_network.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <iterator>
#include <memory>
#include <thread>

#include <fmt/format.h>

#include "common/unique_fd.hpp"

namespace nexus::net {
namespace {

constexpr const char* kSandboxIf = "eth0";

// ---- libnl RAII ----

struct SockFree {
  void operator()(nl_sock* s) const { nl_socket_free(s); }
};
struct LinkPut {
  void operator()(rtnl_link* l) const { rtnl_link_put(l); }
};
struct AddrPut {
  void operator()(rtnl_addr* a) const { rtnl_addr_put(a); }
};
struct NlAddrPut {
  void operator()(nl_addr* a) const { nl_addr_put(a); }
};
struct RoutePut {
  void operator()(rtnl_route* r) const { rtnl_route_put(r); }
};
using Sock = std::unique_ptr<nl_sock, SockFree>;
using Link = std::unique_ptr<rtnl_link, LinkPut>;
using Addr = std::unique_ptr<rtnl_addr, AddrPut>;
using NlAddr = std::unique_ptr<nl_addr, NlAddrPut>;
using Route = std::unique_ptr<rtnl_route, RoutePut>;

Error nl_error(int err, std::string_view what) {
  if (err < 0) err = -err;
  Errc code = Errc::internal;
  switch (err) {
    case NLE_EXIST: code = Errc::already_exists; break;
    case NLE_OBJ_NOTFOUND:
    case NLE_NODEV: code = Errc::not_found; break;
    case NLE_PERM:
    case NLE_NOACCESS: code = Errc::permission_denied; break;
    case NLE_INVAL:
    case NLE_RANGE: code = Errc::invalid_argument; break;
    default: break;
  }
  return Error(code, fmt::format("{}: {}", what, nl_geterror(err)));
}

// A netlink route socket in the calling thread's network namespace (it stays bound to that
// namespace wherever it is used later).
Result<Sock> route_socket() {
  Sock sk(nl_socket_alloc());
  if (!sk) return fail(Errc::internal, "allocating a netlink socket");
  if (int err = nl_connect(sk.get(), NETLINK_ROUTE); err < 0) return fail(nl_error(err, "connecting to rtnetlink"));
  return sk;
}

Result<NlAddr> parse_addr(const std::string& text, int family) {
  nl_addr* a = nullptr;
  if (int err = nl_addr_parse(text.c_str(), family, &a); err < 0)
    return fail(nl_error(err, fmt::format("parsing address '{}'", text)));
  return NlAddr(a);
}

Result<Link> get_link(nl_sock* sk, const std::string& name) {
  rtnl_link* link = nullptr;
  if (int err = rtnl_link_get_kernel(sk, 0, name.c_str(), &link); err < 0)
    return fail(nl_error(err, fmt::format("finding interface '{}'", name)));
  return Link(link);
}

Result<void> set_up(nl_sock* sk, const std::string& name, uint32_t mtu) {
  auto link = get_link(sk, name);
  if (!link) return fail(link.error());
  Link change(rtnl_link_alloc());
  if (!change) return fail(Errc::internal, "allocating a link");
  rtnl_link_set_flags(change.get(), IFF_UP);
  if (mtu) rtnl_link_set_mtu(change.get(), mtu);
  if (int err = rtnl_link_change(sk, link->get(), change.get(), 0); err < 0)
    return fail(nl_error(err, fmt::format("bringing up '{}'", name)));
  return {};
}

Result<void> add_address(nl_sock* sk, int ifindex, const std::string& addr, int prefix, int family) {
  auto local = parse_addr(fmt::format("{}/{}", addr, prefix), family);
  if (!local) return fail(local.error());
  Addr a(rtnl_addr_alloc());
  if (!a) return fail(Errc::internal, "allocating an address");
  rtnl_addr_set_ifindex(a.get(), ifindex);
  if (int err = rtnl_addr_set_local(a.get(), local->get()); err < 0) return fail(nl_error(err, "setting an address"));
  // No duplicate address detection: the link has exactly two ends, both ours, and DAD would
  // hold the address "tentative" (unusable) for a second or more.
  if (family == AF_INET6) rtnl_addr_set_flags(a.get(), IFA_F_NODAD);
  if (int err = rtnl_addr_add(sk, a.get(), 0); err < 0)
    return fail(nl_error(err, fmt::format("adding address {}/{}", addr, prefix)));
  return {};
}

Result<void> add_default_route(nl_sock* sk, int ifindex, const std::string& gateway, int family) {
  auto dst = parse_addr(family == AF_INET ? "0.0.0.0/0" : "::/0", family);
  auto gw = parse_addr(gateway, family);
  if (!dst) return fail(dst.error());
  if (!gw) return fail(gw.error());
  Route route(rtnl_route_alloc());
  if (!route) return fail(Errc::internal, "allocating a route");
  rtnl_route_set_family(route.get(), static_cast<uint8_t>(family));
  if (int err = rtnl_route_set_dst(route.get(), dst->get()); err < 0) return fail(nl_error(err, "setting a route"));
  rtnl_nexthop* nh = rtnl_route_nh_alloc();
  if (!nh) return fail(Errc::internal, "allocating a next hop");
  rtnl_route_nh_set_ifindex(nh, ifindex);
  rtnl_route_nh_set_gateway(nh, gw->get());
  rtnl_route_add_nexthop(route.get(), nh);  // the route owns it now
  if (int err = rtnl_route_add(sk, route.get(), NLM_F_CREATE | NLM_F_EXCL); err < 0)
    return fail(nl_error(err, fmt::format("adding the default route via {}", gateway)));
  return {};
}

// The namespace file's directory is a shared mount point, as iproute2 makes /run/netns: a
// bind mount of a namespace made here then propagates to mount namespaces created later
// (and its unmount too), so no copy keeps a removed sandbox's namespace alive.
Result<void> prepare_netns_dir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return fail(Errc::internal, fmt::format("creating '{}': {}", dir, ec.message()));
  if (::mount("", dir.c_str(), "none", MS_SHARED | MS_REC, nullptr) == 0) return {};
  if (errno != EINVAL) return fail_errno(fmt::format("making '{}' a shared mount", dir));
  // Not a mount point yet: bind it onto itself first.
  if (::mount(dir.c_str(), dir.c_str(), "none", MS_BIND | MS_REC, nullptr) != 0)
    return fail_errno(fmt::format("bind-mounting '{}'", dir));
  if (::mount("", dir.c_str(), "none", MS_SHARED | MS_REC, nullptr) != 0)
    return fail_errno(fmt::format("making '{}' a shared mount", dir));
  return {};
}

struct MadeNamespace {
  UniqueFd ns_fd;
  Sock sock;  ///< a route socket inside the new namespace
};

// unshare(CLONE_NEWNET) changes only the calling thread's namespace, so it runs on a thread
// of its own that ends right after: the daemon's threads never leave the host namespace.
Result<MadeNamespace> make_namespace(const std::string& path) {
  auto task = [&path]() -> Result<MadeNamespace> {
    if (::unshare(CLONE_NEWNET) != 0) return fail_errno("creating a network namespace");
    // ping without CAP_NET_RAW (ICMP echo sockets) for every group, as Docker and systemd
    // give containers: the sandbox has no raw sockets, and its ICMP is the policy's to judge.
    // This thread's /proc/sys/net is the new namespace's.
    if (std::FILE* f = std::fopen("/proc/sys/net/ipv4/ping_group_range", "we")) {
      bool ok = std::fputs("0 2147483647", f) >= 0;
      if (std::fclose(f) != 0 || !ok) return fail_errno("allowing ping in the namespace (ping_group_range)");
    }
    std::string self = fmt::format("/proc/self/task/{}/ns/net", ::gettid());
    if (::mount(self.c_str(), path.c_str(), "none", MS_BIND, nullptr) != 0)
      return fail_errno(fmt::format("bind-mounting the namespace on '{}'", path));
    MadeNamespace made;
    made.ns_fd = UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!made.ns_fd) return fail_errno(fmt::format("opening '{}'", path));
    auto sk = route_socket();
    if (!sk) return fail(sk.error());
    made.sock = std::move(*sk);
    return made;
  };
  std::packaged_task<Result<MadeNamespace>()> job(task);
  auto result = job.get_future();
  std::thread(std::move(job)).join();
  return result.get();
}

void remove_netns_file(const std::string& path) {
  (void)::umount2(path.c_str(), MNT_DETACH);
  (void)::unlink(path.c_str());
}

bool valid_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-')) return false;
  return id != "." && id != "..";
}

std::string format_v4(uint32_t host_order) {
  in_addr a{htonl(host_order)};
  char buf[INET_ADDRSTRLEN];
  ::inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

std::string format_v6(const std::array<uint8_t, 16>& bytes) {
  char buf[INET6_ADDRSTRLEN];
  ::inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf);
  return buf;
}

}  // namespace

Result<AddressPool> AddressPool::parse(std::string_view v4, std::string_view v6) {
  AddressPool pool;
  if (v4.find('/') == std::string_view::npos)
    return fail(Errc::invalid_argument,
                fmt::format("network pool '{}': ADDRESS/PREFIX is needed, e.g. 10.88.0.0/16", v4));
  auto c4 = Cidr::parse(v4);
  if (!c4) return fail(std::move(c4.error()).wrap(fmt::format("network pool '{}'", v4)));
  if (c4->family != 4 || c4->prefix_len < 8 || c4->prefix_len > 28)
    return fail(Errc::invalid_argument,
                fmt::format("network pool '{}': an IPv4 network from /8 to /28 is needed (each sandbox takes a /30)", v4));
  pool.v4_ = *c4;
  pool.capacity_ = 1u << (30 - c4->prefix_len);
  if (!v6.empty()) {
    auto c6 = Cidr::parse(v6);
    if (!c6) return fail(std::move(c6.error()).wrap(fmt::format("IPv6 network pool '{}'", v6)));
    if (c6->family != 6 || c6->prefix_len < 16 || c6->prefix_len > 112)
      return fail(Errc::invalid_argument,
                  fmt::format("IPv6 network pool '{}': an IPv6 network from /16 to /112 is needed", v6));
    pool.v6_ = *c6;
    // The index fills the bits between the pool's prefix and /126; the v4 pool usually
    // bounds the count.
    int bits = 126 - c6->prefix_len;
    if (bits < 32) pool.capacity_ = std::min<uint32_t>(pool.capacity_, 1u << bits);
  }
  return pool;
}

Result<SandboxAddresses> AddressPool::addresses(uint32_t index) const {
  if (index >= capacity_)
    return fail(Errc::invalid_argument, fmt::format("address block {} is outside the pool of {}", index, capacity_));
  SandboxAddresses a;
  a.index = index;
  uint32_t base = (uint32_t{v4_.addr[0]} << 24) | (uint32_t{v4_.addr[1]} << 16) | (uint32_t{v4_.addr[2]} << 8) | v4_.addr[3];
  uint32_t block = base + index * 4;
  a.host4 = format_v4(block + 1);
  a.sandbox4 = format_v4(block + 2);
  if (v6_) {
    // index << 2 added to the low 32 bits of the pool's network address.
    std::array<uint8_t, 16> b = v6_->addr;
    uint64_t low = (uint64_t{index} << 2);
    for (int i = 15; i >= 8 && low; --i) {
      uint64_t sum = b[i] + (low & 0xff);
      b[i] = static_cast<uint8_t>(sum);
      low = (low >> 8) + (sum >> 8);
    }
    auto host = b, sandbox = b;
    host[15] = static_cast<uint8_t>(host[15] + 1);
    sandbox[15] = static_cast<uint8_t>(sandbox[15] + 2);
    a.host6 = format_v6(host);
    a.sandbox6 = format_v6(sandbox);
  }
  return a;
}

Cidr auto_pool6(const Cidr& v4) {
  Cidr c;
  c.family = 6;
  c.prefix_len = 64;
  c.addr = {0xfd, 0x6e, 0x78, 0x75, v4.addr[0], v4.addr[1], v4.addr[2], v4.addr[3]};
  return c;
}

bool has_ipv6_default_route(std::string_view text) {
  // dest destlen src srclen nexthop metric refcnt use flags device, hex fields.
  constexpr unsigned kUp = 0x0001, kReject = 0x0200;
  while (!text.empty()) {
    size_t eol = text.find('\n');
    std::string line(text.substr(0, eol));
    text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    char dest[40], nexthop[40], src[40], dev[IFNAMSIZ + 1];
    unsigned destlen = 0, srclen = 0, metric = 0, refcnt = 0, use = 0, flags = 0;
    if (std::sscanf(line.c_str(), "%32s %x %32s %x %32s %x %x %x %x %16s", dest, &destlen, src, &srclen, nexthop,
                    &metric, &refcnt, &use, &flags, dev) != 10)
      continue;
    bool any = std::string_view(dest).find_first_not_of('0') == std::string_view::npos;
    if (any && destlen == 0 && (flags & kUp) && !(flags & kReject) &&
        std::string_view(dev) != "lo")
      return true;
  }
  return false;
}

Result<void> host_ipv6_usable() {
  std::ifstream disabled("/proc/sys/net/ipv6/conf/all/disable_ipv6");
  int off = 1;
  if (!(disabled >> off)) return fail(Errc::unavailable, "the kernel has no IPv6");
  if (off) return fail(Errc::unavailable, "IPv6 is disabled (net.ipv6.conf.all.disable_ipv6 = 1)");
  std::ifstream in("/proc/net/ipv6_route");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!has_ipv6_default_route(text)) return fail(Errc::unavailable, "the host has no IPv6 default route");
  return {};
}

std::string host_ifname(std::string_view sandbox_id) {
  std::string_view body = sandbox_id;
  if (body.substr(0, 3) == "sb_") body.remove_prefix(3);
  bool usable = body.size() >= 12;
  for (size_t i = 0; usable && i < 12; ++i)
    usable = std::islower(static_cast<unsigned char>(body[i])) || std::isdigit(static_cast<unsigned char>(body[i]));
  if (usable) return std::string(kHostIfPrefix) + std::string(body.substr(0, 12));
  // Anything else (tests, odd ids): FNV-1a, 48 bits in hex.
  uint64_t h = 1469598103934665603ull;
  for (char c : sandbox_id) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return fmt::format("{}{:012x}", kHostIfPrefix, h & 0xffffffffffffull);
}

Result<SandboxNetwork> create_sandbox_network(const NetworkSpec& spec) {
  if (!valid_id(spec.sandbox_id))
    return fail(Errc::invalid_argument, fmt::format("sandbox id '{}' cannot name a network namespace", spec.sandbox_id));
  if (spec.addresses.sandbox4.empty()) return fail(Errc::invalid_argument, "the sandbox has no IPv4 address");
  NEXUS_TRY(prepare_netns_dir(spec.netns_dir));

  SandboxNetwork net;
  net.netns_path = spec.netns_dir + "/" + spec.sandbox_id;
  net.host_ifname = host_ifname(spec.sandbox_id);
  net.addresses = spec.addresses;

  int fd = ::open(net.netns_path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
  if (fd < 0) {
    if (errno == EEXIST)
      return fail(Errc::already_exists, fmt::format("network namespace '{}' exists already", net.netns_path));
    return fail_errno(fmt::format("creating '{}'", net.netns_path));
  }
  ::close(fd);
  bool ok = false;
  auto host = route_socket();
  if (!host) {
    remove_netns_file(net.netns_path);
    return fail(host.error());
  }
  // From here on, a failure removes what was made: the veth (with its peer) and the file.
  struct Undo {
    nl_sock* sk;
    const SandboxNetwork& n;
    bool& ok;
    ~Undo() {
      if (ok) return;
      if (Link l(rtnl_link_alloc()); l) {
        rtnl_link_set_name(l.get(), n.host_ifname.c_str());
        (void)rtnl_link_delete(sk, l.get());
      }
      remove_netns_file(n.netns_path);
    }
  } undo{host->get(), net, ok};

  auto ns = make_namespace(net.netns_path);
  if (!ns) return fail(ns.error());

  {
    Link veth(rtnl_link_veth_alloc());
    if (!veth) return fail(Errc::internal, "allocating a veth pair");
    rtnl_link_set_name(veth.get(), net.host_ifname.c_str());
    rtnl_link_set_mtu(veth.get(), spec.mtu);
    // libnl 3.2.29+ hands out a reference of its own (NL_CAPABILITY_ROUTE_LINK_VETH_GET_PEER_OWN_REFERENCE).
    Link peer(rtnl_link_veth_get_peer(veth.get()));
    if (!peer) return fail(Errc::internal, "allocating a veth peer");
    rtnl_link_set_name(peer.get(), kSandboxIf);
    rtnl_link_set_mtu(peer.get(), spec.mtu);
    rtnl_link_set_ns_fd(peer.get(), ns->ns_fd.get());
    int err = rtnl_link_add(host->get(), veth.get(), NLM_F_CREATE | NLM_F_EXCL);
    if (err < 0) return fail(nl_error(err, fmt::format("creating the veth pair '{}'", net.host_ifname)));
  }
  auto host_link = get_link(host->get(), net.host_ifname);
  if (!host_link) return fail(host_link.error());
  net.host_ifindex = rtnl_link_get_ifindex(host_link->get());
  const SandboxAddresses& a = spec.addresses;
  NEXUS_TRY(add_address(host->get(), net.host_ifindex, a.host4, a.prefix4, AF_INET));
  if (a.has_ipv6()) NEXUS_TRY(add_address(host->get(), net.host_ifindex, a.host6, a.prefix6, AF_INET6));
  NEXUS_TRY(set_up(host->get(), net.host_ifname, 0));

  nl_sock* in = ns->sock.get();
  NEXUS_TRY(set_up(in, "lo", 0));
  auto eth = get_link(in, kSandboxIf);
  if (!eth) return fail(eth.error());
  int eth_index = rtnl_link_get_ifindex(eth->get());
  NEXUS_TRY(add_address(in, eth_index, a.sandbox4, a.prefix4, AF_INET));
  if (a.has_ipv6()) NEXUS_TRY(add_address(in, eth_index, a.sandbox6, a.prefix6, AF_INET6));
  NEXUS_TRY(set_up(in, kSandboxIf, 0));
  NEXUS_TRY(add_default_route(in, eth_index, a.host4, AF_INET));
  if (a.has_ipv6()) NEXUS_TRY(add_default_route(in, eth_index, a.host6, AF_INET6));
  ok = true;
  return net;
}

Result<void> delete_host_interface(const std::string& ifname) {
  auto sk = route_socket();
  if (!sk) return fail(sk.error());
  Link l(rtnl_link_alloc());
  if (!l) return fail(Errc::internal, "allocating a link");
  rtnl_link_set_name(l.get(), ifname.c_str());
  int err = rtnl_link_delete(sk->get(), l.get());
  if (err < 0 && err != -NLE_NODEV && err != -NLE_OBJ_NOTFOUND)
    return fail(nl_error(err, fmt::format("deleting interface '{}'", ifname)));
  return {};
}

Result<void> destroy_sandbox_network(std::string_view sandbox_id, const std::string& netns_dir) {
  if (!valid_id(sandbox_id))
    return fail(Errc::invalid_argument, fmt::format("sandbox id '{}' cannot name a network namespace", sandbox_id));
  auto res = delete_host_interface(host_ifname(sandbox_id));
  std::string path = netns_dir + "/" + std::string(sandbox_id);
  if (::umount2(path.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT)
    return fail_errno(fmt::format("unmounting '{}'", path));
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return fail_errno(fmt::format("removing '{}'", path));
  return res;
}

std::vector<std::string> list_sandbox_namespaces(const std::string& netns_dir) {
  std::vector<std::string> ids;
  std::error_code ec;
  for (auto& e : std::filesystem::directory_iterator(netns_dir, ec)) {
    std::string name = e.path().filename();
    if (valid_id(name)) ids.push_back(name);
  }
  return ids;
}

Result<std::vector<std::string>> list_host_interfaces() {
  auto sk = route_socket();
  if (!sk) return fail(sk.error());
  nl_cache* cache = nullptr;
  if (int err = rtnl_link_alloc_cache(sk->get(), AF_UNSPEC, &cache); err < 0)
    return fail(nl_error(err, "listing interfaces"));
  std::vector<std::string> names;
  for (nl_object* o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
    const char* name = rtnl_link_get_name(reinterpret_cast<rtnl_link*>(o));
    if (name && std::string_view(name).substr(0, kHostIfPrefix.size()) == kHostIfPrefix) names.emplace_back(name);
  }
  nl_cache_free(cache);
  return names;
}

Result<int> interface_index(const std::string& ifname) {
  auto sk = route_socket();
  if (!sk) return fail(sk.error());
  auto link = get_link(sk->get(), ifname);
  if (!link) return fail(link.error());
  return rtnl_link_get_ifindex(link->get());
}

}  // namespace nexus::net
