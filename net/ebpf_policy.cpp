// SPDX-License-Identifier: Apache-2.0
#include "net/ebpf_policy.hpp"

#include <linux/bpf.h>
#include <net/if.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <mutex>

#include <fmt/format.h>

#include "policy.skel.h"

namespace nexus::net {
namespace {

// The filters' place on each hook: priority 1 runs before anything an operator adds.
constexpr uint32_t kTcHandle = 0x4e58;  // "NX"
constexpr uint32_t kTcPriority = 1;
constexpr size_t kLogTail = 4000;

// libbpf reports through one process-wide print callback; while a load runs, it is captured.
std::mutex g_log_mutex;
std::string* g_log_sink = nullptr;

int capture_print(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG || !g_log_sink) return 0;
  char buf[1024];
  int n = std::vsnprintf(buf, sizeof(buf), format, args);
  if (n > 0) g_log_sink->append(buf, std::min(static_cast<size_t>(n), sizeof(buf) - 1));
  return 0;
}

// Captures what libbpf prints while it lives (libbpf's callback is process-wide).
class LogCapture {
 public:
  LogCapture() : lock_(g_log_mutex) {
    g_log_sink = &text_;
    previous_ = libbpf_set_print(capture_print);
  }
  ~LogCapture() {
    libbpf_set_print(previous_);
    g_log_sink = nullptr;
  }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;
  const std::string& text() const { return text_; }

 private:
  std::lock_guard<std::mutex> lock_;
  std::string text_;
  libbpf_print_fn_t previous_ = nullptr;
};

std::string tail(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\0')) s.remove_suffix(1);
  if (s.size() <= kLogTail) return std::string(s);
  return "..." + std::string(s.substr(s.size() - kLogTail));
}

Error bpf_error(int err, std::string_view what) {
  if (err < 0) err = -err;
  if (err == EPERM || err == EACCES)
    return Error(Errc::permission_denied,
                 fmt::format("{}: {} (needs CAP_BPF and CAP_NET_ADMIN)", what, std::strerror(err)));
  return Error::from_errno(err, what);
}

uint32_t tag(uint32_t parity, Direction d) {
  return (parity << 1) | static_cast<uint32_t>(d);
}

/// An entry's LPM map (IPv4 or IPv6) and its key in the generation of `parity`. The key's
/// prefix covers the 32-bit tag (generation parity, direction) before the address.
struct LpmKey {
  int fd = -1;
  bool v4 = true;
  nx_lpm4_key key4{};
  nx_lpm6_key key6{};
  const void* data() const { return v4 ? static_cast<const void*>(&key4) : static_cast<const void*>(&key6); }
};

LpmKey lpm_key(const LpmEntry& e, uint32_t parity, int fd4, int fd6) {
  LpmKey k;
  k.v4 = e.prefix.family == 4;
  k.fd = k.v4 ? fd4 : fd6;
  if (k.v4) {
    k.key4.prefixlen = 32 + e.prefix.prefix_len;
    k.key4.tag = tag(parity, e.direction);
    std::memcpy(k.key4.addr, e.prefix.addr.data(), sizeof k.key4.addr);
  } else {
    k.key6.prefixlen = 32 + e.prefix.prefix_len;
    k.key6.tag = tag(parity, e.direction);
    std::memcpy(k.key6.addr, e.prefix.addr.data(), sizeof k.key6.addr);
  }
  return k;
}


uint32_t prog_id(int fd) {
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  return bpf_obj_get_info_by_fd(fd, &info, &len) == 0 ? info.id : 0;
}

uint32_t map_id(int fd) {
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  return bpf_obj_get_info_by_fd(fd, &info, &len) == 0 ? info.id : 0;
}

Counter add(Counter a, Counter b) { return {a.packets + b.packets, a.bytes + b.bytes}; }

}  // namespace

Result<void> EbpfPolicy::probe() {
  LogCapture capture;
  nx_policy* skel = nx_policy__open();
  int err = skel ? nx_policy__load(skel) : -errno;
  if (skel) nx_policy__destroy(skel);
  if (!skel || err) {
    Error e = bpf_error(err, "loading the policy program");
    if (!capture.text().empty()) e = Error(e.code(), e.message() + "; libbpf: " + tail(capture.text()));
    return fail(std::move(e));
  }
  return {};
}

