// SPDX-License-Identifier: Apache-2.0
// The sandboxes the forwarder serves: each registered address belongs to one sandbox. A query
// from any other address is dropped, so the forwarder is no open resolver even when the
// nftables rules that keep the outside away from its port are missing. Thread-safe: nexusd
// registers from its own threads while the forwarder's loop looks clients up.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>

#include "common/result.hpp"
#include "net/dns/address.hpp"

namespace nexus::net::dns {

class ClientRegistry {
 public:
  struct Client {
    std::string sandbox_id;
    bool refused = false;   ///< the sandbox gets REFUSED (its policy denies all egress)
    unsigned ifindex = 0;   ///< UDP queries must arrive on this interface (0: any)
  };

  /// Registers `ip` for `sandbox_id`, arriving on interface `ifindex` (0: any).
  /// Errc::already_exists when it belongs to another sandbox; Errc::invalid_argument for an
  /// empty sandbox id.
  Result<void> add(const IpAddress& ip, std::string_view sandbox_id, unsigned ifindex = 0);
  /// Unregisters one address; true when the sandbox has no address left.
  bool remove(const IpAddress& ip, std::string* sandbox_id = nullptr);
  /// Unregisters every address of a sandbox and its "no DNS" mark.
  void remove_sandbox(std::string_view sandbox_id);
  /// Marks a sandbox as refused (REFUSED answers) or served.
  void set_refused(std::string_view sandbox_id, bool refused);
  std::optional<Client> find(const IpAddress& ip) const;
  size_t size() const;

 private:
  mutable std::shared_mutex mu_;
  struct Entry {
    std::string sandbox_id;
    unsigned ifindex = 0;
  };
  std::map<IpAddress, Entry> clients_;
  std::set<std::string, std::less<>> refused_;
};

}  // namespace nexus::net::dns
