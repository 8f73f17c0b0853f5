// SPDX-License-Identifier: Apache-2.0
// Error helpers and the nexus error category.
#include "common/result.hpp"

#include <cstring>

namespace nexus {
namespace {

class NexusCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "nexus"; }
  std::string message(int value) const override {
    switch (static_cast<Errc>(value)) {
      case Errc::ok: return "ok";
      case Errc::invalid_argument: return "invalid argument";
      case Errc::not_found: return "not found";
      case Errc::already_exists: return "already exists";
      case Errc::conflict: return "conflict";
      case Errc::timeout: return "timed out";
      case Errc::protocol: return "protocol error";
      case Errc::too_large: return "too large";
      case Errc::unavailable: return "unavailable";
      case Errc::internal: return "internal error";
      case Errc::permission_denied: return "permission denied";
      case Errc::unauthenticated: return "unauthenticated";
    }
    return "unknown error";
  }
};

}  // namespace

const std::error_category& nexus_category() noexcept {
  static const NexusCategory category;
  return category;
}

Error Error::from_errno(int err, std::string_view what) {
  std::string msg(what);
  msg += ": ";
  msg += std::strerror(err);
  return Error(std::error_code(err, std::system_category()), std::move(msg));
}

Error& Error::wrap(std::string_view context) & {
  std::string m(context);
  m += ": ";
  m += message_;
  message_ = std::move(m);
  return *this;
}

Error&& Error::wrap(std::string_view context) && {
  wrap(context);
  return std::move(*this);
}

void check_failed(const char* expr, const char* file, int line) noexcept {
  std::fprintf(stderr, "nexus: check failed: %s at %s:%d\n", expr, file, line);
  std::abort();
}

}  // namespace nexus