Result<std::unique_ptr<EbpfPolicy>> EbpfPolicy::attach(int ifindex, const RuleSet& rules, bool take_over) {
  if (ifindex <= 0)
    return fail(Errc::invalid_argument, fmt::format("ifindex '{}': not an interface", ifindex));
  auto compiled = compile(rules);
  if (!compiled) return fail(std::move(compiled.error()));

  std::unique_ptr<EbpfPolicy> self(new EbpfPolicy());
  self->ifindex_ = ifindex;

  // The verifier's log is kept only when a load fails (libbpf then retries with logging on).
  std::string verifier_log(1 << 20, '\0');
  {
    LogCapture capture;
    LIBBPF_OPTS(bpf_object_open_opts, opts, .kernel_log_buf = verifier_log.data(),
                .kernel_log_size = verifier_log.size());
    self->skel_ = nx_policy__open_opts(&opts);
    int err = self->skel_ ? nx_policy__load(self->skel_) : -errno;
    if (!self->skel_ || err) {
      std::string log = tail(verifier_log.c_str());
      if (log.empty()) log = tail(capture.text());
      Error e = bpf_error(err, self->skel_ ? "loading the policy program" : "opening the policy program");
      return fail(Error(e.code(), fmt::format("{}; log:\n{}", e.message(), log)));
    }
  }

  NEXUS_TRY(self->write_generation(0, *compiled));
  self->active_ = std::move(*compiled);
  NEXUS_TRY(self->attach_hooks(take_over));
  return self;
}

Result<void> EbpfPolicy::attach_hooks(bool take_over) {
  LogCapture capture;
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex_,
              .attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
  int err = bpf_tc_hook_create(&hook);
  if (err && err != -EEXIST) return fail(bpf_error(err, fmt::format("creating the clsact qdisc on ifindex {}", ifindex_)));
  owns_qdisc_ = err == 0;

  struct Hook {
    bpf_tc_attach_point point;
    bpf_program* prog;
    bool* attached;
    const char* name;
  };
  for (const Hook& h : {Hook{BPF_TC_INGRESS, skel_->progs.nx_egress, &attached_egress_, "ingress (sandbox egress)"},
                        Hook{BPF_TC_EGRESS, skel_->progs.nx_ingress, &attached_ingress_, "egress (sandbox ingress)"}}) {
    hook.attach_point = h.point;
    LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = bpf_program__fd(h.prog),
                .flags = take_over ? static_cast<__u32>(BPF_TC_F_REPLACE) : 0u,
                .handle = kTcHandle, .priority = kTcPriority);
    err = bpf_tc_attach(&hook, &opts);
    if (err) {
      Error e = bpf_error(err, fmt::format("attaching to the TC {} hook of ifindex {}", h.name, ifindex_));
      if (err == -EEXIST) e = Error(Errc::already_exists, e.message() + ": a Nexus policy is attached there already");
      else if (!capture.text().empty()) e = Error(e.code(), e.message() + "; libbpf: " + tail(capture.text()));
      (void)detach_locked();
      return fail(std::move(e));
    }
    *h.attached = true;
  }
  return {};
}

EbpfPolicy::~EbpfPolicy() { (void)detach(); }

Result<void> EbpfPolicy::detach() {
  LogCapture capture;  // ENOENT and the like are expected here; libbpf need not print them
  return detach_locked();
}

