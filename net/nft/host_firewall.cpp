// SPDX-License-Identifier: Apache-2.0
#include "net/nft/host_firewall.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include <fmt/format.h>

#include "net/nft/nft_context.hpp"

namespace nexus::net::nft {
namespace {

// An interface name nft may see quoted: the prefix, then [a-z0-9], 15 characters at most.
bool valid_ifname(const std::string& n, const std::string& prefix) {
  if (n.size() > 15 || n.size() <= prefix.size() || n.compare(0, prefix.size(), prefix) != 0) return false;
  for (char c : n)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  return true;
}

bool valid_prefix(const std::string& p) {
  if (p.empty() || p.size() > 8) return false;
  for (char c : p)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  return true;
}

// A sysctl file of the caller's network namespace (/proc/sys/net is per namespace, chosen
// when the file is opened).
Result<std::string> read_sysctl(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail_errno(fmt::format("reading {}", path));
  char buf[64];
  ssize_t n = ::read(fd, buf, sizeof(buf) - 1);
  int err = errno;
  ::close(fd);
  if (n < 0) return fail_errno(err, fmt::format("reading {}", path));
  std::string s(buf, static_cast<size_t>(n));
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

Result<void> write_sysctl(const std::string& path, std::string_view value) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return fail_errno(fmt::format("writing {}", path));
  ssize_t n = ::write(fd, value.data(), value.size());
  int err = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(value.size())) return fail_errno(n < 0 ? err : EIO, fmt::format("writing {} to {}", value, path));
  return {};
}

// "net.ipv4.ip_forward" for "/proc/sys/net/ipv4/ip_forward".
std::string sysctl_name(const std::string& path) {
  std::string s = path.substr(std::strlen("/proc/sys/"));
  for (char& c : s)
    if (c == '/') c = '.';
  return s;
}

// Sets `path` to `want` unless it already holds it; records the change.
Result<void> set_sysctl(const std::string& path, std::string_view want, ForwardingChanges& changes) {
  auto now = read_sysctl(path);
  if (!now) return fail(std::move(now).error());
  if (*now == want) return {};
  NEXUS_TRY(write_sysctl(path, want));
  changes.changed.push_back(fmt::format("{} {} -> {}", sysctl_name(path), *now, want));
  return {};
}

uint64_t json_u64(const Json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_number_unsigned()) return 0;
  return j[key].get<uint64_t>();
}

}  // namespace

