// SPDX-License-Identifier: Apache-2.0
// SandboxManager implementation.
#include "daemon/sandbox_manager.hpp"

#include <filesystem>
#include <set>

#include <fmt/format.h>

#include "common/log.hpp"
#include "common/strings.hpp"
#include "daemon/auth.hpp"
#include "daemon/fs_helpers.hpp"
#include "daemon/jail/jail.hpp"
#include "daemon/jail_backend.hpp"
#include "daemon/template_build.hpp"
#include "rootfs/seeded_templates.hpp"

namespace nexus::daemon {
namespace {

constexpr const char* kLog = "daemon.sandbox";
constexpr int64_t kKeepStoppedMs = 3600 * 1000;  // stopped sandboxes stay visible for an hour
constexpr int64_t kMaxTtlSeconds = 7 * 24 * 3600;
constexpr size_t kMaxMetadataEntries = 64;
constexpr size_t kMaxMetadataBytes = 64 * 1024;
constexpr int64_t kMaxMicrovmCpus = 32;  // nexus-vmm's limit (docs/vmm.md)

bool valid_name(const std::string& n) {
  if (n.empty() || n.size() > 63) return false;
  for (char c : n)
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-')) return false;
  return true;
}

bool valid_env_key(const std::string& k) {
  if (k.empty() || k.size() > 255 || isdigit(static_cast<unsigned char>(k[0]))) return false;
  for (char c : k)
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  return true;
}

jail::Handle handle_of(const SandboxRecord& r) {
  jail::Handle h{};
  h.pid = static_cast<pid_t>(r.pid);
  h.start_time = r.pid_start_time;
  return h;
}

}  // namespace

SandboxManager::SandboxManager(uv::Loop& loop, Store& store, DaemonConfig config)
    : loop_(loop), store_(store), config_(std::move(config)), net_(config_), jail_(std::make_unique<JailBackend>(config_)),
      microvm_(std::make_unique<MicrovmBackend>(loop, config_,
                                                [this](const std::string& id, SandboxState state, std::string reason) {
                                                  backend_exit(id, state, std::move(reason));
                                                })),
      sweeper_(loop) {}

SandboxManager::~SandboxManager() = default;

Result<void> SandboxManager::save(const SandboxRecord& r) {
  if (auto res = store_.update(r); !res) return fail(std::move(res.error()).wrap("saving sandbox state"));
  return {};
}

SandboxManager::Live* SandboxManager::find_live(const std::string& id) {
  auto it = live_.find(id);
  return it == live_.end() ? nullptr : it->second.get();
}

Backend& SandboxManager::backend_for(const SandboxRecord& r) {
  return r.isolation == microvm_->name() ? *microvm_ : *jail_;
}

void SandboxManager::set_host(HostFacts host) {
  host_ = std::move(host);
  if (!microvm_unavailable(host_)) microvm_->warm();
}

Isolation SandboxManager::default_isolation() const {
  return parse_isolation(config_.isolation).value_or(Isolation::automatic);
}

void SandboxManager::backend_exit(const std::string& id, SandboxState state, std::string reason) {
  Live* l = find_live(id);
  if (!l || l->record.state == SandboxState::creating) return;  // a failing start reports itself
  log::warning(kLog, "sandbox {} ended: {}", id, reason);
  SandboxRecord copy = l->record;
  (void)teardown(copy, state, std::move(reason));  // logged inside
}

Result<void> SandboxManager::reconcile() {
  NEXUS_TRY(net_.start());
  NEXUS_TRY(mkdir_p(config_.sandboxes_dir(), 0700));
  NEXUS_TRY(mkdir_p(config_.templates_dir(), 0755));
  NEXUS_TRY(mkdir_p(config_.run_dir + "/sandboxes", 0700));
  auto records = store_.list(false);
  if (!records) return fail(records.error());
  int adopted = 0, cleaned = 0;
  for (auto& r : *records) {
    if (r.state != SandboxState::creating && r.pid > 0 && jail::alive(handle_of(r))) {
      auto live = std::make_unique<Live>();
      live->record = r;
      live->agent = std::make_unique<AgentClient>(loop_, backend_for(r).agent_endpoint(r), r.access_token);
      live_[r.id] = std::move(live);
      backend_for(r).adopt(r);
      if (auto res = net_.adopt(r); !res)
        log::warning(kLog, "sandbox {}: {}; its traffic is not filtered until its rules are set again", r.id,
                     res.error().message());
      ++adopted;
      log::info(kLog, "adopted sandbox {} (pid {}, {})", r.id, r.pid, state_name(r.state));
      continue;
    }
    auto why = r.state == SandboxState::creating ? "nexusd stopped while the sandbox was being created"
                                                 : "the sandbox ended while nexusd was not running";
    if (auto res = teardown(r, SandboxState::stopped, why); !res)
      log::warning(kLog, "cleaning up sandbox {}: {}", r.id, res.error().message());
    ++cleaned;
  }
  // Leftovers with no live record (crashes between steps): sandbox dirs may hold mounts and
  // cgroups (with a VMM in it, for a microVM), so the jail's cleanup tears them down; agent
  // socket dirs are plain directories.
  std::error_code ec;
  for (auto& entry : std::filesystem::directory_iterator(config_.sandboxes_dir(), ec)) {
    std::string id = entry.path().filename();
    if (live_.count(id)) continue;
    if (auto res = jail::destroy(id, jail::Handle{}, entry.path()); !res)
      log::warning(kLog, "removing leftover sandbox dir '{}': {}", entry.path().string(), res.error().message());
  }
  for (auto& entry : std::filesystem::directory_iterator(config_.run_dir + "/sandboxes", ec))
    if (!live_.count(entry.path().filename())) std::filesystem::remove_all(entry.path(), ec);
  std::set<std::string> live_ids;
  for (const auto& [id, l] : live_) live_ids.insert(id);
  net_.remove_leftovers(live_ids);
  net_.install_firewall();  // with the adopted sandboxes' interfaces
  net_.start_gateway();
  (void)store_.prune_stopped(unix_now_ms() - kKeepStoppedMs);  // housekeeping only
  log::info(kLog, "reconciled: {} adopted, {} cleaned up", adopted, cleaned);
  return {};
}

void SandboxManager::start_sweeper() {
  sweeper_.start(static_cast<uint64_t>(config_.sweep_interval_ms), static_cast<uint64_t>(config_.sweep_interval_ms),
                 [this] { sweep(); });
}

void SandboxManager::sweep() {
  int64_t now = unix_now_ms();
  std::vector<std::string> ids;
  for (auto& [id, live] : live_) ids.push_back(id);
  for (auto& id : ids) {
    Live* live = find_live(id);
    if (!live) continue;
    auto& r = live->record;
    if (r.state == SandboxState::creating) continue;
    if (!jail::alive(handle_of(r))) {
      const char* what = r.isolation == "microvm" ? "nexus-vmm" : "the sandbox init";
      log::warning(kLog, "sandbox {} ended unexpectedly ({} exited)", id, what);
      SandboxRecord copy = r;
      (void)teardown(copy, SandboxState::failed, fmt::format("{} exited unexpectedly", what));  // logged inside
      continue;
    }
    if (r.expires_at_ms <= now && r.on_timeout == TimeoutAction::pause && r.state == SandboxState::running) {
      log::info(kLog, "sandbox {} timed out; pausing it (on_timeout pause)", id);
      if (auto res = pause(id); res) {
        // A paused sandbox holds only its files; keep it for the longest TTL, then stop it.
        if (Live* l = find_live(id)) {
          l->record.expires_at_ms = now + kMaxTtlSeconds * 1000;
          (void)save(l->record);  // logged inside
        }
        continue;
      } else {
        log::warning(kLog, "pausing sandbox {}: {}; stopping it instead", id, res.error().message());
      }
    }
    if (r.expires_at_ms <= now) {
      log::info(kLog, "sandbox {} expired; stopping it", id);
      SandboxRecord copy = r;
      (void)teardown(copy, SandboxState::stopped, "");  // logged inside
    }
  }
  if (now - last_prune_ms_ > 60 * 1000) {
    last_prune_ms_ = now;
    (void)store_.prune_stopped(now - kKeepStoppedMs);  // housekeeping only
  }
}

Result<SandboxManager::Validated> SandboxManager::validate(const CreateRequest& req) {
  std::string template_name = req.template_name.empty() ? config_.default_template : req.template_name;
  // The template's defaults (build.json; none for a seeded template) under the request's fields.
  rootfs::TemplateDefaults tdefaults;
  if (rootfs::is_valid_template_name(template_name))
    if (auto x = read_template_extras(config_.templates_dir() + "/" + template_name)) tdefaults = std::move(x->defaults);
  int64_t ttl = req.ttl_seconds.value_or(tdefaults.ttl_seconds.value_or(config_.default_ttl_seconds));
  int64_t cpus = req.cpus.value_or(tdefaults.cpus.value_or(config_.default_cpus));
  int64_t memory_mib = req.memory_mib.value_or(tdefaults.memory_mib.value_or(config_.default_memory_mib));
  if (!req.name.empty() && !valid_name(req.name))
    return fail(Errc::invalid_argument, fmt::format("invalid name '{}': use up to 63 of A-Z a-z 0-9 . _ -", req.name));
  if (ttl < 1 || ttl > kMaxTtlSeconds) return fail(Errc::invalid_argument, "ttl_seconds must be between 1 and 604800");
  if (cpus < 1 || cpus > 64) return fail(Errc::invalid_argument, "cpus must be between 1 and 64");
  if (memory_mib < 64 || memory_mib > 65536)
    return fail(Errc::invalid_argument, "memory_mib must be between 64 and 65536");
  if (req.env.size() > 1024) return fail(Errc::invalid_argument, "too many environment variables (max 1024)");
  for (auto& [k, v] : req.env) {
    if (!valid_env_key(k)) return fail(Errc::invalid_argument, fmt::format("invalid environment variable name '{}'", k));
    if (v.size() > 128 * 1024 || v.find('\0') != std::string::npos)
      return fail(Errc::invalid_argument, fmt::format("invalid value for environment variable '{}'", k));
  }
  if (req.metadata.size() > kMaxMetadataEntries)
    return fail(Errc::invalid_argument, fmt::format("too many metadata entries (max {})", kMaxMetadataEntries));
  size_t metadata_bytes = 0;
  for (auto& [k, v] : req.metadata) {
    metadata_bytes += k.size() + v.size();
    if (k.empty() || k.find('\0') != std::string::npos || v.find('\0') != std::string::npos)
      return fail(Errc::invalid_argument, fmt::format("invalid metadata key '{}'", k));
  }
  if (metadata_bytes > kMaxMetadataBytes) return fail(Errc::invalid_argument, "metadata larger than 64 KiB");
  Isolation requested = default_isolation();
  if (!req.isolation.empty()) {
    auto parsed = parse_isolation(req.isolation);
    if (!parsed) return fail(parsed.error());
    requested = *parsed;
  }
  auto isolation = choose_isolation(requested, host_);
  if (!isolation) return fail(isolation.error());
  if (*isolation == "microvm" && cpus > kMaxMicrovmCpus)
    return fail(Errc::invalid_argument, fmt::format("a microVM has at most {} vCPUs", kMaxMicrovmCpus));
  auto tpl = rootfs::read_template(config_.templates_dir(), template_name);
  if (!tpl) {
    if (!tpl.error().is(Errc::not_found)) return fail(tpl.error());
    if (rootfs::find_seeded_template(template_name))
      return fail(Errc::conflict, fmt::format("template '{}' is not built yet; run 'nexus template build {}'",
                                              template_name, template_name));
    return fail(Errc::not_found, fmt::format("template '{}' not found", template_name));
  }
  if (tpl->uid_count && (tpl->uid_base != config_.uid_base || tpl->uid_count > config_.uid_count))
    return fail(Errc::conflict, fmt::format("template '{}' was built for uid base {}, this nexusd maps {}; rebuild it",
                                            template_name, tpl->uid_base, config_.uid_base));
  Validated v;
  SandboxRecord& r = v.record;
  int64_t now = unix_now_ms();
  r.id = "sb_" + random_base32(20);
  r.name = req.name.empty() ? r.id : req.name;
  r.template_name = template_name;
  r.isolation = *isolation;
  r.cpus = static_cast<int>(cpus);
  r.memory_mib = static_cast<int>(memory_mib);
  r.env = tdefaults.env;  // per key: the template's, then the request's
  for (const auto& [k, val] : req.env) r.env[k] = val;
  r.owner = req.owner;
  r.metadata = req.metadata;
  r.network = to_json(req.network);
  r.on_timeout = req.on_timeout;
  r.access_token = random_hex(16);
  r.ttl_seconds = ttl;
  r.created_at_ms = now;
  r.last_active_at_ms = now;
  r.expires_at_ms = now + ttl * 1000;
  v.tpl = std::move(*tpl);
  v.defaults = std::move(tdefaults);
  return v;
}

void SandboxManager::create(const CreateRequest& req, std::function<void(Result<SandboxRecord>)> done) {
  auto checked = validate(req);
  if (!checked) return done(fail(checked.error()));
  SandboxRecord r = std::move(checked->record);
  if (req.network.enabled && r.isolation == "jail") {
    // microVMs have no network device yet: they keep loopback only.
    auto index = net_.allocate();
    if (!index) return done(fail(index.error()));
    r.net_index = *index;
  }
  if (auto res = store_.insert(r); !res) {
    if (r.net_index >= 0) (void)net_.teardown(r);  // frees the block
    return done(fail(res.error()));
  }

  auto failed = [this, done](SandboxRecord rr, Error e) {
    log::warning(kLog, "sandbox {} did not start: {}", rr.id, e.message());
    (void)teardown(rr, SandboxState::failed, e.message());  // logged inside
    done(fail(std::move(e)));
  };
  Backend& backend = backend_for(r);
  auto live = std::make_unique<Live>();
  live->record = r;
  live->agent = std::make_unique<AgentClient>(loop_, backend.agent_endpoint(r), r.access_token);
  live_[r.id] = std::move(live);

  std::string id = r.id;
  auto spawned = [this, id](pid_t pid, uint64_t start_time) {
    Live* l = find_live(id);
    if (!l) return;
    l->record.pid = pid;
    l->record.pid_start_time = start_time;
    if (auto s = save(l->record); !s) log::error(kLog, "{}", s.error().message());  // reconcile cleans up
  };
  auto init = [this, id, done, failed, tdefaults = std::move(checked->defaults)]() {
    Live* l = find_live(id);
    const SandboxRecord& rec = l->record;
    // A template's user and workdir become the exec defaults; its start command runs now.
    std::string user = tdefaults.user ? tdefaults.user->substr(0, tdefaults.user->find(':')) : "user";
    std::string workdir = tdefaults.workdir.value_or(tdefaults.user ? "" : "/home/user");
    Json body = {{"envVars", rec.env},
                 {"defaultUser", user},
                 {"defaultWorkdir", workdir},
                 {"accessToken", rec.access_token},
                 {"trafficAccessToken", traffic_token_for(rec.access_token)}};  // Nexus's own field
    if (auto a = net_.addresses(rec); a) {
      Json ns = Json::array({a->host4});
      if (a->has_ipv6()) ns.push_back(a->host6);
      body["network"] = {{"nameservers", ns}};  // Nexus's own field: the DNS forwarder
      // The gateway's CA, trusted inside: HTTPS to a host with a header rule is terminated
      // by the gateway (only those hosts; every other TLS connection is passed through).
      if (auto* gw = net_.gateway()) body["network"]["caCertificate"] = gw->ca_certificate_pem();
    }
    std::optional<rootfs::Command> start_command = tdefaults.start_command;
    rootfs::Restart restart = tdefaults.restart.value_or(rootfs::Restart{});
    l->agent->init(body, [this, id, done, failed, start_command, restart](Result<void> res) {
      Live* l2 = find_live(id);
      if (!l2) return done(fail(Errc::conflict, fmt::format("sandbox '{}' was stopped while starting", id)));
      if (!res) return failed(l2->record, std::move(res.error()).wrap("initialising the sandbox agent"));
      l2->record.state = SandboxState::running;
      if (auto s = save(l2->record); !s) return failed(l2->record, s.error());
      log::info(kLog, "created sandbox {} ('{}', template '{}', {}, pid {})", id, l2->record.name,
                l2->record.template_name, l2->record.isolation, l2->record.pid);
      if (start_command) {
        l2->start_command = std::make_unique<StartCommand>(loop_, id, *start_command, restart, [this, id]() -> AgentClient* {
          Live* l3 = find_live(id);
          return l3 ? l3->agent.get() : nullptr;
        });
        l2->start_command->start();
      }
      done(l2->record);
    });
  };
  if (r.net_index >= 0) {
    if (auto n = net_.setup(r); !n) return failed(r, std::move(n.error()));
  }
  backend.start(r, checked->tpl, std::move(spawned), [this, id, done, failed, init](Result<void> res) {
    Live* l = find_live(id);
    if (!l) return done(fail(Errc::conflict, fmt::format("sandbox '{}' was stopped while starting", id)));
    if (!res) return failed(l->record, std::move(res).error());
    init();
  });
}

Result<NetworkSettings> SandboxManager::network_settings(const std::string& id) {
  auto r = get(id);
  if (!r) return fail(r.error());
  return settings_from_json(r->network);
}

Result<SandboxRecord> SandboxManager::set_network(const std::string& id, NetworkSettings settings) {
  auto found = require_live(id);
  if (!found) return fail(found.error());
  Live* l = *found;
  if (l->record.net_index < 0)
    return fail(Errc::conflict, fmt::format("sandbox '{}' has no network of its own (created with --network none "
                                            "or as a microVM)", id));
  SandboxRecord updated = l->record;
  settings.enabled = true;
  updated.network = to_json(settings);
  NEXUS_TRY(net_.apply(updated));
  l->record.network = updated.network;
  if (auto s = save(l->record); !s) return fail(s.error());
  return l->record;
}

Result<Json> SandboxManager::network_stats(const std::string& id) {
  auto found = require_live(id);
  if (!found) return fail(found.error());
  Live* l = *found;
  if (l->record.net_index < 0)
    return fail(Errc::conflict, fmt::format("sandbox '{}' has no network of its own", id));
  return net_.stats(l->record);
}

size_t SandboxManager::count_using_template(const std::string& template_name) const {
  size_t n = 0;
  for (auto& [id, live] : live_)
    if (live->record.template_name == template_name) ++n;
  return n;
}

Result<SandboxRecord> SandboxManager::get(const std::string& id) {
  if (Live* l = find_live(id)) return l->record;
  auto r = store_.get(id);
  if (!r) return fail(r.error());
  if (!*r) return fail(Errc::not_found, fmt::format("sandbox '{}' not found", id));
  return **r;
}

Result<std::vector<SandboxRecord>> SandboxManager::list(bool include_stopped) {
  auto rs = store_.list(include_stopped);
  if (!rs) return fail(rs.error());
  for (auto& r : *rs)
    if (Live* l = find_live(r.id)) r = l->record;
  return rs;
}

std::vector<SandboxRecord> SandboxManager::live_records() const {
  std::vector<SandboxRecord> out;
  out.reserve(live_.size());
  for (const auto& [id, l] : live_) out.push_back(l->record);
  return out;
}

Result<void> SandboxManager::teardown(SandboxRecord& r, SandboxState final_state, std::string reason) {
  auto res = backend_for(r).destroy(r);
  if (r.net_index >= 0) {
    // After the processes are gone: nothing can use the network while it is removed.
    if (auto n = net_.teardown(r); !n) {
      log::error(kLog, "removing the network of sandbox {}: {}", r.id, n.error().message());
      if (res) res = std::move(n);
    }
  }
  if (!res) {
    log::error(kLog, "tearing down sandbox {}: {}", r.id, res.error().message());
    final_state = SandboxState::failed;
    reason = res.error().message();
  }
  r.state = final_state;
  r.error = reason;
  r.pid = 0;
  r.pid_start_time = 0;
  r.stopped_at_ms = unix_now_ms();
  live_.erase(r.id);
  auto saved = save(r);
  if (!saved) log::error(kLog, "{}", saved.error().message());
  if (!res) return res;
  return saved;
}

Result<SandboxManager::Live*> SandboxManager::require_live(const std::string& id) {
  if (Live* l = find_live(id)) return l;
  auto r = get(id);
  if (!r) return fail(r.error());
  return fail(Errc::conflict, fmt::format("sandbox '{}' is {}", id, state_name(r->state)));
}

void SandboxManager::touch(SandboxRecord& r) {
  int64_t now = unix_now_ms();
  r.last_active_at_ms = now;
  r.expires_at_ms = std::max(r.expires_at_ms, now + r.ttl_seconds * 1000);
}

Result<SandboxRecord> SandboxManager::stop(const std::string& id) {
  Live* l = find_live(id);
  if (!l) return get(id);  // already stopped: stopping is idempotent
  SandboxRecord r = l->record;
  if (auto res = teardown(r, SandboxState::stopped, ""); !res) return fail(res.error());
  log::info(kLog, "stopped sandbox {}", id);
  return r;
}

Result<SandboxRecord> SandboxManager::pause(const std::string& id) {
  auto l = require_live(id);
  if (!l) return fail(l.error());
  SandboxRecord& r = (*l)->record;
  if (r.state != SandboxState::running)
    return fail(Errc::conflict, fmt::format("sandbox '{}' is {}, not active", id, state_name(r.state)));
  NEXUS_TRY(backend_for(r).pause(r));
  r.state = SandboxState::paused;
  NEXUS_TRY(save(r));
  return r;
}

Result<SandboxRecord> SandboxManager::resume(const std::string& id) {
  auto l = require_live(id);
  if (!l) return fail(l.error());
  SandboxRecord& r = (*l)->record;
  if (r.state != SandboxState::paused)
    return fail(Errc::conflict, fmt::format("sandbox '{}' is {}, not paused", id, state_name(r.state)));
  NEXUS_TRY(backend_for(r).resume(r));
  r.state = SandboxState::running;
  touch(r);
  NEXUS_TRY(save(r));
  return r;
}

Result<SandboxRecord> SandboxManager::set_ttl(const std::string& id, int64_t ttl_seconds) {
  if (ttl_seconds < 1 || ttl_seconds > kMaxTtlSeconds)
    return fail(Errc::invalid_argument, "ttl_seconds must be between 1 and 604800");
  auto l = require_live(id);
  if (!l) return fail(l.error());
  SandboxRecord& r = (*l)->record;
  r.ttl_seconds = ttl_seconds;
  r.expires_at_ms = unix_now_ms() + ttl_seconds * 1000;
  NEXUS_TRY(save(r));
  return r;
}

Result<SandboxRecord> SandboxManager::extend(const std::string& id, int64_t seconds) {
  if (seconds < 1 || seconds > kMaxTtlSeconds)
    return fail(Errc::invalid_argument, "timeout must be between 1 and 604800 seconds");
  auto l = require_live(id);
  if (!l) return fail(l.error());
  SandboxRecord& r = (*l)->record;
  int64_t until = unix_now_ms() + seconds * 1000;
  if (until > r.expires_at_ms) {
    r.expires_at_ms = until;
    NEXUS_TRY(save(r));
  }
  return r;
}

Result<http::Endpoint> SandboxManager::agent_endpoint(const std::string& id) {
  Live* l = find_live(id);
  if (!l) return fail(Errc::not_found, fmt::format("sandbox '{}' is not running", id));
  if (l->record.state != SandboxState::running)
    return fail(Errc::conflict, fmt::format("sandbox '{}' is {}", id, state_name(l->record.state)));
  return backend_for(l->record).agent_endpoint(l->record);
}

Result<AgentClient*> SandboxManager::begin_command(const std::string& id) {
  auto l = require_live(id);
  if (!l) return fail(l.error());
  SandboxRecord& r = (*l)->record;
  if (r.state != SandboxState::running)
    return fail(Errc::conflict, fmt::format("sandbox '{}' is {}; resume it first", id, state_name(r.state)));
  touch(r);
  NEXUS_TRY(save(r));
  return (*l)->agent.get();
}

void SandboxManager::end_command(const std::string& id) {
  Live* l = find_live(id);
  if (!l || l->record.state != SandboxState::running) return;
  touch(l->record);
  if (auto r = save(l->record); !r) log::warning(kLog, "{}", r.error().message());
}

}  // namespace nexus::daemon