Result<void> EbpfPolicy::detach_locked() {
  Result<void> result;
  auto keep_first = [&](Error e) {
    if (result) result = fail(std::move(e));
  };
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex_);
  for (auto [point, attached] : {std::pair{BPF_TC_INGRESS, &attached_egress_},
                                 std::pair{BPF_TC_EGRESS, &attached_ingress_}}) {
    if (!*attached) continue;
    hook.attach_point = point;
    LIBBPF_OPTS(bpf_tc_opts, opts, .handle = kTcHandle, .priority = kTcPriority);
    int err = bpf_tc_detach(&hook, &opts);
    // ENOENT/ENODEV: the filter or the interface went away with the sandbox; nothing to undo.
    if (err && err != -ENOENT && err != -ENODEV && err != -EINVAL)
      keep_first(bpf_error(err, fmt::format("detaching from ifindex {}", ifindex_)));
    *attached = false;
  }
  if (owns_qdisc_) {
    hook.attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);
    int err = bpf_tc_hook_destroy(&hook);
    if (err && err != -ENOENT && err != -ENODEV && err != -EINVAL)
      keep_first(bpf_error(err, fmt::format("removing the clsact qdisc of ifindex {}", ifindex_)));
    owns_qdisc_ = false;
  }
  if (skel_) {
    nx_policy__destroy(skel_);
    skel_ = nullptr;
  }
  return result;
}

Result<void> EbpfPolicy::write_generation(uint32_t gen, const CompiledPolicy& policy) {
  const uint32_t parity = gen & 1;
  const int fd4 = bpf_map__fd(skel_->maps.nx_lpm4), fd6 = bpf_map__fd(skel_->maps.nx_lpm6);
  for (const auto& e : policy.entries) {
    nx_prefix_rules value{};
    value.count = static_cast<__u32>(e.rules.size());
    std::copy(e.rules.begin(), e.rules.end(), value.rules);
    LpmKey key = lpm_key(e, parity, fd4, fd6);
    if (bpf_map_update_elem(key.fd, key.data(), &value, BPF_ANY))
      return fail(bpf_error(errno, fmt::format("writing the rules of {} {}", to_string(e.direction),
                                               e.prefix.to_string())));
  }
  volatile __u8* defaults = skel_->data->nx_default_action;
  defaults[tag(parity, Direction::egress)] = policy.egress_default == Action::allow ? NX_ACT_ALLOW : NX_ACT_DENY;
  defaults[tag(parity, Direction::ingress)] = policy.ingress_default == Action::allow ? NX_ACT_ALLOW : NX_ACT_DENY;
  // The flip: programs read nx_active_gen once per packet.
  __atomic_store_n(&skel_->bss->nx_active_gen, gen, __ATOMIC_RELEASE);
  return {};
}

Result<void> EbpfPolicy::delete_entries(uint32_t gen, const CompiledPolicy& policy) {
  const uint32_t parity = gen & 1;
  const int fd4 = bpf_map__fd(skel_->maps.nx_lpm4), fd6 = bpf_map__fd(skel_->maps.nx_lpm6);
  for (const auto& e : policy.entries) {
    LpmKey key = lpm_key(e, parity, fd4, fd6);
    if (bpf_map_delete_elem(key.fd, key.data()) && errno != ENOENT)
      return fail(bpf_error(errno, fmt::format("removing the old rules of {}", e.prefix.to_string())));
  }
  return {};
}

Result<Counter> EbpfPolicy::read_counter(int map_fd, uint32_t slot) const {
  const int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return fail(bpf_error(ncpu, "counting CPUs"));
  std::vector<nx_counter> per_cpu(static_cast<size_t>(ncpu));
  if (bpf_map_lookup_elem(map_fd, &slot, per_cpu.data()))
    return fail(bpf_error(errno, fmt::format("reading counter {}", slot)));
  Counter c;
  for (const auto& v : per_cpu) c = add(c, {v.packets, v.bytes});
  return c;
}

Result<void> EbpfPolicy::zero_counters(uint32_t parity) {
  const int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) return fail(bpf_error(ncpu, "counting CPUs"));
  std::vector<nx_counter> zero(static_cast<size_t>(ncpu));
  const int fd = bpf_map__fd(skel_->maps.nx_rule_cnt);
  for (uint32_t i = 0; i < NX_MAX_RULES; ++i) {
    uint32_t slot = parity * NX_MAX_RULES + i;
    if (bpf_map_update_elem(fd, &slot, zero.data(), BPF_ANY))
      return fail(bpf_error(errno, "clearing counters"));
  }
  return {};
}