bool valid_table_name(std::string_view t) {
  if (t.empty() || t.size() > 32) return false;
  for (char c : t)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

Result<void> validate(const HostFirewallConfig& c) {
  if (c.pool4.family != 4)
    return fail(Errc::invalid_argument, fmt::format("pool4 {}: not an IPv4 network", c.pool4.to_string()));
  if (c.pool4.prefix_len < 8 || c.pool4.prefix_len > 30)
    return fail(Errc::invalid_argument,
                fmt::format("pool4 {}: the prefix must be /8 to /30 (each sandbox takes a /30)", c.pool4.to_string()));
  if (c.pool6) {
    if (c.pool6->family != 6)
      return fail(Errc::invalid_argument, fmt::format("pool6 {}: not an IPv6 network", c.pool6->to_string()));
    if (c.pool6->prefix_len < 16 || c.pool6->prefix_len > 126)
      return fail(Errc::invalid_argument,
                  fmt::format("pool6 {}: the prefix must be /16 to /126 (each sandbox takes a /126)", c.pool6->to_string()));
  }
  const std::pair<const char*, uint16_t> ports[] = {{"http_port", c.http_port}, {"tls_port", c.tls_port}, {"dns_port", c.dns_port}};
  for (const auto& [name, port] : ports)
    if (port == 0) return fail(Errc::invalid_argument, fmt::format("{} 0: ports are 1-65535", name));
  for (size_t i = 0; i < 3; ++i)
    for (size_t k = i + 1; k < 3; ++k)
      if (ports[i].second == ports[k].second)
        return fail(Errc::invalid_argument,
                    fmt::format("{} and {} are both {}: each service needs its own port", ports[i].first, ports[k].first,
                                ports[i].second));
  if (!valid_prefix(c.prefix))
    return fail(Errc::invalid_argument,
                fmt::format("interface prefix '{}': 1-8 characters a-z or 0-9", c.prefix));
  if (!valid_table_name(c.table))
    return fail(Errc::invalid_argument, fmt::format("table '{}': 1-32 characters a-z, 0-9 or _", c.table));
  return {};
}

std::string render_host_table(const HostFirewallConfig& c, const std::vector<std::string>& interfaces) {
  // The sandboxes of this nexusd only, by name: a wildcard on the prefix would also catch the
  // sandboxes of another nexusd on the host, whose ports and pool differ.
  const std::string sb = "@sandboxes";
  const std::string services = fmt::format("{{ {}, {}, {} }}", c.http_port, c.tls_port, c.dns_port);
  std::string t;
  // "add" then "delete" makes the delete valid when the table is missing; the definition that
  // follows recreates it. One buffer is one transaction: no moment without the rules.
  t += fmt::format("add table inet {0}\ndelete table inet {0}\ntable inet {0} {{\n", c.table);
  t += "  set sandboxes {\n    type ifname;\n";
  if (!interfaces.empty()) {
    t += "    elements = { ";
    for (size_t i = 0; i < interfaces.size(); ++i) t += (i ? ", \"" : "\"") + interfaces[i] + "\"";
    t += " }\n";
  }
  t += "  }\n";

  // Redirects, only for what sandboxes send. Traffic to the pool itself is not redirected,
  // so sandbox-to-sandbox stays a forward (and is dropped there) instead of reaching another
  // sandbox through the gateway.
  t += "  chain prerouting_nat {\n    type nat hook prerouting priority dstnat; policy accept;\n";
  auto redirects = [&](const char* fam, const Cidr& pool, const char* suffix) {
    t += fmt::format("    iifname {} {} daddr != {} tcp dport 80 counter redirect to :{} comment \"redirect-http{}\"\n", sb, fam,
                     pool.to_string(), c.http_port, suffix);
    t += fmt::format("    iifname {} {} daddr != {} tcp dport 443 counter redirect to :{} comment \"redirect-tls{}\"\n", sb, fam,
                     pool.to_string(), c.tls_port, suffix);
  };
  redirects("ip", c.pool4, "");
  if (c.pool6) redirects("ip6", *c.pool6, "-ipv6");
  t += fmt::format(
      "    iifname {} fib daddr type local meta l4proto {{ tcp, udp }} th dport 53 counter redirect to :{} comment "
      "\"redirect-dns\"\n",
      sb, c.dns_port);
  t += "  }\n";

  t += "  chain postrouting_nat {\n    type nat hook postrouting priority srcnat; policy accept;\n";
  t += fmt::format("    oifname != {} ip saddr {} counter masquerade comment \"masquerade-ipv4\"\n", sb, c.pool4.to_string());
  if (c.pool6)
    t += fmt::format("    oifname != {} ip6 saddr {} counter masquerade comment \"masquerade-ipv6\"\n", sb, c.pool6->to_string());
  t += "  }\n";

  // What reaches the host itself. From sandboxes: replies, neighbour discovery, and the three
  // services only when reached through a redirect (ct status dnat): a sandbox cannot talk to
  // any other host service, nor to the gateway's port directly. From elsewhere (not lo): the
  // services are for sandboxes only.
  t += "  chain input {\n    type filter hook input priority filter; policy accept;\n";
  t += fmt::format("    iifname {} jump input_sandbox comment \"from-sandbox\"\n", sb);
  t += fmt::format("    iifname != \"lo\" iifname != {} meta l4proto {{ tcp, udp }} th dport {} counter drop comment "
                   "\"services-from-outside\"\n",
                   sb, services);
  t += "  }\n";
  t += "  chain input_sandbox {\n";
  t += "    ct state established,related counter accept comment \"sandbox-established\"\n";
  t += "    icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } counter accept comment \"sandbox-ndp\"\n";
  t += fmt::format("    ct status dnat tcp dport {} counter accept comment \"sandbox-services-tcp\"\n", services);
  t += fmt::format("    ct status dnat udp dport {} counter accept comment \"sandbox-services-udp\"\n", c.dns_port);
  t += "    counter drop comment \"sandbox-input-drop\"\n";
  t += "  }\n";

  // Locally made connections to sandboxes: nexusd (root) relays inbound traffic to their
  // ports; no other user of the host may open one (they would bypass the traffic token).
  t += "  chain output {\n    type filter hook output priority filter; policy accept;\n";
  t += fmt::format("    oifname {} ct state new meta skuid != 0 counter drop comment \"to-sandbox-not-root\"\n", sb);
  t += "  }\n";

  // Forwarding. The per-sandbox policy has already judged what a sandbox sends; here,
  // sandboxes never reach each other and nothing new is forwarded to one (inbound goes
  // through nexusd).
  t += "  chain forward {\n    type filter hook forward priority filter; policy accept;\n";
  t += fmt::format("    iifname {0} oifname {0} counter drop comment \"sandbox-to-sandbox\"\n", sb);
  // The link's control messages (which the policy lets through for the veth itself) are
  // never routed on: a guest with raw sockets cannot carry data out in them.
  t += fmt::format("    iifname {} icmpv6 type {{ nd-router-solicit, nd-router-advert, nd-neighbor-solicit, "
                   "nd-neighbor-advert, nd-redirect, mld-listener-query, mld-listener-report, mld-listener-done, "
                   "mld2-listener-report }} counter drop comment \"sandbox-link-control\"\n", sb);
  t += fmt::format("    oifname {} ct state established,related counter accept comment \"to-sandbox-established\"\n", sb);
  t += fmt::format("    oifname {} counter drop comment \"to-sandbox-new\"\n", sb);
  t += fmt::format("    iifname {} counter accept comment \"from-sandbox\"\n", sb);
  t += "  }\n";
  t += "}\n";
  return t;
}

Result<HostFirewall> HostFirewall::create(HostFirewallConfig config) {
  if (auto v = validate(config); !v) return fail(std::move(v).error().wrap("host firewall config"));
  return HostFirewall(std::move(config));
}

Result<void> HostFirewall::install(const std::vector<std::string>& interfaces) const {
  for (const auto& i : interfaces)
    if (!valid_ifname(i, config_.prefix))
      return fail(Errc::invalid_argument, fmt::format("interface '{}' is not a sandbox interface", i));
  return run_batch(render_host_table(config_, interfaces), fmt::format("installing table inet {}", config_.table));
}

Result<void> HostFirewall::add_interface(const std::string& ifname) const {
  if (!valid_ifname(ifname, config_.prefix))
    return fail(Errc::invalid_argument, fmt::format("interface '{}' is not a sandbox interface", ifname));
  return run_batch(fmt::format("add element inet {} sandboxes {{ \"{}\" }}\n", config_.table, ifname),
                   fmt::format("adding {} to table inet {}", ifname, config_.table));
}

Result<void> HostFirewall::remove_interface(const std::string& ifname) const {
  if (!valid_ifname(ifname, config_.prefix))
    return fail(Errc::invalid_argument, fmt::format("interface '{}' is not a sandbox interface", ifname));
  auto r = run_batch(fmt::format("delete element inet {} sandboxes {{ \"{}\" }}\n", config_.table, ifname),
                     fmt::format("removing {} from table inet {}", ifname, config_.table));
  if (!r && r.error().is(Errc::not_found)) return {};
  return r;
}

Result<void> HostFirewall::remove() const {
  return run_batch(fmt::format("add table inet {0}\ndelete table inet {0}\n", config_.table),
                   fmt::format("removing table inet {}", config_.table));
}

Result<FirewallStatus> HostFirewall::status() const {
  FirewallStatus st;
  auto listing = list_json(fmt::format("list table inet {}", config_.table), fmt::format("listing table inet {}", config_.table));
  if (!listing) {
    if (listing.error().is(Errc::not_found)) return st;
    return fail(std::move(listing).error());
  }
  st.present = true;
  for (const auto& item : *listing) {
    if (!item.is_object() || !item.contains("rule")) continue;
    const Json& r = item["rule"];
    FirewallRule fr;
    if (r.contains("chain") && r["chain"].is_string()) fr.chain = r["chain"].get<std::string>();
    fr.handle = json_u64(r, "handle");
    if (r.contains("comment") && r["comment"].is_string()) fr.comment = r["comment"].get<std::string>();
    if (r.contains("expr") && r["expr"].is_array())
      for (const auto& e : r["expr"])
        if (e.is_object() && e.contains("counter") && e["counter"].is_object()) {
          fr.packets = json_u64(e["counter"], "packets");
          fr.bytes = json_u64(e["counter"], "bytes");
        }
    st.rules.push_back(std::move(fr));
  }
  return st;
}

Result<ForwardingChanges> enable_forwarding(const HostFirewallConfig& config) {
  if (auto v = validate(config); !v) return fail(std::move(v).error().wrap("host firewall config"));
  ForwardingChanges changes;
  NEXUS_TRY(set_sysctl("/proc/sys/net/ipv4/ip_forward", "1", changes));
  if (!config.pool6) return changes;

  const std::string conf = "/proc/sys/net/ipv6/conf";
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(conf.c_str()), ::closedir);
  if (!dir) return fail(Error::last_errno(fmt::format("{} (IPv6 disabled?)", conf)).wrap("enabling IPv6 forwarding"));
  std::vector<std::string> ifaces;
  while (dirent* e = ::readdir(dir.get())) {
    std::string n = e->d_name;
    if (n == "." || n == ".." || n == "all" || n == "default" || n == "lo" || n.rfind(config.prefix, 0) == 0) continue;
    ifaces.push_back(std::move(n));
  }
  for (const auto& n : ifaces) {
    const std::string path = conf + "/" + n + "/accept_ra";
    auto v = read_sysctl(path);
    if (!v) {
      if (v.error().errno_value() == ENOENT) continue;  // the interface went away meanwhile
      return fail(std::move(v).error());
    }
    if (*v == "1") NEXUS_TRY(set_sysctl(path, "2", changes));
  }
  NEXUS_TRY(set_sysctl(conf + "/all/forwarding", "1", changes));
  return changes;
}

