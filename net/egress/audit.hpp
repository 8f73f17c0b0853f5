// SPDX-License-Identifier: Apache-2.0
// The gateway's audit: one record per connection, delivered to a sink. JsonlAuditLog writes
// JSON lines to a file bounded by size, rotated (keeps N files) and answers queries for
// `GET /v1/egress/audit`. EgressStats keeps the counters of `GET /v1/egress/stats`.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/json.hpp"
#include "common/result.hpp"

namespace nexus::net::egress {

/// What became of a connection.
enum class Outcome {
  allowed,  ///< connected upstream and spliced
  denied,   ///< a domain or CIDR rule, or the private-address check, said no
  refused,  ///< the gateway would not look at it: not ready yet, unknown peer, too many
  failed,   ///< allowed, but it did not work: bad request, DNS failure, upstream unreachable
};
std::string_view to_string(Outcome o);

struct AuditRecord {
  int64_t time_ms = 0;        ///< when the connection was accepted (Unix ms)
  std::string sandbox_id;     ///< empty for an unknown peer
  std::string client;         ///< the sandbox's address and port
  std::string original_dst;   ///< where the sandbox was connecting to (ip:port)
  std::string upstream;       ///< the address the gateway connected to, if it did
  std::string host;           ///< SNI or Host, when seen
  std::string scheme;         ///< "http" or "https"
  bool intercepted = false;   ///< TLS terminated for credential injection
  std::string method, url;    ///< the first request, when visible
  size_t requests = 0;        ///< request heads seen (HTTP, or HTTPS intercepted)
  int status = 0;             ///< the first response's status, when visible (or the gateway's own)
  Outcome outcome = Outcome::refused;
  std::string reason;
  uint64_t bytes_sent = 0;      ///< from the sandbox (as read from its socket)
  uint64_t bytes_received = 0;  ///< to the sandbox (as written to its socket)
  int64_t duration_ms = 0;
};

Json to_json(const AuditRecord& r);
Result<AuditRecord> audit_record_from_json(const Json& j);

class AuditSink {
 public:
  virtual ~AuditSink() = default;
  /// Called on the gateway thread once per finished connection; must not block for long.
  virtual void record(const AuditRecord& r) noexcept = 0;
};

struct AuditQuery {
  std::string sandbox_id;  ///< empty: all
  int64_t since_ms = 0;    ///< records at or after this time
  size_t limit = 100;      ///< the newest `limit` records (oldest first in the answer)
};

inline constexpr size_t kMaxAuditQueryLimit = 10000;

/// The query of `GET /v1/egress/audit?sandbox=ID&since=T&limit=N`: `since` is RFC 3339
/// ("2026-01-02T03:04:05Z") or Unix milliseconds; `limit` 1-10000, default 100. Unknown
/// parameters and bad values are Errc::invalid_argument naming the parameter.
Result<AuditQuery> audit_query_from_params(const std::map<std::string, std::string>& params);
/// {"entries": [record, ...]} (oldest first).
Json audit_entries_json(const std::vector<AuditRecord>& records);

/// JSON lines in `path`; when a write would take the file past `max_bytes` it is renamed to
/// path.1 (path.1 to path.2, ...), keeping `keep` rotated files beside the current one (the
/// oldest is deleted). Thread-safe.
class JsonlAuditLog final : public AuditSink {
 public:
  static Result<std::shared_ptr<JsonlAuditLog>> open(std::string path, uint64_t max_bytes = 16 << 20,
                                                     unsigned keep = 4);
  ~JsonlAuditLog() override;
  void record(const AuditRecord& r) noexcept override;
  /// Reads the current and the rotated files. Lines that do not parse are skipped.
  Result<std::vector<AuditRecord>> query(const AuditQuery& q) const;
  /// The last write error, if any (the sink itself cannot fail a connection).
  std::string last_error() const;

 private:
  JsonlAuditLog(std::string path, uint64_t max_bytes, unsigned keep, int fd, uint64_t size);
  Result<void> rotate_locked();
  std::string path_;
  uint64_t max_bytes_;
  unsigned keep_;
  mutable std::mutex mu_;
  int fd_;
  uint64_t size_;
  std::string last_error_;
};

/// Counters per sandbox and in total. Thread-safe.
class EgressStats {
 public:
  struct Counters {
    uint64_t allowed = 0, denied = 0, refused = 0, failed = 0;
    uint64_t bytes_sent = 0, bytes_received = 0;
  };
  void add(const AuditRecord& r);
  Counters total() const;
  std::optional<Counters> sandbox(const std::string& id) const;
  /// Forget a sandbox's counters (it was deleted); the total keeps them.
  void remove(const std::string& id);
  /// {"total": {...}, "sandboxes": {"<id>": {...}}}
  Json to_json() const;

 private:
  mutable std::mutex mu_;
  Counters total_;
  std::map<std::string, Counters> per_sandbox_;
};
Json to_json(const EgressStats::Counters& c);

/// A sink that hands each record to several others (e.g. the log and the stats).
class TeeSink final : public AuditSink {
 public:
  explicit TeeSink(std::vector<std::shared_ptr<AuditSink>> sinks) : sinks_(std::move(sinks)) {}
  void record(const AuditRecord& r) noexcept override {
    for (auto& s : sinks_) s->record(r);
  }

 private:
  std::vector<std::shared_ptr<AuditSink>> sinks_;
};

}  // namespace nexus::net::egress
