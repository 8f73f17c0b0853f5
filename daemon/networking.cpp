// SPDX-License-Identifier: Apache-2.0
#include "daemon/networking.hpp"

#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <fmt/format.h>

#include "common/log.hpp"
#include "net/ebpf_policy.hpp"
#include "net/nft/nft_context.hpp"
#include "net/nft/nft_policy.hpp"

namespace nexus::daemon {
namespace {

constexpr const char* kLog = "network";

/// The "none" backend: the operator chose unfiltered networks; it enforces nothing and says so.
class NoPolicy final : public net::PolicyBackend {
 public:
  std::string_view name() const override { return "none"; }
  Result<void> replace(const net::RuleSet&) override { return {}; }
  Result<std::vector<net::RuleCounter>> rule_counters() const override { return std::vector<net::RuleCounter>{}; }
  Result<void> detach() override { return {}; }
};

}  // namespace

Networking::Networking(const DaemonConfig& config) : config_(config) {}
Networking::~Networking() = default;  // policies stay attached: sandboxes outlive nexusd

Result<void> Networking::start() {
  std::string pool6 = config_.network_pool6 == "none" ? "" : config_.network_pool6;
  if (pool6 == "auto") {
    // IPv6 where the host has it: a unique-local /64 of this nexusd's, NATed like IPv4. A bad
    // IPv4 pool is left to the parse below to report.
    pool6.clear();
    auto v6 = net::host_ipv6_usable();
    if (!v6) {
      log::info(kLog, "sandboxes have IPv4 only (network_pool6 = auto: {})", v6.error().message());
    } else if (auto v4 = net::Cidr::parse(config_.network_pool); v4) {
      pool6 = net::auto_pool6(*v4).to_string();
      log::info(kLog, "IPv6 for sandboxes from {} (network_pool6 = auto: the host has an IPv6 default route)", pool6);
    }
  }
  auto pool = net::AddressPool::parse(config_.network_pool, pool6);
  if (!pool) return fail(pool.error());
  pool_ = std::move(*pool);
  pool6_ = pool6;

  const std::string& want = config_.policy_backend;
  if (want != "auto" && want != "ebpf" && want != "nftables" && want != "none")
    return fail(Errc::invalid_argument,
                fmt::format("policy backend '{}': expected auto, ebpf, nftables or none", want));
  if (want == "none") {
    choice_ = {"none", "chosen by the operator: sandbox traffic is not filtered"};
  } else {
    auto ebpf = want == "nftables" ? Result<void>(fail(Errc::unavailable, "not chosen")) : net::EbpfPolicy::probe();
    if (ebpf) {
      choice_ = {"ebpf", "the TC classifier loads"};
    } else if (want == "ebpf") {
      choice_ = {"", fmt::format("eBPF: {}", ebpf.error().message())};
    } else if (auto nft = net::nft::nft_available(); nft) {
      choice_ = {"nftables", want == "nftables" ? "chosen by the operator"
                                                 : fmt::format("eBPF cannot be used ({})", ebpf.error().message())};
    } else {
      choice_ = {"", fmt::format("eBPF: {}; nftables: {}", ebpf.error().message(), nft.error().message())};
    }
  }
  if (choice_.name.empty())
    log::warning(kLog, "no network policy backend: {}; sandboxes with a network are refused "
                       "(set [network] policy_backend = \"none\" to allow unfiltered ones)", choice_.reason);
  else
    log::info(kLog, "network policy backend: {} ({}); addresses from {}{}", choice_.name, choice_.reason,
              config_.network_pool, pool6_.empty() ? "" : " and " + pool6_);
  return {};
}

void Networking::install_firewall() {
  if (choice_.name.empty()) return;
  net::nft::HostFirewallConfig fc;
  fc.pool4 = pool_->v4();
  fc.pool6 = pool_->v6();
  fc.http_port = config_.gateway_http_port;
  fc.tls_port = config_.gateway_tls_port;
  fc.dns_port = config_.dns_port;
  fc.prefix = std::string(net::kHostIfPrefix);
  fc.table = config_.firewall_table;
  std::vector<std::string> interfaces;
  for (const auto& [id, e] : entries_) interfaces.push_back(e.network.host_ifname);
  auto fw = net::nft::HostFirewall::create(fc);
  Result<void> res = fw ? Result<void>{} : Result<void>(fail(fw.error()));
  if (fw) {
    if (auto fwd = net::nft::enable_forwarding(fc); !fwd) res = fail(fwd.error());
    else
      for (const auto& c : fwd->changed) log::info(kLog, "sysctl {}", c);
  }
  if (res) res = fw->install(interfaces);
  if (!res) {
    log::warning(kLog, "the host firewall (nftables table inet {}) could not be installed: {}; sandboxes with a "
                       "network are refused", config_.firewall_table, res.error().message());
    choice_ = {"", fmt::format("host firewall: {}", res.error().message())};
    return;
  }
  firewall_ = std::move(*fw);
  log::info(kLog, "host firewall installed: nftables table inet {} ({} sandbox interfaces)", config_.firewall_table,
            interfaces.size());
  if (auto drops = net::nft::foreign_forward_drops(config_.firewall_table); drops && !drops->empty())
    log::warning(kLog, "{}", net::nft::describe_forward_drops(*drops, net::kHostIfPrefix));

  net::dns::ForwarderOptions opts;
  opts.listen = {fmt::format("0.0.0.0:{}", config_.dns_port), fmt::format("[::]:{}", config_.dns_port)};
  opts.upstreams = config_.dns_upstreams;
  auto dns = net::dns::Forwarder::start(std::move(opts));
  if (!dns) {
    // Sandboxes still run; their names do not resolve until nexusd restarts with a free port.
    log::error(kLog, "the DNS forwarder did not start: {}; sandboxes cannot resolve names", dns.error().message());
    return;
  }
  dns_ = std::move(*dns);
  std::string ups;
  for (const auto& u : dns_->upstreams()) ups += (ups.empty() ? "" : ", ") + u.to_string();
  log::info(kLog, "DNS forwarder on port {} (upstream {})", config_.dns_port, ups);
  for (const auto& [id, e] : entries_) serve_dns(id, e.network);
}

void Networking::start_gateway() {
  if (!firewall_) return;
  std::string dir = config_.root_dir + "/egress";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  ::chmod(dir.c_str(), 0700);  // the CA key and the audit (URLs) live here
  auto audit = net::egress::JsonlAuditLog::open(dir + "/audit.jsonl");
  if (!audit) log::warning(kLog, "the egress audit log: {}; connections are counted but not logged", audit.error().message());
  else audit_ = *audit;
  net::egress::GatewayConfig gc;
  gc.http_listen = {fmt::format("0.0.0.0:{}", config_.gateway_http_port), fmt::format("[::]:{}", config_.gateway_http_port)};
  gc.tls_listen = {fmt::format("0.0.0.0:{}", config_.gateway_tls_port), fmt::format("[::]:{}", config_.gateway_tls_port)};
  gc.dns.servers = config_.dns_upstreams;
  gc.state_dir = dir;
  auto gw = net::egress::Gateway::start(std::move(gc), std::make_shared<net::egress::SandboxDirectory>(), audit_);
  if (!gw) {
    // Fail-closed: the redirects stay, so sandboxes' HTTP and TLS are refused, not let out.
    log::error(kLog, "the egress gateway did not start: {}; sandboxes' HTTP and HTTPS are refused",
               gw.error().message());
    return;
  }
  gateway_ = std::move(*gw);
  // The global policy, then every sandbox, then ready: nothing is decided on half a policy.
  std::ifstream in(dir + "/policy.json");
  if (in) {
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto j = parse_json(text);
    auto p = j ? net::egress::global_policy_from_json(*j) : Result<net::egress::GlobalPolicy>(fail(j.error()));
    if (!p) {
      log::error(kLog, "{}/policy.json: {}; the egress gateway stays closed until a policy is set", dir,
                 p.error().message());
      return;
    }
    gateway_->set_global_policy(std::move(*p));
  }
  for (const auto& [id, e] : entries_) serve_egress(id, e.network, e.settings);
  gateway_->set_ready(true);
  log::info(kLog, "egress gateway on ports {} (HTTP) and {} (TLS)", config_.gateway_http_port,
            config_.gateway_tls_port);
}

void Networking::serve_egress(const std::string& id, const net::SandboxNetwork& n, const NetworkSettings& s) {
  if (!gateway_) return;
  net::egress::SandboxPolicy p;
  p.id = id;
  p.ipv4 = n.addresses.sandbox4;
  p.ipv6 = n.addresses.sandbox6;
  p.rules = user_ruleset(s);
  p.rules.egress_default = config_.egress_default == "deny" ? net::Action::deny : net::Action::allow;
  auto allow = net::egress::DomainList::parse(s.allow_domains, "allow_domains");
  auto deny = net::egress::DomainList::parse(s.deny_domains, "deny_domains");
  auto inject = net::egress::inject_rules_from_e2b(s.inject);
  if (allow) p.domains.allow = std::move(*allow);
  if (deny) p.domains.deny = std::move(*deny);
  if (inject) p.inject = std::move(*inject);
  if (auto r = gateway_->sandboxes().put(std::move(p)); !r)
    log::warning(kLog, "egress gateway: sandbox {}: {}", id, r.error().message());
}

Result<void> Networking::set_global_policy(const net::egress::GlobalPolicy& policy) {
  if (!gateway_) return fail(Errc::unavailable, "the egress gateway is not running (see nexus doctor)");
  std::string dir = config_.root_dir + "/egress";
  std::string tmp = dir + "/policy.json.tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << dump_json(net::egress::to_json(policy)) << "\n";
    out.flush();
    if (!out) return fail(Errc::internal, fmt::format("writing '{}'", tmp));
  }
  if (::rename(tmp.c_str(), (dir + "/policy.json").c_str()) != 0) return fail_errno("saving the egress policy");
  gateway_->set_global_policy(policy);
  return {};
}