std::string ForeignForwardDrop::to_string() const {
  return fmt::format("table {} {} chain {}", family, table, chain);
}

std::vector<ForeignForwardDrop> forward_drop_chains(const Json& listing, std::string_view own_table) {
  std::vector<ForeignForwardDrop> drops;
  if (!listing.is_array()) return drops;
  auto text = [](const Json& o, const char* key) {
    auto it = o.find(key);
    return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  auto chains = [&](auto&& each) {
    for (const auto& item : listing)
      if (item.is_object() && item.contains("chain") && item["chain"].is_object()) each(item["chain"]);
  };
  chains([&](const Json& c) {
    if (text(c, "hook") != "forward" || text(c, "policy") != "drop") return;
    ForeignForwardDrop d{text(c, "family"), text(c, "table"), text(c, "name")};
    if (d.family == "inet" && d.table == own_table) return;
    drops.push_back(std::move(d));
  });
  chains([&](const Json& c) {
    if (text(c, "name") != "DOCKER-USER") return;
    for (auto& d : drops) d.docker_user = d.docker_user || (d.family == text(c, "family") && d.table == text(c, "table"));
  });
  return drops;
}

Result<std::vector<ForeignForwardDrop>> foreign_forward_drops(std::string_view own_table) {
  auto listing = list_json("list chains", "listing the host's chains");
  if (!listing) return fail(std::move(listing).error());
  return forward_drop_chains(*listing, own_table);
}

std::string describe_forward_drops(const std::vector<ForeignForwardDrop>& drops, std::string_view prefix) {
  std::string names, fixes;
  bool docker = false;
  for (const auto& d : drops) {
    names += (names.empty() ? "" : ", ") + d.to_string();
    docker = docker || d.docker_user;
    std::string fix;
    if ((d.family == "ip" || d.family == "ip6") && d.table == "filter") {
      // iptables(-nft)'s own table; DOCKER-USER is the chain Docker leaves to the operator.
      std::string tool = d.family == "ip" ? "iptables" : "ip6tables";
      std::string chain = d.docker_user ? "DOCKER-USER" : d.chain;
      fix = fmt::format("{0} -I {1} -i {2}+ -j ACCEPT && {0} -I {1} -o {2}+ -m conntrack --ctstate RELATED,ESTABLISHED "
                        "-j ACCEPT", tool, chain, prefix);
    } else {
      fix = fmt::format("nft insert rule {0} {1} {2} iifname \"{3}*\" accept && nft insert rule {0} {1} {2} oifname "
                        "\"{3}*\" ct state established,related accept", d.family, d.table, d.chain, prefix);
    }
    fixes += (fixes.empty() ? "" : "; ") + fix;
  }
  return fmt::format("{} drop{} forwarded packets by policy{}, so sandboxes cannot reach the outside; let their "
                     "traffic through with: {}",
                     names, drops.size() == 1 ? "s" : "", docker ? " (Docker does this)" : "", fixes);
}

}  // namespace nexus::net::nft
