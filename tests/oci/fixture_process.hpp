// SPDX-License-Identifier: Apache-2.0
// The registry fixture (registry_fixture.py) as a child process of the integration test.
#pragma once

#include <sys/types.h>

#include <string>

#include "common/json.hpp"

namespace nexus::oci::test {

class FixtureProcess {
 public:
  /// Starts `python3 script workdir` and waits (up to 120 s) for its description line.
  /// Throws std::runtime_error with the reason when it does not come up.
  FixtureProcess(const std::string& python, const std::string& script, const std::string& workdir);
  ~FixtureProcess();  ///< closes its stdin (it then stops the registries) and reaps it
  FixtureProcess(const FixtureProcess&) = delete;
  FixtureProcess& operator=(const FixtureProcess&) = delete;

  const Json& info() const { return info_; }

 private:
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  Json info_;
};

/// GET http://<host><path> (the proxy's /_stats), parsed.
Json http_get_json(const std::string& host, const std::string& path);

}  // namespace nexus::oci::test