void Networking::serve_dns(const std::string& id, const net::SandboxNetwork& n) {
  if (!dns_) return;
  const auto& a = n.addresses;
  if (auto r = dns_->add_client(a.sandbox4, id, n.host_ifname); !r)
    log::warning(kLog, "DNS for {}: {}", id, r.error().message());
  if (a.has_ipv6())
    if (auto r = dns_->add_client(a.sandbox6, id, n.host_ifname); !r)
      log::warning(kLog, "DNS for {}: {}", id, r.error().message());
}

Json Networking::report() const {
  // Checked each time: Docker may have been started since (its FORWARD chain drops).
  Json forward = Json::object();
  if (firewall_)
    if (auto drops = net::nft::foreign_forward_drops(config_.firewall_table); drops && !drops->empty()) {
      Json chains = Json::array();
      for (const auto& d : *drops) chains.push_back(d.to_string());
      forward = Json{{"dropping_chains", chains}, {"advice", net::nft::describe_forward_drops(*drops, net::kHostIfPrefix)}};
    }
  return Json{{"forwarding", forward},
              {"backend", choice_.name},
              {"reason", choice_.reason},
              {"pool", config_.network_pool},
              {"pool6", pool6_},
              {"firewall_table", config_.firewall_table},
              {"firewall", firewall_.has_value()},
              {"sandboxes", entries_.size()},
              {"dns", {{"running", dns_ != nullptr}, {"port", config_.dns_port}}},
              {"gateway", {{"running", gateway_ != nullptr},
                           {"ready", gateway_ && gateway_->ready()},
                           {"http_port", config_.gateway_http_port},
                           {"tls_port", config_.gateway_tls_port}}}};
}

