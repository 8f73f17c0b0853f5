// SPDX-License-Identifier: Apache-2.0
// `nexus doctor`'s judgement: from the host report (nexusd's GET /v1/host, or one made by
// probing locally) to checks marked ok, warn or fail, and their text. Pure, for tests.
#pragma once

#include <string>
#include <vector>

#include "common/json.hpp"

namespace nexus::cli {

struct DoctorCheck {
  std::string name;    ///< "nexusd", "microvm", "probe", "nexus-vmm", ...
  std::string status;  ///< "ok", "warn" or "fail"
  std::string detail;
};

/// Where the report came from.
struct DoctorSource {
  bool daemon_reachable = false;
  std::string socket;
  std::string daemon_version;  ///< when reachable
  std::string daemon_error;    ///< why it is not
  std::string local_note;      ///< how the local report was made, when it was
  /// The templates (GET /v1/templates' "templates", or those found on disk), null if unknown.
  Json templates;
};

/// The checks for `host` (the GET /v1/host object; fields may be missing).
std::vector<DoctorCheck> doctor_checks(const Json& host, const DoctorSource& source);
/// "isolation: auto -> jail, because ..." (or "isolation: unknown ..." without a report).
std::string doctor_summary(const Json& host);
/// One line per check ("ok    microvm  ..."), then the summary line.
std::string format_doctor(const std::vector<DoctorCheck>& checks, const std::string& summary, bool color);
/// The --json object: source, host, checks, summary, ok.
Json doctor_json(const Json& host, const DoctorSource& source, const std::vector<DoctorCheck>& checks,
                 const std::string& summary);
bool any_failed(const std::vector<DoctorCheck>& checks);

}  // namespace nexus::cli
