// SPDX-License-Identifier: Apache-2.0
#include "net/egress/audit.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>

#include <fmt/format.h>

#include "common/strings.hpp"

namespace nexus::net::egress {

std::string_view to_string(Outcome o) {
  switch (o) {
    case Outcome::allowed: return "allowed";
    case Outcome::denied: return "denied";
    case Outcome::refused: return "refused";
    case Outcome::failed: return "failed";
  }
  return "failed";
}

Json to_json(const AuditRecord& r) {
  Json j{{"time", format_rfc3339_ms(r.time_ms)},
         {"time_ms", r.time_ms},
         {"sandbox_id", r.sandbox_id},
         {"client", r.client},
         {"original_dst", r.original_dst},
         {"host", r.host},
         {"scheme", r.scheme},
         {"decision", to_string(r.outcome)},
         {"reason", r.reason},
         {"bytes_sent", r.bytes_sent},
         {"bytes_received", r.bytes_received},
         {"duration_ms", r.duration_ms}};
  if (!r.upstream.empty()) j["upstream"] = r.upstream;
  if (r.intercepted) j["intercepted"] = true;
  if (!r.method.empty()) j["method"] = r.method;
  if (!r.url.empty()) j["url"] = r.url;
  if (r.requests) j["requests"] = r.requests;
  if (r.status) j["status"] = r.status;
  return j;
}

Result<AuditRecord> audit_record_from_json(const Json& j) {
  if (!j.is_object()) return fail(Errc::invalid_argument, "audit record: not an object");
  AuditRecord r;
  try {
    r.time_ms = j.value("time_ms", int64_t{0});
    r.sandbox_id = j.value("sandbox_id", "");
    r.client = j.value("client", "");
    r.original_dst = j.value("original_dst", "");
    r.upstream = j.value("upstream", "");
    r.host = j.value("host", "");
    r.scheme = j.value("scheme", "");
    r.intercepted = j.value("intercepted", false);
    r.method = j.value("method", "");
    r.url = j.value("url", "");
    r.requests = j.value("requests", size_t{0});
    r.status = j.value("status", 0);
    std::string d = j.value("decision", "");
    if (d == "allowed") r.outcome = Outcome::allowed;
    else if (d == "denied") r.outcome = Outcome::denied;
    else if (d == "refused") r.outcome = Outcome::refused;
    else if (d == "failed") r.outcome = Outcome::failed;
    else return fail(Errc::invalid_argument, fmt::format("audit record: decision '{}' is not allowed, denied, refused or failed", d));
    r.reason = j.value("reason", "");
    r.bytes_sent = j.value("bytes_sent", uint64_t{0});
    r.bytes_received = j.value("bytes_received", uint64_t{0});
    r.duration_ms = j.value("duration_ms", int64_t{0});
  } catch (const std::exception& e) {
    return fail(Errc::invalid_argument, fmt::format("audit record: {}", e.what()));
  }
  return r;
}

Result<AuditQuery> audit_query_from_params(const std::map<std::string, std::string>& params) {
  AuditQuery q;
  for (const auto& [k, v] : params) {
    if (k == "sandbox" || k == "sandbox_id") {
      q.sandbox_id = v;
    } else if (k == "since") {
      if (auto t = parse_rfc3339_ms(v)) q.since_ms = *t;
      else if (auto n = parse_int(v); n && *n >= 0) q.since_ms = *n;
      else return fail(Errc::invalid_argument, "since: not an RFC 3339 time or Unix milliseconds");
    } else if (k == "limit") {
      auto n = parse_int(v);
      if (!n || *n < 1 || *n > static_cast<int64_t>(kMaxAuditQueryLimit))
        return fail(Errc::invalid_argument, fmt::format("limit: must be 1-{}", kMaxAuditQueryLimit));
      q.limit = static_cast<size_t>(*n);
    } else {
      return fail(Errc::invalid_argument, fmt::format("unknown parameter '{}' (sandbox, since, limit)", k.substr(0, 64)));
    }
  }
  return q;
}

Json audit_entries_json(const std::vector<AuditRecord>& records) {
  Json entries = Json::array();
  for (const auto& r : records) entries.push_back(to_json(r));
  return Json{{"entries", entries}};
}

Result<std::shared_ptr<JsonlAuditLog>> JsonlAuditLog::open(std::string path, uint64_t max_bytes, unsigned keep) {
  if (max_bytes < 4096) return fail(Errc::invalid_argument, "audit log: max_bytes must be at least 4096");
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return fail_errno(fmt::format("opening the audit log '{}'", path));
  struct stat st {};
  ::fstat(fd, &st);
  return std::shared_ptr<JsonlAuditLog>(
      new JsonlAuditLog(std::move(path), max_bytes, keep, fd, static_cast<uint64_t>(st.st_size)));
}

JsonlAuditLog::JsonlAuditLog(std::string path, uint64_t max_bytes, unsigned keep, int fd, uint64_t size)
    : path_(std::move(path)), max_bytes_(max_bytes), keep_(keep), fd_(fd), size_(size) {}

JsonlAuditLog::~JsonlAuditLog() {
  if (fd_ >= 0) ::close(fd_);
}

Result<void> JsonlAuditLog::rotate_locked() {
  // The files are path (being written) and path.1 (newest) .. path.keep (oldest).
  std::string oldest = fmt::format("{}.{}", path_, keep_);
  (void)::unlink(oldest.c_str());  // absent is fine
  for (unsigned i = keep_; i > 1; --i)
    (void)::rename(fmt::format("{}.{}", path_, i - 1).c_str(), fmt::format("{}.{}", path_, i).c_str());
  if (keep_ > 0) {
    if (::rename(path_.c_str(), (path_ + ".1").c_str()) != 0) return fail_errno("rotating the audit log");
  } else {
    (void)::unlink(path_.c_str());
  }
  int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return fail_errno(fmt::format("opening the audit log '{}'", path_));
  ::close(fd_);
  fd_ = fd;
  size_ = 0;
  return {};
}

void JsonlAuditLog::record(const AuditRecord& r) noexcept {
  std::string line;
  try {
    line = dump_json(to_json(r)) + "\n";
  } catch (...) {
    return;  // out of memory: nothing sensible to do from a noexcept sink
  }
  std::lock_guard lock(mu_);
  if (size_ > 0 && size_ + line.size() > max_bytes_) {
    if (auto rr = rotate_locked(); !rr) last_error_ = rr.error().message();
  }
  ssize_t n = ::write(fd_, line.data(), line.size());
  if (n < 0) last_error_ = fmt::format("writing the audit log '{}': {}", path_, std::strerror(errno));
  else size_ += static_cast<uint64_t>(n);
}

std::string JsonlAuditLog::last_error() const {
  std::lock_guard lock(mu_);
  return last_error_;
}

Result<std::vector<AuditRecord>> JsonlAuditLog::query(const AuditQuery& q) const {
  std::lock_guard lock(mu_);
  std::deque<AuditRecord> out;
  // Oldest file first, so the answer is in time order.
  std::vector<std::string> files;
  for (unsigned i = keep_; i >= 1; --i) files.push_back(fmt::format("{}.{}", path_, i));
  files.push_back(path_);
  for (const auto& f : files) {
    std::ifstream in(f);
    if (!in) continue;
    std::string line;
    while (std::getline(in, line)) {
      auto j = parse_json(line);
      if (!j) continue;
      auto r = audit_record_from_json(*j);
      if (!r) continue;
      if (!q.sandbox_id.empty() && r->sandbox_id != q.sandbox_id) continue;
      if (r->time_ms < q.since_ms) continue;
      out.push_back(std::move(*r));
      if (q.limit > 0 && out.size() > q.limit) out.pop_front();
    }
  }
  return std::vector<AuditRecord>(out.begin(), out.end());
}

namespace {
void add_to(EgressStats::Counters& c, const AuditRecord& r) {
  switch (r.outcome) {
    case Outcome::allowed: ++c.allowed; break;
    case Outcome::denied: ++c.denied; break;
    case Outcome::refused: ++c.refused; break;
    case Outcome::failed: ++c.failed; break;
  }
  c.bytes_sent += r.bytes_sent;
  c.bytes_received += r.bytes_received;
}
}  // namespace

void EgressStats::add(const AuditRecord& r) {
  std::lock_guard lock(mu_);
  add_to(total_, r);
  if (!r.sandbox_id.empty()) add_to(per_sandbox_[r.sandbox_id], r);
}

EgressStats::Counters EgressStats::total() const {
  std::lock_guard lock(mu_);
  return total_;
}

std::optional<EgressStats::Counters> EgressStats::sandbox(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = per_sandbox_.find(id);
  if (it == per_sandbox_.end()) return std::nullopt;
  return it->second;
}

void EgressStats::remove(const std::string& id) {
  std::lock_guard lock(mu_);
  per_sandbox_.erase(id);
}

Json to_json(const EgressStats::Counters& c) {
  return Json{{"connections", Json{{"allowed", c.allowed}, {"denied", c.denied}, {"refused", c.refused}, {"failed", c.failed}}},
              {"bytes_sent", c.bytes_sent},
              {"bytes_received", c.bytes_received}};
}

Json EgressStats::to_json() const {
  std::lock_guard lock(mu_);
  Json sb = Json::object();
  for (const auto& [id, c] : per_sandbox_) sb[id] = egress::to_json(c);
  return Json{{"total", egress::to_json(total_)}, {"sandboxes", sb}};
}

}  // namespace nexus::net::egress