Json Networking::dns_stats() const {
  if (!dns_) return Json();
  Json j = dns_->stats();
  return j;
}

Result<int64_t> Networking::allocate() {
  if (!pool_) return fail(Errc::unavailable, "networking is not started");
  if (choice_.name.empty())
    return fail(Errc::unavailable,
                fmt::format("no network policy backend works on this host ({}); create the sandbox with "
                            "--network none, or set [network] policy_backend = \"none\" in nexusd.toml to "
                            "allow unfiltered networks",
                            choice_.reason));
  for (int64_t i = 0; i < pool_->capacity(); ++i)
    if (!used_.count(i)) {
      used_.insert(i);
      return i;
    }
  return fail(Errc::too_large, fmt::format("the network pool {} is exhausted ({} sandboxes)", config_.network_pool,
                                           pool_->capacity()));
}

Result<net::SandboxAddresses> Networking::addresses(const SandboxRecord& r) const {
  if (!pool_) return fail(Errc::unavailable, "networking is not started");
  if (r.net_index < 0) return fail(Errc::not_found, fmt::format("sandbox '{}' has no network", r.id));
  return pool_->addresses(static_cast<uint32_t>(r.net_index));
}

Result<std::unique_ptr<net::PolicyBackend>> Networking::attach_policy(const net::SandboxNetwork& n,
                                                                      const net::RuleSet& rules, bool take_over) {
  if (choice_.name == "ebpf") {
    auto p = net::EbpfPolicy::attach(n.host_ifindex, rules, take_over);
    if (!p) return fail(p.error());
    return std::unique_ptr<net::PolicyBackend>(std::move(*p));
  }
  if (choice_.name == "nftables") {
    auto p = net::nft::NftPolicy::attach(n.host_ifname, rules, take_over);
    if (!p) return fail(p.error());
    return std::unique_ptr<net::PolicyBackend>(std::move(*p));
  }
  if (choice_.name == "none") return std::unique_ptr<net::PolicyBackend>(new NoPolicy());
  return fail(Errc::unavailable, fmt::format("no network policy backend ({})", choice_.reason));
}

