// SPDX-License-Identifier: Apache-2.0
// Result<T> and Error: the project's error policy.
//
// Policy (the whole of it; docs/CODING_STYLE.md links here):
//  * Anything that can fail because of the user, the network, the disk, an image or a
//    guest returns Result<T>. Library code does not log errors; it returns them, adding
//    context with Error::wrap() as they travel up. The executable that decides what to do
//    logs once.
//  * Error carries a std::error_code (errno via std::system_category, or nexus::Errc via
//    nexus_category) and a human message naming what was wrong.
//  * Exceptions only at boundaries: main() catches what escapes; throwing third-party calls
//    (nlohmann::json::parse, std::stoi) are wrapped where they are called.
//  * Never throw through a libuv callback: callbacks are noexcept.
//  * NEXUS_CHECK(cond) aborts in every build, for "cannot happen after initialisation".
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <system_error>
#include <utility>

#include <tl/expected.hpp>

namespace nexus {

/// Project-wide error conditions that have no errno equivalent.
enum class Errc {
  ok = 0,
  invalid_argument = 1,  ///< bad input from a user or client
  not_found,             ///< the named thing does not exist
  already_exists,        ///< the named thing exists already
  conflict,              ///< wrong state for the operation (e.g. pause a paused sandbox)
  timeout,               ///< a deadline passed
  protocol,              ///< a peer spoke the protocol wrongly
  too_large,             ///< input past a size limit
  unavailable,           ///< a peer or resource is not reachable now
  internal,              ///< a bug or an unexpected condition
  permission_denied,     ///< not allowed
  unauthenticated,       ///< credentials missing or wrong
};

}  // namespace nexus

template <>
struct std::is_error_code_enum<nexus::Errc> : std::true_type {};

namespace nexus {

const std::error_category& nexus_category() noexcept;

inline std::error_code make_error_code(Errc e) noexcept {
  return {static_cast<int>(e), nexus_category()};
}

/// An error: a code and a message that gains context on the way up.
class Error {
 public:
  Error() = default;
  Error(std::error_code code, std::string message)
      : code_(code), message_(std::move(message)) {}
  Error(Errc code, std::string message) : Error(make_error_code(code), std::move(message)) {}

  /// An errno error: "<what>: <strerror(err)>".
  static Error from_errno(int err, std::string_view what);
  /// Same, with the current errno.
  static Error last_errno(std::string_view what) { return from_errno(errno, what); }

  const std::error_code& code() const noexcept { return code_; }
  const std::string& message() const noexcept { return message_; }
  bool is(Errc e) const noexcept { return code_ == make_error_code(e); }
  int errno_value() const noexcept {
    return code_.category() == std::system_category() ? code_.value() : 0;
  }

  /// Prefix context: wrap("starting sandbox") gives "starting sandbox: <message>".
  Error& wrap(std::string_view context) &;
  Error&& wrap(std::string_view context) &&;

 private:
  std::error_code code_;
  std::string message_;
};

template <class T = void>
using Result = tl::expected<T, Error>;

/// Shorthand for returning an error: `return fail(Errc::not_found, "...")`.
inline tl::unexpected<Error> fail(Error e) { return tl::unexpected<Error>(std::move(e)); }
inline tl::unexpected<Error> fail(Errc code, std::string message) {
  return tl::unexpected<Error>(Error(code, std::move(message)));
}
inline tl::unexpected<Error> fail_errno(std::string_view what) {
  return tl::unexpected<Error>(Error::last_errno(what));
}
inline tl::unexpected<Error> fail_errno(int err, std::string_view what) {
  return tl::unexpected<Error>(Error::from_errno(err, what));
}

[[noreturn]] void check_failed(const char* expr, const char* file, int line) noexcept;

}  // namespace nexus

#define NEXUS_CHECK(cond) \
  ((cond) ? (void)0 : ::nexus::check_failed(#cond, __FILE__, __LINE__))

/// Propagate an error from a Result<void>-returning expression.
#define NEXUS_TRY(expr)                                              \
  do {                                                               \
    if (auto nexus_try_r_ = (expr); !nexus_try_r_)                   \
      return ::tl::unexpected(std::move(nexus_try_r_).error());      \
  } while (0)
