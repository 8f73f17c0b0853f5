// SPDX-License-Identifier: Apache-2.0
// OCI content digests ("sha256:<64 lowercase hex>") and a streaming SHA-256.
//
// A Digest is only ever built by parse_digest() or Sha256::finish(), so every Digest in the
// program is valid: its hex may be used as a file name in the content store.
#pragma once

#include <compare>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.hpp"

namespace nexus::oci {

class Digest {
 public:
  Digest() = default;  ///< empty: valid() is false; never stored

  const std::string& hex() const noexcept { return hex_; }
  std::string str() const { return "sha256:" + hex_; }
  bool valid() const noexcept { return !hex_.empty(); }

  auto operator<=>(const Digest&) const = default;

 private:
  friend Result<Digest> parse_digest(std::string_view text);
  friend class Sha256;
  explicit Digest(std::string hex) : hex_(std::move(hex)) {}
  std::string hex_;
};

/// "sha256:<64 lowercase hex>"; any other algorithm, length or character is
/// Errc::invalid_argument naming what was wrong.
Result<Digest> parse_digest(std::string_view text);

/// Streaming SHA-256 (OpenSSL libcrypto). Move-only.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;

  void update(std::string_view data);
  /// The digest of everything given so far; the object may not be updated afterwards.
  Digest finish();

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

/// SHA-256 of one buffer.
Digest sha256_of(std::string_view data);

}  // namespace nexus::oci