namespace {
net::RuleSet rules_for(const NetworkSettings& s, const net::SandboxAddresses& a, const DaemonConfig& c) {
  net::RuleSet set = ruleset(s, a);
  set.egress_default = c.egress_default == "deny" ? net::Action::deny : net::Action::allow;
  return set;
}
}  // namespace

Result<net::SandboxNetwork> Networking::setup(const SandboxRecord& r) {
  auto settings = settings_from_json(r.network);
  if (!settings) return fail(settings.error());
  auto a = addresses(r);
  if (!a) return fail(a.error());
  used_.insert(r.net_index);
  net::NetworkSpec spec;
  spec.sandbox_id = r.id;
  spec.netns_dir = config_.netns_dir();
  spec.addresses = *a;
  auto n = net::create_sandbox_network(spec);
  if (!n && n.error().code() == Errc::already_exists) {
    // A leftover of a crash with the same id: it is ours to remove.
    (void)net::destroy_sandbox_network(r.id, config_.netns_dir());
    n = net::create_sandbox_network(spec);
  }
  if (!n) return fail(std::move(n.error()).wrap("creating the sandbox's network"));
  auto policy = attach_policy(*n, rules_for(*settings, *a, config_), false);
  if (!policy) {
    (void)net::destroy_sandbox_network(r.id, config_.netns_dir());
    return fail(std::move(policy.error()).wrap("attaching the network policy"));
  }
  if (firewall_) {
    if (auto added = firewall_->add_interface(n->host_ifname); !added) {
      (void)(*policy)->detach();
      (void)net::destroy_sandbox_network(r.id, config_.netns_dir());
      return fail(std::move(added.error()).wrap("adding the sandbox to the host firewall"));
    }
  }
  entries_[r.id] = Entry{*n, std::move(*policy), *settings};
  serve_dns(r.id, *n);
  serve_egress(r.id, *n, *settings);
  return *n;
}

