// SPDX-License-Identifier: Apache-2.0
// DaemonConfig: where nexusd keeps things and the defaults it applies.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace nexus::daemon {

struct DaemonConfig {
  std::string root_dir = "/var/lib/nexus";     ///< nexus.db, templates/, sandboxes/
  std::string run_dir = "/run/nexus";          ///< nexus.sock, sandboxes/<id>/agent.sock
  std::string socket_path;                     ///< default <run_dir>/nexus.sock
  std::string agent_path;                      ///< the static nexus-agent binary
  std::string cache_dir = "/var/cache/nexus";  ///< cached template bases (keyed by input hash)
  std::string default_template = "ai-agent-default";
  int64_t default_ttl_seconds = 600;
  int default_cpus = 1;
  int default_memory_mib = 512;
  uint64_t pids_limit = 512;
  uint32_t uid_base = 100000;
  uint32_t uid_count = 65536;
  int64_t sweep_interval_ms = 1000;

  // Isolation (DESIGN.md section 6).
  std::string isolation = "auto";   ///< default for creates that do not say: auto, microvm, jail
  std::string vmm_path;             ///< nexus-vmm
  std::string guest_kernel;         ///< uncompressed vmlinux for microVMs
  std::string agent_initrd;         ///< the agent's initramfs (agent-initrd.cpio)
  uint64_t probe_timeout_ms = 15000;     ///< `nexus-vmm --probe` at start-up
  uint64_t boot_timeout_ms = 30000;      ///< a microVM's agent must answer by then
  uint64_t vmm_stop_timeout_ms = 2000;   ///< graceful guest power-off before SIGKILL
  uint64_t disk_size_mib = 4096;         ///< a microVM's writable disk (sparse)
  // VMMs jail themselves as vmm_uid/vmm_gid + n, one n per running microVM (n < 65536):
  // above the jail's user-namespace range (uid_base + 65536), so no VMM shares an id with a
  // jail sandbox's files or with another VMM.
  uint32_t vmm_uid = 300000;
  uint32_t vmm_gid = 300000;

  // Networking (DESIGN.md section 8).
  std::string network_pool = "10.88.0.0/16";  ///< IPv4 network sandbox addresses come from (/30 each)
  std::string network_pool6 = "auto";         ///< IPv6 network (/126 each); auto: when the host has IPv6; none
  std::string policy_backend = "auto";        ///< auto (ebpf, else nftables), ebpf, nftables, none
  std::string egress_default = "allow";       ///< allow or deny: sandboxes' outbound traffic
  uint16_t gateway_http_port = 15080;         ///< the egress gateway (tcp 80 is redirected here)
  uint16_t gateway_tls_port = 15443;          ///< (tcp 443)
  uint16_t dns_port = 15053;                  ///< the DNS forwarder (udp/tcp 53 to the gateway address)
  std::vector<std::string> dns_upstreams;     ///< resolvers for sandboxes and the gateway; empty: resolv.conf
  std::string firewall_table = "nexus";       ///< nftables table (inet) of NAT and the host's protection

  std::string templates_dir() const { return root_dir + "/templates"; }
  std::string sandboxes_dir() const { return root_dir + "/sandboxes"; }
  std::string sandbox_dir(const std::string& id) const { return sandboxes_dir() + "/" + id; }
  std::string agent_socket_dir(const std::string& id) const { return run_dir + "/sandboxes/" + id; }
  std::string agent_socket(const std::string& id) const { return agent_socket_dir(id) + "/agent.sock"; }
  std::string disk_pool_dir() const { return root_dir + "/disks"; }
  std::string netns_dir() const { return run_dir + "/netns"; }
};

}  // namespace nexus::daemon