Result<void> EbpfPolicy::replace(const RuleSet& rules) {
  if (!skel_) return fail(Errc::conflict, "the policy is detached");
  auto compiled = compile(rules);
  if (!compiled) return fail(std::move(compiled.error()));
  const uint32_t next = generation_ + 1;
  const int cnt_fd = bpf_map__fd(skel_->maps.nx_rule_cnt);

  // The parity `next` uses still holds the generation before the active one: no packet has
  // looked at it since the last replace(). Keep its counts, then clear it.
  if (have_previous_) {
    for (size_t i = 0; i < previous_.rules.size(); ++i) {
      auto c = read_counter(cnt_fd, (next & 1) * NX_MAX_RULES + static_cast<uint32_t>(i));
      if (!c) return fail(std::move(c.error()));
      folded_[previous_.rules[i].id] = add(folded_[previous_.rules[i].id], *c);
    }
    NEXUS_TRY(delete_entries(next, previous_));
    have_previous_ = false;
  }
  NEXUS_TRY(zero_counters(next & 1));
  if (auto r = write_generation(next, *compiled); !r) {
    (void)delete_entries(next, *compiled);
    return r;
  }
  generation_ = next;
  previous_ = std::move(active_);
  have_previous_ = true;
  active_ = std::move(*compiled);
  return {};
}

Result<std::vector<RuleCounter>> EbpfPolicy::rule_counters() const {
  if (!skel_) return fail(Errc::conflict, "the policy is detached");
  const int fd = bpf_map__fd(skel_->maps.nx_rule_cnt);
  std::vector<RuleCounter> out;
  for (size_t i = 0; i < active_.rules.size(); ++i) {
    const Rule& r = active_.rules[i];
    auto c = read_counter(fd, (generation_ & 1) * NX_MAX_RULES + static_cast<uint32_t>(i));
    if (!c) return fail(std::move(c.error()));
    Counter total = *c;
    if (auto it = folded_.find(r.id); it != folded_.end()) total = add(total, it->second);
    if (have_previous_) {
      for (size_t j = 0; j < previous_.rules.size(); ++j) {
        if (previous_.rules[j].id != r.id) continue;
        auto p = read_counter(fd, ((generation_ + 1) & 1) * NX_MAX_RULES + static_cast<uint32_t>(j));
        if (!p) return fail(std::move(p.error()));
        total = add(total, *p);
      }
    }
    out.push_back({r.id, r.direction, total});
  }
  return out;
}

Result<PolicyStats> EbpfPolicy::stats() const {
  if (!skel_) return fail(Errc::conflict, "the policy is detached");
  const int fd = bpf_map__fd(skel_->maps.nx_stats);
  PolicyStats s;
  std::pair<uint32_t, Counter*> slots[] = {
      {NX_STAT_EGRESS_DEFAULT, &s.egress_default}, {NX_STAT_INGRESS_DEFAULT, &s.ingress_default},
      {NX_STAT_EGRESS_REPLY, &s.egress_reply},     {NX_STAT_INGRESS_REPLY, &s.ingress_reply},
      {NX_STAT_RELATED, &s.related},
      {NX_STAT_ARP, &s.arp},                       {NX_STAT_NDP, &s.ndp},
      {NX_STAT_NON_IP, &s.non_ip},                 {NX_STAT_FRAGMENT, &s.fragment},
      {NX_STAT_MALFORMED, &s.malformed},
  };
  for (auto [slot, dst] : slots) {
    auto c = read_counter(fd, slot);
    if (!c) return fail(std::move(c.error()));
    *dst = *c;
  }
  return s;
}

std::vector<uint32_t> EbpfPolicy::prog_ids() const {
  if (!skel_) return {};
  return {prog_id(bpf_program__fd(skel_->progs.nx_egress)),
          prog_id(bpf_program__fd(skel_->progs.nx_ingress))};
}

std::vector<uint32_t> EbpfPolicy::map_ids() const {
  std::vector<uint32_t> ids;
  if (!skel_) return ids;
  bpf_map* m;
  bpf_object__for_each_map(m, skel_->obj) ids.push_back(map_id(bpf_map__fd(m)));
  return ids;
}

}  // namespace nexus::net