Result<void> Networking::adopt(const SandboxRecord& r) {
  if (r.net_index < 0) return {};
  used_.insert(r.net_index);
  auto settings = settings_from_json(r.network);
  if (!settings) return fail(settings.error());
  auto a = addresses(r);
  if (!a) return fail(a.error());
  net::SandboxNetwork n;
  n.netns_path = config_.netns_dir() + "/" + r.id;
  n.host_ifname = net::host_ifname(r.id);
  n.addresses = *a;
  auto index = net::interface_index(n.host_ifname);
  if (!index) return fail(std::move(index.error()).wrap("finding the sandbox's interface"));
  n.host_ifindex = *index;
  auto policy = attach_policy(n, rules_for(*settings, *a, config_), true);
  if (!policy) return fail(std::move(policy.error()).wrap("re-attaching the network policy"));
  entries_[r.id] = Entry{n, std::move(*policy), *settings};
  return {};
}

Result<void> Networking::teardown(const SandboxRecord& r) {
  auto it = entries_.find(r.id);
  if (it != entries_.end()) {
    (void)it->second.policy->detach();  // the interface goes next, taking the filters anyway
    entries_.erase(it);
  }
  if (dns_) dns_->remove_sandbox(r.id);
  if (gateway_) {
    gateway_->sandboxes().remove(r.id);
    gateway_->stats().remove(r.id);
  }
  if (r.net_index >= 0) used_.erase(r.net_index);
  auto res = net::destroy_sandbox_network(r.id, config_.netns_dir());
  if (firewall_) {
    if (auto removed = firewall_->remove_interface(net::host_ifname(r.id)); !removed && res) res = std::move(removed);
  }
  return res;
}

void Networking::remove_leftovers(const std::set<std::string>& live) {
  int removed = 0;
  for (const auto& id : net::list_sandbox_namespaces(config_.netns_dir())) {
    if (live.count(id)) continue;
    if (auto res = net::destroy_sandbox_network(id, config_.netns_dir()); !res)
      log::warning(kLog, "removing the leftover network of {}: {}", id, res.error().message());
    else
      ++removed;
  }
  if (removed) log::info(kLog, "removed {} leftover sandbox network parts", removed);
}

Result<void> Networking::apply(const SandboxRecord& r) {
  auto it = entries_.find(r.id);
  if (it == entries_.end()) return fail(Errc::conflict, fmt::format("sandbox '{}' has no network", r.id));
  auto settings = settings_from_json(r.network);
  if (!settings) return fail(settings.error());
  NEXUS_TRY(it->second.policy->replace(rules_for(*settings, it->second.network.addresses, config_)));
  it->second.settings = *settings;
  serve_egress(r.id, it->second.network, *settings);
  return {};
}

Result<Json> Networking::stats(const SandboxRecord& r) const {
  auto it = entries_.find(r.id);
  if (it == entries_.end()) return fail(Errc::conflict, fmt::format("sandbox '{}' has no network", r.id));
  auto counters = it->second.policy->rule_counters();
  if (!counters) return fail(counters.error());
  Json rules = Json::array();
  for (const auto& c : *counters)
    rules.push_back({{"id", c.id},
                     {"direction", std::string(net::to_string(c.direction))},
                     {"packets", c.counter.packets},
                     {"bytes", c.counter.bytes}});
  return Json{{"backend", std::string(it->second.policy->name())},
              {"interface", it->second.network.host_ifname},
              {"rules", rules}};
}

std::string Networking::netns_path(const std::string& id) const {
  auto it = entries_.find(id);
  return it == entries_.end() ? std::string() : it->second.network.netns_path;
}

}  // namespace nexus::daemon
