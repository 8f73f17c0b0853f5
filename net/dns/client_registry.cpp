// SPDX-License-Identifier: Apache-2.0
// The registered sandbox addresses.
#include "net/dns/client_registry.hpp"

#include <mutex>

#include <fmt/format.h>

namespace nexus::net::dns {

Result<void> ClientRegistry::add(const IpAddress& ip, std::string_view sandbox_id, unsigned ifindex) {
  if (sandbox_id.empty()) return fail(Errc::invalid_argument, "registering a DNS client needs a sandbox id");
  if (ip.family != AF_INET && ip.family != AF_INET6)
    return fail(Errc::invalid_argument, "a DNS client address must be IPv4 or IPv6");
  std::unique_lock lock(mu_);
  auto [it, inserted] = clients_.emplace(ip, Entry{std::string(sandbox_id), ifindex});
  if (!inserted && it->second.sandbox_id != sandbox_id)
    return fail(Errc::already_exists,
                fmt::format("DNS client {} is registered for sandbox {}", ip.to_string(), it->second.sandbox_id));
  it->second.ifindex = ifindex;
  return {};
}

bool ClientRegistry::remove(const IpAddress& ip, std::string* sandbox_id) {
  std::unique_lock lock(mu_);
  auto it = clients_.find(ip);
  if (it == clients_.end()) return false;
  std::string id = std::move(it->second.sandbox_id);
  clients_.erase(it);
  for (const auto& [_, other] : clients_)
    if (other.sandbox_id == id) return false;
  if (sandbox_id) *sandbox_id = id;
  return true;
}

void ClientRegistry::remove_sandbox(std::string_view sandbox_id) {
  std::unique_lock lock(mu_);
  std::erase_if(clients_, [&](const auto& kv) { return kv.second.sandbox_id == sandbox_id; });
  if (auto it = refused_.find(sandbox_id); it != refused_.end()) refused_.erase(it);
}

void ClientRegistry::set_refused(std::string_view sandbox_id, bool refused) {
  std::unique_lock lock(mu_);
  if (refused) {
    refused_.emplace(sandbox_id);
  } else if (auto it = refused_.find(sandbox_id); it != refused_.end()) {
    refused_.erase(it);
  }
}

std::optional<ClientRegistry::Client> ClientRegistry::find(const IpAddress& ip) const {
  std::shared_lock lock(mu_);
  auto it = clients_.find(ip);
  if (it == clients_.end()) return std::nullopt;
  return Client{it->second.sandbox_id, refused_.contains(it->second.sandbox_id), it->second.ifindex};
}

size_t ClientRegistry::size() const {
  std::shared_lock lock(mu_);
  return clients_.size();
}

}  // namespace nexus::net::dns
